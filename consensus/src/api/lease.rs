//! etcd's Lease service: grant, revoke, keep-alive stream, time-to-live, list.

use std::pin::Pin;

use etcd_client::proto::{
    PbLeaseGrantRequest, PbLeaseGrantResponse, PbLeaseKeepAliveRequest, PbLeaseKeepAliveResponse,
    PbLeaseLeasesRequest, PbLeaseLeasesResponse, PbLeaseRevokeRequest, PbLeaseRevokeResponse,
    PbLeaseService, PbLeaseStatus, PbLeaseTimeToLiveRequest, PbLeaseTimeToLiveResponse,
};
use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::error::Rejected;
use super::{convert, EtcdApi};
use crate::kv::KvError;
use crate::node::NodeError;

/// etcd's `lease.MaxLeaseTTL` (seconds).
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;
/// etcd's minimum lease TTL with its default timing (heartbeat 100 ms,
/// election 1 s): ceil(1.5 × election timeout) = 2 s. A lease shorter than
/// a leader election would expire just because the leader changed. The node
/// may raise it further; the granted TTL is what the response reports.
pub const MIN_LEASE_TTL: i64 = 2;

/// The TTL to ask the node for: etcd refuses TTLs above `MAX_LEASE_TTL` and
/// silently raises short (or non-positive) ones to the minimum.
fn grant_ttl(requested: i64) -> Result<i64, Rejected> {
    if requested > MAX_LEASE_TTL {
        return Err(Rejected::LeaseTtlTooLarge);
    }
    Ok(requested.max(MIN_LEASE_TTL))
}

fn is_lease_not_found(e: &NodeError) -> bool {
    matches!(e, NodeError::Kv(KvError::LeaseNotFound))
}

#[tonic::async_trait]
impl PbLeaseService for EtcdApi {
    async fn lease_grant(
        &self,
        request: Request<PbLeaseGrantRequest>,
    ) -> Result<Response<PbLeaseGrantResponse>, Status> {
        let req = request.into_inner();
        let ttl = grant_ttl(req.ttl)?;
        let (id, ttl, revision) = self.node.lease_grant(req.id, ttl).await?;
        Ok(Response::new(PbLeaseGrantResponse {
            header: Some(convert::header(self.header(revision))),
            id,
            ttl,
            error: String::new(),
        }))
    }

    async fn lease_revoke(
        &self,
        request: Request<PbLeaseRevokeRequest>,
    ) -> Result<Response<PbLeaseRevokeResponse>, Status> {
        let revision = self.node.lease_revoke(request.into_inner().id).await?;
        Ok(Response::new(PbLeaseRevokeResponse {
            header: Some(convert::header(self.header(revision))),
        }))
    }

    type LeaseKeepAliveStream =
        Pin<Box<dyn Stream<Item = Result<PbLeaseKeepAliveResponse, Status>> + Send>>;

    /// One response per request, in order. An unknown (or expired) lease
    /// answers TTL 0, as etcd does; any other error ends the stream with its
    /// status so the client reconnects (possibly to another member).
    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<PbLeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let mut inbound = request.into_inner();
        let node = self.node.clone();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                let req = tokio::select! {
                    msg = inbound.message() => match msg {
                        Ok(Some(req)) => req,
                        // The client closed its side or the connection broke.
                        Ok(None) | Err(_) => return,
                    },
                    _ = tx.closed() => return,
                };
                let resp = match node.lease_keep_alive(req.id).await {
                    Ok(ttl) => Ok(ttl),
                    Err(e) if is_lease_not_found(&e) => Ok(0),
                    Err(e) => Err(Status::from(e)),
                }
                .map(|ttl| PbLeaseKeepAliveResponse {
                    header: Some(convert::header(node.header(node.revision()))),
                    id: req.id,
                    ttl,
                });
                let failed = resp.is_err();
                if tx.send(resp).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    /// An unknown lease answers TTL -1 (not an error), as etcd does.
    async fn lease_time_to_live(
        &self,
        request: Request<PbLeaseTimeToLiveRequest>,
    ) -> Result<Response<PbLeaseTimeToLiveResponse>, Status> {
        let req = request.into_inner();
        let resp = match self.node.lease_time_to_live(req.id, req.keys).await {
            Ok(info) => PbLeaseTimeToLiveResponse {
                header: None,
                id: info.id,
                ttl: info.ttl,
                granted_ttl: info.granted_ttl,
                keys: info.keys,
            },
            Err(e) if is_lease_not_found(&e) => PbLeaseTimeToLiveResponse {
                header: None,
                id: req.id,
                ttl: -1,
                granted_ttl: 0,
                keys: Vec::new(),
            },
            Err(e) => return Err(e.into()),
        };
        let header = Some(convert::header(self.current_header()));
        Ok(Response::new(PbLeaseTimeToLiveResponse { header, ..resp }))
    }

    async fn lease_leases(
        &self,
        _request: Request<PbLeaseLeasesRequest>,
    ) -> Result<Response<PbLeaseLeasesResponse>, Status> {
        let ids = self.node.lease_list().await?;
        Ok(Response::new(PbLeaseLeasesResponse {
            header: Some(convert::header(self.current_header())),
            leases: ids.into_iter().map(|id| PbLeaseStatus { id }).collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_clamped_like_etcd() {
        assert_eq!(grant_ttl(0), Ok(MIN_LEASE_TTL));
        assert_eq!(grant_ttl(-5), Ok(MIN_LEASE_TTL));
        assert_eq!(grant_ttl(1), Ok(MIN_LEASE_TTL));
        assert_eq!(grant_ttl(60), Ok(60));
        assert_eq!(grant_ttl(MAX_LEASE_TTL), Ok(MAX_LEASE_TTL));
        assert_eq!(
            grant_ttl(MAX_LEASE_TTL + 1),
            Err(Rejected::LeaseTtlTooLarge)
        );
    }

    #[test]
    fn only_lease_not_found_is_soft() {
        assert!(is_lease_not_found(&NodeError::Kv(KvError::LeaseNotFound)));
        assert!(!is_lease_not_found(&NodeError::Unavailable(
            "no leader".into()
        )));
        assert!(!is_lease_not_found(&NodeError::Kv(KvError::LeaseExists)));
    }
}

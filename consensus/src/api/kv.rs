//! etcd's KV service: Range, Put, DeleteRange, Txn, Compact.
//!
//! Reads go to `Node::range` (linearizable unless `serializable`), writes
//! become one `Command` each through `Node::write`. Every response carries
//! the header of the revision it reflects.

use etcd_client::proto::{
    PbCompactionRequest, PbCompactionResponse, PbDeleteRequest, PbDeleteResponse, PbKvService,
    PbPutRequest, PbPutResponse, PbRangeRequest, PbRangeResponse, PbRangeStreamResponse,
    PbTxnRequest, PbTxnResponse,
};
use prost::Message;
use tonic::{Request, Response, Status};

use super::error::{kv_status, Rejected};
use super::{convert, EtcdApi, MAX_REQUEST_BYTES};
use crate::kv::{Command, CommandResult, Revision};

impl EtcdApi {
    /// Propose `cmd` and return the revision it produced with its result.
    pub(super) async fn apply(&self, cmd: Command) -> Result<(Revision, CommandResult), Status> {
        let applied = self.node.write(cmd).await?;
        let result = applied.result.map_err(|e| kv_status(&e))?;
        Ok((applied.revision, result))
    }
}

/// etcd refuses writes whose encoded request exceeds `--max-request-bytes`.
fn check_size(req: &impl Message) -> Result<(), Rejected> {
    if req.encoded_len() > MAX_REQUEST_BYTES {
        return Err(Rejected::RequestTooLarge);
    }
    Ok(())
}

fn unexpected(what: &str, got: &CommandResult) -> Status {
    Status::internal(format!(
        "etcdserver: internal error: {what} produced {got:?}"
    ))
}

#[tonic::async_trait]
impl PbKvService for EtcdApi {
    async fn range(
        &self,
        request: Request<PbRangeRequest>,
    ) -> Result<Response<PbRangeResponse>, Status> {
        let req = convert::range_request(request.into_inner())?;
        let (revision, resp) = self.node.range(req).await?;
        Ok(Response::new(convert::range_response(
            resp,
            self.header(revision),
        )))
    }

    type RangeStreamStream = futures::stream::Empty<Result<PbRangeStreamResponse, Status>>;

    /// Not part of etcd 3.4 (a later addition to the proto).
    async fn range_stream(
        &self,
        _request: Request<PbRangeRequest>,
    ) -> Result<Response<Self::RangeStreamStream>, Status> {
        Err(Rejected::Unsupported("RangeStream").into())
    }

    async fn put(&self, request: Request<PbPutRequest>) -> Result<Response<PbPutResponse>, Status> {
        let req = request.into_inner();
        check_size(&req)?;
        let cmd = Command::Put(convert::put_request(req)?);
        match self.apply(cmd).await? {
            (rev, CommandResult::Put(r)) => {
                Ok(Response::new(convert::put_response(r, self.header(rev))))
            }
            (_, other) => Err(unexpected("put", &other)),
        }
    }

    async fn delete_range(
        &self,
        request: Request<PbDeleteRequest>,
    ) -> Result<Response<PbDeleteResponse>, Status> {
        let req = request.into_inner();
        check_size(&req)?;
        let cmd = Command::DeleteRange(convert::delete_request(req)?);
        match self.apply(cmd).await? {
            (rev, CommandResult::DeleteRange(r)) => {
                Ok(Response::new(convert::delete_response(r, self.header(rev))))
            }
            (_, other) => Err(unexpected("delete", &other)),
        }
    }

    async fn txn(&self, request: Request<PbTxnRequest>) -> Result<Response<PbTxnResponse>, Status> {
        let req = request.into_inner();
        check_size(&req)?;
        let cmd = Command::Txn(convert::txn_request(req)?);
        match self.apply(cmd).await? {
            (rev, CommandResult::Txn(r)) => {
                Ok(Response::new(convert::txn_response(r, self.header(rev))))
            }
            (_, other) => Err(unexpected("txn", &other)),
        }
    }

    /// `physical` is accepted and ignored: the response is sent once the
    /// compaction is applied, which is what `physical` waits for in etcd.
    async fn compact(
        &self,
        request: Request<PbCompactionRequest>,
    ) -> Result<Response<PbCompactionResponse>, Status> {
        let revision = request.into_inner().revision;
        match self.apply(Command::Compact { revision }).await? {
            (rev, CommandResult::Compact) => Ok(Response::new(PbCompactionResponse {
                header: Some(convert::header(self.header(rev))),
            })),
            (_, other) => Err(unexpected("compact", &other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_requests_are_refused_like_etcd() {
        let small = PbPutRequest {
            key: b"k".to_vec(),
            value: vec![0; 1024],
            ..Default::default()
        };
        assert!(check_size(&small).is_ok());
        let big = PbPutRequest {
            key: b"k".to_vec(),
            value: vec![0; MAX_REQUEST_BYTES],
            ..Default::default()
        };
        let status = Status::from(check_size(&big).unwrap_err());
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(status.message(), "etcdserver: request is too large");
    }
}

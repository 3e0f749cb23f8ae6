//! ReplicationService over [`Replication`].

use std::time::Duration;

use tonic::{Request, Response, Status};

use super::pb::{self, replication_service_server::ReplicationService};
use super::status_from;
use crate::error::Error;
use crate::gtid::GtidPosition;
use crate::replication::{Replication, ReplicationStatus};

pub struct ReplicationServiceImpl {
    repl: Replication,
}

impl ReplicationServiceImpl {
    pub fn new(repl: Replication) -> Self {
        ReplicationServiceImpl { repl }
    }
}

fn status_to_pb(s: ReplicationStatus) -> pb::ReplicationStatus {
    pb::ReplicationStatus {
        io_running: s.io_running,
        sql_running: s.sql_running,
        source_host: s.source_host,
        source_port: u32::from(s.source_port),
        seconds_behind_source: s.seconds_behind_source,
        relay_log_position: s.relay_log_position,
        position: s.position.to_string(),
        last_io_error: s.last_io_error,
        last_sql_error: s.last_sql_error,
        configured: s.configured,
    }
}

type RpcResult<T> = Result<Response<T>, Status>;

fn ok<T>(t: T) -> RpcResult<T> {
    Ok(Response::new(t))
}

#[tonic::async_trait]
impl ReplicationService for ReplicationServiceImpl {
    async fn primary_position(
        &self,
        _r: Request<pb::PrimaryPositionRequest>,
    ) -> RpcResult<pb::PrimaryPositionResponse> {
        let p = self.repl.primary_position().await.map_err(status_from)?;
        ok(pb::PrimaryPositionResponse {
            position: p.to_string(),
        })
    }

    async fn replication_status(
        &self,
        _r: Request<pb::ReplicationStatusRequest>,
    ) -> RpcResult<pb::ReplicationStatusResponse> {
        let s = self.repl.status().await.map_err(status_from)?;
        ok(pb::ReplicationStatusResponse {
            status: Some(status_to_pb(s)),
        })
    }

    async fn stop_replication(
        &self,
        r: Request<pb::StopReplicationRequest>,
    ) -> RpcResult<pb::StopReplicationResponse> {
        let (before, after) = self
            .repl
            .stop(r.into_inner().io_thread_only)
            .await
            .map_err(status_from)?;
        ok(pb::StopReplicationResponse {
            before: Some(status_to_pb(before)),
            after: Some(status_to_pb(after)),
        })
    }

    async fn start_replication(
        &self,
        _r: Request<pb::StartReplicationRequest>,
    ) -> RpcResult<pb::StartReplicationResponse> {
        self.repl.start().await.map_err(status_from)?;
        ok(pb::StartReplicationResponse {})
    }

    async fn wait_for_position(
        &self,
        r: Request<pb::WaitForPositionRequest>,
    ) -> RpcResult<pb::WaitForPositionResponse> {
        let r = r.into_inner();
        let pos: GtidPosition = r
            .position
            .parse()
            .map_err(|e| status_from(Error::from(e)))?;
        let timeout = match r.timeout_ms {
            0 => Duration::from_secs(30),
            ms => Duration::from_millis(ms),
        };
        self.repl
            .wait_for_position(&pos, timeout)
            .await
            .map_err(status_from)?;
        ok(pb::WaitForPositionResponse {})
    }

    async fn set_read_only(
        &self,
        _r: Request<pb::SetReadOnlyRequest>,
    ) -> RpcResult<pb::SetReadOnlyResponse> {
        self.repl.set_read_only(true).await.map_err(status_from)?;
        ok(pb::SetReadOnlyResponse {})
    }

    async fn set_read_write(
        &self,
        _r: Request<pb::SetReadWriteRequest>,
    ) -> RpcResult<pb::SetReadWriteResponse> {
        self.repl.set_read_only(false).await.map_err(status_from)?;
        ok(pb::SetReadWriteResponse {})
    }

    async fn demote_primary(
        &self,
        _r: Request<pb::DemotePrimaryRequest>,
    ) -> RpcResult<pb::DemotePrimaryResponse> {
        let p = self.repl.demote().await.map_err(status_from)?;
        ok(pb::DemotePrimaryResponse {
            position: p.to_string(),
        })
    }

    async fn undo_demote(
        &self,
        _r: Request<pb::UndoDemoteRequest>,
    ) -> RpcResult<pb::UndoDemoteResponse> {
        self.repl.undo_demote().await.map_err(status_from)?;
        ok(pb::UndoDemoteResponse {})
    }

    async fn promote_replica(
        &self,
        r: Request<pb::PromoteReplicaRequest>,
    ) -> RpcResult<pb::PromoteReplicaResponse> {
        let p = self
            .repl
            .promote(r.into_inner().primary_term)
            .await
            .map_err(status_from)?;
        ok(pb::PromoteReplicaResponse {
            position: p.to_string(),
        })
    }

    async fn set_replication_source(
        &self,
        r: Request<pb::SetReplicationSourceRequest>,
    ) -> RpcResult<pb::SetReplicationSourceResponse> {
        let r = r.into_inner();
        let port = u16::try_from(r.port).map_err(|_| {
            status_from(Error::InvalidArgument(format!(
                "port {} out of range",
                r.port
            )))
        })?;
        if r.host.is_empty() {
            return Err(status_from(Error::InvalidArgument("empty host".into())));
        }
        self.repl
            .set_source(&r.host, port, r.stop_replication)
            .await
            .map_err(status_from)?;
        ok(pb::SetReplicationSourceResponse {})
    }

    async fn reset_replication(
        &self,
        _r: Request<pb::ResetReplicationRequest>,
    ) -> RpcResult<pb::ResetReplicationResponse> {
        self.repl.reset().await.map_err(status_from)?;
        ok(pb::ResetReplicationResponse {})
    }

    async fn set_semi_sync(
        &self,
        r: Request<pb::SetSemiSyncRequest>,
    ) -> RpcResult<pb::SetSemiSyncResponse> {
        let r = r.into_inner();
        let timeout = match r.primary_timeout_ms {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        };
        self.repl
            .set_semi_sync(r.primary, r.replica, timeout)
            .await
            .map_err(status_from)?;
        ok(pb::SetSemiSyncResponse {})
    }
}

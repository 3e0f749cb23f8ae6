//! Lease requests: grants and revokes are replicated commands; keep-alive
//! and time-to-live are answered by the leader's lessor (the only clock that
//! counts), so followers forward them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::node_impl::{unavailable, Node};
use super::{LeaseInfo, NodeError};
use crate::kv::{Command, CommandResult, KvError, LeaseId, Revision};
use crate::network::{ForwardRequest, ForwardResponse};

/// etcd's minimum lease TTL with its default timing is 2 s; a shorter
/// lease could expire during an ordinary leader election.
pub const MIN_TTL: i64 = 2;

impl Node {
    /// Grant a lease; `id == 0` lets the server choose one.
    pub async fn lease_grant(
        &self,
        id: LeaseId,
        ttl: i64,
    ) -> Result<(LeaseId, i64, Revision), NodeError> {
        if id < 0 {
            return Err(NodeError::InvalidArgument(
                "lease id must be positive".into(),
            ));
        }
        let id = if id == 0 {
            (rand::random::<u64>() >> 2).max(1) as i64
        } else {
            id
        };
        let ttl = ttl.max(MIN_TTL);
        let applied = self.write(Command::LeaseGrant { id, ttl }).await?;
        match applied.result? {
            CommandResult::LeaseGrant { id, ttl } => Ok((id, ttl, applied.revision)),
            other => Err(NodeError::Internal(format!("unexpected result {other:?}"))),
        }
    }

    pub async fn lease_revoke(&self, id: LeaseId) -> Result<Revision, NodeError> {
        let applied = self.write(Command::LeaseRevoke { id }).await?;
        applied.result?;
        Ok(applied.revision)
    }

    /// Renew a lease (forwarded to the leader); returns the new TTL.
    /// Unknown or expired lease → `KvError::LeaseNotFound`.
    pub async fn lease_keep_alive(&self, id: LeaseId) -> Result<i64, NodeError> {
        match self.to_leader(ForwardRequest::LeaseKeepAlive(id)).await? {
            ForwardResponse::LeaseTtl(ttl) => Ok(ttl),
            other => Err(NodeError::Internal(format!(
                "unexpected forward response {other:?}"
            ))),
        }
    }

    pub async fn lease_time_to_live(
        &self,
        id: LeaseId,
        keys: bool,
    ) -> Result<LeaseInfo, NodeError> {
        match self
            .to_leader(ForwardRequest::LeaseTimeToLive { id, keys })
            .await?
        {
            ForwardResponse::LeaseInfo(info) => Ok(info),
            other => Err(NodeError::Internal(format!(
                "unexpected forward response {other:?}"
            ))),
        }
    }

    pub async fn lease_list(&self) -> Result<Vec<LeaseId>, NodeError> {
        let mvcc = self
            .mvcc
            .read()
            .map_err(|_| NodeError::Internal("store lock poisoned".into()))?;
        let leases = mvcc
            .leases()
            .map_err(|e| NodeError::Internal(e.to_string()))?;
        Ok(leases.into_iter().map(|l| l.id).collect())
    }

    fn lease_exists(&self, id: LeaseId) -> Result<Option<crate::kv::Lease>, NodeError> {
        let mvcc = self
            .mvcc
            .read()
            .map_err(|_| NodeError::Internal("store lock poisoned".into()))?;
        mvcc.lease(id)
            .map_err(|e| NodeError::Internal(e.to_string()))
    }

    pub(super) fn keep_alive_local(&self, id: LeaseId) -> Result<i64, NodeError> {
        if !self.is_leader() {
            return Err(unavailable("etcdserver: not leader"));
        }
        if self.lease_exists(id)?.is_none() {
            return Err(KvError::LeaseNotFound.into());
        }
        let mut lessor = self.lessor.lock().unwrap_or_else(|p| p.into_inner());
        lessor
            .renew(id, Instant::now())
            .ok_or(NodeError::Kv(KvError::LeaseNotFound))
    }

    pub(super) fn time_to_live_local(
        &self,
        id: LeaseId,
        keys: bool,
    ) -> Result<LeaseInfo, NodeError> {
        if !self.is_leader() {
            return Err(unavailable("etcdserver: not leader"));
        }
        let Some(lease) = self.lease_exists(id)? else {
            return Err(KvError::LeaseNotFound.into());
        };
        let remaining = {
            let lessor = self.lessor.lock().unwrap_or_else(|p| p.into_inner());
            lessor
                .remaining(id, Instant::now())
                .map(|(_, left)| left)
                .unwrap_or(lease.ttl)
        };
        let keys = if keys {
            let mvcc = self
                .mvcc
                .read()
                .map_err(|_| NodeError::Internal("store lock poisoned".into()))?;
            mvcc.lease_keys(id)
                .map_err(|e| NodeError::Internal(e.to_string()))?
        } else {
            Vec::new()
        };
        Ok(LeaseInfo {
            id,
            granted_ttl: lease.ttl,
            ttl: if remaining <= 0 { -1 } else { remaining },
            keys,
        })
    }
}

/// On the leader, revokes leases whose time is up (through Raft, so their
/// keys vanish on every member in the same revision).
pub(super) async fn expiry_loop(node: Arc<Node>) {
    let mut stop = node.shutdown_signal();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if !node.is_leader() {
            continue;
        }
        let expired = node
            .lessor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take_expired(Instant::now(), Duration::from_secs(3));
        for id in expired {
            let node = node.clone();
            tokio::spawn(async move {
                match node.write(Command::LeaseRevoke { id }).await {
                    Ok(a) => {
                        if a.result.is_ok() {
                            node.metrics.lease_expired.fetch_add(1, Ordering::Relaxed);
                        } else {
                            // Already revoked by a client: forget it.
                            node.lessor
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .remove(id);
                        }
                    }
                    Err(e) => tracing::warn!(lease = id, "expiring lease failed (will retry): {e}"),
                }
            });
        }
    }
}

//! A control-plane node: the Raft instance plus everything that turns it into
//! an etcd-compatible server (proposal batching, forwarding to the leader,
//! linearizable reads, the lessor, the watch hub, membership).
//!
//! The `api` module (etcd gRPC) talks only to [`Node`]; it never sees openraft.

pub mod watch_hub;

use crate::kv::{Applied, Command, KvError, LeaseId, RangeRequest, RangeResponse, Revision};
pub use watch_hub::{WatchHub, WatchStream};

/// What went wrong with a request, classified by what the caller must do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NodeError {
    /// A deterministic request error (compacted, lease not found, …).
    #[error(transparent)]
    Kv(#[from] KvError),
    /// No leader right now, or the leader is unreachable: retry later.
    #[error("etcdserver: {0}")]
    Unavailable(String),
    /// The request is not valid (e.g. unknown member id).
    #[error("etcdserver: {0}")]
    InvalidArgument(String),
    #[error("etcdserver: member not found")]
    MemberNotFound,
    #[error("etcdserver: {0}")]
    FailedPrecondition(String),
    /// A bug or a broken disk: the node cannot go on.
    #[error("etcdserver: internal error: {0}")]
    Internal(String),
}

/// One control-plane member as the Cluster API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

/// What Maintenance.Status reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    pub member_id: u64,
    /// 0 when no leader is known.
    pub leader: u64,
    pub raft_term: u64,
    pub raft_index: u64,
    pub raft_applied_index: u64,
    pub db_size: i64,
    pub is_learner: bool,
}

/// What LeaseTimeToLive reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    pub id: LeaseId,
    pub granted_ttl: i64,
    /// Seconds left, -1 if expired.
    pub ttl: i64,
    pub keys: Vec<Vec<u8>>,
}

/// The response header fields every etcd response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub cluster_id: u64,
    pub member_id: u64,
    pub revision: Revision,
    pub raft_term: u64,
}

/// Placeholder body while the Raft wiring lands; every method exists with its
/// final signature.
pub struct Node {
    _private: (),
}

impl Node {
    /// Header for a response that reflects store revision `revision`.
    pub fn header(&self, revision: Revision) -> Header {
        Header { cluster_id: 0, member_id: 0, revision, raft_term: 0 }
    }

    /// The locally applied (committed) store revision.
    pub fn revision(&self) -> Revision {
        0
    }

    /// Propose a mutation; on a follower it is forwarded to the leader.
    pub async fn write(&self, _cmd: Command) -> Result<Applied, NodeError> {
        Err(NodeError::Unavailable("not ready".into()))
    }

    /// Range read: linearizable (ReadIndex through the leader) unless
    /// `req.serializable`, which reads local state. Returns the header revision.
    pub async fn range(&self, _req: RangeRequest) -> Result<(Revision, RangeResponse), NodeError> {
        Err(NodeError::Unavailable("not ready".into()))
    }

    pub fn watch_hub(&self) -> &WatchHub {
        unimplemented!()
    }

    /// Grant a lease; `id == 0` lets the server choose one.
    pub async fn lease_grant(&self, _id: LeaseId, _ttl: i64) -> Result<(LeaseId, i64, Revision), NodeError> {
        Err(NodeError::Unavailable("not ready".into()))
    }

    pub async fn lease_revoke(&self, _id: LeaseId) -> Result<Revision, NodeError> {
        Err(NodeError::Unavailable("not ready".into()))
    }

    /// Renew a lease (forwarded to the leader); returns the new TTL.
    pub async fn lease_keep_alive(&self, _id: LeaseId) -> Result<i64, NodeError> {
        Err(NodeError::Unavailable("not ready".into()))
    }

    pub async fn lease_time_to_live(&self, _id: LeaseId, _keys: bool) -> Result<LeaseInfo, NodeError> {
        Err(NodeError::Unavailable("not ready".into()))
    }

    pub async fn lease_list(&self) -> Result<Vec<LeaseId>, NodeError> {
        Err(NodeError::Unavailable("not ready".into()))
    }

    pub async fn members(&self) -> Result<Vec<MemberInfo>, NodeError> {
        Err(NodeError::Unavailable("not ready".into()))
    }

    /// Add a member (as a learner; promoted automatically once caught up
    /// unless `is_learner`). Returns the new member and the new member list.
    pub async fn member_add(
        &self,
        _peer_urls: Vec<String>,
        _is_learner: bool,
    ) -> Result<(MemberInfo, Vec<MemberInfo>), NodeError> {
        Err(NodeError::Unavailable("not ready".into()))
    }

    pub async fn member_remove(&self, _id: u64) -> Result<Vec<MemberInfo>, NodeError> {
        Err(NodeError::Unavailable("not ready".into()))
    }

    pub async fn member_promote(&self, _id: u64) -> Result<Vec<MemberInfo>, NodeError> {
        Err(NodeError::Unavailable("not ready".into()))
    }

    /// Transfer leadership to `target` (etcd MoveLeader).
    pub async fn move_leader(&self, _target: u64) -> Result<(), NodeError> {
        Err(NodeError::Unavailable("not ready".into()))
    }

    pub fn status(&self) -> NodeStatus {
        NodeStatus {
            member_id: 0,
            leader: 0,
            raft_term: 0,
            raft_index: 0,
            raft_applied_index: 0,
            db_size: 0,
            is_learner: false,
        }
    }

    /// A consistent snapshot of the whole store, as one byte blob (etcd's
    /// Maintenance.Snapshot streams it in chunks; `vitrail control
    /// --restore` reads it back).
    pub async fn snapshot(&self) -> Result<Vec<u8>, NodeError> {
        Err(NodeError::Unavailable("not ready".into()))
    }
}

//! A control-plane node: the Raft instance plus everything that turns it into
//! an etcd-compatible server (proposal batching, forwarding to the leader,
//! linearizable reads, the lessor, the watch hub, membership).
//!
//! The `api` module (etcd gRPC) talks only to [`Node`]; it never sees openraft.

mod lease_ops;
pub mod lessor;
mod membership;
pub mod metrics;
mod node_impl;
mod proposer;
pub mod watch_hub;

use serde::{Deserialize, Serialize};

use crate::kv::{KvError, LeaseId, Revision};
pub use metrics::Metrics;
pub use node_impl::{Node, NodeConfig};
pub use watch_hub::{WatchBatch, WatchHub, WatchStream};

/// What went wrong with a request, classified by what the caller must do.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

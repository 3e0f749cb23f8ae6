//! openraft type configuration: what a log entry carries and what applying it
//! returns.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::kv::{Applied, Command};

pub type NodeId = u64;

/// A control-plane member as stored in Raft membership: enough to reach it
/// (peer address) and to tell clients where its etcd API is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    /// host:port of the peer (Raft) gRPC service.
    pub peer_addr: String,
    /// host:port of the client (etcd API) gRPC service; empty until known.
    pub client_addr: String,
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.peer_addr)
    }
}

/// One Raft entry's payload: a batch of commands proposed together (group
/// commit: one log append and one fsync for the whole batch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    Batch(Vec<Command>),
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Batch(cmds) => write!(f, "batch({})", cmds.len()),
        }
    }
}

/// What applying one entry produced: one [`Applied`] per command.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub results: Vec<Applied>,
}

openraft::declare_raft_types!(
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = Member,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, Member>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, Member>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;

/// A member's id: derived from its peer address so that a node added with
/// `member add --peer-urls` and the process later started with that
/// `--peer-addr` agree on it without a side channel (etcd derives member ids
/// from peer URLs too).
pub fn node_id_for(peer_addr: &str) -> NodeId {
    let addr = peer_addr
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let addr = addr.trim_end_matches('/');
    // FNV-1a 64: stable across versions and platforms (std's hasher is not).
    let mut h: u64 = 0xcbf29ce484222325;
    for b in addr.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    // etcd member ids are non-zero and etcdctl prints them as hex.
    h.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_ignores_scheme_and_trailing_slash() {
        assert_eq!(
            node_id_for("127.0.0.1:2380"),
            node_id_for("http://127.0.0.1:2380/")
        );
        assert_ne!(node_id_for("127.0.0.1:2380"), node_id_for("127.0.0.1:2480"));
    }
}

//! Peer traffic over tonic gRPC: openraft's AppendEntries / Vote /
//! InstallSnapshot (chunks), plus `Forward` for requests a follower hands to
//! the leader. Messages are bincode inside a `Blob` (see proto/peer.proto).
//!
//! A [`NetFilter`] can drop traffic between chosen nodes: in-process cluster
//! tests partition and heal real gRPC connections with it (STYLE.md §7).

pub mod client;
pub mod server;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::kv::{Applied, Command, LeaseId};
use crate::node::{LeaseInfo, MemberInfo, NodeError};
use crate::raft_types::{Member, NodeId};

pub mod pb {
    tonic::include_proto!("vitrail.peer");
}

/// Decides whether a message from one node to another is delivered.
pub trait NetFilter: Send + Sync + 'static {
    fn allow(&self, from: NodeId, to: NodeId) -> bool;
}

pub type Filter = Option<Arc<dyn NetFilter>>;

/// What a follower asks the leader to do on its behalf.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ForwardRequest {
    Write(Vec<Command>),
    /// ReadIndex: the leader confirms its leadership with a quorum and
    /// answers the log index a linearizable read must wait for.
    ReadIndex,
    LeaseKeepAlive(LeaseId),
    LeaseTimeToLive {
        id: LeaseId,
        keys: bool,
    },
    MemberAdd {
        peer_addr: String,
        is_learner: bool,
    },
    MemberRemove(NodeId),
    MemberPromote(NodeId),
    /// A member tells the leader its name and client address.
    UpdateMember {
        id: NodeId,
        member: Member,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ForwardResponse {
    Write(Vec<Applied>),
    ReadIndex(u64),
    LeaseTtl(i64),
    LeaseInfo(LeaseInfo),
    MemberAdded(MemberInfo, Vec<MemberInfo>),
    Members(Vec<MemberInfo>),
    Done,
}

pub type ForwardResult = Result<ForwardResponse, NodeError>;

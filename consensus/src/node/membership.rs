//! Cluster membership: a new member joins as a learner, catches up, then
//! is promoted to voter (automatically, unless it was added as a learner on
//! purpose). All changes run on the leader; followers forward them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::ChangeMembers;

use super::node_impl::{unavailable, Node};
use super::{MemberInfo, NodeError};
use crate::network::{ForwardRequest, ForwardResponse};
use crate::raft_types::{node_id_for, Member, NodeId};

/// A learner counts as caught up when it is this close to the leader's log.
const CAUGHT_UP_ENTRIES: u64 = 100;

fn url(addr: &str) -> Vec<String> {
    if addr.is_empty() {
        Vec::new()
    } else {
        vec![format!("http://{addr}")]
    }
}

fn strip_scheme(u: &str) -> String {
    u.trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string()
}

impl Node {
    pub async fn members(&self) -> Result<Vec<MemberInfo>, NodeError> {
        Ok(self.member_list())
    }

    pub(super) fn member_list(&self) -> Vec<MemberInfo> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(id, n)| MemberInfo {
                id: *id,
                name: n.name.clone(),
                peer_urls: url(&n.peer_addr),
                client_urls: url(&n.client_addr),
                is_learner: !voters.contains(id),
            })
            .collect()
    }

    /// Add a member (as a learner; promoted automatically once caught up
    /// unless `is_learner`). Returns the new member and the new member list.
    pub async fn member_add(
        &self,
        peer_urls: Vec<String>,
        is_learner: bool,
    ) -> Result<(MemberInfo, Vec<MemberInfo>), NodeError> {
        let first = peer_urls
            .first()
            .ok_or_else(|| NodeError::InvalidArgument("no peer URL given".into()))?;
        let req = ForwardRequest::MemberAdd {
            peer_addr: strip_scheme(first),
            is_learner,
        };
        match self.to_leader(req).await? {
            ForwardResponse::MemberAdded(m, all) => Ok((m, all)),
            other => Err(NodeError::Internal(format!(
                "unexpected forward response {other:?}"
            ))),
        }
    }

    pub async fn member_remove(&self, id: u64) -> Result<Vec<MemberInfo>, NodeError> {
        match self.to_leader(ForwardRequest::MemberRemove(id)).await? {
            ForwardResponse::Members(all) => Ok(all),
            other => Err(NodeError::Internal(format!(
                "unexpected forward response {other:?}"
            ))),
        }
    }

    pub async fn member_promote(&self, id: u64) -> Result<Vec<MemberInfo>, NodeError> {
        match self.to_leader(ForwardRequest::MemberPromote(id)).await? {
            ForwardResponse::Members(all) => Ok(all),
            other => Err(NodeError::Internal(format!(
                "unexpected forward response {other:?}"
            ))),
        }
    }

    /// Transfer leadership to `target` (etcd MoveLeader).
    pub async fn move_leader(&self, _target: u64) -> Result<(), NodeError> {
        Err(NodeError::FailedPrecondition(
            "MoveLeader is not supported yet: openraft 0.9 has no leadership transfer".into(),
        ))
    }

    fn require_leader(&self) -> Result<(), NodeError> {
        if self.is_leader() {
            Ok(())
        } else {
            Err(unavailable("etcdserver: not leader"))
        }
    }

    pub(super) async fn member_add_local(
        &self,
        peer_addr: &str,
        is_learner: bool,
    ) -> Result<(MemberInfo, Vec<MemberInfo>), NodeError> {
        self.require_leader()?;
        let id = node_id_for(peer_addr);
        if self.member_list().iter().any(|m| m.id == id) {
            return Err(NodeError::FailedPrecondition(
                "etcdserver: Peer URLs already exists".into(),
            ));
        }
        let member = Member {
            name: String::new(),
            peer_addr: peer_addr.to_string(),
            client_addr: String::new(),
        };
        self.raft
            .add_learner(id, member, false)
            .await
            .map_err(unavailable)?;
        if !is_learner {
            let raft = self.raft.clone();
            tokio::spawn(promote_when_caught_up(raft, id));
        }
        let all = self.member_list();
        let added = all
            .iter()
            .find(|m| m.id == id)
            .cloned()
            .unwrap_or(MemberInfo {
                id,
                name: String::new(),
                peer_urls: url(peer_addr),
                client_urls: Vec::new(),
                is_learner: true,
            });
        Ok((added, all))
    }

    pub(super) async fn member_remove_local(
        &self,
        id: NodeId,
    ) -> Result<Vec<MemberInfo>, NodeError> {
        self.require_leader()?;
        let Some(m) = self.member_list().into_iter().find(|m| m.id == id) else {
            return Err(NodeError::MemberNotFound);
        };
        let change = if m.is_learner {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        };
        self.raft
            .change_membership(change, false)
            .await
            .map_err(unavailable)?;
        Ok(self.member_list())
    }

    pub(super) async fn member_promote_local(
        &self,
        id: NodeId,
    ) -> Result<Vec<MemberInfo>, NodeError> {
        self.require_leader()?;
        let Some(m) = self.member_list().into_iter().find(|m| m.id == id) else {
            return Err(NodeError::MemberNotFound);
        };
        if !m.is_learner {
            return Err(NodeError::FailedPrecondition(
                "etcdserver: can only promote a learner member".into(),
            ));
        }
        if !caught_up(&self.raft, id) {
            return Err(NodeError::FailedPrecondition(
                "etcdserver: can only promote a learner member which is in sync with leader".into(),
            ));
        }
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
            .map_err(unavailable)?;
        Ok(self.member_list())
    }

    pub(super) async fn update_member_local(
        &self,
        id: NodeId,
        member: Member,
    ) -> Result<(), NodeError> {
        self.require_leader()?;
        self.raft
            .change_membership(
                ChangeMembers::SetNodes(BTreeMap::from([(id, member)])),
                false,
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

fn caught_up(raft: &crate::raft_types::Raft, id: NodeId) -> bool {
    let m = raft.metrics();
    let m = m.borrow();
    let last = m.last_log_index.unwrap_or(0);
    let matched = m
        .replication
        .as_ref()
        .and_then(|r| r.get(&id).cloned().flatten())
        .map(|l| l.index);
    matches!(matched, Some(i) if i + CAUGHT_UP_ENTRIES >= last)
}

async fn promote_when_caught_up(raft: crate::raft_types::Raft, id: NodeId) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    while tokio::time::Instant::now() < deadline {
        let (is_member, is_voter, is_leader) = {
            let m = raft.metrics();
            let m = m.borrow();
            let ms = m.membership_config.membership();
            (
                ms.get_node(&id).is_some(),
                ms.voter_ids().any(|v| v == id),
                m.state == openraft::ServerState::Leader,
            )
        };
        if !is_member || is_voter || !is_leader {
            return;
        }
        if caught_up(&raft, id) {
            match raft
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                .await
            {
                Ok(_) => {
                    tracing::info!(member = id, "learner caught up: promoted to voter");
                    return;
                }
                Err(e) => tracing::warn!(member = id, "promotion failed, retrying: {e}"),
            }
        }
        let _ = raft
            .wait(Some(Duration::from_millis(200)))
            .metrics(|_| false, "poll")
            .await;
    }
}

/// Once in the cluster, make sure the membership shows this node's name and
/// client address (members added with `member add` start without them, and
/// bootstrap records none).
pub(super) async fn publish_self_loop(node: Arc<Node>) {
    let mut stop = node.shutdown_signal();
    let mut rx = node.raft.metrics();
    loop {
        let current = {
            let m = rx.borrow();
            m.membership_config.membership().get_node(&node.id).cloned()
        };
        if let Some(cur) = current {
            if cur == node.member {
                // Up to date; keep watching in case a snapshot or a peer
                // rewrites it.
            } else if node.leader().is_some() {
                let req = ForwardRequest::UpdateMember {
                    id: node.id,
                    member: node.member.clone(),
                };
                if let Err(e) = node.to_leader(req).await {
                    tracing::debug!("publishing member attributes: {e}");
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => return,
                }
                continue;
            }
        }
        tokio::select! {
            r = rx.changed() => if r.is_err() { return },
            _ = stop.changed() => return,
        }
    }
}

//! The node itself: construction, the write path (batching proposer,
//! forwarding), the read path (ReadIndex), and background duties.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{Config, ServerState, SnapshotPolicy};
use tokio::sync::{mpsc, oneshot, watch};

use super::lessor::Lessor;
use super::metrics::Metrics;
use super::watch_hub::WatchHub;
use super::{Header, NodeError, NodeStatus};
use crate::kv::{Applied, Command, LeaseId, Mvcc, RangeRequest, RangeResponse, Revision};
use crate::network::client::{forward, Channels, NetworkFactory};
use crate::network::{Filter, ForwardRequest, ForwardResponse, ForwardResult};
use crate::raft_types::{node_id_for, Member, NodeId, Raft, Response};
use crate::store::{self, ApplyListener, Db, LogStore, StateMachine};

/// How a node is started (`vitrail control` flags map onto this).
#[derive(Clone)]
pub struct NodeConfig {
    pub name: String,
    pub data_dir: PathBuf,
    /// host:port of the etcd API (what clients dial).
    pub client_addr: String,
    /// host:port of the peer service.
    pub peer_addr: String,
    /// (name, peer addr) of every initial member; empty = a one-node cluster.
    pub initial_cluster: Vec<(String, String)>,
    /// false = this node joins an existing cluster (it was added with
    /// `member add`) and must not bootstrap one.
    pub initial_cluster_new: bool,
    pub heartbeat_ms: u64,
    pub election_timeout_ms: u64,
    /// Raft entries between snapshots.
    pub snapshot_entries: u64,
    /// Test hook: drop peer traffic between chosen nodes.
    pub filter: Filter,
}

impl NodeConfig {
    pub fn new(
        name: &str,
        data_dir: impl Into<PathBuf>,
        client_addr: &str,
        peer_addr: &str,
    ) -> Self {
        NodeConfig {
            name: name.to_string(),
            data_dir: data_dir.into(),
            client_addr: client_addr.to_string(),
            peer_addr: peer_addr.to_string(),
            initial_cluster: Vec::new(),
            initial_cluster_new: true,
            heartbeat_ms: 50,
            election_timeout_ms: 250,
            snapshot_entries: 20_000,
            filter: None,
        }
    }
}

pub(super) struct Proposal {
    pub cmd: Command,
    pub tx: oneshot::Sender<Result<Applied, NodeError>>,
}

/// A running control-plane node. Cheap to share (`Arc<Node>`).
pub struct Node {
    pub(super) id: NodeId,
    pub(super) member: Member,
    pub(super) raft: Raft,
    pub(super) db: Arc<Db>,
    pub(super) mvcc: Arc<RwLock<Mvcc>>,
    pub(super) hub: Arc<WatchHub>,
    pub(super) lessor: Arc<Mutex<Lessor>>,
    pub(super) proposer: mpsc::Sender<Proposal>,
    pub(super) channels: Channels,
    pub(super) filter: Filter,
    pub(super) metrics: Arc<Metrics>,
    cluster_id: AtomicU64,
    shutdown: watch::Sender<bool>,
}

/// Feeds applied results to the watch hub and the lessor.
struct Listener {
    hub: Arc<WatchHub>,
    lessor: Arc<Mutex<Lessor>>,
    metrics: Arc<Metrics>,
}

impl ApplyListener for Listener {
    fn applied(&self, responses: &[Response], revoked: &[LeaseId], took: Duration) {
        self.metrics.observe_apply(took);
        self.hub.publish(responses);
        let now = Instant::now();
        let mut lessor = self.lessor.lock().unwrap_or_else(|p| p.into_inner());
        for a in responses.iter().flat_map(|r| r.results.iter()) {
            if let Ok(crate::kv::CommandResult::LeaseGrant { id, ttl }) = &a.result {
                lessor.grant(*id, *ttl, now);
            }
        }
        for id in revoked {
            lessor.remove(*id);
        }
    }

    fn reset(&self, revision: Revision) {
        self.hub.reset(revision);
    }
}

/// What a node that is not leader answers a forwarded write with; the
/// sender may retry elsewhere because nothing was proposed.
pub(super) const NOT_LEADER: &str = "etcdserver: not leader";

pub(super) fn unavailable(e: impl std::fmt::Display) -> NodeError {
    NodeError::Unavailable(e.to_string())
}

impl Node {
    /// Opens storage, starts Raft and the node's background tasks, and
    /// bootstraps the cluster if this is a new one. The caller serves the
    /// peer and client gRPC services (see `server`).
    pub async fn start(cfg: NodeConfig) -> Result<Arc<Node>, NodeError> {
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
            NodeError::Internal(format!("cannot create {}: {e}", cfg.data_dir.display()))
        })?;
        let db = store::open_db(&cfg.data_dir)
            .map_err(|e| NodeError::Internal(format!("open rocksdb: {e}")))?;
        let mvcc =
            Mvcc::open(db.clone()).map_err(|e| NodeError::Internal(format!("open store: {e}")))?;
        let mvcc = Arc::new(RwLock::new(mvcc));
        let hub = Arc::new(WatchHub::new(mvcc.clone()));
        let lessor = Arc::new(Mutex::new(Lessor::default()));
        let metrics = Arc::new(Metrics::default());
        let listener = Arc::new(Listener {
            hub: hub.clone(),
            lessor: lessor.clone(),
            metrics: metrics.clone(),
        });
        let log_store = LogStore::new(db.clone());
        let sm = StateMachine::open(
            db.clone(),
            mvcc.clone(),
            &cfg.data_dir.join("snapshots"),
            listener,
        )
        .map_err(|e| NodeError::Internal(format!("open state machine: {e}")))?;

        let id = node_id_for(&cfg.peer_addr);
        let member = Member {
            name: cfg.name.clone(),
            peer_addr: cfg.peer_addr.clone(),
            client_addr: cfg.client_addr.clone(),
        };
        let raft_config = Config {
            cluster_name: "vitrail".into(),
            heartbeat_interval: cfg.heartbeat_ms,
            election_timeout_min: cfg.election_timeout_ms,
            election_timeout_max: cfg.election_timeout_ms * 2,
            install_snapshot_timeout: 2000,
            // One entry can carry thousands of batched commands: keep
            // replication messages (and the memory behind them) small.
            max_payload_entries: 32,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_entries),
            max_in_snapshot_log_to_keep: 1000,
            snapshot_max_chunk_size: 1 << 20,
            ..Default::default()
        };
        let raft_config = Arc::new(
            raft_config
                .validate()
                .map_err(|e| NodeError::InvalidArgument(format!("raft config: {e}")))?,
        );
        let channels = Channels::from_peer_addr(&cfg.peer_addr);
        let network = NetworkFactory {
            self_id: id,
            channels: channels.clone(),
            filter: cfg.filter.clone(),
        };
        let raft = Raft::new(id, raft_config, network, log_store, sm)
            .await
            .map_err(|e| NodeError::Internal(format!("start raft: {e}")))?;

        let (ptx, prx) = mpsc::channel(65_536);
        let (shutdown, _) = watch::channel(false);
        let cluster_id = store::state_machine::read_cluster_id(&db);
        let node = Arc::new(Node {
            id,
            member,
            raft,
            db,
            mvcc,
            hub,
            lessor,
            proposer: ptx,
            channels,
            filter: cfg.filter.clone(),
            metrics,
            cluster_id: AtomicU64::new(cluster_id),
            shutdown,
        });

        tokio::spawn(super::proposer::run(node.clone(), prx));
        tokio::spawn(super::lease_ops::expiry_loop(node.clone()));
        tokio::spawn(leadership_loop(node.clone()));
        tokio::spawn(super::membership::publish_self_loop(node.clone()));

        let initialized = node.raft.is_initialized().await.map_err(unavailable)?;
        if !initialized && cfg.initial_cluster_new {
            let mut members = BTreeMap::new();
            if cfg.initial_cluster.is_empty() {
                members.insert(id, node.member.clone());
            } else {
                for (name, peer) in &cfg.initial_cluster {
                    // Other members' client addresses are learned once they
                    // start (see publish_self_loop); bootstrap must be
                    // identical on every node, so none is recorded here.
                    members.insert(
                        node_id_for(peer),
                        Member {
                            name: name.clone(),
                            peer_addr: peer.clone(),
                            client_addr: String::new(),
                        },
                    );
                }
                if !members.contains_key(&id) {
                    return Err(NodeError::InvalidArgument(format!(
                        "--initial-cluster does not contain this node's peer address {}",
                        cfg.peer_addr
                    )));
                }
            }
            if let Err(e) = node.raft.initialize(members).await {
                tracing::info!("initialize: {e} (already bootstrapped by a peer?)");
            }
        }
        Ok(node)
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn watch_hub(&self) -> &WatchHub {
        &self.hub
    }

    pub(super) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Becomes true when the node shuts down (long-lived RPCs end on it).
    pub fn stopped_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Stops Raft and background tasks. Storage is left consistent.
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        self.hub.close();
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!("raft shutdown: {e}");
        }
    }

    pub(super) fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    pub(super) fn is_leader(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.id)
    }

    pub(super) fn peer_addr_of(&self, id: NodeId) -> Option<String> {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.membership_config
            .membership()
            .get_node(&id)
            .map(|n| n.peer_addr.clone())
    }

    /// Waits (bounded) until some leader is known.
    pub(super) async fn wait_leader(&self, timeout: Duration) -> Result<NodeId, NodeError> {
        let mut rx = self.raft.metrics();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(l) = rx.borrow().current_leader {
                return Ok(l);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return Err(unavailable("node is shutting down")),
                Err(_) => return Err(unavailable("no leader")),
            }
        }
    }

    /// Sends a request to the current leader (which may be this node: then
    /// it is handled locally).
    pub(super) async fn to_leader(&self, req: ForwardRequest) -> ForwardResult {
        let leader = self.wait_leader(Duration::from_secs(3)).await?;
        if leader == self.id {
            return Box::pin(self.handle_forward(req)).await;
        }
        let addr = self
            .peer_addr_of(leader)
            .ok_or_else(|| unavailable("leader address unknown"))?;
        self.metrics.forwarded.fetch_add(1, Ordering::Relaxed);
        forward(
            &self.channels,
            &self.filter,
            self.id,
            leader,
            &addr,
            &req,
            Duration::from_secs(10),
        )
        .await
    }

    /// Handles a request forwarded by a follower (or by ourselves).
    pub async fn handle_forward(&self, req: ForwardRequest) -> ForwardResult {
        match req {
            ForwardRequest::Write(cmds) => {
                if !self.is_leader() {
                    return Err(unavailable(NOT_LEADER));
                }
                let mut waiters = Vec::with_capacity(cmds.len());
                for cmd in cmds {
                    waiters.push(self.enqueue(cmd).await?);
                }
                let mut out = Vec::with_capacity(waiters.len());
                for w in waiters {
                    out.push(w.await.map_err(|_| unavailable("proposal dropped"))??);
                }
                Ok(ForwardResponse::Write(out))
            }
            ForwardRequest::ReadIndex => {
                let (read, _applied) = self.raft.get_read_log_id().await.map_err(unavailable)?;
                Ok(ForwardResponse::ReadIndex(
                    read.map(|l| l.index).unwrap_or(0),
                ))
            }
            ForwardRequest::LeaseKeepAlive(id) => {
                self.keep_alive_local(id).map(ForwardResponse::LeaseTtl)
            }
            ForwardRequest::LeaseTimeToLive { id, keys } => self
                .time_to_live_local(id, keys)
                .map(ForwardResponse::LeaseInfo),
            ForwardRequest::MemberAdd {
                peer_addr,
                is_learner,
            } => {
                let (m, all) = self.member_add_local(&peer_addr, is_learner).await?;
                Ok(ForwardResponse::MemberAdded(m, all))
            }
            ForwardRequest::MemberRemove(id) => self
                .member_remove_local(id)
                .await
                .map(ForwardResponse::Members),
            ForwardRequest::MemberPromote(id) => self
                .member_promote_local(id)
                .await
                .map(ForwardResponse::Members),
            ForwardRequest::UpdateMember { id, member } => {
                self.update_member_local(id, member).await?;
                Ok(ForwardResponse::Done)
            }
        }
    }

    pub(super) async fn enqueue(
        &self,
        cmd: Command,
    ) -> Result<oneshot::Receiver<Result<Applied, NodeError>>, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.proposer
            .send(Proposal { cmd, tx })
            .await
            .map_err(|_| unavailable("node is shutting down"))?;
        Ok(rx)
    }

    /// Propose a mutation; on a follower it is forwarded to the leader.
    pub async fn write(&self, cmd: Command) -> Result<Applied, NodeError> {
        let rx = self.enqueue(cmd).await?;
        rx.await.map_err(|_| unavailable("proposal dropped"))?
    }

    /// Commits a batch of commands as one Raft entry (leader) or forwards
    /// it (follower). Not retried after it may have been sent: a write whose
    /// outcome is unknown is reported as an error, never applied twice.
    pub(super) async fn write_batch(&self, cmds: Vec<Command>) -> Result<Vec<Applied>, NodeError> {
        // Retrying is safe only when the batch certainly was not proposed:
        // the leader we forwarded to said it is not leader (it checks before
        // it enqueues anything). A ForwardToLeader from our own client_write
        // is NOT retried: openraft also returns it when leadership is lost
        // while the entry is pending, and that entry may still commit under
        // the next leader — proposing it again could apply it twice.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let leader = self.wait_leader(left).await?;
            let retry = if leader == self.id {
                self.metrics
                    .proposal_batches
                    .fetch_add(1, Ordering::Relaxed);
                match self
                    .raft
                    .client_write(crate::raft_types::Request::Batch(cmds))
                    .await
                {
                    Ok(resp) => return Ok(resp.data.results),
                    Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => {
                        return Err(unavailable("etcdserver: leader changed"))
                    }
                    Err(e) => return Err(unavailable(e)),
                }
            } else {
                let addr = self
                    .peer_addr_of(leader)
                    .ok_or_else(|| unavailable("leader address unknown"))?;
                self.metrics.forwarded.fetch_add(1, Ordering::Relaxed);
                let req = ForwardRequest::Write(cmds.clone());
                // Generous: one forwarded DeleteRange can remove a whole key
                // space, and its outcome is unknown if we give up early.
                match forward(
                    &self.channels,
                    &self.filter,
                    self.id,
                    leader,
                    &addr,
                    &req,
                    Duration::from_secs(60),
                )
                .await
                {
                    Ok(ForwardResponse::Write(results)) => return Ok(results),
                    Ok(other) => {
                        return Err(NodeError::Internal(format!(
                            "unexpected forward response {other:?}"
                        )))
                    }
                    Err(NodeError::Unavailable(m)) if m.ends_with(NOT_LEADER) => {
                        "forwarded to a former leader"
                    }
                    Err(e) => return Err(e),
                }
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(unavailable(format!("etcdserver: {retry}")));
            }
            // Let the new leader become known before trying again.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until this node's state machine reflects every write that
    /// committed before the call (ReadIndex, answered by the leader).
    pub(super) async fn linearize(&self) -> Result<(), NodeError> {
        if self.is_leader() {
            return self
                .raft
                .ensure_linearizable()
                .await
                .map(|_| ())
                .map_err(unavailable);
        }
        let index = match self.to_leader(ForwardRequest::ReadIndex).await? {
            ForwardResponse::ReadIndex(i) => i,
            other => {
                return Err(NodeError::Internal(format!(
                    "unexpected forward response {other:?}"
                )))
            }
        };
        self.raft
            .wait(Some(Duration::from_secs(5)))
            .applied_index_at_least(Some(index), "read index")
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Range read: linearizable (ReadIndex) unless `req.serializable`, which
    /// reads local state. Returns the header revision.
    pub async fn range(&self, req: RangeRequest) -> Result<(Revision, RangeResponse), NodeError> {
        if !req.serializable {
            self.linearize().await?;
        }
        let mvcc = self
            .mvcc
            .read()
            .map_err(|_| NodeError::Internal("store lock poisoned".into()))?;
        // A storage failure is the node's problem, not the request's: it is
        // reported as an internal error, never a panic.
        let resp = mvcc
            .try_range(&req)
            .map_err(|e| NodeError::Internal(format!("reading the store: {e}")))??;
        Ok((mvcc.revision(), resp))
    }

    /// The locally applied (committed) store revision.
    pub fn revision(&self) -> Revision {
        self.mvcc.read().map(|m| m.revision()).unwrap_or(0)
    }

    /// The revision below which history has been compacted away.
    pub fn compact_revision(&self) -> Revision {
        self.mvcc.read().map(|m| m.compact_revision()).unwrap_or(0)
    }

    /// Header for a response that reflects store revision `revision`.
    pub fn header(&self, revision: Revision) -> Header {
        let mut cluster_id = self.cluster_id.load(Ordering::Relaxed);
        if cluster_id == 0 {
            cluster_id = store::state_machine::read_cluster_id(&self.db);
            self.cluster_id.store(cluster_id, Ordering::Relaxed);
        }
        let raft_term = self.raft.metrics().borrow().current_term;
        Header {
            cluster_id,
            member_id: self.id,
            revision,
            raft_term,
        }
    }

    pub fn status(&self) -> NodeStatus {
        let db_size = self.mvcc.read().map(|m| m.db_size()).unwrap_or(0) as i64;
        let m = self.raft.metrics();
        let m = m.borrow();
        let is_learner = !m
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == self.id);
        NodeStatus {
            member_id: self.id,
            leader: m.current_leader.unwrap_or(0),
            raft_term: m.current_term,
            raft_index: m.last_log_index.unwrap_or(0),
            raft_applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
            db_size,
            is_learner,
        }
    }

    /// Gauges for the metrics endpoint.
    pub fn render_metrics(&self) -> String {
        let st = self.status();
        let watchers = self.hub.watchers() as f64;
        let leases = self.lessor.lock().map(|l| l.len()).unwrap_or(0) as f64;
        self.metrics.render(&[
            (
                "vitrail_raft_term",
                "Current Raft term.",
                st.raft_term as f64,
            ),
            (
                "vitrail_raft_index",
                "Last Raft log index.",
                st.raft_index as f64,
            ),
            (
                "vitrail_raft_applied_index",
                "Last applied Raft log index.",
                st.raft_applied_index as f64,
            ),
            (
                "vitrail_is_leader",
                "1 if this node is the Raft leader.",
                if st.leader == self.id { 1.0 } else { 0.0 },
            ),
            (
                "vitrail_has_leader",
                "1 if a leader is known.",
                if st.leader != 0 { 1.0 } else { 0.0 },
            ),
            (
                "vitrail_db_size_bytes",
                "Approximate size of the key-value data.",
                st.db_size as f64,
            ),
            (
                "vitrail_revision",
                "Current store revision.",
                self.revision() as f64,
            ),
            ("vitrail_watchers", "Open watch streams.", watchers),
            ("vitrail_leases", "Leases tracked by the lessor.", leases),
        ])
    }

    /// A consistent snapshot of the whole store (the snapshot file format).
    pub async fn snapshot(&self) -> Result<Vec<u8>, NodeError> {
        let db = self.db.clone();
        let dir = std::env::temp_dir();
        tokio::task::spawn_blocking(move || {
            let path = dir.join(format!(
                "vitrail-snapshot-{}-{}.tmp",
                std::process::id(),
                rand::random::<u64>()
            ));
            let res = store::snapshot_file::write(&db, &path)
                .map_err(|e| NodeError::Internal(e.to_string()))
                .and_then(|_| std::fs::read(&path).map_err(|e| NodeError::Internal(e.to_string())));
            let _ = std::fs::remove_file(&path);
            res
        })
        .await
        .map_err(|e| NodeError::Internal(e.to_string()))?
    }
}

/// Tracks leadership: a node that becomes leader takes over lease timing.
async fn leadership_loop(node: Arc<Node>) {
    let mut rx = node.raft.metrics();
    let mut stop = node.shutdown_signal();
    let mut was_leader = false;
    let mut last_leader = None;
    loop {
        let (leader, is_leader) = {
            let m = rx.borrow();
            (
                m.current_leader,
                m.state == ServerState::Leader && m.current_leader == Some(node.id),
            )
        };
        if leader != last_leader {
            if leader.is_some() {
                node.metrics.leader_changes.fetch_add(1, Ordering::Relaxed);
            }
            last_leader = leader;
        }
        if is_leader && !was_leader {
            let leases = node
                .mvcc
                .read()
                .ok()
                .and_then(|m| m.leases().ok())
                .unwrap_or_default();
            node.lessor
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .promote(&leases, Instant::now());
            tracing::info!(
                node = node.id,
                leases = leases.len(),
                "became leader; leases renewed for one TTL"
            );
        }
        was_leader = is_leader;
        tokio::select! {
            r = rx.changed() => if r.is_err() { return },
            _ = stop.changed() => return,
        }
    }
}

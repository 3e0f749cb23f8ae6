//! The tablet agent: a [`crate::Tablet`] connected to the topology.
//!
//! [`TabletAgent::start`] launches the tablet (mariadbd + gRPC), restores the
//! role the shard record gives it (mariadbd always starts read-only with
//! replication stopped), registers its Tablet record, and binds
//! `alive/<alias>` to a lease it keeps renewing. Then three tasks run:
//!
//! * **lease** ([`lease`]): renewal, re-registration after an expiry, and
//!   self-fencing — a primary that has not renewed for `ttl - margin` sets
//!   `read_only` before the store can expire its lease;
//! * **shard watch**: a primary that sees the shard name another tablet in a
//!   newer term demotes itself (read-only, type replica);
//! * **record sync**: every role change (promotion, demotion) is written to
//!   the Tablet record.
//!
//! Decisions are plain functions in [`decide`]; this module only wires and
//! carries them out. [`init_primary`] bootstraps a new shard (used by
//! `vitrail ctl shard init-primary` and `vitrail up`).

pub mod decide;
pub mod init_primary;
mod lease;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use topo::kv::{self, EtcdKv, LeaseId};
use topo::records::{
    DurabilityPolicy, Tablet as TabletRecord, TabletAlias, TabletType as TopoType,
};
use topo::server::{Topo, TopoError};

use crate::mysqlctl::{Credentials, MysqlctlConfig};
use crate::run::RunningTablet;
use crate::state::TabletState;
use crate::tablet::{Tablet, TabletConfig};
use crate::types::{TabletType, TabletUid};
use decide::{
    on_shard_record, startable_type, startup_role, to_topo_type, ShardAction, StartupRole,
};

/// Everything that can go wrong running an agent or bootstrapping a shard,
/// classified by what the caller does: fix the request ([`Config`],
/// [`FailedPrecondition`]), retry ([`Topo`]/[`Kv`] when retryable,
/// [`LockLost`], [`Rpc`] when the tablet was unavailable), or give up.
///
/// [`Config`]: AgentError::Config
/// [`FailedPrecondition`]: AgentError::FailedPrecondition
/// [`Topo`]: AgentError::Topo
/// [`Kv`]: AgentError::Kv
/// [`LockLost`]: AgentError::LockLost
/// [`Rpc`]: AgentError::Rpc
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("bad agent configuration: {0}")]
    Config(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("topology: {0}")]
    Topo(#[from] TopoError),
    #[error("topology store: {0}")]
    Kv(#[from] kv::Error),
    #[error("tablet: {0}")]
    Tablet(#[from] crate::Error),
    #[error("tablet {alias}: {message}")]
    Rpc { alias: String, message: String },
    #[error("lost the shard lock during {step}: {source}")]
    LockLost {
        step: &'static str,
        #[source]
        source: kv::Error,
    },
}

pub type Result<T, E = AgentError> = std::result::Result<T, E>;

/// How to run one tablet agent.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Control-plane client endpoints (`host:port`).
    pub control: Vec<String>,
    pub cell: String,
    pub uid: u32,
    pub keyspace: String,
    pub shard: String,
    /// `replica` or `rdonly`; primaries are made by a reparent.
    pub initial_type: TopoType,
    /// Directory holding `vt_<uid>/`.
    pub root: PathBuf,
    /// Where gRPC listens (port 0 picks one; the record gets the real one).
    pub grpc_addr: SocketAddr,
    pub mysql_port: u16,
    /// The host other tablets and gates reach this one at.
    pub hostname: String,
    pub credentials: Credentials,
    pub lease_ttl: Duration,
    /// A primary fences itself this long before its lease could expire.
    pub fence_margin: Duration,
    pub tablet: TabletConfig,
}

impl AgentConfig {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        control: Vec<String>,
        cell: impl Into<String>,
        uid: u32,
        keyspace: impl Into<String>,
        shard: impl Into<String>,
        root: impl Into<PathBuf>,
        grpc_addr: SocketAddr,
        mysql_port: u16,
    ) -> AgentConfig {
        AgentConfig {
            control,
            cell: cell.into(),
            uid,
            keyspace: keyspace.into(),
            shard: shard.into(),
            initial_type: TopoType::Replica,
            root: root.into(),
            grpc_addr,
            mysql_port,
            hostname: "127.0.0.1".into(),
            credentials: Credentials::default(),
            lease_ttl: Duration::from_secs(4),
            fence_margin: Duration::from_millis(1500),
            tablet: TabletConfig::default(),
        }
    }

    pub fn alias(&self) -> TabletAlias {
        TabletAlias::new(self.cell.clone(), self.uid)
    }
}

/// A running agent. Stop it with [`TabletAgent::shutdown`].
pub struct TabletAgent {
    alias: TabletAlias,
    topo: Topo,
    running: RunningTablet,
    lease: Arc<watch::Sender<LeaseId>>,
    last_renewal: watch::Receiver<Instant>,
    fenced: Arc<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl TabletAgent {
    /// Connect to the control plane, then [`TabletAgent::start_with_topo`].
    pub async fn start(cfg: AgentConfig) -> Result<TabletAgent> {
        if cfg.control.is_empty() {
            return Err(AgentError::Config("no control-plane endpoints".into()));
        }
        let kv = EtcdKv::connect(&cfg.control).await?;
        TabletAgent::start_with_topo(cfg, Topo::new(Arc::new(kv))).await
    }

    /// Launch the tablet and join the topology through `topo`.
    pub async fn start_with_topo(cfg: AgentConfig, topo: Topo) -> Result<TabletAgent> {
        let alias = cfg.alias();
        let initial = startable_type(cfg.initial_type).ok_or_else(|| {
            AgentError::Config(format!(
                "a tablet starts as replica or rdonly, not {}; make a primary with \
                 `vitrail ctl shard init-primary`",
                cfg.initial_type
            ))
        })?;
        let shard = topo.get_shard(&cfg.keyspace, &cfg.shard).await?.value;
        let keyspace = topo.get_keyspace(&cfg.keyspace).await?.value;
        topo.get_cell(&cfg.cell).await?;
        if let Ok(existing) = topo.get_tablet(&alias).await {
            let t = existing.value;
            if t.keyspace != cfg.keyspace || t.shard != cfg.shard {
                return Err(AgentError::Config(format!(
                    "tablet {alias} is registered in {}/{}, not {}/{}; delete its record first",
                    t.keyspace, t.shard, cfg.keyspace, cfg.shard
                )));
            }
        }

        let mut mysql = MysqlctlConfig::new(TabletUid(cfg.uid), cfg.mysql_port, &cfg.root);
        mysql.credentials = cfg.credentials.clone();
        let tablet_cfg = TabletConfig {
            initial_type: initial,
            ..cfg.tablet.clone()
        };
        let running = RunningTablet::launch(mysql, tablet_cfg, cfg.grpc_addr).await?;
        match Self::join(&cfg, &topo, &running, &shard, keyspace.durability_policy).await {
            Ok((lease_id, last_ok)) => Ok(Self::spawn(cfg, topo, running, lease_id, last_ok)),
            Err(e) => {
                if let Err(stop) = running.shutdown().await {
                    tracing::warn!(%alias, error = %stop, "stopping the tablet after a failed start");
                }
                Err(e)
            }
        }
    }

    /// Restore the role, write the record, go alive.
    async fn join(
        cfg: &AgentConfig,
        topo: &Topo,
        running: &RunningTablet,
        shard: &topo::records::Shard,
        durability: DurabilityPolicy,
    ) -> Result<(LeaseId, Instant)> {
        let alias = cfg.alias();
        let tablet = &running.tablet;
        let semi_sync = durability == DurabilityPolicy::SemiSync;
        match startup_role(shard, &alias) {
            StartupRole::Primary { term } => {
                tracing::info!(%alias, term, "shard names this tablet primary: taking writes");
                tablet
                    .replication
                    .set_semi_sync(semi_sync, false, None)
                    .await?;
                tablet.replication.set_read_only(false).await?;
                tablet
                    .state
                    .promote(i64::try_from(term).unwrap_or(i64::MAX));
            }
            StartupRole::Replica { primary } => {
                if let Err(e) = Self::follow(topo, tablet, &primary, semi_sync).await {
                    // The primary may be down: failover's business, not a
                    // reason to stay out of the topology.
                    tracing::warn!(%alias, %primary, error = %e, "cannot replicate from the primary yet");
                }
            }
            StartupRole::Idle => {}
        }
        let record = TabletRecord {
            alias: alias.clone(),
            hostname: cfg.hostname.clone(),
            grpc_port: running.grpc_addr.port(),
            mysql_port: cfg.mysql_port,
            keyspace: cfg.keyspace.clone(),
            shard: cfg.shard.clone(),
            tablet_type: to_topo_type(tablet.state.role().tablet_type),
            primary_term_start_ms: match tablet.state.role().tablet_type {
                TabletType::Primary => Some(shard.primary_term_start_ms),
                _ => None,
            },
        };
        match topo.create_tablet(&record).await {
            Ok(()) => {}
            Err(TopoError::AlreadyExists { .. }) => {
                topo.update_tablet_fields(&alias, |t| {
                    let keep_start = t.primary_term_start_ms;
                    *t = record.clone();
                    if record.tablet_type == TopoType::Primary && keep_start.is_some() {
                        t.primary_term_start_ms = keep_start;
                    }
                    Ok(())
                })
                .await?;
            }
            Err(e) => return Err(e.into()),
        }
        let sent = Instant::now();
        let lease_id = lease::register_alive(topo, &alias, cfg.lease_ttl).await?;
        tracing::info!(%alias, lease = %lease_id, tablet_type = %record.tablet_type, "tablet registered and alive");
        Ok((lease_id, sent))
    }

    /// Point replication at `primary` (from its Tablet record).
    async fn follow(
        topo: &Topo,
        tablet: &Tablet,
        primary: &TabletAlias,
        semi_sync: bool,
    ) -> Result<()> {
        let p = topo.get_tablet(primary).await?.value;
        tablet
            .replication
            .set_semi_sync(false, semi_sync, None)
            .await?;
        tablet
            .replication
            .set_source(&p.hostname, p.mysql_port, false)
            .await?;
        Ok(())
    }

    fn spawn(
        cfg: AgentConfig,
        topo: Topo,
        running: RunningTablet,
        lease_id: LeaseId,
        last_ok: Instant,
    ) -> TabletAgent {
        let alias = cfg.alias();
        let (lease_tx, _) = watch::channel(lease_id);
        let lease_tx = Arc::new(lease_tx);
        let (last_ok_tx, last_ok_rx) = watch::channel(last_ok);
        let last_renewal = last_ok_rx.clone();
        let last_ok_tx = Arc::new(last_ok_tx);
        let (fenced_tx, _) = watch::channel(false);
        let fenced = Arc::new(fenced_tx);
        let tablet = &running.tablet;
        let tasks = vec![
            tokio::spawn(lease::keeper(
                topo.clone(),
                alias.clone(),
                cfg.lease_ttl,
                lease_tx.clone(),
                last_ok_tx,
            )),
            tokio::spawn(
                lease::Fencer {
                    topo: topo.clone(),
                    alias: alias.clone(),
                    keyspace: cfg.keyspace.clone(),
                    shard: cfg.shard.clone(),
                    ttl: cfg.lease_ttl,
                    margin: cfg.fence_margin,
                    replication: tablet.replication.clone(),
                    state: tablet.state.clone(),
                    last_ok: last_ok_rx,
                    fenced: fenced.clone(),
                }
                .run(),
            ),
            tokio::spawn(watch_shard(
                topo.clone(),
                alias.clone(),
                cfg.keyspace.clone(),
                cfg.shard.clone(),
                TabletParts {
                    replication: tablet.replication.clone(),
                    state: tablet.state.clone(),
                },
            )),
            tokio::spawn(sync_record(
                topo.clone(),
                alias.clone(),
                tablet.state.clone(),
            )),
        ];
        TabletAgent {
            alias,
            topo,
            running,
            lease: lease_tx,
            last_renewal,
            fenced,
            tasks,
        }
    }

    pub fn alias(&self) -> &TabletAlias {
        &self.alias
    }

    pub fn topo(&self) -> &Topo {
        &self.topo
    }

    pub fn tablet(&self) -> &Tablet {
        &self.running.tablet
    }

    /// Where the tablet's gRPC services listen.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.running.grpc_addr
    }

    /// The lease `alive/<alias>` is currently bound to.
    pub fn lease_id(&self) -> LeaseId {
        *self.lease.borrow()
    }

    /// When the last successful lease renewal (or the grant) was sent: the
    /// store cannot expire the lease before this + TTL.
    pub fn last_renewal(&self) -> Instant {
        *self.last_renewal.borrow()
    }

    /// True while the tablet holds itself read-only for want of a lease.
    pub fn fenced(&self) -> watch::Receiver<bool> {
        self.fenced.subscribe()
    }

    /// Clean stop: the `alive` key goes now (lease revoked), the record
    /// stays, mariadbd stops.
    pub async fn shutdown(self) -> Result<()> {
        for t in &self.tasks {
            t.abort();
        }
        let id = *self.lease.borrow();
        if let Err(e) = self.topo.kv().lease_revoke(id).await {
            tracing::warn!(alias = %self.alias, error = %e, "revoking the lease failed; the alive key will expire");
        }
        self.running.shutdown().await?;
        Ok(())
    }

    /// Stop as if the process died: no revoke, so the `alive` key lingers
    /// until the store expires the lease; mariadbd is stopped too. For
    /// tests and drills.
    pub async fn crash(self) -> Result<()> {
        for t in &self.tasks {
            t.abort();
        }
        self.running.shutdown().await?;
        Ok(())
    }
}

/// What the shard watcher needs from the tablet.
struct TabletParts {
    replication: crate::replication::Replication,
    state: Arc<TabletState>,
}

/// Follow the shard record; demote on a newer term naming someone else.
async fn watch_shard(
    topo: Topo,
    alias: TabletAlias,
    keyspace: String,
    shard: String,
    tablet: TabletParts,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match topo.watch_shard(&keyspace, &shard) {
            Ok(mut stream) => {
                while let Some(item) = stream.next().await {
                    backoff = Duration::from_millis(100);
                    let record = match item {
                        Ok(Some(s)) => s.value,
                        Ok(None) => continue,
                        Err(e) => {
                            tracing::warn!(%alias, error = %e, "shard watch");
                            continue;
                        }
                    };
                    match on_shard_record(&record, &alias, tablet.state.role()) {
                        ShardAction::Nothing => {}
                        ShardAction::Demote { new_primary, term } => {
                            tracing::warn!(%alias, %new_primary, term, "shard has a newer primary: demoting");
                            if let Err(e) = tablet.replication.demote().await {
                                tracing::error!(%alias, error = %e, "demotion failed");
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(%alias, error = %e, "cannot watch the shard"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Write every role change to the Tablet record (retrying until it lands
/// or the role changes again).
async fn sync_record(topo: Topo, alias: TabletAlias, state: Arc<TabletState>) {
    let mut roles = state.subscribe();
    'roles: loop {
        let role = *roles.borrow_and_update();
        let ty = to_topo_type(role.tablet_type);
        let mut backoff = Duration::from_millis(100);
        loop {
            let start = now_ms();
            let res = topo
                .update_tablet_fields(&alias, |t| {
                    t.tablet_type = ty;
                    t.primary_term_start_ms = match ty {
                        TopoType::Primary => Some(t.primary_term_start_ms.unwrap_or(start)),
                        _ => None,
                    };
                    Ok(())
                })
                .await;
            let Err(e) = res else { break };
            tracing::warn!(%alias, error = %e, "updating the tablet record failed");
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                changed = roles.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    continue 'roles;
                }
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
        if roles.changed().await.is_err() {
            return;
        }
    }
}

//! The tablet's lease and its `alive/<alias>` key, and self-fencing.
//!
//! Two tasks share one clock value, the instant the last *successful*
//! renewal was sent:
//! * the keeper renews every third of the TTL; when the store says the lease
//!   is gone (it expired while we were cut off) it grants a new one and
//!   re-creates the `alive` key on it;
//! * the fencer sleeps until `last renewal + ttl - margin`; if no renewal
//!   came by then and the tablet is primary, it sets MariaDB `read_only` —
//!   before the store can expire the lease, so by the time failover sees the
//!   `alive` key vanish, the old primary takes no more writes. When renewals
//!   resume it lifts the fence only if the shard still names it in its own
//!   term ([`super::decide::may_unfence`]).
//!
//! The decisions are [`super::decide::lease_health`] and friends; this file
//! only sleeps, calls and logs.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use topo::kv::{self, LeaseId};
use topo::records::TabletAlias;
use topo::server::Topo;

use super::decide::{fence_after, may_unfence};
use crate::replication::Replication;
use crate::state::TabletState;
use crate::types::TabletType;

/// Bound on one `SET GLOBAL read_only` while fencing.
const MYSQL_TIMEOUT: Duration = Duration::from_secs(2);

/// Grant a lease and bind `alive/<alias>` to it. A key left by a previous
/// incarnation (bound to a lease not yet expired) is replaced.
pub(super) async fn register_alive(
    topo: &Topo,
    alias: &TabletAlias,
    ttl: Duration,
) -> Result<LeaseId, kv::Error> {
    let id = topo.kv().lease_grant(ttl).await?;
    let key = topo.layout().alive(alias);
    for _ in 0..3 {
        match topo.kv().create(&key, Vec::new(), Some(id)).await {
            Ok(_) => return Ok(id),
            Err(kv::Error::AlreadyExists(_)) => match topo.kv().delete(&key, None).await {
                Ok(()) | Err(kv::Error::NotFound(_)) => continue,
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    Err(kv::Error::Other(format!(
        "alive key {key} keeps being re-created by someone else"
    )))
}

/// Renew the lease forever; publish each success on `last_ok` and the
/// current lease on `lease`.
pub(super) async fn keeper(
    topo: Topo,
    alias: TabletAlias,
    ttl: Duration,
    lease: Arc<watch::Sender<LeaseId>>,
    last_ok: Arc<watch::Sender<Instant>>,
) {
    let period = (ttl / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(period).await;
        let sent = Instant::now();
        let id = *lease.borrow();
        match tokio::time::timeout(period, topo.kv().lease_keep_alive(id)).await {
            Ok(Ok(_)) => {
                last_ok.send_replace(sent);
            }
            Ok(Err(kv::Error::LeaseLost)) => {
                tracing::warn!(%alias, lease = %id, "lease expired; registering a new one");
                match register_alive(&topo, &alias, ttl).await {
                    Ok(new_id) => {
                        lease.send_replace(new_id);
                        last_ok.send_replace(sent);
                        tracing::info!(%alias, lease = %new_id, "alive again on a new lease");
                    }
                    Err(e) => tracing::warn!(%alias, error = %e, "re-registering alive key failed"),
                }
            }
            Ok(Err(e)) => tracing::debug!(%alias, error = %e, "lease renewal failed"),
            Err(_) => tracing::debug!(%alias, "lease renewal timed out"),
        }
    }
}

/// What the fencer needs to act.
pub(super) struct Fencer {
    pub topo: Topo,
    pub alias: TabletAlias,
    pub keyspace: String,
    pub shard: String,
    pub ttl: Duration,
    pub margin: Duration,
    pub replication: Replication,
    pub state: Arc<TabletState>,
    pub last_ok: watch::Receiver<Instant>,
    /// True while this tablet holds MariaDB read-only because of its lease.
    pub fenced: Arc<watch::Sender<bool>>,
}

impl Fencer {
    pub(super) async fn run(mut self) {
        loop {
            let deadline = *self.last_ok.borrow_and_update() + fence_after(self.ttl, self.margin);
            tokio::select! {
                changed = self.last_ok.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    self.fence().await;
                    if self.last_ok.changed().await.is_err() {
                        return;
                    }
                }
            }
            if *self.fenced.borrow() {
                self.try_unfence().await;
            }
        }
    }

    async fn fence(&self) {
        if self.state.role().tablet_type != TabletType::Primary {
            return;
        }
        tracing::warn!(alias = %self.alias, "lease not renewed in time: fencing (read_only = ON)");
        match tokio::time::timeout(MYSQL_TIMEOUT, self.replication.set_read_only(true)).await {
            Ok(Ok(())) => {}
            // mysqld not answering takes no writes either; still fenced.
            Ok(Err(e)) => tracing::error!(alias = %self.alias, error = %e, "fencing failed"),
            Err(_) => tracing::error!(alias = %self.alias, "fencing timed out"),
        }
        self.fenced.send_replace(true);
    }

    async fn try_unfence(&self) {
        let shard = match self.topo.get_shard(&self.keyspace, &self.shard).await {
            Ok(s) => s.value,
            Err(e) => {
                tracing::warn!(alias = %self.alias, error = %e, "cannot read shard to lift fence");
                return;
            }
        };
        if may_unfence(&shard, &self.alias, self.state.role()) {
            match self.replication.set_read_only(false).await {
                Ok(()) => tracing::info!(alias = %self.alias, "lease renewed: fence lifted"),
                Err(e) => {
                    tracing::warn!(alias = %self.alias, error = %e, "lifting fence failed");
                    return;
                }
            }
        }
        self.fenced.send_replace(false);
    }
}

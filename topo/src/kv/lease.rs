//! Leases kept alive by a background task, with a flag that says when they
//! are lost.
//!
//! The keep-alive task refreshes the lease every third of its TTL. The lease
//! counts as lost (the flag flips to `false`, once, for good) when the store
//! says it no longer exists, or when no refresh has succeeded for a whole TTL
//! measured from when the last successful refresh was *sent* — by then the
//! store may have expired it, so holders of anything bound to it (locks,
//! leadership, `alive/` keys) must stop acting on it.
//!
//! Dropping a [`Lease`] stops the task and revokes the lease in the background
//! (best effort); [`Lease::revoke`] does it and reports the outcome;
//! [`Lease::abandon`] stops refreshing without revoking, like a process that
//! died, leaving expiry to the store.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Error, Kv, LeaseId, Result};

pub struct Lease {
    kv: Arc<dyn Kv>,
    id: LeaseId,
    ttl: Duration,
    alive_tx: Arc<watch::Sender<bool>>,
    alive_rx: watch::Receiver<bool>,
    keeper: Option<JoinHandle<()>>,
}

impl Lease {
    /// Grant a lease of `ttl` and keep it alive until dropped or revoked.
    pub async fn grant(kv: Arc<dyn Kv>, ttl: Duration) -> Result<Lease> {
        let sent = Instant::now();
        let id = kv.lease_grant(ttl).await?;
        let (alive_tx, alive_rx) = watch::channel(true);
        let alive_tx = Arc::new(alive_tx);
        let keeper = tokio::spawn(keep_alive(kv.clone(), id, ttl, sent, alive_tx.clone()));
        Ok(Lease {
            kv,
            id,
            ttl,
            alive_tx,
            alive_rx,
            keeper: Some(keeper),
        })
    }

    pub fn id(&self) -> LeaseId {
        self.id
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The store this lease lives in.
    pub fn kv(&self) -> &Arc<dyn Kv> {
        &self.kv
    }

    /// False once the lease is (or may be) gone.
    pub fn is_alive(&self) -> bool {
        *self.alive_rx.borrow()
    }

    /// A receiver whose value turns `false` when the lease is lost.
    pub fn alive(&self) -> watch::Receiver<bool> {
        self.alive_rx.clone()
    }

    /// Resolves when the lease is lost (immediately if it already is).
    pub async fn lost(&self) {
        let mut rx = self.alive_rx.clone();
        // Err means the sender is gone, which only happens once we are lost.
        let _ = rx.wait_for(|alive| !*alive).await;
    }

    /// Stop refreshing and revoke: keys bound to the lease are deleted now.
    pub async fn revoke(mut self) -> Result<()> {
        self.stop();
        match self.kv.lease_revoke(self.id).await {
            Ok(()) | Err(Error::LeaseLost) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Stop refreshing without revoking, as if this process had died: the
    /// store expires the lease after its TTL.
    pub fn abandon(mut self) {
        self.stop();
        self.keeper = None;
    }

    fn stop(&mut self) {
        if let Some(keeper) = self.keeper.take() {
            keeper.abort();
        }
        self.alive_tx.send_replace(false);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(keeper) = self.keeper.take() else {
            return; // revoked or abandoned already
        };
        keeper.abort();
        self.alive_tx.send_replace(false);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let kv = self.kv.clone();
            let id = self.id;
            handle.spawn(async move {
                if let Err(e) = kv.lease_revoke(id).await {
                    tracing::debug!(lease = %id, error = %e, "revoke on drop failed; lease will expire");
                }
            });
        }
    }
}

async fn keep_alive(
    kv: Arc<dyn Kv>,
    id: LeaseId,
    ttl: Duration,
    granted_at: Instant,
    alive: Arc<watch::Sender<bool>>,
) {
    let period = (ttl / 3).max(Duration::from_millis(100));
    let mut last_ok = granted_at;
    loop {
        tokio::time::sleep(period).await;
        let sent = Instant::now();
        match tokio::time::timeout(period, kv.lease_keep_alive(id)).await {
            Ok(Ok(_)) => last_ok = sent,
            Ok(Err(Error::LeaseLost)) => {
                tracing::warn!(lease = %id, "lease lost: expired or revoked");
                alive.send_replace(false);
                return;
            }
            Ok(Err(e)) => tracing::debug!(lease = %id, error = %e, "lease refresh failed"),
            Err(_) => tracing::debug!(lease = %id, "lease refresh timed out"),
        }
        if Instant::now().duration_since(last_ok) >= ttl {
            tracing::warn!(lease = %id, "lease lost: no refresh for a whole TTL");
            alive.send_replace(false);
            return;
        }
    }
}

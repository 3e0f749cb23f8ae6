//! Shard locks: etcd's concurrency recipe on top of [`Kv`].
//!
//! Each contender creates `<path>/locks/<lease-hex>` bound to its own lease.
//! Contenders queue by `create_revision`: the lowest one holds the lock. Every
//! other contender watches the key just ahead of it for deletion (no polling,
//! no thundering herd) and then re-reads the queue, because the key ahead may
//! have gone while someone further ahead still holds the lock.
//!
//! A holder that dies stops refreshing its lease; when the lease expires its
//! key is deleted and the next contender proceeds. A holder that is cut off
//! sees its lease flag turn false ([`LockGuard::lost`]) no later than the
//! store expires the lease, so it stops before anyone else can start.
//! Long operations re-check with [`LockGuard::check`] between steps, and make
//! their writes conditional on the lock with [`LockGuard::check_op`] in a txn.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::{Error, Kv, Lease, Result, Revision, TxnOp, Version, WatchEvent};

/// Proof of holding a lock (or leadership). Released on drop (in the
/// background) or by [`LockGuard::unlock`].
pub struct LockGuard {
    lease: Lease,
    key: String,
    version: Version,
}

/// Wait for and take the lock at `path` (e.g. a shard's key). `contents`
/// says who holds it and why, for humans. Cancel-safe: dropping the future
/// withdraws from the queue.
pub async fn lock(kv: Arc<dyn Kv>, path: &str, contents: &str, ttl: Duration) -> Result<LockGuard> {
    let dir = format!("{}/locks/", path.trim_end_matches('/'));
    acquire(kv, &dir, contents.as_bytes().to_vec(), ttl).await
}

/// Join the queue under `dir` (ending in `/`) and wait to reach its head.
pub(crate) async fn acquire(
    kv: Arc<dyn Kv>,
    dir: &str,
    value: Vec<u8>,
    ttl: Duration,
) -> Result<LockGuard> {
    let lease = Lease::grant(kv.clone(), ttl).await?;
    let key = format!("{dir}{}", lease.id());
    let version = kv.create(&key, value, Some(lease.id())).await?;
    let guard = LockGuard {
        lease,
        key,
        version,
    };
    tokio::select! {
        result = wait_for_turn(&kv, dir, &guard.key, Revision(version.0)) => result?,
        () = guard.lease.lost() => return Err(Error::LeaseLost),
    }
    Ok(guard)
}

async fn wait_for_turn(kv: &Arc<dyn Kv>, dir: &str, key: &str, mine: Revision) -> Result<()> {
    let mut backoff = Duration::from_millis(50);
    loop {
        let listing = match kv.list(dir).await {
            Ok(l) => l,
            Err(e) if e.is_retryable() => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
            Err(e) => return Err(e),
        };
        if !listing.entries.iter().any(|(k, _)| k == key) {
            return Err(Error::LeaseLost); // our key vanished: lease expired
        }
        let ahead = listing
            .entries
            .iter()
            .filter(|(_, v)| v.create_revision < mine)
            .max_by_key(|(_, v)| v.create_revision);
        let Some((ahead, _)) = ahead else {
            return Ok(());
        };
        match wait_deleted(kv, ahead, Revision(listing.revision.0 + 1)).await {
            Ok(()) => backoff = Duration::from_millis(50),
            Err(e) if e.is_retryable() || matches!(e, Error::Compacted { .. }) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Returns once `key` is deleted at or after revision `from`.
async fn wait_deleted(kv: &Arc<dyn Kv>, key: &str, from: Revision) -> Result<()> {
    let mut events = kv.watch_prefix(key, from).await?;
    while let Some(event) = events.next().await {
        if let WatchEvent::Delete { key: k, .. } = event? {
            if k == key {
                return Ok(());
            }
        }
    }
    Err(Error::Unavailable("watch ended".into()))
}

impl LockGuard {
    /// The key that represents this holder.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The holder key's version; it never changes while the lock is held.
    pub fn version(&self) -> Version {
        self.version
    }

    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// A txn op that fails unless this lock is still held: put it in the
    /// same [`Kv::txn`] as the writes the lock protects.
    pub fn check_op(&self) -> TxnOp {
        TxnOp::Check {
            key: self.key.clone(),
            version: self.version,
        }
    }

    /// Ask the store whether the lock is still held: the lease is alive and
    /// the holder key still exists unchanged. [`Error::LeaseLost`] if not.
    pub async fn check(&self) -> Result<()> {
        if !self.lease.is_alive() {
            return Err(Error::LeaseLost);
        }
        match self.lease.kv().get(&self.key).await? {
            Some(v) if v.version == self.version => Ok(()),
            _ => Err(Error::LeaseLost),
        }
    }

    /// Resolves when the lock is known lost (lease expired or revoked).
    pub async fn lost(&self) {
        self.lease.lost().await
    }

    /// Release now: revoking the lease deletes the holder key.
    pub async fn unlock(self) -> Result<()> {
        self.lease.revoke().await
    }

    /// Stop refreshing without releasing, as if the holder crashed: the lock
    /// frees itself when the lease expires. For tests and fault drills.
    pub fn abandon(self) {
        self.lease.abandon()
    }
}

//! Leader participation: the lock recipe under `<path>/election/`, where the
//! holder key's value is the leader's id so others can see who leads.
//!
//! [`campaign`] waits until this participant leads; the [`Leadership`] it
//! returns ends on [`Leadership::resign`], on drop, or when its lease is lost
//! ([`Leadership::lost`]). [`observe_leader`] streams who leads now and after
//! every change, surviving reconnects.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;

use super::shard_lock::{acquire, LockGuard};
use super::watch::{watch_resuming, WatchUpdate};
use super::{Kv, Result, Revision, TxnOp, Version, WatchEvent};

/// Held leadership. Same guarantees as a [`LockGuard`].
pub struct Leadership {
    guard: LockGuard,
    id: String,
}

fn election_dir(path: &str) -> String {
    format!("{}/election/", path.trim_end_matches('/'))
}

/// Stand for election at `path` as `id`; resolves once this participant is
/// the leader. Cancel-safe: dropping the future withdraws the candidacy.
pub async fn campaign(kv: Arc<dyn Kv>, path: &str, id: &str, ttl: Duration) -> Result<Leadership> {
    let guard = acquire(kv, &election_dir(path), id.as_bytes().to_vec(), ttl).await?;
    Ok(Leadership {
        guard,
        id: id.to_string(),
    })
}

impl Leadership {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn key(&self) -> &str {
        self.guard.key()
    }

    pub fn version(&self) -> Version {
        self.guard.version()
    }

    /// A txn op that fails unless this participant still leads.
    pub fn check_op(&self) -> TxnOp {
        self.guard.check_op()
    }

    /// Ask the store whether we still lead ([`super::Error::LeaseLost`] if not).
    pub async fn check(&self) -> Result<()> {
        self.guard.check().await
    }

    /// Resolves when leadership is known lost.
    pub async fn lost(&self) {
        self.guard.lost().await
    }

    /// Step down now; the next candidate takes over.
    pub async fn resign(self) -> Result<()> {
        self.guard.unlock().await
    }

    /// Stop refreshing without resigning, as if this process crashed.
    pub fn abandon(self) {
        self.guard.abandon()
    }
}

/// The current leader's id (`None` when nobody leads), then the new value
/// after every change. Consecutive duplicates are suppressed; intermediate
/// leaders may be skipped if changes are coalesced across a reconnect.
pub fn observe_leader(kv: Arc<dyn Kv>, path: &str) -> BoxStream<'static, Result<Option<String>>> {
    let updates = watch_resuming(kv, &election_dir(path));
    let mut candidates: BTreeMap<String, (Revision, String)> = BTreeMap::new();
    let mut last: Option<Option<String>> = None;
    updates
        .filter_map(move |update| {
            let out = match update {
                Err(e) => Some(Err(e)),
                Ok(update) => {
                    match update {
                        WatchUpdate::Snapshot { entries, .. } => {
                            candidates = entries
                                .into_iter()
                                .map(|(k, v)| {
                                    let id = String::from_utf8_lossy(&v.value).into_owned();
                                    (k, (v.create_revision, id))
                                })
                                .collect();
                        }
                        WatchUpdate::Event(WatchEvent::Put {
                            key,
                            value,
                            create_revision,
                            ..
                        }) => {
                            let id = String::from_utf8_lossy(&value).into_owned();
                            candidates.insert(key, (create_revision, id));
                        }
                        WatchUpdate::Event(WatchEvent::Delete { key, .. }) => {
                            candidates.remove(&key);
                        }
                    }
                    let leader = candidates
                        .values()
                        .min_by_key(|(rev, _)| *rev)
                        .map(|(_, id)| id.clone());
                    if last.as_ref() == Some(&leader) {
                        None
                    } else {
                        last = Some(leader.clone());
                        Some(Ok(leader))
                    }
                }
            };
            futures::future::ready(out)
        })
        .boxed()
}

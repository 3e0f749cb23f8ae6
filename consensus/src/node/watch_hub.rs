//! Fan-out of applied events to watchers, with history replay.
//!
//! Contract: a [`WatchStream`] created with `start_revision = S` yields every
//! event with revision >= S whose key is in its range, in revision order, each
//! exactly once, batched by revision (one batch = all matching events of one
//! revision). `S = 0` means "from the next revision". If S is below the
//! compacted revision the stream fails with `KvError::Compacted`.
//!
//! How it avoids gaps and duplicates: the state machine publishes each
//! revision's events AFTER committing them to RocksDB, under the hub's lock.
//! A new watcher subscribes to the live channel and reads the published
//! revision P under that same lock, so every revision <= P is on disk (replayed
//! from the `events` history) and every revision > P arrives on the channel.
//! A watcher that falls behind the channel (lagged) or sees a snapshot install
//! simply replays from disk again from where it was; revisions it already
//! delivered are skipped by number.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::broadcast;

use crate::kv::{Event, KeyRange, KvError, Mvcc, Revision};
use crate::raft_types::Response;

/// All events of one revision that match a watcher's range.
#[derive(Debug, Clone)]
pub struct WatchBatch {
    pub revision: Revision,
    pub events: Vec<Event>,
}

#[derive(Clone, Debug)]
enum HubMsg {
    Batch(Arc<WatchBatch>),
    /// State replaced by a snapshot; now at this revision.
    Reset(Revision),
    /// The node is shutting down: every stream ends.
    Closed,
}

struct Shared {
    mvcc: Arc<RwLock<Mvcc>>,
    published: Mutex<Revision>,
    tx: broadcast::Sender<HubMsg>,
    watchers: AtomicI64,
    closed: std::sync::atomic::AtomicBool,
}

pub struct WatchHub {
    shared: Arc<Shared>,
}

const CHANNEL_CAPACITY: usize = 4096;

impl WatchHub {
    pub fn new(mvcc: Arc<RwLock<Mvcc>>) -> Self {
        let published = mvcc.read().map(|m| m.revision()).unwrap_or(0);
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        WatchHub {
            shared: Arc::new(Shared {
                mvcc,
                published: Mutex::new(published),
                tx,
                watchers: AtomicI64::new(0),
                closed: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Called by the state machine after results are durable.
    pub fn publish(&self, responses: &[Response]) {
        let mut published = self
            .shared
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for a in responses.iter().flat_map(|r| r.results.iter()) {
            if !a.events.is_empty() && a.revision > *published {
                let _ = self.shared.tx.send(HubMsg::Batch(Arc::new(WatchBatch {
                    revision: a.revision,
                    events: a.events.clone(),
                })));
            }
            *published = (*published).max(a.revision);
        }
    }

    /// Ends every open stream (`next` returns None) and refuses new ones:
    /// called when the node shuts down, so clients reconnect elsewhere
    /// instead of waiting on a member that will never speak again.
    pub fn close(&self) {
        let _published = self
            .shared
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        self.shared.closed.store(true, Ordering::SeqCst);
        let _ = self.shared.tx.send(HubMsg::Closed);
    }

    /// Called after a snapshot replaced the state.
    pub fn reset(&self, revision: Revision) {
        let mut published = self
            .shared
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *published = revision;
        let _ = self.shared.tx.send(HubMsg::Reset(revision));
    }

    pub fn subscribe(
        &self,
        range: KeyRange,
        start_revision: Revision,
    ) -> Result<WatchStream, KvError> {
        let (rx, current) = {
            let published = self
                .shared
                .published
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if self.shared.closed.load(Ordering::SeqCst) {
                return Err(KvError::InvalidArgument("node is shutting down".into()));
            }
            (self.shared.tx.subscribe(), *published)
        };
        let start = if start_revision <= 0 {
            current + 1
        } else {
            start_revision
        };
        let compacted = self
            .shared
            .mvcc
            .read()
            .map(|m| m.compact_revision())
            .unwrap_or(0);
        if start < compacted {
            return Err(KvError::Compacted);
        }
        self.shared.watchers.fetch_add(1, Ordering::Relaxed);
        Ok(WatchStream {
            shared: self.shared.clone(),
            range,
            next_rev: start,
            replay_upto: current,
            needs_replay: start <= current,
            pending: VecDeque::new(),
            rx,
        })
    }

    /// The newest revision whose events have been published.
    pub fn published_revision(&self) -> Revision {
        *self
            .shared
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Open watch streams (for metrics).
    pub fn watchers(&self) -> i64 {
        self.shared.watchers.load(Ordering::Relaxed)
    }
}

/// Why a replay from disk failed.
enum Replay {
    /// The request itself (history compacted away).
    Request(KvError),
    /// The storage under the node.
    Storage(String),
}

pub struct WatchStream {
    shared: Arc<Shared>,
    range: KeyRange,
    /// The lowest revision not yet delivered.
    next_rev: Revision,
    /// Replay from disk covers revisions up to here.
    replay_upto: Revision,
    needs_replay: bool,
    pending: VecDeque<WatchBatch>,
    rx: broadcast::Receiver<HubMsg>,
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        self.shared.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl WatchStream {
    /// The next batch; `Err(Compacted)` if the watcher fell so far behind that
    /// history it needed was compacted away. `None` when the node shuts down.
    pub async fn next(&mut self) -> Option<Result<WatchBatch, KvError>> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                return Some(Ok(b));
            }
            if self.needs_replay {
                self.needs_replay = false;
                match self.replay() {
                    Ok(()) => {}
                    Err(Replay::Request(e)) => return Some(Err(e)),
                    // The disk failed under us: end the stream (the client
                    // reconnects, to another member if need be).
                    Err(Replay::Storage(e)) => {
                        tracing::error!("watch replay failed: {e}");
                        return None;
                    }
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(HubMsg::Batch(b)) => {
                    if b.revision < self.next_rev {
                        continue;
                    }
                    self.next_rev = b.revision + 1;
                    let events: Vec<Event> = b
                        .events
                        .iter()
                        .filter(|e| self.range.contains(&e.kv.key))
                        .cloned()
                        .collect();
                    if !events.is_empty() {
                        return Some(Ok(WatchBatch {
                            revision: b.revision,
                            events,
                        }));
                    }
                }
                Ok(HubMsg::Closed) => return None,
                Ok(HubMsg::Reset(rev)) => {
                    self.replay_upto = rev;
                    self.needs_replay = true;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.replay_upto = *self
                        .shared
                        .published
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    self.needs_replay = true;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    fn replay(&mut self) -> Result<(), Replay> {
        if self.next_rev > self.replay_upto {
            return Ok(());
        }
        let events = {
            let mvcc = self
                .shared
                .mvcc
                .read()
                .map_err(|_| Replay::Storage("store lock poisoned".into()))?;
            mvcc.try_events_since(self.next_rev, &self.range)
                .map_err(|e| Replay::Storage(e.to_string()))?
                .map_err(Replay::Request)?
        };
        for ev in events {
            let rev = ev.kv.mod_revision;
            if rev > self.replay_upto {
                break;
            }
            match self.pending.back_mut() {
                Some(b) if b.revision == rev => b.events.push(ev),
                _ => self.pending.push_back(WatchBatch {
                    revision: rev,
                    events: vec![ev],
                }),
            }
        }
        self.next_rev = self.replay_upto + 1;
        Ok(())
    }
}

//! An in-process [`Kv`] with etcd's semantics — global revisions, watches that
//! replay history, leases that expire — for unit tests of logic built on the
//! KV. Lease expiry runs on tokio's clock, so tests with a paused clock
//! (`#[tokio::test(start_paused = true)]`) expire leases without waiting.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::{
    check_distinct_keys, check_precondition, Error, Kv, LeaseId, Listing, Result, Revision, TxnOp,
    Version, Versioned, WatchEvent, WatchStream,
};

/// In-memory KV. Cheap to clone; clones share the same data.
#[derive(Clone, Default)]
pub struct MemoryKv {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    revision: i64,
    data: BTreeMap<String, Versioned>,
    /// Every event ever applied, in order, for watches from old revisions.
    history: Vec<WatchEvent>,
    /// Revisions at or below this were compacted away.
    compacted: i64,
    watchers: Vec<Watcher>,
    leases: HashMap<i64, LeaseState>,
    next_lease: i64,
}

struct Watcher {
    prefix: String,
    tx: mpsc::UnboundedSender<Result<WatchEvent>>,
}

struct LeaseState {
    ttl: Duration,
    deadline: Instant,
    keys: BTreeSet<String>,
}

impl MemoryKv {
    pub fn new() -> MemoryKv {
        MemoryKv::default()
    }

    /// The current revision.
    pub fn revision(&self) -> Revision {
        Revision(self.lock().revision)
    }

    /// Drop history at or below `revision` (watches from there fail with
    /// [`Error::Compacted`]), like etcd's compaction.
    pub fn compact(&self, revision: Revision) {
        let mut st = self.lock();
        let upto = revision.0.min(st.revision);
        st.history.retain(|e| e.revision().0 > upto);
        st.compacted = st.compacted.max(upto);
    }

    /// End every open watch stream with [`Error::Unavailable`], as a lost
    /// connection would; lets tests exercise resuming watches.
    pub fn break_watches(&self) {
        let mut st = self.lock();
        for w in st.watchers.drain(..) {
            let _ = w.tx.send(Err(Error::Unavailable("watch broken".into())));
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every
        // mutation validates before it writes), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn apply(&mut self, ops: Vec<TxnOp>) -> Result<Revision> {
        check_distinct_keys(&ops)?;
        for op in &ops {
            check_precondition(op, self.data.get(op.key()))?;
            if let TxnOp::Create {
                lease: Some(id), ..
            } = op
            {
                if !self.leases.contains_key(&id.0) {
                    return Err(Error::LeaseLost);
                }
            }
        }
        if ops.iter().all(|op| matches!(op, TxnOp::Check { .. })) {
            return Ok(Revision(self.revision));
        }
        self.revision += 1;
        let rev = self.revision;
        for op in ops {
            match op {
                TxnOp::Create { key, value, lease } => self.put(key, value, lease, rev),
                TxnOp::Update { key, value, .. } => self.put(key, value, None, rev),
                TxnOp::Delete { key, .. } => self.remove(key, rev),
                TxnOp::Check { .. } => {}
            }
        }
        Ok(Revision(rev))
    }

    fn put(&mut self, key: String, value: Vec<u8>, lease: Option<LeaseId>, rev: i64) {
        let old = self.data.get(&key).map(|o| (o.lease, o.create_revision));
        let create_revision = match old {
            Some((old_lease, create_revision)) => {
                self.detach_lease(&key, old_lease);
                create_revision
            }
            None => Revision(rev),
        };
        if let Some(l) = lease.and_then(|id| self.leases.get_mut(&id.0)) {
            l.keys.insert(key.clone());
        }
        let versioned = Versioned {
            value: value.clone(),
            version: Version(rev),
            create_revision,
            lease,
        };
        self.data.insert(key.clone(), versioned);
        self.emit(WatchEvent::Put {
            key,
            value,
            version: Version(rev),
            create_revision,
        });
    }

    fn remove(&mut self, key: String, rev: i64) {
        if let Some(old) = self.data.remove(&key) {
            self.detach_lease(&key, old.lease);
            self.emit(WatchEvent::Delete {
                key,
                revision: Revision(rev),
            });
        }
    }

    fn detach_lease(&mut self, key: &str, lease: Option<LeaseId>) {
        if let Some(l) = lease.and_then(|id| self.leases.get_mut(&id.0)) {
            l.keys.remove(key);
        }
    }

    fn emit(&mut self, event: WatchEvent) {
        self.watchers.retain(|w| {
            !event.key().starts_with(&w.prefix) || w.tx.send(Ok(event.clone())).is_ok()
        });
        self.history.push(event);
    }

    fn revoke(&mut self, id: LeaseId) -> Result<()> {
        let lease = self.leases.remove(&id.0).ok_or(Error::LeaseLost)?;
        if lease.keys.is_empty() {
            return Ok(());
        }
        self.revision += 1;
        let rev = self.revision;
        for key in lease.keys {
            self.remove(key, rev);
        }
        Ok(())
    }
}

/// Expires lease `id` once its deadline passes without a refresh.
async fn expire_when_due(state: Weak<Mutex<State>>, id: i64) {
    loop {
        let deadline = {
            let Some(state) = state.upgrade() else { return };
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            let Some(lease) = st.leases.get(&id) else {
                return;
            };
            if Instant::now() >= lease.deadline {
                let _ = st.revoke(LeaseId(id));
                return;
            }
            lease.deadline
        };
        tokio::time::sleep_until(deadline).await;
    }
}

#[async_trait]
impl Kv for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        Ok(self.lock().data.get(key).cloned())
    }

    async fn create(&self, key: &str, value: Vec<u8>, lease: Option<LeaseId>) -> Result<Version> {
        let op = TxnOp::Create {
            key: key.to_string(),
            value,
            lease,
        };
        self.lock().apply(vec![op]).map(|r| Version(r.0))
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected_version: Option<Version>,
    ) -> Result<Version> {
        let op = TxnOp::Update {
            key: key.to_string(),
            value,
            expected_version,
        };
        self.lock().apply(vec![op]).map(|r| Version(r.0))
    }

    async fn delete(&self, key: &str, expected_version: Option<Version>) -> Result<()> {
        let op = TxnOp::Delete {
            key: key.to_string(),
            expected_version,
        };
        self.lock().apply(vec![op]).map(|_| ())
    }

    async fn list(&self, prefix: &str) -> Result<Listing> {
        let st = self.lock();
        let entries = st
            .data
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Listing {
            entries,
            revision: Revision(st.revision),
        })
    }

    async fn txn(&self, ops: Vec<TxnOp>) -> Result<Revision> {
        self.lock().apply(ops)
    }

    async fn watch_prefix(&self, prefix: &str, from: Revision) -> Result<WatchStream> {
        let mut st = self.lock();
        if from.0 > 0 && from.0 <= st.compacted {
            return Err(Error::Compacted {
                requested: from,
                compact_revision: Revision(st.compacted + 1),
            });
        }
        let (tx, rx) = mpsc::unbounded_channel();
        // As in etcd, revision 0 means "from now on": nothing to replay.
        let from = if from.0 <= 0 {
            Revision(st.revision + 1)
        } else {
            from
        };
        for event in &st.history {
            if event.revision() >= from && event.key().starts_with(prefix) {
                let _ = tx.send(Ok(event.clone()));
            }
        }
        st.watchers.push(Watcher {
            prefix: prefix.to_string(),
            tx,
        });
        Ok(UnboundedReceiverStream::new(rx).boxed())
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId> {
        let ttl = Duration::from_secs(ttl.as_secs_f64().ceil().max(1.0) as u64);
        let id = {
            let mut st = self.lock();
            st.next_lease += 1;
            // Distinctive ids, like etcd's, so hex lock keys look realistic.
            let id = 0x7a11_0000 + st.next_lease;
            st.leases.insert(
                id,
                LeaseState {
                    ttl,
                    deadline: Instant::now() + ttl,
                    keys: BTreeSet::new(),
                },
            );
            id
        };
        tokio::spawn(expire_when_due(Arc::downgrade(&self.state), id));
        Ok(LeaseId(id))
    }

    async fn lease_keep_alive(&self, id: LeaseId) -> Result<Duration> {
        let mut st = self.lock();
        let lease = st.leases.get_mut(&id.0).ok_or(Error::LeaseLost)?;
        lease.deadline = Instant::now() + lease.ttl;
        Ok(lease.ttl)
    }

    async fn lease_revoke(&self, id: LeaseId) -> Result<()> {
        self.lock().revoke(id)
    }
}

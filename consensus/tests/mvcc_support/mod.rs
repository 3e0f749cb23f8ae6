//! Shared by the mvcc_* integration tests: a real RocksDB in a tempdir and a
//! harness that, after every committed command, checks the store against a
//! model rebuilt from the events it emitted:
//!
//! - every event's prev_kv is the key's state just before it, every event
//!   of a command carries the command's revision, and a put continues the
//!   key's create_revision/version (or starts at this revision, version 1);
//! - a Range of all keys at every revision since the compact revision
//!   (served from `mvcc_keyrev`) equals the replayed state, the current Range
//!   (served from `mvcc_kv`) equals the newest state, older revisions are
//!   Compacted, the next one is a FutureRevision;
//! - `events_since(compact)` returns exactly the events kept by the model;
//! - lease attachments match the `lease` field of the current keys;
//! - a failed command wrote nothing and left the revision alone.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use consensus::kv::mvcc::Db;
use consensus::kv::{
    Applied, Command, CommandResult, Event, EventKind, KeyRange, KeyValue, KvError, Mvcc,
    RangeRequest, Revision,
};

/// One raw RocksDB (key, value).
pub type RawEntry = (Box<[u8]>, Box<[u8]>);

pub fn open_db(path: &Path) -> Arc<Db> {
    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    Arc::new(Db::open_cf(&opts, path, Mvcc::COLUMN_FAMILIES).expect("open db"))
}

pub fn all_keys() -> KeyRange {
    KeyRange {
        key: vec![0],
        range_end: vec![0],
    }
}

#[derive(Default)]
pub struct Model {
    /// The full key space after each revision that changed something.
    states: BTreeMap<Revision, BTreeMap<Vec<u8>, KeyValue>>,
    events: Vec<Event>,
    compact: Revision,
}

impl Model {
    fn revision(&self) -> Revision {
        self.states.keys().next_back().copied().unwrap_or(1)
    }

    fn state_at(&self, rev: Revision) -> BTreeMap<Vec<u8>, KeyValue> {
        self.states
            .range(..=rev)
            .next_back()
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    }

    fn record(&mut self, applied: &Applied) {
        if applied.events.is_empty() {
            assert_eq!(
                applied.revision,
                self.revision(),
                "no events but the revision moved"
            );
            return;
        }
        let rev = applied.revision;
        assert_eq!(
            rev,
            self.revision() + 1,
            "a change must bump the revision by one"
        );
        let mut state = self.state_at(rev - 1);
        for ev in &applied.events {
            assert_eq!(
                ev.kv.mod_revision, rev,
                "event at the wrong revision: {ev:?}"
            );
            let key = ev.kv.key.clone();
            assert_eq!(
                ev.prev_kv.as_ref(),
                state.get(&key),
                "prev_kv mismatch for {ev:?}"
            );
            match ev.kind {
                EventKind::Put => {
                    // A new version continues the key's life; a new key starts one.
                    let (create, version) = match state.get(&key) {
                        Some(p) => (p.create_revision, p.version + 1),
                        None => (rev, 1),
                    };
                    assert_eq!(
                        (ev.kv.create_revision, ev.kv.version),
                        (create, version),
                        "{ev:?}"
                    );
                    state.insert(key, ev.kv.clone());
                }
                EventKind::Delete => {
                    let bare = KeyValue {
                        key: key.clone(),
                        mod_revision: rev,
                        ..KeyValue::default()
                    };
                    assert_eq!(
                        ev.kv, bare,
                        "a delete event's kv is the key and mod_revision only"
                    );
                    assert!(ev.prev_kv.is_some(), "deleted a key that did not exist");
                    state.remove(&key);
                }
            }
        }
        self.states.insert(rev, state);
        self.events.extend(applied.events.iter().cloned());
    }
}

pub struct Harness {
    dir: tempfile::TempDir,
    db: Option<Arc<Db>>,
    mvcc: Option<Mvcc>,
    model: Model,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = open_db(dir.path());
        let mvcc = Mvcc::open(db.clone()).expect("open mvcc");
        let h = Harness {
            dir,
            db: Some(db),
            mvcc: Some(mvcc),
            model: Model::default(),
        };
        h.check();
        h
    }

    pub fn mvcc(&self) -> &Mvcc {
        self.mvcc.as_ref().unwrap()
    }

    pub fn db(&self) -> &Arc<Db> {
        self.db.as_ref().unwrap()
    }

    /// Every (key, value) of every MVCC column family, for byte-for-byte
    /// comparisons between stores.
    pub fn raw_contents(&self) -> Vec<(&'static str, Vec<RawEntry>)> {
        let db = self.db();
        Mvcc::COLUMN_FAMILIES
            .iter()
            .map(|&name| {
                let cf = db.cf_handle(name).unwrap();
                let items = db
                    .iterator_cf(&cf, rocksdb::IteratorMode::Start)
                    .map(|item| item.unwrap())
                    .collect();
                (name, items)
            })
            .collect()
    }

    /// Closes the DB and opens it again from disk.
    pub fn reopen(&mut self) {
        self.mvcc = None;
        let db = self.db.take().unwrap();
        assert_eq!(Arc::strong_count(&db), 1, "someone still holds the DB");
        drop(db);
        let db = open_db(self.dir.path());
        self.mvcc = Some(Mvcc::open(db.clone()).expect("reopen mvcc"));
        self.db = Some(db);
        self.check();
    }

    /// Applies one command in its own transaction and commits it.
    pub fn apply(&mut self, cmd: &Command) -> Applied {
        self.apply_batch(std::slice::from_ref(cmd)).pop().unwrap()
    }

    /// Applies several commands in one transaction, committed at the end.
    pub fn apply_batch(&mut self, cmds: &[Command]) -> Vec<Applied> {
        let db = self.db.clone().unwrap();
        let mvcc = self.mvcc.as_mut().unwrap();
        let txn = db.transaction();
        let mut out = Vec::new();
        for cmd in cmds {
            let before = (
                txn.get_writebatch().len(),
                mvcc.revision(),
                mvcc.compact_revision(),
            );
            let applied = mvcc.apply(&txn, cmd).expect("apply");
            assert_eq!(applied.revision, mvcc.revision());
            if applied.result.is_err() {
                let after = (
                    txn.get_writebatch().len(),
                    mvcc.revision(),
                    mvcc.compact_revision(),
                );
                assert_eq!(before, after, "a failed command must not write: {cmd:?}");
                assert!(applied.events.is_empty());
            }
            if let (Command::Compact { revision }, Ok(CommandResult::Compact)) =
                (cmd, &applied.result)
            {
                self.model.compact = *revision;
            }
            self.model.record(&applied);
            out.push(applied);
        }
        txn.commit().expect("commit");
        self.check();
        out
    }

    /// Checks the committed store against the model (see the module docs).
    pub fn check(&self) {
        let m = self.mvcc();
        let rev = self.model.revision();
        assert_eq!(m.revision(), rev, "revision");
        assert_eq!(m.compact_revision(), self.model.compact, "compact revision");
        let all = |revision| RangeRequest {
            range: all_keys(),
            revision,
            ..Default::default()
        };
        let as_vec = |s: BTreeMap<Vec<u8>, KeyValue>| s.into_values().collect::<Vec<_>>();

        let current = m.range(&all(0)).expect("current range");
        assert_eq!(
            current.kvs,
            as_vec(self.model.state_at(rev)),
            "current state"
        );
        assert_eq!(current.count as usize, current.kvs.len());
        for r in 1..=rev {
            let got = m.range(&all(r));
            if r < self.model.compact {
                assert_eq!(got, Err(KvError::Compacted), "read at {r} below compaction");
            } else {
                let got = got.unwrap_or_else(|e| panic!("read at {r}: {e}"));
                assert_eq!(
                    got.kvs,
                    as_vec(self.model.state_at(r)),
                    "state at revision {r}"
                );
            }
        }
        assert_eq!(m.range(&all(rev + 1)), Err(KvError::FutureRevision));

        let compact = self.model.compact;
        let kept: Vec<Event> = self
            .model
            .events
            .iter()
            .filter(|e| e.kv.mod_revision >= compact)
            .cloned()
            .collect();
        assert_eq!(
            m.events_since(compact, &all_keys()).expect("events"),
            kept,
            "event history"
        );
        if compact > 0 {
            assert_eq!(
                m.events_since(compact - 1, &all_keys()),
                Err(KvError::Compacted)
            );
        }

        let state = self.model.state_at(rev);
        let leases = m.leases().expect("leases");
        for l in &leases {
            let expected: Vec<Vec<u8>> = state
                .values()
                .filter(|kv| kv.lease == l.id)
                .map(|kv| kv.key.clone())
                .collect();
            assert_eq!(
                m.lease_keys(l.id).expect("lease keys"),
                expected,
                "keys of lease {}",
                l.id
            );
            assert_eq!(m.lease(l.id).expect("lease"), Some(l.clone()));
        }
        for kv in state.values().filter(|kv| kv.lease != 0) {
            assert!(
                leases.iter().any(|l| l.id == kv.lease),
                "{kv:?} attached to a missing lease"
            );
        }
    }
}

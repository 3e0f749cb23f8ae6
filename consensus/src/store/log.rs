//! The Raft log on RocksDB, with group commit.
//!
//! `append` writes entries into the memtable + WAL without syncing (so they
//! are readable at once, for replication) and hands openraft's flush callback
//! to a dedicated syncer thread. The syncer takes every callback waiting,
//! issues ONE `flush_wal(sync)` for all of them, then fires them in order:
//! under load many appends share one fsync. Votes are synced inline.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::mpsc;
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, LogState, RaftLogReader};
use rocksdb::{Direction, IteratorMode, WriteBatchWithTransaction, WriteOptions};

use super::{cf, decode, encode, io_err, Db, CF_LOG, CF_RAFT};
use crate::raft_types::{Entry, LogId, StorageError, TypeConfig, Vote};

const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_LAST_PURGED: &[u8] = b"last_purged";

#[derive(Clone)]
pub struct LogStore {
    db: Arc<Db>,
    syncer: mpsc::Sender<LogFlushed<TypeConfig>>,
}

impl LogStore {
    pub fn new(db: Arc<Db>) -> Self {
        let (tx, rx) = mpsc::channel::<LogFlushed<TypeConfig>>();
        // The syncer must not keep the database open by itself: the last
        // store to go closes it, synchronously (a DB still open at process
        // exit can crash RocksDB's teardown).
        let sync_db = Arc::downgrade(&db);
        std::thread::Builder::new()
            .name("raft-log-sync".into())
            .spawn(move || sync_loop(sync_db, rx))
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!("cannot start log syncer thread: {e}"));
        LogStore { db, syncer: tx }
    }

    fn get_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        let cf = cf(&self.db, CF_RAFT)?;
        match self
            .db
            .get_cf(&cf, key)
            .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Read, e))?
        {
            Some(b) => Ok(Some(decode(&b)?)),
            None => Ok(None),
        }
    }

    fn put_meta<T: serde::Serialize>(
        &self,
        key: &[u8],
        v: &T,
        sync: bool,
    ) -> Result<(), StorageError> {
        let cf = cf(&self.db, CF_RAFT)?;
        let mut opts = WriteOptions::default();
        opts.set_sync(sync);
        let mut batch = WriteBatchWithTransaction::<true>::default();
        batch.put_cf(&cf, key, encode(v)?);
        self.db
            .write_opt(batch, &opts)
            .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, e))
    }
}

impl LogStore {
    /// A batch deleting every stored entry with index in `[from, to]`
    /// (transaction DBs have no DeleteRange, so keys are deleted one by one).
    fn delete_batch(
        &self,
        from: u64,
        to: u64,
    ) -> Result<WriteBatchWithTransaction<true>, StorageError> {
        let cf = cf(&self.db, CF_LOG)?;
        let mut batch = WriteBatchWithTransaction::<true>::default();
        let iter = self.db.iterator_cf(
            &cf,
            IteratorMode::From(&index_key(from), Direction::Forward),
        );
        for item in iter {
            let (k, _) = item.map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
            if k.len() == 8 && k.as_ref() > index_key(to).as_slice() {
                break;
            }
            batch.delete_cf(&cf, k);
        }
        Ok(batch)
    }
}

fn sync_loop(db: std::sync::Weak<Db>, rx: mpsc::Receiver<LogFlushed<TypeConfig>>) {
    while let Ok(first) = rx.recv() {
        let mut waiting = vec![first];
        while let Ok(more) = rx.try_recv() {
            waiting.push(more);
        }
        let res = match db.upgrade() {
            Some(db) => db.flush_wal(true).map_err(|e| e.to_string()),
            None => Err("database closed".to_string()),
        };
        for cb in waiting {
            let r = res
                .as_ref()
                .map(|_| ())
                .map_err(|e| std::io::Error::other(e.to_string()));
            cb.log_io_completed(r);
        }
    }
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn bound_start(b: Bound<&u64>) -> u64 {
    match b {
        Bound::Included(i) => *i,
        Bound::Excluded(i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let cf = cf(&self.db, CF_LOG)?;
        let start = bound_start(range.start_bound());
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            &cf,
            IteratorMode::From(&index_key(start), Direction::Forward),
        );
        for item in iter {
            let (k, v) = item.map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
            let mut idx = [0u8; 8];
            if k.len() != 8 {
                continue;
            }
            idx.copy_from_slice(&k);
            let index = u64::from_be_bytes(idx);
            if !range.contains(&index) {
                break;
            }
            out.push(decode::<Entry>(&v)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.get_meta(KEY_LAST_PURGED)?;
        let cf = cf(&self.db, CF_LOG)?;
        let last = match self.db.iterator_cf(&cf, IteratorMode::End).next() {
            Some(item) => {
                let (_, v) = item.map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
                Some(decode::<Entry>(&v)?.log_id)
            }
            None => last_purged,
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.put_meta(KEY_VOTE, vote, true)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.get_meta(KEY_VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not synced: losing it only means re-learning the commit index.
        self.put_meta(KEY_COMMITTED, &committed, false)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.get_meta::<Option<LogId>>(KEY_COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let cf = cf(&self.db, CF_LOG)?;
        let mut batch = WriteBatchWithTransaction::<true>::default();
        for entry in entries {
            batch.put_cf(&cf, index_key(entry.log_id.index), encode(&entry)?);
        }
        self.db
            .write(batch)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, e))?;
        if let Err(mpsc::SendError(cb)) = self.syncer.send(callback) {
            // The syncer thread is gone: sync inline so durability holds.
            let r = self
                .db
                .flush_wal(true)
                .map_err(|e| std::io::Error::other(e.to_string()));
            cb.log_io_completed(r);
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let batch = self.delete_batch(log_id.index, u64::MAX)?;
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db
            .write_opt(batch, &opts)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.put_meta(KEY_LAST_PURGED, &log_id, true)?;
        let batch = self.delete_batch(0, log_id.index)?;
        self.db
            .write(batch)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))
    }
}

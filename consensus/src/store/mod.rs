//! Durable storage for a control-plane node: ONE RocksDB instance holding
//! the Raft log, the Raft vote, and the state machine (the MVCC KV), in
//! separate column families.
//!
//! One instance means one write-ahead log: syncing it after a log append also
//! persists every state-machine write that came before, so the state machine
//! itself never needs its own fsync (its apply position is written in the same
//! atomic transaction as its data, and on restart openraft re-applies from
//! there). See `log.rs` for the group-commit syncer and `state_machine.rs` for
//! apply and snapshots.

// openraft's storage traits fix the error type (`StorageError`, ~224 bytes);
// helpers that feed those traits return it as is.
#![allow(clippy::result_large_err)]

pub mod log;
pub mod snapshot_file;
pub mod state_machine;

use std::path::Path;
use std::sync::Arc;

use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageIOError};

use crate::kv::Mvcc;
use crate::raft_types::{NodeId, StorageError};

pub use log::LogStore;
pub use state_machine::{ApplyListener, StateMachine};

pub type Db = rocksdb::OptimisticTransactionDB<rocksdb::MultiThreaded>;

/// Raft log entries: index (big-endian u64) → bincode(Entry).
pub const CF_LOG: &str = "raft_log";
/// Raft metadata: vote, committed, last purged log id.
pub const CF_RAFT: &str = "raft_meta";
/// State-machine metadata: last applied log id, membership, current snapshot.
pub const CF_SM: &str = "sm_meta";

/// Every column family of the state machine (what a snapshot contains).
pub fn state_machine_cfs() -> Vec<&'static str> {
    let mut cfs = vec![CF_SM];
    cfs.extend_from_slice(Mvcc::COLUMN_FAMILIES);
    cfs
}

/// Opens (or creates) the node's database under `dir/db`.
pub fn open_db(dir: &Path) -> Result<Arc<Db>, rocksdb::Error> {
    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.increase_parallelism(2);
    opts.set_max_background_jobs(2);
    // Keep memory bounded: the control plane shares hosts with databases.
    // Memtable sizes are per column family (there are eight), so cap the
    // total across all of them too.
    opts.set_write_buffer_size(8 << 20);
    opts.set_max_write_buffer_number(3);
    opts.set_db_write_buffer_size(64 << 20);
    opts.set_keep_log_file_num(3);
    let mut cfs = vec![CF_LOG, CF_RAFT];
    cfs.extend(state_machine_cfs());
    let db = Db::open_cf(&opts, dir.join("db"), cfs)?;
    Ok(Arc::new(db))
}

pub(crate) fn cf<'a>(
    db: &'a Db,
    name: &str,
) -> Result<Arc<rocksdb::BoundColumnFamily<'a>>, StorageError> {
    db.cf_handle(name).ok_or_else(|| {
        io_err(
            ErrorSubject::Store,
            ErrorVerb::Read,
            std::io::Error::other(format!("missing column family {name}")),
        )
    })
}

pub(crate) fn io_err(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    e: impl std::error::Error + 'static,
) -> StorageError {
    StorageError::IO {
        source: StorageIOError::new(subject, verb, AnyError::new(&e)),
    }
}

pub(crate) fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, StorageError> {
    bincode::serialize(v).map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, e))
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, StorageError> {
    bincode::deserialize(b).map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Read, e))
}

/// Seeds a brand-new data directory from a snapshot file (from
/// `etcdctl snapshot save` against vitrail, or a Raft snapshot): the KV data,
/// leases and history come from the file; Raft state does not, so the node
/// then bootstraps a new cluster on top of it (like `etcdctl snapshot
/// restore`). Refuses to touch a directory that already holds a database.
pub fn restore(data_dir: &Path, snapshot: &Path) -> Result<(), String> {
    if data_dir.join("db").exists() {
        return Err(format!(
            "{} already holds a database; restore needs an empty data directory",
            data_dir.display()
        ));
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let db = open_db(data_dir).map_err(|e| format!("open rocksdb: {e}"))?;
    snapshot_file::load(&db, snapshot).map_err(|e| format!("load {}: {e}", snapshot.display()))?;
    // Forget the old cluster's Raft position, membership and identity.
    snapshot_file::clear_cf(&db, CF_SM).map_err(|e| e.to_string())?;
    let handle = cf(&db, CF_SM).map_err(|e| e.to_string())?;
    db.delete_cf(&handle, b"cluster_id")
        .map_err(|e| e.to_string())?;
    db.flush_wal(true).map_err(|e| e.to_string())?;
    Ok(())
}

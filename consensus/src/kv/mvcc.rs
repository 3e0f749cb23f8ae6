//! (being written) etcd MVCC semantics over RocksDB.
pub struct Mvcc;

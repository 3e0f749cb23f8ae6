//! The replicated key-value store: etcd v3 semantics (revisions, history,
//! leases, transactions) over RocksDB column families.
//!
//! `types` is the data model; `mvcc` applies commands inside a RocksDB
//! transaction and serves reads from committed state.

mod check;
mod encoding;
pub mod mvcc;
pub mod types;
mod view;
mod write;

pub use mvcc::Mvcc;
pub use types::*;

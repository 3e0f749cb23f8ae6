//! vitrail's control plane: a Raft-replicated key-value store that speaks the
//! etcd v3 gRPC API.
//!
//! Data flow: a client request arrives at `api` (etcd gRPC) → becomes a
//! `kv::Command` → the `node` proposer batches commands into one Raft entry →
//! openraft replicates it through `network` and persists it in `store`'s log
//! (RocksDB, one fsync per batch) → once committed, the state machine applies
//! every command with `kv::Mvcc` inside one RocksDB transaction and publishes
//! the resulting events to watchers.

pub mod api;
pub mod kv;
pub mod network;
pub mod node;
pub mod raft_types;
pub mod server;
pub mod store;

//! topo: the cluster's topology (cells, keyspaces, shards, tablets, VSchema,
//! serving graph) as typed records on an etcd-v3-shaped KV.
//!
//! Data flows in layers: [`kv`] is the narrow store interface (etcd client
//! or in-memory) with locks, elections and resuming watches built on it;
//! [`layout`] names every record's key; [`records`] and [`vschema`] are the
//! typed values (wire encoding kept in one module); [`server::Topo`] reads
//! and writes them, one transaction per multi-record change; [`watch`] turns
//! KV watches into streams of decoded records. [`keyrange`] and [`vindex`]
//! are the pure sharding math. `docs/topology.md` describes the key layout
//! and the watch contract.

pub mod keyrange;
pub mod kv;
pub mod layout;
pub mod records;
pub mod server;
pub mod vindex;
pub mod vschema;
pub mod watch;

//! topo

pub mod kv;

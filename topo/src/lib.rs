//! topo

pub mod keyrange;
pub mod kv;
pub mod vindex;
pub mod vschema;

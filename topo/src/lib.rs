//! topo

pub mod keyrange;
pub mod kv;
pub mod layout;
pub mod records;
pub mod server;
pub mod vindex;
pub mod vschema;

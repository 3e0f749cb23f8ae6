//! gate
//!
//! Data flow: [`server`] accepts MySQL clients (opensrv-mysql) and keeps a
//! [`session::Session`] per connection; [`special`] answers what the gate
//! knows itself (`@@` variables, SHOW VITESS_SHARDS, USE, SET, BEGIN…);
//! everything else is parsed, planned by [`planner`] against the routing
//! view kept current by [`topo_watch`], and run by [`exec`] on tablets
//! over gRPC, with scatter results combined by [`merge`]. [`metrics`]
//! counts it all.

pub mod exec;
pub mod merge;
pub mod metrics;
pub mod planner;
pub mod server;
pub mod session;
pub mod special;
pub mod topo_watch;
pub mod users;

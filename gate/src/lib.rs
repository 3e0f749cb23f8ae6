//! gate
//!
//! Data flow: [`server`] accepts MySQL clients (opensrv-mysql) and keeps a
//! [`session::Session`] per connection; [`special`] answers what the gate
//! knows itself (`@@` variables, SHOW VITESS_SHARDS, USE, SET, BEGIN…);
//! everything else is parsed, planned by [`planner`] against the routing
//! view kept current by [`topo_watch`], and run by [`exec`] on tablets
//! over gRPC, with scatter results combined by [`merge`]. [`metrics`]
//! counts it all.
//!
//! Contracts the pieces rely on:
//! * A keyspace's tables live, on every shard, in the MariaDB database named
//!   like the keyspace; the executor qualifies table names with it
//!   ([`exec::qualify`]) because tablet connections have no default database.
//! * Session variables travel with each statement as `SET STATEMENT … FOR`
//!   ([`session`]); tablet connections are pooled and reset.
//! * Reads that need no merge and run outside a transaction are streamed
//!   (StreamExecute); everything else uses Execute and is merged in memory.
//! * PRIMARY statements that meet no (or a demoted) primary wait for a new
//!   one up to the buffer window, then replay ([`exec`]).

pub mod exec;
pub mod merge;
pub mod metrics;
pub mod planner;
pub mod server;
pub mod session;
pub mod special;
pub mod topo_watch;
pub mod users;

//! The query engine behind QueryService: pooled connections to the local
//! mariadbd (as `vt_app` over the Unix socket), with the guard rails a gate
//! relies on.
//!
//! * Per-query timeout that really stops the work: when the deadline passes
//!   the engine sends `KILL QUERY <connection id>` on a separate `vt_dba`
//!   connection, waits briefly for the statement to end, and answers with
//!   [`Error::QueryTimeout`](crate::Error::QueryTimeout). If the statement
//!   does not end, the whole connection is killed and not reused.
//! * Max result rows: past `max_rows` the result is discarded and the caller
//!   gets "Row count exceeded N" (as Vitess says it).
//! * Transactions: `begin` pins a pooled connection under a numeric id;
//!   `commit`/`rollback` release it. A transaction older than `tx_timeout` is
//!   rolled back (or its connection killed if a statement is running) so an
//!   abandoned client cannot hold row locks.
//! * Non-primary tablets refuse writes with a clear error ([`classify`]);
//!   MariaDB's `read_only` is the backstop.
//! * Bind variables use prepared statements ([`bind`]).
//! * Connections are pooled per tokio runtime ([`lane`]): a single-threaded
//!   runtime (the gate's connection threads in `vitrail up`) never runs a
//!   statement on a connection another runtime's reactor drives.
//! * MariaDB errors pass through unchanged, and a connection that saw a
//!   server error goes back to the pool: server errors leave it usable.
//!   Connections returned to the pool are reset (`COM_RESET_CONNECTION`), so
//!   session state never leaks between callers.

pub mod bind;
pub mod classify;
mod engine;
pub(crate) use engine::pool;
mod exec;
mod lane;
pub use lane::LaneKey;
pub mod result;
mod tx;

pub use engine::{ChunkSink, QueryConfig, QueryEngine, SinkClosed, StreamChunk};

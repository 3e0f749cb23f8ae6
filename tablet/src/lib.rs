//! tablet — one vitrail tablet and the `mariadbd` it owns.
//!
//! Data flow:
//! * [`mysqlctl`] initialises and supervises the MariaDB process (datadir,
//!   generated `my.cnf`, start/stop, crash detection on a watch channel,
//!   users and the `_vt` sidecar schema).
//! * [`query`] runs gate queries over a `vt_app` pool: timeouts that KILL on
//!   MariaDB, row limits, transactions by id, write refusal on non-primaries.
//! * [`replication`] runs reparent SQL (positions, CHANGE MASTER, read_only,
//!   semi-sync) over `vt_dba`.
//! * [`health`] folds mysqld state, role and probes into one snapshot that
//!   StreamHealth streams.
//! * [`grpc`] is the only place that knows protobuf: it converts and maps
//!   errors to statuses carrying MariaDB's code. [`tablet::Tablet`] wires it
//!   all together and serves it.
//! * [`run::RunningTablet`] launches and shuts down the whole thing.
//! * [`gtid`] is the pure GTID position arithmetic that replication and
//!   failover decisions are made with.

pub mod agent;
pub mod error;
pub mod grpc;
pub mod gtid;
pub mod health;
pub mod mysqlctl;
pub mod query;
pub mod replication;
pub mod run;
pub mod sql;
pub mod state;
pub mod tablet;
pub mod types;

pub use error::{Error, MysqlError, Result};
pub use run::RunningTablet;
pub use tablet::{Tablet, TabletConfig};
pub use types::{TabletType, TabletUid};

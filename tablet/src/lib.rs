//! tablet — one vitrail tablet and the `mariadbd` it owns.
//!
//! Data flow: [`mysqlctl`] initialises and supervises the MariaDB process
//! (datadir, generated `my.cnf`, start/stop, crash detection, users and the
//! `_vt` sidecar schema). [`gtid`] is the pure GTID position arithmetic that
//! replication and failover decisions are made with.

pub mod error;
pub mod gtid;
pub mod mysqlctl;
pub mod sql;
pub mod types;

pub use error::{Error, MysqlError, Result};
pub use types::{TabletType, TabletUid};

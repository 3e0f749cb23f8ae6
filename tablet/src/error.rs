//! The crate's one error type, classified by what the caller must do.
//!
//! * pass through — [`Error::Mysql`]: MariaDB answered with an error; the
//!   gate forwards code, SQLSTATE and message to its client unchanged.
//! * fix the request — [`Error::InvalidArgument`], [`Error::NotPrimary`]
//!   (send writes to the primary), [`Error::RowCountExceeded`],
//!   [`Error::UnknownTransaction`].
//! * retry later / elsewhere — [`Error::QueryTimeout`],
//!   [`Error::Unavailable`] (mysqld down or unreachable), [`Error::Timeout`].
//! * fatal, fix the deployment — [`Error::Config`], [`Error::PortInUse`],
//!   [`Error::MysqldExited`], [`Error::Io`].
//!
//! gRPC status codes are chosen only at the edge (`grpc::status`).

use std::time::Duration;

use crate::gtid::GtidParseError;

/// A MariaDB server error, as MariaDB reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlError {
    pub code: u16,
    pub sqlstate: String,
    pub message: String,
}

impl std::fmt::Display for MysqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ERROR {} ({}): {}",
            self.code, self.sqlstate, self.message
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Mysql(MysqlError),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotPrimary(String),
    #[error("Row count exceeded {max}")]
    RowCountExceeded { max: usize },
    #[error(
        "transaction {id} not found (committed, rolled back, or killed by the transaction timeout)"
    )]
    UnknownTransaction { id: u64 },
    #[error("query timed out after {timeout:?} and was killed on MariaDB")]
    QueryTimeout { timeout: Duration },
    #[error("mysqld unavailable: {0}")]
    Unavailable(String),
    /// Sending a command failed because mysqld had closed the connection
    /// (a restart, a KILL): the statement was never sent, so it may be
    /// sent again on another connection.
    #[error("mysqld closed the connection: {0}")]
    ConnectionClosed(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("bad configuration: {0}")]
    Config(String),
    #[error("port 127.0.0.1:{port} is already in use; choose another port for this tablet")]
    PortInUse { port: u16 },
    #[error("mariadbd exited during startup ({status}); error.log tail:\n{log_tail}")]
    MysqldExited { status: String, log_tail: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Gtid(#[from] GtidParseError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl From<mysql_async::Error> for Error {
    fn from(e: mysql_async::Error) -> Self {
        match e {
            mysql_async::Error::Server(s) => Error::Mysql(MysqlError {
                code: s.code,
                sqlstate: s.state,
                message: s.message,
            }),
            mysql_async::Error::Io(mysql_async::IoError::Io(io))
                if io.kind() == std::io::ErrorKind::BrokenPipe =>
            {
                Error::ConnectionClosed(io.to_string())
            }
            other => Error::Unavailable(other.to_string()),
        }
    }
}

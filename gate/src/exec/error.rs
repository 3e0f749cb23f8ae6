//! Execution errors, classified by what the gate does next; converted to a
//! MySQL error packet only at the server edge ([`ExecError::to_mysql`]).

use tablet::grpc::mysql_error;
use tonic::Code;

use crate::planner::PlanError;
use crate::topo_watch::RouteError;

/// A MySQL error as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlErr {
    pub code: u16,
    pub sqlstate: String,
    pub message: String,
}

impl MysqlErr {
    pub fn new(code: u16, message: impl Into<String>) -> MysqlErr {
        MysqlErr {
            code,
            sqlstate: sqlstate_for(code).to_string(),
            message: message.into(),
        }
    }
}

/// The SQLSTATE MySQL uses for the codes the gate produces itself.
pub fn sqlstate_for(code: u16) -> &'static str {
    match code {
        1045 => "28000",
        1046 => "3D000",
        1049 | 1064 | 1149 | 1235 => "42000",
        1146 => "42S02",
        1317 => "70100",
        _ => "HY000",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// A deterministic SQL-level error (from MariaDB via the tablet, or the
    /// gate's own): return to the client, never retry.
    #[error("{}", .0.message)]
    Mysql(MysqlErr),
    /// The tablet refused because it is not (or no longer) the primary, or
    /// the shard has no primary right now: wait for a new one and retry.
    #[error("{0}")]
    NoPrimary(String),
    /// The tablet could not be reached. Retry only if the statement is known
    /// not to have run (a read, or a connect failure).
    #[error("{0}")]
    Unavailable(String),
}

impl ExecError {
    pub fn mysql(code: u16, message: impl Into<String>) -> ExecError {
        ExecError::Mysql(MysqlErr::new(code, message))
    }

    pub fn unsupported(what: impl std::fmt::Display) -> ExecError {
        ExecError::mysql(
            1235,
            format!("This version of vitrail doesn't yet support {what}"),
        )
    }

    pub fn to_mysql(&self) -> MysqlErr {
        match self {
            ExecError::Mysql(m) => m.clone(),
            ExecError::NoPrimary(m) => MysqlErr::new(1290, m.clone()),
            // Not 2013 (CR_SERVER_LOST): the client's own connection is fine.
            ExecError::Unavailable(m) => MysqlErr::new(1105, m.clone()),
        }
    }

    /// From a tablet RPC's status: MariaDB's error when the tablet attached
    /// one, else classified by the gRPC code.
    pub fn from_status(tablet: &str, status: &tonic::Status) -> ExecError {
        if let Some(m) = mysql_error(status) {
            let code = u16::try_from(m.code).unwrap_or(1105);
            if code == 1290 && status.code() == Code::FailedPrecondition {
                return ExecError::NoPrimary(format!("tablet {tablet}: {}", m.message));
            }
            if status.code() == Code::Unavailable && !(1000..2000).contains(&code) {
                return ExecError::Unavailable(format!("tablet {tablet}: {}", m.message));
            }
            return ExecError::Mysql(MysqlErr {
                code,
                sqlstate: if m.sqlstate.is_empty() {
                    sqlstate_for(code).to_string()
                } else {
                    m.sqlstate
                },
                message: m.message,
            });
        }
        match status.code() {
            Code::Unavailable | Code::Cancelled => {
                ExecError::Unavailable(format!("tablet {tablet} unavailable: {}", status.message()))
            }
            _ => ExecError::mysql(
                1105,
                format!("tablet {tablet}: {}: {}", status.code(), status.message()),
            ),
        }
    }

    /// Whether waiting for a (new) primary and retrying may help.
    pub fn wants_new_primary(&self) -> bool {
        matches!(self, ExecError::NoPrimary(_))
    }
}

impl From<PlanError> for ExecError {
    fn from(e: PlanError) -> ExecError {
        let code = e.mysql_code();
        let message = match &e {
            PlanError::Unsupported(what) => {
                format!("This version of vitrail doesn't yet support {what}")
            }
            PlanError::TableNotFound { table, keyspace } => {
                format!("Table '{keyspace}.{table}' doesn't exist")
            }
            PlanError::KeyspaceNotFound(ks) => format!("Unknown database '{ks}'"),
            other => other.to_string(),
        };
        ExecError::Mysql(MysqlErr {
            code,
            sqlstate: sqlstate_for(code).to_string(),
            message,
        })
    }
}

impl From<RouteError> for ExecError {
    fn from(e: RouteError) -> ExecError {
        match e {
            RouteError::NoPrimary { .. } => ExecError::NoPrimary(e.to_string()),
            RouteError::NoKeyspace(ks) => {
                ExecError::mysql(1049, format!("Unknown database '{ks}'"))
            }
            RouteError::NoShard { .. } | RouteError::NoTablet { .. } => {
                ExecError::Unavailable(e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_classes() {
        let s = tablet::grpc::status_from(tablet::Error::Mysql(tablet::MysqlError {
            code: 1146,
            sqlstate: "42S02".into(),
            message: "Table 'commerce.nope' doesn't exist".into(),
        }));
        let e = ExecError::from_status("zone1-100", &s);
        assert_eq!(
            e.to_mysql(),
            MysqlErr {
                code: 1146,
                sqlstate: "42S02".into(),
                message: "Table 'commerce.nope' doesn't exist".into()
            }
        );
        let s = tablet::grpc::status_from(tablet::Error::NotPrimary("replica".into()));
        assert!(ExecError::from_status("t", &s).wants_new_primary());
        let s = tonic::Status::unavailable("connection refused");
        let e = ExecError::from_status("t", &s);
        assert!(matches!(e, ExecError::Unavailable(_)));
        assert_eq!(e.to_mysql().code, 1105);
        assert_eq!(
            ExecError::from(PlanError::Unsupported("x".into()))
                .to_mysql()
                .code,
            1235
        );
    }
}

//! Why a statement cannot be planned. Every variant is deterministic: the
//! same statement against the same VSchema fails the same way, so the
//! caller returns it to the client and never retries.

/// A planning failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// No keyspace selected and the table is not qualified (MySQL 1046).
    #[error("no database selected: use a keyspace or qualify the table as keyspace.table")]
    NoKeyspace,
    /// MySQL 1049.
    #[error("unknown keyspace '{0}'")]
    KeyspaceNotFound(String),
    /// MySQL 1146.
    #[error("table '{table}' not found in keyspace '{keyspace}'")]
    TableNotFound { table: String, keyspace: String },
    /// The keyspace has no shard serving the requested tablet type.
    #[error("keyspace '{keyspace}' has no shards serving {tablet_type}")]
    NoShards {
        keyspace: String,
        tablet_type: String,
    },
    /// A row or predicate value that cannot be mapped to a shard.
    #[error("cannot route {0}")]
    Routing(String),
    /// A statement the gate could not answer correctly (MySQL 1235).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Malformed input the parser let through (wrong bind count…).
    #[error("{0}")]
    Invalid(String),
}

impl PlanError {
    /// The MySQL error number a server would send for this error.
    pub fn mysql_code(&self) -> u16 {
        match self {
            PlanError::NoKeyspace => 1046,
            PlanError::KeyspaceNotFound(_) => 1049,
            PlanError::TableNotFound { .. } => 1146,
            PlanError::Unsupported(_) => 1235,
            PlanError::NoShards { .. } | PlanError::Routing(_) | PlanError::Invalid(_) => 1105,
        }
    }

    pub(crate) fn unsupported(msg: impl Into<String>) -> Self {
        PlanError::Unsupported(msg.into())
    }
}

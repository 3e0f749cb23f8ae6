//! Per-connection state: what `USE`, `SET`, `BEGIN` and inserts leave
//! behind for the next statement on the same connection.
//!
//! Session variables set by the client are remembered here and applied to
//! every statement sent to a tablet as MariaDB's
//! `SET STATEMENT var=value[, …] FOR <stmt>`: tablet connections are pooled
//! and reset between callers, so a plain `SET` there would be lost (or leak
//! to another client). Variables that only make sense on the gate
//! (`autocommit`, `transaction_isolation` handled by the tablet's BEGIN, …)
//! are kept out of that prefix.

use std::collections::BTreeMap;

use topo::records::TabletType;

/// A shard inside a session's open transaction.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardKey {
    pub keyspace: String,
    pub shard: String,
}

/// A tablet-side transaction the session holds open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardTx {
    /// The tablet's gRPC address the transaction lives on.
    pub addr: String,
    pub transaction_id: u64,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub connection_id: u32,
    /// `USE ks` / `USE ks@replica`.
    pub keyspace: Option<String>,
    pub tablet_type: TabletType,
    pub autocommit: bool,
    /// Explicit `BEGIN`/`START TRANSACTION`, or autocommit=0 after the first
    /// statement.
    pub in_transaction: bool,
    pub shard_txs: BTreeMap<ShardKey, ShardTx>,
    /// Variables to apply on tablets (lower-case name → SQL expression text).
    pub vars: BTreeMap<String, String>,
    pub last_insert_id: u64,
    /// Warnings of the last statement (`SHOW WARNINGS`).
    pub warnings: Vec<(u16, String)>,
}

/// Variables the gate interprets itself and never forwards.
const GATE_ONLY: &[&str] = &["autocommit", "workload", "ddl_strategy", "transaction_mode"];

/// Variables that cannot be used with `SET STATEMENT … FOR` (MariaDB
/// refuses them there) and are therefore only remembered.
const NOT_PER_STATEMENT: &[&str] = &[
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "collation_connection",
    "names",
    "charset",
    "last_insert_id",
    "insert_id",
    "timestamp",
    "gtid_domain_id",
    "gtid_seq_no",
    "server_id",
    "sql_log_bin",
];

impl Session {
    pub fn new(user: String, connection_id: u32) -> Session {
        Session {
            user,
            connection_id,
            keyspace: None,
            tablet_type: TabletType::Primary,
            autocommit: true,
            in_transaction: false,
            shard_txs: BTreeMap::new(),
            vars: BTreeMap::new(),
            last_insert_id: 0,
            warnings: Vec::new(),
        }
    }

    /// Parses `ks`, `ks@replica`, `` `ks` ``, `ks@primary`.
    pub fn parse_target(target: &str) -> Result<(String, TabletType), String> {
        let t = target.trim().trim_end_matches(';').trim().trim_matches('`');
        let (ks, tt) = match t.split_once('@') {
            Some((ks, tt)) => {
                let tt: TabletType = tt
                    .parse()
                    .map_err(|_| format!("invalid tablet type in {t:?}"))?;
                (ks, tt)
            }
            None => (t, TabletType::Primary),
        };
        let ks = ks.trim_matches('`');
        if ks.is_empty() {
            return Err("empty keyspace name".into());
        }
        Ok((ks.to_string(), tt))
    }

    /// Whether statements should open tablet transactions.
    pub fn wants_transaction(&self) -> bool {
        self.in_transaction || !self.autocommit
    }

    /// Remembers `SET name = expr`; returns true if the gate consumed it
    /// (e.g. autocommit).
    pub fn set_var(&mut self, name: &str, expr_sql: &str) -> SetOutcome {
        let name = normalize_var(name);
        let v = expr_sql.trim();
        if name == "autocommit" {
            let lower = v.to_ascii_lowercase();
            let on = matches!(lower.trim_matches('\''), "1" | "on" | "true");
            let off = matches!(lower.trim_matches('\''), "0" | "off" | "false");
            if !on && !off {
                return SetOutcome::Invalid(format!(
                    "Variable 'autocommit' can't be set to the value of '{v}'"
                ));
            }
            let was = self.autocommit;
            self.autocommit = on;
            return if on && !was {
                SetOutcome::AutocommitOn
            } else {
                SetOutcome::Consumed
            };
        }
        if GATE_ONLY.contains(&name.as_str()) || NOT_PER_STATEMENT.contains(&name.as_str()) {
            return SetOutcome::Consumed;
        }
        if v.eq_ignore_ascii_case("default") {
            self.vars.remove(&name);
        } else {
            self.vars.insert(name, v.to_string());
        }
        SetOutcome::Consumed
    }

    /// `SET STATEMENT a=1, b='x' FOR ` or empty.
    pub fn statement_prefix(&self) -> String {
        if self.vars.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = self.vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("SET STATEMENT {} FOR ", parts.join(", "))
    }

    /// Applies the remembered variables to `sql` (only statements MariaDB
    /// accepts after `SET STATEMENT … FOR`).
    pub fn apply_vars(&self, sql: &str) -> String {
        if self.vars.is_empty() {
            return sql.to_string();
        }
        let first = sql
            .trim_start()
            .split(|c: char| !c.is_ascii_alphabetic())
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let allowed = matches!(
            first.as_str(),
            "select" | "insert" | "update" | "delete" | "replace" | "with"
        );
        if !allowed {
            return sql.to_string();
        }
        format!("{}{sql}", self.statement_prefix())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetOutcome {
    Consumed,
    /// autocommit went from 0 to 1: an open transaction must be committed.
    AutocommitOn,
    Invalid(String),
}

/// `@@session.x`, `@@x`, `session x`, `` `x` `` → `x` (lower case).
pub fn normalize_var(name: &str) -> String {
    let n = name.trim().trim_start_matches("@@").to_ascii_lowercase();
    let n = n
        .strip_prefix("session.")
        .or_else(|| n.strip_prefix("local."))
        .unwrap_or(&n)
        .to_string();
    n.trim_matches('`').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            Session::parse_target("`commerce`@replica"),
            Ok(("commerce".into(), TabletType::Replica))
        );
        assert_eq!(
            Session::parse_target("commerce;"),
            Ok(("commerce".into(), TabletType::Primary))
        );
        assert!(Session::parse_target("x@nonsense").is_err());
        assert!(Session::parse_target("@replica").is_err());
    }

    #[test]
    fn vars_become_a_statement_prefix() {
        let mut s = Session::new("u".into(), 1);
        assert_eq!(s.apply_vars("SELECT 1"), "SELECT 1");
        assert_eq!(
            s.set_var("@@session.sql_mode", "'ANSI'"),
            SetOutcome::Consumed
        );
        assert_eq!(s.set_var("max_statement_time", "5"), SetOutcome::Consumed);
        assert_eq!(s.set_var("names", "utf8mb4"), SetOutcome::Consumed);
        assert_eq!(
            s.apply_vars("select * from t"),
            "SET STATEMENT max_statement_time=5, sql_mode='ANSI' FOR select * from t"
        );
        assert_eq!(
            s.apply_vars("CREATE TABLE t (a int)"),
            "CREATE TABLE t (a int)"
        );
        s.set_var("sql_mode", "DEFAULT");
        assert_eq!(
            s.statement_prefix(),
            "SET STATEMENT max_statement_time=5 FOR "
        );
    }

    #[test]
    fn autocommit() {
        let mut s = Session::new("u".into(), 1);
        assert_eq!(s.set_var("autocommit", "0"), SetOutcome::Consumed);
        assert!(s.wants_transaction());
        assert_eq!(s.set_var("autocommit", "ON"), SetOutcome::AutocommitOn);
        assert!(matches!(
            s.set_var("autocommit", "7"),
            SetOutcome::Invalid(_)
        ));
    }
}

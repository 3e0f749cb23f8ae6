//! Users and the `_vt` sidecar schema, created after the first start.
//!
//! The statements are a pure function of the credentials so they can be read
//! and tested; [`super::Mysqld::bootstrap`] runs them as root over the socket
//! with `sql_log_bin = 0`. Not binlogging them matters: every tablet creates
//! the same users and schema locally, and binlogged copies would show up as
//! GTIDs of this server that its future primary never had (errant GTIDs).

use super::Credentials;
use crate::sql::quote_string;

/// Hosts every tablet user exists on: TCP from loopback and the socket.
pub const HOSTS: [&str; 2] = ["127.0.0.1", "localhost"];

/// Privileges of `vt_app`: data and schema work, but no SUPER / READ_ONLY
/// ADMIN, so MariaDB's `read_only` stops its writes on a non-primary.
const APP_PRIVILEGES: &str = "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, PROCESS, \
     REFERENCES, INDEX, ALTER, SHOW DATABASES, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, \
     REPLICATION CLIENT, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER";

pub const REPARENT_JOURNAL_DDL: &str = "CREATE TABLE IF NOT EXISTS _vt.reparent_journal (\
     time_created_ns BIGINT UNSIGNED NOT NULL, \
     action_name VARBINARY(250) NOT NULL, \
     primary_alias VARBINARY(32) NOT NULL, \
     replication_position VARBINARY(64000) DEFAULT NULL, \
     PRIMARY KEY (time_created_ns)) ENGINE=InnoDB";

/// Idempotent statements (safe to rerun on every start; passwords are
/// re-applied so a changed configuration takes effect).
pub fn statements(creds: &Credentials) -> Vec<String> {
    let mut out = vec!["SET SESSION sql_log_bin = 0".to_string()];
    let users = [
        ("vt_app", &creds.app_password, APP_PRIVILEGES, ""),
        ("vt_repl", &creds.repl_password, "REPLICATION SLAVE", ""),
        (
            "vt_dba",
            &creds.dba_password,
            "ALL PRIVILEGES",
            " WITH GRANT OPTION",
        ),
    ];
    for (user, password, privileges, grant_option) in users {
        for host in HOSTS {
            let account = format!("'{user}'@'{host}'");
            let pw = quote_string(password);
            out.push(format!(
                "CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {pw}"
            ));
            out.push(format!("ALTER USER {account} IDENTIFIED BY {pw}"));
            out.push(format!(
                "GRANT {privileges} ON *.* TO {account}{grant_option}"
            ));
        }
    }
    out.push("CREATE DATABASE IF NOT EXISTS _vt".into());
    out.push(REPARENT_JOURNAL_DDL.into());
    out.push("FLUSH PRIVILEGES".into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_quoted() {
        let creds = Credentials {
            app_password: "a'b\\c".into(),
            ..Credentials::default()
        };
        let stmts = statements(&creds);
        assert_eq!(stmts[0], "SET SESSION sql_log_bin = 0");
        assert!(stmts.contains(
            &"CREATE USER IF NOT EXISTS 'vt_app'@'127.0.0.1' IDENTIFIED BY 'a\\'b\\\\c'"
                .to_string()
        ));
        assert!(stmts.iter().any(|s| s.contains("_vt.reparent_journal")));
    }
}

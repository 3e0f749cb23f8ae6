//! Which statements a non-primary tablet refuses.
//!
//! A tablet that is not PRIMARY refuses anything that is not clearly a read,
//! with an error naming its type, instead of relying only on MariaDB's
//! `read_only` (which still applies as the backstop: `vt_app` has no SUPER).
//! Classification looks at the first keyword after comments — a deliberately
//! small rule: unknown statements count as writes.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// SELECT, SHOW, EXPLAIN, DESCRIBE, SET, USE, transaction control…
    Read,
    Write,
}

/// The first keyword, upper-cased, skipping whitespace, comments and `(`.
pub fn first_keyword(sql: &str) -> String {
    let mut rest = sql;
    loop {
        let trimmed = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        if let Some(r) = trimmed.strip_prefix("/*") {
            rest = r.find("*/").map_or("", |e| &r[e + 2..]);
        } else if trimmed.starts_with('#') || trimmed.starts_with("-- ") {
            rest = trimmed.find('\n').map_or("", |e| &trimmed[e + 1..]);
        } else {
            rest = trimmed;
            break;
        }
    }
    rest.chars()
        .take_while(|c| c.is_ascii_alphabetic() || *c == '_')
        .collect::<String>()
        .to_ascii_uppercase()
}

pub fn classify(sql: &str) -> StatementKind {
    match first_keyword(sql).as_str() {
        "SELECT" | "SHOW" | "EXPLAIN" | "DESCRIBE" | "DESC" | "SET" | "USE" | "BEGIN" | "START"
        | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" | "WITH" | "VALUES" | "TABLE" | "DO"
        | "HELP" | "KILL" => StatementKind::Read,
        _ => StatementKind::Write,
    }
}

/// Whether running `sql` on a pooled connection may leave session state
/// behind (user variables, temporary tables, locks, SQL-level prepared
/// statements, session variables…) that the next user of the connection
/// would inherit. Such a connection is reset (COM_RESET_CONNECTION) before
/// it is pooled again; any other is pooled as is — resetting after every
/// statement cost a round trip and a sixth of the tablet's CPU under
/// sysbench.
///
/// Deliberately conservative: only plain data statements without `@`
/// and without any lock, temporary-table or cursor words are trusted;
/// everything else (SET, DDL, unknown) resets. A false "stateful" costs a
/// round trip, a false "clean" would leak state between sessions.
pub fn may_leave_session_state(sql: &str) -> bool {
    let plain = matches!(
        first_keyword(sql).as_str(),
        "SELECT"
            | "INSERT"
            | "UPDATE"
            | "DELETE"
            | "REPLACE"
            | "SHOW"
            | "EXPLAIN"
            | "DESCRIBE"
            | "DESC"
            | "WITH"
            | "VALUES"
            | "TABLE"
    );
    if !plain || sql.contains('@') {
        return true;
    }
    let lower = sql.to_ascii_lowercase();
    [
        "lock",
        "temporary",
        "last_insert_id(",
        "sql_calc_found_rows",
        "handler",
        "prepare",
        "outfile",
        "dumpfile",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_state_needs_a_reset() {
        for clean in [
            "SELECT c FROM `commerce`.sbtest1 WHERE id=5",
            "insert into t (a) values (1)",
            "UPDATE t SET a = 1 WHERE id = 2",
            "/* gate */ DELETE FROM t WHERE id IN (1, 2)",
            "SHOW TABLES",
        ] {
            assert!(!may_leave_session_state(clean), "{clean}");
        }
        for stateful in [
            "SET @a = 1",
            "SELECT @a := 1",
            "SELECT c INTO @x FROM t",
            "SET SESSION sql_mode = ''",
            "SET STATEMENT max_statement_time=1 FOR SELECT 1",
            "CREATE TEMPORARY TABLE t (a INT)",
            "create table t (a int)",
            "LOCK TABLES t READ",
            "SELECT GET_LOCK('x', 1)",
            "SELECT * FROM t FOR UPDATE LOCK IN SHARE MODE",
            "SELECT LAST_INSERT_ID(5)",
            "SELECT SQL_CALC_FOUND_ROWS * FROM t",
            "PREPARE s FROM 'SELECT 1'",
            "HANDLER t OPEN",
            "USE db",
            "",
        ] {
            assert!(may_leave_session_state(stateful), "{stateful}");
        }
    }

    #[test]
    fn classifies_by_first_keyword() {
        assert_eq!(classify("  select 1"), StatementKind::Read);
        assert_eq!(classify("/* c */ (SELECT 1)"), StatementKind::Read);
        assert_eq!(classify("-- c\nshow tables"), StatementKind::Read);
        assert_eq!(classify("insert into t values (1)"), StatementKind::Write);
        assert_eq!(classify("UPDATE t SET a=1"), StatementKind::Write);
        assert_eq!(classify("create table t (a int)"), StatementKind::Write);
        assert_eq!(classify(""), StatementKind::Write);
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

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

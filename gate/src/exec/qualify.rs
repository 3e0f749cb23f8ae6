//! Qualifying table names with the shard's database.
//!
//! The planner removes keyspace qualifiers from the SQL it sends to shards,
//! and tablet connections are pooled without a default database, so every
//! table reference is qualified here with the MariaDB database that holds
//! the keyspace's data (named like the keyspace). CTE names are left alone.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    visit_relations_mut, Ident, ObjectNamePart, Query, Statement, Visit, Visitor,
};

/// The MariaDB database holding `keyspace`'s tables on every shard.
pub fn database_for(keyspace: &str) -> &str {
    keyspace
}

struct CteNames(HashSet<String>);

impl Visitor for CteNames {
    type Break = ();

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                self.0.insert(cte.alias.name.value.to_ascii_lowercase());
            }
        }
        ControlFlow::Continue(())
    }
}

/// Rewrites `sql` so unqualified table names refer to `database`. SQL the
/// parser cannot read is returned unchanged (MariaDB will report on it).
/// String literals are kept as written ([`crate::planner::parse`]): parsed
/// with unescaping, `'a\b'` would go out as `'a'`, a backspace.
pub fn qualify(sql: &str, database: &str) -> String {
    let Ok(mut stmts) = crate::planner::parse(sql) else {
        return sql.to_string();
    };
    if stmts.len() != 1 {
        return sql.to_string();
    }
    let mut changed = false;
    for stmt in &mut stmts {
        if !needs_qualifying(stmt) {
            continue;
        }
        let mut ctes = CteNames(HashSet::new());
        let _ = stmt.visit(&mut ctes);
        let _ = visit_relations_mut(stmt, |name| {
            if name.0.len() == 1 {
                if let Some(ObjectNamePart::Identifier(id)) = name.0.first() {
                    if !ctes.0.contains(&id.value.to_ascii_lowercase()) {
                        name.0.insert(
                            0,
                            ObjectNamePart::Identifier(Ident::with_quote('`', database)),
                        );
                        changed = true;
                    }
                }
            }
            ControlFlow::<()>::Continue(())
        });
    }
    if !changed {
        return sql.to_string();
    }
    stmts
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

fn needs_qualifying(stmt: &Statement) -> bool {
    !matches!(
        stmt,
        Statement::CreateDatabase { .. } | Statement::Set(_) | Statement::Use(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifies_tables_not_ctes() {
        assert_eq!(
            qualify("SELECT a FROM users WHERE user_id = 1", "commerce"),
            "SELECT a FROM `commerce`.users WHERE user_id = 1"
        );
        assert_eq!(
            qualify("SELECT * FROM other.t JOIN u ON t.a = u.a", "ks"),
            "SELECT * FROM other.t JOIN `ks`.u ON t.a = u.a"
        );
        assert_eq!(
            qualify("WITH x AS (SELECT 1 FROM t) SELECT * FROM x", "ks"),
            "WITH x AS (SELECT 1 FROM `ks`.t) SELECT * FROM x"
        );
        assert!(qualify("INSERT INTO users (a) VALUES (1)", "ks").contains("`ks`.users"));
        assert!(qualify("CREATE TABLE t (a INT)", "ks").contains("`ks`.t"));
        assert!(qualify("UPDATE t SET a = 1", "ks").contains("`ks`.t"));
        assert!(qualify("DELETE FROM t WHERE a = 1", "ks").contains("`ks`.t"));
        assert_eq!(qualify("SELECT 1", "ks"), "SELECT 1");
        assert_eq!(
            qualify(r"SELECT 'a\\b', 'it''s', 'x\'y' FROM t", "ks"),
            r"SELECT 'a\\b', 'it''s', 'x\'y' FROM `ks`.t"
        );
        assert_eq!(qualify("not sql at all", "ks"), "not sql at all");
    }
}

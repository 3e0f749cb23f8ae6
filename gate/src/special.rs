//! Statements the gate answers (or rewrites) itself instead of planning:
//! the `@@` selects clients send on connect, session functions, SHOW
//! statements about the topology, transaction control, `SET`, `USE`.
//!
//! [`classify`] is pure: raw SQL → [`Command`]. SHOW VITESS_* is matched on
//! the raw text, because sqlparser reads it as a generic SHOW variable.

use sqlparser::ast::{Expr, FunctionArguments, SelectItem, SetExpr, Statement, Value as SqlValue};

use crate::exec::{Col, ExecError, ResultSet};
use crate::session::{normalize_var, Session};
use crate::topo_watch::{HealthTable, RoutingSnapshot};

/// What the server reports as its version (handshake and `@@version`).
/// The `5.5.5-` prefix is how MariaDB tells old clients apart from MySQL.
pub const HANDSHAKE_VERSION: &str = "5.5.5-10.11.99-MariaDB-vitrail";
pub const VERSION: &str = "10.11.99-MariaDB-vitrail";
pub const VERSION_COMMENT: &str = "vitrail gate";

/// What to do with one client statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A FROM-less SELECT of variables/session functions/literals.
    SelectConstants(Vec<Item>),
    ShowDatabases,
    ShowVitessShards,
    ShowVitessTablets,
    ShowWarnings,
    /// `SHOW [FULL] TABLES [FROM ks]`.
    ShowTables {
        keyspace: Option<String>,
        full: bool,
    },
    /// `SHOW CREATE TABLE [ks.]t`, `DESCRIBE`, `SHOW COLUMNS/INDEX FROM`:
    /// forwarded to one shard with the table qualified.
    ShowTable {
        keyspace: Option<String>,
        sql_for: TableShow,
        table: String,
    },
    /// Other SHOW statements: forwarded unchanged to one shard.
    ShowOther,
    Use(String),
    Begin,
    Commit,
    Rollback,
    /// `SET a = 1, @@session.b = 'x'`: (variable, expression text).
    Set(Vec<(String, String)>),
    /// `SET NAMES`, `SET TRANSACTION …`, `SET CHARACTER SET`: accepted, no
    /// effect on the gate.
    SetIgnored,
    CreateDatabase(String),
    DropDatabase(String),
    /// Anything else: plan it.
    Plan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableShow {
    CreateTable,
    Columns,
    Index,
}

/// One output column of a constant select.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub name: String,
    pub what: ItemKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ItemKind {
    Var(String),
    Database,
    LastInsertId,
    Version,
    ConnectionId,
    User,
    Int(String),
    Str(String),
    Null,
}

fn words(sql: &str) -> Vec<String> {
    sql.trim()
        .trim_end_matches(';')
        .split_whitespace()
        .map(|w| w.to_string())
        .collect()
}

fn unquote(name: &str) -> String {
    name.trim_matches('`').to_string()
}

/// Splits `ks.t` / `` `ks`.`t` `` / `t`.
fn split_table(name: &str) -> (Option<String>, String) {
    match name.split_once('.') {
        Some((ks, t)) => (Some(unquote(ks)), unquote(t)),
        None => (None, unquote(name)),
    }
}

pub fn classify(sql: &str) -> Command {
    let w = words(sql);
    let lw: Vec<String> = w.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lw.iter().map(|s| s.as_str()).collect();
    match l.as_slice() {
        ["show", "databases" | "schemas" | "keyspaces"] => return Command::ShowDatabases,
        ["show", "vitess_shards"] => return Command::ShowVitessShards,
        ["show", "vitess_tablets"] => return Command::ShowVitessTablets,
        ["show", "warnings"] => return Command::ShowWarnings,
        ["show", "tables"] => {
            return Command::ShowTables {
                keyspace: None,
                full: false,
            }
        }
        ["show", "full", "tables"] => {
            return Command::ShowTables {
                keyspace: None,
                full: true,
            }
        }
        ["show", "tables", "from" | "in", _] => {
            return Command::ShowTables {
                keyspace: Some(unquote(&w[3])),
                full: false,
            }
        }
        ["show", "full", "tables", "from" | "in", _] => {
            return Command::ShowTables {
                keyspace: Some(unquote(&w[4])),
                full: true,
            }
        }
        ["show", "create", "table", _] => {
            let (keyspace, table) = split_table(&w[3]);
            return Command::ShowTable {
                keyspace,
                sql_for: TableShow::CreateTable,
                table,
            };
        }
        ["describe" | "desc", _] | ["show", "columns" | "fields", "from" | "in", _] => {
            let (keyspace, table) = split_table(w.last().map_or("", |s| s.as_str()));
            return Command::ShowTable {
                keyspace,
                sql_for: TableShow::Columns,
                table,
            };
        }
        ["show", "index" | "indexes" | "keys", "from" | "in", _] => {
            let (keyspace, table) = split_table(&w[3]);
            return Command::ShowTable {
                keyspace,
                sql_for: TableShow::Index,
                table,
            };
        }
        ["show", ..] => return Command::ShowOther,
        ["use", _] => return Command::Use(w[1].clone()),
        ["begin"] | ["begin", "work"] | ["start", "transaction", ..] => return Command::Begin,
        ["commit"] | ["commit", "work"] => return Command::Commit,
        ["rollback"] | ["rollback", "work"] => return Command::Rollback,
        ["create", "database" | "schema", ..] => {
            return Command::CreateDatabase(unquote(w.last().map_or("", |s| s.as_str())))
        }
        ["drop", "database" | "schema", ..] => {
            return Command::DropDatabase(unquote(w.last().map_or("", |s| s.as_str())))
        }
        ["set", "names" | "character" | "charset" | "transaction", ..]
        | ["set", "session" | "global", "transaction", ..] => return Command::SetIgnored,
        ["set", ..] => {
            let body = sql.trim().trim_end_matches(';').trim();
            return Command::Set(parse_set(&body[3..]));
        }
        // SELECTs go to the planner, which parses once and answers
        // table-less ones with `constant_select` itself.
        _ => {}
    }
    Command::Plan
}

/// Splits the assignments of a SET at top-level commas.
fn parse_set(body: &str) -> Vec<(String, String)> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0usize);
    let bytes: Vec<(usize, char)> = body.char_indices().collect();
    let mut i = 0;
    while i < bytes.len() {
        let (pos, c) = bytes[i];
        match (quote, c) {
            (Some(q), '\\') if q != '`' => i += 1,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                parts.push(&body[start..pos]);
                start = pos + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&body[start..]);
    parts
        .into_iter()
        .filter_map(|p| {
            let p = p.trim();
            let (name, expr) = p.split_once(":=").or_else(|| p.split_once('='))?;
            let name = name.trim();
            let name = name
                .strip_prefix("session ")
                .or_else(|| name.strip_prefix("SESSION "))
                .or_else(|| name.strip_prefix("local "))
                .or_else(|| name.strip_prefix("LOCAL "))
                .unwrap_or(name);
            Some((name.trim().to_string(), expr.trim().to_string()))
        })
        .collect()
}

/// The items of a SELECT without FROM or WHERE that the gate answers
/// itself (`@@` variables, `DATABASE()`, literals…), or `None`.
pub fn constant_select(stmt: &Statement) -> Option<Vec<Item>> {
    let Statement::Query(q) = stmt else {
        return None;
    };
    let SetExpr::Select(select) = q.body.as_ref() else {
        return None;
    };
    if !select.from.is_empty() || select.selection.is_some() {
        return None;
    }
    select
        .projection
        .iter()
        .map(|item| {
            let (expr, alias) = match item {
                SelectItem::UnnamedExpr(e) => (e, None),
                SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
                _ => return None,
            };
            let what = item_kind(expr)?;
            Some(Item {
                name: alias.unwrap_or_else(|| expr.to_string()),
                what,
            })
        })
        .collect()
}

fn item_kind(expr: &Expr) -> Option<ItemKind> {
    match expr {
        Expr::Identifier(id) if id.value.starts_with("@@") => Some(ItemKind::Var(id.value.clone())),
        Expr::CompoundIdentifier(ids) if ids.first()?.value.starts_with("@@") => {
            Some(ItemKind::Var(
                ids.iter()
                    .map(|i| i.value.as_str())
                    .collect::<Vec<_>>()
                    .join("."),
            ))
        }
        Expr::Function(f) => {
            let no_args = match &f.args {
                FunctionArguments::None => true,
                FunctionArguments::List(l) => l.args.is_empty(),
                FunctionArguments::Subquery(_) => false,
            };
            if !no_args {
                return None;
            }
            match f.name.to_string().to_ascii_lowercase().as_str() {
                "database" | "schema" => Some(ItemKind::Database),
                "last_insert_id" => Some(ItemKind::LastInsertId),
                "version" => Some(ItemKind::Version),
                "connection_id" => Some(ItemKind::ConnectionId),
                "user" | "current_user" | "session_user" | "system_user" => Some(ItemKind::User),
                _ => None,
            }
        }
        Expr::Value(v) => match &v.value {
            SqlValue::Number(n, _) if !n.contains(['.', 'e', 'E']) => {
                Some(ItemKind::Int(n.clone()))
            }
            SqlValue::SingleQuotedString(s) | SqlValue::DoubleQuotedString(s) => {
                Some(ItemKind::Str(s.clone()))
            }
            SqlValue::Null => Some(ItemKind::Null),
            _ => None,
        },
        _ => None,
    }
}

enum Answer {
    Int(String),
    Str(String),
    Null,
}

/// Values of the server variables clients ask about.
fn variable(name: &str, session: &Session) -> Result<Answer, ExecError> {
    let n = normalize_var(name);
    if let Some(v) = session.vars.get(&n) {
        let v = v.trim_matches('\'').trim_matches('"').to_string();
        return Ok(if v.parse::<i64>().is_ok() {
            Answer::Int(v)
        } else {
            Answer::Str(v)
        });
    }
    let int = |v: &str| Ok(Answer::Int(v.to_string()));
    let s = |v: &str| Ok(Answer::Str(v.to_string()));
    match n.as_str() {
        "version_comment" => s(VERSION_COMMENT),
        "version" => s(VERSION),
        // NULL, not a path: mysql_async reconnects over a non-empty socket,
        // which would reach the local MariaDB instead of the gate.
        "socket" => Ok(Answer::Null),
        "max_allowed_packet" => int("67108864"),
        "wait_timeout" | "interactive_timeout" => int("28800"),
        "net_write_timeout" => int("60"),
        "net_read_timeout" => int("30"),
        "net_buffer_length" => int("16384"),
        "auto_increment_increment" | "auto_increment_offset" => int("1"),
        "autocommit" => int(if session.autocommit { "1" } else { "0" }),
        "in_transaction" => int(if session.in_transaction { "1" } else { "0" }),
        "tx_isolation" | "transaction_isolation" => s("REPEATABLE-READ"),
        "tx_read_only" | "transaction_read_only" | "read_only" => int("0"),
        "character_set_client" | "character_set_connection" | "character_set_results"
        | "character_set_server" | "character_set_database" => s("utf8mb4"),
        "collation_connection" | "collation_server" | "collation_database" => {
            s("utf8mb4_general_ci")
        }
        "sql_mode" => s("STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION"),
        "time_zone" => s("SYSTEM"),
        "system_time_zone" => s("UTC"),
        "lower_case_table_names" => int("0"),
        "license" => s("GPL"),
        "init_connect" => s(""),
        "performance_schema" | "query_cache_size" | "max_execution_time" | "max_statement_time" => {
            int("0")
        }
        "query_cache_type" => s("OFF"),
        "have_query_cache" => s("NO"),
        "sql_select_limit" => int("18446744073709551615"),
        "hostname" => s("vitrail-gate"),
        "port" => int("0"),
        "identity" | "last_insert_id" => int(&session.last_insert_id.to_string()),
        _ => Err(ExecError::mysql(
            1193,
            format!("Unknown system variable '{}'", name.trim_start_matches("@@")),
        )),
    }
}

/// Answers a FROM-less constant select.
pub fn select_constants(items: &[Item], session: &Session) -> Result<ResultSet, ExecError> {
    let mut cols = Vec::new();
    let mut row = Vec::new();
    for item in items {
        let a = match &item.what {
            ItemKind::Var(v) => variable(v, session)?,
            ItemKind::Database => match &session.keyspace {
                Some(ks) => Answer::Str(ks.clone()),
                None => Answer::Null,
            },
            ItemKind::LastInsertId => Answer::Int(session.last_insert_id.to_string()),
            ItemKind::Version => Answer::Str(VERSION.into()),
            ItemKind::ConnectionId => Answer::Int(session.connection_id.to_string()),
            ItemKind::User => Answer::Str(format!("{}@%", session.user)),
            ItemKind::Int(n) => Answer::Int(n.clone()),
            ItemKind::Str(s) => Answer::Str(s.clone()),
            ItemKind::Null => Answer::Null,
        };
        match a {
            Answer::Int(v) => {
                let mut c = Col::int(&item.name);
                if v.parse::<i64>().is_err() {
                    c.flags |= crate::exec::result::UNSIGNED_FLAG;
                }
                cols.push(c);
                row.push(Some(v.into_bytes()));
            }
            Answer::Str(v) => {
                cols.push(Col::text(&item.name));
                row.push(Some(v.into_bytes()));
            }
            Answer::Null => {
                cols.push(Col::text(&item.name));
                row.push(None);
            }
        }
    }
    Ok(ResultSet::rows(cols, vec![row]))
}

pub fn show_databases(snap: &RoutingSnapshot) -> ResultSet {
    ResultSet::strings(
        vec![Col::text("Database")],
        snap.keyspaces.keys().map(|k| vec![k.clone()]).collect(),
    )
}

pub fn show_vitess_shards(snap: &RoutingSnapshot) -> ResultSet {
    let rows = snap
        .keyspaces
        .iter()
        .flat_map(|(ks, route)| {
            route
                .shards
                .iter()
                .map(move |s| vec![format!("{ks}/{}", s.name)])
        })
        .collect();
    ResultSet::strings(vec![Col::text("Shards")], rows)
}

pub fn show_vitess_tablets(snap: &RoutingSnapshot, health: &HealthTable) -> ResultSet {
    let cols = [
        "Cell",
        "Keyspace",
        "Shard",
        "TabletType",
        "State",
        "Alias",
        "Hostname",
        "PrimaryTermStartTime",
    ]
    .iter()
    .map(|c| Col::text(c))
    .collect();
    let rows = snap
        .tablets
        .values()
        .map(|t| {
            let state = match health.get(&t.alias) {
                Some(h) if h.serving => "SERVING",
                Some(_) => "NOT_SERVING",
                None => "UNKNOWN",
            };
            vec![
                t.alias.cell.clone(),
                t.keyspace.clone(),
                t.shard.clone(),
                t.tablet_type.as_str().to_ascii_uppercase(),
                state.to_string(),
                t.alias.to_string(),
                format!("{}:{}", t.hostname, t.grpc_port),
                t.primary_term_start_ms
                    .map_or(String::new(), |ms| ms.to_string()),
            ]
        })
        .collect();
    ResultSet::strings(cols, rows)
}

pub fn show_warnings(session: &Session) -> ResultSet {
    let cols = vec![Col::text("Level"), Col::int("Code"), Col::text("Message")];
    let rows = session
        .warnings
        .iter()
        .map(|(code, msg)| vec!["Warning".to_string(), code.to_string(), msg.clone()])
        .collect();
    ResultSet::strings(cols, rows)
}

/// The SQL sent to a shard for a [`Command::ShowTable`].
pub fn table_show_sql(kind: TableShow, db: &str, table: &str) -> String {
    let t = format!("`{}`.`{}`", db.replace('`', "``"), table.replace('`', "``"));
    match kind {
        TableShow::CreateTable => format!("SHOW CREATE TABLE {t}"),
        TableShow::Columns => format!("SHOW COLUMNS FROM {t}"),
        TableShow::Index => format!("SHOW INDEX FROM {t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the handler does with a SELECT: constants answered here,
    /// anything else planned.
    fn classify_select(sql: &str) -> Command {
        let stmts = crate::planner::parse(sql).unwrap();
        match constant_select(&stmts[0]) {
            Some(items) => Command::SelectConstants(items),
            None => Command::Plan,
        }
    }

    #[test]
    fn classifies_connect_time_and_show_queries() {
        let Command::SelectConstants(items) = classify_select("SELECT @@version_comment LIMIT 1")
        else {
            panic!("not constant")
        };
        assert_eq!(items[0].name, "@@version_comment");
        let Command::SelectConstants(items) =
            classify_select("SELECT @@max_allowed_packet,@@wait_timeout,@@socket")
        else {
            panic!("not constant")
        };
        let s = Session::new("app".into(), 7);
        let r = select_constants(&items, &s).unwrap();
        assert_eq!(r.columns.len(), 3);
        assert_eq!(r.rows[0][0].as_deref(), Some(&b"67108864"[..]));
        assert_eq!(r.rows[0][2], None, "@@socket must be NULL");
        let Command::SelectConstants(items) = classify_select(
            "select @@session.auto_increment_increment AS a, DATABASE(), LAST_INSERT_ID()",
        ) else {
            panic!("not constant")
        };
        let r = select_constants(&items, &s).unwrap();
        assert_eq!(r.columns[0].name, "a");
        assert_eq!(r.rows[0][1], None);
        assert!(matches!(
            classify_select("SELECT @@nope"),
            Command::SelectConstants(_)
        ));
        let Command::SelectConstants(items) = classify_select("SELECT @@nope") else {
            unreachable!()
        };
        assert_eq!(
            select_constants(&items, &s).unwrap_err().to_mysql().code,
            1193
        );
        assert_eq!(classify_select("SELECT a FROM t"), Command::Plan);
        assert_eq!(classify("SELECT a FROM t"), Command::Plan);
        assert_eq!(classify("show  Vitess_Shards;"), Command::ShowVitessShards);
        assert_eq!(classify("SHOW KEYSPACES"), Command::ShowDatabases);
        assert_eq!(
            classify("show create table commerce.users"),
            Command::ShowTable {
                keyspace: Some("commerce".into()),
                sql_for: TableShow::CreateTable,
                table: "users".into()
            }
        );
        assert_eq!(classify("START TRANSACTION"), Command::Begin);
        assert_eq!(
            classify("use `commerce@replica`"),
            Command::Use("`commerce@replica`".into())
        );
        assert_eq!(
            classify("CREATE DATABASE x"),
            Command::CreateDatabase("x".into())
        );
        assert_eq!(classify("SET NAMES utf8mb4"), Command::SetIgnored);
    }

    #[test]
    fn set_assignments() {
        assert_eq!(
            classify("SET autocommit=0, @@session.sql_mode = 'A,B', SESSION x := f(1,2)"),
            Command::Set(vec![
                ("autocommit".into(), "0".into()),
                ("@@session.sql_mode".into(), "'A,B'".into()),
                ("x".into(), "f(1,2)".into()),
            ])
        );
    }
}

//! `CREATE DATABASE` / `DROP DATABASE` through the gate.
//!
//! A database created through the gate becomes an unsharded keyspace
//! *served from* an existing shard (Vitess's precedent; see
//! [`topo::records::Keyspace::served_from`]): its tables live in a MariaDB
//! database of the same name on that host shard's mariadbds, so no tablets
//! are started, replication carries it, and a reparent of the host moves it.
//! Tools that create and drop their own schema (`mariadb-slap`, test
//! suites) work against any deployment.
//!
//! CREATE: refuse an existing keyspace (1007, or OK with IF NOT EXISTS);
//! create the database on the host primary; write the keyspace record, an
//! unsharded VSchema (`{"sharded": false}`) and every cell's SrvKeyspace in
//! one topology transaction; rebuild the SrvVSchema; then wait until this
//! gate's routing snapshot serves the keyspace, so `USE x` right after
//! works. A lost race with another creator is reported as 1007 and leaves
//! only an empty database on the host.
//!
//! DROP: refuse an absent keyspace (1008, or OK with IF EXISTS) and a
//! keyspace with tablets of its own (those are deleted with `vitrail ctl`);
//! delete the keyspace's records, rebuild the SrvVSchema, drop the database
//! on the host primary, and wait until the snapshot no longer has it.
//!
//! The host is `--create-database-host KEYSPACE/SHARD` when given, else
//! [`choose_host`]'s deterministic default. The statement parsing, name
//! checks and host choice are plain functions; the rest is the shell.

use std::time::Duration;

use topo::records::{DurabilityPolicy, Keyspace, KeyspaceShard};
use topo::server::TopoError;
use topo::vschema::VSchema;

use super::Gate;
use crate::exec::{ExecError, ResultSet};
use crate::session::Session;
use crate::topo_watch::RoutingSnapshot;

/// How long CREATE/DROP wait for this gate's routing to show the change.
const SEE_CHANGE_WITHIN: Duration = Duration::from_secs(10);

/// Databases MariaDB (or the tablets: `_vt`) keep for themselves on every
/// host; a keyspace of that name would read or drop them.
const RESERVED: [&str; 5] = [
    "information_schema",
    "mysql",
    "performance_schema",
    "sys",
    "_vt",
];

/// A parsed `CREATE|DROP {DATABASE|SCHEMA} [IF [NOT] EXISTS] name …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbStatement {
    pub name: String,
    /// IF NOT EXISTS (create) / IF EXISTS (drop).
    pub if_exists_clause: bool,
    /// CREATE's options (`CHARACTER SET …`, `COLLATE …`, `COMMENT '…'`) as
    /// written, checked to be only words, `=` and quoted strings; passed on
    /// to the host's CREATE DATABASE. Always empty for DROP.
    pub options: String,
}

fn syntax(msg: impl std::fmt::Display) -> ExecError {
    ExecError::mysql(1064, format!("You have an error in your SQL syntax: {msg}"))
}

/// One token of the statement: a bare word, a `` `quoted` `` identifier,
/// a `'string'` / `"string"`, or `=`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Str,
    Eq,
}

/// Tokens with their byte offsets (so options can be passed on verbatim).
fn tokenize(sql: &str) -> Result<Vec<(usize, Tok)>, ExecError> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b';' {
            // Only trailing semicolons (one statement per query).
            if sql[i..]
                .trim_start_matches([';', ' ', '\t', '\r', '\n'])
                .is_empty()
            {
                break;
            }
            return Err(syntax("several statements in one query"));
        } else if c == b'=' {
            out.push((start, Tok::Eq));
            i += 1;
        } else if c == b'`' {
            let mut name = String::new();
            i += 1;
            loop {
                match sql[i..].find('`') {
                    None => return Err(syntax("unterminated `quoted` name")),
                    Some(j) => {
                        name.push_str(&sql[i..i + j]);
                        i += j + 1;
                        if b.get(i) == Some(&b'`') {
                            name.push('`');
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            out.push((start, Tok::Quoted(name)));
        } else if c == b'\'' || c == b'"' {
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(syntax("unterminated string")),
                    Some(b'\\') => i += 2,
                    Some(&q) if q == c => {
                        i += 1;
                        if b.get(i) == Some(&c) {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    Some(_) => i += 1,
                }
            }
            out.push((start, Tok::Str));
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 {
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
            {
                i += 1;
            }
            out.push((start, Tok::Word(sql[start..i].to_string())));
        } else {
            return Err(syntax(format!("unexpected {:?}", c as char)));
        }
    }
    Ok(out)
}

fn is_word(t: Option<&(usize, Tok)>, w: &str) -> bool {
    matches!(t, Some((_, Tok::Word(x))) if x.eq_ignore_ascii_case(w))
}

/// Parses CREATE (`create` true) or DROP DATABASE/SCHEMA.
pub fn parse(sql: &str, create: bool) -> Result<DbStatement, ExecError> {
    let toks = tokenize(sql)?;
    let verb = if create { "create" } else { "drop" };
    if !is_word(toks.first(), verb)
        || !(is_word(toks.get(1), "database") || is_word(toks.get(1), "schema"))
    {
        return Err(syntax(format!("expected {} DATABASE", verb.to_uppercase())));
    }
    let mut i = 2;
    let guard: &[&str] = if create {
        &["if", "not", "exists"]
    } else {
        &["if", "exists"]
    };
    let if_exists_clause = is_word(toks.get(i), "if");
    if if_exists_clause {
        for w in guard {
            if !is_word(toks.get(i), w) {
                return Err(syntax(format!(
                    "expected {}",
                    guard.join(" ").to_uppercase()
                )));
            }
            i += 1;
        }
    }
    let name = match toks.get(i) {
        Some((_, Tok::Word(w) | Tok::Quoted(w))) => w.clone(),
        _ => return Err(syntax("expected a database name")),
    };
    i += 1;
    let options = match toks.get(i) {
        None => String::new(),
        Some(_) if !create => return Err(syntax("unexpected text after the database name")),
        Some((at, _)) => {
            if toks[i..].iter().any(|(_, t)| matches!(t, Tok::Quoted(_))) {
                return Err(syntax("unexpected quoted name in database options"));
            }
            let end = sql.trim_end().trim_end_matches(';').trim_end().len();
            sql[*at..end].to_string()
        }
    };
    Ok(DbStatement {
        name,
        if_exists_clause,
        options,
    })
}

/// A name usable both as a MariaDB database and as a topology key; not one
/// MariaDB or the tablets reserve. Error 1102 otherwise.
pub fn validate_name(name: &str) -> Result<(), ExecError> {
    let bad =
        |why: &str| ExecError::mysql(1102, format!("Incorrect database name '{name}' ({why})"));
    topo::layout::validate_name("keyspace", name).map_err(|e| bad(e.reason))?;
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(bad("reserved by MariaDB or the tablets"));
    }
    Ok(())
}

/// The shard a new database is created on.
///
/// With `configured` (`--create-database-host`): that shard, which must be
/// serving in this cell and belong to a keyspace with tablets of its own.
/// Otherwise, deterministically: among keyspaces with tablets of their own
/// and at least one serving shard, the first by name whose VSchema is
/// unsharded (a keyspace without a VSchema counts as unsharded, as in
/// Vitess), else the first by name; then its first shard by name.
pub fn choose_host(
    snap: &RoutingSnapshot,
    configured: Option<&KeyspaceShard>,
) -> Result<KeyspaceShard, ExecError> {
    if let Some(host) = configured {
        let own = snap
            .keyspaces
            .get(&host.keyspace)
            .is_some_and(|k| k.served_from.is_none());
        if !own || snap.shard(&host.keyspace, &host.shard).is_none() {
            return Err(ExecError::mysql(
                1105,
                format!(
                    "--create-database-host {host} is not a serving shard with its own tablets in cell {}",
                    snap.cell
                ),
            ));
        }
        return Ok(host.clone());
    }
    let candidates = snap
        .keyspaces
        .iter()
        .filter(|(_, k)| k.served_from.is_none() && !k.shards.is_empty());
    let unsharded = |ks: &str| {
        snap.vschema
            .as_ref()
            .and_then(|v| v.keyspaces.get(ks))
            .is_none_or(|v| !v.sharded)
    };
    let (ks, route) = candidates
        .clone()
        .find(|(ks, _)| unsharded(ks))
        .or_else(|| candidates.clone().next())
        .ok_or_else(|| {
            ExecError::mysql(
                1105,
                format!(
                    "no keyspace with tablets serves in cell {} to hold a new database",
                    snap.cell
                ),
            )
        })?;
    let shard = route
        .shards
        .iter()
        .map(|s| s.name.as_str())
        .min()
        .unwrap_or_default();
    Ok(KeyspaceShard::new(ks.as_str(), shard))
}

fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn topo_error(what: &str, e: TopoError) -> ExecError {
    ExecError::mysql(1105, format!("{what}: {e}"))
}

fn topology(gate: &Gate) -> Result<&topo::server::Topo, ExecError> {
    gate.topo.as_ref().ok_or_else(|| {
        ExecError::mysql(
            1105,
            "this gate has no topology access for CREATE/DROP DATABASE",
        )
    })
}

/// `CREATE {DATABASE|SCHEMA} [IF NOT EXISTS] name [options]`.
pub async fn create_database(
    gate: &Gate,
    session: &mut Session,
    sql: &str,
) -> Result<ResultSet, ExecError> {
    let stmt = parse(sql, true)?;
    let name = stmt.name.as_str();
    validate_name(name)?;
    let topo = topology(gate)?;
    let exists = || {
        ExecError::mysql(
            1007,
            format!("Can't create database '{name}'; database exists"),
        )
    };
    match topo.get_keyspace(name).await {
        Ok(_) if stmt.if_exists_clause => return Ok(ResultSet::ok(0)),
        Ok(_) => return Err(exists()),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(topo_error("reading the topology", e)),
    }
    let ex = &gate.executor;
    if session.in_transaction {
        // MariaDB commits implicitly before DDL.
        ex.commit(session).await?;
    }
    let host = choose_host(&ex.routing.snapshot(), gate.create_database_host.as_ref())?;
    let mut create = format!("CREATE DATABASE IF NOT EXISTS {}", quote_ident(name));
    if !stmt.options.is_empty() {
        create.push(' ');
        create.push_str(&stmt.options);
    }
    ex.run_on_primary(&host.keyspace, &host.shard, &create)
        .await?;
    let keyspace = Keyspace {
        name: name.to_string(),
        // Writes are acknowledged as the host shard's primary does.
        durability_policy: DurabilityPolicy::None,
        served_from: Some(host.clone()),
    };
    // `{"sharded": false}`.
    let vschema = VSchema::default();
    match topo.create_served_keyspace(&keyspace, &vschema).await {
        Ok(_) => {}
        // Another session created it meanwhile (the empty database we may
        // have made is theirs too if they chose the same host).
        Err(TopoError::AlreadyExists {
            kind: "keyspace", ..
        }) => {
            return if stmt.if_exists_clause {
                Ok(ResultSet::ok(0))
            } else {
                Err(exists())
            };
        }
        Err(e) => return Err(topo_error(&format!("creating keyspace {name}"), e)),
    }
    topo.rebuild_srv_vschema(&[])
        .await
        .map_err(|e| topo_error("rebuilding the serving VSchema", e))?;
    let deadline = tokio::time::Instant::now() + SEE_CHANGE_WITHIN;
    let seen = ex
        .routing
        .wait_for(deadline, |s| {
            s.keyspaces.contains_key(name)
                && s.vschema
                    .as_ref()
                    .is_some_and(|v| v.keyspaces.contains_key(name))
        })
        .await;
    if !seen {
        return Err(ExecError::mysql(
            1105,
            format!(
                "keyspace '{name}' was created on {host}, but this gate did not see it within {}s",
                SEE_CHANGE_WITHIN.as_secs()
            ),
        ));
    }
    tracing::info!(keyspace = name, %host, "created database as a served-from keyspace");
    Ok(ResultSet::ok(1))
}

/// `DROP {DATABASE|SCHEMA} [IF EXISTS] name`.
pub async fn drop_database(
    gate: &Gate,
    session: &mut Session,
    sql: &str,
) -> Result<ResultSet, ExecError> {
    let stmt = parse(sql, false)?;
    let name = stmt.name.as_str();
    validate_name(name)?;
    let topo = topology(gate)?;
    let keyspace = match topo.get_keyspace(name).await {
        Ok(k) => k.value,
        Err(e) if e.is_not_found() && stmt.if_exists_clause => return Ok(ResultSet::ok(0)),
        Err(e) if e.is_not_found() => {
            return Err(ExecError::mysql(
                1008,
                format!("Can't drop database '{name}'; database doesn't exist"),
            ))
        }
        Err(e) => return Err(topo_error("reading the topology", e)),
    };
    let Some(host) = keyspace.served_from else {
        return Err(ExecError::mysql(
            1105,
            format!("keyspace '{name}' has its own tablets; delete it with vitrail ctl"),
        ));
    };
    let ex = &gate.executor;
    if session.in_transaction {
        ex.commit(session).await?;
    }
    topo.delete_keyspace(name)
        .await
        .map_err(|e| topo_error(&format!("deleting keyspace {name}"), e))?;
    topo.rebuild_srv_vschema(&[])
        .await
        .map_err(|e| topo_error("rebuilding the serving VSchema", e))?;
    let drop = format!("DROP DATABASE IF EXISTS {}", quote_ident(name));
    let dropped = ex
        .run_on_primary(&host.keyspace, &host.shard, &drop)
        .await
        .map_err(|e| {
            ExecError::mysql(
                1105,
                format!(
                    "keyspace '{name}' was removed from the topology, but dropping database \
                     {name} on {host} failed ({e}); drop it there by hand"
                ),
            )
        })?;
    let deadline = tokio::time::Instant::now() + SEE_CHANGE_WITHIN;
    let gone = ex
        .routing
        .wait_for(deadline, |s| !s.keyspaces.contains_key(name))
        .await;
    if session.keyspace.as_deref() == Some(name) {
        // Like MariaDB: the session has no current database any more.
        session.keyspace = None;
    }
    if !gone {
        return Err(ExecError::mysql(
            1105,
            format!(
                "keyspace '{name}' was dropped, but this gate still routed to it after {}s",
                SEE_CHANGE_WITHIN.as_secs()
            ),
        ));
    }
    tracing::info!(keyspace = name, %host, "dropped served-from keyspace");
    Ok(ResultSet::ok(dropped.rows_affected))
}

#[cfg(test)]
mod tests;

//! One client connection: authentication, then statements.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use opensrv_mysql::{
    AsyncMysqlIntermediary, AsyncMysqlShim, Column, ColumnFlags, ColumnType, ErrorKind, InitWriter,
    ParamParser, QueryResultWriter, StatementMetaWriter,
};
use rand::Rng;
use sqlparser::ast::{SelectItem, SetExpr, Statement};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use tokio::io::{AsyncWrite, BufWriter};
use tokio::net::TcpStream;
use topo::records::TabletType;
use topo::vschema::SrvVSchema;

use super::auth_error::{AuthFailure, RewriteAuthError};
use super::client_packets::{rejected, ClientPackets, CommandPhase, ParamCounts, ResetFlag};
use super::params::{interpolate, param_value, placeholders};
use super::stream::stream_plan;
use super::write::{status, write_error, write_result};
use super::Gate;
use crate::exec::qualify::{database_for, qualify};
use crate::exec::{ExecError, ResultSet};
use crate::planner::{self, Plan, PlanContext, Template};
use crate::session::{Session, SetOutcome};
use crate::special::{self, Command};
use crate::topo_watch::RoutingSnapshot;

pub async fn run(gate: Arc<Gate>, sock: TcpStream, id: u32) -> io::Result<()> {
    let host = sock
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let (r, w) = sock.into_split();
    let resets = ResetFlag::default();
    let param_counts = ParamCounts::default();
    let phase = CommandPhase::default();
    let r = ClientPackets::new(r, resets.clone(), param_counts.clone(), phase.clone());
    let failure = AuthFailure::default();
    // opensrv writes each packet as a header and a payload and flushes
    // after every command: buffered, a response is one send() instead of
    // two per packet (the sysbench profile had a third of the gate's CPU
    // in those sends).
    let w = RewriteAuthError::new(BufWriter::with_capacity(16 * 1024, w), failure.clone());
    let handler = Handler {
        gate,
        session: Session::new(String::new(), id),
        salt: new_salt(),
        failure,
        resets,
        host,
        user: Mutex::new(None),
        stmts: HashMap::new(),
        next_stmt: 1,
        param_counts,
        phase,
    };
    let result = AsyncMysqlIntermediary::run_on(handler, r, w).await;
    result
}

/// The one statement of `sql`, parsed the way the planner wants it (see
/// [`planner::parse`]): the only parse a planned statement gets.
fn parse_one(sql: &str) -> Result<Statement, ExecError> {
    match planner::parse(sql) {
        Ok(mut v) if v.len() == 1 => Ok(v.remove(0)),
        Ok(v) if v.is_empty() => Err(ExecError::mysql(1065, "Query was empty")),
        Ok(_) => Err(ExecError::unsupported("several statements in one query")),
        Err(e) => Err(ExecError::mysql(
            1064,
            format!("You have an error in your SQL syntax: {e}"),
        )),
    }
}

/// `sql`'s parse if it goes to the planner, not to the gate's own answers
/// (SHOW, SET, constant SELECTs…): only such statements have templates.
fn plannable(sql: &str) -> Option<Statement> {
    if !matches!(special::classify(sql), Command::Plan) {
        return None;
    }
    let stmt = parse_one(sql).ok()?;
    special::constant_select(&stmt).is_none().then_some(stmt)
}

/// The template of `stmt`, parsed from `sql` (a prepared statement, or a
/// normalized text query), against `snapshot` for `session`'s target, if
/// it has one (see [`Template`]).
fn build_template(
    stmt: Statement,
    sql: &str,
    snapshot: &RoutingSnapshot,
    session: &Session,
) -> Option<Template> {
    let empty = SrvVSchema::default();
    let ctx = PlanContext {
        vschema: snapshot.vschema.as_deref().unwrap_or(&empty),
        srv_keyspaces: &snapshot.srv_keyspaces,
        default_keyspace: session.keyspace.as_deref(),
        tablet_type: session.tablet_type,
        bind_values: &[],
    };
    Template::build(stmt, sql, &ctx, |sql, ks| qualify(sql, database_for(ks)))
}

/// 20 random printable bytes (no NUL, no `$`), fresh per connection.
fn new_salt() -> [u8; 20] {
    let mut rng = rand::thread_rng();
    let mut s = [0u8; 20];
    for b in &mut s {
        *b = loop {
            let c: u8 = rng.gen_range(33..127);
            if c != b'$' {
                break c;
            }
        };
    }
    s
}

struct Prepared {
    sql: String,
    params: Vec<Column>,
    /// The result columns announced at prepare time (see
    /// [`result_columns`]); the real definitions come with each execution.
    columns: Vec<Column>,
    /// The statement's plan template, built on first execution and again
    /// whenever the routing snapshot or the session's target changes.
    template: Option<CachedTemplate>,
}

/// A [`Template`] and what it was planned against.
struct CachedTemplate {
    snapshot: Arc<RoutingSnapshot>,
    keyspace: Option<String>,
    tablet_type: TabletType,
    /// `None`: the statement is planned at each execution.
    template: Option<Template>,
}

/// The result columns a prepared statement announces, before it runs.
///
/// libmysqlclient and Connector/C decide from the prepare reply whether an
/// execution returns rows; a SELECT announced with none leaves its rows
/// unread and the next command fails with "Commands out of sync" (sysbench
/// oltp_read_only did). For a SELECT listing its items the count and names
/// are known without running it; the types are generic (each execution
/// sends the real definitions). `*` needs the schema: announced as none,
/// as before.
fn result_columns(stmt: &Statement) -> Vec<Column> {
    let Statement::Query(q) = stmt else {
        return Vec::new();
    };
    let mut body = q.body.as_ref();
    while let SetExpr::SetOperation { left, .. } = body {
        body = left.as_ref();
    }
    let SetExpr::Select(select) = body else {
        return Vec::new();
    };
    let mut cols = Vec::new();
    for item in &select.projection {
        let name = match item {
            SelectItem::UnnamedExpr(e) => e.to_string(),
            SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
            _ => return Vec::new(),
        };
        cols.push(Column {
            table: String::new(),
            column: name,
            coltype: ColumnType::MYSQL_TYPE_VAR_STRING,
            colflags: ColumnFlags::empty(),
        });
    }
    cols
}

const NO_COLUMNS: &[Column] = &[];

/// What a statement turned into: a finished result, or a plan whose rows
/// are streamed straight to the client.
enum Outcome {
    Done(Result<ResultSet, ExecError>),
    Stream(Box<Plan>),
}

struct Handler {
    gate: Arc<Gate>,
    session: Session,
    salt: [u8; 20],
    failure: AuthFailure,
    resets: ResetFlag,
    host: String,
    /// Set by `authenticate` (which only gets `&self`).
    user: Mutex<Option<String>>,
    stmts: HashMap<u32, Prepared>,
    next_stmt: u32,
    /// Parameter counts of prepared statements, for [`ClientPackets`].
    param_counts: ParamCounts,
    /// Started on authentication, for [`ClientPackets`].
    phase: CommandPhase,
}

impl Handler {
    /// Before each command: apply a COM_RESET_CONNECTION the client sent
    /// (MySQL semantics: roll back, forget variables and prepared
    /// statements, keep the user and the current database).
    async fn apply_reset(&mut self) {
        if !self.resets.take() {
            return;
        }
        let gate = self.gate.clone();
        gate.executor.rollback(&mut self.session).await;
        let mut fresh = Session::new(self.session.user.clone(), self.session.connection_id);
        fresh.keyspace = self.session.keyspace.take();
        fresh.tablet_type = self.session.tablet_type;
        self.session = fresh;
        self.stmts.clear();
    }

    fn sync_user(&mut self) {
        if self.session.user.is_empty() {
            if let Ok(Some(u)) = self.user.lock().map(|u| u.clone()) {
                self.session.user = u;
            }
        }
    }

    fn status(&self) -> opensrv_mysql::StatusFlags {
        status(self.session.in_transaction, self.session.autocommit)
    }

    /// Runs one statement; returns the metrics label and the outcome.
    async fn run_sql(&mut self, sql: &str) -> (&'static str, Outcome) {
        // Some clients (mariadb-slap) send the C string's NUL terminator as
        // part of the query; MariaDB ignores it, and so do we.
        let sql = sql.trim_end_matches('\0');
        self.apply_reset().await;
        self.sync_user();
        if let Some(plan) = self.text_template_plan(sql) {
            return self.run_planned(plan.route.as_str(), plan).await;
        }
        let gate = self.gate.clone();
        let ex = &gate.executor;
        let cmd = special::classify(sql);
        let label = "Special";
        let res = match cmd {
            Command::Plan => return self.plan_and_run(sql).await,
            Command::SelectConstants(items) => special::select_constants(&items, &self.session),
            Command::ShowDatabases => Ok(special::show_databases(&ex.routing.snapshot())),
            Command::ShowVitessShards => Ok(special::show_vitess_shards(&ex.routing.snapshot())),
            Command::ShowVitessTablets => Ok(special::show_vitess_tablets(
                &ex.routing.snapshot(),
                ex.routing.health(),
            )),
            Command::ShowWarnings => Ok(special::show_warnings(&self.session)),
            Command::ShowTables { keyspace, full } => match self.keyspace_or(keyspace) {
                Ok(ks) => {
                    let sql = format!(
                        "SHOW {}TABLES FROM `{}`",
                        if full { "FULL " } else { "" },
                        crate::exec::qualify::database_for(&ks).replace('`', "``")
                    );
                    ex.run_on_first_shard(&self.session, &ks, &sql).await
                }
                Err(e) => Err(e),
            },
            Command::ShowTable {
                keyspace,
                sql_for,
                table,
            } => match self.keyspace_or(keyspace) {
                Ok(ks) => {
                    let db = crate::exec::qualify::database_for(&ks);
                    let sql = special::table_show_sql(sql_for, db, &table);
                    ex.run_on_first_shard(&self.session, &ks, &sql).await
                }
                Err(e) => Err(e),
            },
            Command::ShowOther => {
                let snap = ex.routing.snapshot();
                let ks = self
                    .session
                    .keyspace
                    .clone()
                    .or_else(|| snap.keyspaces.keys().next().cloned());
                match ks {
                    Some(ks) => ex.run_on_first_shard(&self.session, &ks, sql).await,
                    None => Err(ExecError::mysql(1105, "no keyspace is serving")),
                }
            }
            Command::Use(target) => self.use_target(&target).map(|()| ResultSet::ok(0)),
            Command::Begin => {
                let r = if self.session.in_transaction {
                    ex.commit(&mut self.session).await
                } else {
                    Ok(())
                };
                r.map(|()| {
                    self.session.in_transaction = true;
                    ResultSet::ok(0)
                })
            }
            Command::Commit => ex
                .commit(&mut self.session)
                .await
                .map(|()| ResultSet::ok(0)),
            Command::Rollback => {
                ex.rollback(&mut self.session).await;
                Ok(ResultSet::ok(0))
            }
            Command::Set(assignments) => self.set(assignments).await.map(|()| ResultSet::ok(0)),
            Command::SetIgnored => Ok(ResultSet::ok(0)),
            Command::CreateDatabase(_) => self.create_database(sql).await,
            Command::DropDatabase(_) => self.drop_database(sql).await,
        };
        (label, Outcome::Done(res))
    }

    async fn plan_and_run(&mut self, sql: &str) -> (&'static str, Outcome) {
        let stmt = match parse_one(sql) {
            Ok(s) => s,
            Err(e) => return ("Invalid", Outcome::Done(Err(e))),
        };
        if let Some(items) = special::constant_select(&stmt) {
            let res = special::select_constants(&items, &self.session);
            return ("Special", Outcome::Done(res));
        }
        let (label, res) = self.plan_parsed(stmt, sql);
        match res {
            Ok(plan) => self.run_planned(label, plan).await,
            Err(e) => (label, Outcome::Done(Err(e))),
        }
    }

    /// Streams `plan`'s rows, or runs it to a result.
    async fn run_planned(&mut self, label: &'static str, plan: Plan) -> (&'static str, Outcome) {
        let gate = self.gate.clone();
        if gate.executor.streamable(&self.session, &plan) {
            return (label, Outcome::Stream(Box::new(plan)));
        }
        let res = gate.executor.run_plan(&mut self.session, &plan).await;
        (label, Outcome::Done(res))
    }

    /// The plan of text query `sql` from the template of its normalized
    /// form, if it has one that can route its literals.
    fn text_template_plan(&self, sql: &str) -> Option<Plan> {
        let (normal, literals) = planner::normalize(sql)?;
        let gate = &self.gate;
        let snapshot = gate.executor.routing.snapshot();
        let ks = self.session.keyspace.as_deref();
        let tt = self.session.tablet_type;
        let template = match gate.plan_cache.get(&snapshot, &normal, ks, tt) {
            Some(cached) => cached?,
            None => {
                let built = plannable(sql)
                    .and_then(|_| parse_one(&normal).ok())
                    .and_then(|stmt| build_template(stmt, &normal, &snapshot, &self.session))
                    .map(Arc::new);
                gate.plan_cache
                    .put(&snapshot, normal, ks, tt, built.clone());
                built?
            }
        };
        template.bind(literals.as_slice())
    }

    /// The plan of prepared statement `id` for `values` from its template,
    /// if it has one that can route them (see [`Template`]).
    fn bound_plan(&mut self, id: u32, values: &[crate::merge::Value]) -> Option<Plan> {
        let snapshot = self.gate.executor.routing.snapshot();
        let session = &self.session;
        let prepared = self.stmts.get_mut(&id)?;
        let current = prepared.template.as_ref().is_some_and(|c| {
            Arc::ptr_eq(&c.snapshot, &snapshot)
                && c.keyspace == session.keyspace
                && c.tablet_type == session.tablet_type
        });
        if !current {
            let template = plannable(&prepared.sql)
                .and_then(|stmt| build_template(stmt, &prepared.sql, &snapshot, session));
            prepared.template = Some(CachedTemplate {
                snapshot,
                keyspace: session.keyspace.clone(),
                tablet_type: session.tablet_type,
                template,
            });
        }
        prepared.template.as_ref()?.template.as_ref()?.bind(values)
    }

    /// Plans `stmt`, which [`parse_one`] made of `sql`.
    fn plan_parsed(
        &mut self,
        stmt: Statement,
        sql: &str,
    ) -> (&'static str, Result<Plan, ExecError>) {
        let gate = self.gate.clone();
        let snap = gate.executor.routing.snapshot();
        let empty = SrvVSchema::default();
        let ctx = PlanContext {
            vschema: snap.vschema.as_deref().unwrap_or(&empty),
            srv_keyspaces: &snap.srv_keyspaces,
            default_keyspace: self.session.keyspace.as_deref(),
            tablet_type: self.session.tablet_type,
            bind_values: &[],
        };
        match planner::plan(stmt, sql, &ctx) {
            Ok(p) => (p.route.as_str(), Ok(p)),
            Err(e) => ("Invalid", Err(e.into())),
        }
    }

    /// Writes what a statement produced; returns (rows, affected) or the
    /// statement's error for logging.
    async fn respond<W: AsyncWrite + Send + Unpin>(
        &mut self,
        out: Outcome,
        w: QueryResultWriter<'_, W>,
        binary: bool,
    ) -> io::Result<Result<(usize, u64), ExecError>> {
        let status = self.status();
        match out {
            Outcome::Done(Ok(rs)) => {
                write_result(w, &rs, binary, status).await?;
                Ok(Ok((rs.rows.len(), rs.rows_affected)))
            }
            Outcome::Done(Err(e)) => {
                write_error(w, &e.to_mysql()).await?;
                Ok(Err(e))
            }
            Outcome::Stream(plan) => {
                let gate = self.gate.clone();
                let r =
                    stream_plan(&gate.executor, &self.session, &plan, w, binary, status).await?;
                Ok(r.map(|n| (n, 0)))
            }
        }
    }

    fn keyspace_or(&self, ks: Option<String>) -> Result<String, ExecError> {
        ks.or_else(|| self.session.keyspace.clone())
            .ok_or_else(|| ExecError::mysql(1046, "No database selected"))
    }

    fn use_target(&mut self, target: &str) -> Result<(), ExecError> {
        let (ks, tt) = Session::parse_target(target).map_err(|m| ExecError::mysql(1049, m))?;
        if !self
            .gate
            .executor
            .routing
            .snapshot()
            .keyspaces
            .contains_key(&ks)
        {
            return Err(ExecError::mysql(1049, format!("Unknown database '{ks}'")));
        }
        self.session.keyspace = Some(ks);
        self.session.tablet_type = tt;
        Ok(())
    }

    async fn set(&mut self, assignments: Vec<(String, String)>) -> Result<(), ExecError> {
        for (name, expr) in assignments {
            let lower = name.to_ascii_lowercase();
            if lower.starts_with("global ") || lower.starts_with("@@global.") {
                return Err(ExecError::unsupported("SET GLOBAL through the gate"));
            }
            if name.starts_with('@') && !name.starts_with("@@") {
                return Err(ExecError::unsupported("user variables (SET @var)"));
            }
            match self.session.set_var(&name, &expr) {
                SetOutcome::Consumed => {}
                SetOutcome::AutocommitOn => {
                    let gate = self.gate.clone();
                    gate.executor.commit(&mut self.session).await?;
                }
                SetOutcome::Invalid(m) => return Err(ExecError::mysql(1231, m)),
            }
        }
        Ok(())
    }

    async fn create_database(&mut self, sql: &str) -> Result<ResultSet, ExecError> {
        let gate = self.gate.clone();
        super::dbddl::create_database(&gate, &mut self.session, sql).await
    }

    async fn drop_database(&mut self, sql: &str) -> Result<ResultSet, ExecError> {
        let gate = self.gate.clone();
        super::dbddl::drop_database(&gate, &mut self.session, sql).await
    }

    fn finish(
        &mut self,
        sql: &str,
        label: &str,
        started: Instant,
        res: &Result<(usize, u64), ExecError>,
    ) {
        let elapsed = started.elapsed();
        let code = res.as_ref().err().map(|e| e.to_mysql().code);
        self.gate.metrics.record(label, elapsed, code);
        if self.gate.query_log {
            match res {
                Ok((rows, affected)) => tracing::info!(
                    target: "query_log",
                    connection = self.session.connection_id,
                    user = %self.session.user,
                    plan = label,
                    ms = elapsed.as_secs_f64() * 1000.0,
                    rows,
                    affected,
                    sql
                ),
                Err(e) => tracing::info!(
                    target: "query_log",
                    connection = self.session.connection_id,
                    user = %self.session.user,
                    plan = label,
                    ms = elapsed.as_secs_f64() * 1000.0,
                    error = %e,
                    sql
                ),
            }
        }
    }
}

#[async_trait]
impl<W: AsyncWrite + Send + Unpin> AsyncMysqlShim<W> for Handler {
    type Error = io::Error;

    fn version(&self) -> String {
        special::HANDSHAKE_VERSION.to_string()
    }

    fn connect_id(&self) -> u32 {
        self.session.connection_id
    }

    fn salt(&self) -> [u8; 20] {
        self.salt
    }

    async fn authenticate(
        &self,
        auth_plugin: &str,
        username: &[u8],
        salt: &[u8],
        auth_data: &[u8],
    ) -> bool {
        let user = String::from_utf8_lossy(username).into_owned();
        let ok = auth_plugin == "mysql_native_password"
            && self.gate.users.check_native(&user, salt, auth_data);
        if ok {
            self.phase.start();
            if let Ok(mut u) = self.user.lock() {
                *u = Some(user);
            }
        } else {
            self.gate.metrics.auth_failures.inc();
            self.failure.set(
                1045,
                format!(
                    "Access denied for user '{user}'@'{}' (using password: {})",
                    self.host,
                    if auth_data.is_empty() { "NO" } else { "YES" }
                ),
            );
        }
        ok
    }

    async fn on_prepare<'a>(
        &'a mut self,
        query: &'a str,
        info: StatementMetaWriter<'a, W>,
    ) -> io::Result<()> {
        self.apply_reset().await;
        let columns = match Parser::parse_sql(&MySqlDialect {}, &query.replace('?', "NULL")) {
            Ok(stmts) => stmts.first().map(result_columns).unwrap_or_default(),
            Err(e) => {
                return info
                    .error(
                        ErrorKind::ER_PARSE_ERROR,
                        format!("You have an error in your SQL syntax: {e}").as_bytes(),
                    )
                    .await;
            }
        };
        let id = self.next_stmt;
        self.next_stmt = self.next_stmt.wrapping_add(1).max(1);
        let params: Vec<Column> = placeholders(query)
            .iter()
            .map(|_| Column {
                table: String::new(),
                column: "?".into(),
                coltype: ColumnType::MYSQL_TYPE_VAR_STRING,
                colflags: ColumnFlags::empty(),
            })
            .collect();
        self.param_counts.set(id, params.len());
        self.stmts.insert(
            id,
            Prepared {
                sql: query.to_string(),
                params,
                columns,
                template: None,
            },
        );
        let this: &'a Self = self;
        let (params, columns): (&'a [Column], &'a [Column]) = this
            .stmts
            .get(&id)
            .map_or((NO_COLUMNS, NO_COLUMNS), |p| (&p.params, &p.columns));
        info.reply(id, params.iter(), columns.iter()).await
    }

    async fn on_execute<'a>(
        &'a mut self,
        id: u32,
        params: ParamParser<'a>,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        let started = Instant::now();
        self.apply_reset().await;
        let Some(sql) = self.stmts.get(&id).map(|p| p.sql.clone()) else {
            return write_error(
                results,
                &ExecError::mysql(1243, format!("Unknown prepared statement handler ({id})"))
                    .to_mysql(),
            )
            .await;
        };
        let values: Result<Vec<_>, String> = params.into_iter().map(|p| param_value(&p)).collect();
        let bound = match &values {
            Ok(v) => self.bound_plan(id, v),
            Err(_) => None,
        };
        let (label, out) = match bound {
            Some(plan) => {
                self.sync_user();
                self.run_planned(plan.route.as_str(), plan).await
            }
            None => match values.and_then(|v| interpolate(&sql, &v)) {
                Ok(full) => self.run_sql(&full).await,
                Err(m) => ("Invalid", Outcome::Done(Err(ExecError::mysql(1210, m)))),
            },
        };
        let res = self.respond(out, results, true).await?;
        self.finish(&sql, label, started, &res);
        Ok(())
    }

    async fn on_close<'a>(&'a mut self, stmt: u32)
    where
        W: 'async_trait,
    {
        self.stmts.remove(&stmt);
        self.param_counts.remove(stmt);
    }

    async fn on_query<'a>(
        &'a mut self,
        query: &'a str,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        // A command the client reader refused (see `client_packets`).
        if let Some(e) = rejected(query) {
            let started = Instant::now();
            let written = write_error(results, &e).await;
            self.gate
                .metrics
                .record("Refused", started.elapsed(), Some(e.code));
            return written;
        }
        let started = Instant::now();
        let (label, out) = self.run_sql(query).await;
        let res = self.respond(out, results, false).await?;
        self.finish(query, label, started, &res);
        Ok(())
    }

    async fn on_init<'a>(&'a mut self, db: &'a str, w: InitWriter<'a, W>) -> io::Result<()> {
        self.apply_reset().await;
        self.sync_user();
        match self.use_target(db) {
            Ok(()) => w.ok().await,
            Err(e) => {
                let m = e.to_mysql();
                w.error(ErrorKind::from(m.code), m.message.as_bytes()).await
            }
        }
    }
}

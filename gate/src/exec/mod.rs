//! Executing plans: per-shard SQL to tablets (over gRPC, or in process; see
//! [`conns`]), in parallel for
//! scatter routes, results merged with [`crate::merge`].
//!
//! Contract with the session: autocommit statements run on pooled tablet
//! connections; once the session is in a transaction every statement for a
//! primary runs inside a tablet transaction per shard touched (begun lazily,
//! ids kept in [`Session::shard_txs`]). COMMIT commits shard by shard and
//! stops at the first failure, rolling back the rest and saying which
//! shards already committed.
//!
//! Buffering during primary changes: a statement for a primary that finds
//! no primary, or is refused by a tablet that is no longer primary, waits
//! for the topology to name a new one (up to [`Executor::buffer_window`])
//! and is then sent again. A refusal means nothing ran, so replaying is
//! safe; a broken connection is retried only for reads, since a write may
//! have been applied.

pub mod conns;
pub mod error;
pub mod qualify;
pub mod result;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use topo::records::TabletType;

use crate::merge;
use crate::metrics::Metrics;
use crate::planner::{Plan, RouteKind, StatementKind};
use crate::session::{Session, ShardKey, ShardTx};
use crate::topo_watch::{Routing, Target};
use conns::{BindVars, TabletClient, TabletConns};
pub use conns::{LocalTablets, RowSink, StreamFailure};
pub use error::{ExecError, MysqlErr};
use qualify::{database_for, qualify};
pub use result::{Col, ResultSet};

pub struct Executor {
    pub routing: Routing,
    conns: TabletConns,
    pub metrics: Arc<Metrics>,
    /// How long a PRIMARY statement may wait for a new primary.
    pub buffer_window: Duration,
}

impl Executor {
    pub fn new(routing: Routing, metrics: Arc<Metrics>) -> Executor {
        Executor::with_local_tablets(routing, metrics, LocalTablets::default())
    }

    /// An executor that calls the tablets in `local` (running in this
    /// process) without going through the network.
    pub fn with_local_tablets(
        routing: Routing,
        metrics: Arc<Metrics>,
        local: LocalTablets,
    ) -> Executor {
        Executor {
            routing,
            conns: TabletConns::new(local),
            metrics,
            buffer_window: Duration::from_secs(10),
        }
    }

    /// Runs `plan` for `session`.
    pub async fn run_plan(
        &self,
        session: &mut Session,
        plan: &Plan,
    ) -> Result<ResultSet, ExecError> {
        if plan.statement == StatementKind::Ddl && session.in_transaction {
            // MariaDB commits implicitly before DDL.
            self.commit(session).await?;
        }
        let in_tx = session.wants_transaction()
            && plan.tablet_type == TabletType::Primary
            && plan.statement != StatementKind::Ddl;
        if in_tx
            && plan.queries.len() > 1
            && matches!(
                plan.statement,
                StatementKind::Update | StatementKind::Delete
            )
            && matches!(plan.route, RouteKind::Scatter | RouteKind::AllShards)
        {
            return Err(ExecError::unsupported(
                "multi-shard UPDATE/DELETE without a primary vindex condition inside a transaction; \
                 add a condition on the sharding key or run it with autocommit",
            ));
        }
        let sqls = self.shard_sql(session, plan);
        let results = if in_tx {
            session.in_transaction = true;
            let mut out = Vec::with_capacity(sqls.len());
            for (shard, sql) in &sqls {
                out.push(
                    self.execute_in_tx(session, &plan.keyspace, shard, sql, &plan.bind_vars)
                        .await?,
                );
            }
            out
        } else {
            let is_write = plan.statement.is_write();
            let futs = sqls.iter().map(|(shard, sql)| {
                self.execute_autocommit(
                    &plan.keyspace,
                    shard,
                    plan.tablet_type,
                    sql,
                    &plan.bind_vars,
                    is_write,
                )
            });
            futures::future::try_join_all(futs).await?
        };
        let out = combine(plan, results)?;
        if out.insert_id != 0 {
            session.last_insert_id = out.insert_id;
        }
        Ok(out)
    }

    /// Whether `plan`'s rows can be streamed to the client as they come
    /// (no merge, no transaction): such reads use StreamExecute, which has
    /// no row limit, instead of Execute.
    pub fn streamable(&self, session: &Session, plan: &Plan) -> bool {
        plan.statement == StatementKind::Select
            && plan.merge.is_none()
            && !(session.wants_transaction() && plan.tablet_type == TabletType::Primary)
    }

    /// The per-shard SQL of `plan`, as sent to tablets.
    pub fn shard_sql(&self, session: &Session, plan: &Plan) -> Vec<(String, String)> {
        let db = database_for(&plan.keyspace);
        plan.queries
            .iter()
            .map(|q| {
                let sql = if plan.qualified {
                    session.apply_vars(&q.sql)
                } else {
                    session.apply_vars(&qualify(&q.sql, db))
                };
                (q.shard.clone(), sql)
            })
            .collect()
    }

    /// Streams `sql`'s result on `keyspace/shard` into `sink`. Until the
    /// first chunk reaches the sink, a missing primary is waited for like
    /// any read (see [`Executor::buffer_window`]); after that an error
    /// ends the stream.
    pub async fn stream<S: RowSink>(
        &self,
        keyspace: &str,
        shard: &str,
        tablet_type: TabletType,
        sql: &str,
        vars: &BindVars,
        sink: &mut S,
    ) -> Result<(), StreamError> {
        let deadline = Instant::now() + self.buffer_window;
        let mut buffered = false;
        loop {
            let err = match self.routing.target(keyspace, shard, tablet_type) {
                Err(e) => ExecError::from(e),
                Ok(target) => {
                    let mut client = self.conns.client(&target.addr)?;
                    match client.stream(sql, vars, sink).await {
                        Ok(()) => return Ok(()),
                        Err(StreamFailure::Client(e)) => return Err(StreamError::Client(e)),
                        Err(StreamFailure::Tablet(s)) => {
                            let e = ExecError::from_status(&target.alias.to_string(), &s);
                            if sink.started() {
                                return Err(e.into());
                            }
                            e
                        }
                    }
                }
            };
            self.buffer(
                keyspace,
                shard,
                tablet_type,
                true,
                err,
                deadline,
                &mut buffered,
            )
            .await?;
        }
    }

    /// Runs `sql` on the first shard of `keyspace` (SHOW CREATE TABLE…).
    pub async fn run_on_first_shard(
        &self,
        session: &Session,
        keyspace: &str,
        sql: &str,
    ) -> Result<ResultSet, ExecError> {
        let snap = self.routing.snapshot();
        let shard = snap
            .keyspaces
            .get(keyspace)
            .and_then(|k| k.shards.first())
            .map(|s| s.name.clone())
            .ok_or_else(|| ExecError::mysql(1049, format!("Unknown database '{keyspace}'")))?;
        let none = BindVars::new();
        self.execute_autocommit(keyspace, &shard, session.tablet_type, sql, &none, false)
            .await
    }

    /// Runs `sql` with autocommit on the primary of `keyspace/shard`, as a
    /// write (waits for a primary, never replays after a broken
    /// connection). For statements the gate issues itself (CREATE/DROP
    /// DATABASE on a host shard).
    pub async fn run_on_primary(
        &self,
        keyspace: &str,
        shard: &str,
        sql: &str,
    ) -> Result<ResultSet, ExecError> {
        let none = BindVars::new();
        self.execute_autocommit(keyspace, shard, TabletType::Primary, sql, &none, true)
            .await
    }

    async fn execute_in_tx(
        &self,
        session: &mut Session,
        keyspace: &str,
        shard: &str,
        sql: &str,
        vars: &BindVars,
    ) -> Result<ResultSet, ExecError> {
        let key = ShardKey {
            keyspace: keyspace.to_string(),
            shard: shard.to_string(),
        };
        let tx = match session.shard_txs.get(&key) {
            Some(tx) => tx.clone(),
            None => {
                let (target, id) = self
                    .with_primary(
                        keyspace,
                        shard,
                        TabletType::Primary,
                        true,
                        |_, mut c| async move { c.begin().await },
                    )
                    .await?;
                let tx = ShardTx {
                    addr: target.addr,
                    transaction_id: id,
                };
                session.shard_txs.insert(key, tx.clone());
                tx
            }
        };
        let mut client = self.conns.client(&tx.addr)?;
        client
            .execute(sql, vars, tx.transaction_id)
            .await
            .map_err(|s| ExecError::from_status(&tx.addr, &s))
    }

    async fn execute_autocommit(
        &self,
        keyspace: &str,
        shard: &str,
        tablet_type: TabletType,
        sql: &str,
        vars: &BindVars,
        is_write: bool,
    ) -> Result<ResultSet, ExecError> {
        let (_, r) = self
            .with_primary(
                keyspace,
                shard,
                tablet_type,
                !is_write,
                |_, mut c| async move { c.execute(sql, vars, 0).await },
            )
            .await?;
        Ok(r)
    }

    /// Calls `f` on the tablet serving `keyspace/shard` as `tablet_type`,
    /// waiting for a new primary on "no/not primary" (and on unreachable
    /// tablets when `retry_unavailable`), until the buffer window ends.
    async fn with_primary<T, F, Fut>(
        &self,
        keyspace: &str,
        shard: &str,
        tablet_type: TabletType,
        retry_unavailable: bool,
        f: F,
    ) -> Result<(Target, T), ExecError>
    where
        F: Fn(Target, TabletClient) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let deadline = Instant::now() + self.buffer_window;
        let mut buffered = false;
        loop {
            let attempt = async {
                let target = self.routing.target(keyspace, shard, tablet_type)?;
                let client = self.conns.client(&target.addr)?;
                let alias = target.alias.to_string();
                f(target.clone(), client)
                    .await
                    .map(|v| (target, v))
                    .map_err(|s| ExecError::from_status(&alias, &s))
            };
            let err = match attempt.await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            self.buffer(
                keyspace,
                shard,
                tablet_type,
                retry_unavailable,
                err,
                deadline,
                &mut buffered,
            )
            .await?;
        }
    }

    /// After `err`: returns it when waiting cannot help (not a primary
    /// statement, another kind of error, or the window is over), else
    /// waits for the topology to change (or a short while: health changes
    /// do not touch the snapshot) so the caller can try again.
    #[allow(clippy::too_many_arguments)]
    async fn buffer(
        &self,
        keyspace: &str,
        shard: &str,
        tablet_type: TabletType,
        retry_unavailable: bool,
        err: ExecError,
        deadline: Instant,
        buffered: &mut bool,
    ) -> Result<(), ExecError> {
        let retry = tablet_type == TabletType::Primary
            && (err.wants_new_primary()
                || (retry_unavailable && matches!(err, ExecError::Unavailable(_))));
        if !retry || Instant::now() >= deadline {
            return Err(err);
        }
        if !*buffered {
            *buffered = true;
            self.metrics.buffered.inc();
            tracing::info!(keyspace, shard, error = %err, "buffering until a primary serves");
        }
        let wake = deadline.min(Instant::now() + Duration::from_millis(100));
        self.routing.changed(wake).await;
        Ok(())
    }

    pub async fn commit(&self, session: &mut Session) -> Result<(), ExecError> {
        let txs = std::mem::take(&mut session.shard_txs);
        session.in_transaction = false;
        let mut committed: Vec<String> = Vec::new();
        let mut iter = txs.into_iter();
        while let Some((key, tx)) = iter.next() {
            let name = format!("{}/{}", key.keyspace, key.shard);
            let res = match self.conns.client(&tx.addr) {
                Ok(mut c) => c
                    .commit(tx.transaction_id)
                    .await
                    .map_err(|s| ExecError::from_status(&tx.addr, &s)),
                Err(e) => Err(e),
            };
            if let Err(e) = res {
                let rest: Vec<(ShardKey, ShardTx)> = iter.collect();
                for (_, tx) in &rest {
                    self.rollback_one(tx).await;
                }
                let msg = if committed.is_empty() {
                    format!("COMMIT failed on shard {name}: {}", e.to_mysql().message)
                } else {
                    format!(
                        "COMMIT failed on shard {name} after shard(s) {} committed: the transaction is \
                         partially applied: {}",
                        committed.join(", "),
                        e.to_mysql().message
                    )
                };
                return Err(ExecError::mysql(1180, msg));
            }
            committed.push(name);
        }
        Ok(())
    }

    pub async fn rollback(&self, session: &mut Session) {
        let txs = std::mem::take(&mut session.shard_txs);
        session.in_transaction = false;
        for tx in txs.values() {
            self.rollback_one(tx).await;
        }
    }

    async fn rollback_one(&self, tx: &ShardTx) {
        if let Ok(mut c) = self.conns.client(&tx.addr) {
            if let Err(s) = c.rollback(tx.transaction_id).await {
                tracing::warn!(tablet = %tx.addr, error = %s, "rollback failed");
            }
        }
    }
}

/// How a streamed statement ended badly.
#[derive(Debug)]
pub enum StreamError {
    /// The statement failed (the client is told).
    Exec(ExecError),
    /// The client's connection failed (nobody to tell).
    Client(std::io::Error),
}

impl From<ExecError> for StreamError {
    fn from(e: ExecError) -> StreamError {
        StreamError::Exec(e)
    }
}

/// Folds per-shard results into the client's result.
fn combine(plan: &Plan, results: Vec<ResultSet>) -> Result<ResultSet, ExecError> {
    if plan.statement != StatementKind::Select {
        let mut out = ResultSet::default();
        for r in &results {
            out.rows_affected += r.rows_affected;
            out.warnings = out.warnings.saturating_add(r.warnings);
            if out.insert_id == 0 {
                out.insert_id = r.insert_id;
            }
        }
        if results.len() == 1 {
            out.info = results[0].info.clone();
        }
        return Ok(out);
    }
    let mut columns = results
        .iter()
        .find(|r| !r.columns.is_empty())
        .map(|r| r.columns.clone())
        .unwrap_or_default();
    let warnings = results
        .iter()
        .fold(0u16, |w, r| w.saturating_add(r.warnings));
    let rows = match &plan.merge {
        Some(spec) if results.len() > 1 || !spec.is_noop() || spec.visible_columns != 0 => {
            let shard_rows: Vec<Vec<merge::Row>> = results
                .iter()
                .map(|r| {
                    r.rows
                        .iter()
                        .map(|row| {
                            row.iter()
                                .zip(&columns)
                                .map(|(cell, col)| result::to_value(col, cell))
                                .collect()
                        })
                        .collect()
                })
                .collect();
            let merged = merge::apply(spec, shard_rows)
                .map_err(|e| ExecError::mysql(1105, e.to_string()))?;
            let visible = if spec.visible_columns == 0 {
                columns.len()
            } else {
                spec.visible_columns.min(columns.len())
            };
            columns.truncate(visible);
            merged
                .iter()
                .map(|r| r.iter().take(visible).map(result::from_value).collect())
                .collect()
        }
        _ => results.into_iter().flat_map(|r| r.rows).collect(),
    };
    Ok(ResultSet {
        columns,
        rows,
        warnings,
        ..ResultSet::default()
    })
}

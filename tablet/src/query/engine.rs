//! The engine: pools, timeouts, row limits, transactions.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool, PoolConstraints, PoolOpts};
use tokio::sync::mpsc;

use super::bind::{bind, BindValue, BoundSql};
use super::classify::{classify, first_keyword, may_leave_session_state, StatementKind};
use super::exec::{run_query, stream_query, ChunkLimit};
use super::lane::{release, ConnHealth, Lanes, IDLE_CONNECTION_TTL};
use super::result::{Cell, Column, QueryResult};
use super::tx::{Tx, TxTable};
use crate::error::{Error, Result};
use crate::mysqlctl::Mysqld;
use crate::state::TabletState;
use crate::types::TabletType;

#[derive(Debug, Clone)]
pub struct QueryConfig {
    /// Connections for autocommit queries and transactions together, per
    /// runtime that sends statements (see [`lane`](super::lane)).
    pub pool_size: usize,
    /// Default per-query timeout (a request may ask for a different one).
    pub query_timeout: Duration,
    pub max_rows: usize,
    /// Transactions older than this are rolled back.
    pub tx_timeout: Duration,
    /// A StreamExecute message is sent when it holds this many rows…
    pub stream_chunk_rows: usize,
    /// …or this many bytes of values, whichever comes first (gRPC messages
    /// are limited to 4 MiB by default).
    pub stream_chunk_bytes: usize,
    /// How long a killed statement may take to give its connection back.
    pub kill_grace: Duration,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            pool_size: 16,
            query_timeout: Duration::from_secs(30),
            max_rows: 10_000,
            tx_timeout: Duration::from_secs(30),
            stream_chunk_rows: 256,
            stream_chunk_bytes: 256 * 1024,
            kill_grace: Duration::from_secs(5),
        }
    }
}

/// A stream's receiver went away (its client left).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkClosed;

/// Where a stream's chunks go: a channel feeding a gRPC StreamExecute, or
/// a gate in this process writing rows straight to its client.
pub trait ChunkSink: Send {
    fn chunk(
        &mut self,
        chunk: StreamChunk,
    ) -> impl Future<Output = std::result::Result<(), SinkClosed>> + Send;
}

impl ChunkSink for mpsc::Sender<Result<StreamChunk>> {
    async fn chunk(&mut self, chunk: StreamChunk) -> std::result::Result<(), SinkClosed> {
        self.send(Ok(chunk)).await.map_err(|_| SinkClosed)
    }
}

/// A sink that remembers whether it refused a chunk.
struct Watched<'s, S> {
    sink: &'s mut S,
    closed: bool,
}

impl<S: ChunkSink> ChunkSink for Watched<'_, S> {
    async fn chunk(&mut self, chunk: StreamChunk) -> std::result::Result<(), SinkClosed> {
        let r = self.sink.chunk(chunk).await;
        self.closed |= r.is_err();
        r
    }
}

/// One StreamExecute message: the columns first, then rows in chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamChunk {
    Columns(Vec<Column>),
    Rows(Vec<Vec<Cell>>),
}

#[derive(Clone)]
pub struct QueryEngine {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: QueryConfig,
    /// Connections for queries and transactions, per runtime.
    lanes: Lanes,
    dba: Pool,
    state: Arc<TabletState>,
    txs: TxTable,
}

/// A pool that grows to `size` on demand and keeps its connections.
///
/// mysql_async keeps at most `min` idle connections unless an inactive TTL
/// is set, and `min` is 0 here (a tablet connects lazily): without the TTL
/// every released connection was closed and the next query paid a fresh
/// connect — the sysbench benchmark showed a new MariaDB connection per
/// point select. With it, idle connections stay pooled and only those idle
/// longer than the TTL are closed.
///
/// `reset_on_release` resets every connection when it is given back; the
/// query pool passes false and resets only after statements that may leave
/// session state (see [`mark_for_reset`]).
pub(crate) fn pool(opts: mysql_async::OptsBuilder, size: usize, reset_on_release: bool) -> Pool {
    let constraints = PoolConstraints::new(0, size.max(1)).unwrap_or_default();
    Pool::new(
        opts.pool_opts(
            PoolOpts::default()
                .with_constraints(constraints)
                .with_inactive_connection_ttl(IDLE_CONNECTION_TTL)
                .with_reset_connection(reset_on_release),
        ),
    )
}

/// Pooled connections are not reset on release (see
/// [`may_leave_session_state`]); one that ran a statement which may have
/// left session state behind (`leaves_state`, classified once per
/// statement) is reset before anyone else gets it.
fn mark_for_reset(conn: &mut Conn, leaves_state: bool) {
    if leaves_state {
        conn.reset_connection(true);
    }
}

impl QueryEngine {
    /// Pools connect lazily; nothing talks to mariadbd until the first query.
    pub fn new(mysqld: &Mysqld, state: Arc<TabletState>, cfg: QueryConfig) -> Self {
        let lanes = Lanes::new(mysqld.app_opts(), cfg.pool_size);
        let dba = pool(mysqld.dba_opts(), 2, true);
        QueryEngine {
            inner: Arc::new(Inner {
                cfg,
                lanes,
                dba,
                state,
                txs: TxTable::default(),
            }),
        }
    }

    pub fn config(&self) -> &QueryConfig {
        &self.inner.cfg
    }

    /// Open transactions right now.
    pub fn transaction_count(&self) -> usize {
        self.inner.txs.len()
    }

    /// Run one statement, in transaction `tx_id` or (0) autocommit.
    pub async fn execute(
        &self,
        sql: &str,
        vars: &HashMap<String, BindValue>,
        tx_id: u64,
        timeout: Option<Duration>,
    ) -> Result<QueryResult> {
        let inner = &self.inner;
        inner.check_write(sql)?;
        let bound = bind(sql, vars)?;
        let timeout = timeout.unwrap_or(inner.cfg.query_timeout);
        if tx_id != 0 {
            return inner.execute_in_tx(tx_id, &bound, timeout).await;
        }
        let leaves_state = may_leave_session_state(&bound.sql);
        let lane = inner.lanes.current()?;
        let (mut conn, parked) = lane.get_conn(timeout).await?;
        let (mut result, mut health) = inner.run(&mut conn, &bound, leaves_state, timeout).await;
        if parked && matches!(result, Err(Error::ConnectionClosed(_))) {
            release(conn, health).await;
            conn = lane.pool_conn(timeout).await?;
            (result, health) = inner.run(&mut conn, &bound, leaves_state, timeout).await;
        }
        lane.recycle(conn, health, !leaves_state).await;
        result
    }

    /// Run statements in order; stops at the first error. With
    /// `as_transaction` (and no `tx_id`) they run in a new transaction that
    /// is committed at the end or rolled back on error.
    pub async fn execute_batch(
        &self,
        queries: &[(String, HashMap<String, BindValue>)],
        as_transaction: bool,
        tx_id: u64,
        timeout: Option<Duration>,
    ) -> Result<Vec<QueryResult>> {
        let own_tx = as_transaction && tx_id == 0;
        let tx_id = if own_tx { self.begin().await? } else { tx_id };
        let mut results = Vec::with_capacity(queries.len());
        for (sql, vars) in queries {
            match self.execute(sql, vars, tx_id, timeout).await {
                Ok(r) => results.push(r),
                Err(e) => {
                    if own_tx {
                        // The error to report is `e`; a failed rollback just
                        // means the transaction is gone already.
                        let _ = self.rollback(tx_id).await;
                    }
                    return Err(e);
                }
            }
        }
        if own_tx {
            self.commit(tx_id).await?;
        }
        Ok(results)
    }

    /// Start a transaction on a dedicated connection; returns its id.
    pub async fn begin(&self) -> Result<u64> {
        let inner = &self.inner;
        let (mut conn, _) = inner
            .lanes
            .current()?
            .get_conn(inner.cfg.query_timeout)
            .await?;
        if let Err(e) = conn.query_drop("START TRANSACTION").await {
            release(conn, ConnHealth::Dead).await;
            return Err(e.into());
        }
        let tx = inner.txs.insert(conn);
        let reaper_inner = self.inner.clone();
        let id = tx.id;
        let reaper = tokio::spawn(async move {
            tokio::time::sleep(reaper_inner.cfg.tx_timeout).await;
            if let Ok(tx) = reaper_inner.txs.take(id) {
                tracing::warn!(id, "transaction timed out; rolling back");
                reaper_inner.abandon(tx).await;
            }
        });
        tx.set_reaper(reaper.abort_handle());
        Ok(id)
    }

    pub async fn commit(&self, tx_id: u64) -> Result<()> {
        self.inner.finish(tx_id, "COMMIT").await
    }

    pub async fn rollback(&self, tx_id: u64) -> Result<()> {
        self.inner.finish(tx_id, "ROLLBACK").await
    }

    /// Stream a (read) query's rows; no row limit. The per-query timeout
    /// covers the whole stream. Dropping the receiver kills the query.
    /// Errors found before the query starts (a write on a replica, bad bind
    /// variables) are returned here; later ones end the stream.
    pub fn stream_execute(
        &self,
        sql: &str,
        vars: &HashMap<String, BindValue>,
        timeout: Option<Duration>,
    ) -> Result<mpsc::Receiver<Result<StreamChunk>>> {
        let (bound, timeout) = self.inner.prepare(sql, vars, timeout)?;
        let (mut tx, rx) = mpsc::channel(4);
        let inner = self.inner.clone();
        tokio::spawn(async move {
            if let Err(e) = inner.stream(&bound, timeout, &mut tx).await {
                // If the receiver is gone the statement was stopped already.
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(rx)
    }

    /// Stream a (read) query's rows into `sink`, in the caller's task: what
    /// [`stream_execute`](Self::stream_execute) does, minus the task and
    /// the channel, for a gate running in this process. When `sink`
    /// refuses a chunk the statement is stopped and the result is
    /// [`Error::Unavailable`].
    pub async fn stream_into<S: ChunkSink>(
        &self,
        sql: &str,
        vars: &HashMap<String, BindValue>,
        timeout: Option<Duration>,
        sink: &mut S,
    ) -> Result<()> {
        let (bound, timeout) = self.inner.prepare(sql, vars, timeout)?;
        self.inner.stream(&bound, timeout, sink).await
    }

    /// Roll back every open transaction and close the pools.
    pub async fn close(&self) {
        for tx in self.inner.txs.drain() {
            tx.cancel_reaper();
            self.inner.abandon(tx).await;
        }
        for lane in self.inner.lanes.drain() {
            lane.close().await;
        }
        let _ = self.inner.dba.clone().disconnect().await;
    }
}

impl Inner {
    /// What every streamed statement checks before it runs.
    fn prepare(
        &self,
        sql: &str,
        vars: &HashMap<String, BindValue>,
        timeout: Option<Duration>,
    ) -> Result<(BoundSql, Duration)> {
        self.check_write(sql)?;
        let bound = bind(sql, vars)?;
        Ok((bound, timeout.unwrap_or(self.cfg.query_timeout)))
    }

    async fn stream<S: ChunkSink>(
        &self,
        bound: &BoundSql,
        timeout: Duration,
        sink: &mut S,
    ) -> Result<()> {
        let chunk = ChunkLimit {
            rows: self.cfg.stream_chunk_rows.max(1),
            bytes: self.cfg.stream_chunk_bytes.max(1),
        };
        let mut watched = Watched {
            sink,
            closed: false,
        };
        let leaves_state = may_leave_session_state(&bound.sql);
        let lane = self.lanes.current()?;
        let (mut conn, mut parked) = lane.get_conn(timeout).await?;
        loop {
            let conn_id = conn.id();
            mark_for_reset(&mut conn, leaves_state);
            let work = stream_query(&mut conn, bound, &mut watched, chunk);
            let (result, mut health) = self.with_kill(conn_id, timeout, work).await;
            if parked && matches!(result, Err(Error::ConnectionClosed(_))) {
                // Nothing was sent, so nothing reached the sink either.
                release(conn, health).await;
                conn = lane.pool_conn(timeout).await?;
                parked = false;
                continue;
            }
            if watched.closed {
                // The client left mid-stream: stop the statement.
                self.kill(conn_id, "CONNECTION").await;
                health = ConnHealth::Dead;
            }
            lane.recycle(conn, health, !leaves_state).await;
            return result;
        }
    }

    fn check_write(&self, sql: &str) -> Result<()> {
        let role = self.state.role();
        if role.tablet_type != TabletType::Primary && classify(sql) == StatementKind::Write {
            return Err(Error::NotPrimary(format!(
                "tablet {} is {}, not PRIMARY: refusing {} (send writes to the primary)",
                self.state.uid,
                role.tablet_type,
                first_keyword(sql)
            )));
        }
        Ok(())
    }

    async fn kill(&self, conn_id: u32, what: &str) {
        let stmt = format!("KILL {what} {conn_id}");
        let result = async {
            let mut c = self.dba.get_conn().await?;
            c.query_drop(&stmt).await
        };
        match tokio::time::timeout(self.cfg.kill_grace, result).await {
            Ok(Ok(())) => tracing::info!(conn_id, "{stmt}"),
            Ok(Err(e)) => tracing::warn!(conn_id, error = %e, "{stmt} failed"),
            Err(_) => tracing::warn!(conn_id, "{stmt} timed out"),
        }
    }

    /// Run `work` (which uses connection `conn_id`) with a deadline; past it,
    /// KILL QUERY, then give the statement `kill_grace` to end before killing
    /// the connection.
    async fn with_kill<T>(
        &self,
        conn_id: u32,
        timeout: Duration,
        work: impl Future<Output = Result<T>>,
    ) -> (Result<T>, ConnHealth) {
        tokio::pin!(work);
        tokio::select! {
            r = &mut work => {
                let health = match &r {
                    Err(Error::Unavailable(_) | Error::ConnectionClosed(_)) => ConnHealth::Dead,
                    _ => ConnHealth::Usable,
                };
                (r, health)
            }
            _ = tokio::time::sleep(timeout) => {
                self.kill(conn_id, "QUERY").await;
                let health = match tokio::time::timeout(self.cfg.kill_grace, &mut work).await {
                    Ok(Ok(_)) | Ok(Err(Error::Mysql(_))) => ConnHealth::Usable,
                    _ => {
                        self.kill(conn_id, "CONNECTION").await;
                        ConnHealth::Dead
                    }
                };
                (Err(Error::QueryTimeout { timeout }), health)
            }
        }
    }

    async fn run(
        &self,
        conn: &mut Conn,
        bound: &BoundSql,
        leaves_state: bool,
        timeout: Duration,
    ) -> (Result<QueryResult>, ConnHealth) {
        let conn_id = conn.id();
        let max_rows = self.cfg.max_rows;
        mark_for_reset(conn, leaves_state);
        self.with_kill(conn_id, timeout, run_query(conn, bound, max_rows))
            .await
    }

    async fn execute_in_tx(
        &self,
        tx_id: u64,
        bound: &BoundSql,
        timeout: Duration,
    ) -> Result<QueryResult> {
        let tx = self.txs.get(tx_id)?;
        let mut guard = tx.conn.lock().await;
        let conn = guard
            .as_mut()
            .ok_or(Error::UnknownTransaction { id: tx_id })?;
        let leaves_state = may_leave_session_state(&bound.sql);
        let (result, health) = self.run(conn, bound, leaves_state, timeout).await;
        if health == ConnHealth::Dead {
            // The server rolled the transaction back with the connection.
            guard.take();
            if self.txs.take(tx_id).is_ok() {
                tx.cancel_reaper();
            }
        }
        result
    }

    async fn finish(&self, tx_id: u64, stmt: &str) -> Result<()> {
        let tx = self.txs.take(tx_id)?;
        tx.cancel_reaper();
        let mut guard = tx.conn.lock().await;
        let mut conn = guard
            .take()
            .ok_or(Error::UnknownTransaction { id: tx_id })?;
        let r = conn.query_drop(stmt).await;
        let health = if r.is_ok() {
            ConnHealth::Usable
        } else {
            ConnHealth::Dead
        };
        release(conn, health).await;
        Ok(r?)
    }

    /// End a transaction nobody will finish: roll back if its connection is
    /// idle, else kill the connection (the running statement with it).
    async fn abandon(&self, tx: Arc<Tx>) {
        match tx.conn.try_lock() {
            Ok(mut guard) => {
                if let Some(mut conn) = guard.take() {
                    let rollback = conn.query_drop("ROLLBACK");
                    match tokio::time::timeout(self.cfg.kill_grace, rollback).await {
                        Ok(Ok(())) => release(conn, ConnHealth::Usable).await,
                        _ => {
                            self.kill(tx.conn_id, "CONNECTION").await;
                            release(conn, ConnHealth::Dead).await;
                        }
                    }
                }
            }
            Err(_) => self.kill(tx.conn_id, "CONNECTION").await,
        }
    }
}

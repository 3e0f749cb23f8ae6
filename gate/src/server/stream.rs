//! Streaming a plan's rows to the client as tablets send them: for reads
//! that need no merge and run outside a transaction (one shard, or shards
//! concatenated). Tablets use StreamExecute, so there is no row limit and
//! the gate holds one chunk at a time. An error after rows were sent ends
//! the result set with an error packet, as MariaDB does for a failing scan.

use std::io;
use std::sync::OnceLock;

use opensrv_mysql::{Column, ErrorKind, OkResponse, QueryResultWriter, RowWriter, StatusFlags};
use tokio::io::AsyncWrite;

use super::write::{column, kind, write_error, write_row, Kind};
use crate::exec::result::Cell;
use crate::exec::{Col, ExecError, Executor, RowSink, StreamError};
use crate::planner::Plan;
use crate::session::Session;

/// Streams `plan` into `w`. The outer error is the client connection's;
/// the inner one is what the statement ended with (for metrics and logs).
pub async fn stream_plan<W: AsyncWrite + Send + Unpin>(
    ex: &Executor,
    session: &Session,
    plan: &Plan,
    w: QueryResultWriter<'_, W>,
    binary: bool,
    status: StatusFlags,
) -> io::Result<Result<usize, ExecError>> {
    // The column definitions outlive the row writer that refers to them.
    let defs = OnceLock::new();
    let mut sink = ClientRows {
        defs: &defs,
        state: State::Waiting(w),
        binary,
        kinds: Vec::new(),
        sent: 0,
    };
    for (shard, sql) in ex.shard_sql(session, plan) {
        let r = ex
            .stream(
                &plan.keyspace,
                &shard,
                plan.tablet_type,
                &sql,
                &plan.bind_vars,
                &mut sink,
            )
            .await;
        match r {
            Ok(()) => {}
            Err(StreamError::Client(e)) => return Err(e),
            Err(StreamError::Exec(e)) => {
                sink.fail(&e).await?;
                return Ok(Err(e));
            }
        }
    }
    let sent = sink.sent;
    sink.finish(status).await?;
    Ok(Ok(sent))
}

/// The client's side of a stream: nothing sent yet, then rows.
enum State<'a, W: AsyncWrite + Send + Unpin> {
    Waiting(QueryResultWriter<'a, W>),
    /// The first shard's columns went out; every shard's rows follow.
    Rows(RowWriter<'a, W>),
    /// Finished, or a write failed.
    Done,
}

struct ClientRows<'a, W: AsyncWrite + Send + Unpin> {
    defs: &'a OnceLock<Vec<Column>>,
    state: State<'a, W>,
    binary: bool,
    kinds: Vec<Kind>,
    sent: usize,
}

impl<W: AsyncWrite + Send + Unpin> RowSink for ClientRows<'_, W> {
    async fn columns(&mut self, cols: Vec<Col>) -> io::Result<()> {
        // Later shards repeat the first one's columns; a statement without
        // columns has no result set and ends with an OK.
        if cols.is_empty() || !matches!(self.state, State::Waiting(_)) {
            return Ok(());
        }
        let State::Waiting(w) = std::mem::replace(&mut self.state, State::Done) else {
            return Ok(());
        };
        let binary = self.binary;
        let defs = self
            .defs
            .get_or_init(|| cols.iter().map(|c| column(c, binary)).collect());
        self.kinds = cols.iter().map(kind).collect();
        self.state = State::Rows(w.start(defs).await?);
        Ok(())
    }

    async fn rows(&mut self, rows: Vec<Vec<Cell>>) -> io::Result<()> {
        let State::Rows(rw) = &mut self.state else {
            return Err(io::Error::other("rows before columns in a tablet stream"));
        };
        for row in &rows {
            write_row(rw, &self.kinds, row, self.binary).await?;
        }
        self.sent += rows.len();
        Ok(())
    }

    fn started(&self) -> bool {
        !matches!(self.state, State::Waiting(_))
    }
}

impl<W: AsyncWrite + Send + Unpin> ClientRows<'_, W> {
    async fn finish(self, status: StatusFlags) -> io::Result<()> {
        match self.state {
            State::Waiting(w) => {
                w.completed(OkResponse {
                    status_flags: status,
                    ..OkResponse::default()
                })
                .await
            }
            State::Rows(rw) => rw.finish().await,
            State::Done => Ok(()),
        }
    }

    async fn fail(self, e: &ExecError) -> io::Result<()> {
        let m = e.to_mysql();
        match self.state {
            State::Waiting(w) => write_error(w, &m).await,
            State::Rows(rw) => {
                rw.finish_error(ErrorKind::from(m.code), &m.message.into_bytes())
                    .await
            }
            State::Done => Ok(()),
        }
    }
}

//! Streaming a plan's rows to the client as tablets send them: for reads
//! that need no merge and run outside a transaction (one shard, or shards
//! concatenated). Uses StreamExecute, so there is no row limit and the gate
//! holds one chunk at a time. An error after rows were sent ends the
//! result set with an error packet, as MariaDB does for a failing scan.

use std::io;

use opensrv_mysql::{ErrorKind, OkResponse, QueryResultWriter, StatusFlags};
use tokio::io::AsyncWrite;

use super::write::{column, kind, write_error, write_row};
use crate::exec::{Col, ExecError, Executor, ResultSet};
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
    let mut shards = ex.shard_sql(session, plan).into_iter();
    let Some((shard, sql)) = shards.next() else {
        w.completed(OkResponse {
            status_flags: status,
            ..OkResponse::default()
        })
        .await?;
        return Ok(Ok(0));
    };
    let opened = ex
        .open_stream(&plan.keyspace, &shard, plan.tablet_type, &sql)
        .await;
    let (mut alias, mut stream) = match opened {
        Ok(s) => s,
        Err(e) => {
            write_error(w, &e.to_mysql()).await?;
            return Ok(Err(e));
        }
    };
    let first = match stream.message().await {
        Ok(m) => m.and_then(|m| m.result).unwrap_or_default(),
        Err(s) => {
            let e = ExecError::from_status(&alias, &s);
            write_error(w, &e.to_mysql()).await?;
            return Ok(Err(e));
        }
    };
    let gcols: Vec<Col> = first.fields.iter().map(Col::from_pb).collect();
    if gcols.is_empty() {
        w.completed(OkResponse {
            status_flags: status,
            ..OkResponse::default()
        })
        .await?;
        return Ok(Ok(0));
    }
    let cols: Vec<_> = gcols.iter().map(|c| column(c, binary)).collect();
    let kinds: Vec<_> = gcols.iter().map(kind).collect();
    let mut rw = w.start(&cols).await?;
    let mut sent = 0usize;
    let mut chunk = ResultSet::from_pb(first).rows;
    loop {
        for row in &chunk {
            write_row(&mut rw, &kinds, row, binary).await?;
        }
        sent += chunk.len();
        let failed = match stream.message().await {
            Ok(Some(m)) => {
                chunk = ResultSet::from_pb(m.result.unwrap_or_default()).rows;
                continue;
            }
            Ok(None) => None,
            Err(s) => Some(ExecError::from_status(&alias, &s)),
        };
        if let Some(e) = failed {
            let m = e.to_mysql();
            rw.finish_error(ErrorKind::from(m.code), &m.message.into_bytes())
                .await?;
            return Ok(Err(e));
        }
        // This shard is done: go on with the next one, if any.
        let Some((shard, sql)) = shards.next() else {
            break;
        };
        match ex
            .open_stream(&plan.keyspace, &shard, plan.tablet_type, &sql)
            .await
        {
            Ok((a, s)) => {
                alias = a;
                stream = s;
                chunk = Vec::new();
            }
            Err(e) => {
                let m = e.to_mysql();
                rw.finish_error(ErrorKind::from(m.code), &m.message.into_bytes())
                    .await?;
                return Ok(Err(e));
            }
        }
    }
    rw.finish().await?;
    Ok(Ok(sent))
}

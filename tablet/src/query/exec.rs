//! Running one statement on one connection and turning its result set into
//! the tablet's types: collected (with the row limit) or streamed in chunks.

use super::bind::{BindValue, BoundSql};
use super::engine::{ChunkSink, StreamChunk};
use super::result::{to_text, Cell, Column, QueryResult};
use crate::error::{Error, Result};
use mysql_async::prelude::{Protocol, Queryable};
use mysql_async::{Conn, Params};

fn to_params(values: &[BindValue]) -> Params {
    Params::Positional(
        values
            .iter()
            .map(|v| match v {
                BindValue::Null => mysql_async::Value::NULL,
                BindValue::Int(i) => mysql_async::Value::Int(*i),
                BindValue::UInt(u) => mysql_async::Value::UInt(*u),
                BindValue::Double(d) => mysql_async::Value::Double(*d),
                BindValue::Bytes(b) => mysql_async::Value::Bytes(b.clone()),
            })
            .collect(),
    )
}

pub(super) async fn run_query(
    conn: &mut Conn,
    bound: &BoundSql,
    max_rows: usize,
) -> Result<QueryResult> {
    match &bound.params {
        None => collect(conn.query_iter(bound.sql.as_str()).await?, max_rows).await,
        Some(p) => {
            collect(
                conn.exec_iter(bound.sql.as_str(), to_params(p)).await?,
                max_rows,
            )
            .await
        }
    }
}

fn columns_of<P: Protocol>(r: &mysql_async::QueryResult<'_, 'static, P>) -> Vec<Column> {
    r.columns()
        .map(|cols| cols.iter().map(Column::from_mysql).collect())
        .unwrap_or_default()
}

fn row_cells(row: mysql_async::Row, columns: &[Column]) -> Vec<Cell> {
    row.unwrap_raw()
        .into_iter()
        .zip(columns)
        .map(|(v, c)| v.and_then(|v| to_text(v, c)))
        .collect()
}

/// The first result set (further ones are discarded).
async fn collect<P: Protocol>(
    mut r: mysql_async::QueryResult<'_, 'static, P>,
    max_rows: usize,
) -> Result<QueryResult> {
    let columns = columns_of(&r);
    let mut rows = Vec::new();
    while let Some(row) = r.next().await? {
        if rows.len() >= max_rows {
            r.drop_result().await?;
            return Err(Error::RowCountExceeded { max: max_rows });
        }
        rows.push(row_cells(row, &columns));
    }
    let result = QueryResult {
        rows_affected: r.affected_rows(),
        insert_id: r.last_insert_id().unwrap_or(0),
        info: r.info().into_owned(),
        warnings: r.warnings(),
        columns,
        rows,
    };
    r.drop_result().await?;
    Ok(result)
}

/// What a stream ends with when its sink stops taking chunks.
pub(super) const RECEIVER_GONE: &str = "stream receiver went away";

#[derive(Debug, Clone, Copy)]
pub(super) struct ChunkLimit {
    pub rows: usize,
    pub bytes: usize,
}

pub(super) async fn stream_query<S: ChunkSink>(
    conn: &mut Conn,
    bound: &BoundSql,
    out: &mut S,
    chunk: ChunkLimit,
) -> Result<()> {
    match &bound.params {
        None => stream_rows(conn.query_iter(bound.sql.as_str()).await?, out, chunk).await,
        Some(p) => {
            stream_rows(
                conn.exec_iter(bound.sql.as_str(), to_params(p)).await?,
                out,
                chunk,
            )
            .await
        }
    }
}

async fn stream_rows<P: Protocol, S: ChunkSink>(
    mut r: mysql_async::QueryResult<'_, 'static, P>,
    out: &mut S,
    chunk: ChunkLimit,
) -> Result<()> {
    let gone = |_| Error::Unavailable(RECEIVER_GONE.into());
    let columns = columns_of(&r);
    out.chunk(StreamChunk::Columns(columns.clone()))
        .await
        .map_err(gone)?;
    let mut rows = Vec::new();
    let mut bytes = 0;
    while let Some(row) = r.next().await? {
        let cells = row_cells(row, &columns);
        bytes += cells
            .iter()
            .map(|c| c.as_ref().map_or(0, Vec::len))
            .sum::<usize>();
        rows.push(cells);
        if rows.len() >= chunk.rows || bytes >= chunk.bytes {
            out.chunk(StreamChunk::Rows(std::mem::take(&mut rows)))
                .await
                .map_err(gone)?;
            bytes = 0;
        }
    }
    if !rows.is_empty() {
        out.chunk(StreamChunk::Rows(rows)).await.map_err(gone)?;
    }
    r.drop_result().await?;
    Ok(())
}

//! Writing [`ResultSet`]s and errors with opensrv-mysql's writers.
//!
//! Text protocol: every cell goes out as its text bytes under the shard's
//! column type. Binary protocol (prepared statements): integer columns are
//! sent as LONGLONG, floats as DOUBLE, everything else as strings, since
//! the binary encodings of dates and decimals are not worth re-deriving
//! from text here.

use std::io;

use opensrv_mysql::{
    Column, ColumnFlags, ColumnType, ErrorKind, OkResponse, QueryResultWriter, RowWriter,
    StatusFlags,
};
use tokio::io::AsyncWrite;

use crate::exec::result::Cell;
use crate::exec::{Col, MysqlErr, ResultSet};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Signed,
    Unsigned,
    Double,
    Bytes,
}

pub fn kind(c: &Col) -> Kind {
    match c.column_type {
        1 | 2 | 3 | 8 | 9 | 13 => {
            if c.is_unsigned() {
                Kind::Unsigned
            } else {
                Kind::Signed
            }
        }
        4 | 5 => Kind::Double,
        _ => Kind::Bytes,
    }
}

pub fn column(c: &Col, binary: bool) -> Column {
    let mut flags = ColumnFlags::from_bits_truncate(c.flags);
    flags.remove(ColumnFlags::NOT_NULL_FLAG);
    let coltype = if binary {
        match kind(c) {
            Kind::Signed | Kind::Unsigned => ColumnType::MYSQL_TYPE_LONGLONG,
            Kind::Double => ColumnType::MYSQL_TYPE_DOUBLE,
            Kind::Bytes => match c.column_type {
                249..=252 => ColumnType::MYSQL_TYPE_BLOB,
                _ => ColumnType::MYSQL_TYPE_VAR_STRING,
            },
        }
    } else {
        ColumnType::try_from(c.column_type).unwrap_or(ColumnType::MYSQL_TYPE_VAR_STRING)
    };
    Column {
        table: c.table.clone(),
        column: c.name.clone(),
        coltype,
        colflags: flags,
    }
}

pub fn status(in_transaction: bool, autocommit: bool) -> StatusFlags {
    let mut s = StatusFlags::empty();
    if in_transaction {
        s |= StatusFlags::SERVER_STATUS_IN_TRANS;
    }
    if autocommit {
        s |= StatusFlags::SERVER_STATUS_AUTOCOMMIT;
    }
    s
}

pub async fn write_result<W: AsyncWrite + Send + Unpin>(
    w: QueryResultWriter<'_, W>,
    rs: &ResultSet,
    binary: bool,
    status_flags: StatusFlags,
) -> io::Result<()> {
    if rs.columns.is_empty() {
        return w
            .completed(OkResponse {
                affected_rows: rs.rows_affected,
                last_insert_id: rs.insert_id,
                status_flags,
                warnings: rs.warnings,
                info: rs.info.clone(),
                ..OkResponse::default()
            })
            .await;
    }
    let cols: Vec<Column> = rs.columns.iter().map(|c| column(c, binary)).collect();
    let kinds: Vec<Kind> = rs.columns.iter().map(kind).collect();
    let mut rw = w.start(&cols).await?;
    for row in &rs.rows {
        write_row(&mut rw, &kinds, row, binary).await?;
    }
    rw.finish().await
}

/// One row; cells beyond the columns are dropped, missing ones are NULL.
pub async fn write_row<W: AsyncWrite + Send + Unpin>(
    rw: &mut RowWriter<'_, W>,
    kinds: &[Kind],
    row: &[Cell],
    binary: bool,
) -> io::Result<()> {
    for (i, kind) in kinds.iter().enumerate() {
        let Some(Some(bytes)) = row.get(i) else {
            rw.write_col(None::<&[u8]>)?;
            continue;
        };
        if !binary {
            rw.write_col(bytes.as_slice())?;
            continue;
        }
        let text = std::str::from_utf8(bytes).unwrap_or("").trim();
        match kind {
            Kind::Signed => rw.write_col(text.parse::<i64>().unwrap_or(0))?,
            Kind::Unsigned => rw.write_col(text.parse::<u64>().unwrap_or(0))?,
            Kind::Double => rw.write_col(text.parse::<f64>().unwrap_or(0.0))?,
            Kind::Bytes => rw.write_col(bytes.as_slice())?,
        }
    }
    rw.end_row().await
}

pub async fn write_error<W: AsyncWrite + Send + Unpin>(
    w: QueryResultWriter<'_, W>,
    e: &MysqlErr,
) -> io::Result<()> {
    w.error(ErrorKind::from(e.code), e.message.as_bytes()).await
}

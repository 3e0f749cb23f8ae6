//! The gRPC edge: generated types, conversions to and from the tablet's own
//! types, and the mapping of [`Error`] to a gRPC status. Nothing outside this
//! module sees protobuf.
//!
//! Errors carry an encoded [`pb::MysqlError`] in the status details, so a
//! gate forwards MariaDB's code, SQLSTATE and message exactly
//! ([`mysql_error`] decodes it on the client side). Tablet-side refusals are
//! expressed in MariaDB's terms too (e.g. writes on a replica → 1290, the
//! code MariaDB's own `read_only` uses; a query timeout → 1317).

pub mod query;
pub mod replication;

use std::collections::HashMap;

use prost::Message;
use tonic::{Code, Status};

use crate::error::{Error, MysqlError};
use crate::query::bind::BindValue;
use crate::query::result::{Column, QueryResult};
use crate::types::TabletType;

pub mod pb {
    tonic::include_proto!("vitrail.tablet");
}

pub use query::QueryServiceImpl;
pub use replication::ReplicationServiceImpl;

const ER_UNKNOWN_ERROR: u16 = 1105;
const ER_OPTION_PREVENTS_STATEMENT: u16 = 1290;
const ER_QUERY_INTERRUPTED: u16 = 1317;

fn grpc_code_for_mysql(code: u16) -> Code {
    match code {
        // syntax, unknown column/table/database, wrong value counts…
        1046 | 1049 | 1051 | 1054 | 1064 | 1136 | 1146 | 1149 | 1166 => Code::InvalidArgument,
        // duplicate key and other constraint violations
        1022 | 1062 | 1451 | 1452 | 1048 => Code::AlreadyExists,
        // deadlock, lock wait timeout: retry the transaction
        1205 | 1213 => Code::Aborted,
        ER_OPTION_PREVENTS_STATEMENT => Code::FailedPrecondition,
        ER_QUERY_INTERRUPTED => Code::DeadlineExceeded,
        2000..=2999 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

fn tablet_error(code: u16, sqlstate: &str, message: String) -> MysqlError {
    MysqlError {
        code,
        sqlstate: sqlstate.into(),
        message,
    }
}

/// The gRPC status for an error, with MariaDB-style details.
pub fn status_from(e: Error) -> Status {
    let message = e.to_string();
    let (code, mysql) = match e {
        Error::Mysql(m) => (grpc_code_for_mysql(m.code), m),
        Error::NotPrimary(_) => (
            Code::FailedPrecondition,
            tablet_error(ER_OPTION_PREVENTS_STATEMENT, "HY000", message.clone()),
        ),
        Error::QueryTimeout { .. } => (
            Code::DeadlineExceeded,
            tablet_error(ER_QUERY_INTERRUPTED, "70100", message.clone()),
        ),
        Error::RowCountExceeded { .. } => (
            Code::ResourceExhausted,
            tablet_error(ER_UNKNOWN_ERROR, "HY000", message.clone()),
        ),
        Error::UnknownTransaction { .. } => (
            Code::Aborted,
            tablet_error(ER_UNKNOWN_ERROR, "HY000", message.clone()),
        ),
        Error::InvalidArgument(_) | Error::Gtid(_) => (
            Code::InvalidArgument,
            tablet_error(ER_UNKNOWN_ERROR, "HY000", message.clone()),
        ),
        Error::Unavailable(_) | Error::ConnectionClosed(_) | Error::MysqldExited { .. } => (
            Code::Unavailable,
            tablet_error(ER_UNKNOWN_ERROR, "HY000", message.clone()),
        ),
        Error::Timeout(_) => (
            Code::DeadlineExceeded,
            tablet_error(ER_UNKNOWN_ERROR, "HY000", message.clone()),
        ),
        Error::Config(_) | Error::PortInUse { .. } | Error::Io { .. } => (
            Code::Internal,
            tablet_error(ER_UNKNOWN_ERROR, "HY000", message.clone()),
        ),
    };
    let details = pb::MysqlError {
        code: u32::from(mysql.code),
        sqlstate: mysql.sqlstate,
        message: mysql.message,
    }
    .encode_to_vec();
    Status::with_details(code, message, details.into())
}

/// The MariaDB error carried by a status from this tablet, if any.
pub fn mysql_error(status: &Status) -> Option<pb::MysqlError> {
    if status.details().is_empty() {
        return None;
    }
    pb::MysqlError::decode(status.details()).ok()
}

pub(crate) fn tablet_type_to_pb(t: TabletType) -> pb::TabletType {
    match t {
        TabletType::Primary => pb::TabletType::Primary,
        TabletType::Replica => pb::TabletType::Replica,
        TabletType::Rdonly => pb::TabletType::Rdonly,
    }
}

pub(crate) fn field_to_pb(c: &Column) -> pb::Field {
    pb::Field {
        name: c.name.clone(),
        r#type: i32::from(c.column_type),
        table: c.table.clone(),
        org_table: c.org_table.clone(),
        database: c.database.clone(),
        org_name: c.org_name.clone(),
        column_length: c.column_length,
        charset: u32::from(c.charset),
        decimals: u32::from(c.decimals),
        flags: u32::from(c.flags),
    }
}

const UNSIGNED_FLAG: u16 = 32;

pub(crate) fn rows_to_pb(columns: &[Column], rows: Vec<Vec<Option<Vec<u8>>>>) -> Vec<pb::Row> {
    rows.into_iter()
        .map(|row| pb::Row {
            values: row
                .into_iter()
                .zip(columns)
                .map(|(cell, c)| match cell {
                    None => pb::Value {
                        r#type: pb::Type::Null as i32,
                        value: Vec::new(),
                        unsigned: false,
                    },
                    Some(value) => pb::Value {
                        r#type: i32::from(c.column_type),
                        value,
                        unsigned: c.flags & UNSIGNED_FLAG != 0,
                    },
                })
                .collect(),
        })
        .collect()
}

pub(crate) fn result_to_pb(r: QueryResult) -> pb::QueryResult {
    pb::QueryResult {
        fields: r.columns.iter().map(field_to_pb).collect(),
        rows: rows_to_pb(&r.columns, r.rows),
        rows_affected: r.rows_affected,
        insert_id: r.insert_id,
        info: r.info,
        warnings: u32::from(r.warnings),
    }
}

fn bind_value_from_pb(name: &str, v: &pb::Value) -> Result<BindValue, Error> {
    use pb::Type as T;
    let bad = || {
        Error::InvalidArgument(format!(
            "bind variable :{name}: {:?} is not a valid {:?}",
            String::from_utf8_lossy(&v.value),
            v.r#type()
        ))
    };
    let text = || std::str::from_utf8(&v.value).map_err(|_| bad());
    Ok(match v.r#type() {
        T::Null => BindValue::Null,
        T::Tiny | T::Short | T::Long | T::Longlong | T::Int24 | T::Year => {
            if v.unsigned {
                BindValue::UInt(text()?.trim().parse().map_err(|_| bad())?)
            } else {
                BindValue::Int(text()?.trim().parse().map_err(|_| bad())?)
            }
        }
        T::Float | T::Double => BindValue::Double(text()?.trim().parse().map_err(|_| bad())?),
        _ => BindValue::Bytes(v.value.clone()),
    })
}

/// Bind variables as QueryService carries them: what a gate sends, and
/// [`bind_vars_from_pb`] reads back.
pub fn bind_vars_to_pb(vars: &HashMap<String, BindValue>) -> HashMap<String, pb::Value> {
    vars.iter()
        .map(|(k, v)| {
            let (r#type, value, unsigned) = match v {
                BindValue::Null => (pb::Type::Null, Vec::new(), false),
                BindValue::Int(i) => (pb::Type::Longlong, i.to_string().into_bytes(), false),
                BindValue::UInt(u) => (pb::Type::Longlong, u.to_string().into_bytes(), true),
                BindValue::Double(d) => (pb::Type::Double, d.to_string().into_bytes(), false),
                BindValue::Bytes(b) => (pb::Type::VarString, b.clone(), false),
            };
            let value = pb::Value {
                r#type: r#type as i32,
                value,
                unsigned,
            };
            (k.clone(), value)
        })
        .collect()
}

pub(crate) fn bind_vars_from_pb(
    vars: &HashMap<String, pb::Value>,
) -> Result<HashMap<String, BindValue>, Error> {
    vars.iter()
        .map(|(k, v)| Ok((k.clone(), bind_value_from_pb(k, v)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_errors_round_trip_through_status() {
        let status = status_from(Error::Mysql(MysqlError {
            code: 1064,
            sqlstate: "42000".into(),
            message: "You have an error in your SQL syntax".into(),
        }));
        assert_eq!(status.code(), Code::InvalidArgument);
        let e = mysql_error(&status).unwrap();
        assert_eq!((e.code, e.sqlstate.as_str()), (1064, "42000"));
    }

    #[test]
    fn typed_bind_values() {
        let v = |t: pb::Type, s: &str, unsigned| pb::Value {
            r#type: t as i32,
            value: s.as_bytes().to_vec(),
            unsigned,
        };
        let vars = HashMap::from([
            ("a".to_string(), v(pb::Type::Longlong, "-3", false)),
            (
                "b".to_string(),
                v(pb::Type::Longlong, "18446744073709551615", true),
            ),
            ("c".to_string(), v(pb::Type::VarString, "x'y", false)),
            ("d".to_string(), v(pb::Type::Null, "", false)),
        ]);
        let b = bind_vars_from_pb(&vars).unwrap();
        assert_eq!(b["a"], BindValue::Int(-3));
        assert_eq!(b["b"], BindValue::UInt(u64::MAX));
        assert_eq!(b["c"], BindValue::Bytes(b"x'y".to_vec()));
        assert_eq!(b["d"], BindValue::Null);
        let bad = HashMap::from([("e".to_string(), v(pb::Type::Long, "x", false))]);
        assert!(bind_vars_from_pb(&bad).is_err());
    }

    #[test]
    fn bind_vars_round_trip_through_pb() {
        let vars = HashMap::from([
            ("a".to_string(), BindValue::Int(i64::MIN)),
            ("b".to_string(), BindValue::UInt(u64::MAX)),
            ("c".to_string(), BindValue::Double(-0.1)),
            ("d".to_string(), BindValue::Bytes(b"x'\\0".to_vec())),
            ("e".to_string(), BindValue::Null),
        ]);
        assert_eq!(bind_vars_from_pb(&bind_vars_to_pb(&vars)).unwrap(), vars);
    }
}

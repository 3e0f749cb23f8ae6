//! The gate's result type, between the tablets (protobuf, or the engine's
//! own types in process) and the MySQL writer.

use tablet::grpc::pb;

use crate::merge::Value;

/// A result column (MySQL `enum_field_types` number and column flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Col {
    pub name: String,
    pub table: String,
    pub column_type: u8,
    pub flags: u16,
}

pub const TYPE_LONGLONG: u8 = 8;
pub const TYPE_VAR_STRING: u8 = 253;
pub const TYPE_NEWDECIMAL: u8 = 246;
pub const TYPE_DOUBLE: u8 = 5;
pub const UNSIGNED_FLAG: u16 = 32;

impl Col {
    pub fn text(name: &str) -> Col {
        Col {
            name: name.into(),
            table: String::new(),
            column_type: TYPE_VAR_STRING,
            flags: 0,
        }
    }

    pub fn int(name: &str) -> Col {
        Col {
            name: name.into(),
            table: String::new(),
            column_type: TYPE_LONGLONG,
            flags: 0,
        }
    }

    pub fn from_pb(f: &pb::Field) -> Col {
        Col {
            name: f.name.clone(),
            table: f.table.clone(),
            column_type: u8::try_from(f.r#type).unwrap_or(TYPE_VAR_STRING),
            flags: u16::try_from(f.flags & 0xffff).unwrap_or(0),
        }
    }

    pub fn from_tablet(c: &tablet::query::result::Column) -> Col {
        Col {
            name: c.name.clone(),
            table: c.table.clone(),
            column_type: c.column_type,
            flags: c.flags,
        }
    }

    pub fn is_unsigned(&self) -> bool {
        self.flags & UNSIGNED_FLAG != 0
    }
}

/// A cell in text form (`None` = NULL).
pub type Cell = Option<Vec<u8>>;

/// What a statement returns: rows (when `columns` is non-empty) or an OK.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultSet {
    pub columns: Vec<Col>,
    pub rows: Vec<Vec<Cell>>,
    pub rows_affected: u64,
    pub insert_id: u64,
    pub info: String,
    pub warnings: u16,
}

impl ResultSet {
    pub fn ok(rows_affected: u64) -> ResultSet {
        ResultSet {
            rows_affected,
            ..ResultSet::default()
        }
    }

    pub fn rows(columns: Vec<Col>, rows: Vec<Vec<Cell>>) -> ResultSet {
        ResultSet {
            columns,
            rows,
            ..ResultSet::default()
        }
    }

    /// Text rows of string values (gate-made answers).
    pub fn strings(columns: Vec<Col>, rows: Vec<Vec<String>>) -> ResultSet {
        let rows = rows
            .into_iter()
            .map(|r| r.into_iter().map(|s| Some(s.into_bytes())).collect())
            .collect();
        ResultSet::rows(columns, rows)
    }

    pub fn from_tablet(r: tablet::query::result::QueryResult) -> ResultSet {
        ResultSet {
            columns: r.columns.iter().map(Col::from_tablet).collect(),
            rows: r.rows,
            rows_affected: r.rows_affected,
            insert_id: r.insert_id,
            info: r.info,
            warnings: r.warnings,
        }
    }

    pub fn from_pb(r: pb::QueryResult) -> ResultSet {
        ResultSet {
            columns: r.fields.iter().map(Col::from_pb).collect(),
            rows: r
                .rows
                .into_iter()
                .map(|row| {
                    row.values
                        .into_iter()
                        .map(|v| {
                            if v.r#type == pb::Type::Null as i32 {
                                None
                            } else {
                                Some(v.value)
                            }
                        })
                        .collect()
                })
                .collect(),
            rows_affected: r.rows_affected,
            insert_id: r.insert_id,
            info: r.info,
            warnings: u16::try_from(r.warnings).unwrap_or(u16::MAX),
        }
    }
}

fn is_int_type(t: u8) -> bool {
    matches!(t, 1 | 2 | 3 | 8 | 9 | 13 | 16)
}

/// A text cell as the merge's typed value, by the column's type.
pub fn to_value(col: &Col, cell: &Cell) -> Value {
    let Some(bytes) = cell else {
        return Value::Null;
    };
    let text = std::str::from_utf8(bytes).ok();
    let t = col.column_type;
    if is_int_type(t) && t != 16 {
        if let Some(s) = text {
            if col.is_unsigned() {
                if let Ok(u) = s.trim().parse() {
                    return Value::UInt(u);
                }
            } else if let Ok(i) = s.trim().parse() {
                return Value::Int(i);
            }
        }
    } else if t == 4 || t == 5 {
        if let Some(f) = text.and_then(|s| s.trim().parse().ok()) {
            return Value::Float(f);
        }
    } else if t == 0 || t == TYPE_NEWDECIMAL {
        if let Some(s) = text {
            return Value::Decimal(s.to_string());
        }
    }
    Value::Bytes(bytes.clone())
}

/// A merged value back in MySQL's text form.
pub fn from_value(v: &Value) -> Cell {
    match v {
        Value::Null => None,
        Value::Int(i) => Some(i.to_string().into_bytes()),
        Value::UInt(u) => Some(u.to_string().into_bytes()),
        Value::Float(f) => Some(format_float(*f).into_bytes()),
        Value::Decimal(d) => Some(d.clone().into_bytes()),
        Value::Bytes(b) => Some(b.clone()),
    }
}

fn format_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.0}")
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_by_type() {
        let c = |t: u8, flags: u16| Col {
            name: "c".into(),
            table: String::new(),
            column_type: t,
            flags,
        };
        let cell = |s: &str| Some(s.as_bytes().to_vec());
        assert_eq!(to_value(&c(8, 0), &cell("-5")), Value::Int(-5));
        assert_eq!(
            to_value(&c(8, UNSIGNED_FLAG), &cell("18446744073709551615")),
            Value::UInt(u64::MAX)
        );
        assert_eq!(
            to_value(&c(246, 0), &cell("1.50")),
            Value::Decimal("1.50".into())
        );
        assert_eq!(to_value(&c(5, 0), &cell("2.5")), Value::Float(2.5));
        assert_eq!(to_value(&c(253, 0), &None), Value::Null);
        assert_eq!(
            to_value(&c(253, 0), &cell("x")),
            Value::Bytes(b"x".to_vec())
        );
        assert_eq!(from_value(&Value::Float(3.0)), cell("3"));
        assert_eq!(from_value(&Value::Decimal("1.50".into())), cell("1.50"));
    }
}

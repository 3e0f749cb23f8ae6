//! The values merged rows hold, and MySQL's ordering of them.

use std::cmp::Ordering;
use std::fmt;

/// One column value of a result row, typed the way the merge needs it.
///
/// The executor converts a tablet's text/binary result into these using the
/// field types: signed integer types → `Int`, unsigned → `UInt`, FLOAT/DOUBLE
/// → `Float`, DECIMAL → `Decimal` (the exact text MySQL sent, e.g. `"12.50"`),
/// everything else (strings, blobs, dates) → `Bytes`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    UInt(u64),
    Float(f64),
    /// An exact decimal in MySQL's text form (`-12.340`).
    Decimal(String),
    Bytes(Vec<u8>),
}

/// One result row.
pub type Row = Vec<Value>;

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl fmt::Display for Value {
    /// As a SQL literal: `NULL`, `5`, `1.5`, `'text'` (quotes and backslashes
    /// escaped), `x'00ff'` for bytes that are not UTF-8.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Decimal(d) => f.write_str(d),
            Value::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => {
                    f.write_str("'")?;
                    for c in s.chars() {
                        match c {
                            '\'' => f.write_str("\\'")?,
                            '\\' => f.write_str("\\\\")?,
                            '\0' => f.write_str("\\0")?,
                            c => write!(f, "{c}")?,
                        }
                    }
                    f.write_str("'")
                }
                Err(_) => {
                    f.write_str("x'")?;
                    for byte in b {
                        write!(f, "{byte:02x}")?;
                    }
                    f.write_str("'")
                }
            },
        }
    }
}

/// MySQL's comparison of two values for ORDER BY / MIN / MAX: NULL sorts
/// before everything, numbers compare numerically whatever their
/// representation, bytes compare bytewise, a number and bytes compare as
/// numbers when the bytes parse as one (else bytewise on the number's text).
pub fn compare(a: &Value, b: &Value) -> Ordering {
    crate::merge::cmp::compare(a, b)
}

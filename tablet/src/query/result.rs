//! Query results in the tablet's own types (text-form values), converted from
//! mysql_async rows. The gRPC layer converts these to wire messages; nothing
//! here knows about protobuf.

use mysql_async::consts::ColumnType;
use mysql_async::Value;

/// Column metadata, as MariaDB sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// MySQL `enum_field_types` code.
    pub column_type: u8,
    pub table: String,
    pub org_table: String,
    pub database: String,
    pub org_name: String,
    pub column_length: u32,
    pub charset: u16,
    pub decimals: u8,
    pub flags: u16,
}

/// A cell in MySQL text form; `None` is NULL.
pub type Cell = Option<Vec<u8>>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryResult {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    pub rows_affected: u64,
    pub insert_id: u64,
    pub info: String,
    pub warnings: u16,
}

impl Column {
    pub fn from_mysql(c: &mysql_async::Column) -> Column {
        Column {
            name: c.name_str().into_owned(),
            column_type: c.column_type() as u8,
            table: c.table_str().into_owned(),
            org_table: c.org_table_str().into_owned(),
            database: c.schema_str().into_owned(),
            org_name: c.org_name_str().into_owned(),
            column_length: c.column_length(),
            charset: c.character_set(),
            decimals: c.decimals(),
            flags: c.flags().bits(),
        }
    }
}

/// Text form of a value. The text protocol already delivers bytes; the
/// binary protocol (prepared statements) delivers typed values that are
/// printed the way MariaDB's text protocol would.
pub fn to_text(v: Value, col: &Column) -> Cell {
    let frac = |micros: u32| -> String {
        let digits = usize::from(col.decimals.min(6));
        if digits == 0 {
            String::new()
        } else {
            format!(".{:06}", micros)[..digits + 1].to_string()
        }
    };
    Some(match v {
        Value::NULL => return None,
        Value::Bytes(b) => b,
        Value::Int(i) => i.to_string().into_bytes(),
        Value::UInt(u) => u.to_string().into_bytes(),
        Value::Float(f) => f.to_string().into_bytes(),
        Value::Double(d) => d.to_string().into_bytes(),
        Value::Date(y, mo, d, h, mi, s, us) => {
            let date = format!("{y:04}-{mo:02}-{d:02}");
            if col.column_type == ColumnType::MYSQL_TYPE_DATE as u8
                || col.column_type == ColumnType::MYSQL_TYPE_NEWDATE as u8
            {
                date.into_bytes()
            } else {
                format!("{date} {h:02}:{mi:02}:{s:02}{}", frac(us)).into_bytes()
            }
        }
        Value::Time(neg, days, h, mi, s, us) => {
            let hours = days * 24 + u32::from(h);
            let sign = if neg { "-" } else { "" };
            format!("{sign}{hours:02}:{mi:02}:{s:02}{}", frac(us)).into_bytes()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(t: ColumnType, decimals: u8) -> Column {
        Column {
            name: "c".into(),
            column_type: t as u8,
            table: String::new(),
            org_table: String::new(),
            database: String::new(),
            org_name: String::new(),
            column_length: 0,
            charset: 63,
            decimals,
            flags: 0,
        }
    }

    #[test]
    fn binary_values_print_like_the_text_protocol() {
        let dt = col(ColumnType::MYSQL_TYPE_DATETIME, 3);
        assert_eq!(
            to_text(Value::Date(2024, 1, 2, 3, 4, 5, 678_900), &dt),
            Some(b"2024-01-02 03:04:05.678".to_vec())
        );
        let d = col(ColumnType::MYSQL_TYPE_DATE, 0);
        assert_eq!(
            to_text(Value::Date(2024, 1, 2, 0, 0, 0, 0), &d),
            Some(b"2024-01-02".to_vec())
        );
        let t = col(ColumnType::MYSQL_TYPE_TIME, 0);
        assert_eq!(
            to_text(Value::Time(true, 1, 2, 3, 4, 0), &t),
            Some(b"-26:03:04".to_vec())
        );
        assert_eq!(to_text(Value::Int(-5), &t), Some(b"-5".to_vec()));
        assert_eq!(to_text(Value::NULL, &t), None);
    }
}

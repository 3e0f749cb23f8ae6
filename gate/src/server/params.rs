//! Prepared statements: the gate keeps the SQL text, counts its `?`
//! placeholders, and on execute substitutes the bound values as SQL
//! literals, then runs the result like a text query. The planner and the
//! tablets therefore only ever see plain SQL.

use opensrv_mysql::{ParamValue, ValueInner};

use crate::merge::Value;
pub use crate::planner::placeholders;

/// `sql` with each placeholder replaced by the literal of `values[i]`.
pub fn interpolate(sql: &str, values: &[Value]) -> Result<String, String> {
    let at = placeholders(sql);
    if at.len() != values.len() {
        return Err(format!(
            "statement has {} placeholders but {} values were bound",
            at.len(),
            values.len()
        ));
    }
    let mut out = String::with_capacity(sql.len() + 16 * values.len());
    let mut last = 0;
    for (pos, v) in at.iter().zip(values) {
        out.push_str(&sql[last..*pos]);
        out.push_str(&v.to_string());
        last = pos + 1;
    }
    out.push_str(&sql[last..]);
    Ok(out)
}

/// A bound parameter as a merge value (a SQL literal when displayed).
pub fn param_value(p: &ParamValue) -> Result<Value, String> {
    Ok(match p.value.into_inner() {
        ValueInner::NULL => Value::Null,
        ValueInner::Bytes(b) => Value::Bytes(b.to_vec()),
        ValueInner::Int(i) => Value::Int(i),
        ValueInner::UInt(u) => Value::UInt(u),
        ValueInner::Double(f) => Value::Float(f),
        ValueInner::Date(_) | ValueInner::Datetime(_) => {
            let dt = opensrv_mysql::to_naive_datetime(p.value)
                .map_err(|e| format!("bad DATETIME parameter: {e}"))?;
            Value::Bytes(dt.format("%Y-%m-%d %H:%M:%S%.f").to_string().into_bytes())
        }
        ValueInner::Time(_) => return Err("TIME parameters are not supported".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_skip_quotes_and_comments() {
        let sql = "SELECT '?', `a?`, \"it\\\"?\" /* ? */ FROM t WHERE a = ? -- ?\n AND b = ? # ?";
        let at = placeholders(sql);
        assert_eq!(at.len(), 2);
        let out = interpolate(sql, &[Value::Int(5), Value::Bytes(b"o'k".to_vec())]).unwrap();
        assert!(
            out.contains("WHERE a = 5 -- ?\n AND b = 'o\\'k' # ?"),
            "{out}"
        );
        assert!(interpolate("SELECT ?", &[]).is_err());
    }
}

//! Bind variables: `:name` placeholders become `?` of a MariaDB prepared
//! statement, and the values travel separately in the binary protocol.
//!
//! Why prepared statements rather than textual substitution: MariaDB does the
//! binding, so there is no escaping to get wrong (character sets,
//! `NO_BACKSLASH_ESCAPES`, binary data). The cost is one extra round trip to
//! prepare, mitigated by mysql_async's per-connection statement cache. A query
//! without placeholders runs as a plain text-protocol query.
//!
//! Placeholders are recognised outside string literals, quoted identifiers
//! and comments; `::` and `:=` are left alone. A placeholder without a bind
//! variable is an error; unused bind variables are ignored.

use std::collections::HashMap;

use crate::error::{Error, Result};

/// A bind variable's value, as the binary protocol will carry it.
#[derive(Debug, Clone, PartialEq)]
pub enum BindValue {
    Null,
    Int(i64),
    UInt(u64),
    Double(f64),
    Bytes(Vec<u8>),
}

/// SQL ready to run: `params` is `None` for the text protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundSql {
    pub sql: String,
    pub params: Option<Vec<BindValue>>,
}

/// Rewrite `:name` placeholders to `?`, collecting values in order.
pub fn bind(sql: &str, vars: &HashMap<String, BindValue>) -> Result<BoundSql> {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut params = Vec::new();
    let mut copied = 0; // bytes of `sql` already copied to `out`
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => i = skip_quoted(b, i, q),
            b'#' => i = skip_to_eol(b, i),
            b'-' if b.get(i + 1) == Some(&b'-')
                && b.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) =>
            {
                i = skip_to_eol(b, i)
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = match sql[i + 2..].find("*/") {
                    Some(end) => i + 2 + end + 2,
                    None => b.len(),
                }
            }
            b':' if b.get(i + 1) == Some(&b':') => i += 2,
            b':' if b
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_') =>
            {
                let start = i + 1;
                let mut end = start;
                while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                    end += 1;
                }
                let name = &sql[start..end];
                let value = vars.get(name).ok_or_else(|| {
                    Error::InvalidArgument(format!("missing bind variable :{name}"))
                })?;
                out.push_str(&sql[copied..i]);
                out.push('?');
                params.push(value.clone());
                copied = end;
                i = end;
            }
            _ => i += 1,
        }
    }
    if params.is_empty() {
        return Ok(BoundSql {
            sql: sql.to_string(),
            params: None,
        });
    }
    out.push_str(&sql[copied..]);
    Ok(BoundSql {
        sql: out,
        params: Some(params),
    })
}

/// Index just past the closing quote (a doubled quote or a backslash escapes).
fn skip_quoted(b: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == b'\\' && quote != b'`' {
            i += 2;
        } else if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

fn skip_to_eol(b: &[u8], start: usize) -> usize {
    b[start..]
        .iter()
        .position(|c| *c == b'\n')
        .map_or(b.len(), |p| start + p + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> HashMap<String, BindValue> {
        HashMap::from([
            ("id".to_string(), BindValue::Int(7)),
            ("name".to_string(), BindValue::Bytes(b"x'y".to_vec())),
        ])
    }

    #[test]
    fn placeholders_become_question_marks() {
        let b = bind("select * from t where id = :id and name=:name", &vars()).unwrap();
        assert_eq!(b.sql, "select * from t where id = ? and name=?");
        assert_eq!(
            b.params,
            Some(vec![BindValue::Int(7), BindValue::Bytes(b"x'y".to_vec())])
        );
    }

    #[test]
    fn quoted_and_commented_text_is_left_alone() {
        let sql =
            "select ':id', \":id\", `:id`, 'it''s :id', 'a\\':id' /* :id */ -- :id\n# :id\n, :id";
        let b = bind(sql, &vars()).unwrap();
        assert_eq!(b.params, Some(vec![BindValue::Int(7)]));
        assert!(b.sql.ends_with(", ?"), "{}", b.sql);
        assert_eq!(b.sql.matches(":id").count(), 8, "{}", b.sql);
    }

    #[test]
    fn no_placeholders_uses_text_protocol() {
        let b = bind("select @a := 1, x::int", &vars()).unwrap();
        assert_eq!(b.params, None);
        assert_eq!(b.sql, "select @a := 1, x::int");
    }

    #[test]
    fn missing_variable_is_an_error() {
        let e = bind("select :nope", &vars()).unwrap_err();
        assert!(e.to_string().contains(":nope"), "{e}");
    }
}

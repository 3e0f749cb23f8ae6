//! SQL-level helpers: parsing the way the planner needs, reading literals,
//! substituting bind values, and splitting conjunctions.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Ident, ObjectName, ObjectNamePart, Statement, UnaryOperator,
    Value as SqlValue, ValueWithSpan,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::{Parser, ParserError, ParserOptions};
use sqlparser::tokenizer::Span;
use topo::vindex::Value as VValue;

use super::PlanError;
use crate::merge::Value;

/// Parses `sql` with MySQL's dialect, keeping string literals exactly as
/// written (`unescape: false`), so a statement printed back sends the
/// same bytes MySQL would have received (`'a\\b'` stays `'a\\b'`).
pub fn parse(sql: &str) -> Result<Vec<Statement>, ParserError> {
    let options = ParserOptions::new()
        .with_trailing_commas(false)
        .with_unescape(false);
    Parser::new(&MySqlDialect {})
        .with_options(options)
        .try_with_sql(sql)?
        .parse_statements()
}

/// Byte offsets of the `?` placeholders outside quotes and comments.
pub fn placeholders(sql: &str) -> Vec<usize> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' && q != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-')
                && b.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) =>
            {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'?' => out.push(i),
            _ => {}
        }
        i += 1;
    }
    out
}

/// The text of an identifier as MySQL compares it for columns.
pub(crate) fn ident_eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The identifiers of an object name (`ks.t` → `["ks", "t"]`), or `None`
/// for dialect-specific function parts.
pub(crate) fn name_parts(name: &ObjectName) -> Option<Vec<&str>> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => Some(i.value.as_str()),
            _ => None,
        })
        .collect()
}

/// A literal in a routing position, as a vindex sees it. `None`: not a
/// literal we can map (an expression, a decimal, a column).
pub(crate) fn literal(expr: &Expr) -> Option<VValue> {
    match expr {
        Expr::Nested(e) => literal(e),
        Expr::Value(v) => match &v.value {
            SqlValue::Number(n, _) => {
                if let Ok(i) = n.parse::<i64>() {
                    Some(VValue::Int(i))
                } else {
                    n.parse::<u64>().ok().map(VValue::Uint)
                }
            }
            SqlValue::SingleQuotedString(s) => Some(VValue::Str(unescape_mysql(s, '\''))),
            SqlValue::DoubleQuotedString(s) => Some(VValue::Str(unescape_mysql(s, '"'))),
            SqlValue::HexStringLiteral(h) => topo::keyrange::from_hex(h).map(VValue::Bytes),
            SqlValue::Boolean(b) => Some(VValue::Int(i64::from(*b))),
            SqlValue::Null => Some(VValue::Null),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match literal(expr)? {
            VValue::Int(i) => i.checked_neg().map(VValue::Int),
            VValue::Uint(u) => i64::try_from(u).ok().map(|i| VValue::Int(-i)),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => literal(expr),
        _ => None,
    }
}

/// A literal as a merge value (for HAVING comparisons).
pub(crate) fn merge_literal(expr: &Expr) -> Option<Value> {
    match expr {
        Expr::Nested(e) => merge_literal(e),
        Expr::Value(v) => match &v.value {
            SqlValue::Number(n, _) => {
                if let Ok(i) = n.parse::<i64>() {
                    Some(Value::Int(i))
                } else if let Ok(u) = n.parse::<u64>() {
                    Some(Value::UInt(u))
                } else if n.contains(['e', 'E']) {
                    n.parse::<f64>().ok().map(Value::Float)
                } else if is_decimal_text(n) {
                    Some(Value::Decimal(n.clone()))
                } else {
                    None
                }
            }
            SqlValue::SingleQuotedString(s) => {
                Some(Value::Bytes(unescape_mysql(s, '\'').into_bytes()))
            }
            SqlValue::DoubleQuotedString(s) => {
                Some(Value::Bytes(unescape_mysql(s, '"').into_bytes()))
            }
            SqlValue::Null => Some(Value::Null),
            SqlValue::Boolean(b) => Some(Value::Int(i64::from(*b))),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match merge_literal(expr)? {
            Value::Int(i) => i.checked_neg().map(Value::Int),
            Value::Float(f) => Some(Value::Float(-f)),
            Value::Decimal(d) if !d.starts_with('-') => Some(Value::Decimal(format!("-{d}"))),
            _ => None,
        },
        _ => None,
    }
}

fn is_decimal_text(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let mut parts = s.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next().unwrap_or("");
    (!int.is_empty() || !frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// The value of a string literal kept raw by [`parse`]: MySQL's backslash
/// escapes and doubled quotes resolved.
pub(crate) fn unescape_mysql(raw: &str, quote: char) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('0') => out.push('\0'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('b') => out.push('\u{8}'),
                Some('Z') => out.push('\u{1a}'),
                // `\%` and `\_` keep their backslash (LIKE patterns).
                Some(c @ ('%' | '_')) => {
                    out.push('\\');
                    out.push(c);
                }
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else if c == quote && chars.peek() == Some(&quote) {
            chars.next();
            out.push(quote);
        } else {
            out.push(c);
        }
    }
    out
}

/// A merge value as an AST literal, escaped for a statement parsed by
/// [`parse`] (its Display writes the text back as is).
pub(crate) fn value_expr(v: &Value) -> Expr {
    let value = match v {
        Value::Null => SqlValue::Null,
        Value::Int(i) => SqlValue::Number(i.to_string(), false),
        Value::UInt(u) => SqlValue::Number(u.to_string(), false),
        Value::Float(_) | Value::Decimal(_) => SqlValue::Number(v.to_string(), false),
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(_) => {
                // Display gives 'escaped'; strip the quotes.
                let quoted = v.to_string();
                let inner = quoted
                    .get(1..quoted.len().saturating_sub(1))
                    .unwrap_or_default();
                SqlValue::SingleQuotedString(inner.to_string())
            }
            Err(_) => SqlValue::HexStringLiteral(topo::keyrange::to_hex(b)),
        },
    };
    Expr::Value(ValueWithSpan {
        value,
        span: Span::empty(),
    })
}

/// Replaces every `?` placeholder with the next bind value. Returns whether
/// anything was replaced.
pub(crate) fn substitute_binds(stmt: &mut Statement, binds: &[Value]) -> Result<bool, PlanError> {
    let mut next = 0usize;
    let mut missing = false;
    let _ = sqlparser::ast::visit_expressions_mut(stmt, |expr| {
        if let Expr::Value(v) = expr {
            if let SqlValue::Placeholder(_) = v.value {
                match binds.get(next) {
                    Some(b) => *expr = value_expr(b),
                    None => missing = true,
                }
                next += 1;
            }
        }
        ControlFlow::<()>::Continue(())
    });
    if missing || (next > 0 && next != binds.len()) || (next == 0 && !binds.is_empty()) {
        return Err(PlanError::Invalid(format!(
            "statement has {next} placeholders but {} values were bound",
            binds.len()
        )));
    }
    Ok(next > 0)
}

/// Renames the `?` placeholders `?0`, `?1`, … in the order they appear in
/// the text (the order a client binds values in), by their source
/// positions; returns how many there are, or `None` if positions are
/// missing. A template ([`super::template`]) plans and prints the numbered
/// statement, so each bound value's place survives any reordering.
pub(crate) fn number_placeholders(stmt: &mut Statement) -> Option<usize> {
    let mut at = Vec::new();
    let _ = sqlparser::ast::visit_expressions(stmt, |expr| {
        if let Expr::Value(v) = expr {
            if let SqlValue::Placeholder(_) = v.value {
                at.push((v.span.start.line, v.span.start.column));
            }
        }
        ControlFlow::<()>::Continue(())
    });
    let mut order = at.clone();
    order.sort_unstable();
    order.dedup();
    if order.len() != at.len() || order.first().is_some_and(|&(line, _)| line == 0) {
        return None;
    }
    let _ = sqlparser::ast::visit_expressions_mut(stmt, |expr| {
        if let Expr::Value(v) = expr {
            let pos = (v.span.start.line, v.span.start.column);
            if let SqlValue::Placeholder(p) = &mut v.value {
                if let Ok(n) = order.binary_search(&pos) {
                    *p = format!("?{n}");
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    Some(order.len())
}

/// The number of a placeholder renamed by [`number_placeholders`].
pub(crate) fn template_param(expr: &Expr) -> Option<usize> {
    match expr {
        Expr::Nested(e) => template_param(e),
        Expr::Value(v) => match &v.value {
            SqlValue::Placeholder(p) => p.strip_prefix('?')?.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// The top-level conjuncts of `expr` (`a AND (b AND c)` → a, b, c).
pub(crate) fn conjuncts(expr: &Expr) -> Vec<&Expr> {
    let mut out = Vec::new();
    fn walk<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
        match e {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => {
                walk(left, out);
                walk(right, out);
            }
            Expr::Nested(inner) => walk(inner, out),
            other => out.push(other),
        }
    }
    walk(expr, &mut out);
    out
}

/// A column reference: optional qualifier (table or alias, possibly
/// `ks.table`) and the column name.
pub(crate) fn column_ref(expr: &Expr) -> Option<(Vec<&str>, &str)> {
    match expr {
        Expr::Nested(e) => column_ref(e),
        Expr::Identifier(Ident { value, .. }) => Some((Vec::new(), value.as_str())),
        Expr::CompoundIdentifier(parts) => {
            let (col, quals) = parts.split_last()?;
            Some((quals.iter().map(|i| i.value.as_str()).collect(), &col.value))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mysql_strings() {
        assert_eq!(unescape_mysql(r"it\'s", '\''), "it's");
        assert_eq!(unescape_mysql("it''s", '\''), "it's");
        assert_eq!(unescape_mysql(r"a\\b\n", '\''), "a\\b\n");
        assert_eq!(unescape_mysql(r"50\%", '\''), r"50\%");
    }

    #[test]
    fn printed_statement_keeps_escapes() {
        let sql = r"SELECT 'a\\b', 'it\'s', 'x''y'";
        let stmts = parse(sql).unwrap();
        assert_eq!(stmts[0].to_string(), sql);
    }

    #[test]
    fn binds_are_escaped() {
        let mut stmts = parse("SELECT ? , ?").unwrap();
        let binds = [Value::Bytes(b"it's \\".to_vec()), Value::Int(-3)];
        assert!(substitute_binds(&mut stmts[0], &binds).unwrap());
        assert_eq!(stmts[0].to_string(), r"SELECT 'it\'s \\', -3");
        let mut stmts = parse("SELECT ?").unwrap();
        assert!(substitute_binds(&mut stmts[0], &[]).is_err());
    }
}

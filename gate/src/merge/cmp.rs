//! MySQL's ordering of result values: NULL first, numbers by value
//! whatever their representation, bytes bytewise (a binary collation).
//! Text key columns with collation weights compare by those instead
//! (`collate.rs`); this is the order for everything else.

use std::cmp::Ordering;

use super::decimal::Decimal;
use super::value::Value;

/// A number in the most exact form both sides share.
#[derive(Debug, Clone, Copy)]
enum Num {
    Exact(Decimal),
    Float(f64),
}

fn num(v: &Value) -> Option<Num> {
    match v {
        Value::Int(i) => Some(Num::Exact(Decimal::from_int(i128::from(*i)))),
        Value::UInt(u) => Some(Num::Exact(Decimal::from_int(i128::from(*u)))),
        Value::Float(f) => Some(Num::Float(*f)),
        Value::Decimal(s) => Decimal::parse(s)
            .map(Num::Exact)
            .or_else(|| s.trim().parse::<f64>().ok().map(Num::Float)),
        Value::Null | Value::Bytes(_) => None,
    }
}

fn bytes_as_num(b: &[u8]) -> Option<Num> {
    let s = std::str::from_utf8(b).ok()?;
    Decimal::parse(s)
        .map(Num::Exact)
        .or_else(|| s.trim().parse::<f64>().ok().map(Num::Float))
}

fn cmp_num(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::Exact(x), Num::Exact(y)) => x.cmp(y),
        (x, y) => {
            let f = |n: Num| match n {
                Num::Exact(d) => d.to_f64(),
                Num::Float(f) => f,
            };
            f(x).partial_cmp(&f(y)).unwrap_or(Ordering::Equal)
        }
    }
}

fn text(v: &Value) -> Vec<u8> {
    match v {
        Value::Bytes(b) => b.clone(),
        other => other.to_string().into_bytes(),
    }
}

pub(crate) fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Bytes(x), Value::Bytes(y)) => x.cmp(y),
        _ => {
            let na = num(a).or_else(|| match a {
                Value::Bytes(x) => bytes_as_num(x),
                _ => None,
            });
            let nb = num(b).or_else(|| match b {
                Value::Bytes(y) => bytes_as_num(y),
                _ => None,
            });
            match (na, nb) {
                (Some(x), Some(y)) => cmp_num(x, y),
                _ => text(a).cmp(&text(b)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_first_numbers_by_value_bytes_bytewise() {
        use Value::*;
        assert_eq!(compare(&Null, &Int(-5)), Ordering::Less);
        assert_eq!(compare(&Bytes(vec![]), &Null), Ordering::Greater);
        assert_eq!(compare(&Null, &Null), Ordering::Equal);
        assert_eq!(compare(&Int(2), &UInt(10)), Ordering::Less);
        assert_eq!(compare(&UInt(u64::MAX), &Int(-1)), Ordering::Greater);
        assert_eq!(compare(&Decimal("2.50".into()), &Int(2)), Ordering::Greater);
        assert_eq!(compare(&Decimal("2.0".into()), &Int(2)), Ordering::Equal);
        assert_eq!(
            compare(&Float(1.5), &Decimal("1.25".into())),
            Ordering::Greater
        );
        assert_eq!(
            compare(&Bytes(b"B".to_vec()), &Bytes(b"a".to_vec())),
            Ordering::Less
        );
        assert_eq!(compare(&Bytes(b"10".to_vec()), &Int(9)), Ordering::Greater);
    }
}

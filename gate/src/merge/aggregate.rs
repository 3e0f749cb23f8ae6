//! GROUP BY merging: rows with equal group keys fold into one, each column
//! merged per its [`ColumnMerge`]; then HAVING.

use std::cmp::Ordering;

use super::cmp::compare;
use super::collate::Collation;
use super::decimal::Decimal;
use super::spec::{AggregateSpec, ColumnMerge, CompareOp, Predicate};
use super::value::{Row, Value};
use super::MergeError;

/// Merges `rows` (from every shard) into one row per group.
/// Group keys and MIN/MAX compare text by `coll`.
pub(crate) fn aggregate(
    spec: &AggregateSpec,
    coll: &Collation,
    mut rows: Vec<Row>,
) -> Result<Vec<Row>, MergeError> {
    let width = spec.columns.len();
    for row in &rows {
        if row.len() < width {
            return Err(MergeError::ShortRow {
                got: row.len(),
                needed: width,
            });
        }
    }
    if let Some(&g) = spec.group_by.iter().find(|&&g| g >= width) {
        return Err(MergeError::ShortRow {
            got: width,
            needed: g + 1,
        });
    }
    if spec.group_by.is_empty() {
        // One group over everything; a row even with no input (COUNT = 0).
        let merged = fold(spec, coll, &rows)?;
        return finish(spec, coll, vec![merged]);
    }
    let key_cmp = |a: &Row, b: &Row| {
        spec.group_by
            .iter()
            .map(|&g| coll.compare(g, a, b))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    };
    rows.sort_by(key_cmp);
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=rows.len() {
        if i == rows.len() || key_cmp(&rows[start], &rows[i]) != Ordering::Equal {
            out.push(fold(spec, coll, &rows[start..i])?);
            start = i;
        }
    }
    finish(spec, coll, out)
}

/// Applies HAVING to merged groups.
fn finish(spec: &AggregateSpec, coll: &Collation, rows: Vec<Row>) -> Result<Vec<Row>, MergeError> {
    let Some(having) = &spec.having else {
        return Ok(rows);
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        if eval(having, coll, &row)? == Some(true) {
            out.push(row);
        }
    }
    Ok(out)
}

/// SQL's three-valued evaluation: `None` is unknown.
pub(crate) fn eval(p: &Predicate, coll: &Collation, row: &Row) -> Result<Option<bool>, MergeError> {
    Ok(match p {
        Predicate::Compare {
            column,
            op,
            value,
            literal_weight,
        } => {
            let v = row.get(*column).ok_or(MergeError::ShortRow {
                got: row.len(),
                needed: column + 1,
            })?;
            if v.is_null() || value.is_null() {
                None
            } else {
                let o = match literal_weight {
                    Some(w) => {
                        let lw = row.get(*w).ok_or(MergeError::ShortRow {
                            got: row.len(),
                            needed: w + 1,
                        })?;
                        coll.compare_with(*column, row, value, lw)
                    }
                    None => compare(v, value),
                };
                Some(match op {
                    CompareOp::Eq => o == Ordering::Equal,
                    CompareOp::NotEq => o != Ordering::Equal,
                    CompareOp::Lt => o == Ordering::Less,
                    CompareOp::LtEq => o != Ordering::Greater,
                    CompareOp::Gt => o == Ordering::Greater,
                    CompareOp::GtEq => o != Ordering::Less,
                })
            }
        }
        Predicate::And(a, b) => match (eval(a, coll, row)?, eval(b, coll, row)?) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Predicate::Or(a, b) => match (eval(a, coll, row)?, eval(b, coll, row)?) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Predicate::Not(a) => eval(a, coll, row)?.map(|b| !b),
    })
}

/// Folds one group's rows (possibly none) into a row.
fn fold(spec: &AggregateSpec, coll: &Collation, rows: &[Row]) -> Result<Row, MergeError> {
    let mut out = Vec::with_capacity(spec.columns.len());
    // A MIN/MAX's weight comes from the row its value came from.
    let mut carried: Vec<(usize, usize)> = Vec::new();
    for (c, merge) in spec.columns.iter().enumerate() {
        let values = rows.iter().map(|r| &r[c]);
        let v = match merge {
            ColumnMerge::First => rows.first().map(|r| r[c].clone()).unwrap_or(Value::Null),
            ColumnMerge::Count => count(values)?,
            ColumnMerge::Sum | ColumnMerge::Avg { .. } => sum(values)?,
            ColumnMerge::Min | ColumnMerge::Max => {
                let want = if *merge == ColumnMerge::Min {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
                match extreme(coll, c, rows, want) {
                    Some(i) => {
                        if let Some(w) = coll.weight_column(c) {
                            carried.push((w, i));
                        }
                        rows[i][c].clone()
                    }
                    None => Value::Null,
                }
            }
        };
        out.push(v);
    }
    for (w, i) in carried {
        if let (Some(slot), Some(v)) = (out.get_mut(w), rows[i].get(w)) {
            *slot = v.clone();
        }
    }
    // AVG = SUM / COUNT once both are merged.
    for (c, merge) in spec.columns.iter().enumerate() {
        if let ColumnMerge::Avg { count_column } = merge {
            let n = out.get(*count_column).ok_or(MergeError::ShortRow {
                got: out.len(),
                needed: count_column + 1,
            })?;
            out[c] = avg(&out[c], n)?;
        }
    }
    Ok(out)
}

fn bad(op: &'static str, v: &Value) -> MergeError {
    MergeError::BadValue {
        op,
        value: v.to_string(),
    }
}

fn count<'a>(values: impl Iterator<Item = &'a Value>) -> Result<Value, MergeError> {
    let mut total: i128 = 0;
    for v in values {
        let n = match v {
            Value::Null => 0,
            Value::Int(i) => i128::from(*i),
            Value::UInt(u) => i128::from(*u),
            Value::Decimal(s) => match Decimal::parse(s) {
                Some(d) if d.scale == 0 => d.mantissa,
                _ => return Err(bad("add up the count", v)),
            },
            Value::Bytes(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse::<i128>().ok())
                .ok_or_else(|| bad("add up the count", v))?,
            Value::Float(_) => return Err(bad("add up the count", v)),
        };
        total = total
            .checked_add(n)
            .ok_or_else(|| bad("add up the count", v))?;
    }
    Ok(int_value(total))
}

fn int_value(i: i128) -> Value {
    if let Ok(i) = i64::try_from(i) {
        Value::Int(i)
    } else if let Ok(u) = u64::try_from(i) {
        Value::UInt(u)
    } else {
        Value::Decimal(i.to_string())
    }
}

/// Partial SUMs: NULL when every partial is NULL; integers stay integers,
/// decimals stay exact decimals, floats (or any float) become a float.
fn sum<'a>(values: impl Iterator<Item = &'a Value>) -> Result<Value, MergeError> {
    enum Acc {
        None,
        Int(i128),
        Dec(Decimal),
        Float(f64),
    }
    let mut acc = Acc::None;
    for v in values {
        let as_dec = |acc: &Acc| -> Option<Decimal> {
            match acc {
                Acc::None => Some(Decimal::from_int(0)),
                Acc::Int(i) => Some(Decimal::from_int(*i)),
                Acc::Dec(d) => Some(*d),
                Acc::Float(_) => None,
            }
        };
        let as_float = |acc: &Acc| match acc {
            Acc::None => 0.0,
            Acc::Int(i) => *i as f64,
            Acc::Dec(d) => d.to_f64(),
            Acc::Float(f) => *f,
        };
        acc = match v {
            Value::Null => continue,
            Value::Int(_) | Value::UInt(_) => {
                let n = match v {
                    Value::Int(i) => i128::from(*i),
                    Value::UInt(u) => i128::from(*u),
                    _ => 0,
                };
                match acc {
                    Acc::None => Acc::Int(n),
                    Acc::Int(i) => Acc::Int(i.checked_add(n).ok_or_else(|| bad("sum", v))?),
                    Acc::Dec(d) => Acc::Dec(
                        d.checked_add(Decimal::from_int(n))
                            .ok_or_else(|| bad("sum", v))?,
                    ),
                    Acc::Float(f) => Acc::Float(f + n as f64),
                }
            }
            Value::Decimal(s) => match Decimal::parse(s) {
                Some(d) => match as_dec(&acc) {
                    Some(a) => Acc::Dec(a.checked_add(d).ok_or_else(|| bad("sum", v))?),
                    None => Acc::Float(as_float(&acc) + d.to_f64()),
                },
                None => {
                    let f: f64 = s.trim().parse().map_err(|_| bad("sum", v))?;
                    Acc::Float(as_float(&acc) + f)
                }
            },
            Value::Float(f) => Acc::Float(as_float(&acc) + f),
            Value::Bytes(b) => {
                let s = std::str::from_utf8(b).map_err(|_| bad("sum", v))?;
                match (Decimal::parse(s), as_dec(&acc)) {
                    (Some(d), Some(a)) => Acc::Dec(a.checked_add(d).ok_or_else(|| bad("sum", v))?),
                    _ => {
                        let f: f64 = s.trim().parse().map_err(|_| bad("sum", v))?;
                        Acc::Float(as_float(&acc) + f)
                    }
                }
            }
        };
    }
    Ok(match acc {
        Acc::None => Value::Null,
        Acc::Int(i) => int_value(i),
        Acc::Dec(d) => Value::Decimal(d.to_string()),
        Acc::Float(f) => Value::Float(f),
    })
}

/// The row holding the least (`Less`) or greatest non-NULL value of column
/// `c`; `None` when every value is NULL.
fn extreme(coll: &Collation, c: usize, rows: &[Row], want: Ordering) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, r) in rows.iter().enumerate() {
        if r[c].is_null() {
            continue;
        }
        if best.is_none_or(|b| coll.compare(c, r, &rows[b]) == want) {
            best = Some(i);
        }
    }
    best
}

/// AVG from merged SUM and COUNT, typed like MySQL's: a float for float
/// sums, else a decimal with 4 more places.
fn avg(sum: &Value, count: &Value) -> Result<Value, MergeError> {
    let n: i128 = match count {
        Value::Int(i) => i128::from(*i),
        Value::UInt(u) => i128::from(*u),
        Value::Decimal(s) => Decimal::parse(s)
            .filter(|d| d.scale == 0)
            .map(|d| d.mantissa)
            .ok_or_else(|| bad("divide by the count", count))?,
        Value::Null => 0,
        _ => return Err(bad("divide by the count", count)),
    };
    if n == 0 || sum.is_null() {
        return Ok(Value::Null);
    }
    Ok(match sum {
        Value::Float(f) => Value::Float(f / n as f64),
        Value::Int(i) => dec_avg(Decimal::from_int(i128::from(*i)), n, sum)?,
        Value::UInt(u) => dec_avg(Decimal::from_int(i128::from(*u)), n, sum)?,
        Value::Decimal(s) => match Decimal::parse(s) {
            Some(d) => dec_avg(d, n, sum)?,
            None => {
                Value::Float(s.trim().parse::<f64>().map_err(|_| bad("average", sum))? / n as f64)
            }
        },
        other => return Err(bad("average", other)),
    })
}

fn dec_avg(d: Decimal, n: i128, sum: &Value) -> Result<Value, MergeError> {
    d.div_int(n, 4)
        .map(|q| Value::Decimal(q.to_string()))
        .ok_or_else(|| bad("average", sum))
}

//! ORDER BY: a k-way merge of shard streams each already sorted by the
//! shard, or a full sort after aggregation; DISTINCT; OFFSET/LIMIT.

use std::cmp::Ordering;
use std::collections::{HashSet, VecDeque};

use super::collate::Collation;
use super::decimal::Decimal;
use super::spec::OrderKey;
use super::value::{Row, Value};
use super::MergeError;

pub(crate) fn cmp_rows(keys: &[OrderKey], coll: &Collation, a: &Row, b: &Row) -> Ordering {
    for k in keys {
        let o = coll.compare(k.column, a, b);
        let o = if k.descending { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

pub(crate) fn check_keys(keys: &[OrderKey], rows: &[Row]) -> Result<(), MergeError> {
    if let Some(max) = keys.iter().map(|k| k.column).max() {
        if let Some(r) = rows.iter().find(|r| r.len() <= max) {
            return Err(MergeError::ShortRow {
                got: r.len(),
                needed: max + 1,
            });
        }
    }
    Ok(())
}

/// Merges streams each sorted by `keys` into one sorted stream; ties go to
/// the earlier stream, so the merge is stable. Text compares bytewise here;
/// [`crate::merge::apply`] compares it by collation.
pub fn merge_sorted(streams: Vec<Vec<Row>>, keys: &[OrderKey]) -> Vec<Row> {
    merge_streams(streams, keys, &Collation::default())
}

/// [`merge_sorted`] with text key columns compared by `coll`.
pub(crate) fn merge_streams(
    streams: Vec<Vec<Row>>,
    keys: &[OrderKey],
    coll: &Collation,
) -> Vec<Row> {
    let total = streams.iter().map(Vec::len).sum();
    let mut queues: Vec<VecDeque<Row>> = streams.into_iter().map(VecDeque::from).collect();
    let mut out = Vec::with_capacity(total);
    loop {
        let mut best: Option<(usize, &Row)> = None;
        for (i, q) in queues.iter().enumerate() {
            let Some(candidate) = q.front() else {
                continue;
            };
            if best.is_none_or(|(_, b)| cmp_rows(keys, coll, candidate, b) == Ordering::Less) {
                best = Some((i, candidate));
            }
        }
        let Some((i, _)) = best else {
            return out;
        };
        if let Some(row) = queues[i].pop_front() {
            out.push(row);
        }
    }
}

/// A key equal for values MySQL's DISTINCT treats as equal (numbers by
/// value, text by collation weight, other bytes bytewise).
fn distinct_key(coll: &Collation, column: usize, row: &Row) -> Vec<u8> {
    if let Some(w) = coll.key(column, row) {
        let mut k = vec![b'W'];
        k.extend(w);
        return k;
    }
    let Some(v) = row.get(column) else {
        return Vec::new();
    };
    let mut k = Vec::new();
    let number = |d: Decimal| {
        let s = d.to_string();
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        };
        if s == "-0" {
            "0".to_string()
        } else {
            s
        }
    };
    match v {
        Value::Null => k.push(b'N'),
        Value::Int(i) => {
            k.extend(format!("D{}", number(Decimal::from_int(i128::from(*i)))).bytes())
        }
        Value::UInt(u) => {
            k.extend(format!("D{}", number(Decimal::from_int(i128::from(*u)))).bytes())
        }
        Value::Decimal(s) => match Decimal::parse(s) {
            Some(d) => k.extend(format!("D{}", number(d)).bytes()),
            None => k.extend(format!("S{s}").bytes()),
        },
        Value::Float(f) => {
            let as_dec = if f.fract() == 0.0 && f.abs() < 1e30 {
                Some(Decimal::from_int(*f as i128))
            } else {
                None
            };
            match as_dec {
                Some(d) => k.extend(format!("D{}", number(d)).bytes()),
                None => k.extend(format!("F{f:?}").bytes()),
            }
        }
        Value::Bytes(b) => {
            k.push(b'B');
            k.extend_from_slice(b);
        }
    }
    k
}

/// Drops rows equal to an earlier row on the first `width` columns (all
/// when 0), keeping order.
pub(crate) fn distinct(rows: Vec<Row>, width: usize, coll: &Collation) -> Vec<Row> {
    let mut seen: HashSet<Vec<Vec<u8>>> = HashSet::new();
    rows.into_iter()
        .filter(|r| {
            let n = if width == 0 {
                r.len()
            } else {
                width.min(r.len())
            };
            seen.insert((0..n).map(|c| distinct_key(coll, c, r)).collect())
        })
        .collect()
}

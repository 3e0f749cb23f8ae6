//! Pure merging of per-shard result rows for scatter queries: k-way merge
//! of sorted streams, partial aggregates (COUNT/SUM/MIN/MAX/AVG), GROUP BY,
//! HAVING, DISTINCT and OFFSET/LIMIT. No IO: rows in, rows out.
//!
//! Text compares like the shards compare it, by the column's collation
//! (MariaDB's defaults are case- and accent-insensitive and pad with
//! spaces: `'apple' = 'Apple' = 'APPLE '`). The gate knows no collations:
//! for every key column that may hold text (GROUP BY, ORDER BY, DISTINCT,
//! the argument of MIN/MAX) the planner has the shards send
//! `WEIGHT_STRING` of it and the weight of a space in its collation as two
//! hidden columns, and the merge compares text values by those weights
//! ([`CollationKey`], module `collate` for the rules and the measured facts
//! behind them). Values without a weight compare as before: NULL first,
//! numbers by value, other bytes (BIT) bytewise. A group's or a MIN/MAX's
//! visible spelling is that of one of its members, as in MariaDB.

mod aggregate;
mod cmp;
mod collate;
mod decimal;
mod sort;
mod spec;
mod value;

pub use sort::merge_sorted;
pub use spec::{
    AggregateSpec, CollationKey, ColumnMerge, CompareOp, MergeSpec, OrderKey, Predicate,
};
pub use value::{compare, Row, Value};

/// A merge that could not be carried out (the shards sent rows the plan did
/// not expect).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("merge: row has {got} columns, the plan needs column {needed}")]
    ShortRow { got: usize, needed: usize },
    #[error("merge: cannot {op} {value}")]
    BadValue { op: &'static str, value: String },
    #[error("merge: cannot compare column {column} by collation: {what}")]
    Collation { column: usize, what: String },
}

/// Merges the rows each shard returned (one `Vec<Row>` per shard, each in
/// the order the shard sent them) according to `spec`, returning the
/// client's rows with hidden columns removed.
///
/// Without aggregation the shard streams are sorted by `spec.order_by`
/// already (the shards got the same ORDER BY) and are merged, not sorted.
pub fn apply(spec: &MergeSpec, shards: Vec<Vec<Row>>) -> Result<Vec<Row>, MergeError> {
    let coll = collate::Collation::prepare(&spec.collation, shards.iter().flatten())?;
    let mut rows = match &spec.aggregate {
        Some(agg) => {
            let rows = aggregate::aggregate(agg, &coll, shards.into_iter().flatten().collect())?;
            let mut rows = if spec.distinct {
                sort::distinct(rows, spec.visible_columns, &coll)
            } else {
                rows
            };
            sort::check_keys(&spec.order_by, &rows)?;
            rows.sort_by(|a, b| sort::cmp_rows(&spec.order_by, &coll, a, b));
            rows
        }
        None => {
            for s in &shards {
                sort::check_keys(&spec.order_by, s)?;
            }
            let rows = if spec.order_by.is_empty() {
                shards.into_iter().flatten().collect()
            } else {
                sort::merge_streams(shards, &spec.order_by, &coll)
            };
            if spec.distinct {
                sort::distinct(rows, spec.visible_columns, &coll)
            } else {
                rows
            }
        }
    };
    let offset = usize::try_from(spec.offset).unwrap_or(usize::MAX);
    if offset > 0 {
        rows.drain(..offset.min(rows.len()));
    }
    if let Some(limit) = spec.limit {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    if spec.visible_columns > 0 {
        for r in &mut rows {
            r.truncate(spec.visible_columns);
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests;

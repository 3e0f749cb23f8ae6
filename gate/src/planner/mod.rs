//! The query planner: a pure function from a parsed statement, the VSchema
//! and the serving graph to a [`Plan`] naming the shards to send SQL to and
//! how to merge what they answer.
//!
//! How a statement is planned:
//! 1. Re-parse `sql` with [`parse`] (string literals kept as written) and
//!    substitute bind values for `?`.
//! 2. Resolve every table to its keyspace (`ks.table`, else the session's
//!    keyspace, else the one keyspace declaring it) and its kind: a table of
//!    an unsharded keyspace, a sharded table with its primary vindex, a
//!    reference table, or a pinned table. Keyspace qualifiers are removed
//!    from the SQL sent to shards (their databases are not named after the
//!    keyspace).
//! 3. Route: unsharded → its shard; sharded → the vindex predicates of the
//!    WHERE clause pick one shard (`=`), some (`IN`), or all (scatter).
//! 4. For scatter SELECTs, rewrite the shard query (partial aggregates,
//!    LIMIT offset+limit, helper columns) and describe the merge.
//!
//! Anything that would need cross-shard evaluation the gate does not do
//! (cross-shard joins, subqueries over sharded tables, COUNT(DISTINCT) on a
//! scatter, …) is refused with [`PlanError::Unsupported`]: a wrong answer
//! is never returned.

mod context;
mod ddl;
mod display;
mod dml;
mod error;
mod insert;
mod normalize;
mod plan;
mod route;
mod select;
mod sql;
mod template;

pub use context::PlanContext;
pub use error::PlanError;
pub use normalize::normalize;
pub use plan::{Plan, RouteKind, ShardParam, ShardQuery, StatementKind, TEMPLATE_SHARD};
pub use sql::{parse, placeholders};
pub use template::{Binds, Template};

pub use crate::merge::MergeSpec;

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Ident, ObjectName, ObjectNamePart, Query, SelectItem, SelectItemQualifiedWildcardKind,
    SetExpr, Statement, VisitMut, VisitorMut,
};
use topo::keyrange::{from_hex, KeyspaceId};
use topo::records::{ShardReference, TabletType};
use topo::vindex::Vindex;
use topo::vschema::{TableType, VSchema};

/// Plans `stmt`, which [`parse`] made of `sql` (it keeps string literals
/// exactly as written, so rewritten SQL sends the client's bytes; the gate
/// parses each statement once). SELECT, INSERT, UPDATE, DELETE and DDL
/// only: SHOW/SET/USE and transaction control are the server's.
pub fn plan(mut stmt: Statement, sql: &str, ctx: &PlanContext) -> Result<Plan, PlanError> {
    let modified = sql::substitute_binds(&mut stmt, ctx.bind_values)?;
    plan_substituted(stmt, sql, ctx, modified)
}

/// [`plan`] once bind values are in place (or, for a template, numbered
/// placeholders: see [`template`]).
fn plan_substituted(
    stmt: Statement,
    sql: &str,
    ctx: &PlanContext,
    modified: bool,
) -> Result<Plan, PlanError> {
    let planner = Planner { ctx };
    let out = Output {
        sql,
        modified,
        stripped: false,
    };
    match stmt {
        Statement::Query(mut q) => select::plan(&planner, &mut q, out),
        Statement::Insert(mut ins) => insert::plan(&planner, &mut ins, out),
        Statement::Update(mut upd) => dml::plan_update(&planner, &mut upd, out),
        Statement::Delete(mut del) => dml::plan_delete(&planner, &mut del, out),
        other => ddl::plan(&planner, other, out),
    }
}

/// How to produce the SQL sent to shards: the client's text unless the
/// statement was changed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output<'s> {
    sql: &'s str,
    /// Bind values were substituted or the AST otherwise rewritten.
    modified: bool,
    /// Keyspace qualifiers were removed.
    stripped: bool,
}

impl Output<'_> {
    fn render(&self, stmt: &impl std::fmt::Display) -> String {
        if self.modified || self.stripped {
            stmt.to_string()
        } else {
            self.sql.to_string()
        }
    }
}

/// A table as the router sees it.
#[derive(Debug)]
pub(crate) enum TableKind {
    /// Any table of an unsharded keyspace.
    Unsharded,
    /// Sharded by `column` through `vindex` (named `vindex_name`).
    Sharded {
        column: String,
        vindex_name: String,
        vindex: Box<dyn Vindex>,
    },
    /// Copied to every shard.
    Reference,
    /// Lives on the shard owning this keyspace id.
    Pinned(KeyspaceId),
}

/// A resolved table reference.
#[derive(Debug)]
pub(crate) struct TableRef {
    pub keyspace: String,
    pub sharded: bool,
    pub table: String,
    pub kind: TableKind,
}

const SYSTEM_SCHEMAS: &[&str] = &["information_schema", "mysql", "performance_schema", "sys"];

/// The planner's view of the context.
pub(crate) struct Planner<'c, 'a> {
    ctx: &'c PlanContext<'a>,
}

static EMPTY_VSCHEMA: std::sync::LazyLock<VSchema> = std::sync::LazyLock::new(VSchema::default);

impl Planner<'_, '_> {
    fn tablet_type(&self) -> TabletType {
        self.ctx.tablet_type
    }

    /// Whether `name` is a keyspace (in the VSchema or the serving graph).
    fn is_keyspace(&self, name: &str) -> bool {
        self.ctx.vschema.keyspaces.contains_key(name) || self.ctx.srv_keyspaces.contains_key(name)
    }

    fn keyspace_vschema(&self, ks: &str) -> Result<&VSchema, PlanError> {
        match self.ctx.vschema.keyspaces.get(ks) {
            Some(vs) => Ok(vs),
            // A keyspace without a VSchema is unsharded (as in Vitess).
            None if self.ctx.srv_keyspaces.contains_key(ks) => Ok(&EMPTY_VSCHEMA),
            None => Err(PlanError::KeyspaceNotFound(ks.to_string())),
        }
    }

    /// The keyspace a DDL or unqualified name without tables targets.
    fn default_keyspace(&self) -> Result<String, PlanError> {
        self.ctx
            .default_keyspace
            .map(str::to_string)
            .ok_or(PlanError::NoKeyspace)
    }

    /// The keyspace and table an object name refers to (`t` or `ks.t`),
    /// without looking the table up.
    fn split_name(&self, name: &ObjectName) -> Result<(String, String), PlanError> {
        let parts = sql::name_parts(name)
            .ok_or_else(|| PlanError::unsupported(format!("table name {name}")))?;
        match parts.as_slice() {
            [ks, _] if SYSTEM_SCHEMAS.iter().any(|s| s.eq_ignore_ascii_case(ks)) => Err(
                PlanError::unsupported(format!("queries on the system schema {ks}")),
            ),
            [ks, t] => Ok((ks.to_string(), t.to_string())),
            [t] => match self.ctx.default_keyspace {
                Some(ks) => Ok((ks.to_string(), t.to_string())),
                None => {
                    let found: Vec<&String> = self
                        .ctx
                        .vschema
                        .keyspaces
                        .iter()
                        .filter(|(_, vs)| vs.tables.contains_key(*t))
                        .map(|(ks, _)| ks)
                        .collect();
                    match found.as_slice() {
                        [ks] => Ok((ks.to_string(), t.to_string())),
                        [] => Err(PlanError::NoKeyspace),
                        many => Err(PlanError::Invalid(format!(
                            "table '{t}' is ambiguous (in keyspaces {}): qualify it as keyspace.{t}",
                            many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                        ))),
                    }
                }
            },
            _ => Err(PlanError::unsupported(format!("table name {name}"))),
        }
    }

    /// Resolves a table name to its keyspace and routing kind.
    fn resolve(&self, name: &ObjectName) -> Result<TableRef, PlanError> {
        let (keyspace, table) = self.split_name(name)?;
        let vs = self.keyspace_vschema(&keyspace)?;
        if !vs.sharded {
            return Ok(TableRef {
                keyspace,
                sharded: false,
                table,
                kind: TableKind::Unsharded,
            });
        }
        let Some(t) = vs.tables.get(&table) else {
            return Err(PlanError::TableNotFound { table, keyspace });
        };
        let kind = match t.table_type {
            TableType::Reference => TableKind::Reference,
            TableType::Sequence => {
                return Err(PlanError::unsupported(format!(
                    "sequence table '{table}' in sharded keyspace '{keyspace}'"
                )))
            }
            TableType::Normal => {
                if let Some(pinned) = &t.pinned {
                    let id = from_hex(pinned).ok_or_else(|| {
                        PlanError::Invalid(format!("table '{table}': bad pinned id {pinned:?}"))
                    })?;
                    TableKind::Pinned(KeyspaceId(id))
                } else if let Some((column, vindex)) = vs.primary_vindex(&table) {
                    let vindex_name = t
                        .column_vindexes
                        .first()
                        .map(|cv| cv.name.clone())
                        .unwrap_or_default();
                    TableKind::Sharded {
                        column: column.to_string(),
                        vindex_name,
                        vindex,
                    }
                } else {
                    return Err(PlanError::unsupported(format!(
                        "table '{table}' in keyspace '{keyspace}' has no usable primary vindex"
                    )));
                }
            }
        };
        Ok(TableRef {
            keyspace,
            sharded: true,
            table,
            kind,
        })
    }

    /// The shards of `ks` serving the session's tablet type, in key order.
    fn shards(&self, ks: &str) -> Result<&[ShardReference], PlanError> {
        let shards = self
            .ctx
            .srv_keyspaces
            .get(ks)
            .map(|srv| srv.shards_for(self.ctx.tablet_type))
            .unwrap_or(&[]);
        if shards.is_empty() {
            return Err(PlanError::NoShards {
                keyspace: ks.to_string(),
                tablet_type: self.ctx.tablet_type.to_string(),
            });
        }
        Ok(shards)
    }

    /// The shard of `ks` owning keyspace id `id`.
    fn shard_for(&self, ks: &str, id: &KeyspaceId) -> Result<String, PlanError> {
        let shards = self.shards(ks)?;
        topo::keyrange::shard_for(
            shards.iter().map(|s| (s.name.as_str(), &s.key_range)),
            id.as_bytes(),
        )
        .map(str::to_string)
        .ok_or_else(|| {
            PlanError::Routing(format!(
                "keyspace id {id}: no shard of keyspace '{ks}' owns it"
            ))
        })
    }

    /// Writes need the primary.
    fn check_write(&self) -> Result<(), PlanError> {
        if self.ctx.tablet_type != TabletType::Primary {
            return Err(PlanError::unsupported(format!(
                "writes on {} tablets: use the keyspace without @{}",
                self.ctx.tablet_type, self.ctx.tablet_type
            )));
        }
        Ok(())
    }

    /// A plan sending `sql` to every listed shard.
    fn plan_for(
        &self,
        keyspace: &str,
        statement: StatementKind,
        route: RouteKind,
        shards: Vec<String>,
        sql: String,
    ) -> Plan {
        Plan {
            keyspace: keyspace.to_string(),
            tablet_type: self.tablet_type(),
            statement,
            route,
            queries: shards
                .into_iter()
                .map(|shard| ShardQuery {
                    shard,
                    sql: sql.clone(),
                })
                .collect(),
            merge: None,
            shard_param: None,
            qualified: false,
            bind_vars: Default::default(),
        }
    }

    /// Removes a keyspace qualifier from one name (`ks.t` → `t`).
    fn strip_name(&self, name: &mut ObjectName) -> bool {
        let mut s = Stripper {
            planner: self,
            stripped: false,
        };
        s.strip_name(name);
        s.stripped
    }

    fn all_shard_names(&self, ks: &str) -> Result<Vec<String>, PlanError> {
        Ok(self.shards(ks)?.iter().map(|s| s.name.clone()).collect())
    }

    /// Removes keyspace qualifiers (`ks.t` → `t`, `ks.t.c` → `t.c`) from a
    /// statement. Returns whether any was removed.
    fn strip_keyspaces<V: VisitMut>(&self, v: &mut V) -> bool {
        let mut s = Stripper {
            planner: self,
            stripped: false,
        };
        let _ = v.visit(&mut s);
        s.stripped
    }
}

struct Stripper<'p, 'c, 'a> {
    planner: &'p Planner<'c, 'a>,
    stripped: bool,
}

impl Stripper<'_, '_, '_> {
    fn strip_name(&mut self, name: &mut ObjectName) {
        if name.0.len() >= 2 {
            if let Some(ObjectNamePart::Identifier(first)) = name.0.first() {
                if self.planner.is_keyspace(&first.value) {
                    name.0.remove(0);
                    self.stripped = true;
                }
            }
        }
    }

    fn strip_idents(&mut self, parts: &mut Vec<Ident>) {
        if parts.len() >= 3 && self.planner.is_keyspace(&parts[0].value) {
            parts.remove(0);
            self.stripped = true;
        }
    }
}

impl VisitorMut for Stripper<'_, '_, '_> {
    type Break = ();

    fn pre_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<()> {
        self.strip_name(relation);
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::CompoundIdentifier(parts) = expr {
            self.strip_idents(parts);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut() {
            for item in &mut select.projection {
                if let SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(n),
                    _,
                ) = item
                {
                    if n.0.len() >= 2 {
                        self.strip_name(n);
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }
}

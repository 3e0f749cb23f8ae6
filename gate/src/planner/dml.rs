//! UPDATE and DELETE: routed like a SELECT on one table; reference tables
//! are written on every shard.

use std::ops::ControlFlow;

use sqlparser::ast::{Delete, Expr, FromTable, ObjectName, TableFactor, Update};

use super::insert::assigns;
use super::route::{route, ScopeTable};
use super::sql::conjuncts;
use super::{
    Output, Plan, PlanError, Planner, RouteKind, ShardParam, StatementKind, TableKind, TableRef,
};

fn relations<V: sqlparser::ast::Visit>(p: &Planner, v: &V) -> Result<Vec<TableRef>, PlanError> {
    let mut names: Vec<ObjectName> = Vec::new();
    let _ = sqlparser::ast::visit_relations(v, |n| {
        names.push(n.clone());
        ControlFlow::<()>::Continue(())
    });
    names.iter().map(|n| p.resolve(n)).collect()
}

/// Where a write goes: keyspace, route, shards, and for a template the
/// bound value that picks the shard.
type Written = (String, RouteKind, Vec<String>, Option<ShardParam>);

/// Shared by UPDATE and DELETE once the single target table is known.
#[allow(clippy::too_many_arguments)]
fn plan_write(
    p: &Planner,
    kind: StatementKind,
    target: &TableFactor,
    all: Vec<TableRef>,
    selection: Option<&Expr>,
    has_order_or_limit: bool,
    multi_table: bool,
    changed_vindex: &dyn Fn(&str) -> bool,
) -> Result<Written, PlanError> {
    let TableFactor::Table { name, alias, .. } = target else {
        return Err(PlanError::unsupported(format!("{kind} of {target}")));
    };
    let t = p.resolve(name)?;
    let ks = t.keyspace.clone();
    if let Some(other) = all.iter().find(|r| r.keyspace != ks) {
        return Err(PlanError::unsupported(format!(
            "{kind} in keyspace '{ks}' reading keyspace '{}'",
            other.keyspace
        )));
    }
    if !t.sharded {
        let shards = p.all_shard_names(&ks)?;
        if shards.len() != 1 {
            return Err(PlanError::Routing(format!(
                "unsharded keyspace '{ks}' has {} shards",
                shards.len()
            )));
        }
        return Ok((ks, RouteKind::Unsharded, shards, None));
    }
    if multi_table {
        return Err(PlanError::unsupported(format!(
            "multi-table {kind} on sharded keyspace '{ks}'"
        )));
    }
    // `all` includes the target itself once.
    let others_sharded = all
        .iter()
        .filter(|r| !matches!(r.kind, TableKind::Reference))
        .count()
        > usize::from(!matches!(t.kind, TableKind::Reference));
    if others_sharded {
        return Err(PlanError::unsupported(format!(
            "{kind} with a subquery over sharded tables"
        )));
    }
    if let TableKind::Sharded { column, .. } = &t.kind {
        if changed_vindex(column) {
            return Err(PlanError::unsupported(format!(
                "changing the vindex column {column} of table '{}' (the row would move to another shard)",
                t.table
            )));
        }
    }
    if matches!(t.kind, TableKind::Reference) {
        if has_order_or_limit {
            return Err(PlanError::unsupported(format!(
                "{kind} … ORDER BY/LIMIT on reference table '{}'",
                t.table
            )));
        }
        return Ok((
            ks.clone(),
            RouteKind::AllShards,
            p.all_shard_names(&ks)?,
            None,
        ));
    }
    let scope = vec![ScopeTable {
        name: alias
            .as_ref()
            .map(|a| a.name.value.clone())
            .unwrap_or_else(|| t.table.clone()),
        table: t,
    }];
    let conj: Vec<&Expr> = selection.map(conjuncts).unwrap_or_default();
    let r = route(p, &scope, &conj, &conj)?;
    if !r.is_single() && has_order_or_limit {
        return Err(PlanError::unsupported(format!(
            "{kind} … ORDER BY/LIMIT on several shards"
        )));
    }
    Ok((r.keyspace, r.kind, r.shards, r.param))
}

pub(crate) fn plan_update(
    p: &Planner,
    upd: &mut Update,
    mut out: Output,
) -> Result<Plan, PlanError> {
    p.check_write()?;
    let all = relations(p, &*upd)?;
    let multi = !upd.table.joins.is_empty() || upd.from.is_some();
    let targets: Vec<_> = upd.assignments.iter().map(|a| a.target.clone()).collect();
    let changed = |col: &str| assigns(targets.iter(), col);
    let (ks, kind, shards, param) = plan_write(
        p,
        StatementKind::Update,
        &upd.table.relation,
        all,
        upd.selection.as_ref(),
        !upd.order_by.is_empty() || upd.limit.is_some(),
        multi,
        &changed,
    )?;
    out.stripped = p.strip_keyspaces(upd);
    let mut plan = p.plan_for(&ks, StatementKind::Update, kind, shards, out.render(upd));
    plan.shard_param = param;
    Ok(plan)
}

pub(crate) fn plan_delete(
    p: &Planner,
    del: &mut Delete,
    mut out: Output,
) -> Result<Plan, PlanError> {
    p.check_write()?;
    let all = relations(p, &*del)?;
    let from = match &del.from {
        FromTable::WithFromKeyword(v) | FromTable::WithoutKeyword(v) => v,
    };
    let Some(first) = from.first() else {
        return Err(PlanError::Invalid("DELETE without a table".into()));
    };
    let multi =
        from.len() > 1 || !first.joins.is_empty() || !del.tables.is_empty() || del.using.is_some();
    let (ks, kind, shards, param) = plan_write(
        p,
        StatementKind::Delete,
        &first.relation,
        all,
        del.selection.as_ref(),
        !del.order_by.is_empty() || del.limit.is_some(),
        multi,
        &|_| false,
    )?;
    out.stripped = p.strip_keyspaces(del);
    let mut plan = p.plan_for(&ks, StatementKind::Delete, kind, shards, out.render(del));
    plan.shard_param = param;
    Ok(plan)
}

//! DDL: every shard of a sharded keyspace, the one shard of an unsharded
//! one. The VSchema is not consulted for the table (it may not exist yet).

use sqlparser::ast::{ObjectName, ObjectType, Statement};

use super::{Output, Plan, PlanError, Planner, RouteKind, StatementKind};

pub(crate) fn plan(p: &Planner, mut stmt: Statement, mut out: Output) -> Result<Plan, PlanError> {
    let names: Vec<ObjectName> = match &stmt {
        Statement::CreateTable(ct) => {
            if ct.query.is_some() {
                return Err(PlanError::unsupported("CREATE TABLE … AS SELECT"));
            }
            vec![ct.name.clone()]
        }
        Statement::AlterTable(at) => vec![at.name.clone()],
        Statement::CreateIndex(ci) => vec![ci.table_name.clone()],
        Statement::CreateView(cv) => vec![cv.name.clone()],
        Statement::Truncate(t) => t.table_names.iter().map(|n| n.name.clone()).collect(),
        Statement::RenameTable(rs) => rs
            .iter()
            .flat_map(|r| [r.old_name.clone(), r.new_name.clone()])
            .collect(),
        Statement::Drop {
            object_type: ObjectType::Table | ObjectType::View,
            names,
            ..
        } => names.clone(),
        Statement::Drop {
            object_type: ObjectType::Index,
            table: Some(t),
            ..
        } => vec![t.clone()],
        other => {
            let text = other.to_string();
            let head: String = text
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            return Err(PlanError::unsupported(format!(
                "statement {head} in the planner"
            )));
        }
    };
    p.check_write()?;
    let mut keyspace: Option<String> = None;
    for n in &names {
        let (ks, _) = p
            .split_name(n)
            .or_else(|e| match (e, p.default_keyspace()) {
                (PlanError::NoKeyspace, Ok(ks)) => Ok((ks, String::new())),
                (e, _) => Err(e),
            })?;
        p.keyspace_vschema(&ks)?;
        match &keyspace {
            Some(k) if *k != ks => {
                return Err(PlanError::unsupported(format!(
                    "DDL across keyspaces ('{k}' and '{ks}')"
                )))
            }
            _ => keyspace = Some(ks),
        }
    }
    let ks = match keyspace {
        Some(ks) => ks,
        None => p.default_keyspace()?,
    };
    let sharded = p.keyspace_vschema(&ks)?.sharded;
    out.stripped = p.strip_keyspaces(&mut stmt);
    // Names the AST visitor does not reach.
    match &mut stmt {
        Statement::Drop { names, table, .. } => {
            for n in names.iter_mut().chain(table.iter_mut()) {
                out.stripped |= p.strip_name(n);
            }
        }
        Statement::CreateIndex(ci) => out.stripped |= p.strip_name(&mut ci.table_name),
        Statement::CreateView(cv) => out.stripped |= p.strip_name(&mut cv.name),
        Statement::AlterTable(at) => out.stripped |= p.strip_name(&mut at.name),
        Statement::Truncate(t) => {
            for n in &mut t.table_names {
                out.stripped |= p.strip_name(&mut n.name);
            }
        }
        Statement::RenameTable(rs) => {
            for r in rs {
                out.stripped |= p.strip_name(&mut r.old_name);
                out.stripped |= p.strip_name(&mut r.new_name);
            }
        }
        _ => {}
    }
    let shards = p.all_shard_names(&ks)?;
    let route = if sharded {
        RouteKind::AllShards
    } else {
        if shards.len() != 1 {
            return Err(PlanError::Routing(format!(
                "unsharded keyspace '{ks}' has {} shards",
                shards.len()
            )));
        }
        RouteKind::Unsharded
    };
    Ok(p.plan_for(&ks, StatementKind::Ddl, route, shards, out.render(&stmt)))
}

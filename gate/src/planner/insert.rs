//! INSERT: one shard for unsharded and pinned tables, every shard for
//! reference tables, and rows split by keyspace id for sharded tables.

use std::ops::ControlFlow;

use sqlparser::ast::{AssignmentTarget, Expr, Insert, ObjectName, OnInsert, SetExpr, TableObject};

use super::sql::{ident_eq, literal, name_parts};
use super::{
    Output, Plan, PlanError, Planner, RouteKind, ShardQuery, StatementKind, TableKind, TableRef,
};

pub(crate) fn plan(p: &Planner, ins: &mut Insert, mut out: Output) -> Result<Plan, PlanError> {
    p.check_write()?;
    let TableObject::TableName(name) = &ins.table else {
        return Err(PlanError::unsupported("INSERT INTO a table function"));
    };
    let t = p.resolve(name)?;
    // Tables read by INSERT … SELECT (or subqueries in VALUES).
    let mut read: Vec<ObjectName> = Vec::new();
    if let Some(src) = &ins.source {
        let _ = sqlparser::ast::visit_relations(src.as_ref(), |n| {
            read.push(n.clone());
            ControlFlow::<()>::Continue(())
        });
    }
    let read = read
        .iter()
        .map(|n| p.resolve(n))
        .collect::<Result<Vec<TableRef>, _>>()?;
    if let Some(other) = read.iter().find(|r| r.keyspace != t.keyspace) {
        return Err(PlanError::unsupported(format!(
            "INSERT into keyspace '{}' reading keyspace '{}'",
            t.keyspace, other.keyspace
        )));
    }
    out.stripped = p.strip_keyspaces(ins);
    let ks = t.keyspace.clone();
    match &t.kind {
        TableKind::Unsharded => {
            let shards = p.all_shard_names(&ks)?;
            if shards.len() != 1 {
                return Err(PlanError::Routing(format!(
                    "unsharded keyspace '{ks}' has {} shards",
                    shards.len()
                )));
            }
            Ok(p.plan_for(
                &ks,
                StatementKind::Insert,
                RouteKind::Unsharded,
                shards,
                out.render(ins),
            ))
        }
        TableKind::Reference => {
            if read.iter().any(|r| !matches!(r.kind, TableKind::Reference)) {
                return Err(PlanError::unsupported(format!(
                    "INSERT into reference table '{}' reading sharded tables",
                    t.table
                )));
            }
            let shards = p.all_shard_names(&ks)?;
            Ok(p.plan_for(
                &ks,
                StatementKind::Insert,
                RouteKind::AllShards,
                shards,
                out.render(ins),
            ))
        }
        TableKind::Pinned(id) => {
            if !read.is_empty() {
                return Err(PlanError::unsupported(
                    "INSERT … SELECT into a pinned table",
                ));
            }
            let shard = p.shard_for(&ks, id)?;
            Ok(p.plan_for(
                &ks,
                StatementKind::Insert,
                RouteKind::EqualUnique,
                vec![shard],
                out.render(ins),
            ))
        }
        TableKind::Sharded { column, vindex, .. } => {
            if !read.is_empty() {
                return Err(PlanError::unsupported(format!(
                    "INSERT … SELECT or subqueries into sharded table '{}'",
                    t.table
                )));
            }
            if let Some(OnInsert::DuplicateKeyUpdate(assignments)) = &ins.on {
                if assigns(assignments.iter().map(|a| &a.target), column) {
                    return Err(PlanError::unsupported(format!(
                        "ON DUPLICATE KEY UPDATE changing the vindex column {column} of table '{}'",
                        t.table
                    )));
                }
            }
            let vs = p.keyspace_vschema(&ks)?;
            let table_def = vs.tables.get(&t.table);
            let auto = table_def.and_then(|d| d.auto_increment.as_ref());
            let sequence_error = |col: &str, seq: &str| {
                PlanError::unsupported(format!(
                    "auto_increment column {col} of table '{}' needs a value from sequence '{seq}', which the gate does not serve: supply {col} explicitly",
                    t.table
                ))
            };

            // INSERT … SET col = value, …: one row.
            if ins.source.is_none() {
                let value = ins.assignments.iter().find_map(|a| match &a.target {
                    AssignmentTarget::ColumnName(n) => name_parts(n)
                        .and_then(|parts| parts.last().map(|c| ident_eq(c, column)))
                        .unwrap_or(false)
                        .then_some(&a.value),
                    AssignmentTarget::Tuple(_) => None,
                });
                if let Some(auto) = auto {
                    let given = ins.assignments.iter().any(|a| {
                        matches!(&a.target, AssignmentTarget::ColumnName(n)
                            if name_parts(n).and_then(|p| p.last().map(|c| ident_eq(c, &auto.column))).unwrap_or(false))
                    });
                    if !given {
                        return Err(sequence_error(&auto.column, &auto.sequence));
                    }
                }
                let shard = row_shard(p, &ks, column, vindex.as_ref(), value, None)?;
                return Ok(p.plan_for(
                    &ks,
                    StatementKind::Insert,
                    RouteKind::InsertSplit,
                    vec![shard],
                    out.render(ins),
                ));
            }

            let columns: Vec<String> = if ins.columns.is_empty() {
                match table_def {
                    Some(d) if d.column_list_authoritative && !d.columns.is_empty() => {
                        d.columns.iter().map(|c| c.name.clone()).collect()
                    }
                    _ => {
                        return Err(PlanError::unsupported(format!(
                            "INSERT without a column list into sharded table '{}'",
                            t.table
                        )))
                    }
                }
            } else {
                ins.columns
                    .iter()
                    .map(|c| {
                        name_parts(c)
                            .and_then(|p| p.last().map(|s| s.to_string()))
                            .unwrap_or_default()
                    })
                    .collect()
            };
            let vindex_pos = columns.iter().position(|c| ident_eq(c, column));
            let auto_pos = match auto {
                Some(a) => match columns.iter().position(|c| ident_eq(c, &a.column)) {
                    Some(i) => Some((i, a)),
                    None => return Err(sequence_error(&a.column, &a.sequence)),
                },
                None => None,
            };
            let Some(src) = ins.source.as_mut() else {
                return Err(PlanError::Invalid("INSERT without rows".into()));
            };
            if src.order_by.is_some() || src.limit_clause.is_some() || src.with.is_some() {
                return Err(PlanError::unsupported(
                    "INSERT … SELECT into a sharded table",
                ));
            }
            let SetExpr::Values(values) = src.body.as_mut() else {
                return Err(PlanError::unsupported(format!(
                    "INSERT … SELECT into sharded table '{}'",
                    t.table
                )));
            };
            let n_rows = values.rows.len();
            let shards = p.shards(&ks)?;
            let mut per_shard: Vec<Vec<usize>> = vec![Vec::new(); shards.len()];
            for (r, row) in values.rows.iter().enumerate() {
                let row_exprs = row.content.as_slice();
                if row_exprs.len() != columns.len() {
                    return Err(PlanError::Invalid(format!(
                        "row {}: {} values for {} columns",
                        r + 1,
                        row_exprs.len(),
                        columns.len()
                    )));
                }
                if let Some((i, a)) = auto_pos {
                    if matches!(literal(&row_exprs[i]), Some(topo::vindex::Value::Null)) {
                        return Err(sequence_error(&a.column, &a.sequence));
                    }
                }
                let which = (n_rows > 1).then_some((r + 1, n_rows));
                let value = vindex_pos.map(|i| &row_exprs[i]);
                let shard = row_shard(p, &ks, column, vindex.as_ref(), value, which)?;
                if let Some(i) = shards.iter().position(|s| s.name == shard) {
                    per_shard[i].push(r);
                }
            }
            let used: Vec<usize> = (0..shards.len())
                .filter(|&i| !per_shard[i].is_empty())
                .collect();
            if let [only] = used.as_slice() {
                return Ok(p.plan_for(
                    &ks,
                    StatementKind::Insert,
                    RouteKind::InsertSplit,
                    vec![shards[*only].name.clone()],
                    out.render(ins),
                ));
            }
            let all_rows = std::mem::take(&mut values.rows);
            let mut queries = Vec::new();
            for i in used {
                if let Some(src) = ins.source.as_mut() {
                    if let SetExpr::Values(v) = src.body.as_mut() {
                        v.rows = per_shard[i].iter().map(|&r| all_rows[r].clone()).collect();
                    }
                }
                queries.push(ShardQuery {
                    shard: shards[i].name.clone(),
                    sql: ins.to_string(),
                });
            }
            Ok(Plan {
                keyspace: ks,
                tablet_type: p.tablet_type(),
                statement: StatementKind::Insert,
                route: RouteKind::InsertSplit,
                queries,
                merge: None,
                shard_param: None,
                qualified: false,
                bind_vars: Default::default(),
            })
        }
    }
}

/// Whether assignments change `column`.
pub(crate) fn assigns<'a>(
    mut targets: impl Iterator<Item = &'a AssignmentTarget>,
    column: &str,
) -> bool {
    let is_col = |n: &ObjectName| {
        name_parts(n)
            .and_then(|p| p.last().map(|c| ident_eq(c, column)))
            .unwrap_or(false)
    };
    targets.any(|t| match t {
        AssignmentTarget::ColumnName(n) => is_col(n),
        AssignmentTarget::Tuple(ns) => ns.iter().any(is_col),
    })
}

/// The shard a row goes to, from its vindex column's value.
fn row_shard(
    p: &Planner,
    ks: &str,
    column: &str,
    vindex: &dyn topo::vindex::Vindex,
    value: Option<&Expr>,
    which: Option<(usize, usize)>,
) -> Result<String, PlanError> {
    let row = match which {
        Some((r, n)) => format!(" (row {r} of {n})"),
        None => String::new(),
    };
    let missing = || {
        PlanError::Routing(format!(
            "row: missing value for vindex column {column}{row}"
        ))
    };
    let expr = value.ok_or_else(missing)?;
    let v = literal(expr).ok_or_else(|| {
        PlanError::Routing(format!(
            "row: value {expr} for vindex column {column} is not a literal{row}"
        ))
    })?;
    if v == topo::vindex::Value::Null {
        return Err(missing());
    }
    let id = vindex
        .map(&v)
        .map_err(|e| PlanError::Routing(format!("row: {e}{row}")))?;
    p.shard_for(ks, &id)
}

//! Choosing shards for the tables of one statement from its vindex
//! predicates.

use sqlparser::ast::{BinaryOperator, Expr};
use topo::keyrange::KeyspaceId;

use super::sql::{column_ref, ident_eq, literal, template_param};
use super::{PlanError, Planner, RouteKind, ShardParam, TableKind, TableRef, TEMPLATE_SHARD};

/// A table of the FROM clause with the name queries use for it.
#[derive(Debug)]
pub(crate) struct ScopeTable {
    /// The alias, or the table name.
    pub name: String,
    pub table: TableRef,
}

/// The chosen shards.
#[derive(Debug)]
pub(crate) struct Route {
    pub keyspace: String,
    pub kind: RouteKind,
    pub shards: Vec<String>,
    /// Planning a template ([`super::template`]): the shard is the one
    /// owning a bound value, chosen at execution; `shards` holds a
    /// stand-in name.
    pub param: Option<ShardParam>,
}

impl Route {
    pub fn is_single(&self) -> bool {
        self.shards.len() == 1
    }
}

/// Which table of `scope` a column reference belongs to, if it is a
/// sharded table's vindex column.
fn vindex_table(scope: &[ScopeTable], expr: &Expr) -> Option<usize> {
    let (quals, col) = column_ref(expr)?;
    let is_vindex_col = |t: &ScopeTable| match &t.table.kind {
        TableKind::Sharded { column, .. } => ident_eq(column, col),
        _ => false,
    };
    match quals.last() {
        Some(q) => scope
            .iter()
            .position(|t| t.name == *q)
            .filter(|&i| is_vindex_col(&scope[i])),
        // Unqualified: MySQL rejects the query if the name is ambiguous, so
        // a sharded table owning this column is the one meant.
        None => scope.iter().position(is_vindex_col),
    }
}

fn vindex_name(t: &ScopeTable) -> Option<&str> {
    match &t.table.kind {
        TableKind::Sharded { vindex_name, .. } => Some(vindex_name),
        _ => None,
    }
}

/// What a predicate says about a vindex column.
enum Pin {
    Equal(KeyspaceId),
    In(Vec<KeyspaceId>),
    /// `= ?N` in a template: the value bound to placeholder N decides.
    EqualParam(ShardParam),
}

fn map(t: &ScopeTable, e: &Expr) -> Option<Option<KeyspaceId>> {
    let TableKind::Sharded { vindex, .. } = &t.table.kind else {
        return None;
    };
    let v = literal(e)?;
    if v == topo::vindex::Value::Null {
        // `= NULL` matches nothing: contributes no shard.
        return Some(None);
    }
    vindex.map(&v).ok().map(Some)
}

fn pin_of(scope: &[ScopeTable], e: &Expr) -> Option<Pin> {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => {
            let (i, lit) = match (vindex_table(scope, left), vindex_table(scope, right)) {
                (Some(i), None) => (i, right),
                (None, Some(i)) => (i, left),
                _ => return None,
            };
            if let Some(param) = template_param(lit) {
                return Some(Pin::EqualParam(ShardParam {
                    param,
                    table: scope[i].table.table.clone(),
                }));
            }
            map(&scope[i], lit)?.map(Pin::Equal)
        }
        Expr::InList {
            expr,
            list,
            negated: false,
        } => {
            let i = vindex_table(scope, expr)?;
            let mut ids = Vec::new();
            for item in list {
                if let Some(id) = map(&scope[i], item)? {
                    ids.push(id);
                }
            }
            Some(Pin::In(ids))
        }
        _ => None,
    }
}

/// Routes the tables of one SELECT/UPDATE/DELETE.
///
/// `joins`: conjuncts that may equate vindex columns of two tables (WHERE
/// and every ON clause); `filters`: conjuncts that restrict the result
/// rows (WHERE and inner joins' ON clauses).
pub(crate) fn route(
    planner: &Planner,
    scope: &[ScopeTable],
    joins: &[&Expr],
    filters: &[&Expr],
) -> Result<Route, PlanError> {
    let keyspace = match scope.first() {
        Some(t) => t.table.keyspace.clone(),
        None => return Err(PlanError::Invalid("statement has no table".into())),
    };
    if let Some(other) = scope.iter().find(|t| t.table.keyspace != keyspace) {
        return Err(PlanError::unsupported(format!(
            "a query across keyspaces ('{keyspace}' and '{}')",
            other.table.keyspace
        )));
    }
    if scope.iter().all(|t| !t.table.sharded) {
        let shards = planner.all_shard_names(&keyspace)?;
        if shards.len() != 1 {
            return Err(PlanError::Routing(format!(
                "unsharded keyspace '{keyspace}' has {} shards",
                shards.len()
            )));
        }
        return Ok(Route {
            keyspace,
            kind: RouteKind::Unsharded,
            shards,
            param: None,
        });
    }

    let sharded: Vec<usize> = (0..scope.len())
        .filter(|&i| matches!(scope[i].table.kind, TableKind::Sharded { .. }))
        .collect();
    let pinned: Vec<&KeyspaceId> = scope
        .iter()
        .filter_map(|t| match &t.table.kind {
            TableKind::Pinned(id) => Some(id),
            _ => None,
        })
        .collect();

    if sharded.is_empty() && pinned.is_empty() {
        // Reference tables only: any shard has them all.
        let first = planner.all_shard_names(&keyspace)?.remove(0);
        return Ok(Route {
            keyspace,
            kind: RouteKind::Reference,
            shards: vec![first],
            param: None,
        });
    }
    if !pinned.is_empty() {
        if !sharded.is_empty() {
            return Err(PlanError::unsupported(
                "a join of a pinned table with a sharded table",
            ));
        }
        let mut shards: Vec<String> = Vec::new();
        for id in pinned {
            let s = planner.shard_for(&keyspace, id)?;
            if !shards.contains(&s) {
                shards.push(s);
            }
        }
        if shards.len() > 1 {
            return Err(PlanError::unsupported(
                "a join of pinned tables on different shards",
            ));
        }
        return Ok(Route {
            keyspace,
            kind: RouteKind::EqualUnique,
            shards,
            param: None,
        });
    }

    // Co-location: sharded tables joined on their vindex columns (same
    // vindex) keep matching rows on one shard.
    let mut group: Vec<usize> = (0..scope.len()).collect();
    fn find(g: &mut [usize], i: usize) -> usize {
        let mut r = i;
        while g[r] != r {
            r = g[r];
        }
        g[i] = r;
        r
    }
    for e in joins {
        if let Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } = e
        {
            if let (Some(a), Some(b)) = (vindex_table(scope, left), vindex_table(scope, right)) {
                if a != b && vindex_name(&scope[a]) == vindex_name(&scope[b]) {
                    let (ra, rb) = (find(&mut group, a), find(&mut group, b));
                    group[ra] = rb;
                }
            }
        }
    }
    let root = find(&mut group, sharded[0]);
    for &i in &sharded[1..] {
        if find(&mut group, i) != root {
            return Err(PlanError::unsupported(format!(
                "cross-shard join: '{}' and '{}' are not joined on their vindex columns",
                scope[sharded[0]].name, scope[i].name
            )));
        }
    }

    let all = planner.shards(&keyspace)?;
    let mut in_ids: Option<Vec<KeyspaceId>> = None;
    for e in filters {
        match pin_of(scope, e) {
            Some(Pin::Equal(id)) => {
                let shard = planner.shard_for(&keyspace, &id)?;
                return Ok(Route {
                    keyspace,
                    kind: RouteKind::EqualUnique,
                    shards: vec![shard],
                    param: None,
                });
            }
            Some(Pin::EqualParam(param)) => {
                return Ok(Route {
                    keyspace,
                    kind: RouteKind::EqualUnique,
                    shards: vec![TEMPLATE_SHARD.to_string()],
                    param: Some(param),
                });
            }
            Some(Pin::In(ids)) if in_ids.is_none() => in_ids = Some(ids),
            _ => {}
        }
    }
    if let Some(ids) = in_ids {
        let shards: Vec<String> = all
            .iter()
            .filter(|s| ids.iter().any(|id| s.key_range.contains(id.as_bytes())))
            .map(|s| s.name.clone())
            .collect();
        let shards = if shards.is_empty() {
            // `IN (NULL)`: matches nothing; ask one shard for the columns.
            vec![all[0].name.clone()]
        } else {
            shards
        };
        return Ok(Route {
            keyspace,
            kind: RouteKind::In,
            shards,
            param: None,
        });
    }
    Ok(Route {
        keyspace,
        kind: RouteKind::Scatter,
        shards: all.iter().map(|s| s.name.clone()).collect(),
        param: None,
    })
}

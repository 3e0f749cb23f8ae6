//! SELECT: routing, and for multi-shard routes the shard query rewrite and
//! the merge spec.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, DuplicateTreatment, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, GroupByExpr, Ident, JoinConstraint, JoinOperator,
    LimitClause, ObjectName, OrderByKind, OrderBySort, Query, Select, SelectItem, SetExpr,
    TableFactor, UnaryOperator, Value as SqlValue, ValueWithSpan,
};
use sqlparser::tokenizer::Span;

use super::route::{route, Route, ScopeTable};
use super::sql::{conjuncts, ident_eq, merge_literal, name_parts};
use super::{Output, Plan, PlanError, Planner, RouteKind, StatementKind, TableKind, TableRef};
use crate::merge::{
    AggregateSpec, CollationKey, ColumnMerge, CompareOp, MergeSpec, OrderKey, Predicate, Value,
};

pub(crate) fn plan(p: &Planner, q: &mut Query, mut out: Output) -> Result<Plan, PlanError> {
    let cte_names: Vec<String> = q
        .with
        .as_ref()
        .map(|w| {
            w.cte_tables
                .iter()
                .map(|c| c.alias.name.value.clone())
                .collect()
        })
        .unwrap_or_default();
    let all = resolve_all(p, &*q, &cte_names)?;
    out.stripped = p.strip_keyspaces(q);

    // No table: a constant query, answered by any shard of the session's
    // keyspace (or of any keyspace).
    let Some(first) = all.first() else {
        let ks = match p.ctx.default_keyspace {
            Some(ks) => ks.to_string(),
            None => any_keyspace(p)?,
        };
        let shards = p.all_shard_names(&ks)?;
        let kind = if p.keyspace_vschema(&ks)?.sharded {
            RouteKind::Reference
        } else {
            RouteKind::Unsharded
        };
        let shard = shards.into_iter().take(1).collect();
        return Ok(p.plan_for(&ks, StatementKind::Select, kind, shard, out.render(q)));
    };
    let keyspace = first.keyspace.clone();
    if let Some(other) = all.iter().find(|t| t.keyspace != keyspace) {
        return Err(PlanError::unsupported(format!(
            "a query across keyspaces ('{keyspace}' and '{}')",
            other.keyspace
        )));
    }
    if !first.sharded {
        let shards = p.all_shard_names(&keyspace)?;
        if shards.len() != 1 {
            return Err(PlanError::Routing(format!(
                "unsharded keyspace '{keyspace}' has {} shards",
                shards.len()
            )));
        }
        return Ok(p.plan_for(
            &keyspace,
            StatementKind::Select,
            RouteKind::Unsharded,
            shards,
            out.render(q),
        ));
    }
    if all.iter().all(|t| matches!(t.kind, TableKind::Reference)) {
        let shards = p.all_shard_names(&keyspace)?.into_iter().take(1).collect();
        return Ok(p.plan_for(
            &keyspace,
            StatementKind::Select,
            RouteKind::Reference,
            shards,
            out.render(q),
        ));
    }
    if q.with.is_some() {
        return Err(PlanError::unsupported(
            "WITH (common table expressions) over sharded tables",
        ));
    }
    if q.fetch.is_some() {
        return Err(PlanError::unsupported("FETCH over sharded tables"));
    }
    let SetExpr::Select(select) = q.body.as_mut() else {
        return Err(PlanError::unsupported(
            "UNION/INTERSECT/EXCEPT over sharded tables",
        ));
    };
    if select.into.is_some() {
        return Err(PlanError::unsupported("SELECT … INTO"));
    }

    let (scope, joins, filters) = from_scope(p, select)?;
    let non_reference = |ts: &mut dyn Iterator<Item = &TableRef>| {
        ts.filter(|t| !matches!(t.kind, TableKind::Reference))
            .count()
    };
    if non_reference(&mut all.iter()) > non_reference(&mut scope.iter().map(|s| &s.table)) {
        return Err(PlanError::unsupported(
            "a subquery or derived table over sharded tables",
        ));
    }
    let joins: Vec<&Expr> = joins.iter().flat_map(|e| conjuncts(e)).collect();
    let mut filter_exprs: Vec<&Expr> = filters.iter().flat_map(|e| conjuncts(e)).collect();
    if let Some(w) = &select.selection {
        filter_exprs.extend(conjuncts(w));
    }
    let mut join_exprs = joins;
    if let Some(w) = &select.selection {
        join_exprs.extend(conjuncts(w));
    }
    let r: Route = route(p, &scope, &join_exprs, &filter_exprs)?;
    if r.is_single() {
        let mut plan = p.plan_for(
            &r.keyspace,
            StatementKind::Select,
            r.kind,
            r.shards,
            out.render(q),
        );
        plan.shard_param = r.param;
        return Ok(plan);
    }
    check_outer_joins(select, &scope)?;

    // Several shards: rewrite and merge.
    let spec = scatter(q)?;
    let sql = q.to_string();
    let mut plan = p.plan_for(&r.keyspace, StatementKind::Select, r.kind, r.shards, sql);
    if !spec.is_noop() || spec.visible_columns != 0 {
        plan.merge = Some(spec);
    }
    Ok(plan)
}

fn any_keyspace(p: &Planner) -> Result<String, PlanError> {
    p.ctx
        .srv_keyspaces
        .iter()
        .find(|(_, srv)| !srv.shards_for(p.tablet_type()).is_empty())
        .map(|(ks, _)| ks.clone())
        .ok_or(PlanError::NoKeyspace)
}

fn is_dual(name: &ObjectName) -> bool {
    matches!(name_parts(name).as_deref(), Some([t]) if t.eq_ignore_ascii_case("dual"))
}

/// Every table the query reads, subqueries included (CTE names excepted).
fn resolve_all(p: &Planner, q: &Query, ctes: &[String]) -> Result<Vec<TableRef>, PlanError> {
    let mut names: Vec<ObjectName> = Vec::new();
    let _ = sqlparser::ast::visit_relations(q, |n| {
        names.push(n.clone());
        ControlFlow::<()>::Continue(())
    });
    let mut out = Vec::new();
    for n in names {
        if is_dual(&n) {
            continue;
        }
        if let Some([t]) = name_parts(&n).as_deref() {
            if ctes.iter().any(|c| c == t) {
                continue;
            }
        }
        out.push(p.resolve(&n)?);
    }
    Ok(out)
}

type FromScope<'s> = (Vec<ScopeTable>, Vec<&'s Expr>, Vec<&'s Expr>);

/// The FROM clause's tables, the ON conditions of every join, and those of
/// inner joins (which filter rows like WHERE does).
fn from_scope<'s>(p: &Planner, select: &'s Select) -> Result<FromScope<'s>, PlanError> {
    let mut scope = Vec::new();
    let mut ons = Vec::new();
    let mut inner_ons = Vec::new();
    let mut add = |factor: &TableFactor| -> Result<(), PlanError> {
        match factor {
            TableFactor::Table {
                name, alias, args, ..
            } if args.is_none() => {
                if is_dual(name) {
                    return Ok(());
                }
                let table = p.resolve(name)?;
                let name = match alias {
                    Some(a) => a.name.value.clone(),
                    None => table.table.clone(),
                };
                scope.push(ScopeTable { name, table });
                Ok(())
            }
            other => Err(PlanError::unsupported(format!(
                "FROM {other} on a sharded keyspace"
            ))),
        }
    };
    for twj in &select.from {
        add(&twj.relation)?;
        for j in &twj.joins {
            add(&j.relation)?;
            let (constraint, inner) = match &j.join_operator {
                JoinOperator::Join(c)
                | JoinOperator::Inner(c)
                | JoinOperator::CrossJoin(c)
                | JoinOperator::StraightJoin(c) => (c, true),
                JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c) => (c, false),
                other => {
                    return Err(PlanError::unsupported(format!(
                        "join {other:?} on a sharded keyspace"
                    )))
                }
            };
            match constraint {
                JoinConstraint::On(e) => {
                    ons.push(e);
                    if inner {
                        inner_ons.push(e);
                    }
                }
                JoinConstraint::None => {}
                JoinConstraint::Using(_) | JoinConstraint::Natural => {
                    return Err(PlanError::unsupported(
                        "JOIN … USING / NATURAL JOIN on a sharded keyspace: use ON",
                    ))
                }
            }
        }
    }
    Ok((scope, ons, inner_ons))
}

/// An outer join whose preserved side has no sharded table would return its
/// rows once per shard.
fn check_outer_joins(select: &Select, scope: &[ScopeTable]) -> Result<(), PlanError> {
    let sharded = |f: &TableFactor| -> bool {
        let TableFactor::Table { name, alias, .. } = f else {
            return false;
        };
        let key = match alias {
            Some(a) => a.name.value.clone(),
            None => name_parts(name)
                .and_then(|v| v.last().map(|s| s.to_string()))
                .unwrap_or_default(),
        };
        scope
            .iter()
            .any(|t| t.name == key && !matches!(t.table.kind, TableKind::Reference))
    };
    for twj in &select.from {
        let mut left = sharded(&twj.relation);
        for j in &twj.joins {
            let right = sharded(&j.relation);
            let bad = match j.join_operator {
                JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => !left && right,
                JoinOperator::Right(_) | JoinOperator::RightOuter(_) => left && !right,
                _ => false,
            };
            if bad {
                return Err(PlanError::unsupported(
                    "an outer join keeping the rows of a reference table against a sharded table on several shards",
                ));
            }
            left |= right;
        }
    }
    Ok(())
}

/// A supported aggregate call.
#[derive(Debug, Clone)]
struct Agg {
    merge: AggKind,
    func: Function,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum AggKind {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    AnyValue,
}

const OTHER_AGGREGATES: &[&str] = &[
    "group_concat",
    "std",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "bit_and",
    "bit_or",
    "bit_xor",
    "json_arrayagg",
    "json_objectagg",
];

fn func_name(f: &Function) -> String {
    f.name.to_string().to_ascii_lowercase()
}

fn is_aggregate_name(name: &str) -> bool {
    matches!(name, "count" | "sum" | "min" | "max" | "avg" | "any_value")
        || OTHER_AGGREGATES.contains(&name)
}

/// The aggregate an item's expression is, if it is one; refuses aggregates
/// the gate cannot merge and aggregates nested in expressions.
fn aggregate_of(e: &Expr) -> Result<Option<Agg>, PlanError> {
    let e = match e {
        Expr::Nested(inner) => inner.as_ref(),
        other => other,
    };
    if let Expr::Function(f) = e {
        let name = func_name(f);
        if f.over.is_some() {
            return Err(PlanError::unsupported(format!(
                "window function {e} on several shards"
            )));
        }
        if is_aggregate_name(&name) {
            let kind = match name.as_str() {
                "count" => AggKind::Count,
                "sum" => AggKind::Sum,
                "min" => AggKind::Min,
                "max" => AggKind::Max,
                "avg" => AggKind::Avg,
                "any_value" => AggKind::AnyValue,
                _ => {
                    return Err(PlanError::unsupported(format!(
                        "aggregate {e} on several shards"
                    )))
                }
            };
            if let FunctionArguments::List(list) = &f.args {
                if list.duplicate_treatment == Some(DuplicateTreatment::Distinct) {
                    return Err(PlanError::unsupported(format!(
                        "{e} on several shards (DISTINCT inside an aggregate)"
                    )));
                }
                if !list.clauses.is_empty() || list.args.len() != 1 {
                    return Err(PlanError::unsupported(format!(
                        "aggregate {e} on several shards"
                    )));
                }
            }
            if f.filter.is_some() || !f.within_group.is_empty() {
                return Err(PlanError::unsupported(format!(
                    "aggregate {e} on several shards"
                )));
            }
            // The argument itself must not aggregate.
            if contains_aggregate(&f.args) {
                return Err(PlanError::unsupported(format!("nested aggregate {e}")));
            }
            return Ok(Some(Agg {
                merge: kind,
                func: f.clone(),
            }));
        }
    }
    if contains_aggregate(e) {
        return Err(PlanError::unsupported(format!(
            "an expression over aggregates ({e}) on several shards"
        )));
    }
    Ok(None)
}

fn contains_aggregate<V: sqlparser::ast::Visit>(v: &V) -> bool {
    sqlparser::ast::visit_expressions(v, |e| match e {
        Expr::Function(f) if f.over.is_some() || is_aggregate_name(&func_name(f)) => {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

fn with_name(f: &Function, name: &str) -> Expr {
    let mut f = f.clone();
    f.name = ObjectName::from(vec![Ident::new(name)]);
    Expr::Function(f)
}

/// `name(args…)`.
fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

fn string(s: &str) -> Expr {
    Expr::Value(ValueWithSpan {
        value: SqlValue::SingleQuotedString(s.to_string()),
        span: Span::empty(),
    })
}

/// `WEIGHT_STRING(e)`: the weights of `e`'s value in its collation (NULL
/// for numbers).
fn weight_string(e: &Expr) -> Expr {
    call("WEIGHT_STRING", vec![e.clone()])
}

/// The weight of a space in `e`'s collation when that collation pads with
/// spaces (`'a' = 'a '`), else `''`:
/// `IF(LEFT(e, 0) = ' ', WEIGHT_STRING(CONCAT(LEFT(e, 0), ' ')), '')`.
/// `LEFT(e, 0)` is the empty string in `e`'s collation.
fn pad_weight(e: &Expr) -> Expr {
    let empty = || call("LEFT", vec![e.clone(), number(0)]);
    call(
        "IF",
        vec![
            Expr::BinaryOp {
                left: Box::new(empty()),
                op: BinaryOperator::Eq,
                right: Box::new(string(" ")),
            },
            call(
                "WEIGHT_STRING",
                vec![call("CONCAT", vec![empty(), string(" ")])],
            ),
            string(""),
        ],
    )
}

/// The weight of a string literal in `e`'s collation:
/// `WEIGHT_STRING(CONCAT(COALESCE(LEFT(e, 0), ''), lit))`. The COALESCE
/// keeps `e`'s collation and makes the weight non-NULL even where `e` is
/// NULL (a group's MAX on a shard without rows for it).
fn literal_weight(e: &Expr, lit: Expr) -> Expr {
    let empty = call(
        "COALESCE",
        vec![call("LEFT", vec![e.clone(), number(0)]), string("")],
    );
    call("WEIGHT_STRING", vec![call("CONCAT", vec![empty, lit])])
}

fn number(n: u64) -> Expr {
    Expr::Value(ValueWithSpan {
        value: SqlValue::Number(n.to_string(), false),
        span: Span::empty(),
    })
}

/// The shard query's select list as it is being built.
struct Columns {
    /// Each column: the expression shards compute, and its alias.
    items: Vec<SelectItem>,
    /// The expression each column stands for in the client's query
    /// (before AVG rewriting), for matching ORDER BY / HAVING / GROUP BY.
    exprs: Vec<Option<Expr>>,
    aliases: Vec<Option<String>>,
    merges: Vec<ColumnMerge>,
    visible: usize,
    wildcard: bool,
    /// Columns compared with string literals in HAVING: keys that need
    /// collation weights.
    text_keys: Vec<usize>,
}

impl Columns {
    /// The column holding `e`: by position (`ORDER BY 2`), by alias, or by
    /// the same expression.
    fn find(&self, e: &Expr) -> Option<usize> {
        if let Expr::Value(v) = e {
            if let SqlValue::Number(n, _) = &v.value {
                let n: usize = n.parse().ok()?;
                return (n >= 1 && n <= self.visible).then(|| n - 1);
            }
        }
        if let Expr::Identifier(id) = e {
            if let Some(i) = self.aliases[..self.visible]
                .iter()
                .position(|a| a.as_deref().is_some_and(|a| ident_eq(a, &id.value)))
            {
                return Some(i);
            }
        }
        let text = e.to_string();
        if let Some(i) = self
            .exprs
            .iter()
            .position(|x| x.as_ref().is_some_and(|x| x.to_string() == text))
        {
            return Some(i);
        }
        // `name` and `u.name` for the same column when one is unqualified.
        let col = super::sql::column_ref(e)?;
        self.exprs.iter().position(|x| {
            let Some(x) = x.as_ref().and_then(super::sql::column_ref) else {
                return false;
            };
            ident_eq(x.1, col.1) && (x.0.is_empty() || col.0.is_empty() || x.0 == col.0)
        })
    }

    fn push(
        &mut self,
        shard_expr: Expr,
        alias: Option<Ident>,
        orig: Expr,
        merge: ColumnMerge,
    ) -> usize {
        let item = match alias {
            Some(alias) => SelectItem::ExprWithAlias {
                expr: shard_expr,
                alias,
            },
            None => SelectItem::UnnamedExpr(shard_expr),
        };
        self.items.push(item);
        self.exprs.push(Some(orig));
        self.aliases.push(None);
        self.merges.push(merge);
        self.items.len() - 1
    }

    /// Adds a hidden helper column the client's query has no expression for.
    fn push_helper(&mut self, shard_expr: Expr) -> usize {
        self.items.push(SelectItem::UnnamedExpr(shard_expr));
        self.exprs.push(None);
        self.aliases.push(None);
        self.merges.push(ColumnMerge::First);
        self.items.len() - 1
    }

    /// Adds a hidden aggregate column for `agg` (AVG adds its COUNT too).
    fn push_agg(&mut self, agg: &Agg, orig: &Expr, alias: Option<Ident>) -> usize {
        match agg.merge {
            AggKind::Avg => {
                let alias = alias.unwrap_or_else(|| Ident::with_quote('`', orig.to_string()));
                let sum = self.push(
                    with_name(&agg.func, "SUM"),
                    Some(alias),
                    orig.clone(),
                    ColumnMerge::First,
                );
                let count = self.push(
                    with_name(&agg.func, "COUNT"),
                    None,
                    with_name(&agg.func, "COUNT"),
                    ColumnMerge::Count,
                );
                self.merges[sum] = ColumnMerge::Avg {
                    count_column: count,
                };
                sum
            }
            kind => {
                let merge = match kind {
                    AggKind::Count => ColumnMerge::Count,
                    AggKind::Sum => ColumnMerge::Sum,
                    AggKind::Min => ColumnMerge::Min,
                    AggKind::Max => ColumnMerge::Max,
                    _ => ColumnMerge::First,
                };
                self.push(Expr::Function(agg.func.clone()), alias, orig.clone(), merge)
            }
        }
    }

    /// The column for an ORDER BY / HAVING / GROUP BY operand, added as a
    /// hidden column if the select list lacks it.
    fn find_or_add(
        &mut self,
        e: &Expr,
        aggregating: bool,
        distinct: bool,
    ) -> Result<usize, PlanError> {
        if let Some(i) = self.find(e) {
            return Ok(i);
        }
        if let Expr::Value(v) = e {
            if let SqlValue::Number(n, _) = &v.value {
                return Err(PlanError::Invalid(format!(
                    "unknown column '{n}' in order/group clause"
                )));
            }
        }
        if self.wildcard {
            return Err(PlanError::unsupported(format!(
                "{e} with SELECT * on several shards: list the columns"
            )));
        }
        if let Some(agg) = aggregate_of(e)? {
            if !aggregating {
                return Err(PlanError::Invalid(format!(
                    "aggregate {e} in a query that does not aggregate"
                )));
            }
            return Ok(self.push_agg(&agg, e, None));
        }
        if distinct {
            return Err(PlanError::unsupported(format!(
                "ORDER BY {e}, not in the select list of a SELECT DISTINCT on several shards"
            )));
        }
        Ok(self.push(e.clone(), None, e.clone(), ColumnMerge::First))
    }
}

/// Rewrites a multi-shard query for its shards and returns the merge.
fn scatter(q: &mut Query) -> Result<MergeSpec, PlanError> {
    let (offset, limit) = limits(q)?;
    let SetExpr::Select(select) = q.body.as_mut() else {
        return Err(PlanError::unsupported("a set operation on several shards"));
    };
    let distinct = match &select.distinct {
        None | Some(sqlparser::ast::Distinct::All) => false,
        Some(sqlparser::ast::Distinct::Distinct) => true,
        Some(other) => return Err(PlanError::unsupported(format!("{other} on several shards"))),
    };
    let group_exprs = match &select.group_by {
        GroupByExpr::Expressions(exprs, mods) if mods.is_empty() => exprs.clone(),
        other => return Err(PlanError::unsupported(format!("{other} on several shards"))),
    };
    let mut aggs = Vec::new();
    for item in &select.projection {
        let agg = match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                aggregate_of(e)?
            }
            _ => None,
        };
        aggs.push(agg);
    }
    let aggregating = !group_exprs.is_empty() || aggs.iter().any(Option::is_some);
    if select.having.is_some() && !aggregating {
        // MySQL's HAVING without grouping filters rows like WHERE on the
        // select list; folding them into one group would be wrong.
        return Err(PlanError::unsupported(
            "HAVING without GROUP BY or aggregates on several shards",
        ));
    }
    let mut cols = Columns {
        items: Vec::new(),
        exprs: Vec::new(),
        aliases: Vec::new(),
        merges: Vec::new(),
        visible: 0,
        wildcard: false,
        text_keys: Vec::new(),
    };
    for (item, agg) in select.projection.iter().zip(&aggs) {
        match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                let alias = match item {
                    SelectItem::ExprWithAlias { alias, .. } => Some(alias.clone()),
                    _ => None,
                };
                let i = match agg {
                    Some(agg) => cols.push_agg(agg, e, alias.clone()),
                    None => cols.push(e.clone(), alias.clone(), e.clone(), ColumnMerge::First),
                };
                cols.aliases[i] = alias.map(|a| a.value);
                // An AVG added its COUNT right after; the client's columns
                // are everything but those, so move the COUNT later.
            }
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                if aggregating {
                    return Err(PlanError::unsupported(
                        "SELECT * with aggregates on several shards",
                    ));
                }
                cols.items.push(item.clone());
                cols.exprs.push(None);
                cols.aliases.push(None);
                cols.merges.push(ColumnMerge::First);
                cols.wildcard = true;
            }
            SelectItem::ExprWithAliases { .. } => {
                return Err(PlanError::unsupported(format!("select item {item}")))
            }
        }
    }
    // AVG's COUNT columns were interleaved; move them behind the visible
    // columns so that the client's columns come first.
    reorder_hidden(&mut cols, &select.projection);

    let mut group_by = Vec::new();
    if aggregating {
        for g in &group_exprs {
            if contains_aggregate(g) {
                return Err(PlanError::Invalid(format!("GROUP BY {g}: aggregate")));
            }
            let i = cols.find_or_add(g, true, false)?;
            group_by.push(i);
        }
    }
    let having = match select.having.take() {
        Some(h) => Some(having(&h, &mut cols)?),
        None => None,
    };
    let mut order_by = Vec::new();
    if let Some(ob) = &q.order_by {
        let OrderByKind::Expressions(exprs) = &ob.kind else {
            return Err(PlanError::unsupported("ORDER BY ALL"));
        };
        if ob.interpolate.is_some() {
            return Err(PlanError::unsupported("ORDER BY … INTERPOLATE"));
        }
        for o in exprs {
            if o.options.nulls_first.is_some() || o.with_fill.is_some() {
                return Err(PlanError::unsupported(format!("ORDER BY {o}")));
            }
            let descending = match o.options.sort {
                None | Some(OrderBySort::Asc) => false,
                Some(OrderBySort::Desc) => true,
                Some(_) => return Err(PlanError::unsupported(format!("ORDER BY {o}"))),
            };
            let column = cols.find_or_add(&o.expr, aggregating, distinct)?;
            order_by.push(OrderKey { column, descending });
        }
    }

    let collation = add_weights(&mut cols, &group_by, &order_by, distinct)?;

    let hidden = cols.items.len() > cols.visible;
    let SetExpr::Select(select) = q.body.as_mut() else {
        return Err(PlanError::unsupported("a set operation on several shards"));
    };
    select.projection = std::mem::take(&mut cols.items);
    if aggregating {
        // Groups are merged, filtered, sorted and cut in the gate.
        q.order_by = None;
        q.limit_clause = None;
    } else if let Some(limit) = limit {
        q.limit_clause = Some(LimitClause::LimitOffset {
            limit: Some(number(offset.saturating_add(limit))),
            offset: None,
            limit_by: Vec::new(),
        });
    } else {
        q.limit_clause = None;
    }

    Ok(MergeSpec {
        aggregate: aggregating.then(|| AggregateSpec {
            group_by,
            columns: cols.merges.clone(),
            having,
        }),
        distinct,
        order_by,
        offset,
        limit,
        visible_columns: if hidden { cols.visible } else { 0 },
        collation,
    })
}

/// Adds the hidden weight and pad columns (see [`weight_string`],
/// [`pad_weight`]) for every key column that may hold text: GROUP BY and
/// ORDER BY columns, all selected columns under DISTINCT, MIN/MAX. The
/// planner knows no column types, so only COUNT/SUM/AVG and number
/// literals are known not to be text; numbers' weights come back NULL and
/// they compare by value.
fn add_weights(
    cols: &mut Columns,
    group_by: &[usize],
    order_by: &[OrderKey],
    distinct: bool,
) -> Result<Vec<CollationKey>, PlanError> {
    let mut keys: Vec<usize> = group_by.to_vec();
    keys.extend(order_by.iter().map(|k| k.column));
    if distinct {
        keys.extend(0..cols.visible);
    }
    keys.extend(
        (0..cols.merges.len())
            .filter(|&i| matches!(cols.merges[i], ColumnMerge::Min | ColumnMerge::Max)),
    );
    keys.extend(cols.text_keys.iter().copied());
    if cols.wildcard && !keys.is_empty() {
        // The shard's columns are not the select list's: neither the key
        // indexes nor the expressions to weigh are known.
        return Err(PlanError::unsupported(
            "ORDER BY, GROUP BY or DISTINCT with SELECT * on several shards: list the columns",
        ));
    }
    let mut done: Vec<usize> = Vec::new();
    let mut out = Vec::new();
    for column in keys {
        if done.contains(&column) {
            continue;
        }
        done.push(column);
        if matches!(
            cols.merges.get(column),
            Some(ColumnMerge::Count | ColumnMerge::Sum | ColumnMerge::Avg { .. })
        ) {
            continue;
        }
        let expr = match cols.items.get(column) {
            Some(SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }) => {
                e.clone()
            }
            _ => {
                return Err(PlanError::unsupported(format!(
                    "a sort or group key in column {} on several shards",
                    column + 1
                )))
            }
        };
        if matches!(&expr, Expr::Value(v) if matches!(v.value, SqlValue::Number(..))) {
            continue;
        }
        let weight = cols.push_helper(weight_string(&expr));
        let pad = cols.push_helper(pad_weight(&expr));
        out.push(CollationKey {
            column,
            weight,
            pad,
        });
    }
    Ok(out)
}

/// Moves the COUNT columns AVG added behind the client's columns, fixing
/// up the indexes that point at them, and sets `visible`.
fn reorder_hidden(cols: &mut Columns, projection: &[SelectItem]) {
    let n = cols.items.len();
    let is_helper: Vec<bool> = (0..n)
        .map(|i| {
            i > 0 && matches!(cols.merges[i - 1], ColumnMerge::Avg { count_column } if count_column == i)
        })
        .collect();
    let order: Vec<usize> = (0..n)
        .filter(|&i| !is_helper[i])
        .chain((0..n).filter(|&i| is_helper[i]))
        .collect();
    let mut new_index = vec![0; n];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    cols.items = permute(std::mem::take(&mut cols.items), &order);
    cols.exprs = permute(std::mem::take(&mut cols.exprs), &order);
    cols.aliases = permute(std::mem::take(&mut cols.aliases), &order);
    cols.merges = permute(std::mem::take(&mut cols.merges), &order);
    for m in &mut cols.merges {
        if let ColumnMerge::Avg { count_column } = m {
            *count_column = new_index[*count_column];
        }
    }
    cols.visible = projection.len();
}

fn permute<T>(v: Vec<T>, order: &[usize]) -> Vec<T> {
    let mut slots: Vec<Option<T>> = v.into_iter().map(Some).collect();
    order
        .iter()
        .filter_map(|&i| slots.get_mut(i).and_then(Option::take))
        .collect()
}

/// OFFSET and LIMIT as numbers.
fn limits(q: &Query) -> Result<(u64, Option<u64>), PlanError> {
    let num = |e: &Expr| -> Result<u64, PlanError> {
        match e {
            Expr::Value(v) => match &v.value {
                SqlValue::Number(n, _) => n.parse::<u64>().ok(),
                _ => None,
            },
            _ => None,
        }
        .ok_or_else(|| PlanError::unsupported(format!("LIMIT/OFFSET {e}: not a number")))
    };
    match &q.limit_clause {
        None => Ok((0, None)),
        Some(LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        }) => {
            if !limit_by.is_empty() {
                return Err(PlanError::unsupported("LIMIT … BY"));
            }
            let off = match offset {
                Some(o) => num(&o.value)?,
                None => 0,
            };
            let lim = match limit {
                Some(l) => Some(num(l)?),
                None => None,
            };
            Ok((off, lim))
        }
        Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
            Ok((num(offset)?, Some(num(limit)?)))
        }
    }
}

/// A HAVING clause as a merge predicate: comparisons of columns or
/// aggregates with literals, combined with AND/OR/NOT.
fn having(e: &Expr, cols: &mut Columns) -> Result<Predicate, PlanError> {
    let unsupported = || {
        PlanError::unsupported(format!(
            "HAVING {e} on several shards (only comparisons of aggregates or selected columns with literals)"
        ))
    };
    match e {
        Expr::Nested(inner) => having(inner, cols),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => Ok(Predicate::Not(Box::new(having(expr, cols)?))),
        Expr::BinaryOp { left, op, right } => {
            let cmp = match op {
                BinaryOperator::And => {
                    return Ok(Predicate::And(
                        Box::new(having(left, cols)?),
                        Box::new(having(right, cols)?),
                    ))
                }
                BinaryOperator::Or => {
                    return Ok(Predicate::Or(
                        Box::new(having(left, cols)?),
                        Box::new(having(right, cols)?),
                    ))
                }
                BinaryOperator::Eq => CompareOp::Eq,
                BinaryOperator::NotEq => CompareOp::NotEq,
                BinaryOperator::Lt => CompareOp::Lt,
                BinaryOperator::LtEq => CompareOp::LtEq,
                BinaryOperator::Gt => CompareOp::Gt,
                BinaryOperator::GtEq => CompareOp::GtEq,
                _ => return Err(unsupported()),
            };
            let (operand, value, op, right_is_literal) =
                match (merge_literal(left), merge_literal(right)) {
                    (None, Some(v)) => (left, v, cmp, true),
                    (Some(v), None) => (right, v, flip(cmp), false),
                    _ => return Err(unsupported()),
                };
            let column = cols.find_or_add(operand, true, false)?;
            // A string literal is compared in the operand's collation
            // ('Apple' = 'apple '): the shards weigh it in that collation.
            let literal_weight = match (&value, cols.items.get(column)) {
                (
                    Value::Bytes(_),
                    Some(SelectItem::UnnamedExpr(x) | SelectItem::ExprWithAlias { expr: x, .. }),
                ) => {
                    let x = x.clone();
                    let lit = match right_is_literal {
                        true => right.as_ref().clone(),
                        false => left.as_ref().clone(),
                    };
                    cols.text_keys.push(column);
                    Some(cols.push_helper(literal_weight(&x, lit)))
                }
                (Value::Bytes(_), _) => return Err(unsupported()),
                _ => None,
            };
            Ok(Predicate::Compare {
                column,
                op,
                value,
                literal_weight,
            })
        }
        _ => Err(unsupported()),
    }
}

fn flip(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Lt => CompareOp::Gt,
        CompareOp::LtEq => CompareOp::GtEq,
        CompareOp::Gt => CompareOp::Lt,
        CompareOp::GtEq => CompareOp::LtEq,
        other => other,
    }
}

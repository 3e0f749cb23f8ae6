//! Plan once, bind many times: the plan of a prepared statement kept with
//! its placeholders, so an execution only picks a shard and splices values
//! into ready SQL (Vitess caches plans keyed by the normalized query for
//! the same reason: parsing and planning cost more than routing).
//!
//! A template is built by planning the statement with its placeholders
//! renamed `?0`, `?1`, … in text order ([`number_placeholders`]) instead
//! of substituted.
//! The route treats `vindex_column = ?N` like `= literal` but leaves the
//! shard to the value bound to N ([`super::ShardParam`]). Only plans that
//! forward one statement to one shard unchanged become templates: a single
//! query, no merge, SELECT/UPDATE/DELETE. Everything else (scatters over
//! several shards, IN lists, INSERT splits) is planned per execution as
//! before.
//!
//! Binding gives the plan [`plan`](super::plan) would give for the same
//! values, or `None` when it might not (a NULL or unmappable vindex value,
//! a value no shard owns): the caller then plans the execution the slow
//! way, which reports errors exactly as before. The shard SQL is printed,
//! qualified with the keyspace's database, and split at the placeholders
//! once; binding concatenates the parts with each value's SQL literal (the
//! text interpolation the slow path parses).

use std::collections::HashMap;

use sqlparser::ast::{Expr, Statement, Value as SqlValue, ValueWithSpan};
use sqlparser::tokenizer::Span;
use tablet::query::bind::BindValue;
use topo::keyrange::shard_for;
use topo::records::ShardReference;
use topo::vindex::{Value as VValue, Vindex};

use super::sql::{literal, number_placeholders, placeholders, value_expr};
use super::{plan_substituted, Plan, PlanContext, ShardQuery, StatementKind};
use crate::merge::Value;

/// A statement planned with its placeholders; see the module docs.
#[derive(Debug)]
pub struct Template {
    /// The plan with one query whose SQL is unused (see `parts`) and whose
    /// shard is [`super::TEMPLATE_SHARD`] when `chooser` picks it.
    plan: Plan,
    parts: Vec<Part>,
    params: usize,
    chooser: Option<Chooser>,
}

#[derive(Debug, PartialEq)]
enum Part {
    Text(String),
    Param(usize),
}

/// Picks the shard from the value bound to `param`.
#[derive(Debug)]
struct Chooser {
    param: usize,
    vindex: Box<dyn Vindex>,
    shards: Vec<ShardReference>,
}

impl Template {
    /// The template of `stmt` (parsed by [`super::parse`] from `sql`, with
    /// `?` placeholders), or `None` if its plans cannot be bound this way.
    /// `qualify(sql, keyspace)` names the keyspace's database in `sql`
    /// (the executor's rewrite, done here once).
    pub fn build(
        mut stmt: Statement,
        sql: &str,
        ctx: &PlanContext,
        qualify: impl Fn(&str, &str) -> String,
    ) -> Option<Template> {
        if !matches!(
            stmt,
            Statement::Query(_) | Statement::Update(_) | Statement::Delete(_)
        ) {
            return None;
        }
        let params = number_placeholders(&mut stmt)?;
        let plan = plan_substituted(stmt, sql, ctx, true).ok()?;
        // One query: a scatter or all-shards route over a keyspace of one
        // shard forwards the statement unchanged too.
        let passes_through = plan.queries.len() == 1
            && plan.merge.is_none()
            && matches!(
                plan.statement,
                StatementKind::Select | StatementKind::Update | StatementKind::Delete
            );
        if !passes_through {
            return None;
        }
        let qualified = qualify(&plan.queries[0].sql, &plan.keyspace);
        let parts = split(&qualified)?;
        // Every value is spliced in exactly once, or the statement is not
        // what the client prepared.
        let mut seen: Vec<usize> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Param(i) => Some(*i),
                Part::Text(_) => None,
            })
            .collect();
        seen.sort_unstable();
        if !seen.iter().copied().eq(0..params) {
            return None;
        }
        let chooser = match &plan.shard_param {
            None => None,
            Some(sp) => {
                let vs = ctx.vschema.keyspaces.get(&plan.keyspace)?;
                let (_, vindex) = vs.primary_vindex(&sp.table)?;
                let shards = ctx
                    .srv_keyspaces
                    .get(&plan.keyspace)?
                    .shards_for(ctx.tablet_type)
                    .to_vec();
                Some(Chooser {
                    param: sp.param,
                    vindex,
                    shards,
                })
            }
        };
        Some(Template {
            plan,
            parts,
            params,
            chooser,
        })
    }

    /// The plan for `values`, or `None` if this execution must be planned
    /// in full (see the module docs).
    pub fn bind<B: Binds + ?Sized>(&self, values: &B) -> Option<Plan> {
        if values.count() != self.params {
            return None;
        }
        let shard = match &self.chooser {
            None => self.plan.queries.first()?.shard.clone(),
            Some(c) => {
                let v = literal(&values.expr(c.param)?)?;
                if v == VValue::Null {
                    return None;
                }
                let id = c.vindex.map(&v).ok()?;
                shard_for(
                    c.shards.iter().map(|s| (s.name.as_str(), &s.key_range)),
                    id.as_bytes(),
                )?
                .to_string()
            }
        };
        let mut sql = String::with_capacity(self.parts.len() * 16);
        let mut bind_vars = HashMap::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => sql.push_str(t),
                Part::Param(i) => match values.bind_value(*i) {
                    Some(v) => {
                        let name = format!("v{i}");
                        sql.push(':');
                        sql.push_str(&name);
                        bind_vars.insert(name, v);
                    }
                    None => values.write(*i, &mut sql)?,
                },
            }
        }
        Some(Plan {
            keyspace: self.plan.keyspace.clone(),
            tablet_type: self.plan.tablet_type,
            statement: self.plan.statement,
            route: self.plan.route,
            queries: vec![ShardQuery { shard, sql }],
            merge: None,
            shard_param: None,
            qualified: true,
            bind_vars,
        })
    }
}

/// Values a template is bound to.
pub trait Binds {
    fn count(&self) -> usize;
    /// Value `i` as the literal the parser would have read.
    fn expr(&self, i: usize) -> Option<Expr>;
    /// Appends value `i` as SQL text.
    fn write(&self, i: usize, out: &mut String) -> Option<()>;
    /// Value `i` as a bind variable for the tablet, when it travels as one
    /// (see [`Plan::bind_vars`]); otherwise it is written into the SQL.
    fn bind_value(&self, _i: usize) -> Option<BindValue> {
        None
    }
}

/// A prepared statement's bound values.
impl Binds for [Value] {
    fn count(&self) -> usize {
        self.len()
    }

    fn expr(&self, i: usize) -> Option<Expr> {
        self.get(i).map(value_expr)
    }

    fn write(&self, i: usize, out: &mut String) -> Option<()> {
        use std::fmt::Write;
        write!(out, "{}", self.get(i)?).ok()
    }

    /// Integers only: their meaning cannot differ between a literal and a
    /// parameter, while a float literal is DECIMAL in SQL and a string
    /// carries a character set.
    fn bind_value(&self, i: usize) -> Option<BindValue> {
        match self.get(i)? {
            Value::Int(v) => Some(BindValue::Int(*v)),
            Value::UInt(v) => Some(BindValue::UInt(*v)),
            _ => None,
        }
    }
}

/// Literals a text query was normalized of ([`super::normalize`]): numbers
/// and `'strings'` exactly as the client wrote them.
impl Binds for [&str] {
    fn count(&self) -> usize {
        self.len()
    }

    fn expr(&self, i: usize) -> Option<Expr> {
        let text = *self.get(i)?;
        let value = match text.strip_prefix('\'') {
            Some(rest) => SqlValue::SingleQuotedString(rest.strip_suffix('\'')?.to_string()),
            None => SqlValue::Number(text.to_string(), false),
        };
        Some(Expr::Value(ValueWithSpan {
            value,
            span: Span::empty(),
        }))
    }

    fn write(&self, i: usize, out: &mut String) -> Option<()> {
        out.push_str(self.get(i)?);
        Some(())
    }
}

/// `sql` cut at its `?N` placeholders (outside quotes and comments).
/// `None` if a placeholder is not numbered.
fn split(sql: &str) -> Option<Vec<Part>> {
    let mut parts = Vec::new();
    let mut last = 0;
    for at in placeholders(sql) {
        let digits = sql[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        let n: usize = sql.get(at + 1..at + 1 + digits)?.parse().ok()?;
        if at > last {
            parts.push(Part::Text(sql[last..at].to_string()));
        }
        parts.push(Part::Param(n));
        last = at + 1 + digits;
    }
    if last < sql.len() {
        parts.push(Part::Text(sql[last..].to_string()));
    }
    Some(parts)
}

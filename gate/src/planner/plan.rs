//! The plan the planner hands to the executor.

use std::collections::HashMap;
use std::fmt;

use tablet::query::bind::BindValue;

use topo::records::TabletType;

use crate::merge::MergeSpec;

/// Where a statement goes and what the gate does with the answers.
///
/// `queries` is never empty; each entry is one shard and the exact SQL to
/// send it (bind values already substituted, keyspace qualifiers removed).
/// The shards are all of `keyspace`, served by `tablet_type` tablets.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub keyspace: String,
    pub tablet_type: TabletType,
    pub statement: StatementKind,
    pub route: RouteKind,
    pub queries: Vec<ShardQuery>,
    /// For multi-shard SELECTs: how to merge the shard results. `None` means
    /// concatenate the shard results in `queries` order (and for writes,
    /// sum the affected rows).
    pub merge: Option<MergeSpec>,
    /// Only in a template (see [`super::template`]): the bound value whose
    /// keyspace id picks the one shard of `queries`.
    pub shard_param: Option<ShardParam>,
    /// The SQL of `queries` already names each table's database (a bound
    /// template's does); otherwise the executor qualifies it.
    pub qualified: bool,
    /// Values for `:name` placeholders in `queries`' SQL, sent to the
    /// tablet beside it, which runs the statement as a MariaDB prepared
    /// statement (no parse on MariaDB's side, as for a client that prepares
    /// its own). Only a bound template of a prepared statement fills it, with
    /// its integer parameters; everything else is text.
    pub bind_vars: HashMap<String, BindValue>,
}

/// A placeholder on the primary vindex column of `table`: `id = ?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardParam {
    /// Index of the placeholder among the statement's, from 0.
    pub param: usize,
    pub table: String,
}

/// The shard name a template's plan holds until a value picks the shard.
pub const TEMPLATE_SHARD: &str = "<bound>";

/// One shard and the SQL it receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardQuery {
    pub shard: String,
    pub sql: String,
}

/// What the statement does, for the executor: whether it returns rows,
/// whether it writes (needs a primary / a transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    Select,
    Insert,
    Update,
    Delete,
    /// CREATE/ALTER/DROP/TRUNCATE/RENAME…: autocommits, never in a
    /// transaction.
    Ddl,
}

impl StatementKind {
    pub fn is_write(&self) -> bool {
        !matches!(self, StatementKind::Select)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            StatementKind::Select => "SELECT",
            StatementKind::Insert => "INSERT",
            StatementKind::Update => "UPDATE",
            StatementKind::Delete => "DELETE",
            StatementKind::Ddl => "DDL",
        }
    }
}

/// Why these shards were chosen (Vitess's route opcodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// The single shard of an unsharded keyspace.
    Unsharded,
    /// One shard, chosen by the primary vindex value.
    EqualUnique,
    /// The shards owning the values of an `IN` list on the primary vindex.
    In,
    /// Every shard; results merged per `Plan::merge`.
    Scatter,
    /// One shard (any): a read touching only reference tables.
    Reference,
    /// Every shard, same SQL: DDL, writes to reference tables.
    AllShards,
    /// INSERT rows split by keyspace id; each shard gets its own rows.
    InsertSplit,
}

impl RouteKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            RouteKind::Unsharded => "Unsharded",
            RouteKind::EqualUnique => "EqualUnique",
            RouteKind::In => "In",
            RouteKind::Scatter => "Scatter",
            RouteKind::Reference => "Reference",
            RouteKind::AllShards => "AllShards",
            RouteKind::InsertSplit => "InsertSplit",
        }
    }
}

impl fmt::Display for StatementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for RouteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

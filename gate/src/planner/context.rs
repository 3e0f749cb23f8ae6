//! What the planner reads besides the statement.

use std::collections::BTreeMap;

use topo::records::{SrvKeyspace, TabletType};
use topo::vschema::SrvVSchema;

use crate::merge::Value;

/// Everything a plan depends on, borrowed from the gate's current view of
/// the topology and from the session.
#[derive(Debug, Clone, Copy)]
pub struct PlanContext<'a> {
    /// Every keyspace's VSchema (the cell's SrvVSchema).
    pub vschema: &'a SrvVSchema,
    /// Each keyspace's serving graph; the planner routes over the shards
    /// serving `tablet_type`.
    pub srv_keyspaces: &'a BTreeMap<String, SrvKeyspace>,
    /// The session's keyspace (`USE commerce`, or `commerce` of
    /// `commerce@replica`), if any.
    pub default_keyspace: Option<&'a str>,
    /// The session's target tablet type (`@replica`); writes require
    /// `Primary`.
    pub tablet_type: TabletType,
    /// Values of the `?` placeholders of a prepared statement, in order.
    pub bind_values: &'a [Value],
}

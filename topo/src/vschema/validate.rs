//! VSchema checks, each reported as a [`Problem`] at a field path.

use super::{Problem, TableType, VSchema};
use crate::keyrange::from_hex;
use crate::vindex::create_vindex;

struct Problems {
    prefix: String,
    list: Vec<Problem>,
}

impl Problems {
    fn add(&mut self, path: String, message: impl Into<String>) {
        self.list.push(Problem {
            path: format!("{}{path}", self.prefix),
            message: message.into(),
        });
    }
}

/// Every problem in `vschema`, paths prefixed with `prefix` (e.g.
/// `keyspaces.customer.` inside a SrvVSchema).
pub(super) fn keyspace(vschema: &VSchema, prefix: &str) -> Vec<Problem> {
    let mut p = Problems {
        prefix: prefix.to_string(),
        list: Vec::new(),
    };
    for (name, def) in &vschema.vindexes {
        if name.is_empty() {
            p.add("vindexes".into(), "a vindex has an empty name");
        }
        if let Err(e) = create_vindex(&def.vindex_type) {
            p.add(format!("vindexes.{name}.type"), e.to_string());
        }
    }
    if !vschema.sharded && !vschema.vindexes.is_empty() {
        p.add(
            "vindexes".into(),
            "keyspace is not sharded: it cannot have vindexes",
        );
    }
    let defined = || {
        let names: Vec<&str> = vschema.vindexes.keys().map(String::as_str).collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    for (name, table) in &vschema.tables {
        let at = |field: &str| format!("tables.{name}.{field}");
        if name.is_empty() {
            p.add("tables".into(), "a table has an empty name");
        }
        match table.table_type {
            TableType::Sequence if vschema.sharded => p.add(
                at("type"),
                "sequence tables must be in an unsharded keyspace",
            ),
            TableType::Reference | TableType::Sequence if !table.column_vindexes.is_empty() => p
                .add(
                    at("column_vindexes"),
                    "reference and sequence tables cannot have column vindexes",
                ),
            _ => {}
        }
        if !vschema.sharded && !table.column_vindexes.is_empty() {
            p.add(
                at("column_vindexes"),
                "keyspace is not sharded: tables cannot have column vindexes",
            );
        }
        if let Some(pinned) = &table.pinned {
            if !vschema.sharded {
                p.add(
                    at("pinned"),
                    "only tables of a sharded keyspace can be pinned",
                );
            } else if from_hex(pinned).is_none_or(|id| id.is_empty()) {
                p.add(at("pinned"), format!("{pinned:?} is not a hex keyspace id"));
            } else if !table.column_vindexes.is_empty() {
                p.add(
                    at("pinned"),
                    "a pinned table cannot also have column vindexes",
                );
            }
        }
        if vschema.sharded
            && table.table_type == TableType::Normal
            && table.pinned.is_none()
            && table.column_vindexes.is_empty()
        {
            p.add(
                at("column_vindexes"),
                "a table of a sharded keyspace needs a column vindex (its primary vindex)",
            );
        }
        for (i, cv) in table.column_vindexes.iter().enumerate() {
            let at = |field: &str| format!("tables.{name}.column_vindexes[{i}].{field}");
            if cv.name.is_empty() {
                p.add(at("name"), "missing vindex name");
            } else if !vschema.vindexes.contains_key(&cv.name) {
                p.add(
                    at("name"),
                    format!("unknown vindex {:?} (defined: {})", cv.name, defined()),
                );
            }
            match (cv.column.is_empty(), cv.columns.len()) {
                (true, 0) => p.add(at("column"), "missing column"),
                (true, 1) | (false, 0) => {}
                (false, _) => p.add(at("columns"), "set either column or columns, not both"),
                (true, _) => p.add(
                    at("columns"),
                    "multi-column vindexes are not supported: use a single column",
                ),
            }
        }
        if let Some(auto) = &table.auto_increment {
            if auto.column.is_empty() {
                p.add(at("auto_increment.column"), "missing column");
            }
            if auto.sequence.is_empty() {
                p.add(at("auto_increment.sequence"), "missing sequence table");
            }
        }
    }
    p.list
}

//! The per-cell roll-up of every keyspace's VSchema, and routing rules.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{from_json, validate, Problem, TableType, VSchema, VSchemaError};

/// Vitess's routing rules: queries naming `from_table` go to `to_tables`
/// (`keyspace.table`, optionally `keyspace@tablet_type.table`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRules {
    #[serde(default)]
    pub rules: Vec<RoutingRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    #[serde(default)]
    pub from_table: String,
    #[serde(default)]
    pub to_tables: Vec<String>,
}

impl RoutingRules {
    pub fn parse(json: &[u8]) -> Result<RoutingRules, VSchemaError> {
        let rules: RoutingRules = from_json(json)?;
        VSchemaError::from_problems(rules.problems(""))?;
        Ok(rules)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    fn problems(&self, prefix: &str) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let at = |field: &str| format!("{prefix}rules[{i}].{field}");
            if rule.from_table.is_empty() {
                out.push(Problem {
                    path: at("from_table"),
                    message: "missing table".into(),
                });
            } else if !seen.insert(rule.from_table.as_str()) {
                out.push(Problem {
                    path: at("from_table"),
                    message: format!("duplicate rule for {:?}", rule.from_table),
                });
            }
            if rule.to_tables.is_empty() {
                out.push(Problem {
                    path: at("to_tables"),
                    message: "needs at least one target table".into(),
                });
            }
            for (j, to) in rule.to_tables.iter().enumerate() {
                if to
                    .split_once('.')
                    .is_none_or(|(k, t)| k.is_empty() || t.is_empty())
                {
                    out.push(Problem {
                        path: format!("{prefix}rules[{i}].to_tables[{j}]"),
                        message: format!("{to:?} is not of the form keyspace.table"),
                    });
                }
            }
        }
        out
    }
}

/// What a cell serves: every keyspace's VSchema and the routing rules,
/// rebuilt from the global records and stored per cell.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SrvVSchema {
    #[serde(default)]
    pub keyspaces: BTreeMap<String, VSchema>,
    #[serde(default)]
    pub routing_rules: RoutingRules,
}

impl SrvVSchema {
    pub fn parse(json: &[u8]) -> Result<SrvVSchema, VSchemaError> {
        let srv: SrvVSchema = from_json(json)?;
        srv.validate()?;
        Ok(srv)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Each keyspace's checks plus the cross-keyspace ones: every
    /// `auto_increment.sequence` names a sequence table (unqualified names
    /// must be unambiguous), and routing rules are well formed.
    pub fn validate(&self) -> Result<(), VSchemaError> {
        let mut problems = Vec::new();
        for (ks, vschema) in &self.keyspaces {
            problems.extend(validate::keyspace(vschema, &format!("keyspaces.{ks}.")));
        }
        for (ks, vschema) in &self.keyspaces {
            for (table, t) in &vschema.tables {
                let Some(auto) = &t.auto_increment else {
                    continue;
                };
                if auto.sequence.is_empty() {
                    continue; // already reported
                }
                if let Err(message) = self.find_sequence(&auto.sequence) {
                    problems.push(Problem {
                        path: format!("keyspaces.{ks}.tables.{table}.auto_increment.sequence"),
                        message,
                    });
                }
            }
        }
        problems.extend(self.routing_rules.problems("routing_rules."));
        VSchemaError::from_problems(problems)
    }

    /// The keyspace holding sequence table `name` (`table` or `ks.table`).
    pub fn find_sequence(&self, name: &str) -> Result<&str, String> {
        let is_sequence = |vs: &VSchema, table: &str| {
            vs.tables
                .get(table)
                .is_some_and(|t| t.table_type == TableType::Sequence)
        };
        if let Some((ks, table)) = name.split_once('.') {
            return match self.keyspaces.get_key_value(ks) {
                Some((ks, vs)) if is_sequence(vs, table) => Ok(ks),
                Some(_) => Err(format!(
                    "{name:?}: keyspace {ks:?} has no sequence table {table:?}"
                )),
                None => Err(format!("{name:?}: unknown keyspace {ks:?}")),
            };
        }
        let found: Vec<&str> = self
            .keyspaces
            .iter()
            .filter(|(_, vs)| is_sequence(vs, name))
            .map(|(ks, _)| ks.as_str())
            .collect();
        match found.as_slice() {
            [ks] => Ok(ks),
            [] => Err(format!("no keyspace has a sequence table {name:?}")),
            many => Err(format!(
                "sequence table {name:?} is ambiguous (in {}): qualify it with its keyspace",
                many.join(", ")
            )),
        }
    }
}

//! VSchemas in Vitess's JSON format: how a keyspace's tables map to shards.
//!
//! ```json
//! {"sharded": true,
//!  "vindexes": {"hash": {"type": "hash"}},
//!  "tables": {"users": {"column_vindexes": [{"column": "user_id", "name": "hash"}],
//!                       "auto_increment": {"column": "user_id", "sequence": "user_seq"}},
//!             "products": {"type": "reference"}}}
//! ```
//!
//! [`VSchema::parse`] deserializes (unknown fields are refused, so a typo
//! like `column_vindex` is not silently ignored) and then validates; every
//! problem found is reported with the path of the offending field, e.g.
//! `tables.users.column_vindexes[0].name: unknown vindex "hsh"`. A parsed
//! VSchema is therefore always usable by the planner. [`SrvVSchema`] is the
//! per-cell roll-up of all keyspaces plus [`RoutingRules`].

mod routing;
mod validate;

pub use routing::{RoutingRule, RoutingRules, SrvVSchema};

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::vindex::{create_vindex, Vindex};

/// One keyspace's VSchema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VSchema {
    #[serde(default)]
    pub sharded: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vindexes: BTreeMap<String, VindexDef>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tables: BTreeMap<String, Table>,
    /// Accepted for compatibility; vitrail has no implicit cross-keyspace
    /// routing to turn off.
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_explicit_routing: bool,
    /// Accepted for compatibility (`unmanaged`, `managed`, `disallow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreign_key_mode: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// A named vindex: its type and parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VindexDef {
    #[serde(rename = "type")]
    pub vindex_type: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// The owning table of a lookup vindex (none are supported yet).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
}

/// What kind of table this is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableType {
    /// A regular table: sharded by its primary vindex in a sharded keyspace.
    #[default]
    #[serde(rename = "")]
    Normal,
    /// A single-row-per-sequence table handing out auto-increment values;
    /// lives in an unsharded keyspace.
    #[serde(rename = "sequence")]
    Sequence,
    /// A table copied in full to every shard; joins with it stay local.
    #[serde(rename = "reference")]
    Reference,
}

impl TableType {
    fn is_normal(&self) -> bool {
        *self == TableType::Normal
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    #[serde(rename = "type", default, skip_serializing_if = "TableType::is_normal")]
    pub table_type: TableType,
    /// The first entry is the primary vindex, which decides the row's shard.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub column_vindexes: Vec<ColumnVindex>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_increment: Option<AutoIncrement>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<Column>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub column_list_authoritative: bool,
    /// Hex keyspace id pinning a vindex-less table to one shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<String>,
    /// For reference tables: the `keyspace.table` they are copied from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnVindex {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub column: String,
    /// The vindex's name in [`VSchema::vindexes`].
    #[serde(default)]
    pub name: String,
    /// Vitess's multi-column form; only a single column is supported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
}

impl ColumnVindex {
    /// The column this vindex reads (`column`, or the one entry of `columns`).
    pub fn column_name(&self) -> &str {
        match self.columns.as_slice() {
            [only] if self.column.is_empty() => only,
            _ => &self.column,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoIncrement {
    #[serde(default)]
    pub column: String,
    /// The sequence table, `table` or `keyspace.table`.
    #[serde(default)]
    pub sequence: String,
}

/// A column declaration (Vitess allows more attributes; they are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub column_type: Option<String>,
}

/// One thing wrong with a VSchema, at a field path like
/// `tables.users.column_vindexes[0].name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A VSchema (or routing rules) that failed to parse or validate; lists every
/// problem found, in a stable order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct VSchemaError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for VSchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid vschema: ")?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl VSchemaError {
    fn from_problems(problems: Vec<Problem>) -> Result<(), VSchemaError> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(VSchemaError { problems })
        }
    }
}

/// Deserializes JSON, reporting the path of the field that failed.
fn from_json<T: DeserializeOwned>(json: &[u8]) -> Result<T, VSchemaError> {
    // serde would also accept a struct written as a JSON array.
    if json.trim_ascii_start().first() != Some(&b'{') {
        return Err(VSchemaError {
            problems: vec![Problem {
                path: "(root)".to_string(),
                message: "expected a JSON object".to_string(),
            }],
        });
    }
    let de = &mut serde_json::Deserializer::from_slice(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        VSchemaError {
            problems: vec![Problem {
                path: if path == "." || path == "?" {
                    "(root)".to_string()
                } else {
                    path
                },
                message: e.into_inner().to_string(),
            }],
        }
    })
}

impl VSchema {
    /// Parses and validates a keyspace VSchema.
    pub fn parse(json: &[u8]) -> Result<VSchema, VSchemaError> {
        let vschema: VSchema = from_json(json)?;
        vschema.validate()?;
        Ok(vschema)
    }

    /// Checks everything the planner relies on; see the module docs.
    pub fn validate(&self) -> Result<(), VSchemaError> {
        VSchemaError::from_problems(validate::keyspace(self, ""))
    }

    /// Compact JSON in Vitess's format (fields in a stable order).
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain structs and string-keyed maps cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The table's primary vindex: the column it reads and the vindex, or
    /// `None` for tables without one (reference, sequence, pinned, unsharded).
    pub fn primary_vindex(&self, table: &str) -> Option<(&str, Box<dyn Vindex>)> {
        let cv = self.tables.get(table)?.column_vindexes.first()?;
        let def = self.vindexes.get(&cv.name)?;
        let vindex = create_vindex(&def.vindex_type).ok()?;
        Some((cv.column_name(), vindex))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERS: &str = r#"{"sharded": true,
        "vindexes": {"hash": {"type": "hash"}},
        "tables": {"users": {"column_vindexes": [{"column": "user_id", "name": "hash"}],
                             "auto_increment": {"column": "user_id", "sequence": "user_seq"}},
                   "products": {"type": "reference"}}}"#;

    #[test]
    fn parses_and_round_trips() {
        let v = VSchema::parse(USERS.as_bytes()).unwrap();
        assert!(v.sharded);
        assert_eq!(v.tables["products"].table_type, TableType::Reference);
        let again = VSchema::parse(&v.to_json()).unwrap();
        assert_eq!(again, v);
        let (column, vindex) = v.primary_vindex("users").unwrap();
        assert_eq!(column, "user_id");
        assert_eq!(vindex.type_name(), "hash");
        assert!(v.primary_vindex("products").is_none());
    }

    #[test]
    fn reports_the_path() {
        let bad = USERS.replace(r#""name": "hash""#, r#""name": "hsh""#);
        let err = VSchema::parse(bad.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid vschema: tables.users.column_vindexes[0].name: unknown vindex \"hsh\" (defined: hash)"
        );
    }
}

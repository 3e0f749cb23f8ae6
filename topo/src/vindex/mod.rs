//! Vindexes: functions from a column value to a keyspace id, as Vitess
//! defines them, so a row lands on the same shard here as it would there.
//!
//! Supported types: `hash` (DES over the big-endian u64), `xxhash` (xxHash64
//! of the value's bytes), `numeric` (the u64 itself) and `binary` (the bytes
//! themselves). Lookup vindexes and the collation-dependent
//! `unicode_loose_*` ones are refused by [`create_vindex`] with
//! [`VindexError::UnsupportedType`] rather than approximated: a vindex that
//! maps a value differently from Vitess would silently misplace rows.

mod binary;
mod hash;
mod numeric;
mod xxhash;

pub use binary::Binary;
pub use hash::Hash;
pub use numeric::Numeric;
pub use xxhash::XxHash;

use std::fmt;

use crate::keyrange::{to_hex, KeyspaceId};

/// The vindex types [`create_vindex`] can build, sorted.
pub const SUPPORTED_TYPES: &[&str] = &["binary", "hash", "numeric", "xxhash"];

/// A column value as a vindex sees it (a small subset of SQL values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Uint(u64),
    /// Text, e.g. a quoted literal or a VARCHAR column.
    Str(String),
    /// Binary data, e.g. a VARBINARY column or an `x'..'` literal.
    Bytes(Vec<u8>),
}

impl Value {
    /// The bytes MySQL would send for this value as text: integers in
    /// decimal, NULL as nothing (Vitess's `ToBytes`).
    pub fn to_text_bytes(&self) -> Vec<u8> {
        match self {
            Value::Null => Vec::new(),
            Value::Int(i) => i.to_string().into_bytes(),
            Value::Uint(u) => u.to_string().into_bytes(),
            Value::Str(s) => s.as_bytes().to_vec(),
            Value::Bytes(b) => b.clone(),
        }
    }

    /// The value as an unsigned integer the way Vitess's `ToUint64` reads it:
    /// non-negative integers as is, text holding a decimal u64 parsed; NULL,
    /// negative numbers and anything else refused.
    pub fn to_u64(&self) -> Result<u64, String> {
        let text = |bytes: &[u8]| {
            std::str::from_utf8(bytes)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| "not an unsigned integer".to_string())
        };
        match self {
            Value::Null => Err("NULL has no keyspace id".to_string()),
            Value::Int(i) => u64::try_from(*i).map_err(|_| "negative number".to_string()),
            Value::Uint(u) => Ok(*u),
            Value::Str(s) => text(s.as_bytes()),
            Value::Bytes(b) => text(b),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Uint(u) => write!(f, "{u}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "x'{}'", to_hex(b)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VindexError {
    #[error("unsupported vindex type {0:?} (supported: binary, hash, numeric, xxhash)")]
    UnsupportedType(String),
    #[error("{vindex} vindex cannot map {value}: {reason}")]
    Unmappable {
        vindex: &'static str,
        value: String,
        reason: String,
    },
}

impl VindexError {
    fn unmappable(vindex: &'static str, value: &Value, reason: String) -> Self {
        VindexError::Unmappable {
            vindex,
            value: value.to_string(),
            reason,
        }
    }
}

/// A functional vindex: one value, one keyspace id, no lookups.
pub trait Vindex: Send + Sync + fmt::Debug {
    /// The vindex type as written in a VSchema (`"hash"`).
    fn type_name(&self) -> &'static str;
    /// The keyspace id `value` maps to.
    fn map(&self, value: &Value) -> Result<KeyspaceId, VindexError>;
    /// Whether a value maps to at most one keyspace id (all supported ones do).
    fn is_unique(&self) -> bool;
    /// Vitess's relative cost; the planner prefers the cheapest vindex.
    fn cost(&self) -> u32;
}

/// Builds the vindex of VSchema type `type_name`.
pub fn create_vindex(type_name: &str) -> Result<Box<dyn Vindex>, VindexError> {
    match type_name {
        "hash" => Ok(Box::new(Hash)),
        "xxhash" => Ok(Box::new(XxHash)),
        "numeric" => Ok(Box::new(Numeric)),
        "binary" => Ok(Box::new(Binary)),
        other => Err(VindexError::UnsupportedType(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_types_build_and_others_are_refused() {
        for t in SUPPORTED_TYPES {
            assert_eq!(create_vindex(t).unwrap().type_name(), *t);
        }
        let err = create_vindex("unicode_loose_md5").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported vindex type \"unicode_loose_md5\" (supported: binary, hash, numeric, xxhash)"
        );
    }
}

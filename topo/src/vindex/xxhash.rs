//! Vitess's `xxhash` vindex: xxHash64 (seed 0) of the value's text bytes
//! (integers in decimal, NULL as no bytes), the 64-bit result written
//! little-endian — Vitess's `vXXHash` uses `binary.LittleEndian`.

use twox_hash::XxHash64;

use super::{Value, Vindex, VindexError};
use crate::keyrange::KeyspaceId;

#[derive(Debug, Clone, Copy, Default)]
pub struct XxHash;

impl XxHash {
    pub fn hash_bytes(bytes: &[u8]) -> KeyspaceId {
        KeyspaceId(XxHash64::oneshot(0, bytes).to_le_bytes().to_vec())
    }
}

impl Vindex for XxHash {
    fn type_name(&self) -> &'static str {
        "xxhash"
    }

    fn map(&self, value: &Value) -> Result<KeyspaceId, VindexError> {
        Ok(XxHash::hash_bytes(&value.to_text_bytes()))
    }

    fn is_unique(&self) -> bool {
        true
    }

    fn cost(&self) -> u32 {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vitess_vectors() {
        // From Vitess's xxhash vindex tests.
        let cases = [
            (Value::Str("test1".into()), "d01ab7e4d6978f0b"),
            (Value::Str("test2".into()), "87eb11714c0a0e89"),
            (
                Value::Str("testaverylongvaluetomakesurethisworks".into()),
                "81d8c38e0d850e6a",
            ),
            (Value::Int(1), "d46405367612b4b7"),
            (Value::Null, "99e9d85137db46ef"),
            (Value::Int(-1), "d8e2a6a7c8c7623d"),
            (Value::Uint(u64::MAX), "477cfa8d6d8f1f8d"),
            (Value::Int(i64::MAX), "b37eb01f7bffafd8"),
            (Value::Uint(i64::MAX as u64), "b37eb01f7bffafd8"),
            (Value::Int(i64::MIN), "102c27ddb26a609e"),
        ];
        for (v, want) in cases {
            assert_eq!(XxHash.map(&v).unwrap().to_string(), want, "{v}");
        }
    }
}

//! Vitess's `hash` vindex: the value as a u64, written big-endian, encrypted
//! as one DES block under the all-zero key. Signed integers are reinterpreted
//! as u64 (two's complement), as Vitess does, so `-1` hashes `ffffffffffffffff`.

use std::sync::LazyLock;

use des::cipher::{BlockEncrypt, KeyInit};
use des::Des;

use super::{Value, Vindex, VindexError};
use crate::keyrange::KeyspaceId;

#[derive(Debug, Clone, Copy, Default)]
pub struct Hash;

/// The key schedule of the all-zero key, computed once (it was a visible
/// share of each routed statement's CPU).
static CIPHER: LazyLock<Des> = LazyLock::new(|| Des::new(&[0u8; 8].into()));

impl Hash {
    /// The keyspace id of `v`.
    pub fn hash_u64(v: u64) -> KeyspaceId {
        let mut block = v.to_be_bytes().into();
        CIPHER.encrypt_block(&mut block);
        KeyspaceId(block.to_vec())
    }
}

impl Vindex for Hash {
    fn type_name(&self) -> &'static str {
        "hash"
    }

    fn map(&self, value: &Value) -> Result<KeyspaceId, VindexError> {
        let n = match value {
            Value::Int(i) => *i as u64,
            other => other
                .to_u64()
                .map_err(|reason| VindexError::unmappable("hash", value, reason))?,
        };
        Ok(Hash::hash_u64(n))
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
        // From Vitess's hash vindex tests.
        let cases = [
            (1, "166b40b44aba4bd6"),
            (2, "06e7ea22ce92708f"),
            (3, "4eb190c9a2fa169c"),
            (4, "d2fd8867d50d2dfe"),
            (5, "70bb023c810ca87a"),
            (6, "f098480ac4c4be71"),
        ];
        for (v, want) in cases {
            assert_eq!(Hash.map(&Value::Int(v)).unwrap().to_string(), want);
            assert_eq!(Hash.map(&Value::Uint(v as u64)).unwrap().to_string(), want);
            let text = Value::Str(v.to_string());
            assert_eq!(Hash.map(&text).unwrap().to_string(), want);
        }
    }

    #[test]
    fn negative_ints_are_twos_complement_but_negative_text_is_refused() {
        assert_eq!(Hash.map(&Value::Int(-1)).unwrap(), Hash::hash_u64(u64::MAX));
        assert!(Hash.map(&Value::Str("-1".into())).is_err());
        assert!(Hash.map(&Value::Null).is_err());
        assert!(Hash.map(&Value::Str("abc".into())).is_err());
    }
}

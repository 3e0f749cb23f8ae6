//! Vitess's `binary` vindex: the keyspace id is the value's bytes as they
//! are (integers as their decimal text), for keys that are already
//! well-distributed or that the application ranges over itself.

use super::{Value, Vindex, VindexError};
use crate::keyrange::KeyspaceId;

#[derive(Debug, Clone, Copy, Default)]
pub struct Binary;

impl Vindex for Binary {
    fn type_name(&self) -> &'static str {
        "binary"
    }

    fn map(&self, value: &Value) -> Result<KeyspaceId, VindexError> {
        Ok(KeyspaceId(value.to_text_bytes()))
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
    fn bytes_as_they_are() {
        let id = Binary.map(&Value::Bytes(vec![0x80, 1])).unwrap();
        assert_eq!(id.to_string(), "8001");
        assert_eq!(Binary.map(&Value::Int(7)).unwrap().to_string(), "37");
    }
}

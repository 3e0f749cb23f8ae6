//! Vitess's `numeric` vindex: the value as a u64, big-endian. Its cost is 0:
//! it needs no computation, so the planner prefers it.

use super::{Value, Vindex, VindexError};
use crate::keyrange::KeyspaceId;

#[derive(Debug, Clone, Copy, Default)]
pub struct Numeric;

impl Vindex for Numeric {
    fn type_name(&self) -> &'static str {
        "numeric"
    }

    fn map(&self, value: &Value) -> Result<KeyspaceId, VindexError> {
        value
            .to_u64()
            .map(KeyspaceId::from_u64)
            .map_err(|reason| VindexError::unmappable("numeric", value, reason))
    }

    fn is_unique(&self) -> bool {
        true
    }

    fn cost(&self) -> u32 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_endian_u64() {
        let id = Numeric.map(&Value::Int(0x1122)).unwrap();
        assert_eq!(id.to_string(), "0000000000001122");
        assert!(Numeric.map(&Value::Int(-1)).is_err());
        assert_eq!(
            Numeric.map(&Value::Str("256".into())).unwrap().to_string(),
            "0000000000000100"
        );
    }
}

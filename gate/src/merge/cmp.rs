//! MySQL-ish value ordering.

use std::cmp::Ordering;

use super::value::Value;

pub(crate) fn compare(a: &Value, b: &Value) -> Ordering {
    let _ = (a, b);
    Ordering::Equal
}

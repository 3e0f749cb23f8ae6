//! Text compared the way the shards compare it: by the collation weights
//! the shards computed (`WEIGHT_STRING`), PAD SPACE applied here.
//!
//! For each text key column the planner asks the shards for two hidden
//! columns next to it (see [`CollationKey`]):
//!
//! - `WEIGHT_STRING(e)`: the weights of the value in its collation, which
//!   compare bytewise the way the collation compares the values — except
//!   for trailing spaces (below);
//! - `IF(LEFT(e, 0) = ' ', WEIGHT_STRING(CONCAT(LEFT(e, 0), ' ')), '')`:
//!   the weight of one space in `e`'s collation when that collation pads
//!   (PAD SPACE: `'a' = 'a '`), else empty. `LEFT(e, 0)` is an empty string
//!   with `e`'s collation, so the literal is compared and weighed in it.
//!
//! A HAVING comparison of `e` with a string literal gets a third column,
//! `WEIGHT_STRING(CONCAT(COALESCE(LEFT(e, 0), ''), 'lit'))`: the literal's
//! weight in `e`'s collation (the COALESCE keeps the collation and the
//! weight non-NULL where `e` is NULL; measured: `5C5046454C` for `'Äpfel'`
//! next to a latin1 column even for `MAX` over no rows).
//!
//! Facts measured on MariaDB 10.11.19 that these rules rest on:
//!
//! - VARCHAR/TEXT in a `_ci` collation: one weight unit per character,
//!   case and accents folded: `latin1_swedish_ci` 1 byte (`'apple'`,
//!   `'Apple'` → `4150504C45`; `'Äpfel'` → `5C5046454C`, Ä is a letter of
//!   its own after Z), `utf8mb4_general_ci` 2 bytes (`'apple'` →
//!   `004100500050004C0045`, `'Äpfel'` → `0041005000460045004C`, `'ß'` →
//!   `0053` = `'s'`, any character outside the BMP → `FFFD`),
//!   `utf8mb4_unicode_ci` 2 bytes (UCA primary weights, space `0209`, tab
//!   `0201`), `utf8mb4_bin` 3 bytes (the code point).
//! - Trailing spaces of a VARCHAR/TEXT value stay in its weight (`'APPLE '`
//!   → `4150504C4520`) although PAD SPACE collations (all of the above)
//!   compare `'apple' = 'APPLE '` and `'apple\t' < 'apple'` (the shorter
//!   string is compared as if padded with spaces, and a tab weighs less
//!   than a space). So weights are not compared plainly bytewise: the
//!   shorter weight is compared as if padded with the space's weight unit,
//!   and for equality (GROUP BY, DISTINCT) trailing space units are
//!   stripped. CHAR values come back without trailing spaces, weights too.
//! - The probe returns the space's weight unit (`20`, `0020`, `0209`,
//!   `000020`); for NO PAD collations (`utf8mb4_general_nopad_ci`, where
//!   `'a' < 'a '`) and binary strings (VARBINARY, BLOB) it returns `''`:
//!   their weights compare plainly bytewise, a prefix first.
//! - Numbers (INT, BIGINT, unsigned, DECIMAL, FLOAT, DOUBLE, YEAR, numeric
//!   expressions and aggregates like `SUM`) and BIT: `WEIGHT_STRING` is
//!   NULL. Such values keep being compared by value (numbers) or bytewise
//!   (BIT), as before.
//! - DATE, DATETIME, TIME: the weight is the value's text (binary), so it
//!   orders like the text did before (negative or >99 hour TIMEs order
//!   wrongly either way).
//! - NULL: the weight is NULL; NULL sorts first as before.
//! - Expressions get their result's collation: `CONCAT(latin1col, …)` is
//!   latin1_swedish_ci, `CONCAT(intcol, 'x')` the connection's collation.
//! - `WEIGHT_STRING` of a value whose weight would exceed
//!   `max_allowed_packet` is NULL: a column where some text values have
//!   weights and others not is refused, not guessed.

use std::cmp::Ordering;

use super::cmp::compare;
use super::spec::CollationKey;
use super::value::{Row, Value};
use super::MergeError;

/// How one key column compares, learned from the rows.
#[derive(Debug, Clone)]
struct ColumnWeights {
    weight: usize,
    /// The space's weight unit when the collation pads, `None` when it
    /// does not (or no text value was seen).
    pad: Option<Vec<u8>>,
}

/// The collation rules of a merge's key columns, checked against the rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Collation {
    /// Indexed by column.
    columns: Vec<Option<ColumnWeights>>,
}

fn err(column: usize, what: String) -> MergeError {
    MergeError::Collation { column, what }
}

impl Collation {
    /// Checks the weight and pad columns of `keys` in every row and learns
    /// each column's pad unit. Refuses rows it could not compare correctly:
    /// missing columns, text values without weights next to ones with,
    /// shards disagreeing on a column's collation, weights not made of
    /// whole pad units.
    pub(crate) fn prepare<'a>(
        keys: &[CollationKey],
        rows: impl Iterator<Item = &'a Row> + Clone,
    ) -> Result<Collation, MergeError> {
        let mut columns: Vec<Option<ColumnWeights>> = Vec::new();
        for k in keys {
            let needed = k.column.max(k.weight).max(k.pad) + 1;
            let mut pad: Option<&[u8]> = None;
            let (mut weighted, mut unweighted) = (false, false);
            for row in rows.clone() {
                if row.len() < needed {
                    return Err(MergeError::ShortRow {
                        got: row.len(),
                        needed,
                    });
                }
                if !matches!(row[k.column], Value::Bytes(_)) {
                    continue;
                }
                let w = match &row[k.weight] {
                    Value::Bytes(w) => w,
                    Value::Null => {
                        unweighted = true;
                        continue;
                    }
                    other => {
                        return Err(err(
                            k.column,
                            format!("a weight that is not bytes ({other})"),
                        ))
                    }
                };
                weighted = true;
                let p: &[u8] = match &row[k.pad] {
                    Value::Bytes(p) => p,
                    Value::Null => &[],
                    other => {
                        return Err(err(
                            k.column,
                            format!("a pad weight that is not bytes ({other})"),
                        ))
                    }
                };
                let p = if p.iter().all(|&b| b == 0) {
                    &[][..]
                } else {
                    p
                };
                match pad {
                    None => pad = Some(p),
                    Some(seen) if seen != p => {
                        return Err(err(
                            k.column,
                            "shards that disagree on its collation".to_string(),
                        ))
                    }
                    Some(_) => {}
                }
                if !p.is_empty() && w.len() % p.len() != 0 {
                    return Err(err(
                        k.column,
                        format!(
                            "a weight of {} bytes, not whole units of {} bytes",
                            w.len(),
                            p.len()
                        ),
                    ));
                }
            }
            if weighted && unweighted {
                return Err(err(
                    k.column,
                    "text values without a collation weight (WEIGHT_STRING returned NULL, e.g. for a value longer than max_allowed_packet allows)".to_string(),
                ));
            }
            if columns.len() <= k.column {
                columns.resize(k.column + 1, None);
            }
            columns[k.column] = Some(ColumnWeights {
                weight: k.weight,
                pad: pad.filter(|p| !p.is_empty()).map(<[u8]>::to_vec),
            });
        }
        Ok(Collation { columns })
    }

    fn weights<'r>(&self, column: usize, row: &'r Row) -> Option<(&'r [u8], Option<&[u8]>)> {
        let cw = self.columns.get(column)?.as_ref()?;
        if !matches!(row.get(column), Some(Value::Bytes(_))) {
            return None;
        }
        match row.get(cw.weight) {
            Some(Value::Bytes(w)) => Some((w, cw.pad.as_deref())),
            _ => None,
        }
    }

    /// Compares column `column` of two rows: text by its weights, anything
    /// else (NULL, numbers, BIT) by value.
    pub(crate) fn compare(&self, column: usize, a: &Row, b: &Row) -> Ordering {
        let (Some(x), Some(y)) = (a.get(column), b.get(column)) else {
            return Ordering::Equal;
        };
        match (self.weights(column, a), self.weights(column, b)) {
            (Some((wa, pad)), Some((wb, _))) => compare_weights(wa, wb, pad),
            _ => compare(x, y),
        }
    }

    /// Compares column `column` of `row` with a literal whose weight in the
    /// column's collation is `literal_weight`: by weight when the value is
    /// text, else by value.
    pub(crate) fn compare_with(
        &self,
        column: usize,
        row: &Row,
        literal: &Value,
        literal_weight: &Value,
    ) -> Ordering {
        let Some(v) = row.get(column) else {
            return Ordering::Equal;
        };
        match (self.weights(column, row), literal_weight) {
            (Some((w, pad)), Value::Bytes(lw)) => compare_weights(w, lw, pad),
            _ => compare(v, literal),
        }
    }

    /// The weight equal for exactly the values the collation finds equal
    /// (trailing space units stripped), for text; `None` for other values.
    pub(crate) fn key(&self, column: usize, row: &Row) -> Option<Vec<u8>> {
        let (w, pad) = self.weights(column, row)?;
        Some(strip_pad(w, pad).to_vec())
    }

    /// The key columns' weight columns, for carrying a row's weights along
    /// with the value taken from it.
    pub(crate) fn weight_column(&self, column: usize) -> Option<usize> {
        self.columns.get(column)?.as_ref().map(|c| c.weight)
    }
}

fn strip_pad<'w>(mut w: &'w [u8], pad: Option<&[u8]>) -> &'w [u8] {
    if let Some(p) = pad.filter(|p| !p.is_empty()) {
        while w.len() >= p.len() && w.ends_with(p) {
            w = &w[..w.len() - p.len()];
        }
    }
    w
}

/// Compares two weight strings; with a pad unit (PAD SPACE) the shorter
/// is compared as if padded with it, without one a prefix sorts first.
pub(crate) fn compare_weights(a: &[u8], b: &[u8], pad: Option<&[u8]>) -> Ordering {
    let n = a.len().min(b.len());
    let o = a[..n].cmp(&b[..n]);
    if o != Ordering::Equal {
        return o;
    }
    let Some(p) = pad.filter(|p| !p.is_empty()) else {
        return a.len().cmp(&b.len());
    };
    let (rest, longer_is_a) = if a.len() >= b.len() {
        (&a[n..], true)
    } else {
        (&b[n..], false)
    };
    for unit in rest.chunks(p.len()) {
        let o = unit.cmp(p);
        if o != Ordering::Equal {
            return if longer_is_a { o } else { o.reverse() };
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn pad_space_compares_as_if_padded() {
        let sp = hex("0020");
        let pad = Some(&sp[..]);
        // utf8mb4_general_ci: 'apple' = 'APPLE ' (weights measured).
        let apple = hex("004100500050004C0045");
        let apple_sp = hex("004100500050004C00450020");
        let apple_tab = hex("004100500050004C00450009");
        assert_eq!(compare_weights(&apple, &apple_sp, pad), Ordering::Equal);
        assert_eq!(compare_weights(&apple_sp, &apple, pad), Ordering::Equal);
        // 'apple\t' < 'apple' (tab weighs less than the padding space)…
        assert_eq!(compare_weights(&apple_tab, &apple, pad), Ordering::Less);
        assert_eq!(compare_weights(&apple, &apple_tab, pad), Ordering::Greater);
        // …and 'apple  x' > 'apple' (spaces then a heavier character).
        let apple_sp_x = hex("004100500050004C0045002000200058");
        assert_eq!(compare_weights(&apple_sp_x, &apple, pad), Ordering::Greater);
        // Without padding (NO PAD, binary) a prefix sorts first.
        assert_eq!(compare_weights(&apple, &apple_sp, None), Ordering::Less);
        assert_eq!(compare_weights(&apple_tab, &apple, None), Ordering::Greater);
        assert_eq!(strip_pad(&apple_sp, pad), &apple[..]);
        assert_eq!(strip_pad(&apple_sp, None), &apple_sp[..]);
        // Units are whole: a trailing 0x20 byte of a 2-byte unit is no pad.
        assert_eq!(strip_pad(&hex("2020"), pad), &hex("2020")[..]);
    }
}

//! Keyspace ids and key ranges, with Vitess's semantics.
//!
//! A row's *keyspace id* is the byte string its primary vindex maps it to
//! (8 bytes for `hash`, any length for `binary`). A shard owns the half-open
//! range `[start, end)` of keyspace ids; an empty `start` means "from the very
//! first id" and an empty `end` means "to past the last one", so the range with
//! both empty is the whole keyspace.
//!
//! Bytes compare as Vitess compares them: trailing zero bytes are ignored, so
//! `80`, `8000` and `80000000` are the same boundary. Shard names are the hex
//! boundaries joined by `-` (`-80`, `80-`, `40-80`); `-` and `0` both name
//! the whole range (an unsharded keyspace's single shard is usually `0`).
//!
//! Everything here is pure: parsing, formatting, containment, equal
//! partitioning ([`generate_shard_ranges`]) and the coverage check a keyspace's
//! shard set must pass ([`check_partition`]).

use std::cmp::Ordering;
use std::fmt;

/// Why a shard name or a set of shards was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRangeError {
    #[error("invalid shard name {name:?}: {reason}")]
    InvalidShardName { name: String, reason: &'static str },
    #[error("invalid shard count {0}: must be between 1 and 65536")]
    InvalidShardCount(usize),
    #[error("no shards: a keyspace needs at least one shard covering the whole key range")]
    NoShards,
    #[error("shard {first} is the first shard but starts at {start}: keyspace ids below it are not covered")]
    MissingStart { first: String, start: String },
    #[error("shard {last} is the last shard but ends at {end}: keyspace ids from there on are not covered")]
    MissingEnd { last: String, end: String },
    #[error(
        "gap between shards {left} and {right}: keyspace ids in [{from}, {to}) are not covered"
    )]
    Gap {
        left: String,
        right: String,
        from: String,
        to: String,
    },
    #[error("shards {left} and {right} overlap")]
    Overlap { left: String, right: String },
}

/// Lower-case hex of `bytes` (no separators).
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Decodes hex (either case); `None` on odd length or a non-hex digit.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// `id` without its trailing zero bytes: the form boundaries compare in.
fn normalize(id: &[u8]) -> &[u8] {
    let len = id.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &id[..len]
}

/// Compares two keyspace ids the way Vitess does (trailing zeros ignored).
pub fn compare_ids(a: &[u8], b: &[u8]) -> Ordering {
    normalize(a).cmp(normalize(b))
}

/// The id a row maps to; printed as lower-case hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyspaceId(pub Vec<u8>);

impl KeyspaceId {
    /// The 8 big-endian bytes of `v` (what `numeric` maps to).
    pub fn from_u64(v: u64) -> Self {
        KeyspaceId(v.to_be_bytes().to_vec())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for KeyspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Debug for KeyspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyspaceId({})", to_hex(&self.0))
    }
}

/// The half-open range `[start, end)` of keyspace ids a shard owns. Empty
/// `start` = unbounded below, empty `end` = unbounded above.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct KeyRange {
    pub start: Vec<u8>,
    pub end: Vec<u8>,
}

impl KeyRange {
    /// The whole keyspace (`-`).
    pub fn full() -> Self {
        KeyRange::default()
    }

    /// Builds a range; `None` when both ends are bounded and `start >= end`.
    pub fn new(start: Vec<u8>, end: Vec<u8>) -> Option<Self> {
        let r = KeyRange { start, end };
        if r.is_start_unbounded() || r.is_end_unbounded() {
            return Some(r);
        }
        (compare_ids(&r.start, &r.end) == Ordering::Less).then_some(r)
    }

    pub fn is_start_unbounded(&self) -> bool {
        normalize(&self.start).is_empty()
    }

    pub fn is_end_unbounded(&self) -> bool {
        normalize(&self.end).is_empty()
    }

    /// True for the range that covers every keyspace id.
    pub fn is_full(&self) -> bool {
        self.is_start_unbounded() && self.is_end_unbounded()
    }

    /// Parses a Vitess shard name: `-80`, `80-`, `40-80`, `-` or `0`.
    /// Boundaries are whole bytes of hex, either case.
    pub fn parse_shard_name(name: &str) -> Result<KeyRange, KeyRangeError> {
        let invalid = |reason| KeyRangeError::InvalidShardName {
            name: name.to_string(),
            reason,
        };
        if name == "0" {
            return Ok(KeyRange::full());
        }
        let (start, end) = name
            .split_once('-')
            .ok_or_else(|| invalid("expected <start>-<end> in hex, or 0"))?;
        let decode = |part: &str| {
            from_hex(part).ok_or_else(|| invalid("boundaries must be whole bytes of hex"))
        };
        let (start, end) = (decode(start)?, decode(end)?);
        KeyRange::new(start, end).ok_or_else(|| invalid("start must be below end"))
    }

    /// The canonical shard name: lower-case hex boundaries joined by `-`
    /// (`-` for the full range; a keyspace may still call that shard `0`).
    pub fn shard_name(&self) -> String {
        format!("{}-{}", to_hex(&self.start), to_hex(&self.end))
    }

    /// Whether `id` falls in `[start, end)`.
    pub fn contains(&self, id: &[u8]) -> bool {
        (self.is_start_unbounded() || compare_ids(id, &self.start) != Ordering::Less)
            && (self.is_end_unbounded() || compare_ids(id, &self.end) == Ordering::Less)
    }

    /// Orders starts with "unbounded" lowest.
    fn cmp_start(&self, other: &KeyRange) -> Ordering {
        match (self.is_start_unbounded(), other.is_start_unbounded()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => compare_ids(&self.start, &other.start),
        }
    }

    /// Compares this range's end with `other`'s start ("unbounded" end is
    /// highest, "unbounded" start lowest).
    fn cmp_end_to_start(&self, other: &KeyRange) -> Ordering {
        if self.is_end_unbounded() || other.is_start_unbounded() {
            Ordering::Greater
        } else {
            compare_ids(&self.end, &other.start)
        }
    }
}

impl fmt::Display for KeyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shard_name())
    }
}

impl fmt::Debug for KeyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRange({})", self.shard_name())
    }
}

/// Vitess's `key.GenerateShardRanges`: `n` contiguous ranges covering the
/// keyspace, boundaries one byte wide for up to 256 shards and two bytes wide
/// up to 65536. When `n` does not divide the boundary space, shard `i` ends at
/// `floor((i + 1) * space / n)`, spreading the rounding over all shards.
/// Vitess computes the same product in floating point, which falls one short
/// where the quotient is exact (its `n = 49` leaves the last shard ending at
/// `ff`, i.e. a gap); integer arithmetic does not.
pub fn generate_shard_ranges(n: usize) -> Result<Vec<KeyRange>, KeyRangeError> {
    let (space, width): (u64, usize) = match n {
        1..=256 => (256, 1),
        257..=65536 => (65536, 2),
        _ => return Err(KeyRangeError::InvalidShardCount(n)),
    };
    let boundary = |v: u64| -> Vec<u8> {
        if v == 0 || v == space {
            Vec::new()
        } else {
            v.to_be_bytes()[8 - width..].to_vec()
        }
    };
    let n64 = n as u64;
    Ok((0..n64)
        .map(|i| KeyRange {
            start: boundary(i * space / n64),
            end: boundary((i + 1) * space / n64),
        })
        .collect())
}

/// Checks that `shards` (name, range) cover every keyspace id exactly once:
/// no gap, no overlap, nothing missing at either end. Errors name the
/// offending shards by the names given.
pub fn check_partition<'a, I>(shards: I) -> Result<(), KeyRangeError>
where
    I: IntoIterator<Item = (&'a str, &'a KeyRange)>,
{
    let mut sorted: Vec<(&str, &KeyRange)> = shards.into_iter().collect();
    sorted.sort_by(|a, b| a.1.cmp_start(b.1).then_with(|| a.0.cmp(b.0)));
    let (first, last) = match (sorted.first(), sorted.last()) {
        (Some(first), Some(last)) => (*first, *last),
        _ => return Err(KeyRangeError::NoShards),
    };
    if !first.1.is_start_unbounded() {
        return Err(KeyRangeError::MissingStart {
            first: first.0.to_string(),
            start: to_hex(&first.1.start),
        });
    }
    for pair in sorted.windows(2) {
        let ((left, l), (right, r)) = (pair[0], pair[1]);
        match l.cmp_end_to_start(r) {
            Ordering::Equal => {}
            Ordering::Greater => {
                return Err(KeyRangeError::Overlap {
                    left: left.to_string(),
                    right: right.to_string(),
                })
            }
            Ordering::Less => {
                return Err(KeyRangeError::Gap {
                    left: left.to_string(),
                    right: right.to_string(),
                    from: to_hex(&l.end),
                    to: to_hex(&r.start),
                })
            }
        }
    }
    if !last.1.is_end_unbounded() {
        return Err(KeyRangeError::MissingEnd {
            last: last.0.to_string(),
            end: to_hex(&last.1.end),
        });
    }
    Ok(())
}

/// Which of `shards` owns `id`, by name; `None` if no shard does.
pub fn shard_for<'a, I>(shards: I, id: &[u8]) -> Option<&'a str>
where
    I: IntoIterator<Item = (&'a str, &'a KeyRange)>,
{
    shards
        .into_iter()
        .find(|(_, range)| range.contains(id))
        .map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kr(name: &str) -> KeyRange {
        KeyRange::parse_shard_name(name).unwrap()
    }

    #[test]
    fn trailing_zeros_do_not_matter() {
        assert_eq!(compare_ids(&[0x80], &[0x80, 0, 0]), Ordering::Equal);
        assert!(kr("-80").contains(&[0x7f, 0xff]));
        assert!(!kr("-80").contains(&[0x80]));
        assert!(!kr("-80").contains(&[0x80, 0x00, 0x00]));
        assert!(kr("80-").contains(&[0x80]));
        assert!(kr("-8000").is_full() == kr("-80").is_full());
        assert!(kr("00-").is_full());
    }

    #[test]
    fn vitess_float_algorithm_differs_only_by_float_rounding() {
        // Vitess computes end = int(float64(i) * (256.0 / float64(n))). Where
        // the exact quotient is an integer the float product can fall just
        // short of it (n = 49: the last shard would end at `ff` instead of
        // unbounded, leaving a gap; n = 98: a boundary at 7f instead of 80).
        // Everywhere else the two agree.
        for n in 1..=1024usize {
            let ranges = generate_shard_ranges(n).unwrap();
            let space: u64 = if n <= 256 { 256 } else { 65536 };
            let size = space as f64 / n as f64;
            for (i, r) in ranges.iter().enumerate() {
                let exact = (i as u64 + 1) * space / n as u64;
                let float = ((i + 1) as f64 * size) as u64;
                let ours = if r.end.is_empty() {
                    space
                } else {
                    r.end.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b))
                };
                assert_eq!(ours, exact, "n={n} i={i}");
                let exact_is_integer = ((i as u64 + 1) * space).is_multiple_of(n as u64);
                assert!(float == exact || (exact_is_integer && float + 1 == exact));
            }
            let named: Vec<_> = ranges.iter().map(|r| (r.shard_name(), r)).collect();
            check_partition(named.iter().map(|(n, r)| (n.as_str(), *r))).unwrap();
        }
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(from_hex("00FFa0"), Some(vec![0, 0xff, 0xa0]));
        assert_eq!(to_hex(&[0, 0xff, 0xa0]), "00ffa0");
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
    }
}

//! On-disk encodings of the MVCC column families.
//!
//! Keys are built so that RocksDB's bytewise order is the order we scan in:
//!
//! | column family     | key                                   | value                 |
//! |-------------------|---------------------------------------|-----------------------|
//! | `mvcc_kv`         | user key                              | kv body               |
//! | `mvcc_keyrev`     | `escape(key) 00 00` ++ !rev (BE u64)  | kv body, or empty = tombstone |
//! | `mvcc_events`     | rev (BE u64) ++ sub-index (BE u32)    | event                 |
//! | `mvcc_leases`     | lease id (BE u64)                     | ttl (varint)          |
//! | `mvcc_lease_keys` | lease id (BE u64) ++ user key         | empty                 |
//! | `mvcc_meta`       | `compact`                             | revision (BE u64)     |
//!
//! `escape` maps `00` to `00 ff` and leaves every other byte alone; `00 00`
//! terminates the key. Comparing two encodings bytewise therefore compares
//! keys first: a key that is a proper prefix of another sorts first because
//! its terminator `00 00` is below both `00 ff` and any byte `>= 01`. All
//! versions of one key share the prefix `escape(key) 00 00`, and
//! `escape(key) 00 01` is an exclusive upper bound for them that is still
//! below every longer key.
//!
//! Within one key the revision is stored bit-inverted, so versions sort
//! newest first. "The newest version of `k` at or below `R`" — what a
//! historical read and compaction need — is then one `seek(keyrev_key(k, R))`
//! instead of a walk over every older version.
//!
//! Values use a small hand-rolled format instead of bincode: the key is never
//! repeated inside the value (it is already the RocksDB key), integers are
//! LEB128 varints, and the value bytes are copied with one `memcpy` (serde
//! encodes a `Vec<u8>` byte by byte). A kv body is
//! `varint(create) varint(mod) varint(version) varint(lease) value...`, where
//! the value runs to the end. Signed fields are stored as their two's
//! complement `u64`, so any `i64` round-trips.

use super::types::{Event, EventKind, KeyValue, LeaseId, Revision};

/// A value or key that does not decode: the store is corrupt (or was written
/// by an incompatible version).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt {what}")]
pub struct Corrupt {
    pub what: &'static str,
}

fn corrupt<T>(what: &'static str) -> Result<T, Corrupt> {
    Err(Corrupt { what })
}

// ---------------------------------------------------------------- keyrev keys

/// `escape(key) 00 00`: the common prefix of every version of `key`.
pub fn keyrev_prefix(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 2 + 8);
    escape_into(key, &mut out);
    out.extend_from_slice(&[0, 0]);
    out
}

/// `escape(key) 00 01`: greater than every version of `key`, smaller than
/// every version of any key greater than `key`.
pub fn keyrev_key_end(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 2);
    escape_into(key, &mut out);
    out.extend_from_slice(&[0, 1]);
    out
}

/// The `mvcc_keyrev` key of `key` at `rev`. Seeking to it finds the newest
/// version of `key` at or below `rev` (if the entry found has `key`'s prefix).
pub fn keyrev_key(key: &[u8], rev: Revision) -> Vec<u8> {
    let mut out = keyrev_prefix(key);
    out.extend_from_slice(&(!(rev as u64)).to_be_bytes());
    out
}

fn escape_into(key: &[u8], out: &mut Vec<u8>) {
    for &b in key {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
}

/// Splits an encoded keyrev key into its per-key prefix (`escape(key) 00 00`,
/// usable to tell whether two entries belong to the same key without
/// unescaping) and its revision.
pub fn split_keyrev_key(enc: &[u8]) -> Result<(&[u8], Revision), Corrupt> {
    if enc.len() < 10 || enc[enc.len() - 10..enc.len() - 8] != [0, 0] {
        return corrupt("keyrev key");
    }
    let (prefix, rev) = enc.split_at(enc.len() - 8);
    Ok((
        prefix,
        !u64::from_be_bytes(rev.try_into().unwrap()) as Revision,
    ))
}

/// The user key of a keyrev prefix (`escape(key) 00 00`).
pub fn unescape_keyrev_prefix(prefix: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let mut out = Vec::with_capacity(prefix.len());
    let mut i = 0;
    loop {
        match prefix.get(i) {
            None => return corrupt("keyrev key (no terminator)"),
            Some(0) => match prefix.get(i + 1) {
                Some(0xff) => {
                    out.push(0);
                    i += 2;
                }
                Some(0) if i + 2 == prefix.len() => return Ok(out),
                _ => return corrupt("keyrev key (bad escape)"),
            },
            Some(&b) => {
                out.push(b);
                i += 1;
            }
        }
    }
}

/// Decodes a full keyrev key into (user key, revision).
#[cfg(test)]
pub fn decode_keyrev_key(enc: &[u8]) -> Result<(Vec<u8>, Revision), Corrupt> {
    let (prefix, rev) = split_keyrev_key(enc)?;
    Ok((unescape_keyrev_prefix(prefix)?, rev))
}

// ----------------------------------------------------------------- other keys

/// The `mvcc_events` key of the `sub`-th change made at `rev`.
pub fn event_key(rev: Revision, sub: u32) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..8].copy_from_slice(&(rev as u64).to_be_bytes());
    out[8..].copy_from_slice(&sub.to_be_bytes());
    out
}

pub fn decode_event_key(enc: &[u8]) -> Result<(Revision, u32), Corrupt> {
    if enc.len() != 12 {
        return corrupt("event key");
    }
    let rev = u64::from_be_bytes(enc[..8].try_into().unwrap()) as Revision;
    let sub = u32::from_be_bytes(enc[8..].try_into().unwrap());
    Ok((rev, sub))
}

/// The `mvcc_leases` key of a lease, also the prefix of its `mvcc_lease_keys`.
pub fn lease_key(id: LeaseId) -> [u8; 8] {
    (id as u64).to_be_bytes()
}

pub fn decode_lease_key(enc: &[u8]) -> Result<LeaseId, Corrupt> {
    match <[u8; 8]>::try_from(enc) {
        Ok(b) => Ok(u64::from_be_bytes(b) as LeaseId),
        Err(_) => corrupt("lease key"),
    }
}

/// The `mvcc_lease_keys` key recording that `key` is attached to lease `id`.
pub fn lease_attachment_key(id: LeaseId, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len());
    out.extend_from_slice(&lease_key(id));
    out.extend_from_slice(key);
    out
}

/// The user key of a `mvcc_lease_keys` entry.
pub fn lease_attachment_user_key(enc: &[u8]) -> Result<&[u8], Corrupt> {
    if enc.len() < 8 {
        return corrupt("lease attachment key");
    }
    Ok(&enc[8..])
}

/// `mvcc_meta` key of the compact revision.
pub const META_COMPACT: &[u8] = b"compact";

pub fn encode_revision(rev: Revision) -> [u8; 8] {
    (rev as u64).to_be_bytes()
}

pub fn decode_revision(enc: &[u8]) -> Result<Revision, Corrupt> {
    match <[u8; 8]>::try_from(enc) {
        Ok(b) => Ok(u64::from_be_bytes(b) as Revision),
        Err(_) => corrupt("revision"),
    }
}

// --------------------------------------------------------------------- values

fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut v = v as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A cursor over an encoded value.
struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<i64, Corrupt> {
        let mut v: u64 = 0;
        for (i, &b) in self.buf.iter().enumerate().take(10) {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.buf = &self.buf[i + 1..];
                return Ok(v as i64);
            }
        }
        corrupt(self.what)
    }

    fn bytes(&mut self) -> Result<&'a [u8], Corrupt> {
        let len = self.varint()?;
        if len < 0 || len as u64 > self.buf.len() as u64 {
            return corrupt(self.what);
        }
        let (b, rest) = self.buf.split_at(len as usize);
        self.buf = rest;
        Ok(b)
    }

    fn byte(&mut self) -> Result<u8, Corrupt> {
        let (&b, rest) = self.buf.split_first().ok_or(Corrupt { what: self.what })?;
        self.buf = rest;
        Ok(b)
    }
}

fn put_meta(out: &mut Vec<u8>, kv: &KeyValue) {
    put_varint(out, kv.create_revision);
    put_varint(out, kv.mod_revision);
    put_varint(out, kv.version);
    put_varint(out, kv.lease);
}

/// The body of a live key version (`mvcc_kv` and `mvcc_keyrev` values). The
/// key itself is not stored: it is the RocksDB key.
pub fn encode_kv_body(kv: &KeyValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 * 4 + kv.value.len());
    put_meta(&mut out, kv);
    out.extend_from_slice(&kv.value);
    out
}

/// Decodes a kv body. With `with_value == false` the value is left empty
/// without being copied (keys_only reads).
pub fn decode_kv_body(key: Vec<u8>, body: &[u8], with_value: bool) -> Result<KeyValue, Corrupt> {
    let mut r = Reader {
        buf: body,
        what: "kv",
    };
    let create_revision = r.varint()?;
    let mod_revision = r.varint()?;
    let version = r.varint()?;
    let lease = r.varint()?;
    let value = if with_value {
        r.buf.to_vec()
    } else {
        Vec::new()
    };
    Ok(KeyValue {
        key,
        create_revision,
        mod_revision,
        version,
        value,
        lease,
    })
}

/// The value of a keyrev tombstone: empty (a kv body is never empty).
pub const TOMBSTONE: &[u8] = &[];

const EVENT_DELETE: u8 = 1;
const EVENT_HAS_PREV: u8 = 2;

/// An event: `flags` (bit 0 delete, bit 1 has prev_kv), `bytes(key)`, then
/// for a put the kv's metadata and `bytes(value)` (a delete's kv is only the
/// key and its mod revision: `varint(mod)`), then if present prev_kv's
/// metadata and `bytes(value)` (prev_kv's key is the event's key).
pub fn encode_event(ev: &Event) -> Vec<u8> {
    let prev_len = ev.prev_kv.as_ref().map_or(0, |p| p.value.len() + 20);
    let mut out = Vec::with_capacity(8 + ev.kv.key.len() + ev.kv.value.len() + 20 + prev_len);
    let mut flags = 0;
    if ev.kind == EventKind::Delete {
        flags |= EVENT_DELETE;
    }
    if ev.prev_kv.is_some() {
        flags |= EVENT_HAS_PREV;
    }
    out.push(flags);
    put_varint(&mut out, ev.kv.key.len() as i64);
    out.extend_from_slice(&ev.kv.key);
    match ev.kind {
        EventKind::Put => {
            put_meta(&mut out, &ev.kv);
            put_varint(&mut out, ev.kv.value.len() as i64);
            out.extend_from_slice(&ev.kv.value);
        }
        EventKind::Delete => put_varint(&mut out, ev.kv.mod_revision),
    }
    if let Some(prev) = &ev.prev_kv {
        put_meta(&mut out, prev);
        put_varint(&mut out, prev.value.len() as i64);
        out.extend_from_slice(&prev.value);
    }
    out
}

/// The key an encoded event is about, without decoding the rest.
pub fn event_user_key(enc: &[u8]) -> Result<&[u8], Corrupt> {
    let mut r = Reader {
        buf: enc,
        what: "event",
    };
    r.byte()?;
    r.bytes()
}

pub fn decode_event(enc: &[u8]) -> Result<Event, Corrupt> {
    let mut r = Reader {
        buf: enc,
        what: "event",
    };
    let flags = r.byte()?;
    if flags & !(EVENT_DELETE | EVENT_HAS_PREV) != 0 {
        return corrupt("event flags");
    }
    let key = r.bytes()?.to_vec();
    let read_kv = |r: &mut Reader<'_>, key: Vec<u8>| -> Result<KeyValue, Corrupt> {
        let create_revision = r.varint()?;
        let mod_revision = r.varint()?;
        let version = r.varint()?;
        let lease = r.varint()?;
        let value = r.bytes()?.to_vec();
        Ok(KeyValue {
            key,
            create_revision,
            mod_revision,
            version,
            value,
            lease,
        })
    };
    let has_prev = flags & EVENT_HAS_PREV != 0;
    let (kind, kv) = if flags & EVENT_DELETE != 0 {
        let mod_revision = r.varint()?;
        let kv = KeyValue {
            key: if has_prev { key.clone() } else { key },
            mod_revision,
            ..KeyValue::default()
        };
        (EventKind::Delete, kv)
    } else {
        let k = if has_prev { key.clone() } else { key };
        (EventKind::Put, read_kv(&mut r, k)?)
    };
    let prev_kv = if has_prev {
        Some(read_kv(&mut r, kv.key.clone())?)
    } else {
        None
    };
    if !r.buf.is_empty() {
        return corrupt("event (trailing bytes)");
    }
    Ok(Event { kind, kv, prev_kv })
}

pub fn encode_lease_ttl(ttl: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    put_varint(&mut out, ttl);
    out
}

pub fn decode_lease_ttl(enc: &[u8]) -> Result<i64, Corrupt> {
    let mut r = Reader {
        buf: enc,
        what: "lease",
    };
    let ttl = r.varint()?;
    if !r.buf.is_empty() {
        return corrupt("lease");
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys chosen to stress the escaping: empty, NUL bytes, 0xff bytes,
    /// prefixes of each other, and keys ending where another's escape starts.
    fn tricky_keys() -> Vec<Vec<u8>> {
        let raw: &[&[u8]] = &[
            b"",
            b"\x00",
            b"\x00\x00",
            b"\x00\x01",
            b"\x00\xff",
            b"\x00\xff\x00",
            b"\x01",
            b"a",
            b"a\x00",
            b"a\x00\x00",
            b"a\x00\x01",
            b"a\x00\xff",
            b"a\x01",
            b"a\xff",
            b"ab",
            b"abc",
            b"b",
            b"\xfe",
            b"\xff",
            b"\xff\x00",
            b"\xff\xff",
        ];
        raw.iter().map(|k| k.to_vec()).collect()
    }

    #[test]
    fn keyrev_order_is_key_ascending_then_revision_descending() {
        let revs: [Revision; 6] = [0, 1, 2, 255, 256, i64::MAX];
        let mut pairs = Vec::new();
        for k in tricky_keys() {
            for &r in &revs {
                pairs.push((k.clone(), r));
            }
        }
        for a in &pairs {
            for b in &pairs {
                let (ea, eb) = (keyrev_key(&a.0, a.1), keyrev_key(&b.0, b.1));
                let expected = a.0.cmp(&b.0).then(b.1.cmp(&a.1));
                assert_eq!(expected, ea.cmp(&eb), "{a:?} vs {b:?}: {ea:?} vs {eb:?}");
            }
        }
    }

    #[test]
    fn keyrev_bounds_enclose_exactly_one_key() {
        let keys = tricky_keys();
        for k in &keys {
            let (lo, hi) = (keyrev_prefix(k), keyrev_key_end(k));
            for other in &keys {
                for r in [0, 1, i64::MAX] {
                    let e = keyrev_key(other, r);
                    let inside = lo.as_slice() <= e.as_slice() && e.as_slice() < hi.as_slice();
                    assert_eq!(inside, other == k, "{k:?} bounds vs {other:?}@{r}");
                    // Everything of a smaller key is below the prefix, of a larger key above
                    // the end: range scans can start/stop at these bounds.
                    if other < k {
                        assert!(e < lo);
                    }
                    if other > k {
                        assert!(e >= hi);
                    }
                }
            }
        }
    }

    #[test]
    fn keyrev_roundtrip() {
        for k in tricky_keys() {
            for r in [1, 2, 1 << 40, i64::MAX] {
                let enc = keyrev_key(&k, r);
                assert_eq!(decode_keyrev_key(&enc).unwrap(), (k.clone(), r));
                let (prefix, rev) = split_keyrev_key(&enc).unwrap();
                assert_eq!(prefix, keyrev_prefix(&k).as_slice());
                assert_eq!(rev, r);
            }
        }
    }

    #[test]
    fn keyrev_rejects_garbage() {
        assert!(decode_keyrev_key(b"").is_err());
        assert!(decode_keyrev_key(b"abc").is_err());
        // No terminator before the revision.
        assert!(decode_keyrev_key(b"ab\x01\x02\x00\x00\x00\x00\x00\x00\x00\x01").is_err());
        // Bad escape: 00 followed by 07.
        assert!(decode_keyrev_key(b"a\x00\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01").is_err());
    }

    #[test]
    fn event_keys_order_by_revision_then_sub() {
        let mut keys = Vec::new();
        for r in [1, 2, 255, 256, 1 << 33] {
            for s in [0, 1, 255, 256, u32::MAX] {
                keys.push((r, s));
            }
        }
        for a in &keys {
            for b in &keys {
                assert_eq!(a.cmp(b), event_key(a.0, a.1).cmp(&event_key(b.0, b.1)));
            }
        }
        assert_eq!(decode_event_key(&event_key(77, 3)).unwrap(), (77, 3));
    }

    #[test]
    fn lease_attachment_keys_group_by_lease() {
        let a = lease_attachment_key(1, b"\xff\xff");
        let b = lease_attachment_key(2, b"");
        let c = lease_attachment_key(2, b"a");
        let d = lease_attachment_key(256, b"a");
        assert!(a < b && b < c && c < d);
        assert!(c.starts_with(&lease_key(2)));
        assert_eq!(lease_attachment_user_key(&c).unwrap(), b"a");
    }

    fn kv(key: &[u8], value: &[u8], c: i64, m: i64, v: i64, l: i64) -> KeyValue {
        KeyValue {
            key: key.to_vec(),
            create_revision: c,
            mod_revision: m,
            version: v,
            value: value.to_vec(),
            lease: l,
        }
    }

    #[test]
    fn kv_body_roundtrip() {
        for kv in [
            kv(b"k", b"", 1, 1, 1, 0),
            kv(b"k", b"\x00\xff value", 2, 300, 299, 1 << 62),
            kv(b"", &[7u8; 1000], i64::MAX, i64::MAX, i64::MAX, -1),
        ] {
            let body = encode_kv_body(&kv);
            assert!(!body.is_empty(), "a body must never look like a tombstone");
            assert_eq!(decode_kv_body(kv.key.clone(), &body, true).unwrap(), kv);
            let no_value = decode_kv_body(kv.key.clone(), &body, false).unwrap();
            assert_eq!(
                no_value,
                KeyValue {
                    value: vec![],
                    ..kv.clone()
                }
            );
        }
        assert!(decode_kv_body(vec![], &[0x80], true).is_err());
    }

    #[test]
    fn event_roundtrip() {
        let put = kv(b"a\x00b", b"v1", 2, 5, 3, 7);
        let prev = kv(b"a\x00b", b"v0", 2, 4, 2, 0);
        let del = KeyValue {
            key: b"a\x00b".to_vec(),
            mod_revision: 6,
            ..KeyValue::default()
        };
        for ev in [
            Event {
                kind: EventKind::Put,
                kv: put.clone(),
                prev_kv: None,
            },
            Event {
                kind: EventKind::Put,
                kv: put.clone(),
                prev_kv: Some(prev.clone()),
            },
            Event {
                kind: EventKind::Delete,
                kv: del.clone(),
                prev_kv: Some(put.clone()),
            },
            Event {
                kind: EventKind::Delete,
                kv: del,
                prev_kv: None,
            },
        ] {
            let enc = encode_event(&ev);
            assert_eq!(decode_event(&enc).unwrap(), ev);
            assert_eq!(event_user_key(&enc).unwrap(), b"a\x00b");
            assert!(decode_event(&enc[..enc.len() - 1]).is_err());
        }
        assert!(decode_event(&[0x80]).is_err());
    }

    #[test]
    fn lease_ttl_and_revision_roundtrip() {
        for ttl in [0, 1, 10, 9_000_000_000, -5] {
            assert_eq!(decode_lease_ttl(&encode_lease_ttl(ttl)).unwrap(), ttl);
        }
        assert_eq!(decode_revision(&encode_revision(1234)).unwrap(), 1234);
        assert!(decode_revision(b"123").is_err());
        assert_eq!(decode_lease_key(&lease_key(42)).unwrap(), 42);
    }
}

//! The read side of the store, generic over where reads go: the committed DB
//! (one iterator = one consistent view), an explicit snapshot (several reads
//! that must agree), or the apply transaction (reads that must see the
//! transaction's own uncommitted writes).
//!
//! Current reads use `mvcc_kv`; reads at an older revision use `mvcc_keyrev`
//! (newest-first per key, see `encoding`).

use std::cmp::Ordering;
use std::sync::Arc;

use rocksdb::{
    BoundColumnFamily, DBAccess, DBPinnableSlice, DBRawIteratorWithThreadMode, ReadOptions,
    SnapshotWithThreadMode, Transaction,
};

use super::encoding::{self, Corrupt};
use super::mvcc::{Db, MvccError};
use super::types::{
    Compare, CompareResult, CompareTarget, KeyRange, KeyValue, RangeRequest, RangeResponse,
    Revision, SortOrder, SortTarget,
};

pub type Cf<'a> = Arc<BoundColumnFamily<'a>>;

/// A source of reads.
pub trait View {
    type Access: DBAccess;
    fn get(&self, cf: &Cf<'_>, key: &[u8]) -> Result<Option<DBPinnableSlice<'_>>, rocksdb::Error>;
    /// A raw iterator. `upper` is an exclusive bound the view may use to
    /// stop early; callers still check bounds themselves.
    fn iter(
        &self,
        cf: &Cf<'_>,
        upper: Option<&[u8]>,
    ) -> DBRawIteratorWithThreadMode<'_, Self::Access>;
}

fn bounded(upper: Option<&[u8]>) -> ReadOptions {
    let mut ro = ReadOptions::default();
    if let Some(u) = upper {
        ro.set_iterate_upper_bound(u.to_vec());
    }
    ro
}

impl View for Db {
    type Access = Db;
    fn get(&self, cf: &Cf<'_>, key: &[u8]) -> Result<Option<DBPinnableSlice<'_>>, rocksdb::Error> {
        self.get_pinned_cf(cf, key)
    }
    fn iter(&self, cf: &Cf<'_>, upper: Option<&[u8]>) -> DBRawIteratorWithThreadMode<'_, Db> {
        self.raw_iterator_cf_opt(cf, bounded(upper))
    }
}

impl View for SnapshotWithThreadMode<'_, Db> {
    type Access = Db;
    fn get(&self, cf: &Cf<'_>, key: &[u8]) -> Result<Option<DBPinnableSlice<'_>>, rocksdb::Error> {
        self.get_pinned_cf_opt(cf, key, ReadOptions::default())
    }
    fn iter(&self, cf: &Cf<'_>, upper: Option<&[u8]>) -> DBRawIteratorWithThreadMode<'_, Db> {
        self.raw_iterator_cf_opt(cf, bounded(upper))
    }
}

impl<'t> View for Transaction<'t, Db> {
    type Access = Transaction<'t, Db>;
    fn get(&self, cf: &Cf<'_>, key: &[u8]) -> Result<Option<DBPinnableSlice<'_>>, rocksdb::Error> {
        self.get_pinned_cf(cf, key)
    }
    /// No iterate_upper_bound here: the transaction's iterator merges its
    /// write batch with the DB, and we would rather not depend on how that
    /// merge honours bounds. Every scan checks its bound anyway.
    fn iter(&self, cf: &Cf<'_>, _upper: Option<&[u8]>) -> DBRawIteratorWithThreadMode<'_, Self> {
        self.raw_iterator_cf_opt(cf, ReadOptions::default())
    }
}

pub(crate) fn iter_done<D: DBAccess>(
    it: &DBRawIteratorWithThreadMode<'_, D>,
) -> Result<(), MvccError> {
    it.status().map_err(MvccError::from)
}

/// Where a range's keys end in `mvcc_kv`: `None` = unbounded.
fn kv_upper(range: &KeyRange) -> Option<&[u8]> {
    if range.range_end == [0] {
        None
    } else {
        Some(&range.range_end)
    }
}

// ------------------------------------------------------------- current state

/// The current version of `key`.
pub fn get_current<V: View>(
    v: &V,
    cf_kv: &Cf<'_>,
    key: &[u8],
    with_value: bool,
) -> Result<Option<KeyValue>, MvccError> {
    match v.get(cf_kv, key)? {
        None => Ok(None),
        Some(body) => Ok(Some(encoding::decode_kv_body(
            key.to_vec(),
            &body,
            with_value,
        )?)),
    }
}

/// Calls `f(key, body)` for every current key in a multi-key `range`, in key
/// order, until `f` returns false.
pub fn scan_current<V: View>(
    v: &V,
    cf_kv: &Cf<'_>,
    range: &KeyRange,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<bool, MvccError>,
) -> Result<(), MvccError> {
    debug_assert!(!range.is_single());
    let upper = kv_upper(range);
    let mut it = v.iter(cf_kv, upper);
    it.seek(&range.key);
    while let Some((k, body)) = it.item() {
        if upper.is_some_and(|u| k >= u) || !f(k, body)? {
            break;
        }
        it.next();
    }
    iter_done(&it)
}

/// Every current key-value in `range` (any kind of range), in key order.
pub fn list_current<V: View>(
    v: &V,
    cf_kv: &Cf<'_>,
    range: &KeyRange,
) -> Result<Vec<KeyValue>, MvccError> {
    if range.is_single() {
        return Ok(get_current(v, cf_kv, &range.key, true)?
            .into_iter()
            .collect());
    }
    let mut out = Vec::new();
    scan_current(v, cf_kv, range, |k, body| {
        out.push(encoding::decode_kv_body(k.to_vec(), body, true)?);
        Ok(true)
    })?;
    Ok(out)
}

// ------------------------------------------------------------------- history

/// How many versions of one key a history scan steps over with `next()`
/// before it seeks instead (a seek costs several steps).
const STEPS_BEFORE_SEEK: usize = 6;

/// Calls `f(keyrev prefix, body)` for every key in `range` that is live at
/// `rev` (its newest version at or below `rev` is not a tombstone).
pub fn scan_at<V: View>(
    v: &V,
    cf_keyrev: &Cf<'_>,
    range: &KeyRange,
    rev: Revision,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<(), MvccError>,
) -> Result<(), MvccError> {
    if range.is_single() {
        let target = encoding::keyrev_key(&range.key, rev);
        let mut it = v.iter(cf_keyrev, Some(&encoding::keyrev_key_end(&range.key)));
        it.seek(&target);
        if let Some((k, body)) = it.item() {
            let (prefix, _) = encoding::split_keyrev_key(k)?;
            if prefix == &target[..target.len() - 8] && !body.is_empty() {
                f(prefix, body)?;
            }
        }
        return iter_done(&it);
    }

    let upper = kv_upper(range).map(encoding::keyrev_prefix);
    let mut it = v.iter(cf_keyrev, upper.as_deref());
    it.seek(encoding::keyrev_prefix(&range.key));
    // Invariant at the top of the loop: the iterator is at the first (newest)
    // version of some key, or past the end.
    let mut seek_buf = Vec::new();
    while let Some(k) = it.key() {
        if upper.as_deref().is_some_and(|u| k >= u) {
            break;
        }
        let (prefix, r) = encoding::split_keyrev_key(k)?;
        let plen = prefix.len();
        // Own the prefix: the iterator's buffer changes as it moves.
        seek_buf.clear();
        seek_buf.extend_from_slice(prefix);
        if r > rev {
            // Changed after `rev`: find its newest version at or below `rev`
            // (if any) by stepping over a few newer versions, then seeking.
            let mut found = false;
            for _ in 0..STEPS_BEFORE_SEEK {
                it.next();
                match it.key() {
                    Some(k2) if k2.len() == plen + 8 && k2[..plen] == seek_buf[..] => {
                        if encoding::split_keyrev_key(k2)?.1 <= rev {
                            found = true;
                            break;
                        }
                    }
                    _ => break,
                }
            }
            if !found {
                if it
                    .key()
                    .is_some_and(|k2| k2.len() == plen + 8 && k2[..plen] == seek_buf[..])
                {
                    seek_buf.extend_from_slice(&(!(rev as u64)).to_be_bytes());
                    it.seek(&seek_buf);
                    seek_buf.truncate(plen);
                }
                match it.key() {
                    Some(k2) if k2.len() == plen + 8 && k2[..plen] == seek_buf[..] => {}
                    _ => continue, // no version <= rev: now at the next key
                }
            }
        }
        let body = it.value().expect("valid iterator has a value");
        if !body.is_empty() {
            f(&seek_buf, body)?;
        }
        // Skip this key's older versions: a few steps, then a seek.
        let mut steps = 0;
        loop {
            it.next();
            match it.key() {
                Some(k2) if k2.len() == plen + 8 && k2[..plen] == seek_buf[..] => {}
                _ => break,
            }
            steps += 1;
            if steps == STEPS_BEFORE_SEEK {
                seek_buf[plen - 1] = 1; // escape(key) 00 01 = past every version
                it.seek(&seek_buf);
                break;
            }
        }
    }
    iter_done(&it)
}

// --------------------------------------------------------------------- Range

/// Accumulates a Range result as keys stream by, decoding only what the
/// response needs (etcd's `applierV3backend.Range`).
struct Collector<'r> {
    req: &'r RangeRequest,
    /// No sort and no filter: results are the first `limit` keys.
    simple: bool,
    count: i64,
    kvs: Vec<KeyValue>,
}

impl<'r> Collector<'r> {
    fn new(req: &'r RangeRequest) -> Self {
        let filtered = req.min_mod_revision != 0
            || req.max_mod_revision != 0
            || req.min_create_revision != 0
            || req.max_create_revision != 0;
        let simple = !filtered && effective_order(req) == SortOrder::None;
        Collector {
            req,
            simple,
            count: 0,
            kvs: Vec::new(),
        }
    }

    fn visit(
        &mut self,
        key: impl FnOnce() -> Result<Vec<u8>, Corrupt>,
        body: &[u8],
    ) -> Result<(), MvccError> {
        self.count += 1;
        let req = self.req;
        if req.count_only || (self.simple && req.limit > 0 && self.kvs.len() as i64 >= req.limit) {
            return Ok(());
        }
        // keys_only drops values after sorting, which may be by value.
        let by_value = req.sort_target == SortTarget::Value && !self.simple;
        let kv = encoding::decode_kv_body(key()?, body, !req.keys_only || by_value)?;
        let pruned = (req.max_mod_revision != 0 && kv.mod_revision > req.max_mod_revision)
            || (req.min_mod_revision != 0 && kv.mod_revision < req.min_mod_revision)
            || (req.max_create_revision != 0 && kv.create_revision > req.max_create_revision)
            || (req.min_create_revision != 0 && kv.create_revision < req.min_create_revision);
        if !pruned {
            self.kvs.push(kv);
        }
        Ok(())
    }

    fn finish(self) -> RangeResponse {
        let Collector {
            req,
            simple,
            count,
            mut kvs,
        } = self;
        sort_kvs(&mut kvs, effective_order(req), req.sort_target);
        let mut more = false;
        if req.limit > 0 && !req.count_only {
            // Without filters and sorting only `limit` kvs were kept, but
            // `count` saw every key; etcd's `more` is "more than limit matched".
            more = if simple {
                count > req.limit
            } else {
                kvs.len() as i64 > req.limit
            };
            kvs.truncate(req.limit as usize);
        }
        if req.keys_only {
            kvs.iter_mut().for_each(|kv| kv.value = Vec::new());
        }
        RangeResponse { kvs, more, count }
    }
}

/// etcd sorts by the target ascending when a non-key target is given with no
/// order. Ascending by key is the natural scan order: no sort needed.
fn effective_order(req: &RangeRequest) -> SortOrder {
    match (req.sort_order, req.sort_target) {
        (SortOrder::None | SortOrder::Ascend, SortTarget::Key) => SortOrder::None,
        (SortOrder::None, _) => SortOrder::Ascend,
        (o, _) => o,
    }
}

/// Stable sort, so keys that tie on the target stay in key order.
fn sort_kvs(kvs: &mut [KeyValue], order: SortOrder, target: SortTarget) {
    let cmp = |a: &KeyValue, b: &KeyValue| -> Ordering {
        match target {
            SortTarget::Key => a.key.cmp(&b.key),
            SortTarget::Version => a.version.cmp(&b.version),
            SortTarget::Create => a.create_revision.cmp(&b.create_revision),
            SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
            SortTarget::Value => a.value.cmp(&b.value),
        }
    };
    match order {
        SortOrder::None => {}
        SortOrder::Ascend => kvs.sort_by(cmp),
        SortOrder::Descend if target == SortTarget::Key => kvs.reverse(),
        SortOrder::Descend => kvs.sort_by(|a, b| cmp(b, a)),
    }
}

/// A Range over current state. The caller has validated the request.
pub fn range_current<V: View>(
    v: &V,
    cf_kv: &Cf<'_>,
    req: &RangeRequest,
) -> Result<RangeResponse, MvccError> {
    let mut c = Collector::new(req);
    let range = &req.range;
    if range.is_single() {
        if let Some(body) = v.get(cf_kv, &range.key)? {
            c.visit(|| Ok(range.key.clone()), &body)?;
        }
    } else {
        scan_current(v, cf_kv, range, |k, body| {
            c.visit(|| Ok(k.to_vec()), body)?;
            Ok(true)
        })?;
    }
    Ok(c.finish())
}

/// A Range at revision `rev`. The caller has validated the request and
/// checked `rev` against the current and compact revisions.
pub fn range_at<V: View>(
    v: &V,
    cf_keyrev: &Cf<'_>,
    req: &RangeRequest,
    rev: Revision,
) -> Result<RangeResponse, MvccError> {
    let mut c = Collector::new(req);
    scan_at(v, cf_keyrev, &req.range, rev, |prefix, body| {
        c.visit(|| encoding::unescape_keyrev_prefix(prefix), body)
    })?;
    Ok(c.finish())
}

// ------------------------------------------------------------------- Compare

/// One Txn guard against current state (etcd's `applyCompare`): every key in
/// the range must satisfy it; an empty range compares the zero KeyValue,
/// except that a Value compare on no key is false.
pub fn compare<V: View>(v: &V, cf_kv: &Cf<'_>, c: &Compare) -> Result<bool, MvccError> {
    let with_value = matches!(c.target, CompareTarget::Value(_));
    let mut found = false;
    let mut ok = true;
    if c.range.is_single() {
        if let Some(kv) = get_current(v, cf_kv, &c.range.key, with_value)? {
            found = true;
            ok = compare_kv(c, &kv);
        }
    } else {
        scan_current(v, cf_kv, &c.range, |k, body| {
            found = true;
            let kv = encoding::decode_kv_body(k.to_vec(), body, with_value)?;
            ok = compare_kv(c, &kv);
            Ok(ok)
        })?;
    }
    if !found {
        if with_value {
            return Ok(false);
        }
        return Ok(compare_kv(c, &KeyValue::default()));
    }
    Ok(ok)
}

fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    let ord = match &c.target {
        CompareTarget::Version(x) => kv.version.cmp(x),
        CompareTarget::Create(x) => kv.create_revision.cmp(x),
        CompareTarget::Mod(x) => kv.mod_revision.cmp(x),
        CompareTarget::Value(x) => kv.value.as_slice().cmp(x.as_slice()),
        CompareTarget::Lease(x) => kv.lease.cmp(x),
    };
    match c.result {
        CompareResult::Equal => ord == Ordering::Equal,
        CompareResult::NotEqual => ord != Ordering::Equal,
        CompareResult::Greater => ord == Ordering::Greater,
        CompareResult::Less => ord == Ordering::Less,
    }
}

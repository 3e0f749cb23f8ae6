//! Applying one command inside the caller's RocksDB transaction.
//!
//! Every change of a key at revision `R` writes: the new current value in
//! `mvcc_kv` (or deletes it), the version (or a tombstone) at `(key, R)` in
//! `mvcc_keyrev`, the event at `(R, sub)` in `mvcc_events`, and the lease
//! attachment in `mvcc_lease_keys`. All reads go through the transaction, so
//! later ops of a Txn (and later commands of one batch) see earlier writes.
//!
//! Deterministic failures are found before anything is written, as in etcd:
//! request shape (`check`), then the Txn path, then lease/key existence and
//! Range revisions along that path. The one failure etcd can only hit midway
//! (it panics there) is an ignore_value/ignore_lease put of a key an earlier
//! from-key delete of the same Txn removed; we roll back to a savepoint and
//! fail the Txn with KeyNotFound instead.

use std::collections::BTreeSet;

use rocksdb::Transaction;

use super::check;
use super::encoding;
use super::mvcc::{Db, MvccError, CF_EVENTS, CF_KEYREV, CF_KV, CF_LEASES, CF_LEASE_KEYS, CF_META};
use super::types::{
    DeleteRangeRequest, DeleteRangeResponse, Event, EventKind, KeyValue, KvError, LeaseId,
    PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp, ResponseOp, Revision,
    TxnRequest, TxnResponse,
};
use super::view::{self, Cf, View};

/// etcd's `MaxLeaseTTL`.
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

/// The column families, looked up once per command.
pub struct Cfs<'a> {
    pub kv: Cf<'a>,
    pub keyrev: Cf<'a>,
    pub events: Cf<'a>,
    pub leases: Cf<'a>,
    pub lease_keys: Cf<'a>,
    pub meta: Cf<'a>,
}

pub fn cf<'a>(db: &'a Db, name: &'static str) -> Result<Cf<'a>, MvccError> {
    db.cf_handle(name)
        .ok_or(MvccError::MissingColumnFamily(name))
}

impl<'a> Cfs<'a> {
    pub fn new(db: &'a Db) -> Result<Self, MvccError> {
        Ok(Cfs {
            kv: cf(db, CF_KV)?,
            keyrev: cf(db, CF_KEYREV)?,
            events: cf(db, CF_EVENTS)?,
            leases: cf(db, CF_LEASES)?,
            lease_keys: cf(db, CF_LEASE_KEYS)?,
            meta: cf(db, CF_META)?,
        })
    }
}

type Outcome<T> = Result<Result<T, KvError>, MvccError>;

pub struct Writer<'a, 't> {
    txn: &'a Transaction<'t, Db>,
    cfs: &'a Cfs<'a>,
    /// The store revision before this command; changes are made at `start + 1`.
    start: Revision,
    pub compact: Revision,
    /// Changes made so far, in order.
    pub events: Vec<Event>,
}

impl<'a, 't> Writer<'a, 't> {
    pub fn new(
        txn: &'a Transaction<'t, Db>,
        cfs: &'a Cfs<'a>,
        start: Revision,
        compact: Revision,
    ) -> Self {
        Writer {
            txn,
            cfs,
            start,
            compact,
            events: Vec::new(),
        }
    }

    fn rev(&self) -> Revision {
        self.start + 1
    }

    fn record(&mut self, ev: Event) -> Result<(), MvccError> {
        let key = encoding::event_key(self.rev(), self.events.len() as u32);
        self.txn
            .put_cf(&self.cfs.events, key, encoding::encode_event(&ev))?;
        self.events.push(ev);
        Ok(())
    }

    fn lease_exists(&self, id: LeaseId) -> Result<bool, MvccError> {
        Ok(self
            .txn
            .get_pinned_cf(&self.cfs.leases, encoding::lease_key(id))?
            .is_some())
    }

    fn key_exists(&self, key: &[u8]) -> Result<bool, MvccError> {
        Ok(self.txn.get_pinned_cf(&self.cfs.kv, key)?.is_some())
    }

    // ------------------------------------------------------------- commands

    /// A top-level Put: etcd checks the lease before the ignore_* flags here
    /// (and the other way round inside a Txn).
    pub fn put_command(&mut self, req: &PutRequest) -> Outcome<PutResponse> {
        if let Err(e) = check::check_put(req) {
            return Ok(Err(e));
        }
        if req.lease != 0 && !self.lease_exists(req.lease)? {
            return Ok(Err(KvError::LeaseNotFound));
        }
        self.put(req)
    }

    pub fn delete_command(&mut self, req: &DeleteRangeRequest) -> Outcome<DeleteRangeResponse> {
        if let Err(e) = check::check_delete(req) {
            return Ok(Err(e));
        }
        Ok(Ok(self.delete_range(req)?))
    }

    pub fn txn_command(&mut self, req: &TxnRequest) -> Outcome<TxnResponse> {
        if let Err(e) = check::check_txn(req) {
            return Ok(Err(e));
        }
        // Every compare on the taken path, nested ones included, is
        // evaluated against the state before the Txn (etcd's compareToPath).
        let mut path = Vec::new();
        self.compare_path(req, &mut path)?;

        let mut ignore_puts = false;
        let mut err = None;
        walk_path(req, &path, &mut |op| {
            if let RequestOp::Put(p) = op {
                if p.ignore_value || p.ignore_lease {
                    ignore_puts = true;
                    if !self.key_exists(&p.key)? {
                        err = Some(KvError::KeyNotFound);
                        return Ok(false);
                    }
                }
                if p.lease != 0 && !self.lease_exists(p.lease)? {
                    err = Some(KvError::LeaseNotFound);
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        if err.is_none() {
            walk_path(req, &path, &mut |op| {
                if let RequestOp::Range(r) = op {
                    if let Err(e) = self.check_revision(r.revision) {
                        err = Some(e);
                        return Ok(false);
                    }
                }
                Ok(true)
            })?;
        }
        if let Some(e) = err {
            return Ok(Err(e));
        }

        if ignore_puts {
            self.txn.set_savepoint();
        }
        let mut cursor = 0;
        match self.exec_txn(req, &path, &mut cursor)? {
            Ok(resp) => Ok(Ok(resp)),
            Err(e) => {
                self.txn.rollback_to_savepoint()?;
                self.events.clear();
                Ok(Err(e))
            }
        }
    }

    pub fn compact(&mut self, rev: Revision) -> Outcome<()> {
        if rev <= self.compact {
            return Ok(Err(KvError::Compacted));
        }
        if rev > self.start {
            return Ok(Err(KvError::FutureRevision));
        }
        let cfs = self.cfs;

        // Keys changed in [old compact, rev]: only they can have versions
        // at or below `rev` other than the newest one (older history was
        // trimmed by earlier compactions). Events below `rev` go.
        let mut keys = BTreeSet::new();
        let mut dead_events = Vec::new();
        {
            let mut it = self.txn.iter(&cfs.events, None);
            it.seek(encoding::event_key(self.compact.max(0), 0));
            while let Some((k, v)) = it.item() {
                let (r, _) = encoding::decode_event_key(k)?;
                if r > rev {
                    break;
                }
                keys.insert(encoding::event_user_key(v)?.to_vec());
                if r < rev {
                    dead_events.push(k.to_vec());
                }
                it.next();
            }
            view::iter_done(&it)?;
        }
        for k in dead_events {
            self.txn.delete_cf(&cfs.events, k)?;
        }

        // Per key keep only the newest version at or below `rev`, and not
        // even that if it is a tombstone.
        let mut dead_versions = Vec::new();
        {
            let mut it = self.txn.iter(&cfs.keyrev, None);
            for key in &keys {
                let target = encoding::keyrev_key(key, rev);
                let plen = target.len() - 8;
                it.seek(&target);
                let mut first = true;
                while let Some((k, v)) = it.item() {
                    if k.len() != target.len() || k[..plen] != target[..plen] {
                        break;
                    }
                    if !first || v.is_empty() {
                        dead_versions.push(k.to_vec());
                    }
                    first = false;
                    it.next();
                }
            }
            view::iter_done(&it)?;
        }
        for k in dead_versions {
            self.txn.delete_cf(&cfs.keyrev, k)?;
        }

        self.txn.put_cf(
            &cfs.meta,
            encoding::META_COMPACT,
            encoding::encode_revision(rev),
        )?;
        self.compact = rev;
        Ok(Ok(()))
    }

    pub fn lease_grant(&mut self, id: LeaseId, ttl: i64) -> Outcome<()> {
        if id <= 0 {
            return Ok(Err(KvError::InvalidArgument(
                "lease id must be positive".into(),
            )));
        }
        if ttl > MAX_LEASE_TTL {
            return Ok(Err(KvError::InvalidArgument("too large lease TTL".into())));
        }
        if self.lease_exists(id)? {
            return Ok(Err(KvError::LeaseExists));
        }
        self.txn.put_cf(
            &self.cfs.leases,
            encoding::lease_key(id),
            encoding::encode_lease_ttl(ttl),
        )?;
        Ok(Ok(()))
    }

    /// Deletes the lease's keys in key order, all at one revision, then the lease.
    pub fn lease_revoke(&mut self, id: LeaseId) -> Outcome<()> {
        if !self.lease_exists(id)? {
            return Ok(Err(KvError::LeaseNotFound));
        }
        let prefix = encoding::lease_key(id);
        let mut attached = Vec::new();
        {
            let mut it = self.txn.iter(&self.cfs.lease_keys, None);
            it.seek(prefix);
            while let Some(k) = it.key() {
                if !k.starts_with(&prefix) {
                    break;
                }
                attached.push(encoding::lease_attachment_user_key(k)?.to_vec());
                it.next();
            }
            view::iter_done(&it)?;
        }
        for key in attached {
            match view::get_current(self.txn, &self.cfs.kv, &key, true)? {
                Some(prev) if prev.lease == id => self.delete_kv(prev)?,
                // Cannot happen while attachments and kvs agree; drop the
                // stale attachment rather than delete another lease's key.
                _ => self.txn.delete_cf(
                    &self.cfs.lease_keys,
                    encoding::lease_attachment_key(id, &key),
                )?,
            }
        }
        self.txn.delete_cf(&self.cfs.leases, prefix)?;
        Ok(Ok(()))
    }

    // ------------------------------------------------------------------ ops

    fn check_revision(&self, rev: Revision) -> Result<(), KvError> {
        if rev == 0 {
            Ok(())
        } else if rev > self.start {
            Err(KvError::FutureRevision)
        } else if rev < self.compact {
            Err(KvError::Compacted)
        } else {
            Ok(())
        }
    }

    /// A validated Put. Fails only if ignore_value/ignore_lease finds no key.
    fn put(&mut self, req: &PutRequest) -> Outcome<PutResponse> {
        let prev = view::get_current(self.txn, &self.cfs.kv, &req.key, true)?;
        let rev = self.rev();
        let (value, lease) = match &prev {
            None if req.ignore_value || req.ignore_lease => return Ok(Err(KvError::KeyNotFound)),
            p => (
                match p {
                    Some(p) if req.ignore_value => p.value.clone(),
                    _ => req.value.clone(),
                },
                match p {
                    Some(p) if req.ignore_lease => p.lease,
                    _ => req.lease,
                },
            ),
        };
        let kv = KeyValue {
            key: req.key.clone(),
            create_revision: prev.as_ref().map_or(rev, |p| p.create_revision),
            mod_revision: rev,
            version: prev.as_ref().map_or(0, |p| p.version) + 1,
            value,
            lease,
        };
        let body = encoding::encode_kv_body(&kv);
        self.txn.put_cf(&self.cfs.kv, &kv.key, &body)?;
        self.txn
            .put_cf(&self.cfs.keyrev, encoding::keyrev_key(&kv.key, rev), &body)?;
        let old_lease = prev.as_ref().map_or(0, |p| p.lease);
        if old_lease != lease {
            if old_lease != 0 {
                let k = encoding::lease_attachment_key(old_lease, &kv.key);
                self.txn.delete_cf(&self.cfs.lease_keys, k)?;
            }
            if lease != 0 {
                let k = encoding::lease_attachment_key(lease, &kv.key);
                self.txn.put_cf(&self.cfs.lease_keys, k, [])?;
            }
        }
        let resp = PutResponse {
            prev_kv: if req.prev_kv { prev.clone() } else { None },
        };
        self.record(Event {
            kind: EventKind::Put,
            kv,
            prev_kv: prev,
        })?;
        Ok(Ok(resp))
    }

    fn delete_kv(&mut self, prev: KeyValue) -> Result<(), MvccError> {
        let rev = self.rev();
        self.txn.delete_cf(&self.cfs.kv, &prev.key)?;
        self.txn.put_cf(
            &self.cfs.keyrev,
            encoding::keyrev_key(&prev.key, rev),
            encoding::TOMBSTONE,
        )?;
        if prev.lease != 0 {
            let k = encoding::lease_attachment_key(prev.lease, &prev.key);
            self.txn.delete_cf(&self.cfs.lease_keys, k)?;
        }
        let kv = KeyValue {
            key: prev.key.clone(),
            mod_revision: rev,
            ..KeyValue::default()
        };
        self.record(Event {
            kind: EventKind::Delete,
            kv,
            prev_kv: Some(prev),
        })
    }

    fn delete_range(&mut self, req: &DeleteRangeRequest) -> Result<DeleteRangeResponse, MvccError> {
        let prevs = view::list_current(self.txn, &self.cfs.kv, &req.range)?;
        let deleted = prevs.len() as i64;
        let prev_kvs = if req.prev_kv {
            prevs.clone()
        } else {
            Vec::new()
        };
        for prev in prevs {
            self.delete_kv(prev)?;
        }
        Ok(DeleteRangeResponse { deleted, prev_kvs })
    }

    /// A Range inside a Txn: current reads see the Txn's earlier writes.
    fn range(&self, req: &RangeRequest) -> Result<RangeResponse, MvccError> {
        if req.revision == 0 {
            view::range_current(self.txn, &self.cfs.kv, req)
        } else {
            view::range_at(self.txn, &self.cfs.keyrev, req, req.revision)
        }
    }

    fn compare_path(&self, req: &TxnRequest, path: &mut Vec<bool>) -> Result<(), MvccError> {
        let mut ok = true;
        for c in &req.compare {
            if !view::compare(self.txn, &self.cfs.kv, c)? {
                ok = false;
                break;
            }
        }
        path.push(ok);
        for op in if ok { &req.success } else { &req.failure } {
            if let RequestOp::Txn(t) = op {
                self.compare_path(t, path)?;
            }
        }
        Ok(())
    }

    fn exec_txn(
        &mut self,
        req: &TxnRequest,
        path: &[bool],
        cursor: &mut usize,
    ) -> Outcome<TxnResponse> {
        let succeeded = path[*cursor];
        *cursor += 1;
        let ops = if succeeded {
            &req.success
        } else {
            &req.failure
        };
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            let resp = match op {
                RequestOp::Range(r) => ResponseOp::Range(self.range(r)?),
                RequestOp::Put(p) => match self.put(p)? {
                    Ok(r) => ResponseOp::Put(r),
                    Err(e) => return Ok(Err(e)),
                },
                RequestOp::DeleteRange(d) => ResponseOp::DeleteRange(self.delete_range(d)?),
                RequestOp::Txn(t) => match self.exec_txn(t, path, cursor)? {
                    Ok(r) => ResponseOp::Txn(r),
                    Err(e) => return Ok(Err(e)),
                },
            };
            responses.push(resp);
        }
        Ok(Ok(TxnResponse {
            succeeded,
            responses,
        }))
    }
}

/// Calls `f` on every non-Txn op of the taken path (pre-order, as etcd's
/// `checkRequests`), until it returns false.
fn walk_path(
    req: &TxnRequest,
    path: &[bool],
    f: &mut dyn FnMut(&RequestOp) -> Result<bool, MvccError>,
) -> Result<bool, MvccError> {
    fn go(
        req: &TxnRequest,
        path: &[bool],
        cursor: &mut usize,
        f: &mut dyn FnMut(&RequestOp) -> Result<bool, MvccError>,
    ) -> Result<bool, MvccError> {
        let ok = path[*cursor];
        *cursor += 1;
        for op in if ok { &req.success } else { &req.failure } {
            let more = match op {
                RequestOp::Txn(t) => go(t, path, cursor, f)?,
                other => f(other)?,
            };
            if !more {
                return Ok(false);
            }
        }
        Ok(true)
    }
    go(req, path, &mut 0, f)
}

//! etcd v3 MVCC semantics over RocksDB.
//!
//! # Model
//!
//! One global revision, starting at 1 for an empty store (etcd's initial
//! header revision). A command that changes keys bumps it by exactly one, so
//! every change of a Txn — and every key a LeaseRevoke deletes — shares one
//! revision; changes within a revision are ordered by a sub-index. Commands
//! that change nothing (a DeleteRange that matches nothing, a Txn whose taken
//! branch only reads, LeaseGrant, Compact, a LeaseRevoke of a lease without
//! keys) leave the revision alone.
//!
//! # Storage
//!
//! Six column families (layouts in `encoding`): current values (`mvcc_kv`,
//! one point get per single-key read), every version by key (`mvcc_keyrev`,
//! for reads at old revisions), every change by revision (`mvcc_events`, for
//! watch replay; each event carries its prev_kv), leases and their keys, and
//! the compact revision (`mvcc_meta`). The current revision is not stored: it
//! is the revision of the newest event (or 1 if there is none), since every
//! bump writes at least one event and compaction never removes events at or
//! above the compact revision, which is at most the current one. That saves
//! a write per command.
//!
//! # Contract with the caller
//!
//! `apply` writes only into the given transaction; the caller commits it,
//! possibly after applying several commands, and must not apply again after
//! a failed commit without `reload`. The revision caches (`revision()`,
//! `compact_revision()`) move at apply time, so between an apply and its
//! commit they are ahead of what `range` reads. Reads (`range`,
//! `events_since`, leases) see committed data only and are consistent within
//! one call.
//!
//! `MvccError` means storage failed or holds bytes we cannot decode; the
//! state machine cannot go on. Request errors that every replica hits alike
//! are `KvError`s inside `Applied::result`, and such a command writes nothing.

use std::sync::Arc;

use rocksdb::{MultiThreaded, OptimisticTransactionDB, Transaction};

use super::check;
use super::encoding::{self, Corrupt};
use super::types::{
    Applied, Command, CommandResult, Event, KeyRange, KvError, Lease, LeaseId, RangeRequest,
    RangeResponse, Revision,
};
use super::view::{self, View};
use super::write::{self, Cfs, Writer};

pub type Db = OptimisticTransactionDB<MultiThreaded>;

pub(crate) const CF_KV: &str = "mvcc_kv";
pub(crate) const CF_KEYREV: &str = "mvcc_keyrev";
pub(crate) const CF_EVENTS: &str = "mvcc_events";
pub(crate) const CF_LEASES: &str = "mvcc_leases";
pub(crate) const CF_LEASE_KEYS: &str = "mvcc_lease_keys";
pub(crate) const CF_META: &str = "mvcc_meta";

/// A fatal storage condition: RocksDB failed or returned undecodable data.
#[derive(Debug, thiserror::Error)]
pub enum MvccError {
    #[error("mvcc storage: {0}")]
    Storage(#[from] rocksdb::Error),
    #[error("mvcc: column family {0} is missing (open the DB with Mvcc::COLUMN_FAMILIES)")]
    MissingColumnFamily(&'static str),
    #[error("mvcc: {0}")]
    Corrupt(#[from] Corrupt),
}

/// The MVCC store: a handle on the DB plus cached revisions.
pub struct Mvcc {
    db: Arc<Db>,
    revision: Revision,
    compact_revision: Revision,
}

impl std::fmt::Debug for Mvcc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mvcc")
            .field("revision", &self.revision)
            .field("compact_revision", &self.compact_revision)
            .finish_non_exhaustive()
    }
}

impl Mvcc {
    /// Column families this module owns; the DB opener creates them.
    pub const COLUMN_FAMILIES: &'static [&'static str] = &[
        CF_KV,
        CF_KEYREV,
        CF_EVENTS,
        CF_LEASES,
        CF_LEASE_KEYS,
        CF_META,
    ];

    /// Opens the store on a DB that has `COLUMN_FAMILIES`, loading the
    /// revisions from disk.
    pub fn open(db: Arc<Db>) -> Result<Mvcc, MvccError> {
        let mut m = Mvcc {
            db,
            revision: 1,
            compact_revision: 0,
        };
        m.reload()?;
        Ok(m)
    }

    /// Re-reads the revisions, e.g. after the DB's contents were replaced
    /// by a snapshot.
    pub fn reload(&mut self) -> Result<(), MvccError> {
        let snap = self.db.snapshot();
        (self.revision, self.compact_revision) = revisions(&self.db, &snap)?;
        Ok(())
    }

    /// Applies one command, writing only into `txn`. Deterministic: the same
    /// state and command give the same result and writes on every replica.
    pub fn apply(
        &mut self,
        txn: &Transaction<'_, Db>,
        cmd: &Command,
    ) -> Result<Applied, MvccError> {
        let cfs = Cfs::new(&self.db)?;
        let mut w = Writer::new(txn, &cfs, self.revision, self.compact_revision);
        let result = match cmd {
            Command::Put(req) => w.put_command(req)?.map(CommandResult::Put),
            Command::DeleteRange(req) => w.delete_command(req)?.map(CommandResult::DeleteRange),
            Command::Txn(req) => w.txn_command(req)?.map(CommandResult::Txn),
            Command::Compact { revision } => w.compact(*revision)?.map(|()| CommandResult::Compact),
            Command::LeaseGrant { id, ttl } => w
                .lease_grant(*id, *ttl)?
                .map(|()| CommandResult::LeaseGrant { id: *id, ttl: *ttl }),
            Command::LeaseRevoke { id } => {
                w.lease_revoke(*id)?.map(|()| CommandResult::LeaseRevoke)
            }
        };
        let compact = w.compact;
        let events = w.events;
        debug_assert!(result.is_ok() || events.is_empty());
        if !events.is_empty() {
            self.revision += 1;
        }
        self.compact_revision = compact;
        Ok(Applied {
            revision: self.revision,
            result,
            events,
        })
    }

    /// Reads committed state. A single key at the current revision is one
    /// point get; a read at an older revision uses a snapshot.
    /// For tests and tools: panics if the disk fails. Servers use
    /// [`Mvcc::try_range`].
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse, KvError> {
        self.try_range(req).unwrap_or_else(|e| fatal(e))
    }

    /// `range`, with storage failures returned instead of panicking.
    pub fn try_range(
        &self,
        req: &RangeRequest,
    ) -> Result<Result<RangeResponse, KvError>, MvccError> {
        if let Err(e) = check::check_range(req) {
            return Ok(Err(e));
        }
        let db = &*self.db;
        let cf_kv = write::cf(db, CF_KV)?;
        if req.revision <= 0 {
            return Ok(Ok(view::range_current(db, &cf_kv, req)?));
        }
        let snap = db.snapshot();
        let (current, compact) = revisions(db, &snap)?;
        if req.revision > current {
            return Ok(Err(KvError::FutureRevision));
        }
        if req.revision < compact {
            return Ok(Err(KvError::Compacted));
        }
        if req.revision == current {
            return Ok(Ok(view::range_current(&snap, &cf_kv, req)?));
        }
        let cf_keyrev = write::cf(db, CF_KEYREV)?;
        Ok(Ok(view::range_at(&snap, &cf_keyrev, req, req.revision)?))
    }

    /// The revision after the last applied command (possibly not committed yet).
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// Reads below this revision fail with Compacted; 0 = never compacted.
    pub fn compact_revision(&self) -> Revision {
        self.compact_revision
    }

    /// Every committed event with revision >= `from` on a key in `range`, in
    /// revision order (changes of one revision in the order they were made).
    /// Compacted if `from` is below the compact revision.
    /// For tests and tools: panics if the disk fails. Servers use
    /// [`Mvcc::try_events_since`].
    pub fn events_since(&self, from: Revision, range: &KeyRange) -> Result<Vec<Event>, KvError> {
        self.try_events_since(from, range)
            .unwrap_or_else(|e| fatal(e))
    }

    /// `events_since`, with storage failures returned instead of panicking.
    pub fn try_events_since(
        &self,
        from: Revision,
        range: &KeyRange,
    ) -> Result<Result<Vec<Event>, KvError>, MvccError> {
        let db = &*self.db;
        let snap = db.snapshot();
        if from < compact_revision(db, &snap)? {
            return Ok(Err(KvError::Compacted));
        }
        let cf_events = write::cf(db, CF_EVENTS)?;
        let mut out = Vec::new();
        let mut it = snap.iter(&cf_events, None);
        it.seek(encoding::event_key(from.max(0), 0));
        while let Some(v) = it.value() {
            if range.contains(encoding::event_user_key(v)?) {
                out.push(encoding::decode_event(v)?);
            }
            it.next();
        }
        view::iter_done(&it)?;
        Ok(Ok(out))
    }

    /// All leases, by id.
    pub fn leases(&self) -> Result<Vec<Lease>, MvccError> {
        let cf = write::cf(&self.db, CF_LEASES)?;
        let mut out = Vec::new();
        let mut it = self.db.iter(&cf, None);
        it.seek_to_first();
        while let Some((k, v)) = it.item() {
            out.push(Lease {
                id: encoding::decode_lease_key(k)?,
                ttl: encoding::decode_lease_ttl(v)?,
            });
            it.next();
        }
        view::iter_done(&it)?;
        Ok(out)
    }

    pub fn lease(&self, id: LeaseId) -> Result<Option<Lease>, MvccError> {
        let cf = write::cf(&self.db, CF_LEASES)?;
        match self.db.get_pinned_cf(&cf, encoding::lease_key(id))? {
            None => Ok(None),
            Some(v) => Ok(Some(Lease {
                id,
                ttl: encoding::decode_lease_ttl(&v)?,
            })),
        }
    }

    /// The keys attached to a lease, in key order.
    pub fn lease_keys(&self, id: LeaseId) -> Result<Vec<Vec<u8>>, MvccError> {
        let cf = write::cf(&self.db, CF_LEASE_KEYS)?;
        let prefix = encoding::lease_key(id);
        let upper = encoding::lease_key(id.wrapping_add(1));
        let upper = (id != -1).then_some(&upper[..]);
        let mut out = Vec::new();
        let mut it = self.db.iter(&cf, upper);
        it.seek(prefix);
        while let Some(k) = it.key() {
            if !k.starts_with(&prefix) {
                break;
            }
            out.push(encoding::lease_attachment_user_key(k)?.to_vec());
            it.next();
        }
        view::iter_done(&it)?;
        Ok(out)
    }

    /// Approximate on-disk size of this module's data (SST files plus
    /// memtables), in bytes.
    pub fn db_size(&self) -> u64 {
        let mut total = 0;
        for name in Self::COLUMN_FAMILIES {
            let Some(cf) = self.db.cf_handle(name) else {
                continue;
            };
            for prop in [
                "rocksdb.total-sst-files-size",
                "rocksdb.size-all-mem-tables",
            ] {
                total += self
                    .db
                    .property_int_value_cf(&cf, prop)
                    .ok()
                    .flatten()
                    .unwrap_or(0);
            }
        }
        total
    }
}

#[cold]
fn fatal(e: MvccError) -> ! {
    panic!("mvcc read failed: {e}")
}

fn compact_revision<V: View>(db: &Db, v: &V) -> Result<Revision, MvccError> {
    let cf_meta = write::cf(db, CF_META)?;
    match v.get(&cf_meta, encoding::META_COMPACT)? {
        None => Ok(0),
        Some(b) => Ok(encoding::decode_revision(&b)?),
    }
}

/// (current revision, compact revision) as seen by `v`.
fn revisions<V: View>(db: &Db, v: &V) -> Result<(Revision, Revision), MvccError> {
    let cf_events = write::cf(db, CF_EVENTS)?;
    let mut it = v.iter(&cf_events, None);
    it.seek_to_last();
    let current = match it.key() {
        Some(k) => encoding::decode_event_key(k)?.0,
        None => 1,
    };
    view::iter_done(&it)?;
    Ok((current.max(1), compact_revision(db, v)?))
}

//! The narrow key-value interface all topology code is written against.
//!
//! Topology records live in an etcd-v3-shaped store: one global, monotonically
//! increasing revision; per key a `create_revision`, a `mod_revision` (here:
//! [`Version`]) and an optional lease. [`Kv`] exposes only what topology needs:
//! versioned get / create / update / delete, prefix listing, all-or-nothing
//! transactions, prefix watches from a revision, and leases. Everything else —
//! shard locks ([`shard_lock`]), leader participation ([`election`]) and watches that
//! survive reconnects ([`watch`]) — is built on those primitives here, once, so
//! every backend behaves the same.
//!
//! Backends: [`EtcdKv`] (the etcd v3 gRPC API: real etcd or `vitrail control`)
//! and [`MemoryKv`] (in-process, tokio time, for unit tests). The conformance
//! suite in `topo/tests/` runs against each.
//!
//! Versions are optimistic-concurrency tokens: read a record, change it, write
//! it back with the version you read; [`Error::BadVersion`] means someone wrote
//! in between — re-read and retry.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

pub mod election;
pub mod etcd;
pub mod lease;
pub mod memory;
pub mod shard_lock;
pub mod watch;

pub use election::{campaign, observe_leader, Leadership};
pub use etcd::EtcdKv;
pub use lease::Lease;
pub use memory::MemoryKv;
pub use shard_lock::{lock, LockGuard};
pub use watch::{watch_resuming, WatchUpdate};

/// A store revision (etcd's global revision counter). Revision 0 means "none".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision(pub i64);

/// The revision at which a key was last modified (etcd's `mod_revision`); the
/// token for compare-and-swap writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub i64);

/// A lease identifier. Keys written with a lease vanish when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LeaseId(pub i64);

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for LeaseId {
    /// Lower-case hex, as etcd tools print lease ids (and as lock keys use).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

/// A value together with the metadata needed to write it back safely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    pub value: Vec<u8>,
    /// Modification revision: pass it as `expected_version` to update/delete.
    pub version: Version,
    /// Revision at which the key was (last) created; orders lock waiters.
    pub create_revision: Revision,
    pub lease: Option<LeaseId>,
}

/// The result of [`Kv::list`]: every key under a prefix, sorted by key, as of
/// one revision (the starting point for a gap-free [`Kv::watch_prefix`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub entries: Vec<(String, Versioned)>,
    pub revision: Revision,
}

/// One operation inside [`Kv::txn`]. All checks of all ops must pass for any
/// op to be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnOp {
    /// Create `key`; fails with [`Error::AlreadyExists`] if present.
    Create {
        key: String,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    },
    /// Write `key`. With `expected_version`, the key must exist at exactly
    /// that version ([`Error::NotFound`] / [`Error::BadVersion`] otherwise);
    /// with `None` it is an unconditional put.
    Update {
        key: String,
        value: Vec<u8>,
        expected_version: Option<Version>,
    },
    /// Delete `key`, which must exist ([`Error::NotFound`]), at
    /// `expected_version` if given ([`Error::BadVersion`]).
    Delete {
        key: String,
        expected_version: Option<Version>,
    },
    /// Write nothing; require `key` to exist at `version` (e.g. "I still hold
    /// the shard lock": the lock key's version never changes while held).
    Check { key: String, version: Version },
}

impl TxnOp {
    pub fn key(&self) -> &str {
        match self {
            TxnOp::Create { key, .. }
            | TxnOp::Update { key, .. }
            | TxnOp::Delete { key, .. }
            | TxnOp::Check { key, .. } => key,
        }
    }
}

/// A change seen by a watch. Revisions within one watch strictly increase
/// (several events may share one revision when a txn wrote several keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    Put {
        key: String,
        value: Vec<u8>,
        /// The key's new version (== the revision of the write).
        version: Version,
        create_revision: Revision,
    },
    Delete {
        key: String,
        revision: Revision,
    },
}

impl WatchEvent {
    pub fn key(&self) -> &str {
        match self {
            WatchEvent::Put { key, .. } | WatchEvent::Delete { key, .. } => key,
        }
    }

    pub fn revision(&self) -> Revision {
        match self {
            WatchEvent::Put { version, .. } => Revision(version.0),
            WatchEvent::Delete { revision, .. } => *revision,
        }
    }
}

/// A raw watch: events in revision order. It ends with an `Err` (or simply
/// ends) when the connection breaks or the start revision was compacted; use
/// [`watch_resuming`] for a watch that survives that.
pub type WatchStream = BoxStream<'static, Result<WatchEvent>>;

/// Every KV failure, classified by what the caller must do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The key does not exist. Permanent for this request.
    #[error("key not found: {0}")]
    NotFound(String),
    /// A create found the key already present. Permanent for this request.
    #[error("key already exists: {0}")]
    AlreadyExists(String),
    /// The key changed since it was read: re-read and retry.
    #[error("version conflict on key {0}")]
    BadVersion(String),
    /// The store could not be reached or had no leader: retry later.
    #[error("kv unavailable: {0}")]
    Unavailable(String),
    /// The requested revision is older than the store keeps: re-list.
    #[error("revision {requested} is compacted (oldest kept: {compact_revision})")]
    Compacted {
        requested: Revision,
        compact_revision: Revision,
    },
    /// The lease expired or was revoked; anything bound to it is gone.
    #[error("lease lost")]
    LeaseLost,
    /// Anything else (bad arguments, protocol surprises): not retryable.
    #[error("kv error: {0}")]
    Other(String),
}

impl Error {
    /// Transient: the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }

    /// Lost an optimistic-concurrency race: re-read, recompute, retry.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::BadVersion(_) | Error::AlreadyExists(_))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The storage operations topology needs. Object-safe: use it as
/// `Arc<dyn Kv>`. Keys are `/`-separated UTF-8 paths; values are bytes.
#[async_trait]
pub trait Kv: Send + Sync + 'static {
    /// The current value of `key`, or `None`.
    async fn get(&self, key: &str) -> Result<Option<Versioned>>;

    /// Create `key` (optionally bound to `lease`); [`Error::AlreadyExists`] if
    /// present.
    async fn create(&self, key: &str, value: Vec<u8>, lease: Option<LeaseId>) -> Result<Version>;

    /// Write `key`. With `expected_version` the key must exist at that version
    /// ([`Error::NotFound`] / [`Error::BadVersion`]); `None` puts
    /// unconditionally (creating the key if needed). The key's lease, if any,
    /// is dropped by an update.
    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected_version: Option<Version>,
    ) -> Result<Version>;

    /// Delete `key`: [`Error::NotFound`] if absent, [`Error::BadVersion`] if
    /// `expected_version` is given and differs.
    async fn delete(&self, key: &str, expected_version: Option<Version>) -> Result<()>;

    /// All keys starting with `prefix` (a plain byte prefix: pass a trailing
    /// `/` to list a directory), sorted, at one revision.
    async fn list(&self, prefix: &str) -> Result<Listing>;

    /// Apply all `ops` atomically, or none: the first failing check is
    /// reported as the error of that op ([`TxnOp`] docs) and nothing is
    /// written. Returns the revision of the write. At most one op per key.
    async fn txn(&self, ops: Vec<TxnOp>) -> Result<Revision>;

    /// Changes to keys under `prefix` from revision `from` (inclusive; pass
    /// `Listing::revision + 1` to continue a listing without gaps;
    /// `Revision(0)` means "from now on").
    /// [`Error::Compacted`] if `from` is no longer available.
    async fn watch_prefix(&self, prefix: &str, from: Revision) -> Result<WatchStream>;

    /// Grant a lease of `ttl` (rounded up to whole seconds). Most callers want
    /// [`Lease::grant`], which also keeps it alive.
    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId>;

    /// Refresh a lease once; returns the TTL granted. [`Error::LeaseLost`] if
    /// it no longer exists.
    async fn lease_keep_alive(&self, id: LeaseId) -> Result<Duration>;

    /// End a lease now, deleting its keys. Revoking an unknown lease is
    /// [`Error::LeaseLost`].
    async fn lease_revoke(&self, id: LeaseId) -> Result<()>;
}

/// Whether `op`'s precondition holds given the key's current state. Shared by
/// the backends so every one reports the same error for the same conflict.
pub(crate) fn check_precondition(op: &TxnOp, current: Option<&Versioned>) -> Result<()> {
    let key = op.key();
    let expect = |expected: Option<Version>| match (current, expected) {
        (None, _) => Err(Error::NotFound(key.to_string())),
        (Some(cur), Some(v)) if cur.version != v => Err(Error::BadVersion(key.to_string())),
        (Some(_), _) => Ok(()),
    };
    match op {
        TxnOp::Create { .. } if current.is_some() => Err(Error::AlreadyExists(key.to_string())),
        TxnOp::Create { .. } => Ok(()),
        TxnOp::Update {
            expected_version: None,
            ..
        } => Ok(()),
        TxnOp::Update {
            expected_version, ..
        }
        | TxnOp::Delete {
            expected_version, ..
        } => expect(*expected_version),
        TxnOp::Check { version, .. } => expect(Some(*version)),
    }
}

/// Rejects a txn that names one key twice (etcd refuses those too).
pub(crate) fn check_distinct_keys(ops: &[TxnOp]) -> Result<()> {
    let mut keys: Vec<&str> = ops.iter().map(TxnOp::key).collect();
    keys.sort_unstable();
    match keys.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(Error::Other(format!("txn names key {} twice", w[0]))),
        None => Ok(()),
    }
}

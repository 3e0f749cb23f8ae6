//! The Raft state machine: applies committed entries to the MVCC store in
//! one RocksDB transaction per `apply` call, builds and installs snapshots
//! as files, and tells the node (watchers, lessor) what changed — only after
//! the changes are committed to RocksDB, so a watcher never sees an event the
//! store could still lose to a crash before it is applied again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder};
use rocksdb::{WriteBatchWithTransaction, WriteOptions};

use super::snapshot_file::{self, KEY_LAST_APPLIED, KEY_MEMBERSHIP};
use super::{cf, decode, encode, io_err, Db, CF_SM};
use crate::kv::{Command, LeaseId, Mvcc, Revision};
use crate::raft_types::{
    Entry, LogId, Request, Response, Snapshot, SnapshotMeta, StorageError, StoredMembership,
    TypeConfig,
};

const KEY_SNAPSHOT_META: &[u8] = b"snapshot_meta";
const KEY_INSTALLING: &[u8] = b"installing";
const KEY_CLUSTER_ID: &[u8] = b"cluster_id";

/// Told about every change once it is durable in the state machine.
pub trait ApplyListener: Send + Sync + 'static {
    /// Results of one `apply` call, in log order; the leases it revoked; how
    /// long applying and committing took.
    fn applied(&self, responses: &[Response], revoked: &[LeaseId], took: std::time::Duration);
    /// The whole state was replaced (snapshot install) and is now at `revision`.
    fn reset(&self, revision: Revision);
}

pub struct StateMachine {
    db: Arc<Db>,
    mvcc: Arc<RwLock<Mvcc>>,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    snapshot_dir: PathBuf,
    listener: Arc<dyn ApplyListener>,
    receiving: Option<PathBuf>,
}

fn sm_err(verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError {
    io_err(ErrorSubject::StateMachine, verb, e)
}

fn get_sm<T: serde::de::DeserializeOwned>(db: &Db, key: &[u8]) -> Result<Option<T>, StorageError> {
    let handle = cf(db, CF_SM)?;
    match db
        .get_cf(&handle, key)
        .map_err(|e| sm_err(ErrorVerb::Read, e))?
    {
        Some(b) => Ok(Some(decode(&b)?)),
        None => Ok(None),
    }
}

fn put_sm_synced<T: serde::Serialize>(db: &Db, key: &[u8], v: &T) -> Result<(), StorageError> {
    let handle = cf(db, CF_SM)?;
    let mut batch = WriteBatchWithTransaction::<true>::default();
    batch.put_cf(&handle, key, encode(v)?);
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    db.write_opt(batch, &opts)
        .map_err(|e| sm_err(ErrorVerb::Write, e))
}

/// The cluster id, fixed when the first membership entry is applied.
pub fn read_cluster_id(db: &Db) -> u64 {
    get_sm::<u64>(db, KEY_CLUSTER_ID)
        .ok()
        .flatten()
        .unwrap_or(0)
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

impl StateMachine {
    /// Opens the state machine; `mvcc` must have been opened on `db` (the node
    /// shares it for reads).
    pub fn open(
        db: Arc<Db>,
        mvcc: Arc<RwLock<Mvcc>>,
        snapshot_dir: &Path,
        listener: Arc<dyn ApplyListener>,
    ) -> Result<Self, StorageError> {
        std::fs::create_dir_all(snapshot_dir).map_err(|e| sm_err(ErrorVerb::Write, e))?;
        if get_sm::<bool>(&db, KEY_INSTALLING)?.unwrap_or(false) {
            return Err(sm_err(
                ErrorVerb::Read,
                std::io::Error::other(
                    "a snapshot install was interrupted: this node's state machine is incomplete; \
                     remove its data directory and re-add it to the cluster",
                ),
            ));
        }
        let last_applied = get_sm::<Option<LogId>>(&db, KEY_LAST_APPLIED)?.flatten();
        let membership = get_sm(&db, KEY_MEMBERSHIP)?.unwrap_or_default();
        Ok(StateMachine {
            db,
            mvcc,
            last_applied,
            membership,
            snapshot_dir: snapshot_dir.to_path_buf(),
            listener,
            receiving: None,
        })
    }

    fn snapshot_path(&self, id: &str) -> PathBuf {
        self.snapshot_dir.join(format!("snap-{id}.bin"))
    }
}

/// Builds snapshots from a consistent RocksDB view, off the apply path.
pub struct SnapshotBuilder {
    db: Arc<Db>,
    dir: PathBuf,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let db = self.db.clone();
        let dir = self.dir.clone();
        let (meta, path) = tokio::task::spawn_blocking(
            move || -> Result<(SnapshotMeta, PathBuf), StorageError> {
                let tmp = dir.join(format!("building-{}.tmp", now_nanos()));
                let (last_applied, membership) = snapshot_file::write(&db, &tmp)?;
                let index = last_applied.map(|l| l.index).unwrap_or(0);
                let term = last_applied.map(|l| l.leader_id.term).unwrap_or(0);
                let id = format!("{term}-{index}-{}", now_nanos());
                let path = dir.join(format!("snap-{id}.bin"));
                std::fs::rename(&tmp, &path).map_err(|e| sm_err(ErrorVerb::Write, e))?;
                let meta = SnapshotMeta {
                    last_log_id: last_applied,
                    last_membership: membership,
                    snapshot_id: id,
                };
                put_sm_synced(&db, KEY_SNAPSHOT_META, &meta)?;
                remove_other_snapshots(&dir, &path);
                Ok((meta, path))
            },
        )
        .await
        .map_err(|e| sm_err(ErrorVerb::Write, e))??;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| sm_err(ErrorVerb::Read, e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(file),
        })
    }
}

fn remove_other_snapshots(dir: &Path, keep: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if p != keep && name.starts_with("snap-") {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let started = Instant::now();
        let db = self.db.clone();
        let handle = cf(&db, CF_SM)?;
        // Readers take the read lock: they see either none or all of this
        // apply call, never a half-committed state.
        let mvcc_lock = self.mvcc.clone();
        let mut mvcc = mvcc_lock.write().map_err(|_| {
            sm_err(
                ErrorVerb::Write,
                std::io::Error::other("mvcc lock poisoned"),
            )
        })?;
        let txn = db.transaction();
        let mut responses = Vec::new();
        let mut revoked = Vec::new();
        let mut membership_changed = false;
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => responses.push(Response::default()),
                EntryPayload::Normal(Request::Batch(cmds)) => {
                    let mut results = Vec::with_capacity(cmds.len());
                    for cmd in &cmds {
                        let applied = mvcc
                            .apply(&txn, cmd)
                            .map_err(|e| sm_err(ErrorVerb::Write, e))?;
                        if let (Command::LeaseRevoke { id }, Ok(_)) = (cmd, &applied.result) {
                            revoked.push(*id as LeaseId);
                        }
                        results.push(applied);
                    }
                    responses.push(Response { results });
                }
                EntryPayload::Membership(m) => {
                    if entry.log_id.index == 0 && get_sm::<u64>(&db, KEY_CLUSTER_ID)?.is_none() {
                        let ids: Vec<u64> = m.nodes().map(|(id, _)| *id).collect();
                        let mut h: u64 = 0xcbf29ce484222325;
                        for id in ids {
                            h = (h ^ id).wrapping_mul(0x100000001b3);
                        }
                        txn.put_cf(&handle, KEY_CLUSTER_ID, encode(&h.max(1))?)
                            .map_err(|e| sm_err(ErrorVerb::Write, e))?;
                    }
                    self.membership = StoredMembership::new(Some(entry.log_id), m);
                    membership_changed = true;
                    responses.push(Response::default());
                }
            }
        }
        txn.put_cf(&handle, KEY_LAST_APPLIED, encode(&self.last_applied)?)
            .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        if membership_changed {
            txn.put_cf(&handle, KEY_MEMBERSHIP, encode(&self.membership)?)
                .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        }
        txn.commit().map_err(|e| sm_err(ErrorVerb::Write, e))?;
        drop(mvcc);
        self.listener
            .applied(&responses, &revoked, started.elapsed());
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            db: self.db.clone(),
            dir: self.snapshot_dir.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError> {
        let path = self
            .snapshot_dir
            .join(format!("receiving-{}.tmp", now_nanos()));
        // Read + write: install_snapshot reads it back.
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        self.receiving = Some(path);
        Ok(Box::new(file))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError> {
        use tokio::io::AsyncSeekExt;
        // Copy whatever file we were handed (normally the one from
        // begin_receiving_snapshot, but any readable snapshot works) into
        // this node's snapshot directory, then load it.
        let mut src = snapshot;
        src.seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(|e| sm_err(ErrorVerb::Read, e))?;
        let path = self.snapshot_path(&meta.snapshot_id);
        let tmp = path.with_extension("installing");
        {
            let mut dst = tokio::fs::File::create(&tmp)
                .await
                .map_err(|e| sm_err(ErrorVerb::Write, e))?;
            tokio::io::copy(&mut src, &mut dst)
                .await
                .map_err(|e| sm_err(ErrorVerb::Write, e))?;
            dst.sync_all()
                .await
                .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        }
        drop(src);
        std::fs::rename(&tmp, &path).map_err(|e| sm_err(ErrorVerb::Write, e))?;
        if let Some(received) = self.receiving.take() {
            let _ = std::fs::remove_file(received);
        }
        let db = self.db.clone();
        let load_path = path.clone();
        let meta_owned = meta.clone();
        tokio::task::spawn_blocking(move || -> Result<(), StorageError> {
            put_sm_synced(&db, KEY_INSTALLING, &true)?;
            snapshot_file::load(&db, &load_path)?;
            let handle = cf(&db, CF_SM)?;
            let mut batch = WriteBatchWithTransaction::<true>::default();
            batch.put_cf(&handle, KEY_LAST_APPLIED, encode(&meta_owned.last_log_id)?);
            batch.put_cf(
                &handle,
                KEY_MEMBERSHIP,
                encode(&meta_owned.last_membership)?,
            );
            batch.put_cf(&handle, KEY_SNAPSHOT_META, encode(&meta_owned)?);
            batch.put_cf(&handle, KEY_INSTALLING, encode(&false)?);
            let mut opts = WriteOptions::default();
            opts.set_sync(true);
            db.write_opt(batch, &opts)
                .map_err(|e| sm_err(ErrorVerb::Write, e))
        })
        .await
        .map_err(|e| sm_err(ErrorVerb::Write, e))??;
        remove_other_snapshots(&self.snapshot_dir, &path);
        let revision = {
            let mut mvcc = self.mvcc.write().map_err(|_| {
                sm_err(
                    ErrorVerb::Write,
                    std::io::Error::other("mvcc lock poisoned"),
                )
            })?;
            mvcc.reload().map_err(|e| sm_err(ErrorVerb::Read, e))?;
            mvcc.revision()
        };
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.listener.reset(revision);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let Some(meta) = get_sm::<SnapshotMeta>(&self.db, KEY_SNAPSHOT_META)? else {
            return Ok(None);
        };
        let path = self.snapshot_path(&meta.snapshot_id);
        match tokio::fs::File::open(&path).await {
            Ok(file) => Ok(Some(Snapshot {
                meta,
                snapshot: Box::new(file),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(sm_err(ErrorVerb::Read, e)),
        }
    }
}

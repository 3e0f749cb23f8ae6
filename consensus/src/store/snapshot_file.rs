//! The on-disk snapshot format: every state-machine column family, dumped
//! from one consistent RocksDB snapshot into a flat file.
//!
//! ```text
//! "VTSNAP01" { cf:u8 klen:u32le key vlen:u32le value }* 0xFF
//! ```
//! `cf` indexes `state_machine_cfs()`. The same file is what Raft streams to
//! a lagging follower (in chunks, by openraft) and what an operator gets from
//! `etcdctl snapshot save` / restores with `vitrail control --restore`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use openraft::{ErrorSubject, ErrorVerb};
use rocksdb::{IteratorMode, ReadOptions, WriteBatchWithTransaction};

use super::{cf, decode, io_err, state_machine_cfs, Db, CF_SM};
use crate::raft_types::{LogId, StorageError, StoredMembership};

const MAGIC: &[u8; 8] = b"VTSNAP01";
const END: u8 = 0xFF;
pub(crate) const KEY_LAST_APPLIED: &[u8] = b"last_applied";
pub(crate) const KEY_MEMBERSHIP: &[u8] = b"membership";

fn werr(e: impl std::error::Error + 'static) -> StorageError {
    io_err(ErrorSubject::Snapshot(None), ErrorVerb::Write, e)
}

fn rerr(e: impl std::error::Error + 'static) -> StorageError {
    io_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, e)
}

/// Dumps the state machine into `path` from one point-in-time view and
/// returns the apply position and membership that view contains.
pub fn write(db: &Db, path: &Path) -> Result<(Option<LogId>, StoredMembership), StorageError> {
    let snap = db.snapshot();
    let mut out = BufWriter::new(File::create(path).map_err(werr)?);
    out.write_all(MAGIC).map_err(werr)?;
    let mut last_applied = None;
    let mut membership = StoredMembership::default();
    for (i, name) in state_machine_cfs().iter().enumerate() {
        let handle = cf(db, name)?;
        let mut ro = ReadOptions::default();
        ro.set_snapshot(&snap);
        for item in db.iterator_cf_opt(&handle, ro, IteratorMode::Start) {
            let (k, v) = item.map_err(rerr)?;
            if *name == CF_SM {
                if k.as_ref() == KEY_LAST_APPLIED {
                    last_applied = decode(&v)?;
                } else if k.as_ref() == KEY_MEMBERSHIP {
                    membership = decode(&v)?;
                } else {
                    // Snapshot bookkeeping is local to each node.
                    continue;
                }
            }
            out.write_all(&[i as u8]).map_err(werr)?;
            out.write_all(&(k.len() as u32).to_le_bytes())
                .map_err(werr)?;
            out.write_all(&k).map_err(werr)?;
            out.write_all(&(v.len() as u32).to_le_bytes())
                .map_err(werr)?;
            out.write_all(&v).map_err(werr)?;
        }
    }
    out.write_all(&[END]).map_err(werr)?;
    let file = out.into_inner().map_err(|e| werr(e.into_error()))?;
    file.sync_all().map_err(werr)?;
    Ok((last_applied, membership))
}

fn read_exact(r: &mut impl Read, n: usize) -> Result<Vec<u8>, StorageError> {
    let mut buf = vec![0u8; n];
    r.read_exact(&mut buf).map_err(rerr)?;
    Ok(buf)
}

fn read_u32(r: &mut impl Read) -> Result<usize, StorageError> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b).map_err(rerr)?;
    Ok(u32::from_le_bytes(b) as usize)
}

/// Replaces the whole state machine with the contents of the file at `path`.
/// Not atomic: the caller marks the install as in progress around it.
pub fn load(db: &Db, path: &Path) -> Result<(), StorageError> {
    let names = state_machine_cfs();
    let mut input = BufReader::new(File::open(path).map_err(rerr)?);
    let magic = read_exact(&mut input, MAGIC.len())?;
    if magic.as_slice() != MAGIC {
        return Err(rerr(std::io::Error::other(
            "not a vitrail snapshot (bad magic)",
        )));
    }
    for name in &names {
        clear_cf(db, name)?;
    }
    let mut batch = WriteBatchWithTransaction::<true>::default();
    loop {
        let mut tag = [0u8; 1];
        input.read_exact(&mut tag).map_err(rerr)?;
        if tag[0] == END {
            break;
        }
        let name = names.get(tag[0] as usize).ok_or_else(|| {
            rerr(std::io::Error::other(format!(
                "bad column family tag {}",
                tag[0]
            )))
        })?;
        let klen = read_u32(&mut input)?;
        let key = read_exact(&mut input, klen)?;
        let vlen = read_u32(&mut input)?;
        let value = read_exact(&mut input, vlen)?;
        batch.put_cf(&cf(db, name)?, key, value);
        if batch.len() >= 10_000 {
            db.write(std::mem::take(&mut batch)).map_err(werr)?;
        }
    }
    db.write(batch).map_err(werr)?;
    Ok(())
}

/// Deletes every key of one column family except this node's own snapshot
/// bookkeeping in `sm_meta`.
pub(crate) fn clear_cf(db: &Db, name: &str) -> Result<(), StorageError> {
    let handle = cf(db, name)?;
    let mut batch = WriteBatchWithTransaction::<true>::default();
    for item in db.iterator_cf(&handle, IteratorMode::Start) {
        let (k, _) = item.map_err(rerr)?;
        if name == CF_SM && k.as_ref() != KEY_LAST_APPLIED && k.as_ref() != KEY_MEMBERSHIP {
            continue;
        }
        batch.delete_cf(&handle, k);
        if batch.len() >= 10_000 {
            db.write(std::mem::take(&mut batch)).map_err(werr)?;
        }
    }
    db.write(batch).map_err(werr)
}

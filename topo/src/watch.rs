//! Typed watches: a record (or a cell's tablets) as a stream of decoded
//! values, built on [`crate::kv::watch_resuming`].
//!
//! # Contract
//!
//! What a watcher sees, for every watch here:
//!
//! 1. **The current value first.** The first item is the state as of one
//!    revision: the record (`Some`) or its absence (`None`), or the cell's
//!    complete tablet list. There is no separate "get then watch": nothing
//!    can change between the two.
//! 2. **Then every change, in order.** Each later item is the state after
//!    one change, in revision order, never older than an item before it.
//! 3. **Reconnects are invisible.** A broken connection, a restarted member
//!    or a control-plane leader change only delays items: the watch resumes
//!    from the last revision seen + 1, so no change is skipped or repeated.
//! 4. **Except after compaction.** If the history needed to resume was
//!    compacted, the watch re-reads and delivers the state at that point:
//!    intermediate values are skipped, and the value delivered may equal the
//!    last one (a repeat). Treat every item as "the state is now X", never
//!    as "X changed".
//! 5. **Undecodable values are reported, not fatal.** A value that does not
//!    decode yields an `Err` ([`TopoError::Decode`], [`TopoError::VSchema`])
//!    and the watch continues with the next change. Any other `Err` is
//!    permanent and is the last item.
//! 6. The streams are lazy and own no task: dropping one stops watching.
//!    Retries use backoff; a watcher need not add its own.
//!
//! A tablet-list watch emits one list per changed key; a transaction that
//! changes several tablets at once (topology code never does) shows up as
//! several lists.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use futures::StreamExt;

use crate::kv::{watch_resuming, Kv, WatchEvent, WatchUpdate};
use crate::layout::validate_name;
use crate::records::{Shard, SrvKeyspace, Tablet};
use crate::server::{Result, Stamped, Topo, TopoError};
use crate::vschema::SrvVSchema;

/// A stream of one record's state: `None` while it does not exist.
pub type RecordStream<T> = BoxStream<'static, Result<Option<Stamped<T>>>>;

/// A stream of a cell's tablets, sorted by alias.
pub type TabletsStream = BoxStream<'static, Result<Vec<Tablet>>>;

type Decode<T> = Arc<dyn Fn(&[u8]) -> Result<T> + Send + Sync>;

/// The state of exactly `key` (a prefix watch on it, filtered: no sibling
/// whose name extends the key can leak in).
fn watch_record<T: Send + 'static>(
    kv: Arc<dyn Kv>,
    key: String,
    decode: Decode<T>,
) -> RecordStream<T> {
    let stamped =
        move |value: &[u8], version| decode(value).map(|value| Some(Stamped { value, version }));
    watch_resuming(kv, &key)
        .filter_map(move |update| {
            let item = match update {
                Err(e) => Some(Err(TopoError::Kv(e))),
                Ok(WatchUpdate::Snapshot { entries, .. }) => {
                    Some(match entries.iter().find(|(k, _)| *k == key) {
                        Some((_, v)) => stamped(&v.value, v.version),
                        None => Ok(None),
                    })
                }
                Ok(WatchUpdate::Event(WatchEvent::Put {
                    key: k,
                    value,
                    version,
                    ..
                })) if k == key => Some(stamped(&value, version)),
                Ok(WatchUpdate::Event(WatchEvent::Delete { key: k, .. })) if k == key => {
                    Some(Ok(None))
                }
                Ok(WatchUpdate::Event(_)) => None,
            };
            futures::future::ready(item)
        })
        .boxed()
}

impl Topo {
    /// A shard's record, now and after every change (see the module docs).
    /// Tablets watch their shard to learn of a newer primary term.
    pub fn watch_shard(&self, keyspace: &str, shard: &str) -> Result<RecordStream<Shard>> {
        validate_name("keyspace", keyspace)?;
        validate_name("shard", shard)?;
        let (ks, name) = (keyspace.to_string(), shard.to_string());
        let decode: Decode<Shard> = Arc::new(move |b: &[u8]| Ok(Shard::decode(&ks, &name, b)?));
        Ok(watch_record(
            self.kv().clone(),
            self.layout().shard(keyspace, shard),
            decode,
        ))
    }

    /// A cell's serving graph for one keyspace: what the gate routes by.
    pub fn watch_srv_keyspace(
        &self,
        cell: &str,
        keyspace: &str,
    ) -> Result<RecordStream<SrvKeyspace>> {
        validate_name("cell", cell)?;
        validate_name("keyspace", keyspace)?;
        let decode: Decode<SrvKeyspace> = Arc::new(|b: &[u8]| Ok(SrvKeyspace::decode(b)?));
        Ok(watch_record(
            self.kv().clone(),
            self.layout().srv_keyspace(cell, keyspace),
            decode,
        ))
    }

    /// A cell's SrvVSchema.
    pub fn watch_srv_vschema(&self, cell: &str) -> Result<RecordStream<SrvVSchema>> {
        validate_name("cell", cell)?;
        let decode: Decode<SrvVSchema> = Arc::new(|b: &[u8]| Ok(SrvVSchema::parse(b)?));
        Ok(watch_record(
            self.kv().clone(),
            self.layout().srv_vschema(cell),
            decode,
        ))
    }

    /// Every tablet of `cell`, sorted by alias, now and after every change.
    /// An undecodable tablet record yields an `Err` (and is left out of
    /// later lists until it is rewritten or deleted).
    pub fn watch_tablets(&self, cell: &str) -> Result<TabletsStream> {
        validate_name("cell", cell)?;
        let dir = self.layout().tablets_dir(cell);
        let updates = watch_resuming(self.kv().clone(), &dir);
        Ok(async_stream::stream! {
            // key -> decoded tablet (None: present but undecodable)
            let mut tablets: BTreeMap<String, Option<Tablet>> = BTreeMap::new();
            futures::pin_mut!(updates);
            while let Some(update) = updates.next().await {
                let mut bad = None;
                match update {
                    Err(e) => {
                        yield Err(TopoError::Kv(e));
                        return;
                    }
                    Ok(WatchUpdate::Snapshot { entries, .. }) => {
                        tablets.clear();
                        for (key, v) in entries {
                            let t = Tablet::decode(&v.value).map_err(|e| bad.get_or_insert(e).clone()).ok();
                            tablets.insert(key, t);
                        }
                    }
                    Ok(WatchUpdate::Event(WatchEvent::Put { key, value, .. })) => {
                        let t = Tablet::decode(&value).map_err(|e| bad.get_or_insert(e).clone()).ok();
                        tablets.insert(key, t);
                    }
                    Ok(WatchUpdate::Event(WatchEvent::Delete { key, .. })) => {
                        tablets.remove(&key);
                    }
                }
                if let Some(e) = bad {
                    yield Err(TopoError::Decode(e));
                }
                let mut list: Vec<Tablet> = tablets.values().flatten().cloned().collect();
                list.sort_by(|a, b| a.alias.cmp(&b.alias));
                yield Ok(list);
            }
        }
        .boxed())
    }
}

#[cfg(test)]
mod tests;

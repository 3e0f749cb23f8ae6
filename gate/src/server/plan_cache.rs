//! The gate's cache of text-query plan templates, keyed by the normalized
//! query ([`crate::planner::normalize`]) and the session's target. Every
//! entry belongs to one routing snapshot: a topology or VSchema change
//! empties the cache. It holds at most [`MAX_ENTRIES`] queries and is
//! emptied when full (a workload with that many distinct query shapes
//! plans them the slow way, as before the cache).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use topo::records::TabletType;

use crate::planner::Template;
use crate::topo_watch::RoutingSnapshot;

pub const MAX_ENTRIES: usize = 4096;

/// `None` as a cached template: the query is planned each time.
pub type Cached = Option<Arc<Template>>;

#[derive(Default)]
pub struct PlanCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    snapshot: Option<Arc<RoutingSnapshot>>,
    entries: HashMap<String, Vec<Entry>>,
    len: usize,
}

struct Entry {
    keyspace: Option<String>,
    tablet_type: TabletType,
    template: Cached,
}

impl PlanCache {
    /// The cached template of `normal` for this target, if there is an
    /// entry made against `snapshot`.
    pub fn get(
        &self,
        snapshot: &Arc<RoutingSnapshot>,
        normal: &str,
        keyspace: Option<&str>,
        tablet_type: TabletType,
    ) -> Option<Cached> {
        let inner = self.inner.lock().ok()?;
        if !inner
            .snapshot
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, snapshot))
        {
            return None;
        }
        inner
            .entries
            .get(normal)?
            .iter()
            .find(|e| e.keyspace.as_deref() == keyspace && e.tablet_type == tablet_type)
            .map(|e| e.template.clone())
    }

    pub fn put(
        &self,
        snapshot: &Arc<RoutingSnapshot>,
        normal: String,
        keyspace: Option<&str>,
        tablet_type: TabletType,
        template: Cached,
    ) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let stale = !inner
            .snapshot
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, snapshot));
        if stale || inner.len >= MAX_ENTRIES {
            inner.entries.clear();
            inner.len = 0;
            inner.snapshot = Some(snapshot.clone());
        }
        let list = inner.entries.entry(normal).or_default();
        if list
            .iter()
            .any(|e| e.keyspace.as_deref() == keyspace && e.tablet_type == tablet_type)
        {
            return;
        }
        list.push(Entry {
            keyspace: keyspace.map(str::to_string),
            tablet_type,
            template,
        });
        inner.len += 1;
    }
}

//! The gate's view of the topology: which tablets serve which shard.
//!
//! One resuming watch on the whole topology root feeds a key → value map;
//! after each batch of changes, [`build_snapshot`] (a pure function) turns
//! that map into a [`RoutingSnapshot`] which is published on a
//! `tokio::sync::watch` channel. Readers take an `Arc` of the current
//! snapshot and never block writers. Topologies hold hundreds of keys, so
//! rebuilding the whole snapshot per batch is cheap and keeps the code
//! obviously correct: a watch `Snapshot` (after compaction) simply replaces
//! the map.
//!
//! A keyspace served from another keyspace's shard (`CREATE DATABASE`
//! through the gate; see [`topo::records::Keyspace::served_from`]) has one
//! logical shard whose route takes the host shard's primary, and whose
//! tablets are the host shard's ([`RoutingSnapshot::tablet_shard`]): the
//! planner sees an ordinary unsharded keyspace, and a reparent of the host
//! moves both.
//!
//! Tablet health comes from each tablet's StreamHealth stream
//! ([`HealthTable`]); a tablet whose stream says it is not serving, or not
//! the type the topology claims, is skipped when routing.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use tablet::grpc::pb;
use tablet::grpc::pb::query_service_client::QueryServiceClient;
use tokio::sync::watch;
use topo::keyrange::KeyRange;
use topo::kv::{watch_resuming, Kv, WatchEvent, WatchUpdate};
use topo::layout::Layout;
use topo::records::{KeyspaceShard, Shard, SrvKeyspace, Tablet, TabletAlias, TabletType};
use topo::vschema::SrvVSchema;

/// One serving shard of a keyspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRoute {
    pub name: String,
    pub key_range: KeyRange,
    pub primary: Option<TabletAlias>,
    pub primary_term: u64,
}

/// The serving shards of a keyspace, sorted by key range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyspaceRoute {
    pub shards: Vec<ShardRoute>,
    /// Set for a keyspace without tablets of its own: every shard of it is
    /// served by this shard's tablets.
    pub served_from: Option<KeyspaceShard>,
}

/// Everything routing needs, as of one topology revision.
#[derive(Debug, Clone, Default)]
pub struct RoutingSnapshot {
    pub cell: String,
    pub vschema: Option<Arc<SrvVSchema>>,
    pub keyspaces: BTreeMap<String, KeyspaceRoute>,
    /// The serving graphs the routes were built from (the planner's input).
    pub srv_keyspaces: BTreeMap<String, SrvKeyspace>,
    /// Tablets of this cell.
    pub tablets: BTreeMap<TabletAlias, Tablet>,
    /// Records that failed to decode (reported, not fatal).
    pub problems: Vec<String>,
}

/// The gRPC address a tablet serves on.
pub fn tablet_addr(t: &Tablet) -> String {
    format!("{}:{}", t.hostname, t.grpc_port)
}

impl RoutingSnapshot {
    pub fn shard(&self, keyspace: &str, shard: &str) -> Option<&ShardRoute> {
        self.keyspaces
            .get(keyspace)?
            .shards
            .iter()
            .find(|s| s.name == shard)
    }

    /// The keyspace and shard whose tablets serve `keyspace/shard`: the
    /// host shard for a served-from keyspace, else itself.
    pub fn tablet_shard<'a>(&'a self, keyspace: &'a str, shard: &'a str) -> (&'a str, &'a str) {
        match self
            .keyspaces
            .get(keyspace)
            .and_then(|k| k.served_from.as_ref())
        {
            Some(host) => (&host.keyspace, &host.shard),
            None => (keyspace, shard),
        }
    }

    /// The tablets serving `keyspace/shard` (the host shard's for a
    /// served-from keyspace).
    pub fn tablets_of(&self, keyspace: &str, shard: &str) -> impl Iterator<Item = &Tablet> {
        let (ks, sh) = self.tablet_shard(keyspace, shard);
        let (ks, sh) = (ks.to_string(), sh.to_string());
        self.tablets
            .values()
            .filter(move |t| t.keyspace == ks && t.shard == sh)
    }
}

/// Builds a snapshot from every key under the layout's root.
pub fn build_snapshot(
    layout: &Layout,
    cell: &str,
    kvs: &BTreeMap<String, Vec<u8>>,
) -> RoutingSnapshot {
    let mut snap = RoutingSnapshot {
        cell: cell.to_string(),
        ..RoutingSnapshot::default()
    };
    let srv_ks_dir = layout.srv_keyspaces_dir(cell);
    let tablets_dir = layout.tablets_dir(cell);
    let srv_vschema_key = layout.srv_vschema(cell);
    let keyspaces_dir = layout.keyspaces_dir();
    let mut shards: HashMap<(String, String), Shard> = HashMap::new();
    let mut srv: BTreeMap<String, SrvKeyspace> = BTreeMap::new();
    for (key, value) in kvs {
        if let Some(ks) = key.strip_prefix(&srv_ks_dir) {
            match SrvKeyspace::decode(value) {
                Ok(s) => {
                    srv.insert(ks.to_string(), s);
                }
                Err(e) => snap.problems.push(format!("{key}: {e}")),
            }
        } else if let Some(_alias) = key.strip_prefix(&tablets_dir) {
            match Tablet::decode(value) {
                Ok(t) => {
                    snap.tablets.insert(t.alias.clone(), t);
                }
                Err(e) => snap.problems.push(format!("{key}: {e}")),
            }
        } else if *key == srv_vschema_key {
            match SrvVSchema::parse(value) {
                Ok(v) => snap.vschema = Some(Arc::new(v)),
                Err(e) => snap.problems.push(format!("{key}: {e}")),
            }
        } else if let Some(rest) = key.strip_prefix(&keyspaces_dir) {
            // <ks>/shards/<shard>/shard
            let parts: Vec<&str> = rest.split('/').collect();
            if let [ks, "shards", shard, "shard"] = parts.as_slice() {
                match Shard::decode(ks, shard, value) {
                    Ok(s) => {
                        shards.insert((ks.to_string(), shard.to_string()), s);
                    }
                    Err(e) => snap.problems.push(format!("{key}: {e}")),
                }
            }
        }
    }
    for (ks, srv_ks) in &srv {
        let host = srv_ks.served_from.as_ref();
        if let Some(h) = host {
            if !shards.contains_key(&(h.keyspace.clone(), h.shard.clone())) {
                snap.problems.push(format!(
                    "keyspace {ks} is served from {h}, which has no shard record"
                ));
            }
        }
        let routes = srv_ks
            .shards_for(TabletType::Primary)
            .iter()
            .map(|r| {
                // A served-from keyspace's primary is its host shard's.
                let key = match host {
                    Some(h) => (h.keyspace.clone(), h.shard.clone()),
                    None => (ks.to_string(), r.name.clone()),
                };
                let shard = shards.get(&key);
                ShardRoute {
                    name: r.name.clone(),
                    key_range: r.key_range.clone(),
                    primary: shard.and_then(|s| s.primary_alias.clone()),
                    primary_term: shard.map_or(0, |s| s.primary_term),
                }
            })
            .collect();
        snap.keyspaces.insert(
            ks.clone(),
            KeyspaceRoute {
                shards: routes,
                served_from: host.cloned(),
            },
        );
    }
    snap.srv_keyspaces = srv;
    snap
}

/// What a tablet's StreamHealth last said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabletHealth {
    pub serving: bool,
    pub tablet_type: Option<TabletType>,
    pub primary_term: i64,
    pub lag_seconds: Option<u32>,
    pub error: String,
}

/// Latest health per tablet, fed by one task per tablet.
#[derive(Debug, Default)]
pub struct HealthTable {
    by_tablet: RwLock<HashMap<TabletAlias, TabletHealth>>,
}

impl HealthTable {
    pub fn get(&self, alias: &TabletAlias) -> Option<TabletHealth> {
        self.by_tablet.read().ok()?.get(alias).cloned()
    }

    fn set(&self, alias: &TabletAlias, h: TabletHealth) {
        if let Ok(mut m) = self.by_tablet.write() {
            m.insert(alias.clone(), h);
        }
    }

    fn remove(&self, alias: &TabletAlias) {
        if let Ok(mut m) = self.by_tablet.write() {
            m.remove(alias);
        }
    }

    /// Not known to be broken: unknown health counts as usable (the gate
    /// must route before the first health message arrives).
    pub fn usable(&self, alias: &TabletAlias, want: TabletType) -> bool {
        match self.get(alias) {
            None => true,
            Some(h) => h.serving && h.tablet_type.is_none_or(|t| t == want),
        }
    }
}

/// Why a query cannot be given a tablet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("unknown keyspace {0}")]
    NoKeyspace(String),
    #[error("no shard {keyspace}/{shard} in the serving graph")]
    NoShard { keyspace: String, shard: String },
    /// The shard has no (healthy) primary right now: worth waiting for one.
    #[error("no serving primary for {keyspace}/{shard}")]
    NoPrimary { keyspace: String, shard: String },
    #[error("no healthy {tablet_type} tablet for {keyspace}/{shard}")]
    NoTablet {
        keyspace: String,
        shard: String,
        tablet_type: TabletType,
    },
}

/// A tablet picked for a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub alias: TabletAlias,
    pub addr: String,
}

/// The live routing view: snapshot + health.
#[derive(Clone)]
pub struct Routing {
    rx: watch::Receiver<Arc<RoutingSnapshot>>,
    health: Arc<HealthTable>,
    pick: Arc<std::sync::atomic::AtomicUsize>,
}

impl Routing {
    /// A fixed view (unit tests).
    pub fn fixed(snapshot: RoutingSnapshot) -> (Routing, watch::Sender<Arc<RoutingSnapshot>>) {
        let (tx, rx) = watch::channel(Arc::new(snapshot));
        (
            Routing {
                rx,
                health: Arc::new(HealthTable::default()),
                pick: Arc::default(),
            },
            tx,
        )
    }

    /// Watches the topology under `layout`'s root for `cell` and keeps the
    /// snapshot and tablet health current until the returned task is
    /// aborted. Resolves once the first snapshot is in.
    pub async fn start(
        kv: Arc<dyn Kv>,
        layout: Layout,
        cell: String,
    ) -> Result<(Routing, tokio::task::JoinHandle<()>), topo::kv::Error> {
        let mut updates = watch_resuming(kv, layout.root());
        let mut kvs = BTreeMap::new();
        // The first update is always a Snapshot (or a permanent error).
        match updates.next().await {
            Some(Ok(u)) => apply(&mut kvs, u),
            Some(Err(e)) => return Err(e),
            None => return Err(topo::kv::Error::Other("topology watch ended".into())),
        }
        let (tx, rx) = watch::channel(Arc::new(build_snapshot(&layout, &cell, &kvs)));
        let health = Arc::new(HealthTable::default());
        let routing = Routing {
            rx,
            health: health.clone(),
            pick: Arc::default(),
        };
        let task = tokio::spawn(async move {
            let mut trackers = HealthTrackers::new(health);
            trackers.sync(&tx.borrow());
            while let Some(update) = updates.next().await {
                match update {
                    Ok(u) => apply(&mut kvs, u),
                    Err(e) => {
                        tracing::error!(error = %e, "topology watch failed permanently");
                        break;
                    }
                }
                // Coalesce whatever else is ready before rebuilding.
                while let Some(Some(Ok(u))) = updates.next().now_or_never() {
                    apply(&mut kvs, u);
                }
                let snap = build_snapshot(&layout, &cell, &kvs);
                for p in &snap.problems {
                    tracing::warn!(problem = %p, "bad topology record");
                }
                trackers.sync(&snap);
                tx.send_replace(Arc::new(snap));
            }
        });
        Ok((routing, task))
    }

    pub fn snapshot(&self) -> Arc<RoutingSnapshot> {
        self.rx.borrow().clone()
    }

    pub fn health(&self) -> &HealthTable {
        &self.health
    }

    /// Waits until the snapshot changes (or `deadline` passes).
    pub async fn changed(&self, deadline: tokio::time::Instant) -> bool {
        let mut rx = self.rx.clone();
        // A clone inherits the version `self.rx` last saw (its creation:
        // `snapshot()` does not mark values seen), so without this it would
        // report every later wait as an immediate change and callers that
        // loop on it would spin.
        rx.mark_unchanged();
        matches!(
            tokio::time::timeout_at(deadline, rx.changed()).await,
            Ok(Ok(()))
        )
    }

    /// Waits until `ready` holds for the current snapshot; false if it
    /// still does not at `deadline`. Each published snapshot is checked,
    /// so no change is missed between checks.
    pub async fn wait_for(
        &self,
        deadline: tokio::time::Instant,
        ready: impl Fn(&RoutingSnapshot) -> bool,
    ) -> bool {
        let mut rx = self.rx.clone();
        loop {
            if ready(&rx.borrow_and_update()) {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                // Deadline passed, or the watch task ended (no more changes).
                Ok(Err(_)) | Err(_) => return ready(&rx.borrow()),
            }
        }
    }

    /// The tablet to send a query for `keyspace/shard` of `tablet_type` to.
    pub fn target(
        &self,
        keyspace: &str,
        shard: &str,
        tablet_type: TabletType,
    ) -> Result<Target, RouteError> {
        let snap = self.snapshot();
        pick_target(&snap, &self.health, keyspace, shard, tablet_type, || {
            self.pick.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        })
    }
}

/// Primary: the shard record's primary, if its health does not contradict
/// it. Replica/rdonly: round-robin over usable tablets of that type.
pub fn pick_target(
    snap: &RoutingSnapshot,
    health: &HealthTable,
    keyspace: &str,
    shard: &str,
    tablet_type: TabletType,
    next: impl FnOnce() -> usize,
) -> Result<Target, RouteError> {
    if !snap.keyspaces.contains_key(keyspace) {
        return Err(RouteError::NoKeyspace(keyspace.to_string()));
    }
    let route = snap
        .shard(keyspace, shard)
        .ok_or_else(|| RouteError::NoShard {
            keyspace: keyspace.into(),
            shard: shard.into(),
        })?;
    if tablet_type == TabletType::Primary {
        let no_primary = || RouteError::NoPrimary {
            keyspace: keyspace.into(),
            shard: shard.into(),
        };
        let alias = route.primary.as_ref().ok_or_else(no_primary)?;
        let t = snap.tablets.get(alias).ok_or_else(no_primary)?;
        if !health.usable(alias, TabletType::Primary) {
            return Err(no_primary());
        }
        return Ok(Target {
            alias: alias.clone(),
            addr: tablet_addr(t),
        });
    }
    let candidates: Vec<&Tablet> = snap
        .tablets_of(keyspace, shard)
        .filter(|t| t.tablet_type == tablet_type && health.usable(&t.alias, tablet_type))
        .collect();
    if candidates.is_empty() {
        return Err(RouteError::NoTablet {
            keyspace: keyspace.into(),
            shard: shard.into(),
            tablet_type,
        });
    }
    let t = candidates[next() % candidates.len()];
    Ok(Target {
        alias: t.alias.clone(),
        addr: tablet_addr(t),
    })
}

fn apply(kvs: &mut BTreeMap<String, Vec<u8>>, u: WatchUpdate) {
    match u {
        WatchUpdate::Snapshot { entries, .. } => {
            kvs.clear();
            for (k, v) in entries {
                kvs.insert(k, v.value);
            }
        }
        WatchUpdate::Event(WatchEvent::Put { key, value, .. }) => {
            kvs.insert(key, value);
        }
        WatchUpdate::Event(WatchEvent::Delete { key, .. }) => {
            kvs.remove(&key);
        }
    }
}

/// One StreamHealth follower per tablet address.
struct HealthTrackers {
    table: Arc<HealthTable>,
    tasks: HashMap<TabletAlias, (String, tokio::task::JoinHandle<()>)>,
}

impl HealthTrackers {
    fn new(table: Arc<HealthTable>) -> Self {
        HealthTrackers {
            table,
            tasks: HashMap::new(),
        }
    }

    fn sync(&mut self, snap: &RoutingSnapshot) {
        self.tasks.retain(|alias, (addr, task)| {
            let keep = snap
                .tablets
                .get(alias)
                .is_some_and(|t| tablet_addr(t) == *addr);
            if !keep {
                task.abort();
                self.table.remove(alias);
            }
            keep
        });
        for (alias, t) in &snap.tablets {
            if self.tasks.contains_key(alias) {
                continue;
            }
            let addr = tablet_addr(t);
            let task = tokio::spawn(follow_health(
                self.table.clone(),
                alias.clone(),
                addr.clone(),
            ));
            self.tasks.insert(alias.clone(), (addr, task));
        }
    }
}

impl Drop for HealthTrackers {
    fn drop(&mut self) {
        for (_, (_, task)) in self.tasks.drain() {
            task.abort();
        }
    }
}

async fn follow_health(table: Arc<HealthTable>, alias: TabletAlias, addr: String) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match stream_health_once(&table, &alias, &addr).await {
            Ok(()) => backoff = Duration::from_millis(100),
            Err(e) => {
                tracing::debug!(tablet = %alias, error = %e, "health stream failed");
            }
        }
        table.set(
            &alias,
            TabletHealth {
                serving: false,
                tablet_type: None,
                primary_term: 0,
                lag_seconds: None,
                error: format!("health stream to {addr} broken"),
            },
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

async fn stream_health_once(
    table: &HealthTable,
    alias: &TabletAlias,
    addr: &str,
) -> Result<(), String> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(2));
    let channel = endpoint.connect().await.map_err(|e| e.to_string())?;
    let mut client = QueryServiceClient::new(channel);
    let mut stream = client
        .stream_health(pb::StreamHealthRequest {})
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    while let Some(msg) = stream.message().await.map_err(|e| e.to_string())? {
        let tablet_type = match msg.tablet_type() {
            pb::TabletType::Primary => Some(TabletType::Primary),
            pb::TabletType::Replica => Some(TabletType::Replica),
            pb::TabletType::Rdonly => Some(TabletType::Rdonly),
            pb::TabletType::Unknown => None,
        };
        table.set(
            alias,
            TabletHealth {
                serving: msg.serving,
                tablet_type,
                primary_term: msg.primary_term,
                lag_seconds: msg.replication_lag_seconds,
                error: msg.health_error,
            },
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use topo::records::{KeyspacePartition, ShardReference};

    fn kr(s: &str) -> KeyRange {
        let (a, b) = s.split_once('-').unwrap_or(("", ""));
        KeyRange::new(
            topo::keyrange::from_hex(a).unwrap(),
            topo::keyrange::from_hex(b).unwrap(),
        )
        .unwrap()
    }

    fn tablet(uid: u32, shard: &str, t: TabletType) -> Tablet {
        Tablet {
            alias: TabletAlias::new("zone1", uid),
            hostname: "127.0.0.1".into(),
            grpc_port: 16000 + uid as u16,
            mysql_port: 17000 + uid as u16,
            keyspace: "commerce".into(),
            shard: shard.into(),
            tablet_type: t,
            primary_term_start_ms: None,
        }
    }

    pub(crate) fn sample_kvs(layout: &Layout) -> BTreeMap<String, Vec<u8>> {
        let shards = ["-80", "80-"];
        let mut kvs = BTreeMap::new();
        let srv = SrvKeyspace {
            partitions: vec![KeyspacePartition {
                served_type: TabletType::Primary,
                shards: shards
                    .iter()
                    .map(|s| ShardReference {
                        name: s.to_string(),
                        key_range: kr(s),
                    })
                    .collect(),
            }],
            served_from: None,
        };
        kvs.insert(layout.srv_keyspace("zone1", "commerce"), srv.encode());
        for (i, s) in shards.iter().enumerate() {
            let uid = 100 * (i as u32 + 1);
            let shard = Shard {
                keyspace: "commerce".into(),
                name: s.to_string(),
                key_range: kr(s),
                primary_alias: Some(TabletAlias::new("zone1", uid)),
                primary_term: 3,
                primary_term_start_ms: 0,
                is_primary_serving: true,
            };
            kvs.insert(layout.shard("commerce", s), shard.encode());
            for (j, t) in [TabletType::Primary, TabletType::Replica]
                .into_iter()
                .enumerate()
            {
                let tab = tablet(uid + j as u32, s, t);
                kvs.insert(layout.tablet(&tab.alias), tab.encode());
            }
        }
        kvs.insert(
            layout.tablets_dir("zone1") + "garbage",
            b"\xff\xff".to_vec(),
        );
        kvs
    }

    fn served_from(host: &str) -> SrvKeyspace {
        SrvKeyspace {
            partitions: TabletType::SERVING
                .iter()
                .map(|&t| KeyspacePartition {
                    served_type: t,
                    shards: vec![ShardReference {
                        name: "0".into(),
                        key_range: KeyRange::full(),
                    }],
                })
                .collect(),
            served_from: Some(host.parse().unwrap()),
        }
    }

    #[test]
    fn served_from_keyspace_routes_to_the_host_shards_tablets() {
        let layout = Layout::default();
        let mut kvs = sample_kvs(&layout);
        kvs.insert(
            layout.srv_keyspace("zone1", "slap"),
            served_from("commerce/80-").encode(),
        );
        let snap = build_snapshot(&layout, "zone1", &kvs);
        assert_eq!(
            snap.problems.len(),
            1,
            "only the garbage: {:?}",
            snap.problems
        );
        let route = &snap.keyspaces["slap"];
        assert_eq!(route.served_from, Some("commerce/80-".parse().unwrap()));
        assert_eq!(
            route.shards,
            [ShardRoute {
                name: "0".into(),
                key_range: KeyRange::full(),
                primary: Some(TabletAlias::new("zone1", 200)),
                primary_term: 3,
            }]
        );
        // The planner sees an unsharded keyspace with shard 0.
        assert_eq!(
            snap.srv_keyspaces["slap"].shards_for(TabletType::Primary)[0].name,
            "0"
        );
        assert_eq!(snap.tablet_shard("slap", "0"), ("commerce", "80-"));
        assert_eq!(snap.tablet_shard("commerce", "-80"), ("commerce", "-80"));
        let health = HealthTable::default();
        let p = pick_target(&snap, &health, "slap", "0", TabletType::Primary, || 0).unwrap();
        assert_eq!(p.addr, "127.0.0.1:16200");
        let r = pick_target(&snap, &health, "slap", "0", TabletType::Replica, || 0).unwrap();
        assert_eq!(r.alias.uid, 201);
        assert!(matches!(
            pick_target(&snap, &health, "slap", "-80", TabletType::Primary, || 0),
            Err(RouteError::NoShard { .. })
        ));

        // A reparent of the host moves the served keyspace with it.
        let mut shard =
            Shard::decode("commerce", "80-", &kvs[&layout.shard("commerce", "80-")]).unwrap();
        shard.primary_alias = Some(TabletAlias::new("zone1", 201));
        shard.primary_term = 4;
        kvs.insert(layout.shard("commerce", "80-"), shard.encode());
        let snap = build_snapshot(&layout, "zone1", &kvs);
        let p = pick_target(&snap, &health, "slap", "0", TabletType::Primary, || 0).unwrap();
        assert_eq!(p.alias.uid, 201);
        assert_eq!(snap.keyspaces["slap"].shards[0].primary_term, 4);

        // A host that does not exist: reported, and no primary to route to.
        kvs.insert(
            layout.srv_keyspace("zone1", "lost"),
            served_from("gone/0").encode(),
        );
        let snap = build_snapshot(&layout, "zone1", &kvs);
        assert!(
            snap.problems.iter().any(|p| p.contains("gone/0")),
            "{:?}",
            snap.problems
        );
        assert!(matches!(
            pick_target(&snap, &health, "lost", "0", TabletType::Primary, || 0),
            Err(RouteError::NoPrimary { .. })
        ));
        assert!(matches!(
            pick_target(&snap, &health, "lost", "0", TabletType::Replica, || 0),
            Err(RouteError::NoTablet { .. })
        ));
    }

    #[tokio::test]
    async fn wait_for_sees_a_later_snapshot_and_gives_up_at_the_deadline() {
        let (routing, tx) = Routing::fixed(RoutingSnapshot::default());
        // An earlier change must not make later waits return at once.
        tx.send_replace(Arc::new(RoutingSnapshot::default()));
        let soon = tokio::time::Instant::now() + Duration::from_millis(50);
        assert!(!routing.changed(soon).await);
        assert!(!routing.wait_for(soon, |s| s.cell == "zone1").await);
        let publisher = tokio::spawn(async move {
            tokio::task::yield_now().await;
            tx.send_replace(Arc::new(RoutingSnapshot {
                cell: "zone1".into(),
                ..RoutingSnapshot::default()
            }));
            tx
        });
        let later = tokio::time::Instant::now() + Duration::from_secs(10);
        assert!(routing.wait_for(later, |s| s.cell == "zone1").await);
        drop(publisher.await.unwrap());
    }

    #[test]
    fn snapshot_routes_primaries_and_replicas() {
        let layout = Layout::default();
        let snap = build_snapshot(&layout, "zone1", &sample_kvs(&layout));
        assert_eq!(snap.problems.len(), 1, "{:?}", snap.problems);
        let ks = &snap.keyspaces["commerce"];
        let names: Vec<_> = ks.shards.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["-80", "80-"]);
        let health = HealthTable::default();
        let p = pick_target(&snap, &health, "commerce", "80-", TabletType::Primary, || 0).unwrap();
        assert_eq!((p.alias.uid, p.addr.as_str()), (200, "127.0.0.1:16200"));
        let r = pick_target(&snap, &health, "commerce", "-80", TabletType::Replica, || 7).unwrap();
        assert_eq!(r.alias.uid, 101);
        // A primary whose health says it is a replica now is not used.
        health.set(
            &TabletAlias::new("zone1", 200),
            TabletHealth {
                serving: true,
                tablet_type: Some(TabletType::Replica),
                primary_term: 3,
                lag_seconds: None,
                error: String::new(),
            },
        );
        assert!(matches!(
            pick_target(&snap, &health, "commerce", "80-", TabletType::Primary, || 0),
            Err(RouteError::NoPrimary { .. })
        ));
        assert!(matches!(
            pick_target(&snap, &health, "nope", "80-", TabletType::Primary, || 0),
            Err(RouteError::NoKeyspace(_))
        ));
    }
}

//! `Topo` against the in-memory KV.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::kv::{Listing, MemoryKv, Revision, Versioned, WatchStream};
use crate::records::DurabilityPolicy;

fn topo() -> (Topo, MemoryKv) {
    let kv = MemoryKv::new();
    (Topo::new(Arc::new(kv.clone())), kv)
}

fn ks(name: &str) -> Keyspace {
    Keyspace {
        name: name.to_string(),
        durability_policy: DurabilityPolicy::SemiSync,
        served_from: None,
    }
}

fn cell(name: &str) -> Cell {
    Cell {
        name: name.to_string(),
        region: String::new(),
    }
}

fn tablet(cell: &str, uid: u32, keyspace: &str, shard: &str, t: TabletType) -> Tablet {
    Tablet {
        alias: TabletAlias::new(cell, uid),
        hostname: "127.0.0.1".to_string(),
        grpc_port: 16000 + uid as u16,
        mysql_port: 17000 + uid as u16,
        keyspace: keyspace.to_string(),
        shard: shard.to_string(),
        tablet_type: t,
        primary_term_start_ms: None,
    }
}

async fn all_keys(kv: &MemoryKv) -> Vec<String> {
    kv.list("/")
        .await
        .unwrap()
        .entries
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

#[tokio::test]
async fn cells() {
    let (topo, _) = topo();
    topo.create_cell(&cell("zone2")).await.unwrap();
    topo.create_cell(&cell("zone1")).await.unwrap();
    assert_eq!(topo.list_cells().await.unwrap(), ["zone1", "zone2"]);
    assert_eq!(
        topo.create_cell(&cell("zone1"))
            .await
            .unwrap_err()
            .to_string(),
        "cell \"zone1\" already exists"
    );
    assert!(topo.get_cell("zone3").await.unwrap_err().is_not_found());
    assert!(matches!(
        topo.create_cell(&cell("a/b")).await,
        Err(TopoError::InvalidName(_))
    ));
    topo.delete_cell("zone2").await.unwrap();
    assert_eq!(topo.list_cells().await.unwrap(), ["zone1"]);
}

#[tokio::test]
async fn keyspace_with_shards_in_one_txn() {
    let (topo, kv) = topo();
    let shards = topo.create_keyspace(&ks("user"), 4).await.unwrap();
    let names: Vec<_> = shards.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["-40", "40-80", "80-c0", "c0-"]);
    let listed = topo.list_shards("user").await.unwrap();
    let listed: Vec<_> = listed.iter().map(|s| s.value.name.as_str()).collect();
    assert_eq!(listed, names);
    assert_eq!(
        topo.get_keyspace("user")
            .await
            .unwrap()
            .value
            .durability_policy,
        DurabilityPolicy::SemiSync
    );

    let unsharded = topo.create_keyspace(&ks("main"), 1).await.unwrap();
    assert_eq!(unsharded[0].name, "0");
    assert!(unsharded[0].key_range.is_full());
    assert_eq!(topo.list_keyspaces().await.unwrap(), ["main", "user"]);

    // Errors write nothing at all.
    let before = all_keys(&kv).await;
    let err = topo.create_keyspace(&ks("user"), 2).await.unwrap_err();
    assert_eq!(err.to_string(), "keyspace \"user\" already exists");
    let names = ["-40".to_string(), "80-".to_string()];
    let err = topo
        .create_keyspace_with_shards(&ks("gappy"), &names)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "gap between shards -40 and 80-: keyspace ids in [40, 80) are not covered"
    );
    assert!(topo.create_keyspace(&ks("none"), 0).await.is_err());
    assert_eq!(all_keys(&kv).await, before);
}

#[tokio::test]
async fn unknown_keyspace_is_named() {
    let (topo, _) = topo();
    let err = topo.get_keyspace("nope").await.unwrap_err();
    assert_eq!(err.to_string(), "keyspace \"nope\" not found");
    let err = topo.get_shard("nope", "0").await.unwrap_err();
    assert_eq!(err.to_string(), "keyspace \"nope\" not found");
    let err = topo.list_shards("nope").await.unwrap_err();
    assert_eq!(err.to_string(), "keyspace \"nope\" not found");
    let err = topo.get_vschema("nope").await.unwrap_err();
    assert_eq!(err.to_string(), "keyspace \"nope\" not found");
    topo.create_keyspace(&ks("ks"), 2).await.unwrap();
    let err = topo.get_shard("ks", "0").await.unwrap_err();
    assert_eq!(err.to_string(), "shard \"ks/0\" not found");
}

#[tokio::test]
async fn update_shard_fields_retries_on_conflict() {
    let (topo, _) = topo();
    topo.create_keyspace(&ks("ks"), 2).await.unwrap();
    let mut calls = 0;
    let topo2 = topo.clone();
    let updated = topo
        .update_shard_fields("ks", "-80", |s| {
            calls += 1;
            s.primary_term += 1;
            s.primary_alias = Some(TabletAlias::new("zone1", 101));
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(calls, 1);
    assert_eq!(updated.value.primary_term, 1);

    // A concurrent writer between our read and write forces a re-read.
    let stale = topo.get_shard("ks", "-80").await.unwrap();
    topo2
        .update_shard_fields("ks", "-80", |s| {
            s.primary_term = 5;
            Ok(())
        })
        .await
        .unwrap();
    let err = topo.update_shard(&stale).await.unwrap_err();
    assert!(matches!(err, TopoError::Kv(kv::Error::BadVersion(_))));
    assert!(err.is_retryable());

    let mut seen = Vec::new();
    let done = topo
        .update_shard_fields("ks", "-80", |s| {
            seen.push(s.primary_term);
            s.primary_term += 1;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(seen, [5]);
    assert_eq!(done.value.primary_term, 6);
    assert_eq!(topo.get_shard("ks", "-80").await.unwrap(), done);

    // No change → no write; closure errors abort.
    let same = topo
        .update_shard_fields("ks", "-80", |_| Ok(()))
        .await
        .unwrap();
    assert_eq!(same.version, done.version);
    let err = topo
        .update_shard_fields("ks", "-80", |_| {
            Err(TopoError::FailedPrecondition("no".into()))
        })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "no");
}

#[tokio::test]
async fn vschema_is_validated_before_writing() {
    let (topo, kv) = topo();
    topo.create_keyspace(&ks("user"), 2).await.unwrap();
    let good = br#"{"sharded": true, "vindexes": {"hash": {"type": "hash"}},
        "tables": {"users": {"column_vindexes": [{"column": "id", "name": "hash"}]}}}"#;
    let saved = topo.save_vschema_json("user", good).await.unwrap();
    assert_eq!(topo.get_vschema("user").await.unwrap(), saved);

    let before = kv.list("/").await.unwrap();
    let bad = br#"{"sharded": true, "tables": {"users": {"column_vindexes": [{"column": "id", "name": "hsh"}]}}}"#;
    let err = topo.save_vschema_json("user", bad).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid vschema: tables.users.column_vindexes[0].name: unknown vindex \"hsh\" (defined: none)"
    );
    let err = topo.save_vschema_json("nope", good).await.unwrap_err();
    assert_eq!(err.to_string(), "keyspace \"nope\" not found");
    assert_eq!(kv.list("/").await.unwrap(), before);
}

#[tokio::test]
async fn tablets() {
    let (topo, kv) = topo();
    topo.create_cell(&cell("zone1")).await.unwrap();
    topo.create_cell(&cell("zone2")).await.unwrap();
    topo.create_keyspace(&ks("ks"), 2).await.unwrap();
    let t1 = tablet("zone1", 101, "ks", "-80", TabletType::Primary);
    let t2 = tablet("zone2", 201, "ks", "-80", TabletType::Replica);
    let t3 = tablet("zone1", 102, "ks", "80-", TabletType::Primary);
    for t in [&t1, &t2, &t3] {
        topo.create_tablet(t).await.unwrap();
    }
    let err = topo.create_tablet(&t1).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "tablet \"zone1-0000000101\" already exists"
    );
    let err = topo
        .create_tablet(&tablet("zone1", 1, "ks", "-40", TabletType::Replica))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "shard \"ks/-40\" not found");
    let err = topo
        .create_tablet(&tablet("zone9", 1, "ks", "-80", TabletType::Replica))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "cell \"zone9\" not found");

    assert_eq!(topo.get_tablet(&t1.alias).await.unwrap().value, t1);
    assert_eq!(
        topo.list_tablets("zone1").await.unwrap(),
        [t1.clone(), t3.clone()]
    );
    assert_eq!(
        topo.list_tablets_by_shard("ks", "-80").await.unwrap(),
        [t1.clone(), t2.clone()]
    );
    let changed = topo
        .update_tablet_fields(&t2.alias, |t| {
            t.tablet_type = TabletType::Drained;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(changed.value.tablet_type, TabletType::Drained);

    // Liveness follows the lease.
    let lease = kv.lease_grant(Duration::from_secs(5)).await.unwrap();
    topo.set_alive(&t1.alias, lease).await.unwrap();
    assert!(topo.is_alive(&t1.alias).await.unwrap());
    assert_eq!(
        topo.list_alive("zone1").await.unwrap(),
        std::slice::from_ref(&t1.alias)
    );
    kv.lease_revoke(lease).await.unwrap();
    assert!(!topo.is_alive(&t1.alias).await.unwrap());

    // A cell or keyspace in use cannot be deleted.
    assert!(matches!(
        topo.delete_cell("zone2").await,
        Err(TopoError::FailedPrecondition(_))
    ));
    assert!(matches!(
        topo.delete_keyspace("ks").await,
        Err(TopoError::FailedPrecondition(_))
    ));
    for t in [&t1, &t2, &t3] {
        topo.delete_tablet(&t.alias).await.unwrap();
    }
    assert!(topo.get_tablet(&t1.alias).await.unwrap_err().is_not_found());
    topo.rebuild_srv_keyspace("ks", &[]).await.unwrap();
    topo.delete_keyspace("ks").await.unwrap();
    assert!(topo.list_keyspaces().await.unwrap().is_empty());
    let left = all_keys(&kv).await;
    assert!(left.iter().all(|k| !k.contains("/ks")), "{left:?}");
}

#[tokio::test]
async fn serving_graph() {
    let (topo, _) = topo();
    topo.create_cell(&cell("zone1")).await.unwrap();
    topo.create_cell(&cell("zone2")).await.unwrap();
    topo.create_keyspace(&ks("user"), 2).await.unwrap();
    topo.create_keyspace(&ks("main"), 1).await.unwrap();
    topo.save_vschema_json("main", br#"{"tables": {"user_seq": {"type": "sequence"}}}"#)
        .await
        .unwrap();
    topo.save_vschema_json(
        "user",
        br#"{"sharded": true, "vindexes": {"hash": {"type": "hash"}},
            "tables": {"users": {"column_vindexes": [{"column": "id", "name": "hash"}],
                                 "auto_increment": {"column": "id", "sequence": "user_seq"}}}}"#,
    )
    .await
    .unwrap();

    let srv = topo.rebuild_srv_keyspace("user", &[]).await.unwrap();
    for cell in ["zone1", "zone2"] {
        assert_eq!(topo.get_srv_keyspace(cell, "user").await.unwrap(), srv);
    }
    let primaries: Vec<_> = srv
        .shards_for(TabletType::Primary)
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(primaries, ["-80", "80-"]);
    assert_eq!(srv.shards_for(TabletType::Rdonly).len(), 2);

    // A shard that stops serving leaves a gap: the rebuild refuses.
    topo.update_shard_fields("user", "80-", |s| {
        s.is_primary_serving = false;
        Ok(())
    })
    .await
    .unwrap();
    let err = topo.rebuild_srv_keyspace("user", &[]).await.unwrap_err();
    assert!(
        err.to_string().contains("shard -80 is the last shard"),
        "{err}"
    );
    assert_eq!(topo.get_srv_keyspace("zone1", "user").await.unwrap(), srv);

    let vs = topo
        .rebuild_srv_vschema(&["zone1".to_string()])
        .await
        .unwrap();
    assert_eq!(vs.keyspaces.len(), 2);
    assert_eq!(topo.get_srv_vschema("zone1").await.unwrap(), vs);
    assert!(topo
        .get_srv_vschema("zone2")
        .await
        .unwrap_err()
        .is_not_found());
    let err = topo
        .rebuild_srv_vschema(&["zone9".to_string()])
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "cell \"zone9\" not found");
}

#[tokio::test]
async fn served_keyspace_has_a_graph_but_no_shards() {
    let (topo, kv) = topo();
    topo.create_cell(&cell("zone1")).await.unwrap();
    topo.create_cell(&cell("zone2")).await.unwrap();
    topo.create_keyspace(&ks("main"), 2).await.unwrap();
    let served = Keyspace {
        name: "x".into(),
        durability_policy: DurabilityPolicy::None,
        served_from: Some(KeyspaceShard::new("main", "-80")),
    };
    let unsharded = VSchema::parse(br#"{"sharded": false}"#).unwrap();
    let srv = topo
        .create_served_keyspace(&served, &unsharded)
        .await
        .unwrap();
    assert_eq!(srv.served_from, served.served_from);
    let names: Vec<_> = srv
        .shards_for(TabletType::Replica)
        .iter()
        .map(|s| (s.name.as_str(), s.key_range.clone()))
        .collect();
    assert_eq!(names, [(SERVED_SHARD, KeyRange::full())]);
    for c in ["zone1", "zone2"] {
        assert_eq!(topo.get_srv_keyspace(c, "x").await.unwrap(), srv);
    }
    assert_eq!(topo.get_keyspace("x").await.unwrap().value, served);
    assert_eq!(topo.get_vschema("x").await.unwrap(), unsharded);
    assert!(topo.list_shards("x").await.unwrap().is_empty());
    // Rebuilding (as `vitrail ctl srv rebuild` does for every keyspace)
    // gives the same graph instead of refusing a keyspace without shards.
    assert_eq!(topo.rebuild_srv_keyspace("x", &[]).await.unwrap(), srv);
    let vs = topo.rebuild_srv_vschema(&[]).await.unwrap();
    assert!(!vs.keyspaces["x"].sharded);

    // Exists already; a missing host shard; a served keyspace as host; a
    // keyspace without served_from: each refused, nothing written.
    let before = all_keys(&kv).await;
    let err = topo
        .create_served_keyspace(&served, &unsharded)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "keyspace \"x\" already exists");
    for (name, host) in [("y", "main/80-80"), ("y", "main/0"), ("y", "x/0")] {
        let k = Keyspace {
            name: name.into(),
            served_from: Some(host.parse().unwrap()),
            ..ks(name)
        };
        let err = topo.create_served_keyspace(&k, &unsharded).await;
        assert!(err.unwrap_err().is_not_found(), "{host}");
    }
    assert!(topo
        .create_served_keyspace(&ks("y"), &unsharded)
        .await
        .is_err());
    assert_eq!(all_keys(&kv).await, before);

    // Deleting removes every record of it, in every cell.
    topo.delete_keyspace("x").await.unwrap();
    let left: Vec<_> = all_keys(&kv)
        .await
        .into_iter()
        .filter(|k| k.contains("/x/") || k.ends_with("/x"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn srv_vschema_checks_sequences_across_keyspaces() {
    let (topo, _) = topo();
    topo.create_cell(&cell("zone1")).await.unwrap();
    topo.create_keyspace(&ks("user"), 2).await.unwrap();
    topo.save_vschema_json(
        "user",
        br#"{"sharded": true, "vindexes": {"hash": {"type": "hash"}},
            "tables": {"users": {"column_vindexes": [{"column": "id", "name": "hash"}],
                                 "auto_increment": {"column": "id", "sequence": "user_seq"}}}}"#,
    )
    .await
    .unwrap();
    let err = topo.rebuild_srv_vschema(&[]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid vschema: keyspaces.user.tables.users.auto_increment.sequence: no keyspace has a sequence table \"user_seq\""
    );
    assert!(topo
        .get_srv_vschema("zone1")
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn shard_lock() {
    let (topo, _) = topo();
    topo.create_keyspace(&ks("ks"), 1).await.unwrap();
    let guard = topo
        .lock_shard("ks", "0", "test", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(guard
        .key()
        .starts_with(&topo.layout().shard_locks_dir("ks", "0")));
    // Locks are not mistaken for shards, and block deleting the keyspace.
    assert_eq!(topo.list_shards("ks").await.unwrap().len(), 1);
    assert!(matches!(
        topo.delete_keyspace("ks").await,
        Err(TopoError::FailedPrecondition(_))
    ));
    guard.unlock().await.unwrap();
    let err = topo
        .lock_shard("ks", "-80", "test", Duration::from_secs(10))
        .await
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "shard \"ks/-80\" not found");
}

/// A KV where someone else rewrites the key just before each of our next
/// `races` conditional updates, so they fail with BadVersion.
struct RacingKv {
    inner: MemoryKv,
    races: AtomicU32,
}

#[async_trait]
impl Kv for RacingKv {
    async fn get(&self, key: &str) -> kv::Result<Option<Versioned>> {
        self.inner.get(key).await
    }
    async fn create(
        &self,
        key: &str,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    ) -> kv::Result<Version> {
        self.inner.create(key, value, lease).await
    }
    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Option<Version>,
    ) -> kv::Result<Version> {
        if expected.is_some() && self.races.load(Ordering::SeqCst) > 0 {
            self.races.fetch_sub(1, Ordering::SeqCst);
            if let Some(cur) = self.inner.get(key).await? {
                self.inner.update(key, cur.value, None).await?;
            }
        }
        self.inner.update(key, value, expected).await
    }
    async fn delete(&self, key: &str, expected: Option<Version>) -> kv::Result<()> {
        self.inner.delete(key, expected).await
    }
    async fn list(&self, prefix: &str) -> kv::Result<Listing> {
        self.inner.list(prefix).await
    }
    async fn txn(&self, ops: Vec<TxnOp>) -> kv::Result<Revision> {
        self.inner.txn(ops).await
    }
    async fn watch_prefix(&self, prefix: &str, from: Revision) -> kv::Result<WatchStream> {
        self.inner.watch_prefix(prefix, from).await
    }
    async fn lease_grant(&self, ttl: Duration) -> kv::Result<LeaseId> {
        self.inner.lease_grant(ttl).await
    }
    async fn lease_keep_alive(&self, id: LeaseId) -> kv::Result<Duration> {
        self.inner.lease_keep_alive(id).await
    }
    async fn lease_revoke(&self, id: LeaseId) -> kv::Result<()> {
        self.inner.lease_revoke(id).await
    }
}

#[tokio::test]
async fn read_modify_write_reapplies_after_losing_a_race() {
    let racing = Arc::new(RacingKv {
        inner: MemoryKv::new(),
        races: AtomicU32::new(0),
    });
    let topo = Topo::new(racing.clone());
    topo.create_cell(&cell("zone1")).await.unwrap();
    topo.create_keyspace(&ks("ks"), 1).await.unwrap();
    let t = tablet("zone1", 1, "ks", "0", TabletType::Replica);
    topo.create_tablet(&t).await.unwrap();

    racing.races.store(2, Ordering::SeqCst);
    let mut calls = 0;
    let s = topo
        .update_shard_fields("ks", "0", |s| {
            calls += 1;
            s.primary_term += 1;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(calls, 3);
    assert_eq!(s.value.primary_term, 1);

    racing.races.store(1, Ordering::SeqCst);
    let mut calls = 0;
    topo.update_tablet_fields(&t.alias, |t| {
        calls += 1;
        t.tablet_type = TabletType::Spare;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(calls, 2);

    racing.races.store(MAX_ATTEMPTS, Ordering::SeqCst);
    let err = topo
        .update_shard_fields("ks", "0", |s| {
            s.primary_term += 1;
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TopoError::Contention {
                attempts: MAX_ATTEMPTS,
                ..
            }
        ),
        "{err}"
    );
}

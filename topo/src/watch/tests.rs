//! Typed watches against the in-memory KV.

use std::sync::Arc;

use futures::StreamExt;

use super::*;
use crate::kv::MemoryKv;
use crate::records::{Cell, DurabilityPolicy, Keyspace, TabletAlias, TabletType};

fn topo() -> (Topo, MemoryKv) {
    let kv = MemoryKv::new();
    (Topo::new(Arc::new(kv.clone())), kv)
}

async fn setup(topo: &Topo) {
    topo.create_cell(&Cell {
        name: "zone1".into(),
        region: String::new(),
    })
    .await
    .unwrap();
    let ks = Keyspace {
        name: "ks".into(),
        durability_policy: DurabilityPolicy::None,
        served_from: None,
    };
    topo.create_keyspace(&ks, 2).await.unwrap();
}

fn tablet(uid: u32, shard: &str) -> Tablet {
    Tablet {
        alias: TabletAlias::new("zone1", uid),
        hostname: "127.0.0.1".into(),
        grpc_port: 1,
        mysql_port: 2,
        keyspace: "ks".into(),
        shard: shard.into(),
        tablet_type: TabletType::Replica,
        primary_term_start_ms: None,
    }
}

async fn next<T>(s: &mut BoxStream<'static, T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(5), s.next())
        .await
        .expect("a watch item within 5s")
        .expect("the watch to go on")
}

#[tokio::test]
async fn shard_watch_delivers_current_value_then_changes() {
    let (topo, _) = topo();
    setup(&topo).await;
    let mut w = topo.watch_shard("ks", "-80").unwrap();
    let first = next(&mut w).await.unwrap().unwrap();
    assert_eq!(first.value.primary_term, 0);
    assert_eq!(first.value.name, "-80");

    // A change to another shard is not delivered; one to this shard is.
    topo.update_shard_fields("ks", "80-", |s| {
        s.primary_term = 7;
        Ok(())
    })
    .await
    .unwrap();
    let written = topo
        .update_shard_fields("ks", "-80", |s| {
            s.primary_term = 1;
            s.primary_alias = Some(TabletAlias::new("zone1", 100));
            Ok(())
        })
        .await
        .unwrap();
    let second = next(&mut w).await.unwrap().unwrap();
    assert_eq!(second, written);

    topo.delete_keyspace("ks").await.unwrap();
    assert_eq!(next(&mut w).await.unwrap(), None);
}

#[tokio::test]
async fn record_watch_starts_with_absence_and_survives_broken_streams() {
    let (topo, mem) = topo();
    topo.create_cell(&Cell {
        name: "zone1".into(),
        region: String::new(),
    })
    .await
    .unwrap();
    let mut w = topo.watch_srv_keyspace("zone1", "ks").unwrap();
    assert_eq!(next(&mut w).await.unwrap(), None, "absent at first");
    mem.break_watches();
    setup_keyspace_only(&topo).await;
    let built = topo.rebuild_srv_keyspace("ks", &[]).await.unwrap();
    let got = next(&mut w).await.unwrap().unwrap();
    assert_eq!(got.value, built);
    // Resumed after the break: no repeat of the absence, nothing else.
    assert!(futures::poll!(w.next()).is_pending());
}

async fn setup_keyspace_only(topo: &Topo) {
    let ks = Keyspace {
        name: "ks".into(),
        durability_policy: DurabilityPolicy::None,
        served_from: None,
    };
    topo.create_keyspace(&ks, 2).await.unwrap();
}

#[tokio::test]
async fn srv_vschema_watch_follows_rebuilds() {
    let (topo, _) = topo();
    setup(&topo).await;
    topo.rebuild_srv_vschema(&[]).await.unwrap();
    let mut w = topo.watch_srv_vschema("zone1").unwrap();
    let first = next(&mut w).await.unwrap().unwrap();
    assert!(first.value.keyspaces.contains_key("ks"));
    let vschema = br#"{"sharded": true, "vindexes": {"h": {"type": "hash"}},
        "tables": {"t": {"column_vindexes": [{"column": "id", "name": "h"}]}}}"#;
    topo.save_vschema_json("ks", vschema).await.unwrap();
    let rebuilt = topo.rebuild_srv_vschema(&[]).await.unwrap();
    let second = next(&mut w).await.unwrap().unwrap();
    assert_eq!(second.value, rebuilt);
    assert!(second.version > first.version);
}

#[tokio::test]
async fn tablets_watch_lists_the_cell_after_every_change() {
    let (topo, _) = topo();
    setup(&topo).await;
    topo.create_tablet(&tablet(2, "80-")).await.unwrap();
    let mut w = topo.watch_tablets("zone1").unwrap();
    let uids = |ts: Vec<Tablet>| ts.iter().map(|t| t.alias.uid).collect::<Vec<_>>();
    assert_eq!(uids(next(&mut w).await.unwrap()), [2]);
    topo.create_tablet(&tablet(1, "-80")).await.unwrap();
    assert_eq!(uids(next(&mut w).await.unwrap()), [1, 2]);
    topo.delete_tablet(&TabletAlias::new("zone1", 2))
        .await
        .unwrap();
    assert_eq!(uids(next(&mut w).await.unwrap()), [1]);
}

#[tokio::test]
async fn undecodable_value_is_an_error_and_the_watch_goes_on() {
    let (topo, mem) = topo();
    setup(&topo).await;
    let mut w = topo.watch_shard("ks", "80-").unwrap();
    let good = next(&mut w).await.unwrap().unwrap();
    let key = topo.layout().shard("ks", "80-");
    mem.update(&key, vec![0xff, 0xff, 0xff], None)
        .await
        .unwrap();
    assert!(matches!(next(&mut w).await, Err(TopoError::Decode(_))));
    mem.update(&key, good.value.encode(), None).await.unwrap();
    assert_eq!(next(&mut w).await.unwrap().unwrap().value, good.value);

    let mut tablets = topo.watch_tablets("zone1").unwrap();
    assert!(next(&mut tablets).await.unwrap().is_empty());
    let bad_key = topo.layout().tablet(&TabletAlias::new("zone1", 9));
    mem.update(&bad_key, b"junk".to_vec(), None).await.unwrap();
    assert!(matches!(
        next(&mut tablets).await,
        Err(TopoError::Decode(_))
    ));
    assert!(next(&mut tablets).await.unwrap().is_empty());
    topo.create_tablet(&tablet(1, "-80")).await.unwrap();
    assert_eq!(next(&mut tablets).await.unwrap().len(), 1);
}

#[test]
fn bad_names_are_refused_up_front() {
    let (topo, _) = topo();
    assert!(matches!(
        topo.watch_shard("ks/..", "0"),
        Err(TopoError::InvalidName(_))
    ));
    assert!(matches!(
        topo.watch_tablets(""),
        Err(TopoError::InvalidName(_))
    ));
}

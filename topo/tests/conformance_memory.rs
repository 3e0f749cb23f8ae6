//! The KV conformance suite against [`MemoryKv`], plus what only an
//! in-process store can show quickly: paused-clock lease expiry, broken and
//! compacted watches.

mod conformance;
#[allow(dead_code)]
mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use topo::kv::{watch_resuming, Kv, Lease, MemoryKv, Revision, WatchEvent, WatchUpdate};

conformance_suite!(support::TestBackend::memory());

#[tokio::test(start_paused = true)]
async fn lease_expiry_on_paused_clock() {
    let kv = MemoryKv::new();
    let lease = kv.lease_grant(Duration::from_secs(10)).await.unwrap();
    kv.create("/p/k", b"v".to_vec(), Some(lease)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(9)).await;
    kv.lease_keep_alive(lease).await.unwrap();
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert!(
        kv.get("/p/k").await.unwrap().is_some(),
        "refresh extended it"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(kv.get("/p/k").await.unwrap(), None);

    // A kept-alive lease outlives many TTLs.
    let kv: Arc<dyn Kv> = Arc::new(kv);
    let kept = Lease::grant(kv.clone(), Duration::from_secs(3))
        .await
        .unwrap();
    kv.create("/p/kept", b"v".to_vec(), Some(kept.id()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(kept.is_alive());
    assert!(kv.get("/p/kept").await.unwrap().is_some());
}

#[tokio::test]
async fn resuming_watch_survives_broken_streams_without_gaps() {
    let mem = MemoryKv::new();
    let kv: Arc<dyn Kv> = Arc::new(mem.clone());
    let mut updates = watch_resuming(kv.clone(), "/b/");
    assert!(matches!(
        updates.next().await.unwrap().unwrap(),
        WatchUpdate::Snapshot { .. }
    ));
    // Each write is delivered, then the stream breaks; the next write lands
    // while the watcher is disconnected.
    let mut written = Vec::new();
    let mut seen = Vec::new();
    for i in 0..6 {
        let v = kv.create(&format!("/b/{i}"), vec![], None).await.unwrap();
        written.push(Revision(v.0));
        match updates.next().await.unwrap().unwrap() {
            WatchUpdate::Event(e) => seen.push(e.revision()),
            other => panic!("unexpected {other:?}"),
        }
        mem.break_watches();
    }
    let v = kv.create("/b/last", vec![], None).await.unwrap();
    written.push(Revision(v.0));
    match updates.next().await.unwrap().unwrap() {
        WatchUpdate::Event(e) => seen.push(e.revision()),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(seen, written);
}

#[tokio::test]
async fn resuming_watch_resnapshots_after_compaction() {
    let mem = MemoryKv::new();
    let kv: Arc<dyn Kv> = Arc::new(mem.clone());
    let mut updates = watch_resuming(kv.clone(), "/c/");
    assert!(matches!(
        updates.next().await.unwrap().unwrap(),
        WatchUpdate::Snapshot { .. }
    ));
    let v1 = kv.create("/c/1", vec![1], None).await.unwrap();
    assert!(matches!(
        updates.next().await.unwrap().unwrap(),
        WatchUpdate::Event(WatchEvent::Put { version, .. }) if version == v1
    ));
    // Disconnect, and lose the history needed to resume.
    mem.break_watches();
    kv.create("/c/2", vec![2], None).await.unwrap();
    kv.delete("/c/1", None).await.unwrap();
    mem.compact(mem.revision());
    match updates.next().await.unwrap().unwrap() {
        WatchUpdate::Snapshot { entries, revision } => {
            let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["/c/2"]);
            assert_eq!(revision, mem.revision());
        }
        other => panic!("expected a fresh snapshot, got {other:?}"),
    }
}

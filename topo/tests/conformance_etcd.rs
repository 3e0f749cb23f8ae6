//! The KV conformance suite against a real etcd 3.4 (`/usr/bin/etcd`), each
//! test on its own freshly started server.

mod conformance;
#[allow(dead_code)]
mod support;

use support::{Cluster, ServerKind, ServerProcess};

conformance_suite!(support::TestBackend::etcd());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_survives_server_restart() {
    let mut server = ServerProcess::start(ServerKind::Etcd).await;
    conformance::watch_survives_server_restart(&mut server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_leader_change() {
    let mut cluster = Cluster::start(ServerKind::Etcd, 3).await;
    conformance::survives_leader_change(&mut cluster).await;
}

/// Compaction is outside [`topo::kv::Kv`], so these use the etcd client
/// directly to compact.
async fn compact_to_head(server: &ServerProcess) -> topo::kv::Revision {
    let kv = server.client().await;
    let head = kv.list("/").await.unwrap().revision;
    let etcd = topo::kv::EtcdKv::connect(&[server.endpoint()])
        .await
        .unwrap();
    etcd.client().compact(head.0, None).await.unwrap();
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_compacted_revision_reports_compacted() {
    use futures::StreamExt;
    use topo::kv::{Error, Revision};

    let server = ServerProcess::start(ServerKind::Etcd).await;
    let kv = server.client().await;
    for i in 0..3 {
        kv.update("/cw/k", vec![i], None).await.unwrap();
    }
    let head = compact_to_head(&server).await;
    // etcd reports it either when creating the watch or as its first event.
    let err = match kv.watch_prefix("/cw/", Revision(1)).await {
        Err(e) => e,
        Ok(mut events) => conformance::within("compaction error", events.next())
            .await
            .unwrap()
            .unwrap_err(),
    };
    assert!(
        matches!(err, Error::Compacted { compact_revision, .. } if compact_revision == head),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_watch_resnapshots_after_compaction() {
    use futures::StreamExt;
    use topo::kv::{watch_resuming, WatchUpdate};

    let server = ServerProcess::start(ServerKind::Etcd).await;
    let kv = server.client().await;
    kv.create("/cr/1", vec![1], None).await.unwrap();
    let mut updates = watch_resuming(kv.clone(), "/cr/");
    let first = conformance::within("snapshot", updates.next())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(first, WatchUpdate::Snapshot { ref entries, .. } if entries.len() == 1));
    // The stream is lazy: it resumes only when polled, after the history it
    // needs is gone.
    kv.create("/cr/2", vec![2], None).await.unwrap();
    kv.delete("/cr/1", None).await.unwrap();
    let head = compact_to_head(&server).await;
    match conformance::within("new snapshot", updates.next())
        .await
        .unwrap()
        .unwrap()
    {
        WatchUpdate::Snapshot { entries, revision } => {
            let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["/cr/2"]);
            assert_eq!(revision, head);
        }
        other => panic!("expected a fresh snapshot, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_works_with_one_endpoint_down() {
    let server = ServerProcess::start(ServerKind::Etcd).await;
    // Nothing listens on the first endpoint.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let list = format!("{dead_addr},{}", server.endpoint());
    let kv = topo::kv::EtcdKv::connect_list(&list).await.unwrap();
    // The client itself moves past the dead endpoint: callers see no errors.
    for i in 0..10 {
        let key = format!("/two/{i}");
        let v = topo::kv::Kv::create(&kv, &key, vec![], None).await.unwrap();
        assert_eq!(
            topo::kv::Kv::get(&kv, &key).await.unwrap().unwrap().version,
            v
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_and_election_across_leader_kill() {
    let mut cluster = Cluster::start(ServerKind::Etcd, 3).await;
    conformance::lock_and_election_across_leader_kill(&mut cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_watch_across_leader_kill() {
    let mut cluster = Cluster::start(ServerKind::Etcd, 3).await;
    conformance::typed_watch_across_leader_kill(&mut cluster).await;
}

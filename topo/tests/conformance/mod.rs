//! The KV conformance suite: every backend must pass every function here.
//!
//! Add a backend by writing a `tests/conformance_<name>.rs` that declares
//! these modules and invokes [`conformance_suite!`] with an expression that
//! builds a backend: a value with a `kv: Arc<dyn Kv>` field and an
//! `async fn teardown(self)` (e.g. `support::TestBackend`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use topo::kv::{
    self, campaign, observe_leader, watch_resuming, Error, Kv, Lease, Revision, TxnOp, Version,
    WatchEvent, WatchUpdate,
};

use crate::support::{Cluster, ServerProcess};

/// A multi-member backend whose control-plane leader a test can kill.
#[allow(async_fn_in_trait, dead_code)]
pub trait KillLeader {
    /// `host:port,…` of every member, as clients are configured.
    fn endpoints(&self) -> String;
    /// Stops (or SIGKILLs) the current leader; returns its index.
    async fn kill_leader(&mut self) -> usize;
}

impl KillLeader for Cluster {
    fn endpoints(&self) -> String {
        Cluster::endpoints(self)
    }

    async fn kill_leader(&mut self) -> usize {
        let leader = self.leader().await;
        self.members[leader].kill();
        leader
    }
}

/// Generous bound for anything that should happen "soon".
pub const DEADLINE: Duration = Duration::from_secs(15);
/// Lease TTL for tests: short, but well above etcd's one-second granularity.
pub const TTL: Duration = Duration::from_secs(2);

/// One `#[tokio::test]` per suite function, each on a fresh backend.
#[macro_export]
macro_rules! conformance_suite {
    ($backend:expr) => {
        $crate::conformance_suite!(@each $backend;
            crud_with_versions,
            list_by_prefix,
            txn_is_all_or_nothing,
            watch_replays_then_goes_live,
            resuming_watch_starts_with_snapshot,
            lease_expiry_deletes_bound_keys,
            lease_loss_is_signalled,
            lock_contention_waits_for_unlock,
            lock_freed_when_holder_dies,
            lock_freed_when_holder_lease_revoked,
            lock_released_on_drop,
            election_campaign_observe_resign
        );
    };
    (@each $backend:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let backend = $backend.await;
                $crate::conformance::$name(backend.kv.clone()).await;
                backend.teardown().await;
            }
        )*
    };
}

/// `fut` within [`DEADLINE`], or panic naming `what`.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Poll `cond` until it holds, or panic after [`DEADLINE`].
pub async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    within(what, async {
        while !cond().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

pub async fn crud_with_versions(kv: Arc<dyn Kv>) {
    assert_eq!(kv.get("/t/k").await.unwrap(), None);
    let v1 = kv.create("/t/k", b("one"), None).await.unwrap();
    let got = kv.get("/t/k").await.unwrap().unwrap();
    assert_eq!(got.value, b("one"));
    assert_eq!(got.version, v1);
    assert_eq!(got.create_revision, Revision(v1.0));
    assert_eq!(got.lease, None);
    assert_eq!(
        kv.create("/t/k", b("again"), None).await,
        Err(Error::AlreadyExists("/t/k".into()))
    );

    let v2 = kv.update("/t/k", b("two"), Some(v1)).await.unwrap();
    assert!(v2 > v1);
    assert_eq!(
        kv.update("/t/k", b("stale"), Some(v1)).await,
        Err(Error::BadVersion("/t/k".into()))
    );
    let got = kv.get("/t/k").await.unwrap().unwrap();
    assert_eq!((got.value, got.version), (b("two"), v2));
    assert_eq!(
        got.create_revision,
        Revision(v1.0),
        "update keeps create_revision"
    );

    assert_eq!(
        kv.update("/t/missing", b("x"), Some(v2)).await,
        Err(Error::NotFound("/t/missing".into()))
    );
    let v3 = kv.update("/t/put", b("p"), None).await.unwrap();
    assert!(v3 > v2);
    let v4 = kv.update("/t/put", b("q"), None).await.unwrap();
    assert!(v4 > v3);

    assert_eq!(
        kv.delete("/t/k", Some(v1)).await,
        Err(Error::BadVersion("/t/k".into()))
    );
    kv.delete("/t/k", Some(v2)).await.unwrap();
    assert_eq!(kv.get("/t/k").await.unwrap(), None);
    assert_eq!(
        kv.delete("/t/k", None).await,
        Err(Error::NotFound("/t/k".into()))
    );
    kv.delete("/t/put", None).await.unwrap();

    // Re-created keys get a new create_revision.
    let v5 = kv.create("/t/k", b("new"), None).await.unwrap();
    let got = kv.get("/t/k").await.unwrap().unwrap();
    assert_eq!(got.create_revision, Revision(v5.0));
}

pub async fn list_by_prefix(kv: Arc<dyn Kv>) {
    for key in ["/t/a/2", "/t/a/1", "/t/ab", "/t/b/1", "/u/a/1"] {
        kv.create(key, b(key), None).await.unwrap();
    }
    let last = kv.update("/t/a/1", b("changed"), None).await.unwrap();
    let listing = kv.list("/t/a/").await.unwrap();
    let keys: Vec<&str> = listing.entries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["/t/a/1", "/t/a/2"]);
    assert_eq!(listing.entries[0].1.value, b("changed"));
    assert_eq!(listing.entries[0].1.version, last);
    assert!(listing.revision >= Revision(last.0));

    let keys: Vec<String> = kv
        .list("/t/a")
        .await
        .unwrap()
        .entries
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["/t/a/1", "/t/a/2", "/t/ab"]);
    assert!(kv.list("/nothing/").await.unwrap().entries.is_empty());
}

pub async fn txn_is_all_or_nothing(kv: Arc<dyn Kv>) {
    let vx = kv.create("/x/x", b("x0"), None).await.unwrap();
    let vz = kv.create("/x/z", b("z0"), None).await.unwrap();
    let vc = kv.create("/x/c", b("c0"), None).await.unwrap();
    let before = kv.list("/x/").await.unwrap();

    let create_y = TxnOp::Create {
        key: "/x/y".into(),
        value: b("y"),
        lease: None,
    };
    // A failing version check anywhere writes nothing.
    let failing = vec![
        create_y.clone(),
        TxnOp::Update {
            key: "/x/x".into(),
            value: b("x1"),
            expected_version: Some(Version(vx.0 - 1)),
        },
    ];
    assert_eq!(kv.txn(failing).await, Err(Error::BadVersion("/x/x".into())));
    let failing = vec![
        create_y.clone(),
        TxnOp::Create {
            key: "/x/z".into(),
            value: b("z1"),
            lease: None,
        },
    ];
    assert_eq!(
        kv.txn(failing).await,
        Err(Error::AlreadyExists("/x/z".into()))
    );
    let failing = vec![
        create_y.clone(),
        TxnOp::Delete {
            key: "/x/gone".into(),
            expected_version: None,
        },
    ];
    assert_eq!(
        kv.txn(failing).await,
        Err(Error::NotFound("/x/gone".into()))
    );
    let failing = vec![
        TxnOp::Check {
            key: "/x/z".into(),
            version: Version(vz.0 + 100),
        },
        create_y.clone(),
    ];
    assert_eq!(kv.txn(failing).await, Err(Error::BadVersion("/x/z".into())));
    assert!(matches!(
        kv.txn(vec![create_y.clone(), create_y.clone()]).await,
        Err(Error::Other(_))
    ));
    let after = kv.list("/x/").await.unwrap();
    assert_eq!(after.entries, before.entries, "failed txns wrote nothing");

    // All succeed together, at one revision.
    let rev = kv
        .txn(vec![
            TxnOp::Check {
                key: "/x/c".into(),
                version: vc,
            },
            create_y,
            TxnOp::Update {
                key: "/x/x".into(),
                value: b("x1"),
                expected_version: Some(vx),
            },
            TxnOp::Delete {
                key: "/x/z".into(),
                expected_version: Some(vz),
            },
        ])
        .await
        .unwrap();
    let after = kv.list("/x/").await.unwrap();
    let got: Vec<(&str, &[u8], Version)> = after
        .entries
        .iter()
        .map(|(k, v)| (k.as_str(), v.value.as_slice(), v.version))
        .collect();
    assert_eq!(
        got,
        [
            ("/x/c", b"c0".as_slice(), vc),
            ("/x/x", b"x1".as_slice(), Version(rev.0)),
            ("/x/y", b"y".as_slice(), Version(rev.0))
        ]
    );
}

pub async fn watch_replays_then_goes_live(kv: Arc<dyn Kv>) {
    let start = kv.create("/w/a", b("1"), None).await.unwrap();
    kv.update("/w/a", b("2"), None).await.unwrap();
    kv.create("/other/a", b("no"), None).await.unwrap();
    kv.delete("/w/a", None).await.unwrap();

    let mut events = kv.watch_prefix("/w/", Revision(start.0)).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.push(
            within("replayed events", events.next())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let live = kv.create("/w/b", b("3"), None).await.unwrap();
    seen.push(within("live event", events.next()).await.unwrap().unwrap());

    let summary: Vec<(String, Option<Vec<u8>>)> = seen
        .iter()
        .map(|e| match e {
            WatchEvent::Put { key, value, .. } => (key.clone(), Some(value.clone())),
            WatchEvent::Delete { key, .. } => (key.clone(), None),
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("/w/a".to_string(), Some(b("1"))),
            ("/w/a".to_string(), Some(b("2"))),
            ("/w/a".to_string(), None),
            ("/w/b".to_string(), Some(b("3"))),
        ]
    );
    assert_eq!(seen[0].revision(), Revision(start.0));
    assert_eq!(seen[3].revision(), Revision(live.0));
    assert!(seen.windows(2).all(|w| w[0].revision() < w[1].revision()));
}

pub async fn resuming_watch_starts_with_snapshot(kv: Arc<dyn Kv>) {
    kv.create("/r/1", b("a"), None).await.unwrap();
    kv.create("/r/2", b("b"), None).await.unwrap();
    let mut updates = watch_resuming(kv.clone(), "/r/");
    let first = within("snapshot", updates.next()).await.unwrap().unwrap();
    let WatchUpdate::Snapshot { entries, revision } = first else {
        panic!("expected a snapshot first, got {first:?}");
    };
    let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["/r/1", "/r/2"]);
    let v = kv.update("/r/1", b("c"), None).await.unwrap();
    assert!(Revision(v.0) > revision);
    let next = within("change", updates.next()).await.unwrap().unwrap();
    assert_eq!(
        next,
        WatchUpdate::Event(WatchEvent::Put {
            key: "/r/1".into(),
            value: b("c"),
            version: v,
            create_revision: entries[0].1.create_revision,
        })
    );
}

pub async fn lease_expiry_deletes_bound_keys(kv: Arc<dyn Kv>) {
    // A raw lease nobody refreshes, and a kept-alive one.
    let raw = kv.lease_grant(TTL).await.unwrap();
    let kept = Lease::grant(kv.clone(), TTL).await.unwrap();
    let v = kv.create("/l/raw", b("r"), Some(raw)).await.unwrap();
    kv.create("/l/kept", b("k"), Some(kept.id())).await.unwrap();
    assert_eq!(kv.get("/l/raw").await.unwrap().unwrap().lease, Some(raw));

    let mut events = kv.watch_prefix("/l/raw", Revision(v.0 + 1)).await.unwrap();
    let event = within("raw lease expiry", events.next())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(event, WatchEvent::Delete { ref key, .. } if key == "/l/raw"));
    assert_eq!(kv.get("/l/raw").await.unwrap(), None);
    assert_eq!(kv.lease_keep_alive(raw).await, Err(Error::LeaseLost));
    assert_eq!(
        kv.create("/l/late", b("x"), Some(raw)).await,
        Err(Error::LeaseLost)
    );

    // A whole TTL has passed: the kept-alive key survived it.
    assert!(kept.is_alive());
    assert!(kv.get("/l/kept").await.unwrap().is_some());
    kept.revoke().await.unwrap();
    assert_eq!(kv.get("/l/kept").await.unwrap(), None);
}

pub async fn lease_loss_is_signalled(kv: Arc<dyn Kv>) {
    let lease = Lease::grant(kv.clone(), TTL).await.unwrap();
    kv.create("/ll/k", b("k"), Some(lease.id())).await.unwrap();
    assert!(lease.is_alive());
    // Someone else (an operator, an expiring control plane) ends it.
    kv.lease_revoke(lease.id()).await.unwrap();
    within("lease loss flag", lease.lost()).await;
    assert!(!lease.is_alive());
    assert_eq!(kv.get("/ll/k").await.unwrap(), None);
}

async fn queue_len(kv: &Arc<dyn Kv>, dir: &str) -> usize {
    kv.list(dir).await.unwrap().entries.len()
}

/// Start a contender for `path` in the background; the receiver fires once
/// it holds the lock.
fn contend(kv: Arc<dyn Kv>, path: &'static str) -> tokio::sync::oneshot::Receiver<kv::LockGuard> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let guard = kv::lock(kv, path, "second", TTL).await.unwrap();
        let _ = tx.send(guard);
    });
    rx
}

pub async fn lock_contention_waits_for_unlock(kv: Arc<dyn Kv>) {
    let first = kv::lock(kv.clone(), "/ks/s1", "first", TTL).await.unwrap();
    first.check().await.unwrap();
    assert!(first.key().starts_with("/ks/s1/locks/"));

    let mut second = contend(kv.clone(), "/ks/s1");
    eventually("second contender queued", || {
        queue_len(&kv, "/ks/s1/locks/").then_eq(2)
    })
    .await;
    // Queued behind a live holder: must not have the lock.
    first.check().await.unwrap();
    assert!(
        second.try_recv().is_err(),
        "second got the lock while first held it"
    );

    // Writes guarded by the lock succeed only while it is held.
    kv.txn(vec![
        first.check_op(),
        TxnOp::Update {
            key: "/ks/s1/record".into(),
            value: b("by first"),
            expected_version: None,
        },
    ])
    .await
    .unwrap();

    let first_op = first.check_op();
    first.unlock().await.unwrap();
    let second = within("second acquires after unlock", second)
        .await
        .unwrap();
    second.check().await.unwrap();
    assert!(
        kv.txn(vec![first_op]).await.is_err(),
        "old holder's check must fail"
    );
    assert_eq!(queue_len(&kv, "/ks/s1/locks/").await, 1);
    second.unlock().await.unwrap();
    assert_eq!(queue_len(&kv, "/ks/s1/locks/").await, 0);
}

pub async fn lock_freed_when_holder_dies(kv: Arc<dyn Kv>) {
    let first = kv::lock(kv.clone(), "/ks/s2", "first", TTL).await.unwrap();
    let mut second = contend(kv.clone(), "/ks/s2");
    eventually("second contender queued", || {
        queue_len(&kv, "/ks/s2/locks/").then_eq(2)
    })
    .await;
    assert!(
        second.try_recv().is_err(),
        "second got the lock while first held it"
    );
    first.abandon(); // the holder "crashes": no unlock, no refresh
    let second = within("lease expiry frees the lock", second).await.unwrap();
    second.check().await.unwrap();
    assert_eq!(queue_len(&kv, "/ks/s2/locks/").await, 1);
}

pub async fn lock_freed_when_holder_lease_revoked(kv: Arc<dyn Kv>) {
    let first = kv::lock(kv.clone(), "/ks/s3", "first", TTL).await.unwrap();
    let mut second = contend(kv.clone(), "/ks/s3");
    eventually("second contender queued", || {
        queue_len(&kv, "/ks/s3/locks/").then_eq(2)
    })
    .await;
    assert!(
        second.try_recv().is_err(),
        "second got the lock while first held it"
    );
    kv.lease_revoke(first.lease().id()).await.unwrap();
    let second = within("revocation frees the lock", second).await.unwrap();
    second.check().await.unwrap();
    within("old holder learns it lost the lock", first.lost()).await;
    assert_eq!(first.check().await, Err(Error::LeaseLost));
}

pub async fn lock_released_on_drop(kv: Arc<dyn Kv>) {
    let first = kv::lock(kv.clone(), "/ks/s4", "first", TTL).await.unwrap();
    let mut second = contend(kv.clone(), "/ks/s4");
    eventually("second contender queued", || {
        queue_len(&kv, "/ks/s4/locks/").then_eq(2)
    })
    .await;
    assert!(
        second.try_recv().is_err(),
        "second got the lock while first held it"
    );
    drop(first);
    // Well before the TTL would free it: drop revokes in the background.
    let second = tokio::time::timeout(TTL, second)
        .await
        .expect("drop releases the lock before the lease would expire")
        .unwrap();
    second.check().await.unwrap();
}

pub async fn election_campaign_observe_resign(kv: Arc<dyn Kv>) {
    let mut leaders = observe_leader(kv.clone(), "/elect/ks");
    assert_eq!(
        within("no leader", leaders.next()).await.unwrap().unwrap(),
        None
    );

    let a = campaign(kv.clone(), "/elect/ks", "a", TTL).await.unwrap();
    assert_eq!(a.id(), "a");
    assert_eq!(
        within("leader a", leaders.next()).await.unwrap().unwrap(),
        Some("a".into())
    );
    a.check().await.unwrap();

    let kv2 = kv.clone();
    let mut b = tokio::spawn(async move { campaign(kv2, "/elect/ks", "b", TTL).await });
    eventually("b is a candidate", || {
        queue_len(&kv, "/elect/ks/election/").then_eq(2)
    })
    .await;
    assert!(
        futures::poll!(&mut b).is_pending(),
        "b leads while a has not resigned"
    );

    a.resign().await.unwrap();
    let b = within("b takes over", b).await.unwrap().unwrap();
    assert_eq!(
        within("leader b", leaders.next()).await.unwrap().unwrap(),
        Some("b".into())
    );
    b.check().await.unwrap();
    b.resign().await.unwrap();
    assert_eq!(
        within("no leader again", leaders.next())
            .await
            .unwrap()
            .unwrap(),
        None
    );
}

#[allow(dead_code)] // used by process backends only
/// Process backends only: SIGKILL the server mid-watch, restart it on the same
/// data, and check the resuming watch continues without gaps or repeats.
pub async fn watch_survives_server_restart(server: &mut ServerProcess) {
    let kv = server.client().await;
    let mut updates = watch_resuming(kv.clone(), "/rs/");
    let first = within("snapshot", updates.next()).await.unwrap().unwrap();
    assert!(matches!(first, WatchUpdate::Snapshot { ref entries, .. } if entries.is_empty()));

    let mut written = Vec::new();
    for i in 0..5 {
        written.push(kv.create(&format!("/rs/{i}"), b("v"), None).await.unwrap());
    }
    let mut seen = Vec::new();
    while seen.len() < 5 {
        match within("events before restart", updates.next())
            .await
            .unwrap()
            .unwrap()
        {
            WatchUpdate::Event(e) => seen.push(e.revision()),
            other => panic!("unexpected {other:?}"),
        }
    }

    server.kill();
    server.restart().await;

    for i in 5..10 {
        let v = within("write after restart", async {
            loop {
                match kv.create(&format!("/rs/{i}"), b("v"), None).await {
                    Ok(v) => return v,
                    Err(e) if e.is_retryable() => {
                        tokio::time::sleep(Duration::from_millis(50)).await
                    }
                    Err(e) => panic!("write after restart: {e}"),
                }
            }
        })
        .await;
        written.push(v);
    }
    while seen.len() < 10 {
        match within("events after restart", updates.next())
            .await
            .unwrap()
            .unwrap()
        {
            WatchUpdate::Event(e) => seen.push(e.revision()),
            other => panic!("unexpected {other:?}"),
        }
    }
    let written: Vec<Revision> = written.into_iter().map(|v| Revision(v.0)).collect();
    assert_eq!(seen, written, "every write seen once, in order");
}

/// Retry a write through transient failures, as callers do. (A retried put
/// may apply twice; the checks below allow that.)
async fn put_retrying(kv: &Arc<dyn Kv>, key: &str, value: Vec<u8>) {
    within("a write to succeed", async {
        loop {
            match kv.update(key, value.clone(), None).await {
                Ok(_) => return,
                Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => panic!("write {key}: {e}"),
            }
        }
    })
    .await
}

#[allow(dead_code)] // used by process backends only
/// Multi-member backends only: SIGKILL the leader while a client holds a
/// lock and runs a resuming watch. The watch must deliver every revision
/// exactly once, in order; the lock (its lease) must survive the election.
pub async fn survives_leader_change(cluster: &mut impl KillLeader) {
    let kv: Arc<dyn Kv> = Arc::new(
        kv::EtcdKv::connect_list(&cluster.endpoints())
            .await
            .unwrap(),
    );
    let ttl = Duration::from_secs(5); // comfortably above an election
    let guard = kv::lock(kv.clone(), "/lc/shard", "holder", ttl)
        .await
        .unwrap();
    let mut updates = watch_resuming(kv.clone(), "/lc/data/");
    let snapshot = within("snapshot", updates.next()).await.unwrap().unwrap();
    let WatchUpdate::Snapshot {
        revision: start, ..
    } = snapshot
    else {
        panic!("expected a snapshot first, got {snapshot:?}");
    };
    for i in 0..5 {
        put_retrying(&kv, &format!("/lc/data/{i}"), vec![i]).await;
    }
    cluster.kill_leader().await;
    for i in 5..10 {
        put_retrying(&kv, &format!("/lc/data/{i}"), vec![i]).await;
    }
    // Only these puts changed the store since `start`, so the watch must
    // show exactly the revisions start+1 ..= head.
    let head = within("a read after the election", async {
        loop {
            match kv.list("/lc/data/").await {
                Ok(listing) => return listing.revision,
                Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => panic!("list: {e}"),
            }
        }
    })
    .await;
    let mut seen = Vec::new();
    while seen.last() != Some(&head) {
        match within("events across the election", updates.next())
            .await
            .unwrap()
            .unwrap()
        {
            WatchUpdate::Event(e) => seen.push(e.revision()),
            other => panic!("unexpected {other:?}"),
        }
    }
    let expected: Vec<Revision> = (start.0 + 1..=head.0).map(Revision).collect();
    assert_eq!(seen, expected, "every revision once, in order");
    assert!(
        guard.lease().is_alive(),
        "lock lease lost across the election"
    );
    guard.check().await.unwrap();
    guard.unlock().await.unwrap();
}

/// Retry `op` through transient failures (an election in progress).
async fn retrying<T, F, Fut>(what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = kv::Result<T>>,
{
    within(what, async {
        loop {
            match op().await {
                Ok(v) => return v,
                Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => panic!("{what}: {e}"),
            }
        }
    })
    .await
}

#[allow(dead_code)] // used by multi-member backends only
/// Multi-member backends only: kill the control-plane leader while a shard
/// lock has a holder and a queued waiter, and an election has a leader and
/// an observer. Across the election nobody gains or loses anything; after
/// it, unlock hands the lock on, a holder that dies frees it by lease
/// expiry, and the observer sees the new leader.
pub async fn lock_and_election_across_leader_kill(cluster: &mut impl KillLeader) {
    let kv: Arc<dyn Kv> = Arc::new(
        kv::EtcdKv::connect_list(&cluster.endpoints())
            .await
            .unwrap(),
    );
    let ttl = Duration::from_secs(5); // comfortably above an election
    let first = kv::lock(kv.clone(), "/lk/shard", "first", ttl)
        .await
        .unwrap();
    let kv2 = kv.clone();
    let mut second = tokio::spawn(async move { kv::lock(kv2, "/lk/shard", "second", ttl).await });
    eventually("second contender queued", || {
        queue_len(&kv, "/lk/shard/locks/").then_eq(2)
    })
    .await;
    let a = campaign(kv.clone(), "/lk/elect", "a", ttl).await.unwrap();
    let mut leaders = observe_leader(kv.clone(), "/lk/elect");
    assert_eq!(
        within("leader a", leaders.next()).await.unwrap().unwrap(),
        Some("a".into())
    );

    cluster.kill_leader().await;

    retrying("lock check after the election", || first.check()).await;
    retrying("leadership check after the election", || a.check()).await;
    assert!(
        futures::poll!(&mut second).is_pending(),
        "second got the lock while first held it"
    );
    // A lock-guarded write still works, and only for the holder.
    let guarded = |guard: &kv::LockGuard| {
        vec![
            guard.check_op(),
            TxnOp::Update {
                key: "/lk/record".into(),
                value: b("by the holder"),
                expected_version: None,
            },
        ]
    };
    retrying("a lock-guarded write", || kv.txn(guarded(&first))).await;

    // Unlock hands the lock to the waiter...
    let first_op = first.check_op();
    retrying("unlock", || {
        first.lease().kv().lease_revoke(first.lease().id())
    })
    .await;
    let second = within("second acquires after unlock", second)
        .await
        .unwrap()
        .unwrap();
    retrying("second's check", || second.check()).await;
    assert!(
        kv.txn(vec![first_op]).await.is_err(),
        "old holder's check must fail"
    );
    // ...and a holder that dies now frees it by lease expiry.
    let third = contend(kv.clone(), "/lk/shard");
    eventually("third contender queued", || {
        queue_len(&kv, "/lk/shard/locks/").then_eq(2)
    })
    .await;
    second.abandon();
    let third = within("lease expiry frees the lock", third).await.unwrap();
    retrying("third's check", || third.check()).await;

    // The observer survived the election and sees the hand-over.
    let kv3 = kv.clone();
    let b = tokio::spawn(async move { campaign(kv3, "/lk/elect", "b", ttl).await });
    eventually("b is a candidate", || {
        queue_len(&kv, "/lk/elect/election/").then_eq(2)
    })
    .await;
    a.resign().await.unwrap();
    let b = within("b takes over", b).await.unwrap().unwrap();
    assert_eq!(
        within("leader b", leaders.next()).await.unwrap().unwrap(),
        Some("b".into())
    );
    b.check().await.unwrap();
}

#[allow(dead_code)] // used by multi-member backends only
/// Multi-member backends only: a typed Shard watch delivers the current
/// record, then every primary-term bump, across a control-plane leader kill.
pub async fn typed_watch_across_leader_kill(cluster: &mut impl KillLeader) {
    use topo::records::{DurabilityPolicy, Keyspace};
    use topo::server::Topo;

    let kv: Arc<dyn Kv> = Arc::new(
        kv::EtcdKv::connect_list(&cluster.endpoints())
            .await
            .unwrap(),
    );
    let topo = Topo::new(kv);
    let ks = Keyspace {
        name: "ks".into(),
        durability_policy: DurabilityPolicy::SemiSync,
        served_from: None,
    };
    topo.create_keyspace(&ks, 2).await.unwrap();
    let mut shard = topo.watch_shard("ks", "80-").unwrap();
    let mut terms = vec![
        within("current shard", shard.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
            .value
            .primary_term,
    ];
    let bump = |term: u64| {
        let topo = topo.clone();
        async move {
            topo.update_shard_fields("ks", "80-", |s| {
                s.primary_term = term;
                Ok(())
            })
            .await
            .map_err(|e| match e {
                topo::server::TopoError::Kv(e) => e,
                other => panic!("{other}"),
            })
        }
    };
    for term in 1..=3 {
        retrying("a term bump", || bump(term)).await;
    }
    cluster.kill_leader().await;
    for term in 4..=6 {
        retrying("a term bump after the kill", || bump(term)).await;
    }
    while terms.last() != Some(&6) {
        let item = within("shard changes across the kill", shard.next())
            .await
            .unwrap()
            .unwrap();
        terms.push(item.expect("the shard still exists").value.primary_term);
    }
    assert_eq!(terms, [0, 1, 2, 3, 4, 5, 6], "every change once, in order");
}

/// `async { x == n }` for [`eventually`] closures.
trait ThenEq: Future<Output = usize> + Sized {
    async fn then_eq(self, n: usize) -> bool {
        self.await == n
    }
}

impl<F: Future<Output = usize>> ThenEq for F {}

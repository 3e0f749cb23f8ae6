//! In-process 3-node clusters over real gRPC + RocksDB with a controllable
//! network: election, minority partitions, catch-up (log and snapshot),
//! restart from disk. Which follower gets isolated is chosen from a seed
//! (VITRAIL_SEED, printed) so a failure can be replayed.

mod support;

use std::time::Duration;

use etcd_client::{GetOptions, PutOptions};
use rand::{Rng, SeedableRng};
use support::{eventually, Cluster};

fn seed() -> u64 {
    let s = std::env::var("VITRAIL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("VITRAIL_SEED={s}");
    s
}

async fn get(c: &mut etcd_client::Client, key: &str, serializable: bool) -> Option<String> {
    let opts = if serializable {
        Some(GetOptions::new().with_serializable())
    } else {
        None
    };
    let r = c.get(key, opts).await.ok()?;
    r.kvs()
        .first()
        .map(|kv| String::from_utf8_lossy(kv.value()).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn elects_one_leader_and_replicates() {
    let c = Cluster::start(3).await;
    let leader = c.wait_leader(Duration::from_secs(10), None).await;
    // Every member agrees on the leader.
    let leader_id = c.members[leader].id;
    eventually(Duration::from_secs(5), "agreement on leader", || async {
        c.members
            .iter()
            .all(|m| m.server.as_ref().unwrap().node().status().leader == leader_id)
            .then_some(())
    })
    .await;
    // A write through a follower is forwarded and visible everywhere.
    let follower = (leader + 1) % 3;
    let mut cl = c.client(follower).await;
    let put = cl
        .put("k", "v1", Some(PutOptions::new().with_prev_key()))
        .await
        .unwrap();
    assert!(put.prev_key().is_none());
    for i in 0..3 {
        let mut ci = c.client(i).await;
        assert_eq!(
            get(&mut ci, "k", false).await.as_deref(),
            Some("v1"),
            "linearizable read on member {i}"
        );
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn minority_cannot_commit_majority_goes_on_and_healed_node_catches_up() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed());
    let c = Cluster::start(3).await;
    let old = c.wait_leader(Duration::from_secs(10), None).await;
    let mut on_old = c.client(old).await;
    on_old.put("x", "before", None).await.unwrap();

    c.isolate(old);
    // The isolated leader cannot commit: the write fails (or times out).
    let r = tokio::time::timeout(Duration::from_secs(4), on_old.put("x", "lost", None)).await;
    assert!(
        !matches!(r, Ok(Ok(_))),
        "an isolated leader acknowledged a write"
    );

    // The majority elects a new leader and keeps committing.
    let new = c.wait_leader(Duration::from_secs(10), Some(old)).await;
    assert_ne!(new, old);
    let other = (0..3).find(|i| *i != old && *i != new).unwrap();
    let via = if rng.gen_bool(0.5) { new } else { other };
    let mut cl = c.client(via).await;
    cl.put("x", "after", None).await.unwrap();
    for i in 0..20 {
        cl.put(format!("k{i}"), "v", None).await.unwrap();
    }
    // A linearizable read on the isolated node must not return stale data.
    let stale = tokio::time::timeout(Duration::from_secs(3), on_old.get("x", None)).await;
    if let Ok(Ok(r)) = stale {
        let v = r.kvs().first().map(|kv| kv.value().to_vec());
        assert_eq!(
            v.as_deref(),
            Some(&b"after"[..]),
            "isolated node served a stale linearizable read"
        );
    }

    c.heal();
    let mut on_old = c.client(old).await;
    eventually(Duration::from_secs(10), "old leader catches up", || {
        let mut c2 = on_old.clone();
        async move { (get(&mut c2, "k19", true).await.as_deref() == Some("v")).then_some(()) }
    })
    .await;
    assert_eq!(get(&mut on_old, "x", true).await.as_deref(), Some("after"));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lagging_follower_catches_up_from_a_snapshot() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed());
    // Snapshot every 50 entries; the leader purges its log behind snapshots,
    // so a follower that missed them can only catch up by snapshot.
    let c = Cluster::start_with(3, 50).await;
    let leader = c.wait_leader(Duration::from_secs(10), None).await;
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let lagging = followers[rng.gen_range(0..2)];
    c.isolate(lagging);
    let mut cl = c.client(leader).await;
    for i in 0..1200 {
        // Sequential writes: one Raft entry each.
        cl.put(format!("key/{i:04}"), format!("value-{i}"), None)
            .await
            .unwrap();
    }
    let leader_node = c.members[leader].server.as_ref().unwrap().node().clone();
    eventually(Duration::from_secs(10), "leader purges its log", || {
        let n = leader_node.clone();
        async move { n.raft().metrics().borrow().purged.is_some().then_some(()) }
    })
    .await;
    c.heal();
    let lag_node = c.members[lagging].server.as_ref().unwrap().node().clone();
    eventually(
        Duration::from_secs(20),
        "lagging follower installs a snapshot and catches up",
        || {
            let n = lag_node.clone();
            let target = leader_node.status().raft_applied_index;
            async move {
                let st = n.status();
                (st.raft_applied_index >= target && n.raft().metrics().borrow().snapshot.is_some())
                    .then_some(())
            }
        },
    )
    .await;
    let mut on_lag = c.client(lagging).await;
    let all = on_lag
        .get(
            "key/",
            Some(GetOptions::new().with_prefix().with_serializable()),
        )
        .await
        .unwrap();
    assert_eq!(all.count(), 1200);
    assert_eq!(
        get(&mut on_lag, "key/1199", true).await.as_deref(),
        Some("value-1199")
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_from_disk_keeps_everything() {
    let mut c = Cluster::start(3).await;
    let leader = c.wait_leader(Duration::from_secs(10), None).await;
    let mut cl = c.client(leader).await;
    for i in 0..50 {
        cl.put(format!("r{i}"), format!("{i}"), None).await.unwrap();
    }
    let rev = cl
        .get("r49", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    drop(cl);
    for i in 0..3 {
        c.stop(i).await;
    }
    for i in 0..3 {
        c.boot(i).await;
    }
    let leader = c.wait_leader(Duration::from_secs(10), None).await;
    let mut cl = c.client(leader).await;
    let r = cl
        .get("r", Some(GetOptions::new().with_prefix()))
        .await
        .unwrap();
    assert_eq!(r.count(), 50);
    assert!(r.header().unwrap().revision() >= rev);
    let r49 = cl.get("r49", None).await.unwrap();
    assert_eq!(r49.kvs()[0].value(), b"49");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_leader_renews_leases_before_expiring_any() {
    let mut c = Cluster::start(3).await;
    let leader = c.wait_leader(Duration::from_secs(10), None).await;
    let follower = (leader + 1) % 3;
    let mut cl = c.client(follower).await;
    let lease = cl.lease_grant(3, None).await.unwrap().id();
    cl.put("owned", "v", Some(PutOptions::new().with_lease(lease)))
        .await
        .unwrap();
    // Let most of the TTL pass, keeping the lease alive through the leader.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (mut keeper, mut responses) = cl.lease_keep_alive(lease).await.unwrap();
    keeper.keep_alive().await.unwrap();
    assert!(responses.message().await.unwrap().unwrap().ttl() > 0);
    // Kill the leader: the new one must give the lease a fresh TTL rather
    // than expire it on the old leader's schedule (or on none).
    c.stop(leader).await;
    let new = c.wait_leader(Duration::from_secs(10), Some(leader)).await;
    assert_ne!(new, leader);
    let mut on_new = c.client(new).await;
    let ttl = on_new.lease_time_to_live(lease, None).await.unwrap().ttl();
    assert!(
        ttl >= 1,
        "lease lost its time across the leader change (ttl {ttl})"
    );
    assert_eq!(get(&mut on_new, "owned", false).await.as_deref(), Some("v"));
    // Without keep-alives it expires, and its key goes with it.
    drop(keeper);
    eventually(
        Duration::from_secs(8),
        "lease expires under the new leader",
        || {
            let mut c2 = on_new.clone();
            async move { get(&mut c2, "owned", false).await.is_none().then_some(()) }
        },
    )
    .await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_are_batched_into_fewer_raft_entries() {
    let c = Cluster::start(3).await;
    let leader = c.wait_leader(Duration::from_secs(10), None).await;
    let cl = c.client(leader).await;
    let node = c.members[leader].server.as_ref().unwrap().node().clone();
    let before_batches = node
        .metrics()
        .proposal_batches
        .load(std::sync::atomic::Ordering::Relaxed);
    let before_props = node
        .metrics()
        .proposals
        .load(std::sync::atomic::Ordering::Relaxed);
    let mut tasks = Vec::new();
    for i in 0..400 {
        let mut cl = cl.clone();
        tasks.push(tokio::spawn(async move {
            cl.put(format!("b{i}"), "v", None).await.map(|_| ())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let batches = node
        .metrics()
        .proposal_batches
        .load(std::sync::atomic::Ordering::Relaxed)
        - before_batches;
    let props = node
        .metrics()
        .proposals
        .load(std::sync::atomic::Ordering::Relaxed)
        - before_props;
    assert_eq!(props, 400);
    assert!(
        batches < props / 2,
        "400 concurrent puts took {batches} Raft entries: no batching"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_a_member_ends_its_watch_streams() {
    let mut c = Cluster::start(3).await;
    c.wait_leader(Duration::from_secs(10), None).await;
    let mut cl = c.client(0).await;
    let mut stream = cl.watch("w", None).await.unwrap();
    c.stop(0).await;
    // The stream must end (error or close) so the client can go elsewhere,
    // not stay open and silent.
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return,
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "watch stream stayed open after its member stopped"
    );
    c.shutdown().await;
}

//! The KV conformance suite against `vitrail control`: a 3-member cluster of
//! in-process members (real gRPC, Raft and RocksDB), fresh for each test,
//! plus control-plane leader kills.

mod conformance;
#[allow(dead_code)]
mod support;
mod vitrail_cluster;

use vitrail_cluster::{VitrailBackend, VitrailCluster};

conformance_suite!(VitrailBackend::start());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_leader_change() {
    let mut cluster = VitrailCluster::start(3).await;
    conformance::survives_leader_change(&mut cluster).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_and_election_across_leader_kill() {
    let mut cluster = VitrailCluster::start(3).await;
    conformance::lock_and_election_across_leader_kill(&mut cluster).await;
    cluster.shutdown().await;
}

/// A killed leader that comes back from its data directory rejoins, and a
/// watch keeps going across a second leader kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_two_leader_kills_with_restart() {
    let mut cluster = VitrailCluster::start(3).await;
    let first = conformance::KillLeader::kill_leader(&mut cluster).await;
    cluster.restart(first).await;
    conformance::survives_leader_change(&mut cluster).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_watch_across_leader_kill() {
    let mut cluster = VitrailCluster::start(3).await;
    conformance::typed_watch_across_leader_kill(&mut cluster).await;
    cluster.shutdown().await;
}

//! An in-process `vitrail control` cluster for the conformance suite: real
//! members (`consensus::server::Server`: Raft over gRPC, RocksDB, the etcd v3
//! API) on free 127.0.0.1 ports, each in its own temporary data directory.
//!
//! "Killing" a member is [`Server::shutdown`] plus cutting every client
//! connection to it; [`VitrailCluster::restart`] boots it again from its
//! data directory. Clients reach each member through a [`Proxy`], because
//! an in-process shutdown alone leaves open watch streams alive but silent
//! forever (a process that dies closes its sockets; see `docs/topology.md`,
//! "Known issues").

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use consensus::api::ApiConfig;
use consensus::node::NodeConfig;
use consensus::raft_types::node_id_for;
use consensus::server::Server;
use tempfile::TempDir;
use topo::kv::{EtcdKv, Kv};

use crate::conformance::{self, KillLeader};

use testkit::free_port;

/// A TCP forwarder in front of a member's client port. While down it drops
/// every connection, as a dead process's port would.
struct Proxy {
    addr: String,
    down: Arc<AtomicBool>,
    /// Bumped on [`Proxy::cut`]: every forwarding task ends.
    epoch: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let down = Arc::new(AtomicBool::new(false));
        let (epoch, _) = watch::channel(0u64);
        let (down2, epoch2) = (down.clone(), epoch.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if down2.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection close
                }
                let target = target.clone();
                let mut cut = epoch2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy {
            addr,
            down,
            epoch,
            task,
        }
    }

    /// Closes every open connection and refuses new ones until [`Proxy::up`].
    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.epoch.send_modify(|e| *e += 1);
    }

    fn up(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.epoch.send_modify(|e| *e += 1);
    }
}

struct Member {
    name: String,
    id: u64,
    proxy: Proxy,
    client: String,
    peer: String,
    dir: TempDir,
    server: Option<Server>,
}

pub struct VitrailCluster {
    members: Vec<Member>,
}

impl VitrailCluster {
    /// Starts `size` members and waits until one of them leads.
    pub async fn start(size: usize) -> VitrailCluster {
        let members = (1..=size)
            .map(|i| {
                let peer = format!("127.0.0.1:{}", free_port());
                let client = format!("127.0.0.1:{}", free_port());
                async move {
                    Member {
                        name: format!("n{i}"),
                        id: node_id_for(&peer),
                        proxy: Proxy::start(client.clone()).await,
                        client,
                        peer,
                        dir: tempfile::tempdir().unwrap(),
                        server: None,
                    }
                }
            })
            .collect::<futures::stream::FuturesOrdered<_>>()
            .collect()
            .await;
        let mut cluster = VitrailCluster { members };
        for i in 0..size {
            cluster.boot(i).await;
        }
        cluster.wait_settled().await;
        cluster
    }

    /// Waits until every running member knows the same leader, so the
    /// first request does not meet a follower that has not heard of it.
    async fn wait_settled(&self) {
        let leader = self.members[self.wait_leader().await].id;
        conformance::within("every member to know the leader", async {
            while !self.members.iter().all(|m| {
                m.server
                    .as_ref()
                    .is_none_or(|s| s.node().status().leader == leader)
            }) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
    }

    fn config(&self, i: usize) -> NodeConfig {
        let m = &self.members[i];
        let mut cfg = NodeConfig::new(&m.name, m.dir.path().join("data"), &m.client, &m.peer);
        if self.members.len() > 1 {
            cfg.initial_cluster = self
                .members
                .iter()
                .map(|m| (m.name.clone(), m.peer.clone()))
                .collect();
        }
        // Debug builds on two shared cores: the production defaults (50 ms
        // heartbeats, 250 ms elections) make leadership flap under load,
        // and every flap is a spurious "leader changed" for the suite.
        cfg.heartbeat_ms = 100;
        cfg.election_timeout_ms = 1_000;
        cfg
    }

    async fn boot(&mut self, i: usize) {
        // A member stopped in this process releases its RocksDB lock only
        // when the last task holding its node has finished: retry until then.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let server = loop {
            match Server::start(self.config(i), ApiConfig::default(), None).await {
                Ok(s) => break s,
                Err(e)
                    if e.to_string().contains("lock") && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("member {} failed to start: {e}", self.members[i].name),
            }
        };
        self.members[i].server = Some(server);
        self.members[i].proxy.up();
    }

    /// Index of the running member that considers itself leader, waiting
    /// for an election if needed.
    pub async fn wait_leader(&self) -> usize {
        conformance::within("a control-plane leader", async {
            loop {
                let leader = self.members.iter().position(|m| {
                    m.server
                        .as_ref()
                        .is_some_and(|s| s.node().status().leader == m.id)
                });
                if let Some(i) = leader {
                    return i;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
    }

    /// Stops member `i` (its data stays).
    pub async fn stop(&mut self, i: usize) {
        self.members[i].proxy.cut();
        if let Some(server) = self.members[i].server.take() {
            server.shutdown().await;
        }
    }

    /// Boots a stopped member again from its data directory.
    pub async fn restart(&mut self, i: usize) {
        self.stop(i).await;
        self.boot(i).await;
    }

    pub async fn shutdown(mut self) {
        for i in 0..self.members.len() {
            self.stop(i).await;
        }
    }

    /// `host:port,…` of every member (its proxy), running or not.
    pub fn endpoint_list(&self) -> String {
        self.members
            .iter()
            .map(|m| m.proxy.addr.clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub async fn client(&self) -> Arc<dyn Kv> {
        Arc::new(EtcdKv::connect_list(&self.endpoint_list()).await.unwrap())
    }
}

impl KillLeader for VitrailCluster {
    fn endpoints(&self) -> String {
        self.endpoint_list()
    }

    async fn kill_leader(&mut self) -> usize {
        let leader = self.wait_leader().await;
        self.stop(leader).await;
        leader
    }
}

/// What the suite's tests hold: the client and the cluster behind it.
pub struct VitrailBackend {
    pub kv: Arc<dyn Kv>,
    pub cluster: VitrailCluster,
}

impl VitrailBackend {
    pub async fn start() -> VitrailBackend {
        let cluster = VitrailCluster::start(3).await;
        VitrailBackend {
            kv: cluster.client().await,
            cluster,
        }
    }

    /// Shuts every member down, so RocksDB is closed before the test
    /// process exits (exiting with it open aborts the process).
    pub async fn teardown(self) {
        self.cluster.shutdown().await;
    }
}

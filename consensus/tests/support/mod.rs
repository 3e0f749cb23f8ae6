//! In-process clusters over real gRPC and real RocksDB, with a controllable
//! network: a [`Partition`] filter drops peer traffic between chosen nodes.
#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use consensus::api::ApiConfig;
use consensus::network::NetFilter;
use consensus::node::NodeConfig;
use consensus::raft_types::{node_id_for, NodeId};
use consensus::server::Server;

/// Blocked directed pairs (from, to).
#[derive(Default)]
pub struct Partition {
    blocked: Mutex<HashSet<(NodeId, NodeId)>>,
}

impl NetFilter for Partition {
    fn allow(&self, from: NodeId, to: NodeId) -> bool {
        !self.blocked.lock().unwrap().contains(&(from, to))
    }
}

#[allow(unused_imports)] // each test binary uses its own subset
pub use testkit::free_port;

pub struct Member {
    pub name: String,
    pub id: NodeId,
    pub client: String,
    pub peer: String,
    pub dir: tempfile::TempDir,
    pub server: Option<Server>,
}

pub struct Cluster {
    pub members: Vec<Member>,
    pub net: Arc<Partition>,
    pub snapshot_entries: u64,
}

impl Cluster {
    pub async fn start(n: usize) -> Cluster {
        Self::start_with(n, 20_000).await
    }

    pub async fn start_with(n: usize, snapshot_entries: u64) -> Cluster {
        let net = Arc::new(Partition::default());
        let mut members = Vec::new();
        for i in 0..n {
            let peer = format!("127.0.0.1:{}", free_port());
            members.push(Member {
                name: format!("n{}", i + 1),
                id: node_id_for(&peer),
                client: format!("127.0.0.1:{}", free_port()),
                peer,
                dir: tempfile::tempdir().unwrap(),
                server: None,
            });
        }
        let mut c = Cluster {
            members,
            net,
            snapshot_entries,
        };
        for i in 0..n {
            c.boot(i).await;
        }
        c
    }

    fn config(&self, i: usize) -> NodeConfig {
        let m = &self.members[i];
        let mut cfg = NodeConfig::new(&m.name, m.dir.path(), &m.client, &m.peer);
        if self.members.len() > 1 {
            cfg.initial_cluster = self
                .members
                .iter()
                .map(|m| (m.name.clone(), m.peer.clone()))
                .collect();
        }
        cfg.snapshot_entries = self.snapshot_entries;
        cfg.filter = Some(self.net.clone() as Arc<dyn NetFilter>);
        cfg
    }

    pub async fn boot(&mut self, i: usize) {
        let api = ApiConfig {
            progress_notify_interval: Duration::from_millis(500),
        };
        // In one process, a stopped member's RocksDB closes only when the
        // last connection task holding the node has finished: wait for it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let server = loop {
            match Server::start(self.config(i), api.clone(), None).await {
                Ok(s) => break s,
                Err(e)
                    if e.to_string().contains("lock") && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("member {i} failed to start: {e}"),
            }
        };
        self.members[i].server = Some(server);
    }

    /// Stops a member (its data stays on disk).
    pub async fn stop(&mut self, i: usize) {
        if let Some(s) = self.members[i].server.take() {
            s.shutdown().await;
        }
    }

    pub fn endpoint(&self, i: usize) -> String {
        format!("http://{}", self.members[i].client)
    }

    pub async fn client(&self, i: usize) -> etcd_client::Client {
        let opts = etcd_client::ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(5));
        etcd_client::Client::connect([self.endpoint(i)], Some(opts))
            .await
            .unwrap()
    }

    /// Cuts every link between member `i` and the others (both ways).
    pub fn isolate(&self, i: usize) {
        let mut b = self.net.blocked.lock().unwrap();
        let me = self.members[i].id;
        for m in &self.members {
            if m.id != me {
                b.insert((me, m.id));
                b.insert((m.id, me));
            }
        }
    }

    pub fn heal(&self) {
        self.net.blocked.lock().unwrap().clear();
    }

    /// Index of the leader once every running member (except `exclude`)
    /// agrees on it, waiting up to `timeout`.
    pub async fn wait_leader(&self, timeout: Duration, exclude: Option<usize>) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let views: Vec<(usize, u64)> = self
                .members
                .iter()
                .enumerate()
                .filter(|(i, m)| Some(*i) != exclude && m.server.is_some())
                .map(|(i, m)| (i, m.server.as_ref().unwrap().node().status().leader))
                .collect();
            let leader = views.first().map(|v| v.1).unwrap_or(0);
            if leader != 0 && views.iter().all(|v| v.1 == leader) {
                if let Some(i) = self.members.iter().position(|m| m.id == leader) {
                    if Some(i) != exclude {
                        return i;
                    }
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no agreed leader within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn shutdown(mut self) {
        for i in 0..self.members.len() {
            self.stop(i).await;
        }
    }
}

/// Polls `f` until it returns Some, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

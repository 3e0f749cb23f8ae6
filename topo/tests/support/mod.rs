//! Starting real KV servers for tests: etcd today, `vitrail control` next.
//!
//! Each [`ServerProcess`] gets a fresh data directory and free 127.0.0.1
//! ports, is ready when a KV request succeeds (polled, not slept), can be
//! killed with SIGKILL and restarted on the same data, and dies with its
//! owner.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;
use topo::kv::{EtcdKv, Kv, MemoryKv};

/// Which server binary to run.
#[derive(Clone, Debug)]
pub enum ServerKind {
    /// Debian's etcd-server (3.4).
    Etcd,
    /// `vitrail control` from the given `vitrail` binary.
    VitrailControl { binary: PathBuf },
}

pub struct ServerProcess {
    kind: ServerKind,
    name: String,
    /// `name=peer-url,…` for multi-member clusters; None: a one-node cluster.
    initial_cluster: Option<String>,
    dir: TempDir,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

use testkit::free_port;

impl ServerProcess {
    pub async fn start(kind: ServerKind) -> ServerProcess {
        let mut server = ServerProcess::new(kind, "n1");
        server.spawn();
        server.wait_ready().await;
        server
    }

    fn new(kind: ServerKind, name: &str) -> ServerProcess {
        ServerProcess {
            kind,
            name: name.to_string(),
            initial_cluster: None,
            dir: tempfile::tempdir().unwrap(),
            client_port: free_port(),
            peer_port: free_port(),
            child: None,
        }
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    /// `127.0.0.1:<client port>`.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    pub async fn client(&self) -> Arc<dyn Kv> {
        Arc::new(EtcdKv::connect(&[self.endpoint()]).await.unwrap())
    }

    /// SIGKILL the server and reap it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start again on the same data directory and ports.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn();
        self.wait_ready().await;
    }

    fn command(&self) -> Command {
        let data = self.dir.path().join("data");
        let client = format!("127.0.0.1:{}", self.client_port);
        let peer = format!("127.0.0.1:{}", self.peer_port);
        match &self.kind {
            ServerKind::Etcd => {
                let cluster = self
                    .initial_cluster
                    .clone()
                    .unwrap_or_else(|| format!("{}=http://{peer}", self.name));
                let mut cmd = Command::new("/usr/bin/etcd");
                cmd.arg(format!("--name={}", self.name))
                    .arg(format!("--data-dir={}", data.display()))
                    .arg(format!("--listen-client-urls=http://{client}"))
                    .arg(format!("--advertise-client-urls=http://{client}"))
                    .arg(format!("--listen-peer-urls=http://{peer}"))
                    .arg(format!("--initial-advertise-peer-urls=http://{peer}"))
                    .arg(format!("--initial-cluster={cluster}"))
                    .arg("--logger=zap")
                    .arg("--log-level=warn");
                cmd
            }
            ServerKind::VitrailControl { binary } => {
                let mut cmd = Command::new(binary);
                cmd.arg("control")
                    .arg("--data-dir")
                    .arg(&data)
                    .arg("--client-addr")
                    .arg(&client)
                    .arg("--peer-addr")
                    .arg(&peer)
                    .arg("--name")
                    .arg(&self.name);
                if let Some(cluster) = &self.initial_cluster {
                    // vitrail takes HOST:PORT peers, etcd takes URLs.
                    cmd.arg("--initial-cluster")
                        .arg(cluster.replace("http://", ""));
                }
                cmd
            }
        }
    }

    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let child = self
            .command()
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {:?}: {e}", self.kind));
        self.child = Some(child);
    }

    async fn wait_ready(&mut self) {
        let kv = self.client().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if kv.get("/ready-probe").await.is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!(
                    "{:?} exited during startup: {status}; log:\n{}",
                    self.kind,
                    self.log()
                );
            }
            if tokio::time::Instant::now() > deadline {
                panic!("{:?} not ready after 30s; log:\n{}", self.kind, self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Several members forming one cluster, all on 127.0.0.1.
pub struct Cluster {
    pub members: Vec<ServerProcess>,
}

impl Cluster {
    pub async fn start(kind: ServerKind, size: usize) -> Cluster {
        let mut members: Vec<ServerProcess> = (1..=size)
            .map(|i| ServerProcess::new(kind.clone(), &format!("n{i}")))
            .collect();
        let cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        // Start all before waiting: none is ready until a quorum runs.
        for m in &mut members {
            m.initial_cluster = Some(cluster.clone());
            m.spawn();
        }
        for m in &mut members {
            m.wait_ready().await;
        }
        Cluster { members }
    }

    /// `host:port,host:port,…` of every member, as `--control` takes them.
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(ServerProcess::endpoint)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Index of the member that currently leads (asks each live member).
    pub async fn leader(&self) -> usize {
        for member in self.members.iter().filter(|m| m.child.is_some()) {
            let kv = EtcdKv::connect(&[member.endpoint()]).await.unwrap();
            let Ok(status) = kv.client().status().await else {
                continue;
            };
            let leader = status.leader();
            for (i, m) in self.members.iter().enumerate() {
                let kv = EtcdKv::connect(&[m.endpoint()]).await.unwrap();
                if let Ok(s) = kv.client().status().await {
                    if s.header().map(|h| h.member_id()) == Some(leader) {
                        return i;
                    }
                }
            }
        }
        panic!("no member knows a leader");
    }
}

/// A KV under test and whatever keeps it running.
pub struct TestBackend {
    pub kv: Arc<dyn Kv>,
    pub server: Option<ServerProcess>,
}

impl TestBackend {
    pub async fn memory() -> TestBackend {
        TestBackend {
            kv: Arc::new(MemoryKv::new()),
            server: None,
        }
    }

    pub async fn process(kind: ServerKind) -> TestBackend {
        let server = ServerProcess::start(kind).await;
        TestBackend {
            kv: server.client().await,
            server: Some(server),
        }
    }

    /// Stops whatever runs the KV (at the end of a passing test).
    pub async fn teardown(self) {}

    pub async fn etcd() -> TestBackend {
        TestBackend::process(ServerKind::Etcd).await
    }
}

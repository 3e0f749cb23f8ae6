//! Starting real KV servers for tests: etcd today, `vitrail control` next.
//!
//! Each [`ServerProcess`] gets a fresh data directory and free 127.0.0.1
//! ports, is ready when a KV request succeeds (polled, not slept), can be
//! killed with SIGKILL and restarted on the same data, and dies with its
//! owner.

use std::fs::File;
use std::net::TcpListener;
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
    dir: TempDir,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl ServerProcess {
    pub async fn start(kind: ServerKind) -> ServerProcess {
        let mut server = ServerProcess {
            kind,
            dir: tempfile::tempdir().unwrap(),
            client_port: free_port(),
            peer_port: free_port(),
            child: None,
        };
        server.spawn().await;
        server
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
        self.spawn().await;
    }

    fn command(&self) -> Command {
        let data = self.dir.path().join("data");
        let client = format!("127.0.0.1:{}", self.client_port);
        let peer = format!("127.0.0.1:{}", self.peer_port);
        match &self.kind {
            ServerKind::Etcd => {
                let mut cmd = Command::new("/usr/bin/etcd");
                cmd.arg("--name=n1")
                    .arg(format!("--data-dir={}", data.display()))
                    .arg(format!("--listen-client-urls=http://{client}"))
                    .arg(format!("--advertise-client-urls=http://{client}"))
                    .arg(format!("--listen-peer-urls=http://{peer}"))
                    .arg(format!("--initial-advertise-peer-urls=http://{peer}"))
                    .arg(format!("--initial-cluster=n1=http://{peer}"))
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
                    .arg(&peer);
                cmd
            }
        }
    }

    async fn spawn(&mut self) {
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
        self.wait_ready().await;
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

    pub async fn etcd() -> TestBackend {
        TestBackend::process(ServerKind::Etcd).await
    }
}

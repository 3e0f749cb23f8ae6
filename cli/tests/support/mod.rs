//! Real `vitrail control` processes for acceptance tests: a cluster on
//! 127.0.0.1 with free ports, killed (SIGKILL) on drop.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[allow(unused_imports)] // each test binary uses its own subset
pub use testkit::{free_block, free_port, free_port_on};

pub struct Proc {
    pub name: String,
    pub client: String,
    pub peer: String,
    pub dir: PathBuf,
    pub child: Option<Child>,
    pub extra: Vec<String>,
}

pub struct ProcCluster {
    pub procs: Vec<Proc>,
    pub initial_cluster: String,
    _root: tempfile::TempDir,
}

impl ProcCluster {
    pub fn start(n: usize) -> ProcCluster {
        Self::start_on(&vec!["127.0.0.1"; n])
    }

    /// One member per listed address (e.g. 127.0.0.11, .12, .13), so that
    /// firewall rules can partition members by address.
    pub fn start_on(ips: &[&str]) -> ProcCluster {
        let n = ips.len();
        let root = tempfile::tempdir().unwrap();
        let mut procs = Vec::new();
        for (i, ip) in ips.iter().enumerate() {
            procs.push(Proc {
                name: format!("n{}", i + 1),
                client: format!("{ip}:{}", free_port_on(ip)),
                peer: format!("{ip}:{}", free_port_on(ip)),
                dir: root.path().join(format!("n{}", i + 1)),
                child: None,
                extra: Vec::new(),
            });
        }
        let initial_cluster = procs
            .iter()
            .map(|p| format!("{}={}", p.name, p.peer))
            .collect::<Vec<_>>()
            .join(",");
        let mut c = ProcCluster {
            procs,
            initial_cluster,
            _root: root,
        };
        for i in 0..n {
            c.spawn(i, "new");
        }
        c.wait_healthy();
        c
    }

    pub fn spawn(&mut self, i: usize, state: &str) {
        let p = &mut self.procs[i];
        std::fs::create_dir_all(&p.dir).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p.dir.join("control.log"))
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vitrail"));
        cmd.args(["control", "--name", &p.name])
            .arg("--data-dir")
            .arg(p.dir.join("data"))
            .args(["--client-addr", &p.client, "--peer-addr", &p.peer])
            .args([
                "--initial-cluster",
                &self.initial_cluster,
                "--initial-cluster-state",
                state,
            ])
            .args(&p.extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        p.child = Some(cmd.spawn().expect("spawn vitrail control"));
    }

    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.procs[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn endpoints(&self) -> String {
        self.procs
            .iter()
            .filter(|p| p.child.is_some())
            .map(|p| p.client.clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn endpoint(&self, i: usize) -> String {
        self.procs[i].client.clone()
    }

    /// Waits until every running member answers `endpoint health`.
    pub fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = etcdctl(&self.endpoints(), &["endpoint", "health"]);
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "cluster not healthy: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.procs[i].dir.join("control.log")).unwrap_or_default()
    }
}

impl Drop for ProcCluster {
    fn drop(&mut self) {
        for i in 0..self.procs.len() {
            self.kill(i);
        }
    }
}

pub fn etcdctl_cmd(endpoints: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("etcdctl");
    cmd.env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoints}"))
        .arg("--dial-timeout=2s")
        .arg("--command-timeout=5s")
        .args(args);
    cmd
}

pub fn etcdctl(endpoints: &str, args: &[&str]) -> Output {
    etcdctl_cmd(endpoints, args)
        .output()
        .expect("run etcdctl (install etcd-client)")
}

/// Runs etcdctl, asserts success, returns stdout.
pub fn ok(endpoints: &str, args: &[&str]) -> String {
    let out = etcdctl(endpoints, args);
    assert!(
        out.status.success(),
        "etcdctl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Runs etcdctl, asserts failure, returns stderr.
pub fn fails(endpoints: &str, args: &[&str]) -> String {
    let out = etcdctl(endpoints, args);
    assert!(
        !out.status.success(),
        "etcdctl {args:?} unexpectedly succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Polls `f` until it returns Some or the deadline passes.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

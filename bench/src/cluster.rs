//! Local 3-member clusters of `vitrail control` or etcd, each member a child
//! process on free 127.0.0.1 ports under one directory. Dropping a
//! [`Cluster`] SIGKILLs every member it still runs, also on error paths.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;

use crate::load::connect;

#[derive(Clone, Debug, Serialize)]
pub enum Kind {
    Vitrail { bin: PathBuf, extra: Vec<String> },
    Etcd { bin: PathBuf },
}

impl Kind {
    pub fn label(&self) -> &'static str {
        match self {
            Kind::Vitrail { .. } => "vitrail",
            Kind::Etcd { .. } => "etcd",
        }
    }
}

pub struct Member {
    pub name: String,
    pub client_port: u16,
    pub peer_port: u16,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    /// The member ID in Status/ResponseHeader, learned once healthy.
    pub id: u64,
    child: Option<Child>,
}

impl Member {
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

pub struct Cluster {
    pub kind: Kind,
    pub members: Vec<Member>,
    initial_cluster: String,
    token: String,
}

impl Cluster {
    /// Starts `size` members under `dir` and returns without waiting.
    pub fn start(kind: Kind, size: usize, dir: &Path) -> anyhow::Result<Cluster> {
        let mut ports = Vec::new();
        while ports.len() < size * 2 {
            let p = testkit::free_port();
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
        let scheme = match kind {
            Kind::Vitrail { .. } => "",
            Kind::Etcd { .. } => "http://",
        };
        let members: Vec<Member> = (0..size)
            .map(|i| {
                let name = format!("n{}", i + 1);
                Member {
                    data_dir: dir.join(format!("{}-{name}", kind.label())),
                    log: dir.join(format!("{}-{name}.log", kind.label())),
                    name,
                    client_port: ports[2 * i],
                    peer_port: ports[2 * i + 1],
                    id: 0,
                    child: None,
                }
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={scheme}127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!("bench-{}", std::process::id());
        let mut c = Cluster {
            kind,
            members,
            initial_cluster,
            token,
        };
        for i in 0..size {
            c.spawn(i)?;
        }
        Ok(c)
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(Member::endpoint).collect()
    }

    fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let m = &self.members[i];
        let (bin, args): (&PathBuf, Vec<String>) = match &self.kind {
            Kind::Vitrail { bin, extra } => {
                let mut a = vec![
                    "control".into(),
                    "--name".into(),
                    m.name.clone(),
                    "--data-dir".into(),
                    m.data_dir.display().to_string(),
                    "--client-addr".into(),
                    m.endpoint(),
                    "--peer-addr".into(),
                    format!("127.0.0.1:{}", m.peer_port),
                    "--initial-cluster".into(),
                    self.initial_cluster.clone(),
                    "--initial-cluster-state".into(),
                    "new".into(),
                ];
                a.extend(extra.iter().cloned());
                (bin, a)
            }
            Kind::Etcd { bin } => {
                let client = format!("http://{}", m.endpoint());
                let peer = format!("http://127.0.0.1:{}", m.peer_port);
                (
                    bin,
                    vec![
                        "--name".into(),
                        m.name.clone(),
                        "--data-dir".into(),
                        m.data_dir.display().to_string(),
                        "--listen-client-urls".into(),
                        client.clone(),
                        "--advertise-client-urls".into(),
                        client,
                        "--listen-peer-urls".into(),
                        peer.clone(),
                        "--initial-advertise-peer-urls".into(),
                        peer,
                        "--initial-cluster".into(),
                        self.initial_cluster.clone(),
                        "--initial-cluster-state".into(),
                        "new".into(),
                        "--initial-cluster-token".into(),
                        self.token.clone(),
                        "--logger".into(),
                        "zap".into(),
                    ],
                )
            }
        };
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)
            .with_context(|| format!("opening {}", m.log.display()))?;
        let log2 = log.try_clone()?;
        let child = Command::new(bin)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .with_context(|| format!("starting {} {}", bin.display(), args.join(" ")))?;
        self.members[i].child = Some(child);
        Ok(())
    }

    /// SIGKILLs member `i` and reaps it.
    pub fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        if let Some(mut c) = self.members[i].child.take() {
            c.kill()
                .with_context(|| format!("killing {}", self.members[i].name))?;
            let _ = c.wait();
        }
        Ok(())
    }

    /// Starts member `i` again on its old data directory.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.kill(i)?;
        self.spawn(i)
    }

    /// Fails if a member process has exited (with its log's tail).
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        for m in &mut self.members {
            if let Some(c) = m.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    bail!(
                        "{} {} exited ({status}); log tail:\n{}",
                        self.kind.label(),
                        m.name,
                        log_tail(&m.log)
                    );
                }
            }
        }
        Ok(())
    }

    /// Polls until every member answers Status, all agree on one leader, and a
    /// put through every member succeeds. Records each member's ID.
    pub async fn wait_healthy(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut last_err = String::new();
        while Instant::now() < deadline {
            self.check_alive()?;
            match self.probe().await {
                Ok(ids) => {
                    for (m, id) in self.members.iter_mut().zip(ids) {
                        m.id = id;
                    }
                    return Ok(());
                }
                Err(e) => last_err = format!("{e:#}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "{} cluster not healthy after {timeout:?}: {last_err}",
            self.kind.label()
        )
    }

    async fn probe(&self) -> anyhow::Result<Vec<u64>> {
        let mut ids = Vec::new();
        let mut leaders = Vec::new();
        for ep in self.endpoints() {
            let mut c = connect(&ep, Some(Duration::from_secs(1))).await?;
            let s = c.status().await.with_context(|| format!("status {ep}"))?;
            let id = s.header().map(|h| h.member_id()).unwrap_or_default();
            if s.leader() == 0 {
                bail!("{ep} has no leader");
            }
            leaders.push(s.leader());
            c.put("bench/health", ep.as_str(), None)
                .await
                .with_context(|| format!("put via {ep}"))?;
            ids.push(id);
        }
        if leaders.windows(2).any(|w| w[0] != w[1]) {
            bail!("members disagree on the leader: {leaders:x?}");
        }
        Ok(ids)
    }

    /// Index of the current leader, asked of the members in turn.
    pub async fn leader(&self) -> anyhow::Result<usize> {
        let mut last = None;
        for ep in self.endpoints() {
            let r = async {
                let mut c = connect(&ep, Some(Duration::from_secs(1))).await?;
                anyhow::Ok(c.status().await?.leader())
            }
            .await;
            match r {
                Ok(id) if id != 0 => {
                    return self
                        .members
                        .iter()
                        .position(|m| m.id == id)
                        .with_context(|| format!("leader id {id:x} is not a known member"));
                }
                Ok(_) => last = Some(anyhow::anyhow!("{ep}: no leader")),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no members")))
    }

    /// VmRSS of member `i` in KiB, from /proc.
    pub fn rss_kib(&self, i: usize) -> Option<u64> {
        let pid = self.members[i].pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            let _ = self.kill(i);
        }
    }
}

/// Last lines of a member's log, for error messages.
pub fn log_tail(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

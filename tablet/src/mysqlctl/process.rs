//! Spawning, watching and stopping the mariadbd child process.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{bootstrap, config, MysqlctlConfig, TabletDir};
use crate::error::{Error, Result};

/// What the supervisor knows about the child. Published on a watch channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MysqldState {
    NotStarted,
    Starting,
    Running {
        pid: u32,
    },
    Stopping,
    Stopped,
    /// The process exited without anyone asking it to.
    Crashed {
        status: String,
    },
}

impl MysqldState {
    pub fn is_alive(&self) -> bool {
        matches!(self, MysqldState::Running { .. })
    }
}

struct ChildHandle {
    pid: u32,
    stopping: Arc<AtomicBool>,
    supervisor: JoinHandle<()>,
}

/// One tablet's mariadbd. Dropping it kills a still-running child.
pub struct Mysqld {
    cfg: MysqlctlConfig,
    dir: TabletDir,
    state: Arc<watch::Sender<MysqldState>>,
    child: Mutex<Option<ChildHandle>>,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: plain syscall; a stale pid yields ESRCH, which we ignore.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

fn check_executable(path: &Path, what: &str) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(Error::Config(format!(
            "{what} path {} is not a file",
            path.display()
        ))),
        Err(e) => Err(Error::Config(format!(
            "{what} binary not found at {}: {e}",
            path.display()
        ))),
    }
}

impl Mysqld {
    pub fn new(cfg: MysqlctlConfig) -> Self {
        let dir = cfg.dir();
        let (state, _) = watch::channel(MysqldState::NotStarted);
        Mysqld {
            cfg,
            dir,
            state: Arc::new(state),
            child: Mutex::new(None),
        }
    }

    pub fn config(&self) -> &MysqlctlConfig {
        &self.cfg
    }

    pub fn dir(&self) -> &TabletDir {
        &self.dir
    }

    /// Follow the process state (crashes show up here as they happen).
    pub fn state(&self) -> watch::Receiver<MysqldState> {
        self.state.subscribe()
    }

    /// The child's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        match &*self.state.borrow() {
            MysqldState::Running { pid } => Some(*pid),
            _ => None,
        }
    }

    fn is_initialized(&self) -> bool {
        self.dir.data().join("mysql").is_dir()
    }

    /// Create the directory, write my.cnf and install the system tables.
    /// Idempotent: an initialised datadir only gets my.cnf rewritten.
    pub async fn init(&self) -> Result<()> {
        for d in [self.dir.base.clone(), self.dir.data(), self.dir.tmp()] {
            tokio::fs::create_dir_all(&d)
                .await
                .map_err(Error::io(format!("creating {}", d.display())))?;
        }
        let cnf = self.dir.my_cnf();
        tokio::fs::write(&cnf, config::render_my_cnf(&self.cfg))
            .await
            .map_err(Error::io(format!("writing {}", cnf.display())))?;
        if self.is_initialized() {
            return Ok(());
        }
        check_executable(&self.cfg.install_db_path, "mariadb-install-db")?;
        let mut cmd = Command::new(&self.cfg.install_db_path);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", self.dir.data().display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            // Unrecognised options go to the bootstrap mariadbd: keep its
            // temporary files in our own dir (concurrent installs collide in
            // a shared /tmp).
            .arg(format!("--tmpdir={}", self.dir.tmp().display()))
            .arg(format!(
                "--innodb-log-file-size={}",
                self.cfg.innodb_log_file_size
            ))
            .env("TMPDIR", self.dir.tmp())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if is_root() {
            cmd.arg("--user=root");
        }
        let out = cmd
            .output()
            .await
            .map_err(Error::io("running mariadb-install-db"))?;
        if !out.status.success() {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            return Err(Error::Config(format!(
                "mariadb-install-db failed ({}): {}",
                out.status,
                tail(&text, 20)
            )));
        }
        Ok(())
    }

    /// Spawn mariadbd and wait until it answers on the socket.
    pub async fn start(&self) -> Result<()> {
        if self.lock_child().is_some() {
            return Err(Error::Config("mariadbd is already running".into()));
        }
        check_executable(&self.cfg.mariadbd_path, "mariadbd")?;
        if !self.is_initialized() {
            return Err(Error::Config(format!(
                "datadir {} is not initialised; run init first",
                self.dir.data().display()
            )));
        }
        if let Err(e) = std::net::TcpListener::bind(("127.0.0.1", self.cfg.port)) {
            return Err(if e.kind() == std::io::ErrorKind::AddrInUse {
                Error::PortInUse {
                    port: self.cfg.port,
                }
            } else {
                Error::Config(format!("cannot bind 127.0.0.1:{}: {e}", self.cfg.port))
            });
        }
        let log_path = self.dir.error_log();
        let log_offset = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(Error::io(format!("opening {}", log_path.display())))?;
        let mut cmd = Command::new(&self.cfg.mariadbd_path);
        cmd.arg(format!("--defaults-file={}", self.dir.my_cnf().display()));
        if is_root() {
            cmd.arg("--user=root");
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(Error::io(format!(
            "spawning {}",
            self.cfg.mariadbd_path.display()
        )))?;
        let pid = child
            .id()
            .ok_or_else(|| Error::Unavailable("mariadbd exited immediately".into()))?;
        self.state.send_replace(MysqldState::Starting);
        let stopping = Arc::new(AtomicBool::new(false));
        let supervisor = tokio::spawn(supervise(child, stopping.clone(), self.state.clone()));
        *self.lock_child() = Some(ChildHandle {
            pid,
            stopping,
            supervisor,
        });

        match self.wait_ready(log_offset).await {
            Ok(()) => {
                self.state.send_if_modified(|s| {
                    let starting = *s == MysqldState::Starting;
                    if starting {
                        *s = MysqldState::Running { pid };
                    }
                    starting
                });
                tracing::info!(uid = %self.cfg.uid, pid, "mariadbd ready");
                Ok(())
            }
            Err(e) => {
                self.kill_child();
                Err(e)
            }
        }
    }

    async fn wait_ready(&self, log_offset: u64) -> Result<()> {
        let deadline = Instant::now() + self.cfg.start_timeout;
        let mut rx = self.state.subscribe();
        loop {
            let state = rx.borrow_and_update().clone();
            if let MysqldState::Crashed { status } = state {
                return Err(self.exit_error(status, log_offset));
            }
            if probe(&self.dir.socket()).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout(format!(
                    "mariadbd did not accept connections on {} within {:?}; error.log tail:\n{}",
                    self.dir.socket().display(),
                    self.cfg.start_timeout,
                    self.log_tail(log_offset)
                )));
            }
            tokio::select! {
                _ = rx.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }

    fn log_tail(&self, offset: u64) -> String {
        let text = std::fs::read(self.dir.error_log()).unwrap_or_default();
        let start = usize::try_from(offset).unwrap_or(0).min(text.len());
        tail(&String::from_utf8_lossy(&text[start..]), 20)
    }

    fn exit_error(&self, status: String, log_offset: u64) -> Error {
        let log_tail = self.log_tail(log_offset);
        if log_tail.contains("Address already in use") || log_tail.contains("Bind on TCP/IP port") {
            return Error::PortInUse {
                port: self.cfg.port,
            };
        }
        Error::MysqldExited { status, log_tail }
    }

    /// Clean shutdown: SIGTERM (mariadbd flushes and exits), then wait; after
    /// `stop_timeout` SIGKILL. Stopping a stopped server is a no-op.
    pub async fn stop(&self) -> Result<()> {
        let Some(handle) = self.lock_child().take() else {
            return Ok(());
        };
        handle.stopping.store(true, Ordering::SeqCst);
        let mut supervisor = handle.supervisor;
        if supervisor.is_finished() {
            return Ok(());
        }
        self.state.send_if_modified(|s| {
            let live = matches!(s, MysqldState::Running { .. } | MysqldState::Starting);
            if live {
                *s = MysqldState::Stopping;
            }
            live
        });
        signal(handle.pid, libc::SIGTERM);
        if tokio::time::timeout(self.cfg.stop_timeout, &mut supervisor)
            .await
            .is_err()
        {
            tracing::warn!(uid = %self.cfg.uid, "mariadbd ignored SIGTERM; killing");
            signal(handle.pid, libc::SIGKILL);
            let _ = supervisor.await;
        }
        Ok(())
    }

    pub async fn restart(&self) -> Result<()> {
        self.stop().await?;
        self.start().await
    }

    /// Forget a crashed child so `start` can run again.
    fn lock_child(&self) -> std::sync::MutexGuard<'_, Option<ChildHandle>> {
        let mut guard = self.child.lock().unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().is_some_and(|h| h.supervisor.is_finished()) {
            *guard = None;
        }
        guard
    }

    fn kill_child(&self) {
        if let Some(h) = self.lock_child().take() {
            h.stopping.store(true, Ordering::SeqCst);
            signal(h.pid, libc::SIGKILL);
            h.supervisor.abort();
            self.state.send_if_modified(|s| {
                let live = !matches!(s, MysqldState::Crashed { .. } | MysqldState::Stopped);
                if live {
                    *s = MysqldState::Stopped;
                }
                live
            });
        }
    }

    pub fn socket_opts(&self, user: &str, password: &str) -> mysql_async::OptsBuilder {
        mysql_async::OptsBuilder::default()
            .socket(Some(self.dir.socket().display().to_string()))
            .user(Some(user))
            .pass(Some(password))
            .prefer_socket(false)
    }

    pub fn dba_opts(&self) -> mysql_async::OptsBuilder {
        self.socket_opts("vt_dba", &self.cfg.credentials.dba_password)
    }

    pub fn app_opts(&self) -> mysql_async::OptsBuilder {
        self.socket_opts("vt_app", &self.cfg.credentials.app_password)
    }

    /// Create users and the `_vt` schema (see [`bootstrap`]). Connects as
    /// root without password (fresh install), else as vt_dba.
    pub async fn bootstrap(&self) -> Result<()> {
        let mut conn = match mysql_async::Conn::new(self.socket_opts("root", "")).await {
            Ok(c) => c,
            Err(_) => mysql_async::Conn::new(self.dba_opts()).await?,
        };
        for stmt in bootstrap::statements(&self.cfg.credentials) {
            conn.query_drop(stmt).await?;
        }
        conn.disconnect().await?;
        Ok(())
    }
}

impl Drop for Mysqld {
    fn drop(&mut self) {
        self.kill_child();
    }
}

/// True once the server answers on the socket, even if it refuses us.
async fn probe(socket: &Path) -> bool {
    let opts = mysql_async::OptsBuilder::default()
        .socket(Some(socket.display().to_string()))
        .user(Some("vt_probe"));
    match mysql_async::Conn::new(opts).await {
        Ok(conn) => {
            let _ = conn.disconnect().await;
            true
        }
        Err(mysql_async::Error::Server(_)) => true,
        Err(_) => false,
    }
}

async fn supervise(
    mut child: Child,
    stopping: Arc<AtomicBool>,
    state: Arc<watch::Sender<MysqldState>>,
) {
    let status = match child.wait().await {
        Ok(s) => s.to_string(),
        Err(e) => format!("wait failed: {e}"),
    };
    if stopping.load(Ordering::SeqCst) {
        state.send_replace(MysqldState::Stopped);
    } else {
        tracing::warn!(%status, "mariadbd exited unexpectedly");
        state.send_replace(MysqldState::Crashed { status });
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

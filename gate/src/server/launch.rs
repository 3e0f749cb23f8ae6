//! Wiring a whole gate: topology watch → executor → MySQL listener (+
//! metrics). Used by `vitrail gate` and by the integration tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use topo::kv::Kv;
use topo::layout::Layout;
use topo::records::KeyspaceShard;
use topo::server::Topo;

use super::threads::ConnThreads;
use super::{serve, Gate};
use crate::exec::{Executor, LocalTablets};
use crate::metrics::{self, Metrics};
use crate::topo_watch::Routing;
use crate::users::Users;

#[derive(Debug, Clone)]
pub struct GateConfig {
    pub cell: String,
    /// host:port for MySQL clients.
    pub mysql_addr: String,
    pub metrics_addr: Option<String>,
    pub users: Users,
    pub query_log: bool,
    /// Topology root prefix.
    pub root: String,
    /// How long PRIMARY statements wait for a new primary.
    pub buffer_window: Duration,
    /// Where CREATE DATABASE puts new databases; `None` = the default
    /// choice (the first shard of the first unsharded keyspace, else of the
    /// first keyspace, by name).
    pub create_database_host: Option<KeyspaceShard>,
    /// Tablets running in this process (`vitrail up`): called in memory
    /// instead of over gRPC, by the address they register.
    pub local_tablets: LocalTablets,
    /// Threads serving client connections, each with its own runtime (see
    /// `server::threads`); 0 serves them on the caller's runtime.
    pub conn_threads: usize,
}

impl GateConfig {
    pub fn new(cell: &str, mysql_addr: &str, users: Users) -> GateConfig {
        GateConfig {
            cell: cell.into(),
            mysql_addr: mysql_addr.into(),
            metrics_addr: None,
            users,
            query_log: false,
            root: topo::layout::DEFAULT_ROOT.into(),
            buffer_window: Duration::from_secs(10),
            create_database_host: None,
            local_tablets: LocalTablets::default(),
            conn_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot read the topology: {0}")]
    Topo(#[from] topo::kv::Error),
}

/// A running gate; dropping it stops serving.
pub struct RunningGate {
    pub mysql_addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub gate: Arc<Gate>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    threads: Arc<ConnThreads>,
}

impl RunningGate {
    /// Stops serving and waits until the connection threads are gone: after
    /// this no connection of the gate uses a tablet (`vitrail up` stops its
    /// tablets next, and a tablet's pool for a connection thread closes
    /// cleanly only on that thread's runtime).
    pub async fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
        self.threads.close().await;
    }
}

impl Drop for RunningGate {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.threads.stop_taking();
    }
}

async fn bind(addr: &str) -> Result<TcpListener, LaunchError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| LaunchError::Listen {
            addr: addr.to_string(),
            source,
        })
}

pub async fn start(kv: Arc<dyn Kv>, cfg: GateConfig) -> Result<RunningGate, LaunchError> {
    let listener = bind(&cfg.mysql_addr).await?;
    let metrics_listener = match &cfg.metrics_addr {
        Some(a) => Some(bind(a).await?),
        None => None,
    };
    let layout = Layout::new(&cfg.root);
    let (routing, watch_task) =
        Routing::start(kv.clone(), layout.clone(), cfg.cell.clone()).await?;
    let metrics = Arc::new(Metrics::default());
    let mut executor = Executor::with_local_tablets(routing, metrics.clone(), cfg.local_tablets);
    executor.buffer_window = cfg.buffer_window;
    let mut gate = Gate::new(executor, cfg.users, Some(Topo::with_layout(kv, layout)));
    gate.query_log = cfg.query_log;
    gate.create_database_host = cfg.create_database_host;
    let gate = Arc::new(gate);
    let mysql_addr = listener
        .local_addr()
        .map_err(|source| LaunchError::Listen {
            addr: cfg.mysql_addr.clone(),
            source,
        })?;
    let mut tasks = vec![watch_task];
    let g = gate.clone();
    let threads = Arc::new(ConnThreads::start(cfg.conn_threads, &gate));
    let t = threads.clone();
    tasks.push(tokio::spawn(async move {
        if let Err(e) = serve(listener, g, t).await {
            tracing::error!(error = %e, "MySQL listener failed");
        }
    }));
    let mut metrics_addr = None;
    if let Some(l) = metrics_listener {
        metrics_addr = l.local_addr().ok();
        tasks.push(tokio::spawn(metrics::serve(l, metrics)));
    }
    tracing::info!(%mysql_addr, cell = %cfg.cell, "gate serving MySQL");
    Ok(RunningGate {
        mysql_addr,
        metrics_addr,
        gate,
        tasks,
        threads,
    })
}

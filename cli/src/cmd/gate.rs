//! `vitrail gate`: the MySQL front door.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gate::server::launch::{start, GateConfig};
use gate::users::Users;
use topo::kv::EtcdKv;
use topo::records::KeyspaceShard;

#[derive(clap::Args)]
pub struct Args {
    /// Control-plane (etcd v3 API) endpoints: host:port[,host:port…].
    #[arg(long, default_value = "127.0.0.1:2379")]
    control: String,
    /// The cell whose serving graph and tablets this gate uses.
    #[arg(long, default_value = "zone1")]
    cell: String,
    /// host:port for MySQL clients.
    #[arg(long, default_value = "127.0.0.1:15306")]
    mysql_addr: String,
    /// Users file: `user:password` lines or JSON.
    #[arg(long)]
    users: PathBuf,
    /// host:port serving Prometheus metrics.
    #[arg(long)]
    metrics_addr: Option<String>,
    /// Log every statement with its plan, duration and outcome.
    #[arg(long)]
    query_log: bool,
    /// Topology root prefix in the KV.
    #[arg(long, default_value = "/vitrail/")]
    topo_root: String,
    /// Seconds PRIMARY statements wait for a new primary during a reparent.
    #[arg(long, default_value_t = 10)]
    buffer_secs: u64,
    /// KEYSPACE/SHARD whose MariaDB holds databases made by CREATE DATABASE
    /// (each becomes an unsharded keyspace served from that shard). Default:
    /// the first shard by name of the first unsharded keyspace by name, else
    /// of the first keyspace by name.
    #[arg(long)]
    create_database_host: Option<KeyspaceShard>,
    /// Threads serving MySQL client connections, each with its own
    /// single-threaded runtime (default: one per core; 0 serves them on
    /// the shared runtime).
    #[arg(long, env = "VITRAIL_CONN_THREADS")]
    conn_threads: Option<usize>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.users)
        .with_context(|| format!("reading users file {}", args.users.display()))?;
    let users = Users::parse(&text).with_context(|| format!("in {}", args.users.display()))?;
    let kv = EtcdKv::connect_list(&args.control)
        .await
        .with_context(|| format!("connecting to the control plane at {}", args.control))?;
    let mut cfg = GateConfig::new(&args.cell, &args.mysql_addr, users);
    cfg.metrics_addr = args.metrics_addr;
    cfg.query_log = args.query_log;
    cfg.root = args.topo_root;
    cfg.buffer_window = Duration::from_secs(args.buffer_secs);
    cfg.create_database_host = args.create_database_host;
    if let Some(n) = args.conn_threads {
        cfg.conn_threads = n;
    }
    tracing::info!(control = %args.control, cell = %cfg.cell, "reading the topology (waits for the control plane)");
    let running = start(Arc::new(kv), cfg).await?;
    tracing::info!(mysql = %running.mysql_addr, "vitrail gate started");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    tracing::info!("vitrail gate stopping");
    drop(running);
    Ok(())
}

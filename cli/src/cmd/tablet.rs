//! `vitrail tablet`: one tablet agent and the mariadbd it owns, until
//! SIGINT/SIGTERM. A clean stop revokes the lease (the `alive` key goes at
//! once), keeps the Tablet record, and stops mariadbd; the data directory
//! stays for the next start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use tablet::agent::{AgentConfig, TabletAgent};
use tablet::mysqlctl::Credentials;
use topo::records::TabletType;

#[derive(clap::Args)]
pub struct Args {
    /// Control-plane client endpoints, host:port[,host:port…].
    #[arg(long, default_value = "127.0.0.1:2379", env = "VITRAIL_CONTROL")]
    control: String,
    /// The tablet's cell.
    #[arg(long, default_value = "zone1")]
    cell: String,
    /// Unique id in the cell; also MariaDB's server_id.
    #[arg(long)]
    uid: u32,
    #[arg(long)]
    keyspace: String,
    /// Shard name, e.g. 0, -80, 80-.
    #[arg(long)]
    shard: String,
    /// replica or rdonly (a primary is made by `vitrail ctl shard init-primary`).
    #[arg(long = "type", default_value = "replica")]
    tablet_type: TabletType,
    /// Directory holding the tablet's `vt_<uid>/` (datadir, my.cnf, logs).
    #[arg(long)]
    root: PathBuf,
    /// Where QueryService and ReplicationService listen.
    #[arg(long, default_value = "127.0.0.1:16101")]
    grpc_addr: SocketAddr,
    /// mariadbd's TCP port on 127.0.0.1.
    #[arg(long, default_value_t = 17101)]
    mysql_port: u16,
    /// The host name other tablets and gates use to reach this tablet.
    #[arg(long, default_value = "127.0.0.1")]
    hostname: String,
    /// Lease TTL in seconds: the alive key vanishes this long after a crash.
    #[arg(long, default_value_t = 4)]
    lease_ttl_secs: u64,
    /// Password of the `vt_app` MariaDB user.
    #[arg(long, env = "VITRAIL_APP_PASSWORD", hide_env_values = true)]
    app_password: Option<String>,
    /// Password of the `vt_repl` MariaDB user (same on every tablet of a shard).
    #[arg(long, env = "VITRAIL_REPL_PASSWORD", hide_env_values = true)]
    repl_password: Option<String>,
    /// Password of the `vt_dba` MariaDB user.
    #[arg(long, env = "VITRAIL_DBA_PASSWORD", hide_env_values = true)]
    dba_password: Option<String>,
}

impl Args {
    fn config(self) -> anyhow::Result<AgentConfig> {
        let control: Vec<String> = self
            .control
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        anyhow::ensure!(!control.is_empty(), "--control names no endpoint");
        anyhow::ensure!(
            self.lease_ttl_secs >= 2,
            "--lease-ttl-secs must be at least 2"
        );
        let mut cfg = AgentConfig::new(
            control,
            self.cell,
            self.uid,
            self.keyspace,
            self.shard,
            self.root,
            self.grpc_addr,
            self.mysql_port,
        );
        cfg.initial_type = self.tablet_type;
        cfg.hostname = self.hostname;
        cfg.lease_ttl = Duration::from_secs(self.lease_ttl_secs);
        let defaults = Credentials::default();
        cfg.credentials = Credentials {
            app_password: self.app_password.unwrap_or(defaults.app_password),
            repl_password: self.repl_password.unwrap_or(defaults.repl_password),
            dba_password: self.dba_password.unwrap_or(defaults.dba_password),
        };
        Ok(cfg)
    }
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn stop_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let cfg = args.config()?;
    let what = format!("tablet {} ({}/{})", cfg.alias(), cfg.keyspace, cfg.shard);
    let agent = TabletAgent::start(cfg)
        .await
        .with_context(|| format!("starting {what}"))?;
    let role = agent.tablet().state.role();
    tracing::info!(
        alias = %agent.alias(),
        grpc = %agent.grpc_addr(),
        tablet_type = %role.tablet_type,
        "vitrail tablet serving"
    );
    stop_signal().await?;
    tracing::info!(alias = %agent.alias(), "vitrail tablet stopping");
    agent
        .shutdown()
        .await
        .with_context(|| format!("stopping {what}"))?;
    Ok(())
}

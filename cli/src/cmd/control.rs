//! `vitrail control`: one control-plane member.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use consensus::api::ApiConfig;
use consensus::node::NodeConfig;
use consensus::server::Server;

#[derive(clap::Args)]
pub struct Args {
    /// This member's name (unique in the cluster).
    #[arg(long, default_value = "default")]
    name: String,
    /// Where the Raft log, the KV store and snapshots live.
    #[arg(long, default_value = "default.vitrail")]
    data_dir: PathBuf,
    /// host:port for the etcd v3 API.
    #[arg(long, default_value = "127.0.0.1:2379")]
    client_addr: String,
    /// host:port for Raft traffic between members.
    #[arg(long, default_value = "127.0.0.1:2380")]
    peer_addr: String,
    /// Bootstrap members: name=host:peerport,… (absent: a one-node cluster).
    #[arg(long, default_value = "")]
    initial_cluster: String,
    /// `new` bootstraps a cluster; `existing` joins one this member was
    /// added to with `member add`.
    #[arg(long, default_value = "new")]
    initial_cluster_state: String,
    /// host:port serving Prometheus metrics (/metrics) and /health.
    #[arg(long)]
    metrics_addr: Option<String>,
    /// Raft heartbeat interval in milliseconds.
    #[arg(long, default_value_t = 50)]
    heartbeat_interval: u64,
    /// Minimum election timeout in milliseconds (the maximum is twice it).
    #[arg(long, default_value_t = 250)]
    election_timeout: u64,
    /// Raft entries between snapshots.
    #[arg(long, default_value_t = 20_000)]
    snapshot_count: u64,
    /// Seed a new, empty --data-dir from this snapshot file (from
    /// `etcdctl snapshot save`), then start as a new cluster.
    #[arg(long)]
    restore: Option<PathBuf>,
    /// Interval of progress notifications on watches that asked for them.
    #[arg(long, default_value_t = 600)]
    progress_notify_secs: u64,
}

/// Parses `n1=127.0.0.1:2380,n2=http://127.0.0.1:2480`.
pub fn parse_initial_cluster(s: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, url)) = part.split_once('=') else {
            bail!("--initial-cluster entry {part:?} is not name=host:port");
        };
        let addr = url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        if name.is_empty() || !addr.contains(':') {
            bail!("--initial-cluster entry {part:?} is not name=host:port");
        }
        out.push((name.to_string(), addr.to_string()));
    }
    Ok(out)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if let Some(snapshot) = &args.restore {
        consensus::store::restore(&args.data_dir, snapshot)
            .map_err(anyhow::Error::msg)
            .context("restoring")?;
        tracing::info!(snapshot = %snapshot.display(), "restored snapshot into {}", args.data_dir.display());
    }
    let mut cfg = NodeConfig::new(
        &args.name,
        &args.data_dir,
        &args.client_addr,
        &args.peer_addr,
    );
    cfg.initial_cluster = parse_initial_cluster(&args.initial_cluster)?;
    cfg.initial_cluster_new = match args.initial_cluster_state.as_str() {
        "new" => true,
        "existing" => false,
        other => bail!("--initial-cluster-state must be new or existing, not {other:?}"),
    };
    cfg.heartbeat_ms = args.heartbeat_interval;
    cfg.election_timeout_ms = args.election_timeout;
    cfg.snapshot_entries = args.snapshot_count;
    let api = ApiConfig {
        progress_notify_interval: Duration::from_secs(args.progress_notify_secs.max(1)),
    };
    let server = Server::start(cfg, api, args.metrics_addr.clone())
        .await
        .context("starting control node")?;
    tracing::info!(
        name = %args.name,
        id = format!("{:x}", server.node().id()),
        client = %server.client_addr(),
        peer = %server.peer_addr(),
        "control node serving"
    );
    wait_for_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_cluster_parsing() {
        let c = parse_initial_cluster("n1=127.0.0.1:2380,n2=http://127.0.0.1:2480/").unwrap();
        assert_eq!(
            c,
            vec![
                ("n1".into(), "127.0.0.1:2380".into()),
                ("n2".into(), "127.0.0.1:2480".into())
            ]
        );
        assert!(parse_initial_cluster("n1").is_err());
        assert!(parse_initial_cluster("=1.2.3.4:1").is_err());
        assert!(parse_initial_cluster("").unwrap().is_empty());
    }
}

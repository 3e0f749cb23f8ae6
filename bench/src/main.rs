//! `bench`: drives any etcd v3 endpoint with one client implementation
//! (the `etcd-client` crate) so vitrail's control plane and etcd are measured
//! the same way. `bench compare` starts a 3-member cluster of each on this
//! machine, runs every workload against both and prints a markdown table;
//! the other subcommands run one workload against `--endpoints`.

mod checkperf;
mod cluster;
mod compare;
mod failover;
mod load;
mod report;
mod stats;
mod watch;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::Serialize;

#[derive(Parser)]
#[command(about = "Control-plane benchmark against etcd v3 endpoints")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct Target {
    /// Client endpoints, host:port (no scheme), comma separated.
    #[arg(long, value_delimiter = ',', required = true)]
    endpoints: Vec<String>,
    /// Print a one-line table instead of JSON.
    #[arg(long)]
    table: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Closed-loop puts: `clients` requests in flight over `conns` connections.
    Put {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 1)]
        clients: usize,
        #[arg(long, default_value_t = 1)]
        conns: usize,
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
        #[arg(long, default_value_t = 256)]
        value_size: usize,
        #[arg(long, default_value_t = 100_000)]
        key_space: u64,
    },
    /// Closed-loop single-key range reads.
    Range {
        #[command(flatten)]
        target: Target,
        /// l = linearizable, s = serializable.
        #[arg(long, default_value = "l")]
        consistency: String,
        #[arg(long, default_value_t = 50)]
        clients: usize,
        #[arg(long, default_value_t = 8)]
        conns: usize,
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
    },
    /// Put issued → watch event received latency.
    Watch {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 1000)]
        events: u64,
        /// Puts per second.
        #[arg(long, default_value_t = 200)]
        rate: u64,
    },
    /// MoveLeader under a steady put load; worst stalled put.
    Transfer {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 3)]
        trials: usize,
        #[arg(long, default_value_t = 10)]
        clients: usize,
    },
    /// Start a 3-member etcd and vitrail cluster and run everything on both.
    Compare(Box<CompareArgs>),
}

#[derive(clap::Args)]
struct CompareArgs {
    /// The `vitrail` binary (default: next to this one).
    #[arg(long)]
    vitrail_bin: Option<PathBuf>,
    /// Extra flags for every `vitrail control` member, e.g. "--heartbeat-interval=50".
    #[arg(long, allow_hyphen_values = true, value_delimiter = ' ')]
    vitrail_args: Vec<String>,
    #[arg(long, default_value = "/usr/bin/etcd")]
    etcd_bin: PathBuf,
    #[arg(long, default_value = "/usr/bin/etcdctl")]
    etcdctl_bin: PathBuf,
    /// Which systems to run, in order.
    #[arg(long, value_delimiter = ',', default_value = "etcd,vitrail")]
    systems: Vec<String>,
    /// Seconds per throughput workload.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    #[arg(long, value_delimiter = ',', default_value = "50,200,500")]
    put_clients: Vec<usize>,
    #[arg(long, default_value_t = 50)]
    range_clients: usize,
    /// gRPC connections shared by the clients of a concurrent workload.
    #[arg(long, default_value_t = 8)]
    conns: usize,
    #[arg(long, default_value_t = 256)]
    value_size: usize,
    #[arg(long, default_value_t = 1000)]
    watch_events: u64,
    #[arg(long, default_value_t = 200)]
    watch_rate: u64,
    #[arg(long, default_value_t = 5)]
    kill_trials: usize,
    /// Per-put timeout while waiting for writes to resume after a kill.
    #[arg(long, default_value_t = 100)]
    kill_req_timeout_ms: u64,
    #[arg(long, default_value_t = 5)]
    transfer_trials: usize,
    #[arg(long, default_value_t = 10)]
    transfer_clients: usize,
    /// `etcdctl check perf` loads to run (empty: none).
    #[arg(long, value_delimiter = ',', default_value = "s,m,l")]
    check_perf: Vec<String>,
    /// Keep data and logs here instead of a temporary directory.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Write the markdown table here.
    #[arg(long)]
    out_md: Option<PathBuf>,
    /// Write every figure as JSON here.
    #[arg(long)]
    out_json: Option<PathBuf>,
    /// Replace the table between the bench-control markers in this file.
    #[arg(long)]
    update_doc: Option<PathBuf>,
}

fn print<T: Serialize + std::fmt::Debug>(v: &T, table: bool) -> anyhow::Result<()> {
    if table {
        println!("{v:?}");
    } else {
        println!("{}", serde_json::to_string_pretty(v)?);
    }
    Ok(())
}

fn summary_line(s: &stats::Summary) -> String {
    format!(
        "ops={} errors={} secs={:.1} ops/s={:.0} p50={:.2}ms p99={:.2}ms p99.9={:.2}ms max={:.2}ms",
        s.ops, s.errors, s.secs, s.ops_per_sec, s.p50_ms, s.p99_ms, s.p999_ms, s.max_ms
    )
}

fn emit(s: &stats::Summary, table: bool) -> anyhow::Result<()> {
    if table {
        println!("{}", summary_line(s));
        Ok(())
    } else {
        print(s, false)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Put {
            target,
            clients,
            conns,
            duration_secs,
            value_size,
            key_space,
        } => {
            let spec = load::LoadSpec {
                op: load::Op::Put,
                clients,
                conns,
                duration: Duration::from_secs(duration_secs),
                key_space,
                value_size,
            };
            emit(&load::run(&target.endpoints, &spec).await?, target.table)
        }
        Cmd::Range {
            target,
            consistency,
            clients,
            conns,
            duration_secs,
        } => {
            let op = match consistency.as_str() {
                "l" => load::Op::RangeL,
                "s" => load::Op::RangeS,
                other => anyhow::bail!("--consistency must be l or s, not {other:?}"),
            };
            let spec = load::LoadSpec {
                op,
                clients,
                conns,
                duration: Duration::from_secs(duration_secs),
                key_space: 1,
                value_size: 256,
            };
            emit(&load::run(&target.endpoints, &spec).await?, target.table)
        }
        Cmd::Watch {
            target,
            events,
            rate,
        } => emit(
            &watch::run(&target.endpoints, events, rate).await?,
            target.table,
        ),
        Cmd::Transfer {
            target,
            trials,
            clients,
        } => {
            let mut out = Vec::new();
            for _ in 0..trials {
                let t = failover::transfer_trial(
                    &target.endpoints,
                    clients,
                    Duration::from_millis(1500),
                    Duration::from_millis(1500),
                )
                .await?;
                if target.table {
                    println!("{t:?}");
                }
                out.push(t);
            }
            if !target.table {
                print(&out, false)?;
            }
            Ok(())
        }
        Cmd::Compare(a) => compare_cmd(*a).await,
    }
}

async fn compare_cmd(a: CompareArgs) -> anyhow::Result<()> {
    let vitrail_bin = match a.vitrail_bin {
        Some(p) => p,
        None => std::env::current_exe()
            .context("locating this binary")?
            .parent()
            .context("this binary has no parent directory")?
            .join("vitrail"),
    };
    let cfg = compare::Config {
        vitrail_bin,
        vitrail_args: a
            .vitrail_args
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect(),
        etcd_bin: a.etcd_bin,
        etcdctl_bin: a.etcdctl_bin,
        duration: Duration::from_secs(a.duration_secs),
        put_clients: a.put_clients,
        range_clients: a.range_clients,
        conns: a.conns,
        value_size: a.value_size,
        watch_events: a.watch_events,
        watch_rate: a.watch_rate,
        kill_trials: a.kill_trials,
        kill_req_timeout: Duration::from_millis(a.kill_req_timeout_ms),
        transfer_trials: a.transfer_trials,
        transfer_clients: a.transfer_clients,
        check_perf: a.check_perf.into_iter().filter(|s| !s.is_empty()).collect(),
        systems: a.systems,
        work_dir: a.work_dir,
    };
    // Dropping the comparison on a signal drops its clusters, which kills
    // every member process it started.
    let report = tokio::select! {
        r = compare::run(&cfg) => r?,
        _ = shutdown_signal() => anyhow::bail!("interrupted; stopped every member started"),
    };
    let md = report::markdown(&report);
    println!("{md}");
    if let Some(p) = &a.out_md {
        std::fs::write(p, &md).with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &a.out_json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(p, json).with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &a.update_doc {
        report::update_doc(p, &md)?;
    }
    Ok(())
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

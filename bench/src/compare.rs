//! `bench compare`: a 3-member etcd cluster and a 3-member vitrail cluster,
//! one after the other on this machine, every workload against each.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use crate::checkperf::{self, CheckPerf};
use crate::cluster::{log_tail, Cluster, Kind};
use crate::failover::{self, KillTrial, TransferTrial};
use crate::load::{self, LoadSpec, Op};
use crate::stats::Summary;
use crate::watch;

/// A workload's result or why it failed (kept so one failure does not hide
/// the rest of the run).
pub type Res<T> = Result<T, String>;

#[derive(Clone, Debug)]
pub struct Config {
    pub vitrail_bin: PathBuf,
    pub vitrail_args: Vec<String>,
    pub etcd_bin: PathBuf,
    pub etcdctl_bin: PathBuf,
    pub duration: Duration,
    pub put_clients: Vec<usize>,
    pub range_clients: usize,
    pub conns: usize,
    pub value_size: usize,
    pub watch_events: u64,
    pub watch_rate: u64,
    pub kill_trials: usize,
    pub kill_req_timeout: Duration,
    pub transfer_trials: usize,
    pub transfer_clients: usize,
    pub check_perf: Vec<String>,
    pub systems: Vec<String>,
    pub work_dir: Option<PathBuf>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ClusterReport {
    pub system: String,
    pub version: String,
    pub startup_ms: f64,
    pub seq_put: Option<Res<Summary>>,
    pub puts: Vec<(usize, Res<Summary>)>,
    pub range_l: Option<Res<Summary>>,
    pub range_s: Option<Res<Summary>>,
    pub watch: Option<Res<Summary>>,
    pub rss_after_load_kib: Vec<Option<u64>>,
    pub transfer: Vec<Res<TransferTrial>>,
    pub kill: Vec<Res<KillTrial>>,
    pub check_perf: Vec<Res<CheckPerf>>,
    pub rss_after_check_perf_kib: Vec<Option<u64>>,
    /// Members found dead between workloads (and restarted).
    pub crashes: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub config: String,
    pub loadavg_start: String,
    pub loadavg_end: String,
    pub clusters: Vec<ClusterReport>,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn version(bin: &PathBuf, arg: &str) -> String {
    std::process::Command::new(bin)
        .arg(arg)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

pub async fn run(cfg: &Config) -> anyhow::Result<Report> {
    let tmp;
    let dir = match &cfg.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => {
            tmp = tempfile::Builder::new()
                .prefix("vitrail-bench-")
                .tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let loadavg_start = loadavg();
    let mut clusters = Vec::new();
    for system in &cfg.systems {
        let kind = match system.as_str() {
            "etcd" => Kind::Etcd {
                bin: cfg.etcd_bin.clone(),
            },
            "vitrail" => Kind::Vitrail {
                bin: cfg.vitrail_bin.clone(),
                extra: cfg.vitrail_args.clone(),
            },
            other => anyhow::bail!("unknown system {other:?} (etcd or vitrail)"),
        };
        let sub = dir.join(system);
        std::fs::create_dir_all(&sub)?;
        clusters.push(run_one(cfg, kind, &sub).await?);
    }
    Ok(Report {
        config: format!("{cfg:?}"),
        loadavg_start,
        loadavg_end: loadavg(),
        clusters,
    })
}

fn log(msg: &str) {
    eprintln!("[bench {:>8}] {msg}", chrono_like_now());
}

fn chrono_like_now() -> String {
    use std::sync::OnceLock;
    static START: OnceLock<Instant> = OnceLock::new();
    format!(
        "{:.1}s",
        START.get_or_init(Instant::now).elapsed().as_secs_f64()
    )
}

/// Restarts members that died since the last workload and records it.
async fn ensure_up(cluster: &mut Cluster, report: &mut ClusterReport, after: &str) {
    if let Err(e) = cluster.check_alive() {
        let msg = format!("after {after}: {e:#}");
        log(&msg);
        report.crashes.push(msg);
        for i in 0..cluster.members.len() {
            let dead = cluster.members[i].pid().is_none() || cluster.rss_kib(i).is_none();
            if dead {
                let _ = cluster.restart(i);
            }
        }
    }
    if let Err(e) = cluster.wait_healthy(Duration::from_secs(60)).await {
        report
            .crashes
            .push(format!("after {after}: not healthy: {e:#}"));
    }
}

async fn run_one(cfg: &Config, kind: Kind, dir: &std::path::Path) -> anyhow::Result<ClusterReport> {
    let mut r = ClusterReport {
        system: kind.label().to_string(),
        ..Default::default()
    };
    r.version = match &kind {
        Kind::Etcd { bin } => version(bin, "--version"),
        Kind::Vitrail { bin, .. } => version(bin, "--version"),
    };
    log(&format!(
        "starting 3-member {} cluster in {}",
        r.system,
        dir.display()
    ));
    let t = Instant::now();
    let mut cluster = Cluster::start(kind, 3, dir)?;
    if let Err(e) = cluster.wait_healthy(Duration::from_secs(60)).await {
        let tails: Vec<String> = cluster
            .members
            .iter()
            .map(|m| format!("--- {} ---\n{}", m.name, log_tail(&m.log)))
            .collect();
        return Err(e.context(tails.join("\n")));
    }
    r.startup_ms = t.elapsed().as_secs_f64() * 1000.0;
    let eps = cluster.endpoints();
    log(&format!(
        "healthy in {:.0} ms at {}",
        r.startup_ms,
        eps.join(",")
    ));
    let spec = |op, clients: usize, conns| LoadSpec {
        op,
        clients,
        conns,
        duration: cfg.duration,
        key_space: 100_000,
        value_size: cfg.value_size,
    };

    log("sequential put, 1 client");
    r.seq_put = Some(
        load::run(&eps, &spec(Op::Put, 1, 1))
            .await
            .map_err(|e| format!("{e:#}")),
    );
    ensure_up(&mut cluster, &mut r, "sequential put").await;
    for &c in &cfg.put_clients {
        log(&format!("put, {c} clients over {} conns", cfg.conns));
        let res = load::run(&eps, &spec(Op::Put, c, cfg.conns))
            .await
            .map_err(|e| format!("{e:#}"));
        r.puts.push((c, res));
        ensure_up(&mut cluster, &mut r, &format!("put {c}")).await;
    }
    log(&format!(
        "linearizable range, {} clients",
        cfg.range_clients
    ));
    r.range_l = Some(
        load::run(&eps, &spec(Op::RangeL, cfg.range_clients, cfg.conns))
            .await
            .map_err(|e| format!("{e:#}")),
    );
    log(&format!(
        "serializable range, {} clients",
        cfg.range_clients
    ));
    r.range_s = Some(
        load::run(&eps, &spec(Op::RangeS, cfg.range_clients, cfg.conns))
            .await
            .map_err(|e| format!("{e:#}")),
    );
    ensure_up(&mut cluster, &mut r, "range").await;
    log("watch latency");
    r.watch = Some(
        watch::run(&eps, cfg.watch_events, cfg.watch_rate)
            .await
            .map_err(|e| format!("{e:#}")),
    );
    r.rss_after_load_kib = (0..cluster.members.len())
        .map(|i| cluster.rss_kib(i))
        .collect();
    ensure_up(&mut cluster, &mut r, "watch").await;

    for i in 0..cfg.transfer_trials {
        log(&format!("planned leader transfer, trial {}", i + 1));
        let res = failover::transfer_trial(
            &eps,
            cfg.transfer_clients,
            Duration::from_millis(1500),
            Duration::from_millis(1500),
        )
        .await
        .map_err(|e| format!("{e:#}"));
        let unsupported = matches!(&res, Ok(t) if t.outcome.to_lowercase().contains("not supported") || t.outcome.contains("Unimplemented"));
        r.transfer.push(res);
        ensure_up(&mut cluster, &mut r, "transfer").await;
        if unsupported {
            break;
        }
    }
    for i in 0..cfg.kill_trials {
        log(&format!("leader kill -9, trial {}", i + 1));
        let res = failover::kill_trial(&mut cluster, cfg.kill_req_timeout)
            .await
            .map_err(|e| format!("{e:#}"));
        r.kill.push(res);
        ensure_up(&mut cluster, &mut r, "kill").await;
    }
    for load in &cfg.check_perf {
        log(&format!("etcdctl check perf --load={load}"));
        let res = checkperf::run(&cfg.etcdctl_bin, &eps, load)
            .await
            .map_err(|e| format!("{e:#}"));
        if let Ok(c) = &res {
            log(&c.lines.join(" | "));
        }
        r.check_perf.push(res);
        ensure_up(&mut cluster, &mut r, &format!("check perf {load}")).await;
    }
    r.rss_after_check_perf_kib = (0..cluster.members.len())
        .map(|i| cluster.rss_kib(i))
        .collect();
    log(&format!("stopping {}", r.system));
    drop(cluster);
    Ok(r)
}

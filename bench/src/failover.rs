//! Leader changes: SIGKILL of the leader (time until a write succeeds again)
//! and a planned MoveLeader under a steady put load (worst stalled request).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use etcd_client::Client;
use serde::{Deserialize, Serialize};

use crate::cluster::Cluster;
use crate::load::{connect, connect_pool, KEY_PREFIX};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct KillTrial {
    /// SIGKILL of the leader → first put that succeeded, in ms.
    pub resume_ms: f64,
    /// Puts that failed or timed out before that.
    pub failed_attempts: u64,
}

/// SIGKILLs the leader, loops puts with `req_timeout` against the survivors
/// until one succeeds, then restarts the killed member and waits healthy.
pub async fn kill_trial(cluster: &mut Cluster, req_timeout: Duration) -> anyhow::Result<KillTrial> {
    let leader = cluster.leader().await?;
    let mut survivors = Vec::new();
    for (i, m) in cluster.members.iter().enumerate() {
        if i != leader {
            let mut c = connect(&m.endpoint(), Some(req_timeout)).await?;
            c.status()
                .await
                .with_context(|| format!("warming {}", m.endpoint()))?;
            survivors.push(c);
        }
    }
    if survivors.is_empty() {
        bail!("no surviving member to write to");
    }
    let t0 = Instant::now();
    cluster.kill(leader)?;
    let mut failed = 0u64;
    let resume = loop {
        if t0.elapsed() > Duration::from_secs(60) {
            bail!("no write succeeded within 60 s of killing the leader");
        }
        let idx = usize::try_from(failed).unwrap_or(0) % survivors.len();
        let c = &mut survivors[idx];
        let attempt = Instant::now();
        match tokio::time::timeout(
            req_timeout,
            c.put(format!("{KEY_PREFIX}failover"), "x", None),
        )
        .await
        {
            Ok(Ok(_)) => break t0.elapsed(),
            _ => {
                failed += 1;
                // A fast rejection ("no leader"): do not spin.
                if attempt.elapsed() < Duration::from_millis(5) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    };
    cluster.restart(leader)?;
    cluster.wait_healthy(Duration::from_secs(60)).await?;
    Ok(KillTrial {
        resume_ms: resume.as_secs_f64() * 1000.0,
        failed_attempts: failed,
    })
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TransferTrial {
    /// MoveLeader's outcome: "ok" or the error text.
    pub outcome: String,
    /// How long the MoveLeader call took, in ms.
    pub move_ms: f64,
    /// Longest put that overlapped [MoveLeader sent, answered + 500 ms].
    pub worst_in_window_ms: f64,
    /// Longest put outside that window (the baseline).
    pub worst_outside_ms: f64,
    /// Failed puts during the whole trial.
    pub errors: u64,
    /// Puts completed during the trial.
    pub puts: u64,
    pub leader_changed: bool,
}

/// Member IDs and current leader ID, by asking every endpoint for Status.
async fn ids_and_leader(endpoints: &[String]) -> anyhow::Result<(Vec<u64>, u64)> {
    let mut ids = Vec::new();
    let mut leader = 0;
    for ep in endpoints {
        let mut c = connect(ep, Some(Duration::from_secs(2))).await?;
        let s = c.status().await.with_context(|| format!("status {ep}"))?;
        ids.push(s.header().map(|h| h.member_id()).unwrap_or_default());
        if s.leader() != 0 {
            leader = s.leader();
        }
    }
    if leader == 0 {
        bail!("no leader");
    }
    Ok((ids, leader))
}

/// Runs `clients` closed-loop putters for `before`, asks the leader to hand
/// over to the next member, and keeps the load for `after`.
pub async fn transfer_trial(
    endpoints: &[String],
    clients: usize,
    before: Duration,
    after: Duration,
) -> anyhow::Result<TransferTrial> {
    let (ids, leader_id) = ids_and_leader(endpoints).await?;
    let li = ids
        .iter()
        .position(|&id| id == leader_id)
        .context("leader is not among the endpoints")?;
    let target = ids[(li + 1) % ids.len()];
    let mut leader_client = connect(&endpoints[li], Some(Duration::from_secs(15))).await?;

    let pool = connect_pool(endpoints, endpoints.len()).await?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..clients.max(1) {
        let mut c: Client = pool[i % pool.len()].clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut spans = Vec::new();
            let mut errors = 0u64;
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                let r = c
                    .put(format!("{KEY_PREFIX}transfer/{i}"), n.to_string(), None)
                    .await;
                spans.push((t, Instant::now()));
                n += 1;
                if r.is_err() {
                    errors += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            (spans, errors)
        }));
    }
    tokio::time::sleep(before).await;
    let m0 = Instant::now();
    let outcome = match leader_client.move_leader(target).await {
        Ok(_) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    let m1 = Instant::now();
    tokio::time::sleep(after).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let window_end = m1 + Duration::from_millis(500);
    let mut t = TransferTrial {
        outcome,
        move_ms: (m1 - m0).as_secs_f64() * 1000.0,
        ..Default::default()
    };
    for task in tasks {
        let (spans, errors) = task.await.context("load task panicked")?;
        t.errors += errors;
        t.puts += spans.len() as u64;
        for (s, e) in spans {
            let ms = (e - s).as_secs_f64() * 1000.0;
            if s <= window_end && e >= m0 {
                t.worst_in_window_ms = t.worst_in_window_ms.max(ms);
            } else {
                t.worst_outside_ms = t.worst_outside_ms.max(ms);
            }
        }
    }
    let (_, new_leader) = ids_and_leader(endpoints)
        .await
        .unwrap_or((Vec::new(), leader_id));
    t.leader_changed = new_leader != leader_id;
    Ok(t)
}

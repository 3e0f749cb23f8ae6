//! Watch event latency: one watcher on endpoint 0, one writer putting
//! sequence-numbered values at a fixed rate through endpoint 1 (the same
//! endpoint when there is only one). Latency = watcher receives the event −
//! the writer issued the put, so it includes the commit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use etcd_client::WatchOptions;

use crate::load::connect;
use crate::stats::{Latencies, Summary};

const WATCH_PREFIX: &str = "bench/watch/";

pub async fn run(endpoints: &[String], events: u64, rate: u64) -> anyhow::Result<Summary> {
    let Some(first) = endpoints.first() else {
        bail!("no endpoints")
    };
    let writer_ep = endpoints.get(1).unwrap_or(first);
    let mut watcher = connect(first, None).await?;
    let mut writer = connect(writer_ep, Some(Duration::from_secs(10))).await?;
    let mut stream = watcher
        .watch(WATCH_PREFIX, Some(WatchOptions::new().with_prefix()))
        .await
        .context("creating the watch")?;
    // Wait for the `created` response so no event is missed.
    loop {
        match stream.message().await.context("watch stream")? {
            Some(r) if r.created() => break,
            Some(_) => continue,
            None => bail!("watch stream closed before it was created"),
        }
    }

    let sent: Arc<Mutex<HashMap<u64, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let sent_w = sent.clone();
    let interval = Duration::from_micros(1_000_000 / rate.max(1));
    let start = Instant::now();
    let writer_task = tokio::spawn(async move {
        let mut errors = 0u64;
        let mut tick = tokio::time::interval(interval);
        for seq in 0..events {
            tick.tick().await;
            if let Ok(mut m) = sent_w.lock() {
                m.insert(seq, Instant::now());
            }
            if writer
                .put(format!("{WATCH_PREFIX}{}", seq % 64), seq.to_string(), None)
                .await
                .is_err()
            {
                errors += 1;
            }
        }
        errors
    });

    let mut lat = Latencies::new();
    let mut received = 0u64;
    let overall = Duration::from_secs(10) + interval * u32::try_from(events).unwrap_or(u32::MAX);
    let recv = async {
        while received < events {
            let Some(resp) = stream.message().await.context("watch stream")? else {
                bail!("watch stream closed after {received} events");
            };
            let now = Instant::now();
            for ev in resp.events() {
                let Some(kv) = ev.kv() else { continue };
                let Ok(seq) = kv.value_str().unwrap_or_default().parse::<u64>() else {
                    continue;
                };
                let t0 = sent.lock().ok().and_then(|mut m| m.remove(&seq));
                if let Some(t0) = t0 {
                    lat.record(now.saturating_duration_since(t0));
                    received += 1;
                }
            }
        }
        Ok(())
    };
    let outcome = tokio::time::timeout(overall, recv).await;
    let errors = writer_task.await.context("writer task panicked")?;
    match outcome {
        Ok(r) => r?,
        // Failed puts never produce an event; report them as errors.
        Err(_) if received > 0 => {}
        Err(_) => bail!("watch: no event arrived in {overall:?} ({errors} put errors)"),
    }
    Ok(lat.summary(start.elapsed(), errors.max(events - received)))
}

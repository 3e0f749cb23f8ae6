//! Closed-loop load: `clients` tasks keep one request in flight each and
//! share `conns` gRPC connections, like etcd's `benchmark --conns --clients`.
//! Connection `i` talks to endpoint `i % endpoints.len()`; followers forward
//! writes to the leader on both etcd and vitrail.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use etcd_client::{Client, ConnectOptions, GetOptions};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::stats::{Latencies, Summary};

/// One endpoint per gRPC connection, `host:port` (no scheme).
pub async fn connect(endpoint: &str, timeout: Option<Duration>) -> anyhow::Result<Client> {
    let mut opts = ConnectOptions::new().with_connect_timeout(Duration::from_secs(2));
    if let Some(t) = timeout {
        opts = opts.with_timeout(t);
    }
    Client::connect([endpoint], Some(opts))
        .await
        .with_context(|| format!("connecting to {endpoint}"))
}

/// `conns` clients spread round-robin over `endpoints`.
pub async fn connect_pool(endpoints: &[String], conns: usize) -> anyhow::Result<Vec<Client>> {
    if endpoints.is_empty() {
        bail!("no endpoints");
    }
    let mut pool = Vec::with_capacity(conns.max(1));
    for i in 0..conns.max(1) {
        pool.push(
            connect(
                &endpoints[i % endpoints.len()],
                Some(Duration::from_secs(30)),
            )
            .await?,
        );
    }
    Ok(pool)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Op {
    Put,
    /// Linearizable range (read index through the leader).
    RangeL,
    /// Serializable range (member-local).
    RangeS,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadSpec {
    pub op: Op,
    pub clients: usize,
    pub conns: usize,
    pub duration: Duration,
    pub key_space: u64,
    pub value_size: usize,
}

pub const KEY_PREFIX: &str = "bench/";
pub const RANGE_KEY: &str = "bench/range";

/// Runs `spec` against `endpoints` and returns throughput and latency.
pub async fn run(endpoints: &[String], spec: &LoadSpec) -> anyhow::Result<Summary> {
    let pool = connect_pool(endpoints, spec.conns).await?;
    let value: Arc<Vec<u8>> = Arc::new(vec![b'v'; spec.value_size]);
    if spec.op != Op::Put {
        let mut c = pool[0].clone();
        c.put(RANGE_KEY, value.as_slice(), None)
            .await
            .context("seeding the range key")?;
    }
    let start = Instant::now();
    let deadline = start + spec.duration;
    let mut tasks = Vec::with_capacity(spec.clients);
    for i in 0..spec.clients.max(1) {
        let mut client = pool[i % pool.len()].clone();
        let value = value.clone();
        let spec = spec.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Latencies::new();
            let mut errors = 0u64;
            let mut rng = rand::rngs::StdRng::from_entropy();
            while Instant::now() < deadline {
                let t = Instant::now();
                let res = match spec.op {
                    Op::Put => {
                        let k =
                            format!("{KEY_PREFIX}{:08}", rng.gen_range(0..spec.key_space.max(1)));
                        client.put(k, value.as_slice(), None).await.map(|_| ())
                    }
                    Op::RangeL => client.get(RANGE_KEY, None).await.map(|_| ()),
                    Op::RangeS => client
                        .get(RANGE_KEY, Some(GetOptions::new().with_serializable()))
                        .await
                        .map(|_| ()),
                };
                match res {
                    Ok(()) => lat.record(t.elapsed()),
                    Err(_) => {
                        errors += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Latencies::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.context("load task panicked")?;
        all.merge(&lat);
        errors += e;
    }
    let elapsed = start.elapsed();
    if all.count() == 0 {
        bail!("no request succeeded ({errors} errors)");
    }
    Ok(all.summary(elapsed, errors))
}

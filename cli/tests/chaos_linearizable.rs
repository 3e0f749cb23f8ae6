//! Linearizability under faults: concurrent etcd clients against a real
//! 3-process cluster while the leader is killed with SIGKILL and restarted,
//! and members are cut off from each other with nftables (each member on
//! its own 127.0.0.x address). The recorded history — timeouts recorded as
//! unknown outcomes — must be linearizable per key, and write revisions must
//! be unique and respect real time.

mod support;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use linearize::kv::{write_revisions, KvInput, KvModel, KvOutput};
use linearize::revisions::check_revisions;
use linearize::{check, Budget, ClientId, History};
use rand::{Rng, SeedableRng};
use support::ProcCluster;

type Hist = History<KvInput<String, u64>, KvOutput<u64>>;

/// Keys the clients spread over (each is checked as its own partition).
const KEYS: u32 = 12;
/// Upper bound on the operations one client issues during the run.
const MAX_OPS_PER_CLIENT: u32 = 1_500;

/// nftables rules in a table of our own, removed on drop.
struct Firewall {
    table: String,
}

impl Firewall {
    fn new() -> Firewall {
        let table = format!("vitrail_chaos_{}", std::process::id());
        nft(&["add", "table", "inet", &table]);
        nft(&[
            "add",
            "chain",
            "inet",
            &table,
            "out",
            "{ type filter hook output priority 0; policy accept; }",
        ]);
        Firewall { table }
    }

    /// Drops all traffic between `ip` and each of `others`, both ways.
    fn isolate(&self, ip: &str, others: &[&str]) {
        for o in others {
            nft(&[
                "add",
                "rule",
                "inet",
                &self.table,
                "out",
                "ip",
                "saddr",
                ip,
                "ip",
                "daddr",
                o,
                "drop",
            ]);
            nft(&[
                "add",
                "rule",
                "inet",
                &self.table,
                "out",
                "ip",
                "saddr",
                o,
                "ip",
                "daddr",
                ip,
                "drop",
            ]);
        }
    }

    fn heal(&self) {
        nft(&["flush", "chain", "inet", &self.table, "out"]);
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.table])
            .status();
    }
}

fn nft(args: &[&str]) {
    let out = Command::new("nft")
        .args(args)
        .output()
        .expect("nft (nftables) must be installed; tests run as root");
    assert!(
        out.status.success(),
        "nft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn leader_index(c: &ProcCluster) -> Option<usize> {
    for i in 0..c.procs.len() {
        if c.procs[i].child.is_none() {
            continue;
        }
        let opts = etcd_client::ConnectOptions::new()
            .with_connect_timeout(Duration::from_millis(300))
            .with_timeout(Duration::from_millis(500));
        let Ok(mut cl) = etcd_client::Client::connect([c.endpoint(i)], Some(opts)).await else {
            continue;
        };
        if let Ok(st) = cl.status().await {
            if st.header().map(|h| h.member_id()) == Some(st.leader()) {
                return Some(i);
            }
        }
    }
    None
}

async fn client_loop(
    id: u64,
    endpoints: Vec<String>,
    hist: Arc<Mutex<Hist>>,
    start: Instant,
    until: Instant,
    seed: u64,
) -> (u64, u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ id);
    let opts = etcd_client::ConnectOptions::new()
        .with_connect_timeout(Duration::from_millis(500))
        .with_timeout(Duration::from_millis(1500));
    let mut client = None;
    let mut seq = 0u64;
    let (mut ok, mut unknown) = (0, 0);
    let now = |s: Instant| s.elapsed().as_nanos() as u64;
    // Bounded: the check is exponential in concurrent unknown writes per key,
    // so keep each key's history to a size the checker settles quickly.
    let mut issued = 0;
    while Instant::now() < until && issued < MAX_OPS_PER_CLIENT {
        issued += 1;
        if client.is_none() {
            let ep = endpoints[rng.gen_range(0..endpoints.len())].clone();
            client = etcd_client::Client::connect([ep], Some(opts.clone()))
                .await
                .ok();
            if client.is_none() {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        }
        let Some(cl) = client.as_mut() else { continue };
        let key = format!("k{}", rng.gen_range(0..KEYS));
        if rng.gen_bool(0.5) {
            seq += 1;
            let value = id * 1_000_000 + seq;
            let op = hist.lock().unwrap().call(
                ClientId(id),
                KvInput::Put(key.clone(), value),
                now(start),
            );
            let r =
                tokio::time::timeout(Duration::from_secs(2), cl.put(key, value.to_string(), None))
                    .await;
            match r {
                Ok(Ok(resp)) => {
                    let revision = resp.header().map(|h| h.revision() as u64);
                    hist.lock()
                        .unwrap()
                        .ret(op, KvOutput::Put { revision }, now(start))
                        .unwrap();
                    ok += 1;
                }
                _ => {
                    hist.lock().unwrap().unknown(op).unwrap();
                    unknown += 1;
                    client = None;
                }
            }
        } else {
            let op = hist
                .lock()
                .unwrap()
                .call(ClientId(id), KvInput::Get(key.clone()), now(start));
            let r = tokio::time::timeout(Duration::from_secs(2), cl.get(key, None)).await;
            match r {
                Ok(Ok(resp)) => {
                    let kv = resp.kvs().first();
                    let value =
                        kv.and_then(|kv| String::from_utf8_lossy(kv.value()).parse::<u64>().ok());
                    let mod_revision = kv.map(|kv| kv.mod_revision() as u64);
                    hist.lock()
                        .unwrap()
                        .ret(
                            op,
                            KvOutput::Get {
                                value,
                                mod_revision,
                            },
                            now(start),
                        )
                        .unwrap();
                    ok += 1;
                }
                _ => {
                    // A read has no effect: a failed read is simply dropped.
                    hist.lock().unwrap().failed(op).unwrap();
                    unknown += 1;
                    client = None;
                }
            }
        }
    }
    (ok, unknown)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn history_stays_linearizable_through_leader_kills_and_partitions() {
    let seed: u64 = std::env::var("VITRAIL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("VITRAIL_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let ips = ["127.0.0.11", "127.0.0.12", "127.0.0.13"];
    let mut c = ProcCluster::start_on(&ips);
    let fw = Firewall::new();
    let endpoints: Vec<String> = (0..3).map(|i| c.endpoint(i)).collect();
    let hist = Arc::new(Mutex::new(Hist::new()));
    let start = Instant::now();
    let until = start + Duration::from_secs(14);
    let mut clients = Vec::new();
    for id in 1..=6u64 {
        clients.push(tokio::spawn(client_loop(
            id,
            endpoints.clone(),
            hist.clone(),
            start,
            until,
            seed,
        )));
    }

    // The fault schedule.
    let at = |secs: f64| tokio::time::sleep_until((start + Duration::from_secs_f64(secs)).into());
    at(1.5).await;
    let l = leader_index(&c)
        .await
        .expect("a leader before the first fault");
    eprintln!("nemesis: kill -9 leader n{}", l + 1);
    c.kill(l);
    at(3.5).await;
    eprintln!("nemesis: restart n{}", l + 1);
    c.spawn(l, "new");
    at(5.5).await;
    if let Some(l2) = leader_index(&c).await {
        eprintln!("nemesis: isolate leader n{}", l2 + 1);
        let others: Vec<&str> = ips.iter().copied().filter(|ip| *ip != ips[l2]).collect();
        fw.isolate(ips[l2], &others);
    }
    at(8.5).await;
    eprintln!("nemesis: heal");
    fw.heal();
    at(10.0).await;
    let victim = rng.gen_range(0..3);
    eprintln!("nemesis: isolate n{}", victim + 1);
    let others: Vec<&str> = ips
        .iter()
        .copied()
        .filter(|ip| *ip != ips[victim])
        .collect();
    fw.isolate(ips[victim], &others);
    at(12.0).await;
    eprintln!("nemesis: heal");
    fw.heal();

    let (mut ok, mut unknown) = (0, 0);
    for cl in clients {
        let (o, u) = cl.await.unwrap();
        ok += o;
        unknown += u;
    }
    eprintln!("operations: {ok} ok, {unknown} failed/unknown");
    assert!(
        ok > 200,
        "too few successful operations ({ok}) for the check to mean anything"
    );

    let h = hist.lock().unwrap();
    let result = check(
        &KvModel::with_revisions(),
        &h,
        Budget::time(Duration::from_secs(120)),
    );
    assert!(
        result.is_ok(),
        "history is not linearizable (seed {seed}):\n{result}"
    );
    if let Err(v) = check_revisions(&write_revisions(&h)) {
        panic!("write revisions violate real-time order (seed {seed}): {v:?}");
    }
}

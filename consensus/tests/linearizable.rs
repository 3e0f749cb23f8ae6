//! The linearizability checker against the real cluster, in both
//! directions: a history of linearizable reads around a partition passes,
//! and the same history with the reads made serializable on an isolated
//! follower (a planted bug: a stale local read presented as current) is
//! rejected. A checker that cannot find the planted bug proves nothing.

mod support;

use std::time::{Duration, Instant};

use etcd_client::GetOptions;
use linearize::kv::{KvInput, KvModel, KvOutput};
use linearize::{check, Budget, ClientId, History};
use support::Cluster;

type Hist = History<KvInput<String, u64>, KvOutput<u64>>;

/// Writes through the majority while one follower is cut off, reading the
/// key from that follower after each acknowledged write.
async fn run(serializable_reads: bool) -> Hist {
    let c = Cluster::start(3).await;
    let leader = c.wait_leader(Duration::from_secs(10), None).await;
    let follower = (leader + 1) % 3;
    let mut writer = c.client(leader).await;
    let mut reader = c.client(follower).await;
    // The other follower stays connected: its linearizable reads must see
    // every acknowledged write.
    let mut connected = c.client((leader + 2) % 3).await;
    let start = Instant::now();
    let now = || start.elapsed().as_nanos() as u64;
    let mut h = Hist::new();

    let op = h.call(ClientId(1), KvInput::Put("k".into(), 0), now());
    writer.put("k", "0", None).await.unwrap();
    h.ret(op, KvOutput::Put { revision: None }, now()).unwrap();
    // Make sure the follower has applied it before the partition.
    support::eventually(
        Duration::from_secs(5),
        "follower applies the first write",
        || {
            let mut r = reader.clone();
            async move {
                let got = r
                    .get("k", Some(GetOptions::new().with_serializable()))
                    .await
                    .ok()?;
                (got.count() == 1).then_some(())
            }
        },
    )
    .await;

    c.isolate(follower);
    for v in 1..=3u64 {
        let op = h.call(ClientId(1), KvInput::Put("k".into(), v), now());
        writer.put("k", v.to_string(), None).await.unwrap();
        h.ret(op, KvOutput::Put { revision: None }, now()).unwrap();

        let op = h.call(ClientId(2), KvInput::Get("k".into()), now());
        let opts = if serializable_reads {
            Some(GetOptions::new().with_serializable())
        } else {
            None
        };
        match tokio::time::timeout(Duration::from_secs(2), reader.get("k", opts)).await {
            Ok(Ok(resp)) => {
                let value = resp
                    .kvs()
                    .first()
                    .and_then(|kv| String::from_utf8_lossy(kv.value()).parse().ok());
                h.ret(
                    op,
                    KvOutput::Get {
                        value,
                        mod_revision: None,
                    },
                    now(),
                )
                .unwrap();
            }
            // A linearizable read on an isolated node cannot complete.
            _ => h.failed(op).unwrap(),
        }
        let op = h.call(ClientId(3), KvInput::Get("k".into()), now());
        let resp = connected.get("k", None).await.unwrap();
        let value = resp
            .kvs()
            .first()
            .and_then(|kv| String::from_utf8_lossy(kv.value()).parse().ok());
        h.ret(
            op,
            KvOutput::Get {
                value,
                mod_revision: None,
            },
            now(),
        )
        .unwrap();
    }
    c.heal();
    c.shutdown().await;
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linearizable_reads_pass_the_checker() {
    let h = run(false).await;
    let result = check(&KvModel::new(), &h, Budget::time(Duration::from_secs(30)));
    assert!(result.is_ok(), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_serializable_reads_are_caught_by_the_checker() {
    let h = run(true).await;
    // The isolated follower answered from its stale state...
    let stale = h
        .ops()
        .iter()
        .any(|op| matches!(op.output(), Some(KvOutput::Get { value: Some(0), .. })));
    assert!(
        stale,
        "the planted bug did not manifest: the follower never served a stale read"
    );
    // ...and the checker must say so.
    let result = check(&KvModel::new(), &h, Budget::time(Duration::from_secs(30)));
    assert!(
        result.is_illegal(),
        "checker accepted a history with stale reads:\n{result}"
    );
}

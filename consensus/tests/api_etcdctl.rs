//! The etcd API end to end: a one-member cluster in-process, driven by the
//! real `etcdctl` (v3.4) and by the Rust etcd client, checking outputs and
//! error texts exactly as etcd prints them.

mod support;

use std::time::Duration;

use etcd_client::{EventType, WatchOptions};
use sha2::{Digest, Sha256};
use support::Cluster;

struct Ctl {
    endpoint: String,
}

impl Ctl {
    /// Runs etcdctl; returns (success, stdout, stderr).
    async fn run_with(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint))
            .arg("--command-timeout=10s")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("etcdctl must be installed");
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).await.unwrap();
        }
        drop(input);
        let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .expect("etcdctl hung")
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.success(), stdout, stderr)
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run_with(args, None).await;
        assert!(ok, "etcdctl {args:?} failed: {err}");
        out
    }

    async fn fails(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run_with(args, None).await;
        assert!(!ok, "etcdctl {args:?} should fail, printed {out}");
        err
    }
}

async fn one_member() -> (Cluster, Ctl) {
    let c = Cluster::start(1).await;
    c.wait_leader(Duration::from_secs(10), None).await;
    // Without a scheme, as etcdctl's default endpoint is: etcdctl dials
    // per-endpoint calls (endpoint status) with the endpoint string as the
    // HTTP/2 :authority, and h2 refuses "http://host:port" there.
    let ctl = Ctl {
        endpoint: c.members[0].client.clone(),
    };
    (c, ctl)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn etcdctl_kv_txn_compaction() {
    let (c, ctl) = one_member().await;
    assert_eq!(ctl.ok(&["put", "a", "1"]).await, "OK\n");
    assert_eq!(ctl.ok(&["get", "a"]).await, "a\n1\n");
    ctl.ok(&["put", "p/x", "10"]).await;
    ctl.ok(&["put", "p/y", "20"]).await;
    ctl.ok(&["put", "q", "30"]).await;
    assert_eq!(
        ctl.ok(&["get", "p/", "--prefix", "--keys-only"]).await,
        "p/x\n\np/y\n\n"
    );
    let json = ctl.ok(&["get", "p/", "--prefix", "-w", "json"]).await;
    assert!(json.contains("\"count\":2"), "{json}");
    assert_eq!(
        ctl.ok(&["get", "", "--from-key", "--keys-only", "--limit=2"])
            .await,
        "a\n\np/x\n\n"
    );
    assert_eq!(
        ctl.ok(&[
            "get",
            "p/",
            "--prefix",
            "--sort-by=VALUE",
            "--order=DESCEND"
        ])
        .await,
        "p/y\n20\np/x\n10\n"
    );

    let (ok, out, err) = ctl
        .run_with(
            &["txn"],
            Some("value(\"a\") = \"1\"\n\nput b 2\n\nput b 3\n\n"),
        )
        .await;
    assert!(ok, "{err}");
    assert_eq!(out, "SUCCESS\n\nOK\n");
    assert_eq!(ctl.ok(&["get", "b", "--print-value-only"]).await, "2\n");

    assert_eq!(ctl.ok(&["del", "p/", "--prefix"]).await, "2\n");
    assert_eq!(ctl.ok(&["get", "p/", "--prefix"]).await, "");

    // History: "a" as of the revision that created it.
    let json = ctl.ok(&["get", "a", "-w", "json"]).await;
    let created: i64 = json
        .split("\"create_revision\":")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no create_revision in {json}"));
    let at = format!("--rev={created}");
    assert_eq!(
        ctl.ok(&["get", "a", &at, "--print-value-only"]).await,
        "1\n"
    );
    let compact = (created + 2).to_string();
    let out = ctl.ok(&["compaction", &compact]).await;
    assert_eq!(out, format!("compacted revision {compact}\n"));
    let err = ctl.fails(&["get", "a", &at]).await;
    assert!(
        err.contains("etcdserver: mvcc: required revision has been compacted"),
        "{err}"
    );
    let err = ctl.fails(&["get", "a", "--rev=100000"]).await;
    assert!(
        err.contains("etcdserver: mvcc: required revision is a future revision"),
        "{err}"
    );

    // Above etcd's 1.5 MiB request limit, below the clients' 2 MiB send limit.
    let big = "x".repeat(1_600_000);
    let (ok, _, err) = ctl.run_with(&["put", "big"], Some(&big)).await;
    assert!(!ok);
    assert!(err.contains("etcdserver: request is too large"), "{err}");
    let err = ctl.fails(&["put", "", "v"]).await;
    assert!(
        err.contains("key is not provided") || err.contains("put command needs"),
        "{err}"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn etcdctl_lease_member_status_snapshot() {
    let (c, ctl) = one_member().await;
    let out = ctl.ok(&["lease", "grant", "60"]).await;
    // "lease 694d77d4ba05d0b4 granted with TTL(60s)"
    let id = out.split_whitespace().nth(1).unwrap().to_string();
    assert!(out.ends_with("granted with TTL(60s)\n"), "{out}");
    ctl.ok(&["put", "--lease", &id, "leased", "v"]).await;
    let ttl = ctl.ok(&["lease", "timetolive", &id, "--keys"]).await;
    assert!(
        ttl.contains("granted with TTL(60s)") && ttl.contains("attached keys([leased])"),
        "{ttl}"
    );
    assert!(ctl.ok(&["lease", "list"]).await.contains(&id));
    assert!(ctl
        .ok(&["lease", "keep-alive", "--once", &id])
        .await
        .contains("keepalived with TTL(60)"));
    assert!(ctl.ok(&["lease", "revoke", &id]).await.contains("revoked"));
    assert_eq!(ctl.ok(&["get", "leased"]).await, "");
    assert!(ctl
        .ok(&["lease", "timetolive", &id])
        .await
        .contains("already expired"));
    let err = ctl.fails(&["lease", "revoke", &id]).await;
    assert!(
        err.contains("etcdserver: requested lease not found"),
        "{err}"
    );
    let err = ctl.fails(&["put", "--lease", "1234", "k", "v"]).await;
    assert!(
        err.contains("etcdserver: requested lease not found"),
        "{err}"
    );

    let members = ctl.ok(&["member", "list"]).await;
    assert_eq!(members.lines().count(), 1, "{members}");
    assert!(members.contains("started, n1"), "{members}");

    let status = ctl.ok(&["endpoint", "status", "-w", "json"]).await;
    assert!(status.contains("\"version\":\"3.4.0+vitrail\""), "{status}");
    let (ok, out, err) = ctl.run_with(&["endpoint", "health"], None).await;
    assert!(
        ok && format!("{out}{err}").contains("is healthy"),
        "{out}{err}"
    );
    ctl.ok(&["alarm", "list"]).await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.db");
    let path = path.to_str().unwrap();
    assert!(ctl
        .ok(&["snapshot", "save", path])
        .await
        .contains("Snapshot saved at"));
    let file = std::fs::read(path).unwrap();
    assert_eq!(file.len() % 512, 32, "etcdctl's checksum detection");
    let (body, sum) = file.split_at(file.len() - 32);
    assert_eq!(
        sum,
        Sha256::digest(body).as_slice(),
        "trailing sha256 like etcd"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_watch_live_replay_and_compacted() {
    let (c, _ctl) = one_member().await;
    let mut cli = c.client(0).await;
    let first = cli
        .put("w/a", "1", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    let mut stream = cli
        .watch(
            "w/",
            Some(WatchOptions::new().with_prefix().with_prev_key()),
        )
        .await
        .unwrap();
    cli.put("w/a", "2", None).await.unwrap();
    cli.delete("w/a", None).await.unwrap();
    let mut seen = Vec::new();
    let mut watch_id = None;
    while seen.len() < 2 {
        let resp = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        watch_id = Some(resp.watch_id());
        for e in resp.events() {
            let prev = e.prev_kv().map(|kv| kv.value_str().unwrap().to_string());
            seen.push((e.event_type(), prev));
        }
    }
    assert_eq!(
        seen,
        vec![
            (EventType::Put, Some("1".to_string())),
            (EventType::Delete, Some("2".to_string()))
        ]
    );
    stream.cancel(watch_id.unwrap()).await.unwrap();
    let canceled = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(canceled.canceled());

    // Replay from the first revision.
    let mut replay = cli
        .watch("w/a", Some(WatchOptions::new().with_start_revision(first)))
        .await
        .unwrap();
    let mut revs = Vec::new();
    while revs.len() < 3 {
        let resp = tokio::time::timeout(Duration::from_secs(5), replay.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        revs.extend(resp.events().iter().map(|e| e.kv().unwrap().mod_revision()));
    }
    assert_eq!(revs, vec![first, first + 1, first + 2]);

    // Below the compaction: canceled with the compact revision.
    cli.compact(first + 2, None).await.unwrap();
    let mut old = cli
        .watch("w/a", Some(WatchOptions::new().with_start_revision(first)))
        .await
        .unwrap();
    let resp = loop {
        let r = tokio::time::timeout(Duration::from_secs(5), old.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if r.canceled() {
            break r;
        }
    };
    assert_eq!(resp.compact_revision(), first + 2);
    c.shutdown().await;
}

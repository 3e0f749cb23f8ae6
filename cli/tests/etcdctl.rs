//! Acceptance: Debian's etcdctl 3.4, unmodified, against a real 3-process
//! vitrail control cluster.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::{etcdctl, etcdctl_cmd, eventually, fails, ok, ProcCluster};

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("bad json {s:?}: {e}"))
}

/// A long-running etcdctl whose stdout lines arrive on a channel.
struct Streaming {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Streaming {
    fn start(endpoints: &str, args: &[&str]) -> Streaming {
        let mut child = etcdctl_cmd(endpoints, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx2.send(format!("stderr: {l}"));
            }
        });
        Streaming { child, lines: rx }
    }

    fn next(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(10))
            .expect("no output from etcdctl within 10s")
    }

    /// Reads lines until `want` appear in order (other lines in between are fine).
    fn expect_seq(&self, want: &[&str]) {
        let mut seen = Vec::new();
        for w in want {
            loop {
                let l = match self.lines.recv_timeout(Duration::from_secs(10)) {
                    Ok(l) => l,
                    Err(_) => panic!("never saw {w:?} within 10s; got {seen:?}"),
                };
                seen.push(l.clone());
                if l == *w {
                    break;
                }
                assert!(seen.len() < 200, "never saw {w:?}; got {seen:?}");
            }
        }
    }

    fn signal(&self, sig: &str) {
        let _ = std::process::Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn put_get_del_prefix_rev_prev_kv() {
    let c = ProcCluster::start(3);
    let ep = c.endpoints();
    assert_eq!(ok(&ep, &["put", "foo", "bar"]).trim(), "OK");
    let first_rev = json(&ok(&ep, &["get", "foo", "-w", "json"]))["kvs"][0]["mod_revision"]
        .as_i64()
        .unwrap();
    assert_eq!(
        ok(&ep, &["put", "foo", "baz", "--prev-kv"]),
        "OK\nfoo\nbar\n"
    );
    assert_eq!(ok(&ep, &["get", "foo"]), "foo\nbaz\n");
    assert_eq!(
        ok(&ep, &["get", "foo", &format!("--rev={first_rev}")]),
        "foo\nbar\n"
    );
    ok(&ep, &["put", "p/1", "a"]);
    ok(&ep, &["put", "p/2", "b"]);
    ok(&ep, &["put", "q", "c"]);
    assert_eq!(ok(&ep, &["get", "p/", "--prefix"]), "p/1\na\np/2\nb\n");
    assert_eq!(
        ok(&ep, &["get", "p/", "--prefix", "--keys-only"]),
        "p/1\n\np/2\n\n"
    );
    assert_eq!(ok(&ep, &["get", "p/", "--prefix", "--limit=1"]), "p/1\na\n");
    assert_eq!(ok(&ep, &["get", "p/1", "p/3"]), "p/1\na\np/2\nb\n");
    let counted = json(&ok(
        &ep,
        &["get", "p/", "--prefix", "--limit=1", "-w", "json"],
    ));
    assert_eq!(counted["count"].as_i64(), Some(2));
    assert_eq!(counted["more"].as_bool(), Some(true));
    // Every member serves the same data, linearizably.
    for i in 0..3 {
        assert_eq!(ok(&c.endpoint(i), &["get", "q"]), "q\nc\n");
    }
    assert_eq!(ok(&ep, &["del", "p/", "--prefix"]), "2\n");
    assert_eq!(ok(&ep, &["del", "foo", "--prev-kv"]), "1\nfoo\nbaz\n");
    assert_eq!(ok(&ep, &["get", "p/", "--prefix"]), "");
    assert_eq!(ok(&ep, &["del", "nothing"]), "0\n");
}

/// Runs etcdctl with `input` on its standard input.
fn run_with_stdin(ep: &str, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = etcdctl_cmd(ep, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn txn_interactive_and_batch() {
    let c = ProcCluster::start(3);
    let ep = c.endpoints();
    ok(&ep, &["put", "t", "1"]);
    let out = run_with_stdin(
        &ep,
        &["txn", "-i"],
        b"value(\"t\") = \"1\"\n\nput t 2\nput u x\n\nput t failed\n\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("SUCCESS"), "{stdout}");
    assert_eq!(ok(&ep, &["get", "t"]), "t\n2\n");
    assert_eq!(ok(&ep, &["get", "u"]), "u\nx\n");
    // The compare now fails: the failure branch runs.
    let out = run_with_stdin(
        &ep,
        &["txn"],
        b"value(\"t\") = \"1\"\nversion(\"u\") > \"0\"\n\nput t never\n\nget u\n\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("FAILURE"), "{stdout}");
    assert!(stdout.contains("u\nx"), "{stdout}");
    assert_eq!(ok(&ep, &["get", "t"]), "t\n2\n");
}

#[test]
fn watch_prefix_live_and_replay_from_revision() {
    let c = ProcCluster::start(3);
    let ep = c.endpoints();
    ok(&ep, &["put", "w/a", "1"]);
    let rev = json(&ok(&ep, &["get", "w/a", "-w", "json"]))["kvs"][0]["mod_revision"]
        .as_i64()
        .unwrap();
    ok(&ep, &["put", "w/b", "2"]);
    ok(&ep, &["del", "w/a"]);
    ok(&ep, &["put", "other", "x"]);
    // Replay history from `rev`, then continue live; watch through a
    // follower-or-leader endpoint chosen by etcdctl.
    let w = Streaming::start(
        &c.endpoint(1),
        &["watch", "--prefix", "w/", &format!("--rev={rev}")],
    );
    w.expect_seq(&["PUT", "w/a", "1", "PUT", "w/b", "2", "DELETE", "w/a"]);
    ok(&ep, &["put", "w/c", "3"]);
    w.expect_seq(&["PUT", "w/c", "3"]);
    // A live-only watch with prev-kv sees only new events.
    let live = Streaming::start(&c.endpoint(2), &["watch", "w/c", "--prev-kv"]);
    // Give the watch a chance to register: a put after an acknowledged
    // watch creation. etcdctl prints nothing on creation, so write until seen.
    eventually(Duration::from_secs(10), "live watch sees a put", || {
        ok(&ep, &["put", "w/c", "4"]);
        match live.lines.recv_timeout(Duration::from_millis(300)) {
            Ok(l) if l == "PUT" => Some(()),
            _ => None,
        }
    });
    // With --prev-kv, etcdctl prints the previous key/value before the new one.
    let mut rest = Vec::new();
    for _ in 0..4 {
        rest.push(live.next());
    }
    assert_eq!(rest[0], "w/c");
    assert_eq!(rest[2], "w/c");
    assert_eq!(rest[3], "4");
}

fn lease_id(granted: &str) -> String {
    // "lease 694d77aa9e8f4c05 granted with TTL(5s)"
    granted.split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn leases_grant_keepalive_ttl_revoke_and_expiry() {
    let c = ProcCluster::start(3);
    let ep = c.endpoints();
    let out = ok(&ep, &["lease", "grant", "30"]);
    assert!(out.contains("granted with TTL(30s)"), "{out}");
    let id = lease_id(&out);
    ok(&ep, &["put", "leased", "v", &format!("--lease={id}")]);
    let ttl = ok(&ep, &["lease", "timetolive", &id, "--keys"]);
    assert!(
        ttl.contains("granted with TTL(30s)") && ttl.contains("attached keys([leased])"),
        "{ttl}"
    );
    let ka = ok(&ep, &["lease", "keep-alive", "--once", &id]);
    assert!(ka.contains("keepalived with TTL(30)"), "{ka}");
    let list = ok(&ep, &["lease", "list"]);
    assert!(list.contains(&id), "{list}");
    assert!(ok(&ep, &["lease", "revoke", &id]).contains("revoked"));
    assert_eq!(ok(&ep, &["get", "leased"]), "");
    let gone = ok(&ep, &["lease", "timetolive", &id]);
    assert!(gone.contains("already expired"), "{gone}");
    // Unknown lease on put: etcd's error.
    let err = fails(&ep, &["put", "x", "y", "--lease=1234abcd"]);
    assert!(err.contains("requested lease not found"), "{err}");
    // Expiry: a 2 s lease nobody keeps alive takes its key with it.
    let id = lease_id(&ok(&ep, &["lease", "grant", "2"]));
    ok(&ep, &["put", "short", "v", &format!("--lease={id}")]);
    assert_eq!(ok(&ep, &["get", "short"]), "short\nv\n");
    eventually(
        Duration::from_secs(8),
        "leased key vanishes after expiry",
        || (ok(&ep, &["get", "short"]).is_empty()).then_some(()),
    );
}

#[test]
fn lock_recipe() {
    let c = ProcCluster::start(3);
    let ep = c.endpoints();
    let holder = Streaming::start(&ep, &["lock", "--ttl=10", "mylock"]);
    let key = holder.next();
    assert!(key.starts_with("mylock/"), "{key}");
    let mut waiter = etcdctl_cmd(
        &ep,
        &["lock", "--ttl=10", "mylock", "echo", "second-got-it"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // While the first holds the lock, the second must not get it.
    let blocked_until = std::time::Instant::now() + Duration::from_millis(1500);
    while std::time::Instant::now() < blocked_until {
        assert!(
            waiter.try_wait().unwrap().is_none(),
            "second locker did not wait for the first"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    holder.signal("-INT");
    let out = {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if waiter.try_wait().unwrap().is_some() {
                break waiter.wait_with_output().unwrap();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "second locker never acquired the lock"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert!(String::from_utf8_lossy(&out.stdout).contains("second-got-it"));
}

#[test]
fn elect_recipe() {
    let c = ProcCluster::start(3);
    let ep = c.endpoints();
    // Election: an observer sees the first candidate, then the second once
    // the first resigns.
    let observer = Streaming::start(&ep, &["elect", "-l", "myelection"]);
    let first = Streaming::start(&ep, &["elect", "myelection", "alpha"]);
    observer.expect_seq(&["alpha"]);
    // Interrupting a candidate before its Campaign returns leaves its key
    // until its session lease expires (as with etcd): wait until alpha
    // itself reports that it leads.
    first.expect_seq(&["alpha"]);
    let _second = Streaming::start(&ep, &["elect", "myelection", "beta"]);
    first.signal("-INT");
    observer.expect_seq(&["beta"]);
}

#[test]
fn member_list_add_remove_and_endpoint_status() {
    let mut c = ProcCluster::start(3);
    let ep = c.endpoints();
    let list = ok(&ep, &["member", "list"]);
    assert_eq!(list.lines().count(), 3, "{list}");
    for name in ["n1", "n2", "n3"] {
        assert!(list.contains(name), "{list}");
    }
    let status = json(&ok(&ep, &["endpoint", "status", "-w", "json"]));
    let arr = status.as_array().unwrap();
    assert_eq!(arr.len(), 3);
    let leaders: Vec<u64> = arr
        .iter()
        .map(|s| s["Status"]["leader"].as_u64().unwrap())
        .collect();
    assert!(
        leaders.iter().all(|l| *l == leaders[0] && *l != 0),
        "{status}"
    );
    // etcdctl 3.4 prints health results on stderr.
    let health = etcdctl(&ep, &["endpoint", "health"]);
    assert!(health.status.success());
    let text = String::from_utf8_lossy(&health.stderr);
    assert_eq!(text.matches("is healthy").count(), 3, "{text}");

    // Add a fourth member: it joins as a learner, catches up, gets promoted.
    let peer = format!("127.0.0.1:{}", support::free_port());
    let client = format!("127.0.0.1:{}", support::free_port());
    let added = ok(
        &ep,
        &["member", "add", "n4", &format!("--peer-urls=http://{peer}")],
    );
    assert!(added.contains("added to cluster"), "{added}");
    let root = c.procs[0].dir.parent().unwrap().to_path_buf();
    c.procs.push(support::Proc {
        name: "n4".into(),
        client: client.clone(),
        peer: peer.clone(),
        dir: root.join("n4"),
        child: None,
        extra: Vec::new(),
    });
    c.spawn(3, "existing");
    eventually(Duration::from_secs(20), "n4 joins and is promoted", || {
        let l = ok(&ep, &["member", "list", "-w", "json"]);
        let v = json(&l);
        let members = v["members"].as_array()?.clone();
        let n4 = members.iter().find(|m| m["name"] == "n4")?;
        (n4.get("isLearner").and_then(|b| b.as_bool()) != Some(true)).then_some(())
    });
    ok(&ep, &["put", "after-join", "yes"]);
    assert_eq!(ok(&client, &["get", "after-join"]), "after-join\nyes\n");
    let id = {
        let v = json(&ok(&ep, &["member", "list", "-w", "json"]));
        let n4 = v["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "n4")
            .unwrap()
            .clone();
        format!("{:x}", n4["ID"].as_u64().unwrap())
    };
    let removed = ok(&ep, &["member", "remove", &id]);
    assert!(removed.contains("removed from cluster"), "{removed}");
    let list = ok(&ep, &["member", "list"]);
    assert_eq!(list.lines().count(), 3, "{list}");
    let err = fails(&ep, &["member", "remove", &id]);
    assert!(err.contains("member not found"), "{err}");
}

#[test]
fn compaction_then_watch_on_compacted_revision_errors() {
    let c = ProcCluster::start(3);
    let ep = c.endpoints();
    for i in 0..5 {
        ok(&ep, &["put", "c", &i.to_string()]);
    }
    let rev = json(&ok(&ep, &["get", "c", "-w", "json"]))["header"]["revision"]
        .as_i64()
        .unwrap();
    let out = ok(&ep, &["compaction", &rev.to_string()]);
    assert!(out.contains(&format!("compacted revision {rev}")), "{out}");
    let err = fails(&ep, &["get", "c", "--rev=2"]);
    assert!(
        err.contains("required revision has been compacted"),
        "{err}"
    );
    assert_eq!(ok(&ep, &["get", "c"]), "c\n4\n");
    let w = Streaming::start(&ep, &["watch", "c", "--rev=2"]);
    let mut seen = Vec::new();
    loop {
        let l = w.next();
        seen.push(l.clone());
        if l.contains("required revision has been compacted") {
            break;
        }
        assert!(seen.len() < 20, "{seen:?}");
    }
    let err = fails(&ep, &["compaction", &rev.to_string()]);
    assert!(
        err.contains("required revision has been compacted"),
        "{err}"
    );
}

#[test]
fn snapshot_save_then_restore_into_a_new_cluster() {
    let c = ProcCluster::start(3);
    let ep = c.endpoints();
    for i in 0..20 {
        ok(&ep, &["put", &format!("s/{i:02}"), &format!("v{i}")]);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.db");
    let out = ok(
        &c.endpoint(0),
        &["snapshot", "save", file.to_str().unwrap()],
    );
    assert!(out.contains("Snapshot saved"), "{out}");
    drop(c);

    // A fresh one-member cluster seeded from the backup.
    let client = format!("127.0.0.1:{}", support::free_port());
    let peer = format!("127.0.0.1:{}", support::free_port());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vitrail"))
        .args([
            "control",
            "--name",
            "restored",
            "--client-addr",
            &client,
            "--peer-addr",
            &peer,
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--restore")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let got = eventually(Duration::from_secs(20), "restored member serves", || {
        let out = etcdctl(&client, &["get", "s/", "--prefix", "--keys-only"]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).to_string())
            .filter(|s| !s.is_empty())
    });
    assert_eq!(got.lines().filter(|l| !l.is_empty()).count(), 20, "{got}");
    assert_eq!(ok(&client, &["get", "s/07"]), "s/07\nv7\n");
    ok(&client, &["put", "new", "write"]);
    // Restoring over existing data is refused.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_vitrail"))
        .args([
            "control",
            "--client-addr",
            "127.0.0.1:0",
            "--peer-addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--restore")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a database"));
    let _ = child.kill();
    let _ = child.wait();
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn metrics_and_health_endpoints() {
    let mut c = ProcCluster::start(1);
    let metrics = format!("127.0.0.1:{}", support::free_port());
    c.kill(0);
    c.procs[0].extra = vec!["--metrics-addr".into(), metrics.clone()];
    c.spawn(0, "new");
    c.wait_healthy();
    ok(&c.endpoints(), &["put", "m", "1"]);
    let health = http_get(&metrics, "/health");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let body = http_get(&metrics, "/metrics");
    for name in [
        "vitrail_raft_term",
        "vitrail_is_leader 1",
        "vitrail_leader_changes_total",
        "vitrail_proposals_total",
        "vitrail_apply_duration_seconds_count",
        "vitrail_watchers",
        "vitrail_db_size_bytes",
    ] {
        assert!(body.contains(name), "metrics lack {name}:\n{body}");
    }
    assert!(http_get(&metrics, "/nope").starts_with("HTTP/1.1 404"));
}

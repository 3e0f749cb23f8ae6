//! `vitrail tablet` and the tablet-facing `vitrail ctl` commands end to end:
//! real `vitrail control`, real `vitrail tablet` processes with mariadbd,
//! `ctl shard init-primary`, `ctl tablet status|execute|set-readonly`, and a
//! clean SIGTERM stop that removes the alive key at once.

mod support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{eventually, free_block, free_port, ProcCluster};
use topo::layout::Layout;
use topo::records::TabletAlias;

fn ctl(endpoints: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vitrail"))
        .arg("ctl")
        .args(["--control", endpoints])
        .args(args)
        .output()
        .unwrap()
}

fn ctl_ok(endpoints: &str, args: &[&str]) -> String {
    let out = ctl(endpoints, args);
    assert!(
        out.status.success(),
        "ctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ctl_json(endpoints: &str, args: &[&str]) -> serde_json::Value {
    let mut with = vec!["--json"];
    with.extend_from_slice(args);
    serde_json::from_str(&ctl_ok(endpoints, &with)).unwrap()
}

struct TabletProc {
    child: Child,
    log: std::path::PathBuf,
}

impl TabletProc {
    fn spawn(endpoints: &str, uid: u32, root: &Path) -> TabletProc {
        let log = root.join(format!("tablet-{uid}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_vitrail"))
            .arg("tablet")
            .args(["--control", endpoints, "--cell", "zone1"])
            .args(["--uid", &uid.to_string()])
            .args([
                "--keyspace",
                "commerce",
                "--shard",
                "0",
                "--type",
                "replica",
            ])
            .arg("--root")
            .arg(root)
            .args(["--grpc-addr", &format!("127.0.0.1:{}", free_port())])
            .args(["--mysql-port", &free_port().to_string()])
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        TabletProc { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait (bounded) for a clean exit.
    fn stop(&mut self) {
        let log = self.log.clone();
        signal_and_wait(&mut self.child, "-TERM", 60, "tablet", || {
            std::fs::read_to_string(&log).unwrap_or_default()
        });
    }
}

/// What `vitrail up` printed, for failure messages.
fn up_output(stdout: &std::sync::Mutex<String>, log: &Path) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        stdout.lock().unwrap(),
        std::fs::read_to_string(log).unwrap_or_default()
    )
}

/// Sends `signal` to `child` and waits up to `secs` for it to exit
/// successfully; `output` explains a failure.
fn signal_and_wait(
    child: &mut std::process::Child,
    signal: &str,
    secs: u64,
    what: &str,
    output: impl Fn() -> String,
) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{what} exited {status}: {}", output());
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not stop: {}",
            output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for TabletProc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn alive(endpoints: &str, uid: u32) -> bool {
    let key = Layout::default().alive(&TabletAlias::new("zone1", uid));
    !support::ok(endpoints, &["get", &key, "--keys-only"])
        .trim()
        .is_empty()
}

#[test]
fn tablet_processes_init_primary_and_ctl_tablet_ops() {
    let cluster = ProcCluster::start(1);
    let ep = cluster.endpoints();
    let root = tempfile::tempdir().unwrap();
    ctl_ok(&ep, &["cell", "create", "zone1"]);
    ctl_ok(
        &ep,
        &[
            "keyspace",
            "create",
            "commerce",
            "--shards",
            "1",
            "--durability",
            "semi_sync",
        ],
    );

    let mut tablets = [
        TabletProc::spawn(&ep, 201, root.path()),
        TabletProc::spawn(&ep, 202, root.path()),
    ];
    eventually(Duration::from_secs(120), "both tablets alive", || {
        for t in tablets.iter_mut() {
            if let Some(status) = t.child.try_wait().unwrap() {
                panic!("tablet exited early ({status}): {}", t.log());
            }
        }
        (alive(&ep, 201) && alive(&ep, 202)).then_some(())
    });
    let list = ctl_json(&ep, &["tablet", "list"]);
    let types: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["replica", "replica"]);

    // Bad requests fail cleanly.
    let out = ctl(
        &ep,
        &[
            "shard",
            "init-primary",
            "commerce/0",
            "--primary",
            "zone1-999",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not registered"));

    let out = ctl_ok(
        &ep,
        &[
            "shard",
            "init-primary",
            "commerce/0",
            "--primary",
            "zone1-201",
        ],
    );
    assert!(out.contains("term 1"), "{out}");
    assert!(out.contains("semi-sync on"), "{out}");
    let shard = ctl_json(&ep, &["shard", "get", "commerce/0"]);
    assert!(shard.to_string().contains("zone1-0000000201"), "{shard}");

    let status = ctl_json(&ep, &["tablet", "status", "zone1-201"]);
    assert_eq!(status["type"], "primary");
    eventually(
        Duration::from_secs(10),
        "the primary to report writable",
        || (ctl_json(&ep, &["tablet", "status", "zone1-201"])["read_only"] == false).then_some(()),
    );
    let status = ctl_json(&ep, &["tablet", "status", "zone1-202"]);
    assert_eq!(status["type"], "replica");
    assert_eq!(status["replication"]["io_running"], true);
    assert!(ctl_ok(&ep, &["tablet", "status", "zone1-202"]).contains("replicating from"));

    ctl_ok(
        &ep,
        &["tablet", "execute", "zone1-201", "CREATE DATABASE app"],
    );
    ctl_ok(
        &ep,
        &[
            "tablet",
            "execute",
            "zone1-201",
            "CREATE TABLE app.t (id INT PRIMARY KEY)",
        ],
    );
    let out = ctl_ok(
        &ep,
        &[
            "tablet",
            "execute",
            "zone1-201",
            "INSERT INTO app.t VALUES (1)",
        ],
    );
    assert!(out.contains("1 row(s) affected"), "{out}");
    eventually(Duration::from_secs(30), "the row on the replica", || {
        let out = ctl(
            &ep,
            &[
                "--json",
                "tablet",
                "execute",
                "zone1-202",
                "SELECT id FROM app.t",
            ],
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (v["rows"] == serde_json::json!([["1"]])).then_some(())
    });
    // Replicas refuse writes.
    let out = ctl(
        &ep,
        &[
            "tablet",
            "execute",
            "zone1-202",
            "INSERT INTO app.t VALUES (2)",
        ],
    );
    assert_eq!(out.status.code(), Some(1));

    // set-readonly makes the primary refuse writes; --off undoes it.
    ctl_ok(&ep, &["tablet", "set-readonly", "zone1-201"]);
    // Health probes MariaDB periodically: the status catches up.
    eventually(
        Duration::from_secs(10),
        "status to report read_only",
        || (ctl_json(&ep, &["tablet", "status", "zone1-201"])["read_only"] == true).then_some(()),
    );
    let out = ctl(
        &ep,
        &[
            "tablet",
            "execute",
            "zone1-201",
            "INSERT INTO app.t VALUES (3)",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("read-only")
            || String::from_utf8_lossy(&out.stderr).contains("read_only"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ctl_ok(&ep, &["tablet", "set-readonly", "zone1-201", "--off"]);
    ctl_ok(
        &ep,
        &[
            "tablet",
            "execute",
            "zone1-201",
            "INSERT INTO app.t VALUES (3)",
        ],
    );

    // A clean stop removes the alive key at once and keeps the record.
    for (t, uid) in tablets.iter_mut().zip([201, 202]) {
        t.stop();
        assert!(
            !alive(&ep, uid),
            "alive key of stopped tablet {uid} remains"
        );
    }
    assert_eq!(
        ctl_json(&ep, &["tablet", "list"]).as_array().unwrap().len(),
        2
    );
}

/// A `vitrail up` process whose stdout is collected as it runs.
struct Up {
    child: Child,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
    log: std::path::PathBuf,
}

impl Up {
    fn spawn(args: &[String], log: &Path) -> Up {
        use std::io::BufRead;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_vitrail"))
            .arg("up")
            .args(args)
            .env("VITRAIL_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(file)
            .spawn()
            .unwrap();
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let pipe = child.stdout.take().unwrap();
        let sink = out.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Up {
            child,
            stdout: out,
            log: log.to_path_buf(),
        }
    }

    fn output(&self) -> String {
        up_output(&self.stdout, &self.log)
    }

    fn wait_up(&mut self) -> String {
        eventually(Duration::from_secs(180), "vitrail up to be ready", || {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("vitrail up exited early ({status}): {}", self.output());
            }
            let s = self.stdout.lock().unwrap().clone();
            s.contains("vitrail is up").then_some(s)
        })
    }

    /// Ctrl-C, then a clean exit.
    fn interrupt(&mut self) {
        let (stdout, log) = (self.stdout.clone(), self.log.clone());
        signal_and_wait(&mut self.child, "-INT", 90, "vitrail up", || {
            up_output(&stdout, &log)
        });
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn gate_sql(port: u16, sql: &str) -> String {
    let out = Command::new("mariadb")
        .args(["--protocol=TCP", "-h", "127.0.0.1", "-P", &port.to_string()])
        .args(["-u", "root", "--batch", "-N", "commerce", "-e", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn vitrail_up_serves_and_restarts_from_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let gate_port = free_port();
    // vitrail up uses control port + 1 for peers, and base + uid for tablets
    // (uids 101, 102, 201, 202 with 2 shards × 2 tablets).
    let control_port = free_block(&[0, 1]);
    let grpc_base = free_block(&[101, 102, 201, 202]);
    let mysql_base = free_block(&[101, 102, 201, 202]);
    let args: Vec<String> = [
        "--dir".to_string(),
        dir.path().join("data").display().to_string(),
        "--shards".into(),
        "2".into(),
        "--replicas".into(),
        "1".into(),
        "--mysql-addr".into(),
        format!("127.0.0.1:{gate_port}"),
        "--control-port".into(),
        control_port.to_string(),
        "--grpc-port-base".into(),
        grpc_base.to_string(),
        "--mysql-port-base".into(),
        mysql_base.to_string(),
    ]
    .to_vec();
    let log = dir.path().join("up.log");

    let mut up = Up::spawn(&args, &log);
    let out = up.wait_up();
    assert!(out.contains("created keyspace commerce"), "{out}");
    assert!(
        out.contains(&format!("mysql -h 127.0.0.1 -P {gate_port} -u root")),
        "{out}"
    );
    gate_sql(
        gate_port,
        "INSERT INTO users (user_id, name) VALUES (1, 'ann'), (2, 'bob'), (3, 'cy'), (4, 'dee')",
    );
    assert_eq!(gate_sql(gate_port, "SELECT COUNT(*) FROM users"), "4\n");
    up.interrupt();

    // Same directory: nothing re-initialised, the rows are still there and
    // the primaries take writes again.
    let mut up = Up::spawn(&args, &log);
    let out = up.wait_up();
    assert!(out.contains("reusing"), "{out}");
    assert!(!out.contains("created keyspace"), "{out}");
    assert!(!out.contains("schema applied"), "{out}");
    assert_eq!(gate_sql(gate_port, "SELECT COUNT(*) FROM users"), "4\n");
    gate_sql(
        gate_port,
        "INSERT INTO users (user_id, name) VALUES (5, 'eve')",
    );
    assert_eq!(
        gate_sql(gate_port, "SELECT name FROM users WHERE user_id = 5"),
        "eve\n"
    );
    up.interrupt();
}

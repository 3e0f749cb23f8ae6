//! `vitrail ctl` end to end: the real binary against a real 3-member
//! `vitrail control` cluster. Bad input must fail with a clear message, a
//! non-zero exit and nothing written.

mod support;

use std::process::Output;

use support::ProcCluster;

struct Ctl<'a> {
    cluster: &'a ProcCluster,
}

impl Ctl<'_> {
    fn run(&self, args: &[&str]) -> Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_vitrail"))
            .arg("ctl")
            .args(["--control", &self.cluster.endpoints()])
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs, asserts success, returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut with = vec!["--json"];
        with.extend_from_slice(args);
        serde_json::from_str(&self.ok(&with)).unwrap()
    }

    /// Runs, asserts a clean failure (exit 1, or 2 for a usage error; no
    /// panic), returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            matches!(out.status.code(), Some(1 | 2)),
            "ctl {args:?}: {:?} {stderr}",
            out.status
        );
        assert!(
            !stderr.contains("panicked"),
            "ctl {args:?} panicked: {stderr}"
        );
        stderr
    }
}

fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().to_string()
}

#[test]
fn topology_commands_and_bad_input() {
    let cluster = ProcCluster::start(3);
    let ctl = Ctl { cluster: &cluster };
    let files = tempfile::tempdir().unwrap();

    ctl.ok(&["cell", "create", "zone1", "--region", "eu"]);
    assert_eq!(
        ctl.json(&["cell", "list"]),
        serde_json::json!([{"name": "zone1", "region": "eu"}])
    );
    assert!(ctl.ok(&["cell", "list"]).contains("zone1"));

    let out = ctl.ok(&[
        "keyspace",
        "create",
        "commerce",
        "--shards",
        "2",
        "--durability",
        "semi_sync",
    ]);
    assert!(out.contains("-80,80-"), "{out}");
    let ks = ctl.json(&["keyspace", "get", "commerce"]);
    assert_eq!(ks["durability"], "semi_sync");
    let shards: Vec<&str> = ks["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(shards, ["-80", "80-"]);
    assert!(ctl
        .ok(&["shard", "list", "commerce"])
        .contains("commerce/80-"));
    assert_eq!(
        ctl.json(&["shard", "get", "commerce/-80"])["key_range"]["end"],
        "80"
    );
    ctl.ok(&["keyspace", "create", "lookup", "--durability", "none"]);
    assert_eq!(
        ctl.json(&["keyspace", "list"]),
        serde_json::json!(["commerce", "lookup"])
    );

    // An existing keyspace: refused, and the old one is untouched.
    let err = ctl.fails(&[
        "keyspace",
        "create",
        "commerce",
        "--shards",
        "4",
        "--durability",
        "none",
    ]);
    assert!(
        err.contains("keyspace \"commerce\" already exists"),
        "{err}"
    );
    assert_eq!(
        ctl.json(&["keyspace", "get", "commerce"])["durability"],
        "semi_sync"
    );
    assert_eq!(
        ctl.json(&["shard", "list", "commerce"])
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Overlapping shards: refused, nothing written.
    let err = ctl.fails(&["keyspace", "create", "bad", "--shard-names", "-80,40-"]);
    assert!(err.contains("overlap"), "{err}");
    assert_eq!(
        ctl.json(&["keyspace", "list"]),
        serde_json::json!(["commerce", "lookup"])
    );
    let err = ctl.fails(&["keyspace", "create", "bad", "--durability", "sometimes"]);
    assert!(err.contains("durability"), "{err}");

    // Unknown keyspace, everywhere it can be named.
    for args in [
        &["keyspace", "get", "x"][..],
        &["keyspace", "delete", "x"],
        &["shard", "list", "x"],
        &["shard", "get", "x/0"],
        &["vschema", "get", "x"],
    ] {
        let err = ctl.fails(args);
        assert!(err.contains("keyspace \"x\" not found"), "{args:?}: {err}");
    }
    let good = write_file(
        &files,
        "good.json",
        r#"{"sharded": true, "vindexes": {"hash": {"type": "hash"}},
            "tables": {"customer": {"column_vindexes": [{"column": "id", "name": "hash"}]}}}"#,
    );
    let err = ctl.fails(&["vschema", "apply", "x", "--file", &good]);
    assert!(err.contains("keyspace \"x\" not found"), "{err}");

    // VSchema: a good one is stored; a malformed one names the field and
    // leaves the good one in place.
    ctl.ok(&["vschema", "apply", "commerce", "--file", &good]);
    let stored = ctl.json(&["vschema", "get", "commerce"]);
    assert_eq!(stored["vindexes"]["hash"]["type"], "hash");
    let bad = write_file(
        &files,
        "bad.json",
        r#"{"sharded": true, "vindexes": {"hash": {"type": "hash"}},
            "tables": {"customer": {"column_vindexes": [{"column": "id", "name": "hsh"}]}}}"#,
    );
    let err = ctl.fails(&["vschema", "apply", "commerce", "--file", &bad]);
    assert!(
        err.contains("tables.customer.column_vindexes[0].name"),
        "{err}"
    );
    assert!(err.contains("hsh"), "{err}");
    let not_json = write_file(&files, "broken.json", r#"{"sharded": "yes"}"#);
    let err = ctl.fails(&["vschema", "apply", "commerce", "--file", &not_json]);
    assert!(err.contains("sharded"), "{err}");
    let err = ctl.fails(&[
        "vschema",
        "apply",
        "commerce",
        "--file",
        "/nonexistent/v.json",
    ]);
    assert!(err.contains("/nonexistent/v.json"), "{err}");
    assert_eq!(ctl.json(&["vschema", "get", "commerce"]), stored);

    // Serving graph, tablets, locks.
    let srv = ctl.json(&["srv", "rebuild"]);
    assert_eq!(
        srv["srv_keyspaces"],
        serde_json::json!(["commerce", "lookup"])
    );
    assert_eq!(ctl.json(&["tablet", "list"]), serde_json::json!([]));
    let err = ctl.fails(&["tablet", "get", "zone1-101"]);
    assert!(
        err.contains("tablet \"zone1-0000000101\" not found"),
        "{err}"
    );
    let err = ctl.fails(&["tablet", "get", "nonsense"]);
    assert!(err.contains("nonsense"), "{err}");
    assert_eq!(ctl.json(&["lock", "list"]), serde_json::json!([]));

    ctl.ok(&["keyspace", "delete", "lookup"]);
    assert_eq!(
        ctl.json(&["keyspace", "list"]),
        serde_json::json!(["commerce"])
    );
}

#[test]
fn members_list_add_remove() {
    let cluster = ProcCluster::start(3);
    let ctl = Ctl { cluster: &cluster };
    let members = ctl.json(&["members", "list"]);
    assert_eq!(members.as_array().unwrap().len(), 3);
    assert!(ctl.ok(&["members", "list"]).contains("n1"));

    let peer = format!("127.0.0.1:{}", support::free_port());
    let added = ctl.json(&["members", "add", &peer, "--learner"]);
    let id = added["added"].as_str().unwrap().to_string();
    let members = ctl.json(&["members", "list"]);
    let new = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id.as_str())
        .expect("the added member is listed");
    assert_eq!(new["learner"], true);
    ctl.ok(&["members", "remove", &id]);
    assert_eq!(ctl.json(&["members", "list"]).as_array().unwrap().len(), 3);

    let err = ctl.fails(&["members", "remove", "zz"]);
    assert!(err.contains("not hexadecimal"), "{err}");
    let err = ctl.fails(&["members", "remove", "1234"]);
    assert!(err.contains("cannot remove member 1234"), "{err}");
}

#[test]
fn help_everywhere_and_unreachable_control() {
    let bin = env!("CARGO_BIN_EXE_vitrail");
    let nouns: &[(&str, &[&str])] = &[
        ("cell", &["create", "list"]),
        ("keyspace", &["create", "list", "get", "delete"]),
        ("shard", &["list", "get"]),
        ("vschema", &["apply", "get"]),
        ("tablet", &["list", "get", "delete"]),
        ("srv", &["rebuild"]),
        ("members", &["list", "add", "remove"]),
        ("lock", &["list"]),
    ];
    let help = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .arg("ctl")
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?} --help");
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(help(&[]).contains("--control"));
    for (noun, verbs) in nouns {
        help(&[noun]);
        for verb in *verbs {
            assert!(help(&[noun, verb]).contains("--json"), "{noun} {verb}");
        }
    }

    // Nothing listens there: a clear error, exit 1, no panic.
    let dead = format!("127.0.0.1:{}", support::free_port());
    let out = std::process::Command::new(bin)
        .args(["ctl", "--control", &dead, "keyspace", "list"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unavailable"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

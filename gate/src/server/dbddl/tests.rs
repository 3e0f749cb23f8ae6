use std::collections::BTreeMap;
use std::sync::Arc;

use topo::keyrange::KeyRange;
use topo::vschema::SrvVSchema;

use super::*;
use crate::topo_watch::{KeyspaceRoute, ShardRoute};

fn stmt(name: &str, guard: bool, options: &str) -> DbStatement {
    DbStatement {
        name: name.into(),
        if_exists_clause: guard,
        options: options.into(),
    }
}

#[test]
fn parses_create_and_drop() {
    let ok = |sql: &str, create| parse(sql, create).unwrap();
    assert_eq!(ok("CREATE DATABASE x", true), stmt("x", false, ""));
    assert_eq!(
        ok("create schema `slap-db`;", true),
        stmt("slap-db", false, "")
    );
    assert_eq!(
        ok("CREATE DATABASE IF NOT EXISTS x", true),
        stmt("x", true, "")
    );
    assert_eq!(
        ok(
            "CREATE DATABASE x DEFAULT CHARACTER SET = utf8mb4 COLLATE utf8mb4_bin COMMENT 'a;b' ;",
            true
        ),
        stmt(
            "x",
            false,
            "DEFAULT CHARACTER SET = utf8mb4 COLLATE utf8mb4_bin COMMENT 'a;b'"
        )
    );
    assert_eq!(ok("DROP SCHEMA IF EXISTS `x`", false), stmt("x", true, ""));
    assert_eq!(ok("drop database x ;;", false), stmt("x", false, ""));
    assert_eq!(ok("DROP DATABASE `a``b`", false).name, "a`b");

    for (sql, create) in [
        ("CREATE DATABASE", true),
        ("CREATE DATABASE IF EXISTS x", true),
        ("CREATE DATABASE IF NOT x", true),
        ("CREATE DATABASE x; DROP DATABASE commerce", true),
        ("CREATE DATABASE x COMMENT `y`", true),
        ("CREATE DATABASE x COMMENT 'open", true),
        ("CREATE DATABASE `x", true),
        ("CREATE DATABASE x (", true),
        ("DROP DATABASE x CASCADE", false),
        ("DROP DATABASE IF NOT EXISTS x", false),
        ("DROP TABLE x", false),
    ] {
        let err = parse(sql, create).unwrap_err();
        assert_eq!(err.to_mysql().code, 1064, "{sql}: {err}");
    }
}

#[test]
fn names_must_suit_mariadb_and_the_topology() {
    for good in ["x", "slapdb", "a-b", "A_1", "123", &"n".repeat(64)] {
        validate_name(good).unwrap();
    }
    for bad in [
        "",
        "a b",
        "a/b",
        "a.b",
        "a`b",
        "é",
        &"n".repeat(65),
        "mysql",
        "MySQL",
        "information_schema",
        "performance_schema",
        "sys",
        "_vt",
    ] {
        let err = validate_name(bad).unwrap_err().to_mysql();
        assert_eq!(err.code, 1102, "{bad:?}");
        assert!(
            err.message
                .starts_with(&format!("Incorrect database name '{bad}'")),
            "{}",
            err.message
        );
    }
}

fn route(shards: &[&str], served_from: Option<&str>) -> KeyspaceRoute {
    KeyspaceRoute {
        shards: shards
            .iter()
            .map(|s| ShardRoute {
                name: s.to_string(),
                key_range: KeyRange::parse_shard_name(s).unwrap(),
                primary: None,
                primary_term: 0,
            })
            .collect(),
        served_from: served_from.map(|h| h.parse().unwrap()),
    }
}

fn snapshot(keyspaces: &[(&str, KeyspaceRoute)], sharded: &[&str]) -> RoutingSnapshot {
    let mut vschema = SrvVSchema::default();
    for (ks, _) in keyspaces {
        vschema.keyspaces.insert(
            ks.to_string(),
            VSchema {
                sharded: sharded.contains(ks),
                ..VSchema::default()
            },
        );
    }
    RoutingSnapshot {
        cell: "zone1".into(),
        vschema: Some(Arc::new(vschema)),
        keyspaces: keyspaces
            .iter()
            .map(|(k, r)| (k.to_string(), r.clone()))
            .collect::<BTreeMap<_, _>>(),
        ..RoutingSnapshot::default()
    }
}

#[test]
fn default_host_prefers_the_first_unsharded_keyspace() {
    let host = |snap: &RoutingSnapshot| choose_host(snap, None).unwrap().to_string();
    // Sharded only: the first keyspace by name, its first shard by name.
    let snap = snapshot(
        &[
            ("zeta", route(&["0"], None)),
            ("commerce", route(&["80-", "-80"], None)),
        ],
        &["zeta", "commerce"],
    );
    assert_eq!(host(&snap), "commerce/-80");
    // An unsharded keyspace wins, even if later by name; served-from
    // keyspaces and keyspaces without serving shards never host.
    let snap = snapshot(
        &[
            ("aaa", route(&["0"], Some("main/0"))),
            ("empty", route(&[], None)),
            ("commerce", route(&["-80", "80-"], None)),
            ("main", route(&["0"], None)),
        ],
        &["commerce"],
    );
    assert_eq!(host(&snap), "main/0");
    // No VSchema at all: every keyspace counts as unsharded.
    let mut snap = snapshot(
        &[("b", route(&["0"], None)), ("a", route(&["0"], None))],
        &[],
    );
    snap.vschema = None;
    assert_eq!(host(&snap), "a/0");
    // Nothing to host on.
    let snap = snapshot(&[("x", route(&["0"], Some("gone/0")))], &[]);
    assert_eq!(choose_host(&snap, None).unwrap_err().to_mysql().code, 1105);
}

#[test]
fn configured_host_must_serve_with_its_own_tablets() {
    let snap = snapshot(
        &[
            ("commerce", route(&["-80", "80-"], None)),
            ("x", route(&["0"], Some("commerce/-80"))),
        ],
        &["commerce"],
    );
    let flag: KeyspaceShard = "commerce/80-".parse().unwrap();
    assert_eq!(choose_host(&snap, Some(&flag)).unwrap(), flag);
    for bad in ["commerce/0", "nope/0", "x/0"] {
        let flag: KeyspaceShard = bad.parse().unwrap();
        let err = choose_host(&snap, Some(&flag)).unwrap_err().to_mysql();
        assert!(err.message.contains(bad), "{}", err.message);
    }
}

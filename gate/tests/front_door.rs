//! The gate's MySQL front door against real tablets: what clients send on
//! connect, SHOW statements about the topology, authentication, errors.

mod support;

use mysql_async::prelude::Queryable;
use support::{Cluster, PASSWORD, USER};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connect_show_auth_and_errors() {
    let c = Cluster::start().await;

    // The CLI sends `SELECT @@version_comment LIMIT 1` on connect.
    let out = c.sql("SELECT @@version_comment; SELECT DATABASE(); SHOW DATABASES");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["vitrail gate", "NULL", "commerce"], "{out}");

    assert_eq!(c.sql("SHOW VITESS_SHARDS"), "commerce/-80\ncommerce/80-\n");
    assert_eq!(c.sql("show keyspaces"), "commerce\n");
    let tablets = c.sql("SHOW VITESS_TABLETS");
    assert_eq!(tablets.lines().count(), 2, "{tablets}");
    assert!(tablets.contains("zone1-0000000101") && tablets.contains("PRIMARY"));

    // USE through COM_INIT_DB (-D) and as a statement; unknown keyspace.
    let out = c.cli(USER, PASSWORD, "USE commerce; SELECT DATABASE()");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "commerce\n");
    let out = c.cli(USER, PASSWORD, "USE nope");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ERROR 1049"));

    // `USE ks@replica` targets replicas; this cluster has none, which is a
    // clear error (not a lost connection).
    let out = c.cli(
        USER,
        PASSWORD,
        "USE commerce@replica; SELECT DATABASE(); SELECT 1 + 1",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "commerce\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ERROR 1105") && err.contains("no healthy replica"),
        "{err}"
    );

    // Wrong password and unknown user: 1045, Access denied.
    for (user, pw) in [(USER, "wrong"), ("nobody", PASSWORD)] {
        let out = c.cli(user, pw, "SELECT 1");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("ERROR 1045") && err.contains(&format!("Access denied for user '{user}'")),
            "{err}"
        );
    }

    // Malformed SQL is 1064 and the session goes on: with --force the CLI
    // keeps reading statements from stdin on the same connection.
    let mut child = std::process::Command::new("mariadb")
        .args([
            "--protocol=TCP",
            "-h",
            "127.0.0.1",
            "-P",
            &c.port().to_string(),
            "-u",
            USER,
            &format!("-p{PASSWORD}"),
            "--batch",
            "-N",
            "--force",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mariadb runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"SELEC oops;\nSELECT CONNECTION_ID(), @@autocommit;\n")
            .expect("write stdin");
    }
    let out = child.wait_with_output().expect("mariadb exits");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ERROR 1064"), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.ends_with("\t1\n"), "{stdout:?} {err}");

    // mysql_async: connect-time settings query (@@socket must not send it
    // elsewhere), session state, errors keep the connection usable.
    let pool = mysql_async::Pool::new(c.url().as_str());
    let mut conn = pool.get_conn().await.expect("mysql_async connects");
    let db: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(db.as_deref(), Some("commerce"));
    let e = conn.query_drop("SELEKT 1").await.unwrap_err();
    match e {
        mysql_async::Error::Server(s) => assert_eq!(s.code, 1064),
        other => panic!("expected a server error, got {other}"),
    }
    let v: Option<u64> = conn
        .query_first("SELECT @@session.auto_increment_increment")
        .await
        .unwrap();
    assert_eq!(v, Some(1));
    conn.query_drop("SET max_statement_time = 5, autocommit = 0")
        .await
        .unwrap();
    let v: Option<(u64, String)> = conn
        .query_first("SELECT @@autocommit, @@max_statement_time")
        .await
        .unwrap();
    assert_eq!(v, Some((0, "5".into())));
    drop(conn);
    pool.disconnect().await.unwrap();

    // Metrics were counted and are served over HTTP.
    let metrics = c.metrics().await;
    assert!(
        metrics.contains("vitrail_gate_auth_failures_total 2"),
        "{metrics}"
    );
    assert!(metrics.contains("vitrail_gate_errors_total{code=\"1064\"}"));
    assert!(metrics.contains("vitrail_gate_queries_total{plan=\"Special\"}"));
    c.shutdown().await;
}

//! CREATE/DROP DATABASE through the gate: a new database becomes an
//! unsharded keyspace served from an existing shard (here the default
//! host, commerce/-80: commerce is the only keyspace, and sharded), its
//! rows live in a MariaDB database of that name on the host's mariadbd,
//! and `mariadb-slap` can create, load and drop its own schema (it sends
//! its queries with the C string's NUL terminator, which the gate ignores
//! as MariaDB does).

mod support;

use std::process::Output;

use mysql_async::prelude::Queryable;
use support::{Cluster, PASSWORD, USER};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `sql` through the CLI, expecting MariaDB error `code`.
fn fails_with(c: &Cluster, sql: &str, code: u16) -> String {
    let out = c.cli(USER, PASSWORD, sql);
    let err = stderr(&out);
    assert!(!out.status.success(), "{sql:?} should fail");
    assert!(err.contains(&format!("ERROR {code} ")), "{sql:?}: {err}");
    err
}

/// Whether the host shard's own MariaDB has database `db`.
async fn on_mariadb(c: &Cluster, shard: &str, db: &str) -> bool {
    let rows = c
        .tablet(shard)
        .query(&format!("SHOW DATABASES LIKE '{db}'"))
        .await;
    !rows.is_empty()
}

fn databases(c: &Cluster) -> Vec<String> {
    c.sql("SHOW DATABASES")
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_use_and_drop_a_database() {
    let c = Cluster::start().await;
    c.sql(
        "USE commerce;
         CREATE TABLE users (user_id BIGINT PRIMARY KEY, name VARCHAR(50));
         INSERT INTO users (user_id, name) VALUES (1, 'ann'), (2, 'bob')",
    );

    // CREATE, then USE right away on a new connection.
    c.sql("CREATE DATABASE shop");
    assert!(databases(&c).contains(&"shop".to_string()));
    let rows = c.sql(
        "USE shop;
         CREATE TABLE items (id INT PRIMARY KEY, title VARCHAR(20));
         INSERT INTO items VALUES (1, 'pen'), (2, 'ink'), (3, 'nib');
         SELECT title FROM items WHERE id >= 2 ORDER BY id",
    );
    assert_eq!(rows, "ink\nnib\n");
    assert_eq!(c.sql("SELECT COUNT(*) FROM shop.items"), "3\n");

    // The rows are physically in database `shop` on the host's MariaDB,
    // and the other shard knows nothing of it.
    let host = c
        .tablet("-80")
        .query("SELECT id, title FROM shop.items ORDER BY id")
        .await;
    assert_eq!(
        host,
        [["1", "pen"], ["2", "ink"], ["3", "nib"]].map(|r| r.map(String::from).to_vec())
    );
    assert!(!on_mariadb(&c, "80-", "shop").await);
    let shards = c.sql("SHOW VITESS_SHARDS");
    assert!(shards.contains("shop/0"), "{shards}");

    // Again: 1007; with IF NOT EXISTS: fine, nothing changes.
    let err = fails_with(&c, "CREATE DATABASE shop", 1007);
    assert!(err.contains("database exists"), "{err}");
    fails_with(&c, "CREATE SCHEMA commerce", 1007);
    c.sql("CREATE DATABASE IF NOT EXISTS shop");
    assert_eq!(c.sql("SELECT COUNT(*) FROM shop.items"), "3\n");

    // Names neither MariaDB nor the topology can hold, or that MariaDB
    // reserves: 1102, nothing created.
    for bad in ["`a.b`", "`a b`", "mysql", "information_schema", "_vt"] {
        fails_with(&c, &format!("CREATE DATABASE {bad}"), 1102);
    }
    assert!(!on_mariadb(&c, "-80", "a.b").await);

    // A keyspace with tablets of its own is not dropped; nothing is lost.
    let err = fails_with(&c, "DROP DATABASE commerce", 1105);
    assert!(
        err.contains("keyspace 'commerce' has its own tablets; delete it with vitrail ctl"),
        "{err}"
    );
    assert_eq!(c.sql("SELECT COUNT(*) FROM commerce.users"), "2\n");
    assert!(c.topo.get_keyspace("commerce").await.is_ok());

    // DROP from a session whose current database is `shop`: gone from
    // the gate and from the host; the session has no database any more.
    let url = format!("mysql://{USER}:{PASSWORD}@127.0.0.1:{}/shop", c.port());
    let mut conn = mysql_async::Conn::from_url(url.as_str()).await.unwrap();
    let n: Option<u64> = conn
        .query_first("SELECT COUNT(*) FROM items")
        .await
        .unwrap();
    assert_eq!(n, Some(3));
    conn.query_drop("DROP DATABASE shop").await.unwrap();
    let db: Option<Option<String>> = conn.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(db, Some(None));
    conn.disconnect().await.unwrap();
    assert!(!databases(&c).contains(&"shop".to_string()));
    assert!(!on_mariadb(&c, "-80", "shop").await);
    assert!(c
        .topo
        .get_keyspace("shop")
        .await
        .unwrap_err()
        .is_not_found());
    fails_with(&c, "USE shop", 1049);

    // Again: 1008; with IF EXISTS: fine.
    let err = fails_with(&c, "DROP DATABASE shop", 1008);
    assert!(err.contains("database doesn't exist"), "{err}");
    c.sql("DROP SCHEMA IF EXISTS shop");

    // The name can be used again.
    c.sql("CREATE SCHEMA IF NOT EXISTS shop; USE shop; CREATE TABLE t (a INT)");
    assert!(on_mariadb(&c, "-80", "shop").await);
    c.sql("DROP DATABASE shop");

    c.shutdown().await;
}

fn slap(c: &Cluster, extra: &[&str]) -> Output {
    std::process::Command::new("mariadb-slap")
        .args([
            "--protocol=TCP",
            "-h",
            "127.0.0.1",
            "-P",
            &c.port().to_string(),
            "-u",
            USER,
            &format!("-p{PASSWORD}"),
            "--auto-generate-sql",
            "--concurrency=2",
            "--iterations=2",
            "--number-of-queries=50",
            "--create-schema=slapdb",
        ])
        .args(extra)
        .output()
        .expect("mariadb-slap runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_slap_creates_loads_and_drops_its_schema() {
    let c = Cluster::start().await;
    for extra in EXTRA {
        let out = slap(&c, extra);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "mariadb-slap {extra:?} failed: {}\n{stdout}",
            stderr(&out),
        );
        assert!(
            stdout.contains("Number of clients running queries: 2"),
            "{stdout}"
        );
        // It dropped its schema at the end: gone from the gate and the host.
        assert!(!databases(&c).contains(&"slapdb".to_string()));
        assert!(!on_mariadb(&c, "-80", "slapdb").await);
    }
    c.shutdown().await;
}

/// The default mixed load, then loads that also UPDATE by key, SELECT by
/// key, and run in explicit transactions (COMMIT every 5 statements).
const EXTRA: &[&[&str]] = &[
    &[],
    &[
        "--auto-generate-sql-add-autoincrement",
        "--auto-generate-sql-load-type=update",
    ],
    &[
        "--auto-generate-sql-guid-primary",
        "--auto-generate-sql-load-type=key",
    ],
    &["--commit=5"],
];

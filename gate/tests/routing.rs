//! Queries routed through the gate to two real shards: DDL on every shard,
//! inserts split by the hash vindex, point selects on one shard (checked on
//! the shards' own MariaDB), scatter aggregates and ORDER BY/LIMIT merged,
//! prepared statements, transactions.

mod support;

use mysql_async::prelude::Queryable;
use support::{shard_of, Cluster, SHARDS};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn routes_and_merges_across_two_shards() {
    // Tablets answer Execute with at most 8 rows: bigger plain reads must
    // be streamed by the gate (StreamExecute has no row limit).
    let c = Cluster::start_with(tablet::query::QueryConfig {
        max_rows: 8,
        stream_chunk_rows: 3,
        ..Default::default()
    })
    .await;
    let use_ks = |sql: &str| c.sql(&format!("USE commerce; {sql}"));

    use_ks(
        "CREATE TABLE users (user_id BIGINT PRIMARY KEY, name VARCHAR(50));
         CREATE TABLE orders (order_id BIGINT PRIMARY KEY, user_id BIGINT, amount DECIMAL(10,2));
         CREATE TABLE products (product_id BIGINT PRIMARY KEY, title VARCHAR(50))",
    );
    for shard in SHARDS {
        let tables = c.tablet(shard).query("SHOW TABLES FROM commerce").await;
        assert_eq!(tables.len(), 3, "DDL reached shard {shard}: {tables:?}");
    }

    // One multi-row INSERT, split per shard.
    let values: Vec<String> = (1..=20).map(|i| format!("({i}, 'user{i}')")).collect();
    use_ks(&format!(
        "INSERT INTO users (user_id, name) VALUES {}",
        values.join(", ")
    ));
    let mut per_shard = 0;
    for shard in SHARDS {
        let n = c
            .tablet(shard)
            .query("SELECT COUNT(*) FROM commerce.users")
            .await;
        let n: u64 = n[0][0].parse().unwrap();
        let expected = (1..=20u64).filter(|i| shard_of(*i) == shard).count() as u64;
        assert_eq!(n, expected, "rows on shard {shard}");
        assert!(n > 0, "both shards get rows");
        per_shard += n;
    }
    assert_eq!(per_shard, 20);

    // Plain scatter read bigger than one Execute may return: streamed,
    // shard after shard, in chunks.
    let all = use_ks("SELECT user_id FROM users");
    let mut ids: Vec<u64> = all.lines().map(|l| l.parse().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, (1..=20).collect::<Vec<u64>>());

    // Point select: one shard; the row is there and not on the other.
    assert_eq!(
        use_ks("SELECT name FROM users WHERE user_id = 7"),
        "user7\n"
    );
    let home = shard_of(7);
    for shard in SHARDS {
        let rows = c
            .tablet(shard)
            .query("SELECT name FROM commerce.users WHERE user_id = 7")
            .await;
        assert_eq!(rows.len(), usize::from(shard == home), "shard {shard}");
    }
    let before = c.gate.gate.metrics.queries_of("EqualUnique");
    use_ks("SELECT name FROM users WHERE user_id = 8");
    assert_eq!(c.gate.gate.metrics.queries_of("EqualUnique"), before + 1);

    // Scatter: aggregates sum across shards; ORDER BY/LIMIT merged.
    assert_eq!(use_ks("SELECT COUNT(*) FROM users"), "20\n");
    assert_eq!(
        use_ks("SELECT user_id FROM users ORDER BY user_id DESC LIMIT 3"),
        "20\n19\n18\n"
    );
    assert_eq!(
        use_ks("SELECT user_id, name FROM users ORDER BY user_id LIMIT 2 OFFSET 4"),
        "5\tuser5\n6\tuser6\n"
    );
    use_ks(
        "INSERT INTO orders (order_id, user_id, amount) VALUES
         (1, 1, 10.50), (2, 1, 4.50), (3, 2, 1.25), (4, 3, 100.00), (5, 4, 0.75)",
    );
    assert_eq!(
        use_ks("SELECT SUM(amount), MIN(amount), MAX(amount) FROM orders"),
        "117.00\t0.75\t100.00\n"
    );
    assert_eq!(
        use_ks("SELECT user_id, COUNT(*) FROM orders GROUP BY user_id ORDER BY user_id"),
        "1\t2\n2\t1\n3\t1\n4\t1\n"
    );

    // Reference table: written to every shard, read from one.
    use_ks("INSERT INTO products (product_id, title) VALUES (1, 'lamp'), (2, 'desk')");
    for shard in SHARDS {
        let rows = c
            .tablet(shard)
            .query("SELECT COUNT(*) FROM commerce.products")
            .await;
        assert_eq!(rows[0][0], "2", "reference rows on {shard}");
    }
    assert_eq!(
        use_ks("SELECT title FROM products ORDER BY product_id"),
        "lamp\ndesk\n"
    );

    // Qualified names without USE; SHOW TABLES / SHOW CREATE TABLE forwarded.
    assert_eq!(
        c.sql("SELECT COUNT(*) FROM commerce.users WHERE user_id IN (1, 2, 3)"),
        "3\n"
    );
    assert_eq!(use_ks("SHOW TABLES"), "orders\nproducts\nusers\n");
    assert!(use_ks("SHOW CREATE TABLE users").contains("CREATE TABLE `users`"));

    // Unknown table: 1146; malformed: 1064.
    let out = c.cli(
        support::USER,
        support::PASSWORD,
        "USE commerce; SELECT * FROM nope",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("ERROR 1146"));

    // mysql_async: prepared statements (binary protocol) and transactions.
    let pool = mysql_async::Pool::new(c.url().as_str());
    let mut conn = pool.get_conn().await.unwrap();
    let name: Option<String> = conn
        .exec_first("SELECT name FROM users WHERE user_id = ?", (9,))
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("user9"));
    conn.exec_drop(
        "INSERT INTO users (user_id, name) VALUES (?, ?)",
        (21, "it's 21"),
    )
    .await
    .unwrap();
    let row: Option<(i64, String)> = conn
        .exec_first("SELECT user_id, name FROM users WHERE user_id = ?", (21,))
        .await
        .unwrap();
    assert_eq!(row, Some((21, "it's 21".to_string())));
    let count: Option<i64> = conn
        .exec_first("SELECT COUNT(*) FROM users WHERE user_id > ?", (10,))
        .await
        .unwrap();
    assert_eq!(count, Some(11));

    // One prepared statement, many executions: each id reaches its own
    // shard (the gate binds a plan template per execution), writes land
    // only there, and a rolled-back transaction leaves nothing.
    let get = conn
        .prep("SELECT name FROM users WHERE user_id = ?")
        .await
        .unwrap();
    let set = conn
        .prep("UPDATE users SET name = ? WHERE user_id = ?")
        .await
        .unwrap();
    for id in 1u64..=20 {
        let name: Option<String> = conn.exec_first(&get, (id,)).await.unwrap();
        assert_eq!(name, Some(format!("user{id}")), "prepared read of {id}");
    }
    for id in [3u64, 4] {
        conn.exec_drop(&set, (format!("renamed {id}"), id))
            .await
            .unwrap();
        for shard in SHARDS {
            let rows = c
                .tablet(shard)
                .query(&format!(
                    "SELECT name FROM commerce.users WHERE user_id = {id}"
                ))
                .await;
            let want: Vec<Vec<String>> = if shard == shard_of(id) {
                vec![vec![format!("renamed {id}")]]
            } else {
                Vec::new()
            };
            assert_eq!(rows, want, "user {id} on {shard}");
        }
    }
    conn.query_drop("BEGIN").await.unwrap();
    conn.exec_drop(&set, ("not kept", 3u64)).await.unwrap();
    let inside: Option<String> = conn.exec_first(&get, (3u64,)).await.unwrap();
    assert_eq!(inside.as_deref(), Some("not kept"));
    conn.query_drop("ROLLBACK").await.unwrap();
    let after: Option<String> = conn.exec_first(&get, (3u64,)).await.unwrap();
    assert_eq!(after.as_deref(), Some("renamed 3"));
    // A NULL key matches nothing (and is planned the slow way).
    let none: Option<String> = conn.exec_first(&get, (None::<u64>,)).await.unwrap();
    assert_eq!(none, None);
    for id in [3u64, 4] {
        conn.exec_drop(&set, (format!("user{id}"), id))
            .await
            .unwrap();
    }

    conn.query_drop("BEGIN").await.unwrap();
    conn.query_drop("INSERT INTO users (user_id, name) VALUES (100, 'gone')")
        .await
        .unwrap();
    let seen: Option<String> = conn
        .query_first("SELECT name FROM users WHERE user_id = 100")
        .await
        .unwrap();
    assert_eq!(
        seen.as_deref(),
        Some("gone"),
        "the transaction sees its write"
    );
    conn.query_drop("ROLLBACK").await.unwrap();
    let gone: Option<String> = conn
        .query_first("SELECT name FROM users WHERE user_id = 100")
        .await
        .unwrap();
    assert_eq!(gone, None);

    conn.query_drop("START TRANSACTION").await.unwrap();
    conn.query_drop("INSERT INTO users (user_id, name) VALUES (101, 'kept'), (102, 'kept')")
        .await
        .unwrap();
    let e = conn
        .query_drop("UPDATE users SET name = 'x'")
        .await
        .unwrap_err();
    match e {
        mysql_async::Error::Server(s) => assert_eq!(s.code, 1235, "{}", s.message),
        other => panic!("expected a server error, got {other}"),
    }
    conn.query_drop("COMMIT").await.unwrap();
    let kept: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM users WHERE user_id IN (101, 102)")
        .await
        .unwrap();
    assert_eq!(kept, Some(2));
    for id in [101u64, 102] {
        let rows = c
            .tablet(shard_of(id))
            .query(&format!(
                "SELECT 1 FROM commerce.users WHERE user_id = {id}"
            ))
            .await;
        assert_eq!(rows.len(), 1, "{id} committed on its shard");
    }

    // Session variables reach the tablets (as SET STATEMENT … FOR).
    conn.query_drop("SET div_precision_increment = 8")
        .await
        .unwrap();
    let q: Option<String> = conn
        .query_first("SELECT 1/3 FROM users WHERE user_id = 1")
        .await
        .unwrap();
    assert_eq!(q.as_deref(), Some("0.33333333"));

    // COM_RESET_CONNECTION: variables forgotten, open transaction rolled
    // back, current keyspace kept.
    conn.query_drop("BEGIN").await.unwrap();
    conn.query_drop("INSERT INTO users (user_id, name) VALUES (103, 'reset')")
        .await
        .unwrap();
    assert!(
        conn.reset().await.unwrap(),
        "the gate supports COM_RESET_CONNECTION"
    );
    let q: Option<String> = conn
        .query_first("SELECT 1/3 FROM users WHERE user_id = 1")
        .await
        .unwrap();
    assert_eq!(q.as_deref(), Some("0.3333"));
    let gone: Option<String> = conn
        .query_first("SELECT name FROM users WHERE user_id = 103")
        .await
        .unwrap();
    assert_eq!(gone, None, "the reset rolled back the open transaction");

    drop(conn);
    pool.disconnect().await.unwrap();
    c.shutdown().await;
}

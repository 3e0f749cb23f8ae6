//! Client connections served on the gate's connection threads (one
//! single-threaded runtime each) and, with none, on the caller's runtime:
//! concurrent sessions with prepared statements and transactions get the
//! same answers either way.

mod support;

use mysql_async::prelude::Queryable;
use support::Cluster;

/// Runs 6 sessions at once, each writing its own users (one of them in a
/// transaction it rolls back) and reading them back with prepared
/// statements.
async fn sessions_agree(conn_threads: usize) {
    let c = Cluster::start_opts(tablet::query::QueryConfig::default(), Some(conn_threads)).await;
    c.sql("USE commerce; CREATE TABLE users (user_id BIGINT PRIMARY KEY, name VARCHAR(50))");
    let sessions = (0..6u64).map(|s| {
        let url = c.url();
        async move {
            let mut conn = mysql_async::Conn::from_url(url).await.expect("connect");
            conn.query_drop("USE commerce").await.expect("use");
            let ids: Vec<u64> = (0..20).map(|i| s * 100 + i).collect();
            for id in &ids {
                conn.exec_drop(
                    "INSERT INTO users (user_id, name) VALUES (?, ?)",
                    (id, format!("s{s}-{id}")),
                )
                .await
                .expect("insert");
            }
            if s == 0 {
                conn.query_drop("BEGIN").await.expect("begin");
                conn.exec_drop(
                    "UPDATE users SET name = 'gone' WHERE user_id = ?",
                    (ids[0],),
                )
                .await
                .expect("update in tx");
                conn.query_drop("ROLLBACK").await.expect("rollback");
            }
            for id in &ids {
                let name: Option<String> = conn
                    .exec_first("SELECT name FROM users WHERE user_id = ?", (id,))
                    .await
                    .expect("select");
                assert_eq!(name, Some(format!("s{s}-{id}")), "session {s}, user {id}");
            }
        }
    });
    futures::future::join_all(sessions).await;
    let total: u64 = c
        .sql("SELECT COUNT(*) FROM commerce.users")
        .trim()
        .parse()
        .expect("count");
    assert_eq!(total, 120, "{conn_threads} connection threads");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_on_connection_threads() {
    sessions_agree(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_on_the_callers_runtime() {
    sessions_agree(0).await;
}

/// `RunningGate::stop` returns once the connection threads are gone: open
/// sessions are closed and nothing is accepted any more (`vitrail up` stops
/// its tablets right after).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_gate_ends_its_sessions() {
    let c = Cluster::start_opts(tablet::query::QueryConfig::default(), Some(2)).await;
    let mut conn = mysql_async::Conn::from_url(c.url()).await.expect("connect");
    let one: Option<u64> = conn.query_first("SELECT 1").await.expect("select");
    assert_eq!(one, Some(1));
    c.gate.stop().await;
    assert!(
        conn.query_first::<u64, _>("SELECT 1").await.is_err(),
        "a session outlived the gate"
    );
    assert!(
        mysql_async::Conn::from_url(c.url()).await.is_err(),
        "the gate still accepts connections"
    );
    c.shutdown().await;
}

//! Buffering during a primary change: a write that finds its shard without
//! a serving primary waits (up to the buffer window) and is replayed once a
//! primary serves again; past the window the client gets the refusal.

mod support;

use std::time::Duration;

use mysql_async::prelude::Queryable;
use support::{shard_of, within, Cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_wait_for_a_primary_then_replay() {
    let c = Cluster::start().await;
    c.sql("USE commerce; CREATE TABLE users (user_id BIGINT PRIMARY KEY, name VARCHAR(50))");
    let shard = shard_of(1);
    let t = c.tablet(shard);

    // The shard's primary steps down: it refuses writes (and says so in its
    // health stream).
    t.tablet.state.set_type(tablet::TabletType::Replica);
    let pool = mysql_async::Pool::new(c.url().as_str());
    let mut conn = pool.get_conn().await.unwrap();
    let metrics = c.gate.gate.metrics.clone();
    let buffered_before = metrics.buffered.get();
    let write = tokio::spawn(async move {
        let r = conn
            .query_drop("INSERT INTO users (user_id, name) VALUES (1, 'buffered')")
            .await;
        (r, conn)
    });
    within("the write to be buffered", async {
        while metrics.buffered.get() == buffered_before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(!write.is_finished(), "the write waits for a primary");
    // A primary serves again (here: the same tablet, promoted back).
    t.tablet.state.set_type(tablet::TabletType::Primary);
    let (r, mut conn) = within("the buffered write", write).await.unwrap();
    r.expect("the buffered write succeeds once a primary serves");
    let rows = t
        .query("SELECT name FROM commerce.users WHERE user_id = 1")
        .await;
    assert_eq!(rows, vec![vec!["buffered".to_string()]]);

    // No primary within the window (2 s in tests): the refusal reaches the
    // client, and the connection stays usable.
    t.tablet.state.set_type(tablet::TabletType::Replica);
    let started = std::time::Instant::now();
    let e = conn
        .query_drop("INSERT INTO users (user_id, name) VALUES (1, 'again')")
        .await
        .unwrap_err();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited the window"
    );
    match e {
        mysql_async::Error::Server(s) => assert_eq!(s.code, 1290, "{}", s.message),
        other => panic!("expected a server error, got {other}"),
    }
    t.tablet.state.set_type(tablet::TabletType::Primary);
    let name: Option<String> = conn
        .query_first("SELECT name FROM users WHERE user_id = 1")
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("buffered"));

    // A transaction over both shards whose second commit fails: the first
    // shard's commit stands and the client is told exactly that.
    let ids: Vec<u64> = (2..100).collect();
    let a = *ids.iter().find(|i| shard_of(**i) == "-80").unwrap();
    let b = *ids.iter().find(|i| shard_of(**i) == "80-").unwrap();
    conn.query_drop("BEGIN").await.unwrap();
    conn.query_drop(format!(
        "INSERT INTO users (user_id, name) VALUES ({a}, 'a'), ({b}, 'b')"
    ))
    .await
    .unwrap();
    // The 80- tablet loses its open transactions (as on a restart).
    c.tablet("80-").tablet.query.close().await;
    let e = conn.query_drop("COMMIT").await.unwrap_err();
    match e {
        mysql_async::Error::Server(s) => {
            assert_eq!(s.code, 1180, "{}", s.message);
            assert!(
                s.message.contains("commerce/80-") && s.message.contains("commerce/-80 committed"),
                "{}",
                s.message
            );
        }
        other => panic!("expected a server error, got {other}"),
    }
    let on_a = c
        .tablet("-80")
        .query(&format!(
            "SELECT name FROM commerce.users WHERE user_id = {a}"
        ))
        .await;
    assert_eq!(on_a, vec![vec!["a".to_string()]]);
    drop(conn);
    pool.disconnect().await.unwrap();
    c.shutdown().await;
}

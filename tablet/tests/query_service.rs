//! QueryService through gRPC against a real mariadbd.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{eventually, rows, TestTablet};
use mysql_async::prelude::Queryable;
use tablet::grpc::{mysql_error, pb};
use tablet::query::QueryConfig;
use tablet::TabletType;
use tonic::Code;

fn val(t: pb::Type, s: &str) -> pb::Value {
    pb::Value {
        r#type: t as i32,
        value: s.as_bytes().to_vec(),
        unsigned: false,
    }
}

#[tokio::test]
async fn execute_bind_variables_stream_and_batch() {
    let cfg = QueryConfig {
        stream_chunk_rows: 2,
        ..QueryConfig::default()
    };
    let t = TestTablet::start(201, TabletType::Primary, cfg).await;
    t.exec("CREATE DATABASE app").await.unwrap();
    t.exec("CREATE TABLE app.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20), d DATETIME(3), n INT UNSIGNED)")
        .await
        .unwrap();
    let vars = HashMap::from([
        ("name".to_string(), val(pb::Type::VarString, "it's")),
        (
            "d".to_string(),
            val(pb::Type::Datetime, "2024-01-02 03:04:05.678"),
        ),
        ("n".to_string(), val(pb::Type::Null, "")),
    ]);
    let r = t
        .exec_opts(
            "INSERT INTO app.t (name, d, n) VALUES (:name, :d, :n)",
            vars,
            0,
            0,
        )
        .await
        .unwrap();
    assert_eq!((r.rows_affected, r.insert_id), (1, 1));
    for i in 0..4 {
        t.exec(&format!("INSERT INTO app.t (name, n) VALUES ('n{i}', {i})"))
            .await
            .unwrap();
    }

    // Text protocol and prepared statement give the same text values.
    let sql = "SELECT id, name, d, n FROM app.t WHERE id = :id";
    let by_id = HashMap::from([("id".to_string(), val(pb::Type::Longlong, "1"))]);
    let prepared = t.exec_opts(sql, by_id, 0, 0).await.unwrap();
    let text = t
        .exec("SELECT id, name, d, n FROM app.t WHERE id = 1")
        .await
        .unwrap();
    let expect = vec![vec!["1", "it's", "2024-01-02 03:04:05.678", "NULL"]];
    assert_eq!(rows(&prepared), expect);
    assert_eq!(rows(&text), expect);
    let f = &text.fields;
    assert_eq!(f.len(), 4);
    assert_eq!((f[0].name.as_str(), f[0].table.as_str()), ("id", "t"));
    assert_eq!(f[0].r#type, pb::Type::Longlong as i32);
    assert_eq!(f[1].r#type, pb::Type::VarString as i32);
    assert_eq!(f[3].flags & 32, 32, "n is UNSIGNED");
    assert!(text.rows[0].values[3].r#type == pb::Type::Null as i32);

    // StreamExecute: fields first, then rows in chunks of 2.
    let mut stream = t
        .query
        .clone()
        .stream_execute(pb::StreamExecuteRequest {
            query: Some(pb::BoundQuery {
                sql: "SELECT id FROM app.t ORDER BY id".into(),
                bind_variables: HashMap::new(),
            }),
            options: None,
        })
        .await
        .unwrap()
        .into_inner();
    let mut msgs = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        msgs.push(m.result.unwrap());
    }
    assert_eq!(msgs.len(), 4, "1 fields message + 3 row chunks");
    assert_eq!(msgs[0].fields[0].name, "id");
    let ids: Vec<String> = msgs[1..]
        .iter()
        .flat_map(rows)
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5"]);

    // ExecuteBatch as a transaction rolls everything back on error.
    let q = |sql: &str| pb::BoundQuery {
        sql: sql.into(),
        bind_variables: HashMap::new(),
    };
    let err = t
        .query
        .clone()
        .execute_batch(pb::ExecuteBatchRequest {
            queries: vec![q("DELETE FROM app.t"), q("SELEC oops")],
            as_transaction: true,
            transaction_id: 0,
            options: None,
        })
        .await
        .unwrap_err();
    assert_eq!(mysql_error(&err).unwrap().code, 1064);
    let count = t.exec("SELECT COUNT(*) FROM app.t").await.unwrap();
    assert_eq!(rows(&count), vec![vec!["5"]]);
    assert_eq!(t.tablet.query.transaction_count(), 0);
}

#[tokio::test]
async fn query_timeout_kills_the_query_on_mariadb() {
    let t = TestTablet::start(202, TabletType::Primary, QueryConfig::default()).await;
    let started = Instant::now();
    let err = t
        .exec_opts("SELECT SLEEP(10)", HashMap::new(), 0, 500)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    let me = mysql_error(&err).unwrap();
    assert_eq!(me.code, 1317);
    assert!(err.message().contains("timed out"), "{}", err.message());

    let opts = t.db.mysqld.dba_opts();
    eventually(
        Duration::from_secs(2),
        "SLEEP(10) gone from processlist",
        || {
            let opts = opts.clone();
            async move {
                let mut dba = mysql_async::Conn::new(opts).await.unwrap();
                let n: Option<u64> = dba
                    .query_first(
                        "SELECT COUNT(*) FROM information_schema.processlist \
                     WHERE info LIKE 'SELECT SLEEP(10)%'",
                    )
                    .await
                    .unwrap();
                n == Some(0)
            }
        },
    )
    .await;
    // The pool still works.
    assert_eq!(rows(&t.exec("SELECT 1").await.unwrap()), vec![vec!["1"]]);
}

#[tokio::test]
async fn max_rows_is_enforced() {
    let cfg = QueryConfig {
        max_rows: 3,
        ..QueryConfig::default()
    };
    let t = TestTablet::start(203, TabletType::Primary, cfg).await;
    let seq = "SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3";
    assert_eq!(t.exec(seq).await.unwrap().rows.len(), 3);
    let err = t
        .exec(&format!("{seq} UNION ALL SELECT 4"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(
        err.message().contains("Row count exceeded 3"),
        "{}",
        err.message()
    );
    assert_eq!(t.exec(seq).await.unwrap().rows.len(), 3);
}

#[tokio::test]
async fn abandoned_transaction_is_rolled_back() {
    let cfg = QueryConfig {
        tx_timeout: Duration::from_secs(1),
        ..QueryConfig::default()
    };
    let t = TestTablet::start(204, TabletType::Primary, cfg).await;
    t.exec("CREATE DATABASE app").await.unwrap();
    t.exec("CREATE TABLE app.acct (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
        .await
        .unwrap();
    t.exec("INSERT INTO app.acct VALUES (1, 10)").await.unwrap();

    let id = t.begin().await;
    assert_ne!(id, 0);
    t.exec_opts(
        "UPDATE app.acct SET v = 99 WHERE id = 1",
        HashMap::new(),
        id,
        0,
    )
    .await
    .unwrap();
    // Abandoned: nobody commits. Another connection waits on the row lock
    // and gets it once the tablet rolls the transaction back.
    let mut dba = t.db.dba().await;
    dba.query_drop("SET SESSION innodb_lock_wait_timeout = 20")
        .await
        .unwrap();
    let started = Instant::now();
    dba.query_drop("UPDATE app.acct SET v = v + 1 WHERE id = 1")
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(10), "lock held for {waited:?}");
    let v: Option<i32> = dba
        .query_first("SELECT v FROM app.acct WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(v, Some(11), "the abandoned UPDATE was rolled back");

    let err = t
        .query
        .clone()
        .commit(pb::CommitRequest { transaction_id: id })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert!(err.message().contains("not found"), "{}", err.message());
    assert_eq!(t.tablet.query.transaction_count(), 0);

    // A committed transaction works end to end.
    let id = t.begin().await;
    t.exec_opts(
        "UPDATE app.acct SET v = 5 WHERE id = 1",
        HashMap::new(),
        id,
        0,
    )
    .await
    .unwrap();
    t.query
        .clone()
        .commit(pb::CommitRequest { transaction_id: id })
        .await
        .unwrap();
    assert_eq!(
        rows(&t.exec("SELECT v FROM app.acct").await.unwrap()),
        vec![vec!["5"]]
    );
}

#[tokio::test]
async fn invalid_sql_passes_the_error_through_and_the_pool_survives() {
    let cfg = QueryConfig {
        pool_size: 1,
        ..QueryConfig::default()
    };
    let t = TestTablet::start(205, TabletType::Primary, cfg).await;
    let err = t.exec("SELEC 1").await.unwrap_err();
    let me = mysql_error(&err).unwrap();
    assert_eq!((me.code, me.sqlstate.as_str()), (1064, "42000"));
    assert!(me.message.contains("SQL syntax"), "{}", me.message);
    assert_eq!(err.code(), Code::InvalidArgument);
    // The single pooled connection is still good.
    assert_eq!(rows(&t.exec("SELECT 2").await.unwrap()), vec![vec!["2"]]);
    let err = t.exec("SELECT * FROM nope.nope").await.unwrap_err();
    assert_eq!(mysql_error(&err).unwrap().code, 1146);
    assert_eq!(rows(&t.exec("SELECT 3").await.unwrap()), vec![vec!["3"]]);
}

#[tokio::test]
async fn replica_refuses_writes() {
    let t = TestTablet::start(206, TabletType::Replica, QueryConfig::default()).await;
    let err = t.exec("CREATE DATABASE app").await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let me = mysql_error(&err).unwrap();
    assert_eq!(me.code, 1290);
    assert!(me.message.contains("REPLICA"), "{}", me.message);
    assert!(me.message.contains("not PRIMARY"), "{}", me.message);
    assert_eq!(rows(&t.exec("SELECT 1").await.unwrap()), vec![vec!["1"]]);
}

#[tokio::test]
async fn stream_health_reports_a_killed_mysqld_within_2s() {
    let t = TestTablet::start(207, TabletType::Primary, QueryConfig::default()).await;
    let mut stream = t
        .query
        .clone()
        .stream_health(pb::StreamHealthRequest {})
        .await
        .unwrap()
        .into_inner();
    // Wait for a healthy serving snapshot.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let h = stream.message().await.unwrap().unwrap();
        assert!(Instant::now() < deadline, "never serving: {h:?}");
        // The first probe may predate the helper's SET GLOBAL read_only=OFF.
        if h.serving && !h.read_only {
            assert!(h.mysqld_alive);
            assert_eq!(h.tablet_uid, 207);
            assert_eq!(h.tablet_type, pb::TabletType::Primary as i32);
            assert!(h.health_error.is_empty(), "{h:?}");
            break;
        }
    }
    let pid = t.db.mysqld.pid().unwrap();
    let killed = Instant::now();
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    loop {
        let h = tokio::time::timeout(Duration::from_secs(2), stream.message())
            .await
            .expect("no health message within 2s")
            .unwrap()
            .unwrap();
        if !h.mysqld_alive {
            assert!(!h.serving);
            assert!(
                killed.elapsed() < Duration::from_secs(2),
                "{:?}",
                killed.elapsed()
            );
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(2),
            "crash not reported"
        );
    }
}

#[tokio::test]
async fn pool_follows_a_mysqld_restart() {
    let t = TestTablet::start(208, TabletType::Replica, QueryConfig::default()).await;
    assert_eq!(rows(&t.exec("SELECT 1").await.unwrap()), vec![vec!["1"]]);
    t.db.mysqld.restart().await.unwrap();
    // The first query after the restart already gets a live connection:
    // mysql_async notices the pooled connection's socket was closed.
    assert_eq!(rows(&t.exec("SELECT 2").await.unwrap()), vec![vec!["2"]]);
    let pos = t
        .repl
        .clone()
        .primary_position(pb::PrimaryPositionRequest {})
        .await
        .unwrap();
    assert_eq!(pos.into_inner().position, "");
}

#[tokio::test]
async fn dropping_a_stream_kills_its_query() {
    let t = TestTablet::start(209, TabletType::Replica, QueryConfig::default()).await;
    // Rows larger than MariaDB's net buffer are flushed one by one, so the
    // stream starts at once; the whole query would take ~1000 s.
    let sql = "SELECT seq, REPEAT('x', 20000) AS pad, SLEEP(0.1) FROM mysql.seq_1_to_10000";
    let mut stream = t
        .query
        .clone()
        .stream_execute(pb::StreamExecuteRequest {
            query: Some(pb::BoundQuery {
                sql: sql.into(),
                bind_variables: HashMap::new(),
            }),
            options: Some(pb::ExecuteOptions {
                timeout_ms: 600_000,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let started = Instant::now();
    let fields = stream.message().await.unwrap().unwrap();
    assert_eq!(fields.result.unwrap().fields[0].name, "seq");
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(rows(&first.result.unwrap())[0][0], "1");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    drop(stream);
    let opts = t.db.mysqld.dba_opts();
    eventually(Duration::from_secs(5), "streamed query killed", || {
        let opts = opts.clone();
        async move {
            let mut dba = mysql_async::Conn::new(opts).await.unwrap();
            let n: Option<u64> = dba
                .query_first(
                    "SELECT COUNT(*) FROM information_schema.processlist \
                     WHERE info LIKE 'SELECT seq, REPEAT%'",
                )
                .await
                .unwrap();
            n == Some(0)
        }
    })
    .await;
}

/// More callers than connections: every one is served. Connections that
/// finish are parked for the next caller only while nobody waits in the
/// pool; parking them while callers waited there starved those callers
/// (sysbench at 32 threads against 16 connections timed out).
#[tokio::test]
async fn more_callers_than_connections_are_all_served() {
    let cfg = QueryConfig {
        pool_size: 2,
        query_timeout: Duration::from_secs(5),
        ..QueryConfig::default()
    };
    let t = TestTablet::start(210, TabletType::Primary, cfg).await;
    // Both connections end up parked; a transaction must still get one
    // (BEGIN once waited in the pool behind the parked ones until its
    // timeout).
    let (a, b) = tokio::join!(t.exec("SELECT SLEEP(0.05)"), t.exec("SELECT SLEEP(0.05)"));
    a.unwrap();
    b.unwrap();
    let tx = t.begin().await;
    t.query
        .clone()
        .commit(pb::CommitRequest { transaction_id: tx })
        .await
        .unwrap();
    for round in 0..3 {
        let sqls: Vec<String> = (0..12)
            .map(|i| format!("SELECT SLEEP(0.05), {i}"))
            .collect();
        let results = futures::future::join_all(sqls.iter().map(|sql| t.exec(sql))).await;
        for (i, r) in results.into_iter().enumerate() {
            let r = r.unwrap_or_else(|e| panic!("round {round}, caller {i}: {e}"));
            assert_eq!(rows(&r), vec![vec!["0".to_string(), i.to_string()]]);
        }
    }
}

/// The MariaDB connection a statement ran on.
async fn connection_id(engine: &tablet::query::QueryEngine) -> String {
    let r = engine
        .execute("SELECT CONNECTION_ID()", &HashMap::new(), 0, None)
        .await
        .expect("connection id");
    let cell = r.rows[0][0].clone().expect("not NULL");
    String::from_utf8(cell).expect("digits")
}

/// A single-threaded runtime (the gate's connection threads) gets
/// connections of its own: a connection opened on another runtime answers
/// through that runtime's reactor, so sharing one made every statement
/// cross threads. A runtime that ends leaves the others working, and the
/// engine still closes.
#[tokio::test]
async fn each_single_threaded_runtime_has_its_own_connections() {
    let t = TestTablet::start(211, TabletType::Primary, QueryConfig::default()).await;
    let engine = t.tablet.query.clone();
    let here = connection_id(&engine).await;
    assert_eq!(
        connection_id(&engine).await,
        here,
        "a parked connection is reused"
    );

    let other = engine.clone();
    let there = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let first = connection_id(&other).await;
            assert_eq!(
                connection_id(&other).await,
                first,
                "reused on its own runtime"
            );
            first
        })
    })
    .join()
    .expect("other runtime");
    assert_ne!(
        there, here,
        "the other runtime used this runtime's connection"
    );

    assert_eq!(connection_id(&engine).await, here);
    tokio::time::timeout(Duration::from_secs(20), engine.close())
        .await
        .expect("close finishes with a lane whose runtime is gone");
}

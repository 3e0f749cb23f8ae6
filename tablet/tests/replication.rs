//! ReplicationService with three real mariadbd instances: a primary and two
//! replicas, semi-sync, and a planned reparent.

mod common;

use std::time::Duration;

use common::{eventually, rows, TestTablet};
use mysql_async::prelude::Queryable;
use tablet::grpc::pb;
use tablet::gtid::GtidPosition;
use tablet::query::QueryConfig;
use tablet::TabletType;

async fn point(replica: &TestTablet, source: &TestTablet) {
    replica
        .repl
        .clone()
        .set_replication_source(pb::SetReplicationSourceRequest {
            host: "127.0.0.1".into(),
            port: u32::from(source.port),
            stop_replication: false,
        })
        .await
        .unwrap();
}

async fn primary_position(t: &TestTablet) -> String {
    t.repl
        .clone()
        .primary_position(pb::PrimaryPositionRequest {})
        .await
        .unwrap()
        .into_inner()
        .position
}

async fn wait_for(t: &TestTablet, position: &str) {
    let r = t
        .repl
        .clone()
        .wait_for_position(pb::WaitForPositionRequest {
            position: position.into(),
            timeout_ms: 20_000,
        })
        .await;
    if let Err(e) = r {
        let st = t
            .repl
            .clone()
            .replication_status(pb::ReplicationStatusRequest {})
            .await
            .unwrap()
            .into_inner();
        panic!("waiting for {position}: {e:?}\nreplication status: {st:?}");
    }
}

async fn semi_sync_status(t: &TestTablet) -> (String, u64) {
    let mut c = t.db.dba().await;
    let s: Option<(String, String)> = c
        .query_first("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'")
        .await
        .unwrap();
    let n: Option<(String, u64)> = c
        .query_first("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'")
        .await
        .unwrap();
    (s.unwrap().1, n.unwrap().1)
}

#[tokio::test]
async fn primary_two_replicas_semi_sync_and_planned_reparent() {
    let cfg = QueryConfig::default;
    let (p, r1, r2) = tokio::join!(
        TestTablet::start(301, TabletType::Primary, cfg()),
        TestTablet::start(302, TabletType::Replica, cfg()),
        TestTablet::start(303, TabletType::Replica, cfg()),
    );
    point(&r1, &p).await;
    point(&r2, &p).await;

    p.exec("CREATE DATABASE app").await.unwrap();
    p.exec("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(10))")
        .await
        .unwrap();
    p.exec("INSERT INTO app.t VALUES (1, 'one')").await.unwrap();
    let pos = primary_position(&p).await;
    assert!(pos.starts_with("0-301-"), "{pos}");
    for r in [&r1, &r2] {
        wait_for(r, &pos).await;
        let got = r.exec("SELECT id, v FROM app.t").await.unwrap();
        assert_eq!(rows(&got), vec![vec!["1", "one"]]);
        let st = r
            .repl
            .clone()
            .replication_status(pb::ReplicationStatusRequest {})
            .await
            .unwrap()
            .into_inner()
            .status
            .unwrap();
        assert!(st.configured && st.sql_running, "{st:?}");
        assert_eq!(st.source_port, u32::from(p.port));
        let applied: GtidPosition = st.position.parse().unwrap();
        let primary: GtidPosition = pos.parse().unwrap();
        assert!(applied.contains(&primary));
        assert!(applied.errant_relative_to(&primary).is_empty());
    }
    // Replicas refuse writes at the tablet.
    assert!(r1.exec("INSERT INTO app.t VALUES (9, 'x')").await.is_err());

    // Semi-sync: enable on both sides; the primary reports ON with clients.
    p.repl
        .clone()
        .set_semi_sync(pb::SetSemiSyncRequest {
            primary: true,
            replica: false,
            primary_timeout_ms: 3_600_000,
        })
        .await
        .unwrap();
    for r in [&r1, &r2] {
        r.repl
            .clone()
            .set_semi_sync(pb::SetSemiSyncRequest {
                primary: false,
                replica: true,
                primary_timeout_ms: 0,
            })
            .await
            .unwrap();
    }
    eventually(
        Duration::from_secs(10),
        "semi-sync master status ON",
        || async {
            let (status, clients) = semi_sync_status(&p).await;
            status == "ON" && clients >= 1
        },
    )
    .await;
    let mut dba = p.db.dba().await;
    let timeout: Option<u64> = dba
        .query_first("SELECT @@rpl_semi_sync_master_timeout")
        .await
        .unwrap();
    assert_eq!(timeout, Some(3_600_000));
    p.exec("INSERT INTO app.t VALUES (2, 'two')").await.unwrap();
    // The commit was acknowledged by a replica, not a timeout fallback.
    let acked: Option<(String, u64)> = dba
        .query_first("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_yes_tx'")
        .await
        .unwrap();
    assert!(acked.unwrap().1 >= 1);
    let pos = primary_position(&p).await;
    for r in [&r1, &r2] {
        wait_for(r, &pos).await;
    }

    // Planned reparent to r1.
    let demoted = p
        .repl
        .clone()
        .demote_primary(pb::DemotePrimaryRequest {})
        .await
        .unwrap()
        .into_inner()
        .position;
    assert_eq!(demoted, pos);
    assert!(p.exec("INSERT INTO app.t VALUES (3, 'x')").await.is_err());
    wait_for(&r1, &demoted).await;
    r1.repl
        .clone()
        .promote_replica(pb::PromoteReplicaRequest { primary_term: 2 })
        .await
        .unwrap();
    point(&p, &r1).await;
    point(&r2, &r1).await;
    r1.exec("INSERT INTO app.t VALUES (3, 'three')")
        .await
        .unwrap();
    let pos = primary_position(&r1).await;
    for t in [&p, &r2] {
        wait_for(t, &pos).await;
        let got = t.exec("SELECT COUNT(*) FROM app.t").await.unwrap();
        assert_eq!(rows(&got), vec![vec!["3"]]);
        let journal = t
            .exec("SELECT action_name, primary_alias FROM _vt.reparent_journal")
            .await
            .unwrap();
        assert_eq!(rows(&journal), vec![vec!["PromoteReplica", "302"]]);
    }
    // Health shows the new roles.
    let h = r1
        .query
        .clone()
        .stream_health(pb::StreamHealthRequest {})
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h.tablet_type, pb::TabletType::Primary as i32);
    assert_eq!(h.primary_term, 2);
    assert!(!h.read_only, "{h:?}");
}

#[tokio::test]
async fn wait_for_position_times_out_clearly() {
    let t = TestTablet::start(304, TabletType::Replica, QueryConfig::default()).await;
    let err = t
        .repl
        .clone()
        .wait_for_position(pb::WaitForPositionRequest {
            position: "0-999-5".into(),
            timeout_ms: 200,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::DeadlineExceeded, "{err:?}");
    assert!(err.message().contains("0-999-5"), "{}", err.message());
    let err = t
        .repl
        .clone()
        .wait_for_position(pb::WaitForPositionRequest {
            position: "garbage".into(),
            timeout_ms: 200,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

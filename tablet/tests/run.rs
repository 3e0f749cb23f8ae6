//! Launch and shut down a whole tablet in one call.

mod common;

use std::collections::HashMap;

use tablet::grpc::pb;
use tablet::grpc::pb::query_service_client::QueryServiceClient;
use tablet::mysqlctl::{MysqlctlConfig, MysqldState};
use tablet::{RunningTablet, TabletConfig, TabletUid};

#[tokio::test]
async fn launch_serve_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mysql = MysqlctlConfig::new(TabletUid(401), common::free_port(), dir.path());
    let running = RunningTablet::launch(
        mysql,
        TabletConfig::default(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let mut client = QueryServiceClient::connect(format!("http://{}", running.grpc_addr))
        .await
        .unwrap();
    let r = client
        .execute(pb::ExecuteRequest {
            query: Some(pb::BoundQuery {
                sql: "SELECT @@server_id".into(),
                bind_variables: HashMap::new(),
            }),
            transaction_id: 0,
            options: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(common::rows(&r.result.unwrap()), vec![vec!["401"]]);
    let state = running.tablet.mysqld.state();
    running.shutdown().await.unwrap();
    assert_eq!(*state.borrow(), MysqldState::Stopped);
}

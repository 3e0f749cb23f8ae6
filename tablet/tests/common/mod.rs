//! Shared helpers: real mariadbd instances in temp dirs on free ports.
#![allow(dead_code)]

use std::time::Duration;

use tablet::mysqlctl::{MysqlctlConfig, Mysqld};
use tablet::TabletUid;

#[allow(unused_imports)] // each test binary uses its own subset
pub use testkit::free_port;

/// A started, bootstrapped mariadbd; killed when dropped (with its dir).
pub struct TestMysqld {
    pub mysqld: std::sync::Arc<Mysqld>,
    pub dir: tempfile::TempDir,
}

impl TestMysqld {
    pub async fn start(uid: u32) -> TestMysqld {
        let dir = tempfile::tempdir().unwrap();
        let cfg = MysqlctlConfig::new(TabletUid(uid), free_port(), dir.path());
        let mysqld = Mysqld::new(cfg);
        mysqld.init().await.unwrap();
        mysqld.start().await.unwrap();
        mysqld.bootstrap().await.unwrap();
        TestMysqld {
            mysqld: std::sync::Arc::new(mysqld),
            dir,
        }
    }

    pub async fn dba(&self) -> mysql_async::Conn {
        mysql_async::Conn::new(self.mysqld.dba_opts())
            .await
            .unwrap()
    }
}

/// Poll `f` until it returns true or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if f().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

use std::collections::HashMap;

use tablet::grpc::pb;
use tablet::grpc::pb::query_service_client::QueryServiceClient;
use tablet::grpc::pb::replication_service_client::ReplicationServiceClient;
use tablet::query::QueryConfig;
use tablet::{Tablet, TabletConfig, TabletType};
use tonic::transport::Channel;

/// A tablet over a real mariadbd, served on 127.0.0.1:0, with clients.
pub struct TestTablet {
    pub tablet: Tablet,
    pub db: TestMysqld,
    pub port: u16,
    pub query: QueryServiceClient<Channel>,
    pub repl: ReplicationServiceClient<Channel>,
    server: tokio::task::JoinHandle<tablet::Result<()>>,
}

impl Drop for TestTablet {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestTablet {
    pub async fn start(uid: u32, tablet_type: TabletType, query: QueryConfig) -> TestTablet {
        let db = TestMysqld::start(uid).await;
        let tablet = Tablet::new(
            db.mysqld.clone(),
            TabletConfig {
                initial_type: tablet_type,
                query,
                health_probe_interval: Duration::from_millis(500),
            },
        );
        if tablet_type == TabletType::Primary {
            tablet.replication.set_read_only(false).await.unwrap();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (addr, server) = tablet.serve(listener).unwrap();
        let url = format!("http://{addr}");
        let query = QueryServiceClient::connect(url.clone()).await.unwrap();
        let repl = ReplicationServiceClient::connect(url).await.unwrap();
        let port = db.mysqld.config().port;
        TestTablet {
            tablet,
            db,
            port,
            query,
            repl,
            server,
        }
    }

    /// Begins a transaction over gRPC; its id.
    pub async fn begin(&self) -> u64 {
        self.query
            .clone()
            .begin(pb::BeginRequest { options: None })
            .await
            .expect("begin")
            .into_inner()
            .transaction_id
    }

    pub async fn exec(&self, sql: &str) -> Result<pb::QueryResult, tonic::Status> {
        self.exec_opts(sql, HashMap::new(), 0, 0).await
    }

    pub async fn exec_opts(
        &self,
        sql: &str,
        bind_variables: HashMap<String, pb::Value>,
        transaction_id: u64,
        timeout_ms: u64,
    ) -> Result<pb::QueryResult, tonic::Status> {
        let r = self
            .query
            .clone()
            .execute(pb::ExecuteRequest {
                query: Some(pb::BoundQuery {
                    sql: sql.into(),
                    bind_variables,
                }),
                transaction_id,
                options: Some(pb::ExecuteOptions { timeout_ms }),
            })
            .await?;
        Ok(r.into_inner().result.unwrap())
    }
}

/// The rows of a result as strings ("NULL" for NULL).
pub fn rows(r: &pb::QueryResult) -> Vec<Vec<String>> {
    r.rows
        .iter()
        .map(|row| {
            row.values
                .iter()
                .map(|v| {
                    if v.r#type == pb::Type::Null as i32 {
                        "NULL".to_string()
                    } else {
                        String::from_utf8_lossy(&v.value).into_owned()
                    }
                })
                .collect()
        })
        .collect()
}

//! A tablet: mysqld + role + query engine + replication + health, and the
//! gRPC server exposing them. Topology registration will hang off this type
//! later (it needs only [`Tablet::health`] and the role).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use crate::error::{Error, Result};
use crate::grpc::pb::query_service_server::QueryServiceServer;
use crate::grpc::pb::replication_service_server::ReplicationServiceServer;
use crate::grpc::{QueryServiceImpl, ReplicationServiceImpl};
use crate::health::HealthReporter;
use crate::mysqlctl::Mysqld;
use crate::query::{QueryConfig, QueryEngine};
use crate::replication::Replication;
use crate::state::TabletState;
use crate::types::TabletType;

#[derive(Debug, Clone)]
pub struct TabletConfig {
    /// The type the tablet starts as (mysqld is read-only regardless).
    pub initial_type: TabletType,
    pub query: QueryConfig,
    /// How often health probes MariaDB.
    pub health_probe_interval: Duration,
}

impl Default for TabletConfig {
    fn default() -> Self {
        TabletConfig {
            initial_type: TabletType::Replica,
            query: QueryConfig::default(),
            health_probe_interval: Duration::from_secs(1),
        }
    }
}

pub struct Tablet {
    pub mysqld: Arc<Mysqld>,
    pub state: Arc<TabletState>,
    pub query: QueryEngine,
    pub replication: Replication,
    pub health: Arc<HealthReporter>,
}

impl Tablet {
    /// Wire up a tablet over a started mysqld. Must run inside a tokio
    /// runtime (the health task starts here).
    pub fn new(mysqld: Arc<Mysqld>, cfg: TabletConfig) -> Tablet {
        let state = Arc::new(TabletState::new(mysqld.config().uid, cfg.initial_type));
        let query = QueryEngine::new(&mysqld, state.clone(), cfg.query);
        let replication = Replication::new(&mysqld, state.clone());
        let health = Arc::new(HealthReporter::spawn(
            &mysqld,
            state.clone(),
            replication.clone(),
            cfg.health_probe_interval,
        ));
        Tablet {
            mysqld,
            state,
            query,
            replication,
            health,
        }
    }

    pub fn query_service(&self) -> QueryServiceServer<QueryServiceImpl> {
        QueryServiceServer::new(QueryServiceImpl::new(
            self.query.clone(),
            self.health.clone(),
        ))
    }

    pub fn replication_service(&self) -> ReplicationServiceServer<ReplicationServiceImpl> {
        ReplicationServiceServer::new(ReplicationServiceImpl::new(self.replication.clone()))
    }

    /// Serve both services on `listener` in a background task; returns the
    /// bound address. The server stops when the returned handle is aborted
    /// or dropped along with the runtime.
    pub fn serve(
        &self,
        listener: TcpListener,
    ) -> Result<(SocketAddr, tokio::task::JoinHandle<Result<()>>)> {
        let addr = listener
            .local_addr()
            .map_err(Error::io("reading the gRPC listener address"))?;
        // Nagle off on accepted connections (`Server::tcp_nodelay` does not
        // apply to `serve_with_incoming`): otherwise a small response can
        // wait ~40 ms for the gate's delayed ACK — every query did, until
        // the sysbench benchmark showed 44 ms p95 for a point select.
        let router = tonic::transport::Server::builder()
            .add_service(self.query_service())
            .add_service(self.replication_service());
        let handle = tokio::spawn(async move {
            router
                .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true)))
                .await
                .map_err(|e| Error::Unavailable(format!("gRPC server failed: {e}")))
        });
        Ok((addr, handle))
    }

    /// Roll back open transactions and close connection pools.
    pub async fn close(&self) {
        self.query.close().await;
        self.replication.close().await;
    }
}

//! Launching a whole tablet in one call — what `vitrail tablet` (and
//! `vitrail up`) will use: init the datadir if needed, start mariadbd,
//! bootstrap users and `_vt`, serve gRPC; and the reverse on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::mysqlctl::{MysqlctlConfig, Mysqld};
use crate::tablet::{Tablet, TabletConfig};

pub struct RunningTablet {
    pub tablet: Tablet,
    /// Where QueryService and ReplicationService listen.
    pub grpc_addr: SocketAddr,
    server: JoinHandle<Result<()>>,
}

impl RunningTablet {
    /// `grpc_addr` may use port 0; the bound address is in `grpc_addr`.
    pub async fn launch(
        mysql: MysqlctlConfig,
        cfg: TabletConfig,
        grpc_addr: SocketAddr,
    ) -> Result<RunningTablet> {
        let listener = TcpListener::bind(grpc_addr)
            .await
            .map_err(Error::io(format!("binding gRPC address {grpc_addr}")))?;
        let mysqld = Arc::new(Mysqld::new(mysql));
        mysqld.init().await?;
        mysqld.start().await?;
        mysqld.bootstrap().await?;
        let tablet = Tablet::new(mysqld, cfg);
        let (grpc_addr, server) = tablet.serve(listener)?;
        tracing::info!(uid = %tablet.state.uid, %grpc_addr, "tablet serving");
        Ok(RunningTablet {
            tablet,
            grpc_addr,
            server,
        })
    }

    /// Stop serving, roll back open transactions, stop mariadbd cleanly.
    pub async fn shutdown(self) -> Result<()> {
        self.server.abort();
        self.tablet.close().await;
        self.tablet.mysqld.stop().await
    }
}

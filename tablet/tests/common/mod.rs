//! Shared helpers: real mariadbd instances in temp dirs on free ports.
#![allow(dead_code)]

use std::time::Duration;

use tablet::mysqlctl::{MysqlctlConfig, Mysqld};
use tablet::TabletUid;

/// A free 127.0.0.1 port (bound to :0, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

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

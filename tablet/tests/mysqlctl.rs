//! mysqlctl against a real mariadbd.

mod common;

use std::time::Duration;

use common::{free_port, TestMysqld};
use mysql_async::prelude::Queryable;
use tablet::mysqlctl::{MysqlctlConfig, Mysqld, MysqldState};
use tablet::{Error, TabletUid};

#[tokio::test]
async fn init_start_bootstrap_stop_restart() {
    let t = TestMysqld::start(101).await;
    let dir = t.mysqld.dir().clone();
    for p in [
        dir.data(),
        dir.tmp(),
        dir.my_cnf(),
        dir.socket(),
        dir.pid_file(),
        dir.error_log(),
    ] {
        assert!(p.exists(), "{} missing", p.display());
    }

    let mut app = mysql_async::Conn::new(t.mysqld.app_opts()).await.unwrap();
    let row: (u32, u8, String) = app
        .query_first("SELECT @@server_id, @@read_only, @@binlog_format")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row, (101, 1, "ROW".to_string()));
    // read_only stops vt_app (no SUPER) from writing.
    let err = app.query_drop("CREATE DATABASE nope").await.unwrap_err();
    match err {
        mysql_async::Error::Server(e) => assert_eq!(e.code, 1290, "{e:?}"),
        e => panic!("unexpected {e:?}"),
    }
    drop(app);

    let mut dba = t.dba().await;
    let n: Option<u64> = dba
        .query_first("SELECT COUNT(*) FROM _vt.reparent_journal")
        .await
        .unwrap();
    assert_eq!(n, Some(0));
    let users: Vec<(String, String)> = dba
        .query("SELECT user, host FROM mysql.user WHERE user LIKE 'vt\\_%' ORDER BY user, host")
        .await
        .unwrap();
    assert_eq!(users.len(), 6, "{users:?}");
    // Bootstrap is not binlogged: no GTIDs of our own.
    let pos: Option<String> = dba.query_first("SELECT @@gtid_current_pos").await.unwrap();
    assert_eq!(pos.as_deref(), Some(""));
    dba.disconnect().await.unwrap();

    t.mysqld.stop().await.unwrap();
    assert_eq!(*t.mysqld.state().borrow(), MysqldState::Stopped);
    assert!(!dir.socket().exists());
    t.mysqld.start().await.unwrap();
    t.mysqld.bootstrap().await.unwrap();
    assert!(t.mysqld.state().borrow().is_alive());
    t.mysqld.restart().await.unwrap();
    let mut dba = t.dba().await;
    dba.query_drop("SELECT 1").await.unwrap();
}

#[tokio::test]
async fn crash_is_reported() {
    let t = TestMysqld::start(102).await;
    let mut state = t.mysqld.state();
    let pid = t.mysqld.pid().unwrap();
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if matches!(*state.borrow_and_update(), MysqldState::Crashed { .. }) {
                return;
            }
            state.changed().await.unwrap();
        }
    })
    .await
    .expect("crash not reported within 2s");
    // And it can be started again.
    t.mysqld.start().await.unwrap();
}

#[tokio::test]
async fn port_in_use_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mysqld = Mysqld::new(MysqlctlConfig::new(TabletUid(103), port, dir.path()));
    mysqld.init().await.unwrap();
    let err = mysqld.start().await.unwrap_err();
    assert!(
        matches!(err, Error::PortInUse { port: p } if p == port),
        "{err}"
    );
    assert!(err.to_string().contains("already in use"), "{err}");
}

#[tokio::test]
async fn missing_binary_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = MysqlctlConfig::new(TabletUid(104), free_port(), dir.path());
    cfg.mariadbd_path = "/nonexistent/mariadbd".into();
    let mysqld = Mysqld::new(cfg);
    let err = mysqld.start().await.unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(err.to_string().contains("/nonexistent/mariadbd"), "{err}");

    let mut cfg = MysqlctlConfig::new(TabletUid(104), free_port(), dir.path());
    cfg.install_db_path = "/nonexistent/mariadb-install-db".into();
    let err = Mysqld::new(cfg).init().await.unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/mariadb-install-db"),
        "{err}"
    );
}

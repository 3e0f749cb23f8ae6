//! A whole vitrail in one process for gate tests: a one-node control plane,
//! keyspace `commerce` with shards `-80` and `80-` (one primary tablet each,
//! real mariadbd), the VSchema and serving graph, and a gate on a free port.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use consensus::api::ApiConfig;
use consensus::node::NodeConfig;
use consensus::server::Server;
use gate::server::launch::{start, GateConfig, RunningGate};
use gate::users::Users;
use mysql_async::prelude::Queryable;
use tablet::mysqlctl::{MysqlctlConfig, Mysqld};
use tablet::query::QueryConfig;
use tablet::{Tablet, TabletConfig, TabletUid};
use topo::kv::{EtcdKv, Kv};
use topo::records::{Cell, DurabilityPolicy, Keyspace, TabletAlias, TabletType};
use topo::server::Topo;

pub const USER: &str = "app";
pub const PASSWORD: &str = "s3cret";
pub const SHARDS: [&str; 2] = ["-80", "80-"];

pub const VSCHEMA: &str = r#"{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {
    "users": {"column_vindexes": [{"column": "user_id", "name": "hash"}]},
    "orders": {"column_vindexes": [{"column": "user_id", "name": "hash"}]},
    "products": {"type": "reference"}
  }
}"#;

#[allow(unused_imports)] // each test binary uses its own subset
pub use testkit::free_port;

pub struct ShardTablet {
    pub shard: String,
    pub mysqld: Arc<Mysqld>,
    pub tablet: Tablet,
    server: tokio::task::JoinHandle<tablet::Result<()>>,
}

impl Drop for ShardTablet {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl ShardTablet {
    pub async fn dba(&self) -> mysql_async::Conn {
        mysql_async::Conn::new(self.mysqld.dba_opts())
            .await
            .expect("dba connection")
    }

    /// Runs `sql` directly on this shard's MariaDB; rows as strings.
    pub async fn query(&self, sql: &str) -> Vec<Vec<String>> {
        let mut c = self.dba().await;
        let rows: Vec<mysql_async::Row> = c.query(sql).await.expect(sql);
        rows.into_iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| match r.as_ref(i) {
                        Some(mysql_async::Value::NULL) | None => "NULL".to_string(),
                        Some(mysql_async::Value::Bytes(b)) => String::from_utf8_lossy(b).into(),
                        Some(v) => v.as_sql(true).trim_matches('\'').to_string(),
                    })
                    .collect()
            })
            .collect()
    }
}

pub struct Cluster {
    pub gate: RunningGate,
    pub tablets: Vec<ShardTablet>,
    pub topo: Topo,
    pub control: Option<Server>,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    pub async fn start() -> Cluster {
        Cluster::start_with(QueryConfig::default()).await
    }

    /// With the tablets' query limits (e.g. a small `max_rows`).
    pub async fn start_with(query: QueryConfig) -> Cluster {
        Cluster::start_opts(query, None).await
    }

    /// With the tablets' query limits and the gate's connection threads
    /// (`None`: the default, one per core).
    pub async fn start_opts(query: QueryConfig, conn_threads: Option<usize>) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let client = format!("127.0.0.1:{}", free_port());
        let peer = format!("127.0.0.1:{}", free_port());
        let cfg = NodeConfig::new("n1", dir.path().join("control"), &client, &peer);
        let control = Server::start(cfg, ApiConfig::default(), None)
            .await
            .expect("control plane starts");
        let addr = control.client_addr().to_string();
        let kv: Arc<dyn Kv> = Arc::new(EtcdKv::connect(&[addr]).await.expect("etcd client"));
        let topo = Topo::new(kv.clone());
        within("the control plane to accept writes", async {
            loop {
                match topo
                    .create_cell(&Cell {
                        name: "zone1".into(),
                        region: String::new(),
                    })
                    .await
                {
                    Ok(()) => break,
                    Err(e) if e.is_retryable() => {
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                    Err(e) => panic!("create cell: {e}"),
                }
            }
        })
        .await;
        topo.create_keyspace(
            &Keyspace {
                name: "commerce".into(),
                durability_policy: DurabilityPolicy::None,
                served_from: None,
            },
            2,
        )
        .await
        .expect("create keyspace");
        topo.save_vschema_json("commerce", VSCHEMA.as_bytes())
            .await
            .expect("save vschema");

        let mut tablets = Vec::new();
        for (i, shard) in SHARDS.iter().enumerate() {
            let uid = 101 + 100 * i as u32;
            let t = start_tablet(
                dir.path().join(format!("t{uid}")),
                uid,
                shard,
                query.clone(),
            )
            .await;
            let alias = TabletAlias::new("zone1", uid);
            let grpc_port = t.grpc_port;
            topo.create_tablet(&topo::records::Tablet {
                alias: alias.clone(),
                hostname: "127.0.0.1".into(),
                grpc_port,
                mysql_port: t.tablet.mysqld.config().port,
                keyspace: "commerce".into(),
                shard: shard.to_string(),
                tablet_type: TabletType::Primary,
                primary_term_start_ms: Some(1),
            })
            .await
            .expect("create tablet");
            topo.update_shard_fields("commerce", shard, |s| {
                s.primary_alias = Some(alias.clone());
                s.primary_term = 1;
                Ok(())
            })
            .await
            .expect("set primary");
            tablets.push(t.tablet);
        }
        topo.rebuild_srv_keyspace("commerce", &[])
            .await
            .expect("srv keyspace");
        topo.rebuild_srv_vschema(&[]).await.expect("srv vschema");

        let mut cfg = GateConfig::new("zone1", "127.0.0.1:0", Users::single(USER, PASSWORD));
        cfg.metrics_addr = Some("127.0.0.1:0".into());
        cfg.buffer_window = Duration::from_secs(2);
        if let Some(n) = conn_threads {
            cfg.conn_threads = n;
        }
        let gate = start(kv, cfg).await.expect("gate starts");
        Cluster {
            gate,
            tablets,
            topo,
            control: Some(control),
            dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.gate.mysql_addr.port()
    }

    pub fn tablet(&self, shard: &str) -> &ShardTablet {
        self.tablets
            .iter()
            .find(|t| t.shard == shard)
            .expect("known shard")
    }

    /// The `mariadb` CLI against the gate (batch mode: tab-separated, no
    /// headers with `-N`).
    pub fn cli(&self, user: &str, password: &str, sql: &str) -> Output {
        std::process::Command::new("mariadb")
            .args([
                "--protocol=TCP",
                "-h",
                "127.0.0.1",
                "-P",
                &self.port().to_string(),
                "-u",
                user,
                &format!("-p{password}"),
                "--batch",
                "-N",
                "-e",
                sql,
            ])
            .output()
            .expect("mariadb CLI runs")
    }

    /// Runs `sql` as the test user; panics with stderr on failure.
    pub fn sql(&self, sql: &str) -> String {
        let out = self.cli(USER, PASSWORD, sql);
        assert!(
            out.status.success(),
            "mariadb -e {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn url(&self) -> String {
        format!(
            "mysql://{USER}:{PASSWORD}@127.0.0.1:{}/commerce",
            self.port()
        )
    }

    /// The gate's metrics page, fetched over HTTP (status line included).
    pub async fn metrics(&self) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.gate.metrics_addr.expect("metrics address");
        let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        sock.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut page = String::new();
        sock.read_to_string(&mut page).await.unwrap();
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        page
    }

    pub async fn shutdown(mut self) {
        for t in &self.tablets {
            t.tablet.close().await;
        }
        if let Some(c) = self.control.take() {
            c.shutdown().await;
        }
    }
}

struct Started {
    tablet: ShardTablet,
    grpc_port: u16,
}

async fn start_tablet(dir: PathBuf, uid: u32, shard: &str, query: QueryConfig) -> Started {
    std::fs::create_dir_all(&dir).expect("tablet dir");
    let cfg = MysqlctlConfig::new(TabletUid(uid), free_port(), &dir);
    let mysqld = Mysqld::new(cfg);
    mysqld.init().await.expect("mysqld init");
    mysqld.start().await.expect("mysqld start");
    mysqld.bootstrap().await.expect("mysqld bootstrap");
    let mysqld = Arc::new(mysqld);
    let tablet = Tablet::new(
        mysqld.clone(),
        TabletConfig {
            initial_type: tablet::TabletType::Primary,
            query,
            health_probe_interval: Duration::from_millis(500),
        },
    );
    tablet
        .replication
        .set_read_only(false)
        .await
        .expect("read-write");
    // The database that holds the keyspace's tables on every shard.
    let mut c = mysql_async::Conn::new(mysqld.dba_opts())
        .await
        .expect("dba connection");
    c.query_drop("CREATE DATABASE IF NOT EXISTS commerce")
        .await
        .expect("create database");
    drop(c);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind grpc");
    let (addr, server) = tablet.serve(listener).expect("serve");
    Started {
        grpc_port: addr.port(),
        tablet: ShardTablet {
            shard: shard.to_string(),
            mysqld,
            tablet,
            server,
        },
    }
}

pub async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The shard owning `user_id` under the hash vindex.
pub fn shard_of(user_id: u64) -> &'static str {
    let ksid = topo::vindex::Hash::hash_u64(user_id);
    if ksid.0[0] < 0x80 {
        "-80"
    } else {
        "80-"
    }
}

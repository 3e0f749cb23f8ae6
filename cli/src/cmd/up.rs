//! `vitrail up`: a whole local vitrail in one process — control plane,
//! keyspace `commerce` with N shards × (1 primary + R replicas) of real
//! mariadbd, schema, VSchema, serving graph and a gate on 127.0.0.1:15306.
//!
//! Everything lives under `--dir`: `control/<node>/` (Raft + RocksDB),
//! `tablets/vt_<uid>/` (MariaDB), and an `initialized` marker written once
//! the first start has applied schema and VSchema. A later `vitrail up` on
//! the same directory reuses it all: the topology already exists, each
//! agent restores its role from the shard record, nothing is re-initialised.
//! Ctrl-C (or SIGTERM) stops the gate, the tablets (alive keys revoked,
//! mariadbd shut down cleanly) and the control plane.
//!
//! Ports (defaults, each has a flag): control `2379/2380` (+100 per extra
//! member), tablet `uid` serves gRPC on `16000 + uid` and MariaDB on
//! `17000 + uid`, where shard `i` (0-based) has uids `100·(i+1) + 1 …`, the
//! first one its primary.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use consensus::api::ApiConfig;
use consensus::node::NodeConfig;
use consensus::server::Server;
use gate::server::launch::{start as start_gate, GateConfig};
use gate::users::Users;
use mysql_async::prelude::Queryable;
use tablet::agent::init_primary::{init_shard_primary, InitOptions};
use tablet::agent::{AgentConfig, TabletAgent};
use topo::kv::{EtcdKv, Kv};
use topo::records::{Cell, DurabilityPolicy, Keyspace, TabletAlias};
use topo::server::{Topo, TopoError};

const CELL: &str = "zone1";
const KEYSPACE: &str = "commerce";

const DEFAULT_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
  user_id BIGINT NOT NULL PRIMARY KEY,
  name VARCHAR(255)
);
CREATE TABLE IF NOT EXISTS orders (
  order_id BIGINT NOT NULL PRIMARY KEY,
  user_id BIGINT,
  amount DECIMAL(10,2)
);
CREATE TABLE IF NOT EXISTS products (
  product_id BIGINT NOT NULL PRIMARY KEY,
  name VARCHAR(255),
  price DECIMAL(10,2)
);
";

const DEFAULT_VSCHEMA: &str = r#"{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {
    "users": {"column_vindexes": [{"column": "user_id", "name": "hash"}]},
    "orders": {"column_vindexes": [{"column": "user_id", "name": "hash"}]},
    "products": {"type": "reference"}
  }
}"#;

#[derive(clap::Args)]
pub struct Args {
    /// Where all data lives; reused by the next `vitrail up`.
    #[arg(long, default_value = "vitrail-data")]
    dir: PathBuf,
    /// Shards of keyspace `commerce` (first start only).
    #[arg(long, default_value_t = 2)]
    shards: usize,
    /// Replicas per shard besides the primary.
    #[arg(long, default_value_t = 2)]
    replicas: u32,
    /// Control-plane members run in this process: 1 or 3.
    #[arg(long, default_value_t = 1)]
    control_nodes: usize,
    /// VSchema JSON for `commerce` (default: users/orders by hash(user_id),
    /// products as a reference table).
    #[arg(long)]
    vschema: Option<PathBuf>,
    /// SQL run on every shard's primary at first start (`;`-separated
    /// statements, no `;` inside them).
    #[arg(long)]
    schema: Option<PathBuf>,
    /// host:port for MySQL clients.
    #[arg(long, default_value = "127.0.0.1:15306")]
    mysql_addr: String,
    /// Client port of the first control-plane member (its peer port is the
    /// next one; further members add 100).
    #[arg(long, default_value_t = 2379)]
    control_port: u16,
    /// Tablet `uid` serves gRPC on this + uid.
    #[arg(long, default_value_t = 16000)]
    grpc_port_base: u16,
    /// Tablet `uid` runs MariaDB on this + uid.
    #[arg(long, default_value_t = 17000)]
    mysql_port_base: u16,
    /// Threads serving MySQL client connections, each with its own
    /// single-threaded runtime (default: one per core; 0 serves them on
    /// the shared runtime).
    #[arg(long, env = "VITRAIL_CONN_THREADS")]
    conn_threads: Option<usize>,
}

fn say(msg: impl AsRef<str>) {
    println!("[vitrail up] {}", msg.as_ref());
}

/// Statements of a schema file: split on `;`, blank ones dropped.
fn statements(sql: &str) -> Vec<String> {
    sql.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Tablet uids of shard `index`: the primary first.
fn shard_uids(index: usize, replicas: u32) -> Vec<u32> {
    let base = 100 * (index as u32 + 1);
    (1..=replicas + 1).map(|i| base + i).collect()
}

async fn start_control(
    dir: &Path,
    nodes: usize,
    first_port: u16,
) -> anyhow::Result<(Vec<Server>, Vec<String>)> {
    if nodes != 1 && nodes != 3 {
        bail!("--control-nodes must be 1 or 3");
    }
    let members: Vec<(String, String, String)> = (0..nodes)
        .map(|i| {
            let port = first_port.saturating_add(100 * i as u16);
            (
                format!("n{}", i + 1),
                format!("127.0.0.1:{port}"),
                format!("127.0.0.1:{}", port + 1),
            )
        })
        .collect();
    let mut servers = Vec::new();
    for (name, client, peer) in &members {
        let mut cfg = NodeConfig::new(name, dir.join("control").join(name), client, peer);
        if nodes > 1 {
            cfg.initial_cluster = members
                .iter()
                .map(|(n, _, p)| (n.clone(), p.clone()))
                .collect();
        }
        let server = Server::start(cfg, ApiConfig::default(), None)
            .await
            .with_context(|| format!("starting control-plane member {name} on {client}"))?;
        servers.push(server);
    }
    Ok((servers, members.into_iter().map(|(_, c, _)| c).collect()))
}

/// Retries `f` while the control plane has no leader yet.
async fn retry<T, F, Fut>(what: &str, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, TopoError>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(anyhow::Error::new(e).context(what.to_string())),
        }
    }
}

async fn apply_schema(agent: &TabletAgent, stmts: &[String]) -> anyhow::Result<()> {
    let opts = agent.tablet().mysqld.dba_opts();
    let mut conn = mysql_async::Conn::new(opts)
        .await
        .with_context(|| format!("connecting to {}", agent.alias()))?;
    conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS `{KEYSPACE}`"))
        .await?;
    conn.query_drop(format!("USE `{KEYSPACE}`")).await?;
    for s in stmts {
        conn.query_drop(s.as_str())
            .await
            .with_context(|| format!("on {}: {s}", agent.alias()))?;
    }
    let _ = conn.disconnect().await;
    Ok(())
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let schema = match &args.schema {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("reading --schema {}", p.display()))?,
        None => DEFAULT_SCHEMA.to_string(),
    };
    let vschema = match &args.vschema {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("reading --vschema {}", p.display()))?,
        None => DEFAULT_VSCHEMA.to_string(),
    };
    if args.shards == 0 {
        bail!("--shards must be at least 1");
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let dir = args
        .dir
        .canonicalize()
        .with_context(|| format!("resolving {}", args.dir.display()))?;
    let marker = dir.join("initialized");
    let fresh = !marker.exists();
    say(format!(
        "{} {}",
        if fresh { "creating" } else { "reusing" },
        dir.display()
    ));

    say(format!(
        "starting {} control-plane member(s)",
        args.control_nodes
    ));
    let (servers, endpoints) = start_control(&dir, args.control_nodes, args.control_port).await?;
    let kv = EtcdKv::connect(&endpoints).await?;
    let kv: Arc<dyn Kv> = Arc::new(kv);
    let topo = Topo::new(kv.clone());

    let result = run_cluster(&args, &dir, &topo, kv, &endpoints, fresh, &schema, &vschema).await;
    say("stopping the control plane");
    for s in servers {
        s.shutdown().await;
    }
    result?;
    say("stopped; data kept for the next `vitrail up`");
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn run_cluster(
    args: &Args,
    dir: &Path,
    topo: &Topo,
    kv: Arc<dyn Kv>,
    endpoints: &[String],
    fresh: bool,
    schema: &str,
    vschema: &str,
) -> anyhow::Result<()> {
    let cells = retry("listing cells", || topo.list_cells()).await?;
    if !cells.iter().any(|c| c == CELL) {
        topo.create_cell(&Cell {
            name: CELL.into(),
            region: String::new(),
        })
        .await?;
        say(format!("created cell {CELL}"));
    }
    let shards: Vec<String> = match topo.list_shards(KEYSPACE).await {
        Ok(s) => s.into_iter().map(|s| s.value.name).collect(),
        Err(e) if e.is_not_found() => {
            let created = topo
                .create_keyspace(
                    &Keyspace {
                        name: KEYSPACE.into(),
                        durability_policy: DurabilityPolicy::SemiSync,
                        served_from: None,
                    },
                    args.shards,
                )
                .await?;
            let names: Vec<String> = created.into_iter().map(|s| s.name).collect();
            say(format!(
                "created keyspace {KEYSPACE} (semi_sync) with shards {}",
                names.join(", ")
            ));
            names
        }
        Err(e) => return Err(e.into()),
    };
    if !fresh && shards.len() != args.shards {
        say(format!(
            "keeping the existing {} shard(s) (--shards applies to a new directory only)",
            shards.len()
        ));
    }

    say(format!(
        "starting {} tablet(s) (mariadbd under {})",
        shards.len() * (args.replicas as usize + 1),
        dir.join("tablets").display()
    ));
    let mut starts = Vec::new();
    for (i, shard) in shards.iter().enumerate() {
        for uid in shard_uids(i, args.replicas) {
            let port = |base: u16| {
                u16::try_from(u32::from(base) + uid)
                    .with_context(|| format!("port base {base} + uid {uid} is not a port"))
            };
            let grpc_port = port(args.grpc_port_base)?;
            let mysql_port = port(args.mysql_port_base)?;
            let cfg = AgentConfig::new(
                endpoints.to_vec(),
                CELL,
                uid,
                KEYSPACE,
                shard.clone(),
                dir.join("tablets"),
                ([127, 0, 0, 1], grpc_port).into(),
                mysql_port,
            );
            let topo = topo.clone();
            starts.push(async move {
                let r = TabletAgent::start_with_topo(cfg, topo).await;
                (uid, r)
            });
        }
    }
    let mut agents = Vec::new();
    let mut failure = None;
    for (uid, r) in futures::future::join_all(starts).await {
        match r {
            Ok(a) => {
                say(format!(
                    "tablet {} up ({}, gRPC {})",
                    a.alias(),
                    a.tablet().state.role().tablet_type,
                    a.grpc_addr()
                ));
                agents.push(a);
            }
            Err(e) => {
                failure.get_or_insert(anyhow::anyhow!("tablet {CELL}-{uid}: {e}"));
            }
        }
    }
    let result = match failure {
        Some(e) => Err(e),
        None => {
            serve(
                args, dir, topo, kv, &shards, &agents, fresh, schema, vschema,
            )
            .await
        }
    };
    say(format!("stopping {} tablet(s)", agents.len()));
    let stops = agents.into_iter().map(|a| async move {
        let alias = a.alias().clone();
        if let Err(e) = a.shutdown().await {
            eprintln!("[vitrail up] stopping {alias}: {e}");
        }
    });
    futures::future::join_all(stops).await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    args: &Args,
    dir: &Path,
    topo: &Topo,
    kv: Arc<dyn Kv>,
    shards: &[String],
    agents: &[TabletAgent],
    fresh: bool,
    schema: &str,
    vschema: &str,
) -> anyhow::Result<()> {
    let stmts = statements(schema);
    for (i, shard) in shards.iter().enumerate() {
        let record = topo.get_shard(KEYSPACE, shard).await?.value;
        let primary_uid = shard_uids(i, args.replicas)[0];
        if record.primary_alias.is_none() {
            let primary = TabletAlias::new(CELL, primary_uid);
            let r = init_shard_primary(topo, KEYSPACE, shard, &primary, &InitOptions::default())
                .await
                .with_context(|| format!("InitShardPrimary {KEYSPACE}/{shard}"))?;
            say(format!(
                "shard {KEYSPACE}/{shard}: primary {} (semi-sync {}), {} replica(s)",
                r.primary,
                if r.semi_sync { "on" } else { "off" },
                r.replicas.len()
            ));
        }
        if fresh {
            let primary = record
                .primary_alias
                .unwrap_or(TabletAlias::new(CELL, primary_uid));
            let agent = agents
                .iter()
                .find(|a| *a.alias() == primary)
                .with_context(|| {
                    format!("primary {primary} of {shard} is not run by vitrail up")
                })?;
            apply_schema(agent, &stmts).await?;
            say(format!("schema applied on {KEYSPACE}/{shard}"));
        }
    }
    if fresh {
        topo.save_vschema_json(KEYSPACE, vschema.as_bytes())
            .await
            .context("saving the VSchema")?;
        topo.rebuild_srv_vschema(&[]).await?;
        std::fs::write(dir.join("initialized"), b"")
            .with_context(|| format!("writing {}", dir.join("initialized").display()))?;
        say("VSchema saved, serving graph rebuilt");
    } else {
        topo.rebuild_srv_keyspace(KEYSPACE, &[]).await?;
        topo.rebuild_srv_vschema(&[]).await?;
    }

    // The gate calls this process's tablets in memory (as Vitess's vtcombo
    // does); an address it does not know here is dialled over gRPC.
    let mut gate_cfg = GateConfig::new(CELL, &args.mysql_addr, Users::single("root", ""));
    if let Some(n) = args.conn_threads {
        gate_cfg.conn_threads = n;
    }
    for a in agents {
        gate_cfg
            .local_tablets
            .insert(a.grpc_addr().to_string(), a.tablet().query.clone());
    }
    let gate = start_gate(kv, gate_cfg)
        .await
        .context("starting the gate")?;
    let port = gate.mysql_addr.port();
    say(format!("gate listening on {}", gate.mysql_addr));
    println!();
    println!("vitrail is up. Connect with:");
    println!();
    println!("    mysql -h 127.0.0.1 -P {port} -u root");
    println!();
    println!("Ctrl-C stops everything (data stays in {}).", dir.display());
    super::tablet::stop_signal().await?;
    say("stopping the gate");
    gate.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_and_statements() {
        assert_eq!(shard_uids(0, 2), vec![101, 102, 103]);
        assert_eq!(shard_uids(1, 0), vec![201]);
        assert_eq!(
            statements(" CREATE TABLE a (x INT);\n\n;CREATE TABLE b (y INT) ; "),
            vec!["CREATE TABLE a (x INT)", "CREATE TABLE b (y INT)"]
        );
        assert_eq!(statements(DEFAULT_SCHEMA).len(), 3);
    }
}

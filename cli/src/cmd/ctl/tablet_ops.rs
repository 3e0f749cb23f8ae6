//! The `ctl` commands that act on tablets rather than on records:
//! `shard init-primary` (the [`tablet::agent::init_primary`] library) and
//! `tablet status|execute|set-readonly` (the tablet's gRPC services, found
//! through its Tablet record). They are merged into the `shard` and `tablet`
//! nouns next to the record commands of `shard.rs` and `tablet.rs`.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;
use tablet::agent::init_primary::{init_shard_primary, InitOptions};
use tablet::grpc::pb;
use tablet::grpc::pb::query_service_client::QueryServiceClient;
use tablet::grpc::pb::replication_service_client::ReplicationServiceClient;
use topo::records::{Tablet, TabletAlias};

use super::Ctx;

#[derive(clap::Subcommand)]
pub enum ShardCmd {
    #[command(flatten)]
    Records(super::shard::Cmd),
    /// Bootstrap a new shard: make ALIAS primary and every other tablet of
    /// the shard replicate from it (semi-sync if the keyspace says so).
    InitPrimary {
        /// KEYSPACE/SHARD, e.g. commerce/-80.
        shard: String,
        /// The tablet to make primary, e.g. zone1-101.
        #[arg(long)]
        primary: String,
        /// Re-initialise a shard that has a primary or data.
        #[arg(long)]
        force: bool,
        /// Seconds replicas may take to catch up with the primary.
        #[arg(long, default_value_t = 30)]
        wait_replicas_secs: u64,
    },
}

#[derive(clap::Subcommand)]
pub enum TabletCmd {
    #[command(flatten)]
    Records(super::tablet::Cmd),
    /// Health and replication status, asked of the tablet itself.
    Status { alias: String },
    /// Run one SQL statement on the tablet (as its application user).
    Execute { alias: String, sql: String },
    /// Set MariaDB read_only on the tablet (or off with --off).
    SetReadonly {
        alias: String,
        #[arg(long)]
        off: bool,
    },
}

fn parse_alias(s: &str) -> anyhow::Result<TabletAlias> {
    s.parse()
        .with_context(|| format!("tablet alias {s:?} is not CELL-UID"))
}

async fn record(ctx: &Ctx, alias: &str) -> anyhow::Result<Tablet> {
    Ok(ctx.topo.get_tablet(&parse_alias(alias)?).await?.value)
}

fn url(t: &Tablet) -> String {
    format!("http://{}:{}", t.hostname, t.grpc_port)
}

async fn query_client(t: &Tablet) -> anyhow::Result<QueryServiceClient<tonic::transport::Channel>> {
    QueryServiceClient::connect(url(t))
        .await
        .with_context(|| format!("tablet {} unreachable at {}", t.alias, url(t)))
}

async fn repl_client(
    t: &Tablet,
) -> anyhow::Result<ReplicationServiceClient<tonic::transport::Channel>> {
    ReplicationServiceClient::connect(url(t))
        .await
        .with_context(|| format!("tablet {} unreachable at {}", t.alias, url(t)))
}

fn rpc_err(alias: &TabletAlias, s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("tablet {alias}: {}", s.message())
}

pub async fn run_shard(ctx: &Ctx, cmd: ShardCmd) -> anyhow::Result<()> {
    match cmd {
        ShardCmd::Records(cmd) => super::shard::run(ctx, cmd).await,
        ShardCmd::InitPrimary {
            shard,
            primary,
            force,
            wait_replicas_secs,
        } => {
            let (keyspace, name) = shard
                .split_once('/')
                .with_context(|| format!("shard {shard:?} is not KEYSPACE/SHARD"))?;
            let primary = parse_alias(&primary)?;
            let opts = InitOptions {
                force,
                wait_replicas: Duration::from_secs(wait_replicas_secs),
                ..InitOptions::default()
            };
            let r = init_shard_primary(&ctx.topo, keyspace, name, &primary, &opts).await?;
            let replicas: Vec<String> = r.replicas.iter().map(ToString::to_string).collect();
            ctx.print(
                json!({
                    "shard": format!("{keyspace}/{name}"),
                    "primary": r.primary.to_string(),
                    "replicas": replicas,
                    "term": r.term,
                    "position": r.position,
                    "semi_sync": r.semi_sync,
                }),
                || {
                    format!(
                        "shard {keyspace}/{name}: primary {} (term {}), replicas [{}], semi-sync {}, position {}",
                        r.primary,
                        r.term,
                        replicas.join(", "),
                        if r.semi_sync { "on" } else { "off" },
                        r.position
                    )
                },
            );
            Ok(())
        }
    }
}

fn value_text(v: &pb::Value) -> String {
    if v.r#type == pb::Type::Null as i32 {
        "NULL".into()
    } else {
        String::from_utf8_lossy(&v.value).into_owned()
    }
}

pub async fn run_tablet(ctx: &Ctx, cmd: TabletCmd) -> anyhow::Result<()> {
    match cmd {
        TabletCmd::Records(cmd) => super::tablet::run(ctx, cmd).await,
        TabletCmd::Status { alias } => {
            let t = record(ctx, &alias).await?;
            let mut q = query_client(&t).await?;
            let health = q
                .stream_health(pb::StreamHealthRequest {})
                .await
                .map_err(|s| rpc_err(&t.alias, s))?
                .into_inner()
                .message()
                .await
                .map_err(|s| rpc_err(&t.alias, s))?
                .with_context(|| format!("tablet {} sent no health", t.alias))?;
            let status = repl_client(&t)
                .await?
                .replication_status(pb::ReplicationStatusRequest {})
                .await
                .map_err(|s| rpc_err(&t.alias, s))?
                .into_inner()
                .status
                .unwrap_or_default();
            let ty = pb::TabletType::try_from(health.tablet_type)
                .map(|t| {
                    t.as_str_name()
                        .trim_start_matches("TABLET_TYPE_")
                        .to_lowercase()
                })
                .unwrap_or_else(|_| "unknown".into());
            ctx.print(
                json!({
                    "alias": t.alias.to_string(),
                    "type": ty,
                    "serving": health.serving,
                    "primary_term": health.primary_term,
                    "mysqld_alive": health.mysqld_alive,
                    "read_only": health.read_only,
                    "gtid_position": health.gtid_position,
                    "replication_lag_seconds": health.replication_lag_seconds,
                    "health_error": health.health_error,
                    "replication": {
                        "configured": status.configured,
                        "source": format!("{}:{}", status.source_host, status.source_port),
                        "io_running": status.io_running,
                        "sql_running": status.sql_running,
                        "position": status.position,
                        "seconds_behind_source": status.seconds_behind_source,
                        "last_io_error": status.last_io_error,
                        "last_sql_error": status.last_sql_error,
                    },
                }),
                || {
                    let mut s = format!(
                        "tablet {}\ntype: {ty}\nserving: {}\nmysqld alive: {}\nread only: {}\nprimary term: {}\nposition: {}\n",
                        t.alias,
                        health.serving,
                        health.mysqld_alive,
                        health.read_only,
                        health.primary_term,
                        health.gtid_position,
                    );
                    if !health.health_error.is_empty() {
                        s.push_str(&format!("health error: {}\n", health.health_error));
                    }
                    if status.configured {
                        s.push_str(&format!(
                            "replicating from: {}:{} (io {}, sql {}, lag {})\napplied: {}\n",
                            status.source_host,
                            status.source_port,
                            if status.io_running { "running" } else { "stopped" },
                            if status.sql_running { "running" } else { "stopped" },
                            status
                                .seconds_behind_source
                                .map_or("-".to_string(), |l| format!("{l}s")),
                            status.position
                        ));
                        for e in [&status.last_io_error, &status.last_sql_error] {
                            if !e.is_empty() {
                                s.push_str(&format!("replication error: {e}\n"));
                            }
                        }
                    } else {
                        s.push_str("replication: not configured\n");
                    }
                    s
                },
            );
            Ok(())
        }
        TabletCmd::Execute { alias, sql } => {
            let t = record(ctx, &alias).await?;
            let result = query_client(&t)
                .await?
                .execute(pb::ExecuteRequest {
                    query: Some(pb::BoundQuery {
                        sql,
                        bind_variables: Default::default(),
                    }),
                    transaction_id: 0,
                    options: None,
                })
                .await
                .map_err(|s| rpc_err(&t.alias, s))?
                .into_inner()
                .result
                .unwrap_or_default();
            let names: Vec<&str> = result.fields.iter().map(|f| f.name.as_str()).collect();
            let rows: Vec<Vec<String>> = result
                .rows
                .iter()
                .map(|r| r.values.iter().map(value_text).collect())
                .collect();
            ctx.print(
                json!({
                    "fields": names,
                    "rows": rows,
                    "rows_affected": result.rows_affected,
                    "insert_id": result.insert_id,
                }),
                || {
                    if names.is_empty() {
                        format!("{} row(s) affected", result.rows_affected)
                    } else {
                        format!("{}{} row(s)", super::table(&names, &rows), rows.len())
                    }
                },
            );
            Ok(())
        }
        TabletCmd::SetReadonly { alias, off } => {
            let t = record(ctx, &alias).await?;
            let mut c = repl_client(&t).await?;
            if off {
                c.set_read_write(pb::SetReadWriteRequest {})
                    .await
                    .map_err(|s| rpc_err(&t.alias, s))?;
            } else {
                c.set_read_only(pb::SetReadOnlyRequest {})
                    .await
                    .map_err(|s| rpc_err(&t.alias, s))?;
            }
            ctx.print(
                json!({ "alias": t.alias.to_string(), "read_only": !off }),
                || {
                    format!(
                        "tablet {}: read_only {}",
                        t.alias,
                        if off { "OFF" } else { "ON" }
                    )
                },
            );
            Ok(())
        }
    }
}

//! `vitrail ctl tablet list|get|delete`.

use anyhow::Context as _;
use serde_json::json;
use topo::records::{Tablet, TabletAlias};

use super::Ctx;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// List tablets (of one cell, or of every cell).
    List {
        #[arg(long)]
        cell: Option<String>,
    },
    /// Show one tablet, by alias (e.g. zone1-101).
    Get { alias: String },
    /// Remove a tablet's record (the tablet process is not touched).
    Delete { alias: String },
}

fn parse_alias(s: &str) -> anyhow::Result<TabletAlias> {
    s.parse()
        .with_context(|| format!("tablet alias {s:?} is not CELL-UID"))
}

fn tablet_json(t: &Tablet) -> serde_json::Value {
    json!({
        "alias": t.alias.to_string(),
        "hostname": t.hostname,
        "grpc_port": t.grpc_port,
        "mysql_port": t.mysql_port,
        "keyspace": t.keyspace,
        "shard": t.shard,
        "type": t.tablet_type.as_str(),
        "primary_term_start_ms": t.primary_term_start_ms,
    })
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::List { cell } => {
            let cells = match cell {
                Some(c) => vec![c],
                None => ctx.topo.list_cells().await?,
            };
            let mut tablets = Vec::new();
            for cell in &cells {
                tablets.extend(ctx.topo.list_tablets(cell).await?);
            }
            ctx.print(
                json!(tablets.iter().map(tablet_json).collect::<Vec<_>>()),
                || {
                    let rows: Vec<Vec<String>> = tablets
                        .iter()
                        .map(|t| {
                            vec![
                                t.alias.to_string(),
                                format!("{}/{}", t.keyspace, t.shard),
                                t.tablet_type.to_string(),
                                format!("{}:{}", t.hostname, t.grpc_port),
                                t.mysql_port.to_string(),
                            ]
                        })
                        .collect();
                    super::table(&["ALIAS", "SHARD", "TYPE", "GRPC", "MYSQL"], &rows)
                },
            );
        }
        Cmd::Get { alias } => {
            let t = ctx.topo.get_tablet(&parse_alias(&alias)?).await?.value;
            ctx.print(tablet_json(&t), || {
                format!(
                    "tablet {}\nshard: {}/{}\ntype: {}\ngrpc: {}:{}\nmysql port: {}",
                    t.alias,
                    t.keyspace,
                    t.shard,
                    t.tablet_type,
                    t.hostname,
                    t.grpc_port,
                    t.mysql_port
                )
            });
        }
        Cmd::Delete { alias } => {
            let alias = parse_alias(&alias)?;
            ctx.topo.delete_tablet(&alias).await?;
            ctx.print(json!({ "deleted": alias.to_string() }), || {
                format!("deleted tablet {alias}")
            });
        }
    }
    Ok(())
}

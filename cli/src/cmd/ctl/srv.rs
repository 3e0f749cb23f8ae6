//! `vitrail ctl srv rebuild`: recompute the serving graph from the global
//! records.

use serde_json::json;

use super::Ctx;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Rebuild SrvKeyspace (for one keyspace, or all) and SrvVSchema in the
    /// given cells (default: every cell).
    Rebuild {
        #[arg(long)]
        keyspace: Option<String>,
        #[arg(long, value_delimiter = ',')]
        cells: Vec<String>,
    },
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    let Cmd::Rebuild { keyspace, cells } = cmd;
    let keyspaces = match keyspace {
        Some(ks) => vec![ks],
        None => ctx.topo.list_keyspaces().await?,
    };
    for ks in &keyspaces {
        ctx.topo.rebuild_srv_keyspace(ks, &cells).await?;
    }
    let srv = ctx.topo.rebuild_srv_vschema(&cells).await?;
    let in_srv: Vec<&String> = srv.keyspaces.keys().collect();
    ctx.print(
        json!({ "srv_keyspaces": keyspaces, "srv_vschema_keyspaces": in_srv }),
        || {
            format!(
                "rebuilt serving graph for keyspaces: {}",
                if keyspaces.is_empty() {
                    "(none)".to_string()
                } else {
                    keyspaces.join(",")
                }
            )
        },
    );
    Ok(())
}

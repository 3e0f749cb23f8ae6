//! `vitrail ctl shard list|get`.

use anyhow::Context as _;
use serde_json::json;
use topo::records::Shard;

use super::keyspace::{shard_json, shard_rows};
use super::Ctx;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// List a keyspace's shards in key-range order.
    List { keyspace: String },
    /// Show one shard, named KEYSPACE/SHARD (e.g. commerce/-80).
    Get { shard: String },
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::List { keyspace } => {
            let shards: Vec<Shard> = ctx
                .topo
                .list_shards(&keyspace)
                .await?
                .into_iter()
                .map(|s| s.value)
                .collect();
            ctx.print(
                json!(shards.iter().map(shard_json).collect::<Vec<_>>()),
                || shard_rows(&shards),
            );
        }
        Cmd::Get { shard } => {
            let (keyspace, name) = shard
                .split_once('/')
                .with_context(|| format!("shard {shard:?} is not KEYSPACE/SHARD"))?;
            let s = ctx.topo.get_shard(keyspace, name).await?;
            ctx.print(shard_json(&s.value), || {
                let s = &s.value;
                format!(
                    "shard {}/{}\nkey range: {}\nprimary: {}\nterm: {}\nserving: {}",
                    s.keyspace,
                    s.name,
                    s.key_range,
                    s.primary_alias
                        .as_ref()
                        .map_or("-".to_string(), ToString::to_string),
                    s.primary_term,
                    s.is_primary_serving
                )
            });
        }
    }
    Ok(())
}

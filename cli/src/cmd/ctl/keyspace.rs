//! `vitrail ctl keyspace create|list|get|delete`.

use anyhow::bail;
use serde_json::json;
use topo::records::{DurabilityPolicy, Keyspace, Shard};

use super::Ctx;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Create a keyspace and its shards in one transaction.
    Create {
        name: String,
        /// Split the key range into this many equal shards (1 = one shard
        /// named "0").
        #[arg(long, conflicts_with = "shard_names")]
        shards: Option<usize>,
        /// Explicit shard names (key ranges), e.g. -80,80-; they must cover
        /// the key range exactly once.
        #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
        shard_names: Vec<String>,
        /// How primaries acknowledge writes: semi_sync or none.
        #[arg(long, default_value = "semi_sync")]
        durability: DurabilityPolicy,
    },
    /// List keyspaces.
    List,
    /// Show a keyspace and its shards.
    Get { name: String },
    /// Delete a keyspace, its shards and its VSchema.
    Delete { name: String },
}

pub(crate) fn shard_json(s: &Shard) -> serde_json::Value {
    json!({
        "keyspace": s.keyspace,
        "name": s.name,
        "key_range": { "start": topo::keyrange::to_hex(&s.key_range.start),
                       "end": topo::keyrange::to_hex(&s.key_range.end) },
        "primary_alias": s.primary_alias.as_ref().map(ToString::to_string),
        "primary_term": s.primary_term,
        "primary_term_start_ms": s.primary_term_start_ms,
        "is_primary_serving": s.is_primary_serving,
    })
}

pub(crate) fn shard_rows(shards: &[Shard]) -> String {
    let rows: Vec<Vec<String>> = shards
        .iter()
        .map(|s| {
            vec![
                format!("{}/{}", s.keyspace, s.name),
                s.primary_alias
                    .as_ref()
                    .map_or("-".to_string(), ToString::to_string),
                s.primary_term.to_string(),
                s.is_primary_serving.to_string(),
            ]
        })
        .collect();
    super::table(&["SHARD", "PRIMARY", "TERM", "SERVING"], &rows)
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Create {
            name,
            shards,
            shard_names,
            durability,
        } => {
            let ks = Keyspace {
                name: name.clone(),
                durability_policy: durability,
                served_from: None,
            };
            let created = match (shards, shard_names.is_empty()) {
                (Some(0), _) => bail!("--shards must be at least 1"),
                (Some(n), _) => ctx.topo.create_keyspace(&ks, n).await?,
                (None, false) => {
                    ctx.topo
                        .create_keyspace_with_shards(&ks, &shard_names)
                        .await?
                }
                (None, true) => ctx.topo.create_keyspace(&ks, 1).await?,
            };
            let names: Vec<&str> = created.iter().map(|s| s.name.as_str()).collect();
            ctx.print(
                json!({ "created": name, "durability": durability.as_str(), "shards": names }),
                || {
                    format!(
                        "created keyspace {name} ({durability}) with shards {}",
                        names.join(",")
                    )
                },
            );
        }
        Cmd::List => {
            let names = ctx.topo.list_keyspaces().await?;
            ctx.print(json!(names), || names.join("\n"));
        }
        Cmd::Get { name } => {
            let ks = ctx.topo.get_keyspace(&name).await?.value;
            let shards: Vec<Shard> = ctx
                .topo
                .list_shards(&name)
                .await?
                .into_iter()
                .map(|s| s.value)
                .collect();
            ctx.print(
                json!({
                    "name": ks.name,
                    "durability": ks.durability_policy.as_str(),
                    "served_from": ks.served_from.as_ref().map(|h| h.to_string()),
                    "shards": shards.iter().map(shard_json).collect::<Vec<_>>(),
                }),
                || match &ks.served_from {
                    Some(host) => format!(
                        "keyspace {} (served from {host}: no shards of its own)",
                        ks.name
                    ),
                    None => format!(
                        "keyspace {} (durability {})\n{}",
                        ks.name,
                        ks.durability_policy,
                        shard_rows(&shards)
                    ),
                },
            );
        }
        Cmd::Delete { name } => {
            ctx.topo.delete_keyspace(&name).await?;
            ctx.print(json!({ "deleted": name }), || {
                format!("deleted keyspace {name}")
            });
        }
    }
    Ok(())
}

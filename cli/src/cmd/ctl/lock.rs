//! `vitrail ctl lock list`: every shard lock queue entry, holder first.

use serde_json::json;
use topo::kv::Kv;

use super::Ctx;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// List shard locks: who holds each, and who waits.
    List,
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    let Cmd::List = cmd;
    let layout = ctx.topo.layout();
    let dir = layout.keyspaces_dir();
    let listing = ctx.kv.list(&dir).await?;
    // <root>keyspaces/<ks>/shards/<shard>/locks/<lease>
    let mut entries: Vec<_> = listing
        .entries
        .iter()
        .filter_map(|(key, v)| {
            let rest = key.strip_prefix(&dir)?;
            let (ks, rest) = rest.split_once("/shards/")?;
            let (shard, lease) = rest.split_once("/locks/")?;
            Some((ks, shard, lease, v))
        })
        .collect();
    entries.sort_by_key(|(ks, shard, _, v)| (*ks, *shard, v.create_revision));
    let mut rows = Vec::new();
    let mut json = Vec::new();
    let mut previous: Option<(&str, &str)> = None;
    for (ks, shard, lease, v) in entries {
        let holder = previous != Some((ks, shard));
        previous = Some((ks, shard));
        let state = if holder { "held" } else { "waiting" };
        let contents = String::from_utf8_lossy(&v.value).to_string();
        rows.push(vec![
            format!("{ks}/{shard}"),
            state.to_string(),
            lease.to_string(),
            contents.clone(),
        ]);
        json.push(json!({
            "keyspace": ks, "shard": shard, "state": state, "lease": lease,
            "contents": contents, "create_revision": v.create_revision.0,
        }));
    }
    ctx.print(serde_json::Value::Array(json), || {
        super::table(&["SHARD", "STATE", "LEASE", "HOLDER"], &rows)
    });
    Ok(())
}

//! `vitrail ctl members list|add|remove`: control-plane membership through
//! the etcd Cluster API (works against vitrail control and etcd alike).

use anyhow::{bail, Context as _};
use etcd_client::MemberAddOptions;
use serde_json::json;

use super::Ctx;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// List members.
    List,
    /// Add a member by its peer address; then start it with
    /// `--initial-cluster-state existing`.
    Add {
        /// host:port (or http://host:port) the new member's peers dial.
        peer_addr: String,
        /// Add as a non-voting learner.
        #[arg(long)]
        learner: bool,
    },
    /// Remove a member by id (hex, as `members list` prints it).
    Remove { id: String },
}

fn url(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    }
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    let mut client = ctx.kv.client();
    match cmd {
        Cmd::List => {
            let resp = client
                .member_list()
                .await
                .context("cannot list control-plane members")?;
            let members = resp.members();
            let json = members
                .iter()
                .map(|m| {
                    json!({
                        "id": format!("{:x}", m.id()),
                        "name": m.name(),
                        "peer_urls": m.peer_urls(),
                        "client_urls": m.client_urls(),
                        "learner": m.is_learner(),
                    })
                })
                .collect();
            ctx.print(serde_json::Value::Array(json), || {
                let rows: Vec<Vec<String>> = members
                    .iter()
                    .map(|m| {
                        vec![
                            format!("{:x}", m.id()),
                            m.name().to_string(),
                            m.peer_urls().join(","),
                            m.client_urls().join(","),
                            if m.is_learner() { "learner" } else { "voter" }.to_string(),
                        ]
                    })
                    .collect();
                super::table(&["ID", "NAME", "PEER URLS", "CLIENT URLS", "ROLE"], &rows)
            });
        }
        Cmd::Add { peer_addr, learner } => {
            let mut opts = MemberAddOptions::new();
            if learner {
                opts = opts.with_is_learner();
            }
            let resp = client
                .member_add([url(&peer_addr)], Some(opts))
                .await
                .with_context(|| format!("cannot add member {peer_addr}"))?;
            let id = resp.member().map(|m| m.id()).unwrap_or_default();
            ctx.print(
                json!({ "added": format!("{id:x}"), "peer_addr": peer_addr }),
                || format!("added member {id:x} ({peer_addr})"),
            );
        }
        Cmd::Remove { id } => {
            let Ok(num) = u64::from_str_radix(id.trim_start_matches("0x"), 16) else {
                bail!("member id {id:?} is not hexadecimal");
            };
            client
                .member_remove(num)
                .await
                .with_context(|| format!("cannot remove member {id}"))?;
            ctx.print(json!({ "removed": id }), || format!("removed member {id}"));
        }
    }
    Ok(())
}

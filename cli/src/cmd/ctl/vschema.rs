//! `vitrail ctl vschema apply|get`.

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;

use super::Ctx;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Validate and store a keyspace's VSchema (nothing is written if it is
    /// invalid).
    Apply {
        keyspace: String,
        /// The VSchema as Vitess JSON.
        #[arg(long)]
        file: PathBuf,
    },
    /// Print a keyspace's VSchema (JSON).
    Get { keyspace: String },
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Apply { keyspace, file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            ctx.topo
                .save_vschema_json(&keyspace, &bytes)
                .await
                .with_context(|| format!("vschema {} not applied", file.display()))?;
            ctx.print(json!({ "applied": keyspace }), || {
                format!("applied vschema to keyspace {keyspace}")
            });
        }
        Cmd::Get { keyspace } => {
            let vschema = ctx.topo.get_vschema(&keyspace).await?;
            // The VSchema is JSON either way.
            let value: serde_json::Value = serde_json::from_slice(&vschema.to_json())
                .context("stored vschema does not re-encode as JSON")?;
            println!("{value:#}");
        }
    }
    Ok(())
}

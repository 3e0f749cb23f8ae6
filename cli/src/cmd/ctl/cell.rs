//! `vitrail ctl cell create|list`.

use serde_json::json;
use topo::records::Cell;

use super::Ctx;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Register a cell.
    Create {
        /// Cell name (letters, digits, '_' and '-').
        name: String,
        /// Free-form region the cell belongs to.
        #[arg(long, default_value = "")]
        region: String,
    },
    /// List cells.
    List,
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Create { name, region } => {
            ctx.topo
                .create_cell(&Cell {
                    name: name.clone(),
                    region,
                })
                .await?;
            ctx.print(json!({ "created": name }), || {
                format!("created cell {name}")
            });
        }
        Cmd::List => {
            let mut cells = Vec::new();
            for name in ctx.topo.list_cells().await? {
                cells.push(ctx.topo.get_cell(&name).await?);
            }
            let json = cells
                .iter()
                .map(|c| json!({ "name": c.name, "region": c.region }))
                .collect();
            ctx.print(serde_json::Value::Array(json), || {
                let rows: Vec<Vec<String>> = cells
                    .iter()
                    .map(|c| vec![c.name.clone(), c.region.clone()])
                    .collect();
                super::table(&["CELL", "REGION"], &rows)
            });
        }
    }
    Ok(())
}

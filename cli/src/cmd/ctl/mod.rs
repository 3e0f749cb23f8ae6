//! `vitrail ctl`: inspect and change the topology on the control plane.
//!
//! One file per noun (cell, keyspace, shard, vschema, tablet, srv, members,
//! lock). Every command talks to the `--control` endpoints through
//! `topo::server::Topo` (or the etcd Cluster API for `members`), prints a
//! human table by default and JSON with `--json`, and reports failures as a
//! one-line error and a non-zero exit. Writes that touch several records are
//! single transactions in `topo`, so a refused command writes nothing.

use std::sync::Arc;

use anyhow::Context as _;
use topo::kv::EtcdKv;
use topo::server::Topo;

mod cell;
mod keyspace;
mod lock;
mod members;
mod shard;
mod srv;
mod tablet;
mod tablet_ops;
mod vschema;

#[derive(clap::Args)]
pub struct Args {
    /// Control-plane client endpoints, host:port[,host:port…].
    #[arg(
        long,
        global = true,
        default_value = "127.0.0.1:2379",
        env = "VITRAIL_CONTROL"
    )]
    control: String,
    /// Print JSON instead of human-readable text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Noun,
}

#[derive(clap::Subcommand)]
enum Noun {
    /// Cells: failure domains holding tablets.
    #[command(subcommand)]
    Cell(cell::Cmd),
    /// Keyspaces and their shards.
    #[command(subcommand)]
    Keyspace(keyspace::Cmd),
    /// Shards of a keyspace.
    #[command(subcommand)]
    Shard(tablet_ops::ShardCmd),
    /// A keyspace's VSchema (Vitess JSON).
    #[command(subcommand)]
    Vschema(vschema::Cmd),
    /// Registered tablets.
    #[command(subcommand)]
    Tablet(tablet_ops::TabletCmd),
    /// The serving graph (SrvKeyspace, SrvVSchema) the gates route by.
    #[command(subcommand)]
    Srv(srv::Cmd),
    /// Control-plane membership (etcd Cluster API).
    #[command(subcommand)]
    Members(members::Cmd),
    /// Shard locks currently held or waited for.
    #[command(subcommand)]
    Lock(lock::Cmd),
}

/// What every command gets: the topology client and the output mode.
pub(crate) struct Ctx {
    pub topo: Topo,
    pub kv: EtcdKv,
    pub json: bool,
}

impl Ctx {
    /// Prints `json` with `--json`, else `human` (unless empty).
    pub fn print(&self, json: serde_json::Value, human: impl FnOnce() -> String) {
        if self.json {
            println!("{json:#}");
        } else {
            let text = human();
            if !text.is_empty() {
                println!("{}", text.trim_end());
            }
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let kv = EtcdKv::connect_list(&args.control)
        .await
        .with_context(|| format!("cannot use --control {:?}", args.control))?;
    let ctx = Ctx {
        topo: Topo::new(Arc::new(kv.clone())),
        kv,
        json: args.json,
    };
    match args.command {
        Noun::Cell(cmd) => cell::run(&ctx, cmd).await,
        Noun::Keyspace(cmd) => keyspace::run(&ctx, cmd).await,
        Noun::Shard(cmd) => tablet_ops::run_shard(&ctx, cmd).await,
        Noun::Vschema(cmd) => vschema::run(&ctx, cmd).await,
        Noun::Tablet(cmd) => tablet_ops::run_tablet(&ctx, cmd).await,
        Noun::Srv(cmd) => srv::run(&ctx, cmd).await,
        Noun::Members(cmd) => members::run(&ctx, cmd).await,
        Noun::Lock(cmd) => lock::run(&ctx, cmd).await,
    }
}

/// Left-aligned columns for human output.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

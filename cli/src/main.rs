//! `vitrail`: one binary, one subcommand per role.

mod cmd;

/// glibc's malloc was ~15% of the gate's CPU under sysbench (many small,
/// short-lived buffers freed on other threads); mimalloc's thread-local
/// free lists cost a fraction of that (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "vitrail",
    version,
    about = "MySQL/MariaDB sharding with an embedded Raft topology service"
)]
struct Cli {
    /// Log format: text or json.
    #[arg(
        long,
        global = true,
        default_value = "text",
        env = "VITRAIL_LOG_FORMAT"
    )]
    log_format: String,
    /// Threads running the async runtime. Default: one per core, except
    /// `up`, which leaves half the cores to the mariadbd processes it runs
    /// beside itself (on 2 cores, 1 thread: measured 37 us of CPU per
    /// point select against 52 us with 2, whose workers keep waking each
    /// other; see docs/benchmarks.md).
    #[arg(long, global = true, env = "VITRAIL_WORKER_THREADS")]
    worker_threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a control-plane node (Raft + etcd v3 API).
    Control(cmd::control::Args),
    /// Inspect and change the topology (cells, keyspaces, shards, VSchema,
    /// tablets, serving graph, members, locks).
    Ctl(cmd::ctl::Args),
    /// Run a gate: the MySQL front door routing queries to tablets.
    Gate(cmd::gate::Args),
    /// Run a tablet: one MariaDB instance, registered in the topology.
    Tablet(cmd::tablet::Args),
    /// A whole local cluster in one process: control plane, tablets, gate.
    Up(cmd::up::Args),
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VITRAIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_format);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = cli.worker_threads.unwrap_or(match cli.command {
        Command::Up(_) => cores / 2,
        _ => cores,
    });
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vitrail: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let res = rt.block_on(async {
        match cli.command {
            Command::Control(args) => cmd::control::run(args).await,
            Command::Ctl(args) => cmd::ctl::run(args).await,
            Command::Gate(args) => cmd::gate::run(args).await,
            Command::Tablet(args) => cmd::tablet::run(args).await,
            Command::Up(args) => cmd::up::run(args).await,
        }
    });
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vitrail: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

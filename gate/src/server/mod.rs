//! The MySQL front door: accepts client connections and runs one
//! `handler::Handler` (an opensrv-mysql shim) per connection.

mod auth_error;
mod client_packets;
mod dbddl;
mod frames;
mod handler;
pub mod launch;
pub mod params;
mod plan_cache;
mod stmt_execute;
mod stream;
pub mod threads;
mod write;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use topo::records::KeyspaceShard;
use topo::server::Topo;

use crate::exec::Executor;
use crate::metrics::Metrics;
use crate::users::Users;

/// State shared by every connection.
pub struct Gate {
    pub executor: Executor,
    pub users: Users,
    pub metrics: Arc<Metrics>,
    /// Log every statement with its duration and outcome.
    pub query_log: bool,
    /// For CREATE/DROP DATABASE (topology changes).
    pub topo: Option<Topo>,
    /// The shard CREATE DATABASE puts new databases on (`None`: the
    /// default choice, see `dbddl::choose_host`).
    pub create_database_host: Option<KeyspaceShard>,
    /// Plan templates of text queries.
    plan_cache: plan_cache::PlanCache,
    next_connection_id: AtomicU32,
}

impl Gate {
    pub fn new(executor: Executor, users: Users, topo: Option<Topo>) -> Gate {
        let metrics = executor.metrics.clone();
        Gate {
            executor,
            users,
            metrics,
            query_log: false,
            topo,
            create_database_host: None,
            plan_cache: plan_cache::PlanCache::default(),
            next_connection_id: AtomicU32::new(1),
        }
    }

    fn connection_id(&self) -> u32 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// Accepts connections until the listener fails. Each connection is
/// served on its own task, on one of the connection `threads` (see
/// [`threads`]; with none, on the caller's runtime), and lives until the
/// client quits or breaks off.
pub async fn serve(
    listener: TcpListener,
    gate: Arc<Gate>,
    threads: Arc<threads::ConnThreads>,
) -> std::io::Result<()> {
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = sock.set_nodelay(true);
        if let Err(sock) = threads.dispatch(sock, peer) {
            tokio::spawn(connection(gate.clone(), sock, peer, None));
        }
    }
}

/// One client connection, from handshake to quit.
async fn connection(
    gate: Arc<Gate>,
    sock: TcpStream,
    peer: SocketAddr,
    _open: Option<threads::Open>,
) {
    gate.metrics.connections.inc();
    gate.metrics.session_opened();
    let id = gate.connection_id();
    if let Err(e) = handler::run(gate.clone(), sock, id).await {
        tracing::debug!(%peer, connection = id, error = %e, "connection ended");
    }
    gate.metrics.session_closed();
}

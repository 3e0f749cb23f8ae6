//! Client connections served on threads of their own, each running a
//! single-threaded runtime: the way haproxy and nginx spread connections
//! over cores.
//!
//! With every connection on the process's shared work-stealing runtime,
//! the gate was one serial stage that every client and every MariaDB
//! thread waited on. At 8 sysbench threads its one worker was runnable
//! 98 % of the time and the second core sat idle 10–14 % of the time; a
//! second worker halved the idle time but added cross-thread wakeups that
//! ate the gain (docs/benchmarks.md). Here a connection stays on one
//! thread for its whole life: its client socket, its MariaDB connections
//! (the tablet keeps a pool per runtime, see `tablet::query::lane`) and its
//! timers are all driven by that thread's own reactor, so a statement
//! never wakes another thread.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::Gate;

type Accepted = (std::net::TcpStream, SocketAddr);

/// One connection thread: where to send it sockets, and how many
/// connections it serves now.
struct ConnThread {
    tx: mpsc::UnboundedSender<Accepted>,
    open: Arc<AtomicUsize>,
}

/// The gate's connection threads. They stop, closing their connections,
/// once [`close`](ConnThreads::close)d or dropped.
pub struct ConnThreads {
    threads: std::sync::Mutex<Vec<ConnThread>>,
    /// Each resolves when its thread has dropped its runtime.
    exited: std::sync::Mutex<Vec<oneshot::Receiver<()>>>,
}

impl ConnThreads {
    /// Starts `n` threads (none: connections are served on the caller's
    /// runtime).
    pub fn start(n: usize, gate: &Arc<Gate>) -> ConnThreads {
        let mut threads = Vec::with_capacity(n);
        let mut exited = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = mpsc::unbounded_channel();
            let (done, done_rx) = oneshot::channel();
            let open = Arc::new(AtomicUsize::new(0));
            let (g, o) = (gate.clone(), open.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("gate-conn-{i}"))
                .spawn(move || {
                    run(g, rx, o);
                    let _ = done.send(());
                });
            match spawned {
                Ok(_) => {
                    threads.push(ConnThread { tx, open });
                    exited.push(done_rx);
                }
                Err(e) => tracing::error!(error = %e, "cannot start a connection thread"),
            }
        }
        ConnThreads {
            threads: std::sync::Mutex::new(threads),
            exited: std::sync::Mutex::new(exited),
        }
    }

    /// Drops the threads' inboxes: each thread then ends its runtime, with
    /// every connection on it.
    pub fn stop_taking(&self) {
        if let Ok(mut t) = self.threads.lock() {
            t.clear();
        }
    }

    /// Stops taking connections and ends the threads' runtimes (and with
    /// them every connection); returns once all threads are done, so
    /// nothing of theirs (a MariaDB connection, a timer) outlives this.
    pub async fn close(&self) {
        self.stop_taking();
        let exited: Vec<_> = match self.exited.lock() {
            Ok(mut e) => e.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for e in exited {
            // An error means the thread is gone too.
            let _ = e.await;
        }
    }

    /// Hands `sock` to the thread serving the fewest connections. Gives
    /// it back when there is no thread to take it.
    pub fn dispatch(&self, sock: TcpStream, peer: SocketAddr) -> Result<(), TcpStream> {
        let Ok(threads) = self.threads.lock() else {
            return Err(sock);
        };
        let Some(t) = threads
            .iter()
            .filter(|t| !t.tx.is_closed())
            .min_by_key(|t| t.open.load(Ordering::Relaxed))
        else {
            return Err(sock);
        };
        let std = match sock.into_std() {
            Ok(s) => s,
            Err(e) => {
                // The socket is gone with the error; the client sees a reset.
                tracing::warn!(%peer, error = %e, "cannot hand a connection to its thread");
                return Ok(());
            }
        };
        t.open.fetch_add(1, Ordering::Relaxed);
        match t.tx.send((std, peer)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendError((std, _))) => {
                t.open.fetch_sub(1, Ordering::Relaxed);
                TcpStream::from_std(std)
                    .map_err(|e| {
                        tracing::warn!(%peer, error = %e, "connection lost between threads");
                        e
                    })
                    .map_or(Ok(()), Err)
            }
        }
    }
}

/// A connection thread: serves what it is sent until the gate stops, then
/// drops its runtime, which ends every connection still open on it.
fn run(gate: Arc<Gate>, mut rx: mpsc::UnboundedReceiver<Accepted>, open: Arc<AtomicUsize>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start a connection thread's runtime");
            return;
        }
    };
    rt.block_on(async move {
        while let Some((std, peer)) = rx.recv().await {
            let open = Open(open.clone());
            match TcpStream::from_std(std) {
                Ok(sock) => {
                    tokio::spawn(super::connection(gate.clone(), sock, peer, Some(open)));
                }
                Err(e) => tracing::warn!(%peer, error = %e, "cannot serve a connection"),
            }
        }
    });
}

/// Counts a connection on its thread for as long as it lives.
pub struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

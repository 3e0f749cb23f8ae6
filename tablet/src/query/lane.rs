//! Connections to mariadbd, kept per runtime.
//!
//! A MariaDB connection's socket belongs to the tokio runtime it was opened
//! on: that runtime's reactor is what notices the answer. A process can run
//! several runtimes — `vitrail up` serves MySQL clients on one
//! single-threaded runtime per core, like haproxy's threads, besides its
//! shared multi-threaded one. A statement run on a connection opened by
//! another runtime still works, but its answer waits until that other
//! runtime's thread polls its reactor, and the wakeup crosses threads.
//!
//! So connections are kept in lanes: the shared multi-threaded runtime is
//! one lane, and every single-threaded runtime (keyed by its one thread)
//! another. Each lane has its own pool of up to `pool_size` connections
//! and its own parked connections; a connection always goes back to the
//! pool it came from (mysql_async returns it on drop).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use mysql_async::{Conn, Pool};
use tokio::runtime::{Handle, RuntimeFlavor};

use crate::error::{Error, Result};

/// How long a pooled MariaDB connection may sit idle before it is closed.
pub(super) const IDLE_CONNECTION_TTL: Duration = Duration::from_secs(120);

/// Whether the connection a statement ran on can be used again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ConnHealth {
    Usable,
    /// Killed or broken: must not be reused.
    Dead,
}

/// Which runtime a caller runs on: what anything tied to a runtime (a
/// MariaDB connection, a gRPC channel's task) is kept apart by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LaneKey {
    /// A multi-threaded runtime (or none): the shared lane.
    Shared,
    /// A single-threaded runtime, driven by this thread.
    Thread(ThreadId),
}

impl LaneKey {
    pub fn current() -> LaneKey {
        match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::CurrentThread => {
                LaneKey::Thread(std::thread::current().id())
            }
            _ => LaneKey::Shared,
        }
    }
}

/// Every lane of one engine, created on first use from the lane's runtime
/// (a pool spawns its recycler task on the runtime that creates it).
pub(super) struct Lanes {
    opts: mysql_async::OptsBuilder,
    pool_size: usize,
    lanes: Mutex<Vec<(LaneKey, Arc<Lane>)>>,
}

impl Lanes {
    pub(super) fn new(opts: mysql_async::OptsBuilder, pool_size: usize) -> Lanes {
        Lanes {
            opts,
            pool_size,
            lanes: Mutex::default(),
        }
    }

    /// The caller's lane.
    pub(super) fn current(&self) -> Result<Arc<Lane>> {
        let key = LaneKey::current();
        let mut lanes = self
            .lanes
            .lock()
            .map_err(|_| Error::Unavailable("connection lanes poisoned".into()))?;
        if let Some((_, lane)) = lanes.iter().find(|(k, _)| *k == key) {
            return Ok(lane.clone());
        }
        let lane = Arc::new(Lane {
            pool: super::pool(self.opts.clone(), self.pool_size, false),
            pool_size: self.pool_size,
            idle: Mutex::default(),
            waiting: AtomicUsize::new(0),
        });
        lanes.push((key, lane.clone()));
        Ok(lane)
    }

    /// Takes every lane out (to close them).
    pub(super) fn drain(&self) -> Vec<Arc<Lane>> {
        match self.lanes.lock() {
            Ok(mut lanes) => lanes.drain(..).map(|(_, l)| l).collect(),
            Err(_) => Vec::new(),
        }
    }
}

pub(super) struct Lane {
    pool: Pool,
    pool_size: usize,
    /// Connections given back by autocommit statements that left no
    /// session state, newest last, each with when it was parked. A
    /// connection dropped into mysql_async's pool goes through the pool's
    /// recycler task, so every statement woke a second runtime worker (a
    /// futex and an eventfd write) before the gate could answer its client:
    /// 37 against 59 us of CPU per point select. Parked connections still
    /// count against the pool's limit. The pool checks a connection's
    /// socket when it hands it out; a parked one is not checked, so a
    /// statement that finds it closed ([`Error::ConnectionClosed`]: nothing
    /// was sent) is sent again on a connection from the pool.
    ///
    /// A parked connection is not in the pool, so a statement already
    /// waiting in the pool would not get it: with more callers than
    /// connections they starved (sysbench at 32 threads against 16
    /// connections). So a connection is parked only while nobody waits for
    /// one (`waiting`, counted before the parked ones are looked at, so a
    /// caller either finds the connection parked or its wait is seen).
    idle: Mutex<Vec<(Conn, Instant)>>,
    waiting: AtomicUsize,
}

/// Counts a caller waiting for a connection for as long as it lives (also
/// when the caller's future is dropped mid-wait).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Waiting(n)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Lane {
    /// A connection for an autocommit statement: a parked one if any
    /// (then `true`), else one from the pool.
    pub(super) async fn get_conn(&self, timeout: Duration) -> Result<(Conn, bool)> {
        let _waiting = Waiting::new(&self.waiting);
        if let Some(conn) = self.take_parked() {
            return Ok((conn, true));
        }
        Ok((self.pool_conn(timeout).await?, false))
    }

    /// The newest parked connection, unless it idled past the TTL (then
    /// every parked one goes back to the pool, which expires them).
    fn take_parked(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().ok()?;
        let (conn, since) = idle.pop()?;
        if since.elapsed() < IDLE_CONNECTION_TTL {
            return Some(conn);
        }
        let stale: Vec<_> = idle.drain(..).collect();
        drop(idle);
        drop(stale);
        drop(conn);
        None
    }

    /// After an autocommit statement: park a usable connection that needs
    /// no reset (see [`Lane::idle`]), else hand it back to the pool.
    pub(super) async fn recycle(&self, conn: Conn, health: ConnHealth, reusable: bool) {
        if health == ConnHealth::Usable && reusable {
            if let Ok(mut idle) = self.idle.lock() {
                let nobody_waits = self.waiting.load(Ordering::SeqCst) == 0;
                if nobody_waits && idle.len() < self.pool_size {
                    idle.push((conn, Instant::now()));
                    return;
                }
            }
        }
        release(conn, health).await;
    }

    /// A connection from the pool; while this waits, nothing is parked.
    pub(super) async fn pool_conn(&self, timeout: Duration) -> Result<Conn> {
        let _waiting = Waiting::new(&self.waiting);
        match tokio::time::timeout(timeout, self.pool.get_conn()).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(Error::Unavailable(format!(
                "no free connection in the pool within {timeout:?}"
            ))),
        }
    }

    /// Parked connections go back to the pool, which is then closed. The
    /// pool's recycler runs on the lane's runtime: if that runtime is gone
    /// the close cannot finish, and MariaDB drops the sockets with it.
    pub(super) async fn close(&self) {
        let parked: Vec<_> = match self.idle.lock() {
            Ok(mut idle) => idle.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        drop(parked);
        let _ = tokio::time::timeout(Duration::from_secs(2), self.pool.clone().disconnect()).await;
    }
}

/// Give a connection back to its pool, or close a dead one.
pub(super) async fn release(conn: Conn, health: ConnHealth) {
    if health == ConnHealth::Dead {
        // Already killed on the server (or broken): close our side so the
        // pool never hands it out again.
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.disconnect()).await;
    }
    // Usable connections go back to the pool on drop (and are reset).
}

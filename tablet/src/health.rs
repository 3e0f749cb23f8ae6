//! Tablet health: what StreamHealth reports to gates (and, later, failover).
//!
//! A background task keeps one [`HealthSnapshot`] on a watch channel. It
//! re-evaluates when mysqld's process state changes (a crash is visible at
//! once, without waiting for a probe), when the tablet's role changes, and
//! every `probe_interval` (position and replication lag from MariaDB).
//! Streams send the snapshot whenever it changes and at least every
//! [`STREAM_INTERVAL`].
//!
//! The serving decision is the pure [`decide`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::mysqlctl::{Mysqld, MysqldState};
use crate::replication::Replication;
use crate::state::{Role, TabletState};
use crate::types::{TabletType, TabletUid};

/// Streams repeat the current snapshot at least this often.
pub const STREAM_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSnapshot {
    pub uid: TabletUid,
    pub tablet_type: TabletType,
    pub primary_term: i64,
    pub serving: bool,
    pub mysqld_alive: bool,
    pub replication_lag_seconds: Option<u32>,
    pub position: String,
    /// MariaDB's `@@read_only` (false when unknown).
    pub read_only: bool,
    /// Why not serving, or what is wrong while serving; empty when healthy.
    pub error: String,
}

/// What a probe of MariaDB found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Ok {
        position: String,
        read_only: bool,
        replication_lag_seconds: Option<u32>,
        replication_error: Option<String>,
    },
    Failed(String),
    /// mysqld is not running; nothing was asked.
    Skipped,
}

/// Serving = mysqld alive and answering; a replica whose replication broke
/// keeps serving (stale reads are the gate's call) but says why, and so does
/// a primary that is read-only (e.g. after a mysqld restart: it starts
/// read-only until re-promoted).
pub fn decide(uid: TabletUid, role: Role, state: &MysqldState, probe: &Probe) -> HealthSnapshot {
    let mut snap = HealthSnapshot {
        uid,
        tablet_type: role.tablet_type,
        primary_term: role.primary_term,
        serving: false,
        mysqld_alive: state.is_alive(),
        replication_lag_seconds: None,
        position: String::new(),
        read_only: false,
        error: String::new(),
    };
    if !snap.mysqld_alive {
        snap.error = format!("mysqld not running: {state:?}");
        return snap;
    }
    match probe {
        Probe::Ok {
            position,
            read_only,
            replication_lag_seconds,
            replication_error,
        } => {
            snap.serving = true;
            snap.position = position.clone();
            snap.read_only = *read_only;
            if role.tablet_type == TabletType::Primary && *read_only {
                snap.error = "primary is read-only".into();
            }
            if role.tablet_type != TabletType::Primary {
                snap.replication_lag_seconds = *replication_lag_seconds;
                if let Some(e) = replication_error {
                    snap.error = e.clone();
                }
            }
        }
        Probe::Failed(e) => snap.error = format!("health probe failed: {e}"),
        Probe::Skipped => snap.error = "mysqld not probed yet".into(),
    }
    snap
}

pub struct HealthReporter {
    rx: watch::Receiver<HealthSnapshot>,
    task: AbortHandle,
}

impl Drop for HealthReporter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn probe(repl: &Replication, role: Role, timeout: Duration) -> Probe {
    let work = async {
        let position = repl.current_position().await?;
        let read_only = repl.read_only().await?;
        let (lag, err) = if role.tablet_type == TabletType::Primary {
            (None, None)
        } else {
            let s = repl.status().await?;
            let err = if !s.configured {
                Some("replication not configured".to_string())
            } else if !s.io_running || !s.sql_running {
                let detail = [s.last_io_error.as_str(), s.last_sql_error.as_str()]
                    .iter()
                    .filter(|e| !e.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join("; ");
                Some(
                    format!("replication not running {detail}")
                        .trim()
                        .to_string(),
                )
            } else {
                None
            };
            (s.seconds_behind_source, err)
        };
        Ok::<_, crate::Error>(Probe::Ok {
            position: position.to_string(),
            read_only,
            replication_lag_seconds: lag,
            replication_error: err,
        })
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => Probe::Failed(e.to_string()),
        Err(_) => Probe::Failed(format!("no answer within {timeout:?}")),
    }
}

impl HealthReporter {
    pub fn spawn(
        mysqld: &Mysqld,
        state: Arc<TabletState>,
        repl: Replication,
        probe_interval: Duration,
    ) -> Self {
        let mut mysqld_rx = mysqld.state();
        let mut role_rx = state.subscribe();
        let uid = state.uid;
        let initial = decide(
            uid,
            state.role(),
            &mysqld_rx.borrow_and_update().clone(),
            &Probe::Skipped,
        );
        let (tx, rx) = watch::channel(initial);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(probe_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    r = mysqld_rx.changed() => if r.is_err() { return },
                    r = role_rx.changed() => if r.is_err() { return },
                    _ = tick.tick() => {}
                }
                let ms = mysqld_rx.borrow_and_update().clone();
                let role = *role_rx.borrow_and_update();
                // Publish what is known without MariaDB first, so a crash
                // is never delayed by a probe.
                if !ms.is_alive() {
                    tx.send_if_modified(|cur| {
                        let next = decide(uid, role, &ms, &Probe::Skipped);
                        let changed = *cur != next;
                        *cur = next;
                        changed
                    });
                    continue;
                }
                let p = probe(&repl, role, probe_interval.max(Duration::from_secs(1))).await;
                let ms = mysqld_rx.borrow().clone();
                let next = decide(uid, role, &ms, &p);
                tx.send_if_modified(|cur| {
                    let changed = *cur != next;
                    *cur = next;
                    changed
                });
            }
        });
        HealthReporter {
            rx,
            task: task.abort_handle(),
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<HealthSnapshot> {
        self.rx.clone()
    }

    pub fn current(&self) -> HealthSnapshot {
        self.rx.borrow().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(t: TabletType) -> Role {
        Role {
            tablet_type: t,
            primary_term: 3,
        }
    }

    #[test]
    fn dead_mysqld_is_not_serving() {
        let s = decide(
            TabletUid(1),
            role(TabletType::Primary),
            &MysqldState::Crashed {
                status: "signal: 9".into(),
            },
            &Probe::Skipped,
        );
        assert!(!s.serving && !s.mysqld_alive);
        assert!(s.error.contains("Crashed"), "{}", s.error);
    }

    #[test]
    fn replica_reports_lag_primary_does_not() {
        let probe = Probe::Ok {
            position: "0-1-5".into(),
            read_only: true,
            replication_lag_seconds: Some(4),
            replication_error: None,
        };
        let alive = MysqldState::Running { pid: 1 };
        let r = decide(TabletUid(1), role(TabletType::Replica), &alive, &probe);
        assert!(r.serving);
        assert_eq!(r.replication_lag_seconds, Some(4));
        let p = decide(TabletUid(1), role(TabletType::Primary), &alive, &probe);
        assert_eq!(p.replication_lag_seconds, None);
        assert_eq!(p.primary_term, 3);
        assert!(p.serving && p.read_only);
        assert_eq!(p.error, "primary is read-only");
    }
}

//! Replication control over a `vt_dba` connection: the SQL behind
//! ReplicationService, used by reparents and failover.
//!
//! MariaDB specifics: positions are GTID lists ([`GtidPosition`]); replicas
//! always replicate with `MASTER_USE_GTID=slave_pos`, and before pointing a
//! server at a new source its `gtid_slave_pos` is set to its
//! `gtid_current_pos` so a demoted primary resumes from what it wrote itself.
//! `SHOW SLAVE STATUS` output is parsed by the pure [`parse_slave_status`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool, Row, Value};

use crate::error::{Error, Result};
use crate::gtid::GtidPosition;
use crate::mysqlctl::Mysqld;
use crate::sql::quote_string;
use crate::state::TabletState;
use crate::types::TabletType;

/// What `SHOW SLAVE STATUS` says, in plain types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicationStatus {
    /// False when the server has no replication source configured.
    pub configured: bool,
    pub io_running: bool,
    pub sql_running: bool,
    pub source_host: String,
    pub source_port: u16,
    pub seconds_behind_source: Option<u32>,
    /// `Gtid_IO_Pos`: received by the IO thread.
    pub relay_log_position: String,
    /// `@@gtid_slave_pos`: applied by the SQL thread.
    pub position: GtidPosition,
    pub last_io_error: String,
    pub last_sql_error: String,
}

/// Parse one `SHOW SLAVE STATUS` row (column name → text value). `None`
/// (no row) means replication is not configured.
pub fn parse_slave_status(
    row: Option<&HashMap<String, Option<String>>>,
    slave_pos: GtidPosition,
) -> ReplicationStatus {
    let Some(row) = row else {
        return ReplicationStatus {
            position: slave_pos,
            ..ReplicationStatus::default()
        };
    };
    let s = |k: &str| row.get(k).cloned().flatten().unwrap_or_default();
    ReplicationStatus {
        configured: !s("Master_Host").is_empty(),
        // "Connecting" counts as not running: no events are flowing.
        io_running: s("Slave_IO_Running") == "Yes",
        sql_running: s("Slave_SQL_Running") == "Yes",
        source_host: s("Master_Host"),
        source_port: s("Master_Port").parse().unwrap_or(0),
        seconds_behind_source: s("Seconds_Behind_Master").parse().ok(),
        relay_log_position: s("Gtid_IO_Pos"),
        position: slave_pos,
        last_io_error: s("Last_IO_Error"),
        last_sql_error: s("Last_SQL_Error"),
    }
}

fn row_to_map(row: &Row) -> HashMap<String, Option<String>> {
    row.columns_ref()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let v = match row.as_ref(i) {
                Some(Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                Some(Value::NULL) | None => None,
                Some(other) => Some(other.as_sql(true)),
            };
            (c.name_str().into_owned(), v)
        })
        .collect()
}

#[derive(Clone)]
pub struct Replication {
    dba: Pool,
    state: Arc<TabletState>,
    repl_password: String,
}

impl Replication {
    pub fn new(mysqld: &Mysqld, state: Arc<TabletState>) -> Self {
        Replication {
            dba: crate::query::pool(mysqld.dba_opts(), 4, true),
            state,
            repl_password: mysqld.config().credentials.repl_password.clone(),
        }
    }

    async fn conn(&self) -> Result<Conn> {
        Ok(self.dba.get_conn().await?)
    }

    async fn exec(&self, stmts: &[String]) -> Result<()> {
        let mut c = self.conn().await?;
        for s in stmts {
            c.query_drop(s.as_str()).await?;
        }
        Ok(())
    }

    async fn position_var(&self, var: &str) -> Result<GtidPosition> {
        let mut c = self.conn().await?;
        let v: Option<String> = c.query_first(format!("SELECT @@GLOBAL.{var}")).await?;
        Ok(v.unwrap_or_default().parse()?)
    }

    /// What this server has written to its binlog (`@@gtid_binlog_pos`): on
    /// a primary, the position replicas must reach.
    pub async fn primary_position(&self) -> Result<GtidPosition> {
        self.position_var("gtid_binlog_pos").await
    }

    /// `@@gtid_current_pos`: the newest of binlog and applied positions.
    pub async fn current_position(&self) -> Result<GtidPosition> {
        self.position_var("gtid_current_pos").await
    }

    pub async fn status(&self) -> Result<ReplicationStatus> {
        let mut c = self.conn().await?;
        let rows: Vec<Row> = c.query("SHOW SLAVE STATUS").await?;
        let slave_pos: Option<String> = c.query_first("SELECT @@GLOBAL.gtid_slave_pos").await?;
        let map = rows.first().map(row_to_map);
        Ok(parse_slave_status(
            map.as_ref(),
            slave_pos.unwrap_or_default().parse()?,
        ))
    }

    /// Stop replication (only the IO thread if asked); returns the status
    /// before and after.
    pub async fn stop(
        &self,
        io_thread_only: bool,
    ) -> Result<(ReplicationStatus, ReplicationStatus)> {
        let before = self.status().await?;
        let stmt = if io_thread_only {
            "STOP SLAVE IO_THREAD"
        } else {
            "STOP SLAVE"
        };
        self.exec(&[stmt.into()]).await?;
        Ok((before, self.status().await?))
    }

    pub async fn start(&self) -> Result<()> {
        self.exec(&["START SLAVE".into()]).await
    }

    /// Wait until this server has applied `pos` (`MASTER_GTID_WAIT`).
    pub async fn wait_for_position(&self, pos: &GtidPosition, timeout: Duration) -> Result<()> {
        let mut c = self.conn().await?;
        let sql = format!(
            "SELECT MASTER_GTID_WAIT({}, {:.3})",
            quote_string(&pos.to_string()),
            timeout.as_secs_f64()
        );
        let guard = timeout + Duration::from_secs(5);
        let r: Option<i64> = tokio::time::timeout(guard, c.query_first(sql))
            .await
            .map_err(|_| Error::Timeout(format!("MASTER_GTID_WAIT({pos}) did not return")))??;
        match r {
            Some(0) => Ok(()),
            _ => Err(Error::Timeout(format!(
                "position {pos} not reached within {timeout:?}"
            ))),
        }
    }

    pub async fn read_only(&self) -> Result<bool> {
        let mut c = self.conn().await?;
        let v: Option<u8> = c.query_first("SELECT @@GLOBAL.read_only").await?;
        Ok(v == Some(1))
    }

    pub async fn set_read_only(&self, read_only: bool) -> Result<()> {
        let v = if read_only { "ON" } else { "OFF" };
        self.exec(&[format!("SET GLOBAL read_only = {v}")]).await
    }

    /// Stop taking writes: the tablet refuses them first, then MariaDB.
    /// Returns the final primary position.
    pub async fn demote(&self) -> Result<GtidPosition> {
        self.state.set_type(TabletType::Replica);
        self.set_read_only(true).await?;
        self.primary_position().await
    }

    pub async fn undo_demote(&self) -> Result<()> {
        self.set_read_only(false).await?;
        self.state.set_type(TabletType::Primary);
        Ok(())
    }

    /// Become primary: forget the old source, accept writes, record the
    /// promotion in `_vt.reparent_journal` (which replicates to the new
    /// replicas). Returns the position before the journal entry.
    pub async fn promote(&self, primary_term: i64) -> Result<GtidPosition> {
        self.exec(&[
            "STOP SLAVE".into(),
            "RESET SLAVE ALL".into(),
            "SET GLOBAL read_only = OFF".into(),
        ])
        .await?;
        let pos = self.current_position().await?;
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        self.exec(&[format!(
            "INSERT INTO _vt.reparent_journal \
             (time_created_ns, action_name, primary_alias, replication_position) \
             VALUES ({now_ns}, 'PromoteReplica', {}, {})",
            quote_string(&self.state.uid.to_string()),
            quote_string(&pos.to_string())
        )])
        .await?;
        self.state.promote(primary_term);
        Ok(pos)
    }

    /// Replicate from `host:port` with GTIDs. A primary becomes a replica.
    ///
    /// Semi-sync on the source side is switched off: a replica is never a
    /// semi-sync source, and a demoted primary that kept it on would block
    /// its own SQL thread (with `log_slave_updates` every applied
    /// transaction waits for an ack nobody sends).
    pub async fn set_source(&self, host: &str, port: u16, stop_replication: bool) -> Result<()> {
        if self.state.role().tablet_type == TabletType::Primary {
            self.state.set_type(TabletType::Replica);
        }
        let mut stmts = vec![
            "SET GLOBAL read_only = ON".to_string(),
            "SET GLOBAL rpl_semi_sync_master_enabled = 0".into(),
            "STOP SLAVE".into(),
            "SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_current_pos".into(),
            format!(
                "CHANGE MASTER TO MASTER_HOST = {}, MASTER_PORT = {port}, \
                 MASTER_USER = 'vt_repl', MASTER_PASSWORD = {}, \
                 MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1",
                quote_string(host),
                quote_string(&self.repl_password)
            ),
        ];
        if !stop_replication {
            stmts.push("START SLAVE".into());
        }
        self.exec(&stmts).await
    }

    pub async fn reset(&self) -> Result<()> {
        self.exec(&[
            "STOP SLAVE".into(),
            "RESET SLAVE ALL".into(),
            "SET GLOBAL gtid_slave_pos = ''".into(),
        ])
        .await
    }

    /// Turn semi-sync on or off for each side; `primary_timeout` (if given)
    /// bounds how long a commit waits for an ack before falling back to
    /// async. A replica's IO thread is restarted so the primary sees it as a
    /// semi-sync client.
    pub async fn set_semi_sync(
        &self,
        primary: bool,
        replica: bool,
        primary_timeout: Option<Duration>,
    ) -> Result<()> {
        let on = |b: bool| if b { 1 } else { 0 };
        let status = self.status().await?;
        let mut stmts = vec![
            format!("SET GLOBAL rpl_semi_sync_master_enabled = {}", on(primary)),
            format!("SET GLOBAL rpl_semi_sync_slave_enabled = {}", on(replica)),
        ];
        if let Some(t) = primary_timeout {
            stmts.push(format!(
                "SET GLOBAL rpl_semi_sync_master_timeout = {}",
                t.as_millis()
            ));
        }
        if status.io_running {
            stmts.push("STOP SLAVE IO_THREAD".into());
            stmts.push("START SLAVE IO_THREAD".into());
        }
        self.exec(&stmts).await
    }

    pub async fn close(&self) {
        let _ = self.dba.clone().disconnect().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_slave_status() {
        let row: HashMap<String, Option<String>> = [
            ("Master_Host", Some("127.0.0.1")),
            ("Master_Port", Some("3306")),
            ("Slave_IO_Running", Some("Connecting")),
            ("Slave_SQL_Running", Some("Yes")),
            ("Seconds_Behind_Master", None),
            ("Gtid_IO_Pos", Some("0-1-5")),
            ("Last_IO_Error", Some("boom")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.map(String::from)))
        .collect();
        let s = parse_slave_status(Some(&row), "0-1-4".parse().unwrap());
        assert!(s.configured && !s.io_running && s.sql_running);
        assert_eq!(s.source_port, 3306);
        assert_eq!(s.seconds_behind_source, None);
        assert_eq!(s.position.to_string(), "0-1-4");
        assert_eq!(s.last_io_error, "boom");
        assert!(!parse_slave_status(None, GtidPosition::default()).configured);
    }
}

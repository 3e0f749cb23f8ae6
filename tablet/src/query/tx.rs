//! The transaction table: ids → pinned connections.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mysql_async::Conn;
use tokio::task::AbortHandle;

use crate::error::{Error, Result};

pub(crate) struct Tx {
    pub id: u64,
    /// MariaDB connection id (for KILL).
    pub conn_id: u32,
    /// `None` once the transaction ended.
    pub conn: tokio::sync::Mutex<Option<Conn>>,
    reaper: Mutex<Option<AbortHandle>>,
}

impl Tx {
    pub fn set_reaper(&self, h: AbortHandle) {
        *self.reaper.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
    }

    pub fn cancel_reaper(&self) {
        if let Some(h) = self.reaper.lock().unwrap_or_else(|e| e.into_inner()).take() {
            h.abort();
        }
    }
}

#[derive(Default)]
pub(crate) struct TxTable {
    next_id: AtomicU64,
    active: Mutex<HashMap<u64, Arc<Tx>>>,
}

impl TxTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Tx>>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn insert(&self, conn: Conn) -> Arc<Tx> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let tx = Arc::new(Tx {
            id,
            conn_id: conn.id(),
            conn: tokio::sync::Mutex::new(Some(conn)),
            reaper: Mutex::new(None),
        });
        self.lock().insert(id, tx.clone());
        tx
    }

    pub fn get(&self, id: u64) -> Result<Arc<Tx>> {
        self.lock()
            .get(&id)
            .cloned()
            .ok_or(Error::UnknownTransaction { id })
    }

    /// Remove the transaction; whoever removes it ends it.
    pub fn take(&self, id: u64) -> Result<Arc<Tx>> {
        self.lock()
            .remove(&id)
            .ok_or(Error::UnknownTransaction { id })
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn drain(&self) -> Vec<Arc<Tx>> {
        self.lock().drain().map(|(_, tx)| tx).collect()
    }
}

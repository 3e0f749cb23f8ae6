//! The tablet's role: its type and the primary term it was promoted in.
//! Changes are published on a watch channel (health streams follow it).
//! Later, registration in topology will write the same values to the
//! Tablet record; nothing here knows about topology yet.

use tokio::sync::watch;

use crate::types::{TabletType, TabletUid};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    pub tablet_type: TabletType,
    /// Term of the promotion that made this tablet primary; 0 if never.
    pub primary_term: i64,
}

pub struct TabletState {
    pub uid: TabletUid,
    role: watch::Sender<Role>,
}

impl TabletState {
    pub fn new(uid: TabletUid, tablet_type: TabletType) -> Self {
        let (role, _) = watch::channel(Role {
            tablet_type,
            primary_term: 0,
        });
        TabletState { uid, role }
    }

    pub fn role(&self) -> Role {
        *self.role.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<Role> {
        self.role.subscribe()
    }

    pub fn set_type(&self, tablet_type: TabletType) {
        self.role.send_if_modified(|r| {
            let changed = r.tablet_type != tablet_type;
            r.tablet_type = tablet_type;
            changed
        });
    }

    pub fn promote(&self, primary_term: i64) {
        self.role.send_replace(Role {
            tablet_type: TabletType::Primary,
            primary_term,
        });
    }
}

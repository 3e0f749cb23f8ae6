//! Identities and states shared by the tablet's modules.

use std::fmt;

/// A tablet's numeric id, unique in its cell. It is also the MariaDB
/// `server_id`, so GTIDs name the tablet that wrote them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TabletUid(pub u32);

impl fmt::Display for TabletUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a tablet serves. Only a `Primary` accepts writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TabletType {
    Primary,
    Replica,
    Rdonly,
}

impl fmt::Display for TabletType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TabletType::Primary => "PRIMARY",
            TabletType::Replica => "REPLICA",
            TabletType::Rdonly => "RDONLY",
        })
    }
}

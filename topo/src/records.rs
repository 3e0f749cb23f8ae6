//! Typed topology records: the domain types the rest of vitrail uses.
//!
//! Records are stored protobuf-encoded (hand-derived `prost` messages in
//! [`wire`], the only module that sees them); VSchemas and routing rules are
//! stored as Vitess JSON (see [`crate::vschema`]). Names that form part of a
//! record's key (keyspace, shard, cell) are not repeated inside the value:
//! decoding takes them from the key.

mod wire;

use std::fmt;
use std::str::FromStr;

use crate::keyrange::KeyRange;

/// A record that could not be decoded (corrupt, or written by something
/// else).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what} record: {reason}")]
pub struct DecodeError {
    pub what: &'static str,
    pub reason: String,
}

/// Why a tablet alias, tablet type or durability policy did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {input:?}: {reason}")]
pub struct ParseError {
    pub what: &'static str,
    pub input: String,
    pub reason: &'static str,
}

/// A tablet's identity: its cell and a uid unique in that cell. Printed as
/// Vitess does, uid zero-padded to ten digits (`zone1-0000000101`); parses
/// padded or not (`zone1-101`). The cell is everything before the last `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TabletAlias {
    pub cell: String,
    pub uid: u32,
}

impl TabletAlias {
    pub fn new(cell: impl Into<String>, uid: u32) -> Self {
        TabletAlias {
            cell: cell.into(),
            uid,
        }
    }
}

impl fmt::Display for TabletAlias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:010}", self.cell, self.uid)
    }
}

impl FromStr for TabletAlias {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        let err = |reason| ParseError {
            what: "tablet alias",
            input: s.to_string(),
            reason,
        };
        let (cell, uid) = s
            .rsplit_once('-')
            .ok_or_else(|| err("expected <cell>-<uid>"))?;
        if cell.is_empty() {
            return Err(err("empty cell"));
        }
        if uid.is_empty() || !uid.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("uid must be a decimal number"));
        }
        let uid = uid
            .parse()
            .map_err(|_| err("uid does not fit in 32 bits"))?;
        Ok(TabletAlias::new(cell, uid))
    }
}

/// What a tablet is for. Lower-case names as Vitess prints them; `master`
/// and `batch` are accepted as Vitess's old names for `primary` and
/// `rdonly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TabletType {
    /// Takes writes; one per shard.
    Primary,
    /// Replicates from the primary; serves reads and can be promoted.
    Replica,
    /// Replicates; serves batch/analytics reads; never promoted.
    Rdonly,
    /// Running but not serving, ready to take a role.
    Spare,
    Experimental,
    /// Taking a backup.
    Backup,
    /// Restoring from a backup.
    Restore,
    /// Taken out of service (e.g. by failover) pending repair.
    Drained,
}

impl TabletType {
    pub const ALL: [TabletType; 8] = [
        TabletType::Primary,
        TabletType::Replica,
        TabletType::Rdonly,
        TabletType::Spare,
        TabletType::Experimental,
        TabletType::Backup,
        TabletType::Restore,
        TabletType::Drained,
    ];

    /// The types queries are routed to, in SrvKeyspace partition order.
    pub const SERVING: [TabletType; 3] =
        [TabletType::Primary, TabletType::Replica, TabletType::Rdonly];

    pub fn as_str(&self) -> &'static str {
        match self {
            TabletType::Primary => "primary",
            TabletType::Replica => "replica",
            TabletType::Rdonly => "rdonly",
            TabletType::Spare => "spare",
            TabletType::Experimental => "experimental",
            TabletType::Backup => "backup",
            TabletType::Restore => "restore",
            TabletType::Drained => "drained",
        }
    }

    /// Vitess's `topodata.TabletType` enum number (also our wire value).
    pub fn to_proto(self) -> i32 {
        match self {
            TabletType::Primary => 1,
            TabletType::Replica => 2,
            TabletType::Rdonly => 3,
            TabletType::Spare => 4,
            TabletType::Experimental => 5,
            TabletType::Backup => 6,
            TabletType::Restore => 7,
            TabletType::Drained => 8,
        }
    }

    pub fn from_proto(v: i32) -> Option<TabletType> {
        TabletType::ALL.into_iter().find(|t| t.to_proto() == v)
    }
}

impl fmt::Display for TabletType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TabletType {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "master" => return Ok(TabletType::Primary),
            "batch" => return Ok(TabletType::Rdonly),
            _ => {}
        }
        TabletType::ALL
            .into_iter()
            .find(|t| t.as_str() == lower)
            .ok_or_else(|| ParseError {
                what: "tablet type",
                input: s.to_string(),
                reason: "expected primary, replica, rdonly, spare, experimental, backup, restore or drained",
            })
    }
}

/// How a keyspace's primaries acknowledge writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DurabilityPolicy {
    /// Asynchronous replication: a failover may lose acknowledged writes.
    #[default]
    None,
    /// Semi-synchronous: a write is acknowledged once a replica has it.
    SemiSync,
}

impl DurabilityPolicy {
    pub fn as_str(&self) -> &'static str {
        match self {
            DurabilityPolicy::None => "none",
            DurabilityPolicy::SemiSync => "semi_sync",
        }
    }
}

impl fmt::Display for DurabilityPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DurabilityPolicy {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s {
            "none" => Ok(DurabilityPolicy::None),
            "semi_sync" => Ok(DurabilityPolicy::SemiSync),
            _ => Err(ParseError {
                what: "durability policy",
                input: s.to_string(),
                reason: "expected none or semi_sync",
            }),
        }
    }
}

/// A cell: a failure domain (zone, data centre) holding tablets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cell {
    pub name: String,
    /// Free-form grouping of cells (Vitess's cells alias / region).
    pub region: String,
}

/// A keyspace: a logical database, split into shards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keyspace {
    pub name: String,
    pub durability_policy: DurabilityPolicy,
    /// `Some` for a keyspace with no shards or tablets of its own: its one
    /// logical, unsharded shard ([`SERVED_SHARD`]) is served by the tablets
    /// of this other keyspace's shard, where its tables live in a MariaDB
    /// database named like the keyspace (Vitess's "served from"). This is
    /// what `CREATE DATABASE` through the gate makes: a new database costs
    /// no new mariadbd, and replication and reparents of the host shard
    /// carry it along. `None` for an ordinary keyspace.
    pub served_from: Option<KeyspaceShard>,
}

/// The shard name a served-from keyspace routes by (its single shard
/// covers the whole key range, as an unsharded keyspace's shard does).
pub const SERVED_SHARD: &str = "0";

/// One shard of one keyspace, written `keyspace/shard`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyspaceShard {
    pub keyspace: String,
    pub shard: String,
}

impl KeyspaceShard {
    pub fn new(keyspace: impl Into<String>, shard: impl Into<String>) -> Self {
        KeyspaceShard {
            keyspace: keyspace.into(),
            shard: shard.into(),
        }
    }
}

impl fmt::Display for KeyspaceShard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.keyspace, self.shard)
    }
}

impl FromStr for KeyspaceShard {
    type Err = ParseError;

    /// `keyspace/shard`, both valid key names.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let err = |reason| ParseError {
            what: "keyspace/shard",
            input: s.to_string(),
            reason,
        };
        let (ks, shard) = s
            .split_once('/')
            .ok_or_else(|| err("expected <keyspace>/<shard>"))?;
        crate::layout::validate_name("keyspace", ks).map_err(|e| err(e.reason))?;
        crate::layout::validate_name("shard", shard).map_err(|e| err(e.reason))?;
        Ok(KeyspaceShard::new(ks, shard))
    }
}

/// A shard: the key range it owns and who its primary is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shard {
    pub keyspace: String,
    pub name: String,
    pub key_range: KeyRange,
    /// The tablet currently (or last) primary; `None` before the first
    /// primary is elected.
    pub primary_alias: Option<TabletAlias>,
    /// Bumped by every reparent; a primary seeing a newer term demotes itself.
    pub primary_term: u64,
    /// When the current term began, milliseconds since the Unix epoch
    /// (0 = never). Set by the caller: time is injected, not read here.
    pub primary_term_start_ms: u64,
    /// Whether the primary serves queries (false while a shard is being
    /// created or resharded away).
    pub is_primary_serving: bool,
}

/// A tablet: one MariaDB instance and the process that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tablet {
    pub alias: TabletAlias,
    pub hostname: String,
    pub grpc_port: u16,
    pub mysql_port: u16,
    pub keyspace: String,
    pub shard: String,
    pub tablet_type: TabletType,
    /// When this tablet became primary (ms since the Unix epoch), if it is.
    pub primary_term_start_ms: Option<u64>,
}

/// One shard as a serving graph names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardReference {
    pub name: String,
    pub key_range: KeyRange,
}

/// The shards serving one tablet type, sorted by key range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyspacePartition {
    pub served_type: TabletType,
    pub shards: Vec<ShardReference>,
}

/// A cell's serving graph for one keyspace: what the gate routes by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SrvKeyspace {
    pub partitions: Vec<KeyspacePartition>,
    /// Copied from [`Keyspace::served_from`]: the partitions name the
    /// keyspace's own logical shard, and its tablets are this shard's.
    pub served_from: Option<KeyspaceShard>,
}

impl SrvKeyspace {
    /// The shards serving `tablet_type` (empty if none).
    pub fn shards_for(&self, tablet_type: TabletType) -> &[ShardReference] {
        self.partitions
            .iter()
            .find(|p| p.served_type == tablet_type)
            .map_or(&[], |p| p.shards.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tablet_alias_display_and_parse() {
        let a = TabletAlias::new("zone1", 101);
        assert_eq!(a.to_string(), "zone1-0000000101");
        assert_eq!("zone1-101".parse::<TabletAlias>().unwrap(), a);
        assert_eq!("zone1-0000000101".parse::<TabletAlias>().unwrap(), a);
        assert_eq!(
            "us-east-1-7".parse::<TabletAlias>().unwrap(),
            TabletAlias::new("us-east-1", 7)
        );
        for bad in [
            "zone1",
            "-101",
            "zone1-",
            "zone1-x1",
            "zone1-+1",
            "zone1-99999999999",
        ] {
            assert!(bad.parse::<TabletAlias>().is_err(), "{bad}");
        }
    }

    #[test]
    fn tablet_type_names() {
        for t in TabletType::ALL {
            assert_eq!(t.as_str().parse::<TabletType>().unwrap(), t);
            assert_eq!(TabletType::from_proto(t.to_proto()), Some(t));
        }
        assert_eq!(
            "PRIMARY".parse::<TabletType>().unwrap(),
            TabletType::Primary
        );
        assert_eq!("master".parse::<TabletType>().unwrap(), TabletType::Primary);
        assert_eq!("batch".parse::<TabletType>().unwrap(), TabletType::Rdonly);
        assert!("leader".parse::<TabletType>().is_err());
        assert_eq!(
            "commerce/-80".parse::<KeyspaceShard>().unwrap(),
            KeyspaceShard::new("commerce", "-80")
        );
        assert_eq!(KeyspaceShard::new("a", "0").to_string(), "a/0");
        for bad in ["commerce", "/0", "commerce/", "a/b/c", "a b/0"] {
            assert!(bad.parse::<KeyspaceShard>().is_err(), "{bad}");
        }
        assert_eq!(TabletType::from_proto(0), None);
        assert_eq!(DurabilityPolicy::SemiSync.to_string(), "semi_sync");
        assert_eq!(
            "semi_sync".parse::<DurabilityPolicy>().unwrap(),
            DurabilityPolicy::SemiSync
        );
    }
}

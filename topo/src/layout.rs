//! Where every record lives in the KV: one function per key.
//!
//! Everything is under one root prefix (default `/vitrail/`), so several
//! clusters can share an etcd and one `list(root)` sees a whole cluster.
//!
//! ```text
//! <root>cells/<cell>/cell                              Cell
//! <root>cells/<cell>/tablets/<cell>-<uid:010>          Tablet
//! <root>cells/<cell>/alive/<cell>-<uid:010>            (empty; bound to the tablet's lease)
//! <root>cells/<cell>/srv/keyspaces/<keyspace>          SrvKeyspace
//! <root>cells/<cell>/srv/vschema                       SrvVSchema (JSON)
//! <root>keyspaces/<keyspace>/keyspace                  Keyspace
//! <root>keyspaces/<keyspace>/vschema                   VSchema (JSON)
//! <root>keyspaces/<keyspace>/shards/<shard>/shard      Shard
//! <root>keyspaces/<keyspace>/shards/<shard>/locks/<lease>  shard lock queue (kv::lock)
//! <root>routing_rules                                  RoutingRules (JSON)
//! ```
//!
//! Why records sit *inside* their directory (`keyspaces/ks/keyspace` rather
//! than `keyspaces/ks`): a prefix listing then never mixes a record with its
//! children or with a sibling whose name extends it (`ks` vs `ks2`: every
//! prefix below ends in `/`). Listing keyspaces lists `keyspaces/` and keeps
//! the keys ending in `/keyspace` — topologies hold hundreds of keys, not
//! millions, and etcd has no directories to ask for instead.
//!
//! Names used in keys ([`validate_name`]) are ASCII letters, digits, `_` and
//! `-`, at most 64 bytes: no `/` to escape a directory, no `.` (used in
//! `keyspace.table`).

use crate::records::TabletAlias;

/// The default root prefix.
pub const DEFAULT_ROOT: &str = "/vitrail/";

/// Why a name cannot be used in a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} name {name:?}: {reason}")]
pub struct NameError {
    pub kind: &'static str,
    pub name: String,
    pub reason: &'static str,
}

/// Checks a cell, keyspace or shard name before it goes into a key.
pub fn validate_name(kind: &'static str, name: &str) -> Result<(), NameError> {
    let err = |reason| NameError {
        kind,
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(err("empty"));
    }
    if name.len() > 64 {
        return Err(err("longer than 64 bytes"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(err("only ASCII letters, digits, '_' and '-' are allowed"));
    }
    Ok(())
}

/// The key layout under one root prefix. Functions take names already
/// checked by [`validate_name`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: String,
}

impl Default for Layout {
    fn default() -> Self {
        Layout::new(DEFAULT_ROOT)
    }
}

impl Layout {
    /// A layout under `root`; a missing trailing `/` is added.
    pub fn new(root: &str) -> Layout {
        let mut root = root.to_string();
        if !root.ends_with('/') {
            root.push('/');
        }
        Layout { root }
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    // ---- cells ----

    /// Prefix of every cell's directory (cell records and cell-local data).
    pub fn cells_dir(&self) -> String {
        format!("{}cells/", self.root)
    }

    pub fn cell_dir(&self, cell: &str) -> String {
        format!("{}cells/{cell}/", self.root)
    }

    pub fn cell(&self, cell: &str) -> String {
        format!("{}cells/{cell}/cell", self.root)
    }

    /// The cell name of a key returned by listing [`Layout::cells_dir`], if
    /// the key is a cell record.
    pub fn parse_cell_key<'a>(&self, key: &'a str) -> Option<&'a str> {
        let rest = key.strip_prefix(&self.root)?.strip_prefix("cells/")?;
        rest.strip_suffix("/cell").filter(|c| !c.contains('/'))
    }

    pub fn tablets_dir(&self, cell: &str) -> String {
        format!("{}cells/{cell}/tablets/", self.root)
    }

    pub fn tablet(&self, alias: &TabletAlias) -> String {
        format!("{}cells/{}/tablets/{alias}", self.root, alias.cell)
    }

    pub fn alive_dir(&self, cell: &str) -> String {
        format!("{}cells/{cell}/alive/", self.root)
    }

    /// Exists while the tablet's lease does.
    pub fn alive(&self, alias: &TabletAlias) -> String {
        format!("{}cells/{}/alive/{alias}", self.root, alias.cell)
    }

    pub fn srv_keyspaces_dir(&self, cell: &str) -> String {
        format!("{}cells/{cell}/srv/keyspaces/", self.root)
    }

    pub fn srv_keyspace(&self, cell: &str, keyspace: &str) -> String {
        format!("{}cells/{cell}/srv/keyspaces/{keyspace}", self.root)
    }

    pub fn srv_vschema(&self, cell: &str) -> String {
        format!("{}cells/{cell}/srv/vschema", self.root)
    }

    // ---- keyspaces ----

    pub fn keyspaces_dir(&self) -> String {
        format!("{}keyspaces/", self.root)
    }

    pub fn keyspace_dir(&self, keyspace: &str) -> String {
        format!("{}keyspaces/{keyspace}/", self.root)
    }

    pub fn keyspace(&self, keyspace: &str) -> String {
        format!("{}keyspaces/{keyspace}/keyspace", self.root)
    }

    /// The keyspace name of a key returned by listing
    /// [`Layout::keyspaces_dir`], if the key is a keyspace record.
    pub fn parse_keyspace_key<'a>(&self, key: &'a str) -> Option<&'a str> {
        let rest = key.strip_prefix(&self.root)?.strip_prefix("keyspaces/")?;
        rest.strip_suffix("/keyspace").filter(|k| !k.contains('/'))
    }

    pub fn vschema(&self, keyspace: &str) -> String {
        format!("{}keyspaces/{keyspace}/vschema", self.root)
    }

    pub fn shards_dir(&self, keyspace: &str) -> String {
        format!("{}keyspaces/{keyspace}/shards/", self.root)
    }

    /// The shard's directory without the trailing `/`: the path to hand to
    /// [`crate::kv::lock`], which queues under `<path>/locks/`.
    pub fn shard_lock_path(&self, keyspace: &str, shard: &str) -> String {
        format!("{}keyspaces/{keyspace}/shards/{shard}", self.root)
    }

    pub fn shard_locks_dir(&self, keyspace: &str, shard: &str) -> String {
        format!("{}keyspaces/{keyspace}/shards/{shard}/locks/", self.root)
    }

    pub fn shard(&self, keyspace: &str, shard: &str) -> String {
        format!("{}keyspaces/{keyspace}/shards/{shard}/shard", self.root)
    }

    /// The shard name of a key returned by listing [`Layout::shards_dir`],
    /// if the key is a shard record.
    pub fn parse_shard_key<'a>(&self, keyspace: &str, key: &'a str) -> Option<&'a str> {
        let rest = key.strip_prefix(&self.shards_dir(keyspace))?;
        rest.strip_suffix("/shard").filter(|s| !s.contains('/'))
    }

    // ---- global ----

    pub fn routing_rules(&self) -> String {
        format!("{}routing_rules", self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let l = Layout::new("/vt");
        let alias = TabletAlias::new("zone1", 101);
        assert_eq!(l.cell("zone1"), "/vt/cells/zone1/cell");
        assert_eq!(l.tablet(&alias), "/vt/cells/zone1/tablets/zone1-0000000101");
        assert_eq!(l.alive(&alias), "/vt/cells/zone1/alive/zone1-0000000101");
        assert_eq!(
            l.srv_keyspace("zone1", "ks"),
            "/vt/cells/zone1/srv/keyspaces/ks"
        );
        assert_eq!(l.srv_vschema("zone1"), "/vt/cells/zone1/srv/vschema");
        assert_eq!(l.keyspace("ks"), "/vt/keyspaces/ks/keyspace");
        assert_eq!(l.vschema("ks"), "/vt/keyspaces/ks/vschema");
        assert_eq!(l.shard("ks", "-80"), "/vt/keyspaces/ks/shards/-80/shard");
        assert_eq!(l.routing_rules(), "/vt/routing_rules");
        assert_eq!(Layout::default().root(), "/vitrail/");
    }

    #[test]
    fn listing_keys_are_told_apart() {
        let l = Layout::default();
        assert_eq!(l.parse_keyspace_key(&l.keyspace("ks")), Some("ks"));
        assert_eq!(l.parse_keyspace_key(&l.vschema("ks")), None);
        assert_eq!(l.parse_keyspace_key(&l.shard("ks", "0")), None);
        assert_eq!(l.parse_shard_key("ks", &l.shard("ks", "-80")), Some("-80"));
        let lock = format!("{}1234", l.shard_locks_dir("ks", "-80"));
        assert_eq!(l.parse_shard_key("ks", &lock), None);
        assert_eq!(l.parse_cell_key(&l.cell("zone1")), Some("zone1"));
        let tablet = l.tablet(&TabletAlias::new("zone1", 1));
        assert_eq!(l.parse_cell_key(&tablet), None);
        // `ks` must not list `ks2`'s shards.
        assert!(!l.shard("ks2", "0").starts_with(&l.shards_dir("ks")));
    }

    #[test]
    fn names() {
        assert!(validate_name("keyspace", "commerce_2").is_ok());
        assert!(validate_name("shard", "-80").is_ok());
        for bad in ["", "a/b", "a.b", "é", &"x".repeat(65)] {
            assert!(validate_name("keyspace", bad).is_err(), "{bad}");
        }
    }
}

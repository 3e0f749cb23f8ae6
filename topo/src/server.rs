//! [`Topo`]: the typed topology API, over any [`Kv`].
//!
//! Every method maps to a few KV operations on the keys of
//! [`crate::layout`]. Multi-record changes (a keyspace with its shards, a
//! serving graph for several cells) are written in one KV transaction, so
//! a failure leaves nothing half-written. Records that must exist for a
//! write to make sense (the keyspace of a VSchema, the cell and shard of a
//! tablet) are checked inside the same transaction.
//!
//! Read-modify-write goes through [`Topo::update_shard_fields`] and
//! [`Topo::update_tablet_fields`] (Vitess's `UpdateShardFields`): read, apply
//! the caller's closure, write back at the version read, and start over if
//! someone wrote in between.

use std::sync::Arc;
use std::time::Duration;

use crate::keyrange::{check_partition, generate_shard_ranges, KeyRange, KeyRangeError};
use crate::kv::{self, Kv, LeaseId, LockGuard, TxnOp, Version};
use crate::layout::{validate_name, Layout, NameError};
use crate::records::{
    Cell, DecodeError, Keyspace, KeyspacePartition, KeyspaceShard, Shard, ShardReference,
    SrvKeyspace, Tablet, TabletAlias, TabletType, SERVED_SHARD,
};
use crate::vschema::{RoutingRules, SrvVSchema, VSchema, VSchemaError};

/// How many times a read-modify-write is retried on a version conflict.
const MAX_ATTEMPTS: u32 = 16;

/// Every topology failure, classified by what the caller can do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopoError {
    /// The named record does not exist.
    #[error("{kind} {name:?} not found")]
    NotFound { kind: &'static str, name: String },
    /// A create found the record present.
    #[error("{kind} {name:?} already exists")]
    AlreadyExists { kind: &'static str, name: String },
    /// The request cannot succeed as asked (e.g. deleting a cell that still
    /// has tablets).
    #[error("{0}")]
    FailedPrecondition(String),
    #[error(transparent)]
    InvalidName(#[from] NameError),
    #[error(transparent)]
    KeyRange(#[from] KeyRangeError),
    #[error(transparent)]
    VSchema(#[from] VSchemaError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A read-modify-write lost the race [`MAX_ATTEMPTS`] times in a row.
    #[error("{what} kept changing concurrently; gave up after {attempts} attempts")]
    Contention { what: String, attempts: u32 },
    #[error(transparent)]
    Kv(#[from] kv::Error),
}

impl TopoError {
    /// Transient: the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            TopoError::Kv(e) => e.is_retryable() || e.is_conflict(),
            TopoError::Contention { .. } => true,
            _ => false,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, TopoError::NotFound { .. })
    }
}

pub type Result<T, E = TopoError> = std::result::Result<T, E>;

/// A record with the version it was read at (pass it back to write it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamped<T> {
    pub value: T,
    pub version: Version,
}

/// What a key in a transaction stands for, to turn a KV error about the key
/// into one about the record.
struct Named<'a> {
    key: String,
    kind: &'static str,
    name: &'a str,
}

fn named_error(err: kv::Error, names: &[Named<'_>]) -> TopoError {
    let find = |key: &str| names.iter().find(|n| n.key == key);
    match &err {
        kv::Error::NotFound(key) => match find(key) {
            Some(n) => TopoError::NotFound {
                kind: n.kind,
                name: n.name.to_string(),
            },
            None => TopoError::Kv(err),
        },
        kv::Error::AlreadyExists(key) => match find(key) {
            Some(n) => TopoError::AlreadyExists {
                kind: n.kind,
                name: n.name.to_string(),
            },
            None => TopoError::Kv(err),
        },
        _ => TopoError::Kv(err),
    }
}

/// The same shards for every serving tablet type.
fn partitions_for(shards: &[ShardReference]) -> Vec<KeyspacePartition> {
    TabletType::SERVING
        .iter()
        .map(|t| KeyspacePartition {
            served_type: *t,
            shards: shards.to_vec(),
        })
        .collect()
}

/// The serving graph of a keyspace served from `host`: one logical shard,
/// [`SERVED_SHARD`], covering the whole key range.
fn served_srv_keyspace(host: &KeyspaceShard) -> SrvKeyspace {
    SrvKeyspace {
        partitions: partitions_for(&[ShardReference {
            name: SERVED_SHARD.to_string(),
            key_range: KeyRange::full(),
        }]),
        served_from: Some(host.clone()),
    }
}

fn not_found(kind: &'static str, name: impl Into<String>) -> TopoError {
    TopoError::NotFound {
        kind,
        name: name.into(),
    }
}

/// The typed topology over a shared KV. Cheap to clone.
#[derive(Clone)]
pub struct Topo {
    kv: Arc<dyn Kv>,
    layout: Layout,
}

impl Topo {
    /// A topology under the default root (`/vitrail/`).
    pub fn new(kv: Arc<dyn Kv>) -> Topo {
        Topo::with_layout(kv, Layout::default())
    }

    pub fn with_layout(kv: Arc<dyn Kv>, layout: Layout) -> Topo {
        Topo { kv, layout }
    }

    pub fn kv(&self) -> &Arc<dyn Kv> {
        &self.kv
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The raw value and version of `key`, or a NotFound naming the record.
    async fn get_raw(&self, key: &str, kind: &'static str, name: &str) -> Result<kv::Versioned> {
        self.kv.get(key).await?.ok_or_else(|| not_found(kind, name))
    }

    // ---------------------------------------------------------------- cells

    pub async fn create_cell(&self, cell: &Cell) -> Result<()> {
        validate_name("cell", &cell.name)?;
        let key = self.layout.cell(&cell.name);
        self.kv
            .create(&key, cell.encode(), None)
            .await
            .map_err(|e| {
                named_error(
                    e,
                    &[Named {
                        key: key.clone(),
                        kind: "cell",
                        name: &cell.name,
                    }],
                )
            })?;
        Ok(())
    }

    pub async fn get_cell(&self, name: &str) -> Result<Cell> {
        validate_name("cell", name)?;
        let raw = self.get_raw(&self.layout.cell(name), "cell", name).await?;
        Ok(Cell::decode(name, &raw.value)?)
    }

    /// Cell names, sorted.
    pub async fn list_cells(&self) -> Result<Vec<String>> {
        let listing = self.kv.list(&self.layout.cells_dir()).await?;
        Ok(listing
            .entries
            .iter()
            .filter_map(|(key, _)| self.layout.parse_cell_key(key))
            .map(str::to_string)
            .collect())
    }

    /// Deletes a cell and its serving graph. Refused while tablets are
    /// registered in it.
    pub async fn delete_cell(&self, name: &str) -> Result<()> {
        validate_name("cell", name)?;
        let listing = self.kv.list(&self.layout.cell_dir(name)).await?;
        let cell_key = self.layout.cell(name);
        if !listing.entries.iter().any(|(k, _)| *k == cell_key) {
            return Err(not_found("cell", name));
        }
        let tablets = self.layout.tablets_dir(name);
        let count = listing
            .entries
            .iter()
            .filter(|(k, _)| k.starts_with(&tablets))
            .count();
        if count > 0 {
            return Err(TopoError::FailedPrecondition(format!(
                "cell {name:?} still has {count} tablet(s): delete them first"
            )));
        }
        let ops = listing
            .entries
            .into_iter()
            .map(|(key, v)| TxnOp::Delete {
                key,
                expected_version: Some(v.version),
            })
            .collect();
        self.kv.txn(ops).await?;
        Ok(())
    }

    // ------------------------------------------------------------ keyspaces

    /// Creates a keyspace with `shard_count` equal shards
    /// ([`generate_shard_ranges`]); one shard is named `0`, as Vitess names
    /// an unsharded keyspace's shard.
    pub async fn create_keyspace(
        &self,
        keyspace: &Keyspace,
        shard_count: usize,
    ) -> Result<Vec<Shard>> {
        let names: Vec<String> = if shard_count == 1 {
            vec!["0".to_string()]
        } else {
            generate_shard_ranges(shard_count)?
                .iter()
                .map(KeyRange::shard_name)
                .collect()
        };
        self.create_keyspace_with_shards(keyspace, &names).await
    }

    /// Creates a keyspace and the named shards, which must cover the key
    /// range exactly once. All records are written in one transaction.
    pub async fn create_keyspace_with_shards(
        &self,
        keyspace: &Keyspace,
        shard_names: &[String],
    ) -> Result<Vec<Shard>> {
        validate_name("keyspace", &keyspace.name)?;
        let mut shards = Vec::with_capacity(shard_names.len());
        for name in shard_names {
            validate_name("shard", name)?;
            shards.push(Shard {
                keyspace: keyspace.name.clone(),
                name: name.clone(),
                key_range: KeyRange::parse_shard_name(name)?,
                primary_alias: None,
                primary_term: 0,
                primary_term_start_ms: 0,
                is_primary_serving: true,
            });
        }
        check_partition(shards.iter().map(|s| (s.name.as_str(), &s.key_range)))?;
        let ks_key = self.layout.keyspace(&keyspace.name);
        let mut ops = vec![TxnOp::Create {
            key: ks_key.clone(),
            value: keyspace.encode(),
            lease: None,
        }];
        ops.extend(shards.iter().map(|s| TxnOp::Create {
            key: self.layout.shard(&s.keyspace, &s.name),
            value: s.encode(),
            lease: None,
        }));
        self.kv.txn(ops).await.map_err(|e| match e {
            kv::Error::AlreadyExists(key) if key != ks_key => TopoError::AlreadyExists {
                kind: "shard",
                name: match self.layout.parse_shard_key(&keyspace.name, &key) {
                    Some(shard) => format!("{}/{shard}", keyspace.name),
                    None => key,
                },
            },
            e => named_error(
                e,
                &[Named {
                    key: ks_key.clone(),
                    kind: "keyspace",
                    name: &keyspace.name,
                }],
            ),
        })?;
        shards.sort_by(|a, b| a.key_range.start.cmp(&b.key_range.start));
        Ok(shards)
    }

    /// Creates a keyspace served from another keyspace's shard
    /// ([`Keyspace::served_from`], which must be set): the keyspace record,
    /// its VSchema and every cell's SrvKeyspace, in one transaction that
    /// also checks the host shard still exists. Only a keyspace with shards
    /// of its own has shard records, so a served-from keyspace can never
    /// host another (no chains). No shards are created.
    pub async fn create_served_keyspace(
        &self,
        keyspace: &Keyspace,
        vschema: &VSchema,
    ) -> Result<SrvKeyspace> {
        validate_name("keyspace", &keyspace.name)?;
        let Some(host) = &keyspace.served_from else {
            return Err(TopoError::FailedPrecondition(format!(
                "keyspace {:?} is not served from another keyspace",
                keyspace.name
            )));
        };
        vschema.validate()?;
        let host_shard = self.get_shard(&host.keyspace, &host.shard).await?;
        let srv = served_srv_keyspace(host);
        let ks_key = self.layout.keyspace(&keyspace.name);
        let host_key = self.layout.shard(&host.keyspace, &host.shard);
        let host_name = host.to_string();
        let mut ops = vec![
            TxnOp::Check {
                key: host_key.clone(),
                version: host_shard.version,
            },
            TxnOp::Create {
                key: ks_key.clone(),
                value: keyspace.encode(),
                lease: None,
            },
            TxnOp::Update {
                key: self.layout.vschema(&keyspace.name),
                value: vschema.to_json(),
                expected_version: None,
            },
        ];
        for cell in self.list_cells().await? {
            ops.push(TxnOp::Update {
                key: self.layout.srv_keyspace(&cell, &keyspace.name),
                value: srv.encode(),
                expected_version: None,
            });
        }
        // A host shard written in between (a reparent) fails the Check as a
        // conflict, which is retryable; a deleted one is NotFound.
        self.kv.txn(ops).await.map_err(|e| {
            named_error(
                e,
                &[
                    Named {
                        key: ks_key.clone(),
                        kind: "keyspace",
                        name: &keyspace.name,
                    },
                    Named {
                        key: host_key.clone(),
                        kind: "shard",
                        name: &host_name,
                    },
                ],
            )
        })?;
        Ok(srv)
    }

    pub async fn get_keyspace(&self, name: &str) -> Result<Stamped<Keyspace>> {
        validate_name("keyspace", name)?;
        let raw = self
            .get_raw(&self.layout.keyspace(name), "keyspace", name)
            .await?;
        Ok(Stamped {
            value: Keyspace::decode(name, &raw.value)?,
            version: raw.version,
        })
    }

    /// Keyspace names, sorted.
    pub async fn list_keyspaces(&self) -> Result<Vec<String>> {
        let listing = self.kv.list(&self.layout.keyspaces_dir()).await?;
        Ok(listing
            .entries
            .iter()
            .filter_map(|(key, _)| self.layout.parse_keyspace_key(key))
            .map(str::to_string)
            .collect())
    }

    /// Deletes a keyspace with its VSchema, shards and every cell's
    /// SrvKeyspace for it, in one transaction. Refused while tablets belong
    /// to it or one of its shards is locked.
    pub async fn delete_keyspace(&self, name: &str) -> Result<()> {
        validate_name("keyspace", name)?;
        let listing = self.kv.list(&self.layout.keyspace_dir(name)).await?;
        if !listing
            .entries
            .iter()
            .any(|(k, _)| *k == self.layout.keyspace(name))
        {
            return Err(not_found("keyspace", name));
        }
        if let Some((key, _)) = listing.entries.iter().find(|(k, _)| k.contains("/locks/")) {
            return Err(TopoError::FailedPrecondition(format!(
                "keyspace {name:?} has a shard locked ({key})"
            )));
        }
        let cells = self.list_cells().await?;
        let mut ops: Vec<TxnOp> = Vec::new();
        for cell in &cells {
            let in_use = self
                .list_tablets(cell)
                .await?
                .into_iter()
                .filter(|t| t.keyspace == name)
                .count();
            if in_use > 0 {
                return Err(TopoError::FailedPrecondition(format!(
                    "keyspace {name:?} still has {in_use} tablet(s) in cell {cell:?}: delete them first"
                )));
            }
            let srv = self.layout.srv_keyspace(cell, name);
            if let Some(v) = self.kv.get(&srv).await? {
                ops.push(TxnOp::Delete {
                    key: srv,
                    expected_version: Some(v.version),
                });
            }
        }
        ops.extend(listing.entries.into_iter().map(|(key, v)| TxnOp::Delete {
            key,
            expected_version: Some(v.version),
        }));
        self.kv.txn(ops).await?;
        Ok(())
    }

    // --------------------------------------------------------------- shards

    pub async fn get_shard(&self, keyspace: &str, shard: &str) -> Result<Stamped<Shard>> {
        validate_name("keyspace", keyspace)?;
        validate_name("shard", shard)?;
        match self.kv.get(&self.layout.shard(keyspace, shard)).await? {
            Some(raw) => Ok(Stamped {
                value: Shard::decode(keyspace, shard, &raw.value)?,
                version: raw.version,
            }),
            None => {
                // Say which is missing: the keyspace or just the shard.
                self.get_keyspace(keyspace).await?;
                Err(not_found("shard", format!("{keyspace}/{shard}")))
            }
        }
    }

    /// The keyspace's shards in key-range order (read at one revision).
    pub async fn list_shards(&self, keyspace: &str) -> Result<Vec<Stamped<Shard>>> {
        validate_name("keyspace", keyspace)?;
        let listing = self.kv.list(&self.layout.keyspace_dir(keyspace)).await?;
        let ks_key = self.layout.keyspace(keyspace);
        if !listing.entries.iter().any(|(k, _)| *k == ks_key) {
            return Err(not_found("keyspace", keyspace));
        }
        let mut shards = Vec::new();
        for (key, raw) in &listing.entries {
            if let Some(name) = self.layout.parse_shard_key(keyspace, key) {
                shards.push(Stamped {
                    value: Shard::decode(keyspace, name, &raw.value)?,
                    version: raw.version,
                });
            }
        }
        shards.sort_by(|a, b| {
            let (a, b) = (&a.value.key_range, &b.value.key_range);
            crate::keyrange::compare_ids(&a.start, &b.start)
        });
        Ok(shards)
    }

    /// Writes `shard` if it is still at `shard.version`; returns the new
    /// version ([`kv::Error::BadVersion`] if someone wrote in between).
    pub async fn update_shard(&self, shard: &Stamped<Shard>) -> Result<Version> {
        let s = &shard.value;
        validate_name("keyspace", &s.keyspace)?;
        validate_name("shard", &s.name)?;
        let key = self.layout.shard(&s.keyspace, &s.name);
        let name = format!("{}/{}", s.keyspace, s.name);
        self.kv
            .update(&key, s.encode(), Some(shard.version))
            .await
            .map_err(|e| {
                named_error(
                    e,
                    &[Named {
                        key: key.clone(),
                        kind: "shard",
                        name: &name,
                    }],
                )
            })
    }

    /// Read-modify-write of a shard: `update` changes the record (returning
    /// an error aborts); unchanged records are not written; version
    /// conflicts re-read and re-apply. Returns the record as written.
    pub async fn update_shard_fields<F>(
        &self,
        keyspace: &str,
        shard: &str,
        mut update: F,
    ) -> Result<Stamped<Shard>>
    where
        F: FnMut(&mut Shard) -> Result<()> + Send,
    {
        for _ in 0..MAX_ATTEMPTS {
            let current = self.get_shard(keyspace, shard).await?;
            let mut next = current.value.clone();
            update(&mut next)?;
            if next.keyspace != keyspace || next.name != shard {
                return Err(TopoError::FailedPrecondition(
                    "update_shard_fields cannot rename a shard".to_string(),
                ));
            }
            if next == current.value {
                return Ok(current);
            }
            let stamped = Stamped {
                value: next,
                version: current.version,
            };
            match self.update_shard(&stamped).await {
                Ok(version) => {
                    return Ok(Stamped {
                        value: stamped.value,
                        version,
                    })
                }
                Err(TopoError::Kv(kv::Error::BadVersion(_))) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(TopoError::Contention {
            what: format!("shard {keyspace}/{shard}"),
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Takes the shard's lock ([`kv::lock`]); `contents` says who and why.
    pub async fn lock_shard(
        &self,
        keyspace: &str,
        shard: &str,
        contents: &str,
        ttl: Duration,
    ) -> Result<LockGuard> {
        self.get_shard(keyspace, shard).await?;
        let path = self.layout.shard_lock_path(keyspace, shard);
        Ok(kv::lock(self.kv.clone(), &path, contents, ttl).await?)
    }

    // -------------------------------------------------------------- vschema

    /// Validates and stores a keyspace's VSchema. The keyspace must exist
    /// (checked in the same transaction); a malformed VSchema writes nothing.
    pub async fn save_vschema(&self, keyspace: &str, vschema: &VSchema) -> Result<()> {
        vschema.validate()?;
        let ks = self.get_keyspace(keyspace).await?;
        let ks_key = self.layout.keyspace(keyspace);
        let ops = vec![
            TxnOp::Check {
                key: ks_key.clone(),
                version: ks.version,
            },
            TxnOp::Update {
                key: self.layout.vschema(keyspace),
                value: vschema.to_json(),
                expected_version: None,
            },
        ];
        self.kv.txn(ops).await.map_err(|e| match e {
            // The keyspace was deleted (or recreated) since we read it.
            kv::Error::NotFound(_) | kv::Error::BadVersion(_) => not_found("keyspace", keyspace),
            e => TopoError::Kv(e),
        })?;
        Ok(())
    }

    /// [`VSchema::parse`] then [`Topo::save_vschema`].
    pub async fn save_vschema_json(&self, keyspace: &str, json: &[u8]) -> Result<VSchema> {
        let vschema = VSchema::parse(json)?;
        self.save_vschema(keyspace, &vschema).await?;
        Ok(vschema)
    }

    /// The keyspace's VSchema; NotFound names the keyspace if it does not
    /// exist, or the VSchema if none was saved.
    pub async fn get_vschema(&self, keyspace: &str) -> Result<VSchema> {
        validate_name("keyspace", keyspace)?;
        match self.kv.get(&self.layout.vschema(keyspace)).await? {
            Some(raw) => Ok(VSchema::parse(&raw.value)?),
            None => {
                self.get_keyspace(keyspace).await?;
                Err(not_found("vschema of keyspace", keyspace))
            }
        }
    }

    pub async fn save_routing_rules(&self, rules: &RoutingRules) -> Result<()> {
        let json = rules.to_json();
        RoutingRules::parse(&json)?;
        self.kv
            .update(&self.layout.routing_rules(), json, None)
            .await?;
        Ok(())
    }

    /// The routing rules (none saved = no rules).
    pub async fn get_routing_rules(&self) -> Result<RoutingRules> {
        match self.kv.get(&self.layout.routing_rules()).await? {
            Some(raw) => Ok(RoutingRules::parse(&raw.value)?),
            None => Ok(RoutingRules::default()),
        }
    }

    // -------------------------------------------------------------- tablets

    /// Registers a tablet. Its cell and its keyspace's shard must exist
    /// (checked in the same transaction).
    pub async fn create_tablet(&self, tablet: &Tablet) -> Result<()> {
        let alias = &tablet.alias;
        validate_name("cell", &alias.cell)?;
        let cell_key = self.layout.cell(&alias.cell);
        let cell = self.get_raw(&cell_key, "cell", &alias.cell).await?;
        let shard = self.get_shard(&tablet.keyspace, &tablet.shard).await?;
        let tablet_key = self.layout.tablet(alias);
        let alias_name = alias.to_string();
        let shard_name = format!("{}/{}", tablet.keyspace, tablet.shard);
        let ops = vec![
            TxnOp::Check {
                key: self.layout.cell(&alias.cell),
                version: cell.version,
            },
            TxnOp::Check {
                key: self.layout.shard(&tablet.keyspace, &tablet.shard),
                version: shard.version,
            },
            TxnOp::Create {
                key: tablet_key.clone(),
                value: tablet.encode(),
                lease: None,
            },
        ];
        self.kv.txn(ops).await.map_err(|e| {
            named_error(
                e,
                &[
                    Named {
                        key: tablet_key.clone(),
                        kind: "tablet",
                        name: &alias_name,
                    },
                    Named {
                        key: self.layout.cell(&alias.cell),
                        kind: "cell",
                        name: &alias.cell,
                    },
                    Named {
                        key: self.layout.shard(&tablet.keyspace, &tablet.shard),
                        kind: "shard",
                        name: &shard_name,
                    },
                ],
            )
        })?;
        Ok(())
    }

    pub async fn get_tablet(&self, alias: &TabletAlias) -> Result<Stamped<Tablet>> {
        validate_name("cell", &alias.cell)?;
        let raw = self
            .get_raw(&self.layout.tablet(alias), "tablet", &alias.to_string())
            .await?;
        Ok(Stamped {
            value: Tablet::decode(&raw.value)?,
            version: raw.version,
        })
    }

    /// The cell's tablets, sorted by alias.
    pub async fn list_tablets(&self, cell: &str) -> Result<Vec<Tablet>> {
        validate_name("cell", cell)?;
        let listing = self.kv.list(&self.layout.tablets_dir(cell)).await?;
        if listing.entries.is_empty() {
            self.get_cell(cell).await?;
        }
        let mut tablets = listing
            .entries
            .iter()
            .map(|(_, raw)| Tablet::decode(&raw.value))
            .collect::<Result<Vec<_>, _>>()?;
        tablets.sort_by(|a, b| a.alias.cmp(&b.alias));
        Ok(tablets)
    }

    /// The shard's tablets in every cell, sorted by alias.
    pub async fn list_tablets_by_shard(&self, keyspace: &str, shard: &str) -> Result<Vec<Tablet>> {
        self.get_shard(keyspace, shard).await?;
        let mut out = Vec::new();
        for cell in self.list_cells().await? {
            out.extend(
                self.list_tablets(&cell)
                    .await?
                    .into_iter()
                    .filter(|t| t.keyspace == keyspace && t.shard == shard),
            );
        }
        out.sort_by(|a, b| a.alias.cmp(&b.alias));
        Ok(out)
    }

    /// Read-modify-write of a tablet, as [`Topo::update_shard_fields`].
    pub async fn update_tablet_fields<F>(
        &self,
        alias: &TabletAlias,
        mut update: F,
    ) -> Result<Stamped<Tablet>>
    where
        F: FnMut(&mut Tablet) -> Result<()> + Send,
    {
        let key = self.layout.tablet(alias);
        for _ in 0..MAX_ATTEMPTS {
            let current = self.get_tablet(alias).await?;
            let mut next = current.value.clone();
            update(&mut next)?;
            if next.alias != *alias {
                return Err(TopoError::FailedPrecondition(
                    "update_tablet_fields cannot change a tablet's alias".to_string(),
                ));
            }
            if next == current.value {
                return Ok(current);
            }
            match self
                .kv
                .update(&key, next.encode(), Some(current.version))
                .await
            {
                Ok(version) => {
                    return Ok(Stamped {
                        value: next,
                        version,
                    })
                }
                Err(kv::Error::BadVersion(_)) => continue,
                Err(kv::Error::NotFound(_)) => return Err(not_found("tablet", alias.to_string())),
                Err(e) => return Err(e.into()),
            }
        }
        Err(TopoError::Contention {
            what: format!("tablet {alias}"),
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Removes a tablet's record and its `alive` key.
    pub async fn delete_tablet(&self, alias: &TabletAlias) -> Result<()> {
        validate_name("cell", &alias.cell)?;
        self.kv
            .delete(&self.layout.tablet(alias), None)
            .await
            .map_err(|e| match e {
                kv::Error::NotFound(_) => not_found("tablet", alias.to_string()),
                e => e.into(),
            })?;
        match self.kv.delete(&self.layout.alive(alias), None).await {
            Ok(()) | Err(kv::Error::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Marks a tablet alive for as long as `lease` lives.
    pub async fn set_alive(&self, alias: &TabletAlias, lease: LeaseId) -> Result<()> {
        validate_name("cell", &alias.cell)?;
        self.kv
            .create(&self.layout.alive(alias), Vec::new(), Some(lease))
            .await?;
        Ok(())
    }

    pub async fn is_alive(&self, alias: &TabletAlias) -> Result<bool> {
        validate_name("cell", &alias.cell)?;
        Ok(self.kv.get(&self.layout.alive(alias)).await?.is_some())
    }

    /// The aliases of the cell's tablets that are alive, sorted.
    pub async fn list_alive(&self, cell: &str) -> Result<Vec<TabletAlias>> {
        validate_name("cell", cell)?;
        let dir = self.layout.alive_dir(cell);
        let listing = self.kv.list(&dir).await?;
        let mut out = Vec::new();
        for (key, _) in &listing.entries {
            let name = key.strip_prefix(&dir).unwrap_or(key);
            out.push(name.parse::<TabletAlias>().map_err(|e| DecodeError {
                what: "alive key",
                reason: e.to_string(),
            })?);
        }
        out.sort();
        Ok(out)
    }

    // ------------------------------------------------------- serving graph

    /// `cells`, or every cell when empty; each must exist.
    async fn target_cells(&self, cells: &[String]) -> Result<Vec<String>> {
        let all = self.list_cells().await?;
        if cells.is_empty() {
            return Ok(all);
        }
        for cell in cells {
            if !all.contains(cell) {
                return Err(not_found("cell", cell.as_str()));
            }
        }
        Ok(cells.to_vec())
    }

    /// Rebuilds the keyspace's serving graph from its shards and writes it
    /// to `cells` (every cell when empty) in one transaction. The serving
    /// shards must cover the key range exactly once.
    /// A served-from keyspace ([`Keyspace::served_from`]) has no shards:
    /// its graph names its one logical shard and the host.
    pub async fn rebuild_srv_keyspace(
        &self,
        keyspace: &str,
        cells: &[String],
    ) -> Result<SrvKeyspace> {
        let served_from = match self.get_keyspace(keyspace).await {
            Ok(ks) => ks.value.served_from,
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        let srv = match &served_from {
            Some(host) => served_srv_keyspace(host),
            None => {
                let shards = self.list_shards(keyspace).await?;
                let serving: Vec<ShardReference> = shards
                    .iter()
                    .filter(|s| s.value.is_primary_serving)
                    .map(|s| ShardReference {
                        name: s.value.name.clone(),
                        key_range: s.value.key_range.clone(),
                    })
                    .collect();
                check_partition(serving.iter().map(|s| (s.name.as_str(), &s.key_range)))?;
                SrvKeyspace {
                    partitions: partitions_for(&serving),
                    served_from: None,
                }
            }
        };
        let ops = self
            .target_cells(cells)
            .await?
            .iter()
            .map(|cell| TxnOp::Update {
                key: self.layout.srv_keyspace(cell, keyspace),
                value: srv.encode(),
                expected_version: None,
            })
            .collect::<Vec<_>>();
        if !ops.is_empty() {
            self.kv.txn(ops).await?;
        }
        Ok(srv)
    }

    pub async fn get_srv_keyspace(&self, cell: &str, keyspace: &str) -> Result<SrvKeyspace> {
        validate_name("cell", cell)?;
        validate_name("keyspace", keyspace)?;
        let key = self.layout.srv_keyspace(cell, keyspace);
        let name = format!("{cell}/{keyspace}");
        let raw = self.get_raw(&key, "srv keyspace", &name).await?;
        Ok(SrvKeyspace::decode(&raw.value)?)
    }

    /// Rebuilds the SrvVSchema (every keyspace's VSchema, read at one
    /// revision, plus the routing rules), validates it as a whole and writes
    /// it to `cells` (every cell when empty) in one transaction. A keyspace
    /// without a VSchema contributes an empty (unsharded) one, as in Vitess.
    pub async fn rebuild_srv_vschema(&self, cells: &[String]) -> Result<SrvVSchema> {
        let listing = self.kv.list(&self.layout.keyspaces_dir()).await?;
        let mut srv = SrvVSchema {
            routing_rules: self.get_routing_rules().await?,
            ..SrvVSchema::default()
        };
        for (key, _) in &listing.entries {
            if let Some(ks) = self.layout.parse_keyspace_key(key) {
                srv.keyspaces.insert(ks.to_string(), VSchema::default());
            }
        }
        for (key, raw) in &listing.entries {
            let ks = key
                .strip_prefix(&self.layout.keyspaces_dir())
                .and_then(|rest| rest.strip_suffix("/vschema"));
            if let Some(slot) = ks.and_then(|ks| srv.keyspaces.get_mut(ks)) {
                *slot = VSchema::parse(&raw.value)?;
            }
        }
        srv.validate()?;
        let json = srv.to_json();
        let ops = self
            .target_cells(cells)
            .await?
            .iter()
            .map(|cell| TxnOp::Update {
                key: self.layout.srv_vschema(cell),
                value: json.clone(),
                expected_version: None,
            })
            .collect::<Vec<_>>();
        if !ops.is_empty() {
            self.kv.txn(ops).await?;
        }
        Ok(srv)
    }

    pub async fn get_srv_vschema(&self, cell: &str) -> Result<SrvVSchema> {
        validate_name("cell", cell)?;
        let raw = self
            .get_raw(&self.layout.srv_vschema(cell), "srv vschema of cell", cell)
            .await?;
        Ok(SrvVSchema::parse(&raw.value)?)
    }
}

#[cfg(test)]
mod tests;

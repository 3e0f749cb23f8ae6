//! The stored (protobuf) form of every record, and the conversions to and
//! from the domain types. Nothing outside this module sees these structs.
//!
//! Field numbers are the storage format: never reuse or renumber one.

use prost::Message;

use super::{
    Cell, DecodeError, DurabilityPolicy, Keyspace, KeyspacePartition, KeyspaceShard, Shard,
    ShardReference, SrvKeyspace, Tablet, TabletAlias, TabletType,
};
use crate::keyrange::KeyRange;

#[derive(Clone, PartialEq, Message)]
struct CellPb {
    #[prost(string, tag = "1")]
    region: String,
}

#[derive(Clone, PartialEq, Message)]
struct KeyspacePb {
    /// 0 = none, 1 = semi_sync.
    #[prost(int32, tag = "1")]
    durability_policy: i32,
    /// Absent in records written before served-from keyspaces existed:
    /// they decode as ordinary keyspaces.
    #[prost(message, optional, tag = "2")]
    served_from: Option<KeyspaceShardPb>,
}

#[derive(Clone, PartialEq, Message)]
struct KeyspaceShardPb {
    #[prost(string, tag = "1")]
    keyspace: String,
    #[prost(string, tag = "2")]
    shard: String,
}

#[derive(Clone, PartialEq, Message)]
struct KeyRangePb {
    #[prost(bytes = "vec", tag = "1")]
    start: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    end: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct TabletAliasPb {
    #[prost(string, tag = "1")]
    cell: String,
    #[prost(uint32, tag = "2")]
    uid: u32,
}

#[derive(Clone, PartialEq, Message)]
struct ShardPb {
    #[prost(message, optional, tag = "1")]
    key_range: Option<KeyRangePb>,
    #[prost(message, optional, tag = "2")]
    primary_alias: Option<TabletAliasPb>,
    #[prost(uint64, tag = "3")]
    primary_term: u64,
    #[prost(uint64, tag = "4")]
    primary_term_start_ms: u64,
    #[prost(bool, tag = "5")]
    is_primary_serving: bool,
}

#[derive(Clone, PartialEq, Message)]
struct TabletPb {
    #[prost(message, optional, tag = "1")]
    alias: Option<TabletAliasPb>,
    #[prost(string, tag = "2")]
    hostname: String,
    #[prost(uint32, tag = "3")]
    grpc_port: u32,
    #[prost(uint32, tag = "4")]
    mysql_port: u32,
    #[prost(string, tag = "5")]
    keyspace: String,
    #[prost(string, tag = "6")]
    shard: String,
    /// Vitess's topodata.TabletType numbers.
    #[prost(int32, tag = "7")]
    tablet_type: i32,
    /// 0 = not primary.
    #[prost(uint64, tag = "8")]
    primary_term_start_ms: u64,
}

#[derive(Clone, PartialEq, Message)]
struct ShardReferencePb {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    key_range: Option<KeyRangePb>,
}

#[derive(Clone, PartialEq, Message)]
struct KeyspacePartitionPb {
    #[prost(int32, tag = "1")]
    served_type: i32,
    #[prost(message, repeated, tag = "2")]
    shard_references: Vec<ShardReferencePb>,
}

#[derive(Clone, PartialEq, Message)]
struct SrvKeyspacePb {
    #[prost(message, repeated, tag = "1")]
    partitions: Vec<KeyspacePartitionPb>,
    #[prost(message, optional, tag = "2")]
    served_from: Option<KeyspaceShardPb>,
}

fn decode<M: Message + Default>(what: &'static str, bytes: &[u8]) -> Result<M, DecodeError> {
    M::decode(bytes).map_err(|e| DecodeError {
        what,
        reason: e.to_string(),
    })
}

fn bad(what: &'static str, reason: impl Into<String>) -> DecodeError {
    DecodeError {
        what,
        reason: reason.into(),
    }
}

fn key_range_to_pb(r: &KeyRange) -> KeyRangePb {
    KeyRangePb {
        start: r.start.clone(),
        end: r.end.clone(),
    }
}

fn key_range_from_pb(what: &'static str, pb: Option<KeyRangePb>) -> Result<KeyRange, DecodeError> {
    let pb = pb.unwrap_or_default();
    KeyRange::new(pb.start, pb.end).ok_or_else(|| bad(what, "key range start is not below its end"))
}

fn alias_to_pb(a: &TabletAlias) -> TabletAliasPb {
    TabletAliasPb {
        cell: a.cell.clone(),
        uid: a.uid,
    }
}

fn alias_from_pb(what: &'static str, pb: TabletAliasPb) -> Result<TabletAlias, DecodeError> {
    if pb.cell.is_empty() {
        return Err(bad(what, "tablet alias has an empty cell"));
    }
    Ok(TabletAlias::new(pb.cell, pb.uid))
}

fn keyspace_shard_to_pb(k: &KeyspaceShard) -> KeyspaceShardPb {
    KeyspaceShardPb {
        keyspace: k.keyspace.clone(),
        shard: k.shard.clone(),
    }
}

fn keyspace_shard_from_pb(
    what: &'static str,
    pb: KeyspaceShardPb,
) -> Result<KeyspaceShard, DecodeError> {
    for (kind, name) in [("keyspace", &pb.keyspace), ("shard", &pb.shard)] {
        crate::layout::validate_name(kind, name)
            .map_err(|e| bad(what, format!("served from: {e}")))?;
    }
    Ok(KeyspaceShard::new(pb.keyspace, pb.shard))
}

fn tablet_type_from_pb(what: &'static str, v: i32) -> Result<TabletType, DecodeError> {
    TabletType::from_proto(v).ok_or_else(|| bad(what, format!("unknown tablet type {v}")))
}

impl Cell {
    pub fn encode(&self) -> Vec<u8> {
        CellPb {
            region: self.region.clone(),
        }
        .encode_to_vec()
    }

    pub fn decode(name: &str, bytes: &[u8]) -> Result<Cell, DecodeError> {
        let pb: CellPb = decode("cell", bytes)?;
        Ok(Cell {
            name: name.to_string(),
            region: pb.region,
        })
    }
}

impl Keyspace {
    pub fn encode(&self) -> Vec<u8> {
        KeyspacePb {
            durability_policy: match self.durability_policy {
                DurabilityPolicy::None => 0,
                DurabilityPolicy::SemiSync => 1,
            },
            served_from: self.served_from.as_ref().map(keyspace_shard_to_pb),
        }
        .encode_to_vec()
    }

    pub fn decode(name: &str, bytes: &[u8]) -> Result<Keyspace, DecodeError> {
        let pb: KeyspacePb = decode("keyspace", bytes)?;
        let durability_policy = match pb.durability_policy {
            0 => DurabilityPolicy::None,
            1 => DurabilityPolicy::SemiSync,
            v => return Err(bad("keyspace", format!("unknown durability policy {v}"))),
        };
        Ok(Keyspace {
            name: name.to_string(),
            durability_policy,
            served_from: pb
                .served_from
                .map(|k| keyspace_shard_from_pb("keyspace", k))
                .transpose()?,
        })
    }
}

impl Shard {
    pub fn encode(&self) -> Vec<u8> {
        ShardPb {
            key_range: Some(key_range_to_pb(&self.key_range)),
            primary_alias: self.primary_alias.as_ref().map(alias_to_pb),
            primary_term: self.primary_term,
            primary_term_start_ms: self.primary_term_start_ms,
            is_primary_serving: self.is_primary_serving,
        }
        .encode_to_vec()
    }

    pub fn decode(keyspace: &str, name: &str, bytes: &[u8]) -> Result<Shard, DecodeError> {
        let pb: ShardPb = decode("shard", bytes)?;
        Ok(Shard {
            keyspace: keyspace.to_string(),
            name: name.to_string(),
            key_range: key_range_from_pb("shard", pb.key_range)?,
            primary_alias: pb
                .primary_alias
                .map(|a| alias_from_pb("shard", a))
                .transpose()?,
            primary_term: pb.primary_term,
            primary_term_start_ms: pb.primary_term_start_ms,
            is_primary_serving: pb.is_primary_serving,
        })
    }
}

impl Tablet {
    pub fn encode(&self) -> Vec<u8> {
        TabletPb {
            alias: Some(alias_to_pb(&self.alias)),
            hostname: self.hostname.clone(),
            grpc_port: self.grpc_port.into(),
            mysql_port: self.mysql_port.into(),
            keyspace: self.keyspace.clone(),
            shard: self.shard.clone(),
            tablet_type: self.tablet_type.to_proto(),
            primary_term_start_ms: self.primary_term_start_ms.unwrap_or(0),
        }
        .encode_to_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Tablet, DecodeError> {
        let pb: TabletPb = decode("tablet", bytes)?;
        let port =
            |p: u32| u16::try_from(p).map_err(|_| bad("tablet", format!("port {p} > 65535")));
        Ok(Tablet {
            alias: alias_from_pb("tablet", pb.alias.ok_or_else(|| bad("tablet", "no alias"))?)?,
            hostname: pb.hostname,
            grpc_port: port(pb.grpc_port)?,
            mysql_port: port(pb.mysql_port)?,
            keyspace: pb.keyspace,
            shard: pb.shard,
            tablet_type: tablet_type_from_pb("tablet", pb.tablet_type)?,
            primary_term_start_ms: (pb.primary_term_start_ms != 0)
                .then_some(pb.primary_term_start_ms),
        })
    }
}

impl SrvKeyspace {
    pub fn encode(&self) -> Vec<u8> {
        SrvKeyspacePb {
            partitions: self
                .partitions
                .iter()
                .map(|p| KeyspacePartitionPb {
                    served_type: p.served_type.to_proto(),
                    shard_references: p
                        .shards
                        .iter()
                        .map(|s| ShardReferencePb {
                            name: s.name.clone(),
                            key_range: Some(key_range_to_pb(&s.key_range)),
                        })
                        .collect(),
                })
                .collect(),
            served_from: self.served_from.as_ref().map(keyspace_shard_to_pb),
        }
        .encode_to_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<SrvKeyspace, DecodeError> {
        const WHAT: &str = "srv keyspace";
        let pb: SrvKeyspacePb = decode(WHAT, bytes)?;
        let partitions = pb
            .partitions
            .into_iter()
            .map(|p| {
                Ok(KeyspacePartition {
                    served_type: tablet_type_from_pb(WHAT, p.served_type)?,
                    shards: p
                        .shard_references
                        .into_iter()
                        .map(|s| {
                            Ok(ShardReference {
                                name: s.name,
                                key_range: key_range_from_pb(WHAT, s.key_range)?,
                            })
                        })
                        .collect::<Result<_, DecodeError>>()?,
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        let served_from = pb
            .served_from
            .map(|k| keyspace_shard_from_pb(WHAT, k))
            .transpose()?;
        Ok(SrvKeyspace {
            partitions,
            served_from,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard() -> Shard {
        Shard {
            keyspace: "ks".into(),
            name: "-80".into(),
            key_range: KeyRange::parse_shard_name("-80").unwrap(),
            primary_alias: Some(TabletAlias::new("zone1", 101)),
            primary_term: 7,
            primary_term_start_ms: 1_700_000_000_000,
            is_primary_serving: true,
        }
    }

    #[test]
    fn records_round_trip() {
        let s = shard();
        assert_eq!(Shard::decode("ks", "-80", &s.encode()).unwrap(), s);
        let t = Tablet {
            alias: TabletAlias::new("zone1", 101),
            hostname: "127.0.0.1".into(),
            grpc_port: 16001,
            mysql_port: 17001,
            keyspace: "ks".into(),
            shard: "-80".into(),
            tablet_type: TabletType::Replica,
            primary_term_start_ms: None,
        };
        assert_eq!(Tablet::decode(&t.encode()).unwrap(), t);
        let k = Keyspace {
            name: "ks".into(),
            durability_policy: DurabilityPolicy::SemiSync,
            served_from: None,
        };
        assert_eq!(Keyspace::decode("ks", &k.encode()).unwrap(), k);
        let served = Keyspace {
            name: "x".into(),
            durability_policy: DurabilityPolicy::None,
            served_from: Some(KeyspaceShard::new("ks", "-80")),
        };
        assert_eq!(Keyspace::decode("x", &served.encode()).unwrap(), served);
        let c = Cell {
            name: "zone1".into(),
            region: "eu".into(),
        };
        assert_eq!(Cell::decode("zone1", &c.encode()).unwrap(), c);
        let srv = SrvKeyspace {
            partitions: vec![KeyspacePartition {
                served_type: TabletType::Primary,
                shards: vec![ShardReference {
                    name: "-80".into(),
                    key_range: s.key_range.clone(),
                }],
            }],
            served_from: None,
        };
        assert_eq!(SrvKeyspace::decode(&srv.encode()).unwrap(), srv);
        let served = SrvKeyspace {
            served_from: Some(KeyspaceShard::new("ks", "-80")),
            ..srv
        };
        assert_eq!(SrvKeyspace::decode(&served.encode()).unwrap(), served);
    }

    /// Records stored before `served_from` existed (field 1 only, exactly
    /// the bytes the old encoder wrote) still decode, as ordinary keyspaces.
    #[test]
    fn keyspace_records_from_before_served_from_still_decode() {
        // KeyspacePb { durability_policy: 1 } as written by the old code.
        let old = [0x08, 0x01];
        let k = Keyspace::decode("commerce", &old).unwrap();
        assert_eq!(k.durability_policy, DurabilityPolicy::SemiSync);
        assert_eq!(k.served_from, None);
        assert_eq!(Keyspace::decode("commerce", &[]).unwrap().served_from, None);
        // And an ordinary keyspace still encodes to the old bytes.
        let same = Keyspace {
            name: "commerce".into(),
            durability_policy: DurabilityPolicy::SemiSync,
            served_from: None,
        };
        assert_eq!(same.encode(), old);
        // A served-from name that could not be a key is a decode error.
        let bad_host = KeyspacePb {
            durability_policy: 0,
            served_from: Some(KeyspaceShardPb {
                keyspace: "a/b".into(),
                shard: "0".into(),
            }),
        };
        assert!(Keyspace::decode("x", &bad_host.encode_to_vec()).is_err());
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        assert!(Shard::decode("ks", "0", &[0xff, 0xff, 0xff]).is_err());
        let bad_type = TabletPb {
            alias: Some(alias_to_pb(&TabletAlias::new("z", 1))),
            tablet_type: 42,
            ..Default::default()
        };
        let err = Tablet::decode(&bad_type.encode_to_vec()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed tablet record: unknown tablet type 42"
        );
        let bad_range = ShardPb {
            key_range: Some(KeyRangePb {
                start: vec![0x80],
                end: vec![0x40],
            }),
            ..Default::default()
        };
        assert!(Shard::decode("ks", "x", &bad_range.encode_to_vec()).is_err());
    }
}

//! InitShardPrimary: make a brand-new shard replicate from a chosen primary.
//!
//! Called by `vitrail ctl shard init-primary` and `vitrail up`; it talks to
//! the topology and to every tablet of the shard over their gRPC
//! ReplicationService, so it runs anywhere. Under the shard lock, re-checked
//! before every step:
//!
//! 1. plan ([`plan_init`], pure): the primary must be a registered tablet of
//!    the shard; the shard must have no primary yet (or `force`); no tablet
//!    may have written anything to its binlog (or `force`);
//! 2. every tablet: reset replication;
//! 3. the primary: semi-sync source on if the keyspace's durability says so;
//! 4. each replica: semi-sync replica on (same rule), replicate from the
//!    primary (`MASTER_USE_GTID=slave_pos`);
//! 5. the primary: PromoteReplica — read-write, first `_vt.reparent_journal`
//!    row (with semi-sync, its commit waits for a replica's ack);
//! 6. each replica: wait until it has applied the journal row;
//! 7. the Shard record (primary, term, serving; written in one transaction
//!    with a check that the lock is still held), the tablets' types, and the
//!    SrvKeyspace of every cell the shard has tablets in.
//!
//! Replicas come before the promotion so that a semi-sync primary has
//! clients to acknowledge its first write.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tonic::transport::{Channel, Endpoint};
use topo::kv::{LockGuard, TxnOp};
use topo::records::{DurabilityPolicy, Shard, Tablet, TabletAlias, TabletType};
use topo::server::Topo;

use super::{AgentError, Result};
use crate::grpc::pb;
use crate::grpc::pb::replication_service_client::ReplicationServiceClient;

#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Re-initialise a shard that has a primary or tablets with data.
    pub force: bool,
    /// How long replicas may take to apply the journal row.
    pub wait_replicas: Duration,
    pub lock_ttl: Duration,
    /// Bound on connecting to a tablet and on each unary call.
    pub rpc_timeout: Duration,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            force: false,
            wait_replicas: Duration::from_secs(30),
            lock_ttl: Duration::from_secs(10),
            rpc_timeout: Duration::from_secs(30),
        }
    }
}

/// The outcome, for printing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReport {
    pub primary: TabletAlias,
    pub replicas: Vec<TabletAlias>,
    pub term: u64,
    /// The primary's position after the journal row.
    pub position: String,
    pub semi_sync: bool,
}

/// What InitShardPrimary will do, decided from topology alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitPlan {
    pub primary: Tablet,
    pub replicas: Vec<Tablet>,
    pub term: u64,
    pub semi_sync: bool,
}

/// Validate the request against the shard record and its tablets.
pub fn plan_init(
    shard: &Shard,
    tablets: &[Tablet],
    primary: &TabletAlias,
    durability: DurabilityPolicy,
    force: bool,
) -> std::result::Result<InitPlan, String> {
    let name = format!("{}/{}", shard.keyspace, shard.name);
    if let Some(current) = &shard.primary_alias {
        if !force {
            return Err(format!(
                "shard {name} already has primary {current} (term {}); use a reparent, or force",
                shard.primary_term
            ));
        }
    }
    let Some(p) = tablets.iter().find(|t| t.alias == *primary) else {
        return Err(format!(
            "tablet {primary} is not registered in shard {name} (tablets: {})",
            tablets
                .iter()
                .map(|t| t.alias.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    if p.tablet_type == TabletType::Rdonly {
        return Err(format!("tablet {primary} is rdonly and cannot be primary"));
    }
    Ok(InitPlan {
        primary: p.clone(),
        replicas: tablets
            .iter()
            .filter(|t| t.alias != *primary)
            .cloned()
            .collect(),
        term: shard.primary_term + 1,
        semi_sync: durability == DurabilityPolicy::SemiSync,
    })
}

/// A tablet's ReplicationService, with errors naming the tablet.
struct Remote {
    alias: TabletAlias,
    client: ReplicationServiceClient<Channel>,
}

impl Remote {
    async fn connect(t: &Tablet, timeout: Duration) -> Result<Remote> {
        let rpc_err = |message: String| AgentError::Rpc {
            alias: t.alias.to_string(),
            message,
        };
        let endpoint = Endpoint::from_shared(format!("http://{}:{}", t.hostname, t.grpc_port))
            .map_err(|e| rpc_err(format!("bad address: {e}")))?
            .connect_timeout(timeout)
            .timeout(timeout);
        let channel = endpoint.connect().await.map_err(|e| {
            rpc_err(format!(
                "unreachable at {}:{}: {e}",
                t.hostname, t.grpc_port
            ))
        })?;
        Ok(Remote {
            alias: t.alias.clone(),
            client: ReplicationServiceClient::new(channel),
        })
    }

    fn err(&self, what: &str, s: tonic::Status) -> AgentError {
        AgentError::Rpc {
            alias: self.alias.to_string(),
            message: format!("{what}: {}", s.message()),
        }
    }

    async fn primary_position(&mut self) -> Result<String> {
        let r = self
            .client
            .primary_position(pb::PrimaryPositionRequest {})
            .await
            .map_err(|s| self.err("PrimaryPosition", s))?;
        Ok(r.into_inner().position)
    }

    async fn reset(&mut self) -> Result<()> {
        self.client
            .reset_replication(pb::ResetReplicationRequest {})
            .await
            .map_err(|s| self.err("ResetReplication", s))?;
        Ok(())
    }

    async fn semi_sync(&mut self, primary: bool, replica: bool) -> Result<()> {
        self.client
            .set_semi_sync(pb::SetSemiSyncRequest {
                primary,
                replica,
                // Leave MariaDB's ack timeout as configured.
                primary_timeout_ms: 0,
            })
            .await
            .map_err(|s| self.err("SetSemiSync", s))?;
        Ok(())
    }

    async fn set_source(&mut self, host: &str, port: u16) -> Result<()> {
        self.client
            .set_replication_source(pb::SetReplicationSourceRequest {
                host: host.to_string(),
                port: u32::from(port),
                stop_replication: false,
            })
            .await
            .map_err(|s| self.err("SetReplicationSource", s))?;
        Ok(())
    }

    async fn promote(&mut self, term: u64) -> Result<String> {
        let r = self
            .client
            .promote_replica(pb::PromoteReplicaRequest {
                primary_term: i64::try_from(term).unwrap_or(i64::MAX),
            })
            .await
            .map_err(|s| self.err("PromoteReplica", s))?;
        Ok(r.into_inner().position)
    }

    async fn wait_for(&mut self, position: &str, timeout: Duration) -> Result<()> {
        let mut req = tonic::Request::new(pb::WaitForPositionRequest {
            position: position.to_string(),
            timeout_ms: timeout.as_millis() as u64,
        });
        req.set_timeout(timeout + Duration::from_secs(5));
        self.client
            .wait_for_position(req)
            .await
            .map_err(|s| self.err("WaitForPosition", s))?;
        Ok(())
    }
}

async fn check(lock: &LockGuard, step: &'static str) -> Result<()> {
    lock.check()
        .await
        .map_err(|source| AgentError::LockLost { step, source })
}

/// Bootstrap `keyspace/shard` with `primary` (see the module docs).
pub async fn init_shard_primary(
    topo: &Topo,
    keyspace: &str,
    shard: &str,
    primary: &TabletAlias,
    opts: &InitOptions,
) -> Result<InitReport> {
    let lock = topo
        .lock_shard(
            keyspace,
            shard,
            &format!("InitShardPrimary({primary})"),
            opts.lock_ttl,
        )
        .await?;
    let result = run_locked(topo, keyspace, shard, primary, opts, &lock).await;
    if let Err(e) = lock.unlock().await {
        tracing::warn!(%keyspace, %shard, error = %e, "unlocking the shard failed; it frees itself when the lease expires");
    }
    result
}

async fn run_locked(
    topo: &Topo,
    keyspace: &str,
    shard: &str,
    primary: &TabletAlias,
    opts: &InitOptions,
    lock: &LockGuard,
) -> Result<InitReport> {
    let record = topo.get_shard(keyspace, shard).await?.value;
    let durability = topo.get_keyspace(keyspace).await?.value.durability_policy;
    let tablets = topo.list_tablets_by_shard(keyspace, shard).await?;
    let plan = plan_init(&record, &tablets, primary, durability, opts.force)
        .map_err(AgentError::FailedPrecondition)?;

    let mut p = Remote::connect(&plan.primary, opts.rpc_timeout).await?;
    let mut replicas = Vec::with_capacity(plan.replicas.len());
    for t in &plan.replicas {
        replicas.push(Remote::connect(t, opts.rpc_timeout).await?);
    }
    if !opts.force {
        for r in std::iter::once(&mut p).chain(replicas.iter_mut()) {
            let pos = r.primary_position().await?;
            if !pos.is_empty() {
                return Err(AgentError::FailedPrecondition(format!(
                    "tablet {} already has binlog history ({pos}); a new shard's tablets must be empty (or force)",
                    r.alias
                )));
            }
        }
    }

    check(lock, "reset replication").await?;
    for r in std::iter::once(&mut p).chain(replicas.iter_mut()) {
        r.reset().await?;
    }
    check(lock, "semi-sync on the primary").await?;
    p.semi_sync(plan.semi_sync, false).await?;
    for r in &mut replicas {
        check(lock, "replica setup").await?;
        r.semi_sync(false, plan.semi_sync).await?;
        r.set_source(&plan.primary.hostname, plan.primary.mysql_port)
            .await?;
    }
    check(lock, "promote").await?;
    p.promote(plan.term).await?;
    let position = p.primary_position().await?;
    for r in &mut replicas {
        check(lock, "wait for replicas").await?;
        r.wait_for(&position, opts.wait_replicas).await?;
    }

    check(lock, "shard record").await?;
    let start_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    // Conditional on still holding the lock, in the same transaction.
    let current = topo.get_shard(keyspace, shard).await?;
    let mut next = current.value.clone();
    next.primary_alias = Some(plan.primary.alias.clone());
    next.primary_term = plan.term;
    next.primary_term_start_ms = start_ms;
    next.is_primary_serving = true;
    let write = topo
        .kv()
        .txn(vec![
            lock.check_op(),
            TxnOp::Update {
                key: topo.layout().shard(keyspace, shard),
                value: next.encode(),
                expected_version: Some(current.version),
            },
        ])
        .await;
    if let Err(e) = write {
        check(lock, "shard record").await?;
        return Err(e.into());
    }
    topo.update_tablet_fields(&plan.primary.alias, |t| {
        t.tablet_type = TabletType::Primary;
        t.primary_term_start_ms = Some(start_ms);
        Ok(())
    })
    .await?;
    for t in &plan.replicas {
        topo.update_tablet_fields(&t.alias, |r| {
            if r.tablet_type == TabletType::Primary {
                r.tablet_type = TabletType::Replica;
                r.primary_term_start_ms = None;
            }
            Ok(())
        })
        .await?;
    }
    let mut cells: Vec<String> = tablets.iter().map(|t| t.alias.cell.clone()).collect();
    cells.sort();
    cells.dedup();
    topo.rebuild_srv_keyspace(keyspace, &cells).await?;
    Ok(InitReport {
        primary: plan.primary.alias.clone(),
        replicas: plan.replicas.iter().map(|t| t.alias.clone()).collect(),
        term: plan.term,
        position,
        semi_sync: plan.semi_sync,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tablet(uid: u32, ty: TabletType) -> Tablet {
        Tablet {
            alias: TabletAlias::new("zone1", uid),
            hostname: "127.0.0.1".into(),
            grpc_port: 1,
            mysql_port: 2,
            keyspace: "ks".into(),
            shard: "0".into(),
            tablet_type: ty,
            primary_term_start_ms: None,
        }
    }

    fn shard(primary: Option<u32>, term: u64) -> Shard {
        Shard {
            keyspace: "ks".into(),
            name: "0".into(),
            primary_alias: primary.map(|u| TabletAlias::new("zone1", u)),
            primary_term: term,
            ..Shard::default()
        }
    }

    #[test]
    fn plans_a_new_shard() {
        let ts = [
            tablet(1, TabletType::Replica),
            tablet(2, TabletType::Replica),
            tablet(3, TabletType::Rdonly),
        ];
        let plan = plan_init(
            &shard(None, 0),
            &ts,
            &TabletAlias::new("zone1", 2),
            DurabilityPolicy::SemiSync,
            false,
        )
        .unwrap();
        assert_eq!(plan.primary.alias.uid, 2);
        assert_eq!(
            plan.replicas
                .iter()
                .map(|t| t.alias.uid)
                .collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert_eq!(plan.term, 1);
        assert!(plan.semi_sync);
    }

    #[test]
    fn refuses_what_is_not_a_new_shard() {
        let ts = [
            tablet(1, TabletType::Replica),
            tablet(3, TabletType::Rdonly),
        ];
        let me = TabletAlias::new("zone1", 1);
        let err =
            plan_init(&shard(Some(1), 1), &ts, &me, DurabilityPolicy::None, false).unwrap_err();
        assert!(err.contains("already has primary"), "{err}");
        let forced = plan_init(&shard(Some(1), 1), &ts, &me, DurabilityPolicy::None, true).unwrap();
        assert_eq!(forced.term, 2);
        assert!(!forced.semi_sync);
        let err = plan_init(
            &shard(None, 0),
            &ts,
            &TabletAlias::new("zone1", 9),
            DurabilityPolicy::None,
            false,
        )
        .unwrap_err();
        assert!(err.contains("not registered"), "{err}");
        let err = plan_init(
            &shard(None, 0),
            &ts,
            &TabletAlias::new("zone1", 3),
            DurabilityPolicy::None,
            false,
        )
        .unwrap_err();
        assert!(err.contains("rdonly"), "{err}");
    }
}

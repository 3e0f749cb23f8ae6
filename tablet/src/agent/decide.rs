//! The agent's decisions as plain functions over plain data: no tokio, no
//! topology client, no MariaDB. The async shell in [`super`] gathers the
//! inputs (shard record, own role, lease clock) and carries out the answer.

use std::time::Duration;

use topo::records::{Shard, TabletAlias, TabletType as TopoType};

use crate::state::Role;
use crate::types::TabletType;

/// What a tablet must do after reading its shard's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardAction {
    /// Nothing to change.
    Nothing,
    /// This tablet is primary but the shard names another tablet in a newer
    /// term: stop taking writes and become a replica.
    Demote { new_primary: TabletAlias, term: u64 },
}

/// A primary demotes itself when the shard names another tablet in a term
/// newer than the one it was promoted in. Only a reparent promotes: a
/// replica named primary waits for the reparent's PromoteReplica.
pub fn on_shard_record(shard: &Shard, me: &TabletAlias, role: Role) -> ShardAction {
    if role.tablet_type != TabletType::Primary {
        return ShardAction::Nothing;
    }
    let my_term = u64::try_from(role.primary_term).unwrap_or(0);
    match &shard.primary_alias {
        Some(other) if other != me && shard.primary_term > my_term => ShardAction::Demote {
            new_primary: other.clone(),
            term: shard.primary_term,
        },
        _ => ShardAction::Nothing,
    }
}

/// The role a (re)starting tablet takes. mariadbd always starts read-only
/// with replication stopped, so a restart has to restore what the shard
/// record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupRole {
    /// The shard names this tablet primary: become writable again in that
    /// term (no new journal row: nothing was reparented).
    Primary { term: u64 },
    /// Replicate from the shard's primary.
    Replica { primary: TabletAlias },
    /// A shard without a primary yet (InitShardPrimary will set things up):
    /// stay read-only, not replicating.
    Idle,
}

pub fn startup_role(shard: &Shard, me: &TabletAlias) -> StartupRole {
    match &shard.primary_alias {
        Some(p) if p == me && shard.primary_term > 0 => StartupRole::Primary {
            term: shard.primary_term,
        },
        Some(p) if p != me => StartupRole::Replica { primary: p.clone() },
        _ => StartupRole::Idle,
    }
}

/// Where a lease stands, judged from the time since the last successful
/// renewal was *sent* (the store counts its TTL from no earlier than that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseHealth {
    Healthy,
    /// Within `margin` of possible expiry: a primary must stop writes now,
    /// before anyone could see its `alive` key vanish and promote another.
    Fence,
    /// The store may have expired it already.
    Expired,
}

pub fn lease_health(since_last_renewal: Duration, ttl: Duration, margin: Duration) -> LeaseHealth {
    if since_last_renewal >= ttl {
        LeaseHealth::Expired
    } else if since_last_renewal >= ttl.saturating_sub(margin) {
        LeaseHealth::Fence
    } else {
        LeaseHealth::Healthy
    }
}

/// How long after the last successful renewal a primary fences itself.
pub fn fence_after(ttl: Duration, margin: Duration) -> Duration {
    ttl.saturating_sub(margin)
}

/// Whether a fenced primary may take writes again once its lease is
/// renewed: only while the shard still names it in its own term (a reparent
/// that began meanwhile has bumped the term or named someone else).
pub fn may_unfence(shard: &Shard, me: &TabletAlias, role: Role) -> bool {
    role.tablet_type == TabletType::Primary
        && shard.primary_alias.as_ref() == Some(me)
        && u64::try_from(role.primary_term).ok() == Some(shard.primary_term)
}

/// The topology's name for a tablet type.
pub fn to_topo_type(t: TabletType) -> TopoType {
    match t {
        TabletType::Primary => TopoType::Primary,
        TabletType::Replica => TopoType::Replica,
        TabletType::Rdonly => TopoType::Rdonly,
    }
}

/// The tablet type a topology type runs as; `None` for types a tablet
/// cannot start as (primary comes only from a reparent; spare, backup… are
/// not implemented).
pub fn startable_type(t: TopoType) -> Option<TabletType> {
    match t {
        TopoType::Replica => Some(TabletType::Replica),
        TopoType::Rdonly => Some(TabletType::Rdonly),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(primary: Option<u32>, term: u64) -> Shard {
        Shard {
            keyspace: "ks".into(),
            name: "0".into(),
            primary_alias: primary.map(|u| TabletAlias::new("zone1", u)),
            primary_term: term,
            ..Shard::default()
        }
    }

    fn role(t: TabletType, term: i64) -> Role {
        Role {
            tablet_type: t,
            primary_term: term,
        }
    }

    #[test]
    fn primary_demotes_on_newer_term_naming_another() {
        let me = TabletAlias::new("zone1", 1);
        let p = role(TabletType::Primary, 1);
        assert_eq!(
            on_shard_record(&shard(Some(1), 1), &me, p),
            ShardAction::Nothing
        );
        assert_eq!(
            on_shard_record(&shard(Some(2), 2), &me, p),
            ShardAction::Demote {
                new_primary: TabletAlias::new("zone1", 2),
                term: 2
            }
        );
        // Same or older term naming another: a stale record, not a reparent.
        assert_eq!(
            on_shard_record(&shard(Some(2), 1), &me, p),
            ShardAction::Nothing
        );
        // No primary named: nothing to follow.
        assert_eq!(
            on_shard_record(&shard(None, 5), &me, p),
            ShardAction::Nothing
        );
        // Newer term naming me (promoted again): nothing to undo.
        assert_eq!(
            on_shard_record(&shard(Some(1), 3), &me, p),
            ShardAction::Nothing
        );
    }

    #[test]
    fn replicas_never_act_on_the_shard_record() {
        let me = TabletAlias::new("zone1", 1);
        for t in [TabletType::Replica, TabletType::Rdonly] {
            assert_eq!(
                on_shard_record(&shard(Some(1), 9), &me, role(t, 0)),
                ShardAction::Nothing
            );
            assert_eq!(
                on_shard_record(&shard(Some(2), 9), &me, role(t, 0)),
                ShardAction::Nothing
            );
        }
    }

    #[test]
    fn startup_restores_what_the_shard_says() {
        let me = TabletAlias::new("zone1", 1);
        assert_eq!(startup_role(&shard(None, 0), &me), StartupRole::Idle);
        assert_eq!(
            startup_role(&shard(Some(1), 4), &me),
            StartupRole::Primary { term: 4 }
        );
        assert_eq!(
            startup_role(&shard(Some(2), 4), &me),
            StartupRole::Replica {
                primary: TabletAlias::new("zone1", 2)
            }
        );
        assert_eq!(startup_role(&shard(Some(1), 0), &me), StartupRole::Idle);
    }

    #[test]
    fn lease_fences_before_it_can_expire() {
        let ttl = Duration::from_secs(4);
        let margin = Duration::from_secs(1);
        let ms = Duration::from_millis;
        assert_eq!(lease_health(ms(0), ttl, margin), LeaseHealth::Healthy);
        assert_eq!(lease_health(ms(2999), ttl, margin), LeaseHealth::Healthy);
        assert_eq!(lease_health(ms(3000), ttl, margin), LeaseHealth::Fence);
        assert_eq!(lease_health(ms(3999), ttl, margin), LeaseHealth::Fence);
        assert_eq!(lease_health(ms(4000), ttl, margin), LeaseHealth::Expired);
        assert_eq!(fence_after(ttl, margin), ms(3000));
        // A margin as long as the TTL fences at once rather than underflowing.
        assert_eq!(lease_health(ms(0), ttl, ttl * 2), LeaseHealth::Fence);
    }

    #[test]
    fn unfence_only_in_own_term() {
        let me = TabletAlias::new("zone1", 1);
        let p = role(TabletType::Primary, 2);
        assert!(may_unfence(&shard(Some(1), 2), &me, p));
        assert!(!may_unfence(&shard(Some(1), 3), &me, p));
        assert!(!may_unfence(&shard(Some(2), 2), &me, p));
        assert!(!may_unfence(
            &shard(Some(1), 2),
            &me,
            role(TabletType::Replica, 2)
        ));
    }

    #[test]
    fn type_mapping() {
        for t in [TabletType::Primary, TabletType::Replica, TabletType::Rdonly] {
            assert_eq!(to_topo_type(t).as_str(), t.to_string().to_lowercase());
        }
        assert_eq!(startable_type(TopoType::Primary), None);
        assert_eq!(startable_type(TopoType::Spare), None);
        assert_eq!(startable_type(TopoType::Rdonly), Some(TabletType::Rdonly));
    }
}

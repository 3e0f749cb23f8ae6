//! Lease timekeeping: a pure structure, driven by the node with explicit
//! `Instant`s (STYLE.md §4), so expiry logic is tested without clocks.
//!
//! Which leases exist and their TTLs is replicated state (the MVCC store);
//! WHEN a lease expires is decided only by the current leader, from this
//! table. A node that becomes leader first calls [`Lessor::promote`], which
//! gives every lease a full TTL from now — as etcd does, so a leader change
//! never expires a lease whose holder kept it alive through the old leader.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::kv::{Lease, LeaseId};

#[derive(Debug, Clone, Copy)]
struct Timer {
    ttl: i64,
    expires: Instant,
}

#[derive(Debug, Default)]
pub struct Lessor {
    leases: HashMap<LeaseId, Timer>,
    /// Revokes proposed but not yet applied, so the expiry loop does not
    /// propose them twice.
    revoking: HashMap<LeaseId, Instant>,
}

fn ttl_duration(ttl: i64) -> Duration {
    Duration::from_secs(ttl.max(0) as u64)
}

impl Lessor {
    /// Become the lease authority: every known lease gets a full TTL from `now`.
    pub fn promote(&mut self, leases: &[Lease], now: Instant) {
        self.leases = leases
            .iter()
            .map(|l| {
                (
                    l.id,
                    Timer {
                        ttl: l.ttl,
                        expires: now + ttl_duration(l.ttl),
                    },
                )
            })
            .collect();
        self.revoking.clear();
    }

    /// A lease was granted (applied): it runs for its TTL from `now`.
    pub fn grant(&mut self, id: LeaseId, ttl: i64, now: Instant) {
        self.leases.insert(
            id,
            Timer {
                ttl,
                expires: now + ttl_duration(ttl),
            },
        );
    }

    /// A lease was revoked (applied).
    pub fn remove(&mut self, id: LeaseId) {
        self.leases.remove(&id);
        self.revoking.remove(&id);
    }

    /// Keep-alive: resets the lease to a full TTL; returns the TTL, or None
    /// if the lease is unknown or already expired (etcd answers TTL 0 then).
    pub fn renew(&mut self, id: LeaseId, now: Instant) -> Option<i64> {
        if self.revoking.contains_key(&id) {
            return None;
        }
        let t = self.leases.get_mut(&id)?;
        if t.expires <= now {
            return None;
        }
        t.expires = now + ttl_duration(t.ttl);
        Some(t.ttl)
    }

    /// (granted TTL, whole seconds remaining rounded up) of a known lease.
    pub fn remaining(&self, id: LeaseId, now: Instant) -> Option<(i64, i64)> {
        let t = self.leases.get(&id)?;
        let left = t.expires.saturating_duration_since(now);
        let secs = left.as_millis().div_ceil(1000) as i64;
        Some((t.ttl, secs))
    }

    /// Leases whose time is up and whose revoke is not already in flight
    /// (or was proposed more than `retry` ago without being applied).
    pub fn take_expired(&mut self, now: Instant, retry: Duration) -> Vec<LeaseId> {
        let mut out: Vec<LeaseId> = self
            .leases
            .iter()
            .filter(|(id, t)| {
                t.expires <= now
                    && self
                        .revoking
                        .get(id)
                        .is_none_or(|at| now.duration_since(*at) >= retry)
            })
            .map(|(id, _)| *id)
            .collect();
        out.sort_unstable();
        for id in &out {
            self.revoking.insert(*id, now);
        }
        out
    }

    pub fn len(&self) -> usize {
        self.leases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_renew_and_promotion() {
        let t0 = Instant::now();
        let mut l = Lessor::default();
        l.grant(1, 5, t0);
        l.grant(2, 10, t0);
        assert!(l
            .take_expired(t0 + Duration::from_secs(4), Duration::from_secs(1))
            .is_empty());
        assert_eq!(l.renew(1, t0 + Duration::from_secs(4)), Some(5));
        assert_eq!(
            l.remaining(1, t0 + Duration::from_millis(4500)),
            Some((5, 5))
        );
        // Lease 1 now expires at t0+9, lease 2 at t0+10.
        assert_eq!(
            l.take_expired(t0 + Duration::from_secs(9), Duration::from_secs(1)),
            vec![1]
        );
        // In flight: not proposed again until the retry interval passes.
        assert!(l
            .take_expired(t0 + Duration::from_millis(9500), Duration::from_secs(1))
            .is_empty());
        assert_eq!(l.renew(1, t0 + Duration::from_millis(9500)), None);
        assert_eq!(
            l.take_expired(t0 + Duration::from_secs(10), Duration::from_secs(1)),
            vec![1, 2]
        );
        // A new leader gives everything a full TTL again.
        l.promote(&[Lease { id: 2, ttl: 10 }], t0 + Duration::from_secs(30));
        assert!(l
            .take_expired(t0 + Duration::from_secs(39), Duration::from_secs(1))
            .is_empty());
        assert_eq!(l.remaining(1, t0), None);
        assert_eq!(
            l.take_expired(t0 + Duration::from_secs(40), Duration::from_secs(1)),
            vec![2]
        );
        l.remove(2);
        assert!(l.is_empty());
    }
}

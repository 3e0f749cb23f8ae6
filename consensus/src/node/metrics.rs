//! Counters a node exposes on `--metrics-addr` (Prometheus text format).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the apply-latency histogram buckets.
const BUCKETS: [f64; 10] = [
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
];

#[derive(Default)]
pub struct Metrics {
    pub proposals: AtomicU64,
    pub proposal_batches: AtomicU64,
    pub proposals_failed: AtomicU64,
    pub forwarded: AtomicU64,
    pub leader_changes: AtomicU64,
    pub lease_expired: AtomicU64,
    apply_buckets: [AtomicU64; BUCKETS.len()],
    apply_count: AtomicU64,
    apply_sum_micros: AtomicU64,
}

impl Metrics {
    pub fn observe_apply(&self, d: std::time::Duration) {
        let secs = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.apply_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.apply_count.fetch_add(1, Ordering::Relaxed);
        self.apply_sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// Renders counters plus the gauges the caller passes in.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        let counters = [
            (
                "vitrail_proposals_total",
                "Commands proposed through this node.",
                &self.proposals,
            ),
            (
                "vitrail_proposal_batches_total",
                "Raft entries (batches of commands) proposed.",
                &self.proposal_batches,
            ),
            (
                "vitrail_proposals_failed_total",
                "Commands that failed to commit.",
                &self.proposals_failed,
            ),
            (
                "vitrail_forwarded_total",
                "Requests forwarded to the leader.",
                &self.forwarded,
            ),
            (
                "vitrail_leader_changes_total",
                "Leader changes seen by this node.",
                &self.leader_changes,
            ),
            (
                "vitrail_lease_expired_total",
                "Leases expired by this node as leader.",
                &self.lease_expired,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let name = "vitrail_apply_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to apply and commit one batch of entries.\n# TYPE {name} histogram"
        );
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{b}\"}} {}",
                self.apply_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.apply_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.apply_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
        out
    }
}

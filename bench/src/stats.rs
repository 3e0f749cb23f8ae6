//! Latency histograms and the summary every workload reports.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Microsecond latency histogram, 1 µs to 10 minutes at 3 significant digits.
pub struct Latencies(Histogram<u64>);

impl Latencies {
    pub fn new() -> Self {
        // The bounds are constants that hdrhistogram accepts; a failure here is
        // a programming error, not input.
        let h = Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds");
        Latencies(h)
    }

    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, 600_000_000);
        // Clamped into range above, so this cannot fail.
        let _ = self.0.record(us);
    }

    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides; add only fails on incompatible bounds.
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// Summary of the recorded operations over `elapsed` wall time.
    pub fn summary(&self, elapsed: Duration, errors: u64) -> Summary {
        let ms = |q: f64| self.0.value_at_quantile(q) as f64 / 1000.0;
        let ops = self.0.len();
        let secs = elapsed.as_secs_f64();
        Summary {
            ops,
            errors,
            secs,
            ops_per_sec: if secs > 0.0 { ops as f64 / secs } else { 0.0 },
            p50_ms: ms(0.50),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: self.0.max() as f64 / 1000.0,
        }
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

/// What a throughput/latency workload prints.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    pub ops: u64,
    pub errors: u64,
    pub secs: f64,
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// Median of `v` (mean of the two middle values for an even count).
pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_quantiles() {
        let mut l = Latencies::new();
        for i in 1..=1000u64 {
            l.record(Duration::from_micros(i * 10));
        }
        let s = l.summary(Duration::from_secs(2), 3);
        assert_eq!(s.ops, 1000);
        assert_eq!(s.errors, 3);
        assert!((s.ops_per_sec - 500.0).abs() < 1e-9);
        assert!((s.p50_ms - 5.0).abs() < 0.01, "{}", s.p50_ms);
        assert!((s.p99_ms - 9.9).abs() < 0.02, "{}", s.p99_ms);
        assert!((s.max_ms - 10.0).abs() < 0.02, "{}", s.max_ms);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}

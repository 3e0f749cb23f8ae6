//! Gate metrics in Prometheus text format, served on `--metrics-addr`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub buffered: Counter,
    pub connections: Counter,
    pub auth_failures: Counter,
    open_sessions: AtomicI64,
    queries: Mutex<BTreeMap<String, u64>>,
    errors: Mutex<BTreeMap<u16, u64>>,
    latency: Mutex<Histogram>,
}

impl Metrics {
    pub fn session_opened(&self) {
        self.open_sessions.fetch_add(1, Ordering::Relaxed);
    }

    pub fn session_closed(&self) {
        self.open_sessions.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn open_sessions(&self) -> i64 {
        self.open_sessions.load(Ordering::Relaxed)
    }

    /// One statement finished: `kind` is the plan type (`Scatter`,
    /// `EqualUnique`, `Special`, …), `error` its MySQL code if it failed.
    pub fn record(&self, kind: &str, elapsed: Duration, error: Option<u16>) {
        if let Ok(mut q) = self.queries.lock() {
            // Allocates the label only the first time it is seen.
            match q.get_mut(kind) {
                Some(n) => *n += 1,
                None => {
                    q.insert(kind.to_string(), 1);
                }
            }
        }
        if let Some(code) = error {
            if let Ok(mut e) = self.errors.lock() {
                *e.entry(code).or_default() += 1;
            }
        }
        if let Ok(mut h) = self.latency.lock() {
            let s = elapsed.as_secs_f64();
            for (i, b) in BUCKETS.iter().enumerate() {
                if s <= *b {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += s;
        }
    }

    pub fn queries_of(&self, kind: &str) -> u64 {
        self.queries
            .lock()
            .ok()
            .and_then(|q| q.get(kind).copied())
            .unwrap_or(0)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# TYPE vitrail_gate_queries_total counter");
        if let Ok(q) = self.queries.lock() {
            for (kind, n) in q.iter() {
                let _ = writeln!(out, "vitrail_gate_queries_total{{plan=\"{kind}\"}} {n}");
            }
        }
        let _ = writeln!(out, "# TYPE vitrail_gate_errors_total counter");
        if let Ok(e) = self.errors.lock() {
            for (code, n) in e.iter() {
                let _ = writeln!(out, "vitrail_gate_errors_total{{code=\"{code}\"}} {n}");
            }
        }
        let _ = writeln!(out, "# TYPE vitrail_gate_query_seconds histogram");
        if let Ok(h) = self.latency.lock() {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "vitrail_gate_query_seconds_bucket{{le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "vitrail_gate_query_seconds_bucket{{le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "vitrail_gate_query_seconds_sum {}", h.sum);
            let _ = writeln!(out, "vitrail_gate_query_seconds_count {}", h.count);
        }
        let _ = writeln!(out, "# TYPE vitrail_gate_open_sessions gauge");
        let _ = writeln!(out, "vitrail_gate_open_sessions {}", self.open_sessions());
        for (name, c) in [
            ("vitrail_gate_connections_total", &self.connections),
            ("vitrail_gate_auth_failures_total", &self.auth_failures),
            ("vitrail_gate_buffered_total", &self.buffered),
        ] {
            let _ = writeln!(out, "# TYPE {name} counter\n{name} {}", c.get());
        }
        out
    }
}

/// Serves `GET /metrics` (any path, really) until the listener fails.
pub async fn serve(listener: TcpListener, metrics: std::sync::Arc<Metrics>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            // Read the request head; its content does not matter.
            let _ = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf)).await;
            let body = metrics.render();
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts() {
        let m = Metrics::default();
        m.record("Scatter", Duration::from_millis(3), None);
        m.record("Scatter", Duration::from_millis(30), Some(1064));
        m.session_opened();
        let text = m.render();
        assert!(
            text.contains("vitrail_gate_queries_total{plan=\"Scatter\"} 2"),
            "{text}"
        );
        assert!(text.contains("vitrail_gate_errors_total{code=\"1064\"} 1"));
        assert!(text.contains("vitrail_gate_query_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("vitrail_gate_open_sessions 1"));
        assert_eq!(m.queries_of("Scatter"), 2);
    }
}

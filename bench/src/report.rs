//! The side-by-side markdown table of a [`Report`], and splicing it into a
//! document between marker comments.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context};

use crate::compare::{ClusterReport, Report, Res};
use crate::stats::{median, Summary};

pub const BEGIN: &str = "<!-- bench-control:begin -->";
pub const END: &str = "<!-- bench-control:end -->";

fn thr(r: &Option<Res<Summary>>) -> String {
    match r {
        None => "—".into(),
        Some(Err(e)) => format!("error: {}", short(e)),
        Some(Ok(s)) => {
            let mut out = format!("{:.0}", s.ops_per_sec);
            if s.errors > 0 {
                let _ = write!(out, " ({} errors)", s.errors);
            }
            out
        }
    }
}

fn lat(r: &Option<Res<Summary>>) -> String {
    match r {
        Some(Ok(s)) => format!("{:.2} / {:.2} / {:.2}", s.p50_ms, s.p99_ms, s.p999_ms),
        _ => "—".into(),
    }
}

fn short(e: &str) -> String {
    let e = e.replace('|', "/").replace('\n', " ");
    if e.chars().count() > 120 {
        format!("{}…", e.chars().take(120).collect::<String>())
    } else {
        e
    }
}

fn rss(v: &[Option<u64>]) -> String {
    if v.is_empty() {
        return "—".into();
    }
    v.iter()
        .map(|k| k.map_or("?".to_string(), |k| format!("{:.0}", k as f64 / 1024.0)))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn kill(c: &ClusterReport) -> String {
    let ok: Vec<f64> = c
        .kill
        .iter()
        .filter_map(|t| t.as_ref().ok().map(|t| t.resume_ms))
        .collect();
    let errs: Vec<String> = c
        .kill
        .iter()
        .filter_map(|t| t.as_ref().err().map(|e| short(e)))
        .collect();
    if c.kill.is_empty() {
        return "—".into();
    }
    let mut out = match median(&ok) {
        Some(m) => format!(
            "**{m:.0}** ({})",
            ok.iter()
                .map(|v| format!("{v:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => "no trial succeeded".into(),
    };
    for e in errs {
        let _ = write!(out, "; error: {e}");
    }
    out
}

fn transfer(c: &ClusterReport) -> String {
    if c.transfer.is_empty() {
        return "—".into();
    }
    let mut parts = Vec::new();
    let mut worst: f64 = 0.0;
    let mut any_ok = false;
    for t in &c.transfer {
        match t {
            Ok(t) if t.outcome == "ok" => {
                any_ok = true;
                worst = worst.max(t.worst_in_window_ms);
                let mut p = format!("{:.0}", t.worst_in_window_ms);
                if t.errors > 0 {
                    let _ = write!(p, " ({} err)", t.errors);
                }
                if !t.leader_changed {
                    p.push_str(" (leader unchanged)");
                }
                parts.push(p);
            }
            Ok(t) if t.outcome.to_lowercase().contains("not supported") => parts.push(format!(
                "**not supported** (MoveLeader: {})",
                short(message(&t.outcome))
            )),
            Ok(t) => parts.push(format!("MoveLeader failed: {}", short(message(&t.outcome)))),
            Err(e) => parts.push(format!("error: {}", short(e))),
        }
    }
    if any_ok {
        format!("**{worst:.0}** ({})", parts.join(", "))
    } else {
        parts.join("; ")
    }
}

/// The server's message out of etcd-client's error text.
fn message(e: &str) -> &str {
    e.split_once("message: ")
        .map_or(e, |(_, m)| m.split(", details").next().unwrap_or(m))
        .trim_matches('"')
}

fn baseline(c: &ClusterReport) -> String {
    let v: Vec<f64> = c
        .transfer
        .iter()
        .filter_map(|t| t.as_ref().ok())
        .map(|t| t.worst_outside_ms)
        .collect();
    if v.is_empty() {
        return "—".into();
    }
    format!("{:.0}", v.iter().cloned().fold(0.0, f64::max))
}

fn check_perf(c: &ClusterReport, load: &str) -> String {
    for r in &c.check_perf {
        match r {
            Ok(p) if p.load == load => {
                let verdict = if p.passed { "PASS" } else { "FAIL" };
                let details: Vec<String> = p
                    .lines
                    .iter()
                    .filter(|l| l.contains(':'))
                    .map(|l| short(l))
                    .collect();
                return format!("**{verdict}**: {}", details.join("; "));
            }
            Ok(_) => {}
            Err(e) => return format!("error: {}", short(e)),
        }
    }
    "—".into()
}

/// Markdown: one row per measurement, one column per system, plus the
/// vitrail target.
pub fn markdown(r: &Report) -> String {
    let cs = &r.clusters;
    let mut out = String::new();
    let _ = write!(out, "| Workload |");
    for c in cs {
        let _ = write!(
            out,
            " {} |",
            if c.version.is_empty() {
                c.system.clone()
            } else {
                format!("{} ({})", c.system, short(&c.version))
            }
        );
    }
    let _ = writeln!(out, " vitrail target |");
    let _ = write!(out, "|---|");
    for _ in cs {
        let _ = write!(out, "---|");
    }
    let _ = writeln!(out, "---|");
    let mut row = |name: &str, f: &dyn Fn(&ClusterReport) -> String, target: &str| {
        let _ = write!(out, "| {name} |");
        for c in cs {
            let _ = write!(out, " {} |", f(c));
        }
        let _ = writeln!(out, " {target} |");
    };
    row(
        "Sequential put, 1 client: put/s",
        &|c| thr(&c.seq_put),
        "≥ etcd",
    );
    row(
        "… latency p50 / p99 / p99.9 (ms)",
        &|c| lat(&c.seq_put),
        "≤ etcd",
    );
    let counts: Vec<usize> = cs
        .first()
        .map(|c| c.puts.iter().map(|(n, _)| *n).collect())
        .unwrap_or_default();
    for n in counts {
        let get =
            move |c: &ClusterReport| c.puts.iter().find(|(k, _)| *k == n).map(|(_, r)| r.clone());
        let target = if n == 500 { "≥ 2× etcd" } else { "≥ etcd" };
        row(
            &format!("Put, {n} clients: put/s"),
            &|c| thr(&get(c)),
            target,
        );
        row(
            "… latency p50 / p99 / p99.9 (ms)",
            &|c| lat(&get(c)),
            "≤ etcd",
        );
    }
    row(
        "Linearizable range (1 key): reads/s",
        &|c| thr(&c.range_l),
        "≥ etcd",
    );
    row(
        "… latency p50 / p99 / p99.9 (ms)",
        &|c| lat(&c.range_l),
        "≤ etcd",
    );
    row(
        "Serializable range (1 key): reads/s",
        &|c| thr(&c.range_s),
        "≥ etcd",
    );
    row(
        "… latency p50 / p99 / p99.9 (ms)",
        &|c| lat(&c.range_s),
        "≤ etcd",
    );
    row(
        "Watch, put issued → event received: p50 / p99 / p99.9 (ms)",
        &|c| match &c.watch {
            Some(Err(e)) => format!("error: {}", short(e)),
            w => lat(w),
        },
        "≤ etcd",
    );
    row(
        "RSS per member after the put/range/watch load (MB)",
        &|c| rss(&c.rss_after_load_kib),
        "—",
    );
    row(
        "Leader SIGKILL → first successful put: median (each trial) ms",
        &kill,
        "≤ 500 ms",
    );
    row(
        "Planned leader transfer under put load: worst put overlapping the transfer, max (each trial) ms",
        &transfer,
        "≤ 100 ms",
    );
    row(
        "… worst put outside the transfer window (ms)",
        &baseline,
        "—",
    );
    for load in ["s", "m", "l", "xl"] {
        if cs.iter().any(|c| {
            c.check_perf
                .iter()
                .any(|p| matches!(p, Ok(p) if p.load == load))
        }) {
            let target = if load == "l" { "PASS" } else { "—" };
            row(
                &format!("`etcdctl check perf --load={load}`"),
                &|c| check_perf(c, load),
                target,
            );
        }
    }
    row(
        "RSS per member after check perf (MB)",
        &|c| rss(&c.rss_after_check_perf_kib),
        "≤ 200 MB",
    );
    row(
        "Cluster start → healthy (ms)",
        &|c| format!("{:.0}", c.startup_ms),
        "—",
    );
    row(
        "Members that died during the run",
        &|c| {
            if c.crashes.is_empty() {
                "none".into()
            } else {
                short(&c.crashes.join("; "))
            }
        },
        "none",
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Load average: {} at start, {} at end.",
        r.loadavg_start, r.loadavg_end
    );
    out
}

/// Replaces the text between [`BEGIN`] and [`END`] in `doc` with `table`.
pub fn splice(doc: &str, table: &str) -> anyhow::Result<String> {
    let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
        bail!("markers {BEGIN} / {END} not found");
    };
    if e < b {
        bail!("{END} comes before {BEGIN}");
    }
    Ok(format!(
        "{}{BEGIN}\n{}\n{}",
        &doc[..b],
        table.trim_end(),
        &doc[e..]
    ))
}

pub fn update_doc(path: &Path, table: &str) -> anyhow::Result<()> {
    let doc =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let new = splice(&doc, table).with_context(|| format!("updating {}", path.display()))?;
    std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_between_markers() {
        let doc = format!("intro\n{BEGIN}\nold\n{END}\noutro\n");
        let out = splice(&doc, "new table\n").unwrap();
        assert_eq!(out, format!("intro\n{BEGIN}\nnew table\n{END}\noutro\n"));
        assert!(splice("no markers", "x").is_err());
    }

    #[test]
    fn table_has_a_column_per_system() {
        let mut e = ClusterReport {
            system: "etcd".into(),
            ..Default::default()
        };
        e.seq_put = Some(Ok(Summary {
            ops_per_sec: 1059.4,
            p50_ms: 0.89,
            ..Default::default()
        }));
        let v = ClusterReport {
            system: "vitrail".into(),
            seq_put: Some(Err("boom".into())),
            ..Default::default()
        };
        let r = Report {
            config: String::new(),
            loadavg_start: "1".into(),
            loadavg_end: "2".into(),
            clusters: vec![e, v],
        };
        let md = markdown(&r);
        assert!(
            md.contains("| Sequential put, 1 client: put/s | 1059 | error: boom | ≥ etcd |"),
            "{md}"
        );
    }
}

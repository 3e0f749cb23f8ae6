//! `etcdctl check perf --load=…` against a cluster: its PASS/FAIL lines.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CheckPerf {
    pub load: String,
    /// etcdctl's verdict lines ("PASS: Throughput is 150 writes/s", …).
    pub lines: Vec<String>,
    pub passed: bool,
    pub exit_code: Option<i32>,
}

pub async fn run(etcdctl: &Path, endpoints: &[String], load: &str) -> anyhow::Result<CheckPerf> {
    let child = tokio::process::Command::new(etcdctl)
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", endpoints.join(",")))
        .args(["check", "perf", &format!("--load={load}")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", etcdctl.display()))?;
    // check perf runs 60 s plus setup and cleanup.
    let out = tokio::time::timeout(Duration::from_secs(240), child.wait_with_output())
        .await
        .context("etcdctl check perf did not finish in 240 s")?
        .context("waiting for etcdctl")?;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = verdict_lines(&text);
    Ok(CheckPerf {
        load: load.to_string(),
        passed: out.status.success() && lines.iter().any(|l| l == "PASS"),
        lines,
        exit_code: out.status.code(),
    })
}

/// The PASS/FAIL lines and any error line, without the progress bar.
fn verdict_lines(text: &str) -> Vec<String> {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter_map(|l| {
            // A verdict may share a line with the progress bar.
            if let Some(i) = l.find("PASS:").or_else(|| l.find("FAIL:")) {
                return Some(l[i..].to_string());
            }
            if l.ends_with("PASS") || l.ends_with("FAIL") {
                return l.rsplit(' ').next().map(str::to_string);
            }
            l.starts_with("Error").then(|| l.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_verdicts() {
        let out = " 60 / 60 Booo! 100.00% 1m0sFAIL: Slowest request took too long: 0.6s\rPASS: Throughput is 151 writes/s\n{\"level\":\"warn\"}\nFAIL: Stddev is 0.2s\nFAIL\nError: rpc error\n";
        assert_eq!(
            verdict_lines(out),
            vec![
                "FAIL: Slowest request took too long: 0.6s",
                "PASS: Throughput is 151 writes/s",
                "FAIL: Stddev is 0.2s",
                "FAIL",
                "Error: rpc error"
            ]
        );
    }
}

//! Golden-file runner shared by the `golden_*` tests.
//!
//! A golden file is its own input: lines starting with `> ` are commands,
//! the lines after a command (up to the next blank line, comment or command)
//! are what it printed last time. The runner re-runs every command, rebuilds
//! the file and compares. `UPDATE_GOLDENFILES=1` writes the rebuilt file
//! instead, so a behaviour change shows up as a reviewable diff. `#` lines and
//! blank lines are kept as they are.

use std::path::PathBuf;

pub fn run(name: &str, exec: impl Fn(&str) -> String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let old = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut new = String::new();
    let mut commands = 0;
    let mut in_output = false;
    for line in old.lines() {
        if let Some(command) = line.strip_prefix("> ") {
            commands += 1;
            in_output = true;
            new.push_str(line);
            new.push('\n');
            let out = exec(command.trim());
            for out_line in out.trim_end().lines() {
                assert!(
                    !out_line.trim().is_empty()
                        && !out_line.starts_with("> ")
                        && !out_line.starts_with('#'),
                    "command {command:?} printed a line the file format cannot hold: {out_line:?}"
                );
                new.push_str(out_line);
                new.push('\n');
            }
        } else if line.trim().is_empty() || line.starts_with('#') {
            in_output = false;
            new.push_str(line);
            new.push('\n');
        } else if !in_output {
            panic!(
                "{}: stray line outside any command's output: {line:?}",
                path.display()
            );
        }
    }
    assert!(commands > 0, "{} holds no commands", path.display());
    if std::env::var_os("UPDATE_GOLDENFILES").is_some_and(|v| v == "1") {
        std::fs::write(&path, new).unwrap();
        return;
    }
    if new != old {
        let first_diff = old
            .lines()
            .zip(new.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| old.lines().count().min(new.lines().count()));
        let show = |s: &str| {
            s.lines()
                .skip(first_diff.saturating_sub(3))
                .take(8)
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "{} differs from the code's output at line {} (rerun with UPDATE_GOLDENFILES=1 and review the diff)\n--- file:\n{}\n--- now:\n{}",
            path.display(),
            first_diff + 1,
            show(&old),
            show(&new),
        );
    }
}

/// Splits a command into its verb and the rest.
pub fn verb(command: &str) -> (&str, &str) {
    match command.split_once(' ') {
        Some((v, rest)) => (v, rest.trim()),
        None => (command, ""),
    }
}

//! Golden test for `tablet::gtid`: `tests/golden/gtid.txt` holds commands and,
//! under each, its output prefixed with `> `. Run with `UPDATE_GOLDENFILES=1`
//! to rewrite the outputs, then review the diff.
//!
//! Commands (positions separated by `|`, an empty side is the empty position):
//! `parse P`, `contains A | B`, `at_least A | GTID`, `max A | B`,
//! `compare A | B`, `errant REPLICA | PRIMARY`.

use std::path::Path;

use tablet::gtid::{Gtid, GtidPosition};

fn two(args: &str) -> Result<(GtidPosition, &str), String> {
    let (a, b) = args
        .split_once('|')
        .ok_or_else(|| format!("expected `A | B`, got {args:?}"))?;
    let a: GtidPosition = a.parse().map_err(|e| format!("error: {e}"))?;
    Ok((a, b.trim()))
}

fn pos(s: &str) -> Result<GtidPosition, String> {
    s.parse().map_err(|e| format!("error: {e}"))
}

fn show(p: &GtidPosition) -> String {
    if p.is_empty() {
        "<empty>".into()
    } else {
        p.to_string()
    }
}

fn run(cmd: &str) -> String {
    let (name, args) = cmd.split_once(' ').unwrap_or((cmd, ""));
    let out = (|| -> Result<String, String> {
        Ok(match name {
            "parse" => show(&pos(args)?),
            "contains" => {
                let (a, b) = two(args)?;
                a.contains(&pos(b)?).to_string()
            }
            "at_least" => {
                let (a, b) = two(args)?;
                let g: Gtid = b.parse().map_err(|e| format!("error: {e}"))?;
                a.at_least(&g).to_string()
            }
            "max" => {
                let (a, b) = two(args)?;
                show(&a.max(&pos(b)?))
            }
            "compare" => {
                let (a, b) = two(args)?;
                format!("{:?}", a.compare(&pos(b)?))
            }
            "errant" => {
                let (a, b) = two(args)?;
                let errant = a.errant_relative_to(&pos(b)?);
                let list: Vec<String> = errant.iter().map(|g| g.to_string()).collect();
                format!("[{}]", list.join(","))
            }
            other => format!("unknown command {other:?}"),
        })
    })();
    out.unwrap_or_else(|e| e)
}

#[test]
fn gtid_golden() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/gtid.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut regenerated = String::new();
    for line in text.lines() {
        if line.starts_with("> ") || line == ">" {
            continue;
        }
        regenerated.push_str(line);
        regenerated.push('\n');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        for out in run(line).lines() {
            regenerated.push_str("> ");
            regenerated.push_str(out);
            regenerated.push('\n');
        }
    }
    if std::env::var_os("UPDATE_GOLDENFILES").is_some() {
        std::fs::write(&path, &regenerated).unwrap();
        return;
    }
    assert_eq!(
        text, regenerated,
        "golden output differs; rerun with UPDATE_GOLDENFILES=1 and review the diff"
    );
}

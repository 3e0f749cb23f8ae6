//! Hand-written histories with known verdicts, as golden files.
//!
//! Each `tests/golden/*.hist` file holds a header (`model`, `expect`), one
//! operation per line, then `----` and the checker's rendered verdict.
//! The `expect` line is asserted independently of the golden text, so a
//! regenerated file cannot silently flip a verdict. Regenerate the text
//! with `UPDATE_GOLDENFILES=1 cargo test -p linearize --test golden` and
//! review the diff.
//!
//! Operation lines: `<client> <call> <ret> <op> [-> <output>]` where `<ret>`
//! is a time, `?` (unknown outcome) or `x` (failed: no effect).
//! - register: `write V -> ok`, `read -> V`, `cas A B -> true|false`
//! - kv: `put K V -> ok [@R]`, `get K -> V|nil [@R]`,
//!   `delete K -> deleted|absent [@R]`, `putif K V|nil V -> true|false [@R]`

use std::fs;
use std::path::Path;

use linearize::kv::{write_revisions, KvInput, KvModel, KvOutput};
use linearize::register::{Register, RegisterInput, RegisterOutput};
use linearize::revisions::check_revisions;
use linearize::{check, Budget, History, OpId};

struct Line<'a> {
    client: u64,
    call: u64,
    ret: &'a str,
    op: Vec<&'a str>,
    out: Vec<&'a str>,
}

fn parse_line(line: &str) -> Line<'_> {
    let (lhs, rhs) = match line.split_once("->") {
        Some((l, r)) => (l, r.split_whitespace().collect()),
        None => (line, Vec::new()),
    };
    let words: Vec<&str> = lhs.split_whitespace().collect();
    assert!(words.len() >= 4, "bad line: {line}");
    Line {
        client: words[0].trim_start_matches('c').parse().unwrap(),
        call: words[1].parse().unwrap(),
        ret: words[2],
        op: words[3..].to_vec(),
        out: rhs,
    }
}

fn record<I, O>(h: &mut History<I, O>, line: &Line<'_>, input: I, output: Option<O>) -> OpId {
    let id = h.call(line.client, input, line.call);
    match (line.ret, output) {
        ("?", _) => h.unknown(id).unwrap(),
        ("x", _) => h.failed(id).unwrap(),
        (t, Some(out)) => h.ret(id, out, t.parse().unwrap()).unwrap(),
        (t, None) => panic!("completed op at {t} needs an output"),
    }
    id
}

fn register_history(lines: &[Line<'_>]) -> History<RegisterInput<u64>, RegisterOutput<u64>> {
    let mut h = History::new();
    for line in lines {
        let num = |s: &str| s.parse::<u64>().unwrap();
        let (input, output) = match line.op.as_slice() {
            ["write", v] => (RegisterInput::Write(num(v)), Some(RegisterOutput::Written)),
            ["read"] => (
                RegisterInput::Read,
                line.out.first().map(|v| RegisterOutput::Value(num(v))),
            ),
            ["cas", a, b] => (
                RegisterInput::Cas {
                    expect: num(a),
                    new: num(b),
                },
                line.out
                    .first()
                    .map(|s| RegisterOutput::Swapped(s.parse().unwrap())),
            ),
            other => panic!("bad register op {other:?}"),
        };
        record(&mut h, line, input, output);
    }
    h
}

type KvHistory = History<KvInput<String, String>, KvOutput<String>>;

fn kv_history(lines: &[Line<'_>]) -> KvHistory {
    let mut h = History::new();
    for line in lines {
        let value = |s: &str| (s != "nil").then(|| s.to_string());
        let revision = line
            .out
            .iter()
            .find_map(|w| w.strip_prefix('@'))
            .map(|r| r.parse::<u64>().unwrap());
        let first = line.out.first().copied();
        let (input, output) = match line.op.as_slice() {
            ["get", k] => (
                KvInput::Get(k.to_string()),
                first.map(|v| KvOutput::Get {
                    value: value(v),
                    mod_revision: revision,
                }),
            ),
            ["put", k, v] => (
                KvInput::Put(k.to_string(), v.to_string()),
                Some(KvOutput::Put { revision }),
            ),
            ["delete", k] => (
                KvInput::Delete(k.to_string()),
                first.map(|d| KvOutput::Delete {
                    deleted: d == "deleted",
                    revision,
                }),
            ),
            ["putif", k, e, v] => (
                KvInput::PutIf {
                    key: k.to_string(),
                    expect: value(e),
                    value: v.to_string(),
                },
                first.map(|s| KvOutput::PutIf {
                    succeeded: s.parse().unwrap(),
                    revision,
                }),
            ),
            other => panic!("bad kv op {other:?}"),
        };
        record(&mut h, line, input, output);
    }
    h
}

/// Checks one file's history; returns (verdict is ok, rendered output).
fn run(model: &str, lines: &[Line<'_>]) -> (bool, String) {
    let budget = Budget::steps(1_000_000);
    match model {
        "register" => {
            let result = check(&Register::new(0), &register_history(lines), budget);
            (result.is_ok(), format!("{result}\n"))
        }
        "kv" | "kv-rev" => {
            let h = kv_history(lines);
            let kv = if model == "kv" {
                KvModel::new()
            } else {
                KvModel::with_revisions()
            };
            let result = check(&kv, &h, budget);
            let mut out = format!("{result}\n");
            let mut ok = result.is_ok();
            if model == "kv-rev" {
                match check_revisions(&write_revisions(&h)) {
                    Ok(()) => out.push_str("revisions: ok\n"),
                    Err(v) => {
                        ok = false;
                        out.push_str(&format!("revisions: {v}\n"));
                    }
                }
            }
            (ok, out)
        }
        other => panic!("unknown model {other}"),
    }
}

fn run_file(path: &Path) -> Result<(), String> {
    let text = fs::read_to_string(path).unwrap();
    let (input, expected) = text.split_once("----\n").unwrap_or((&text, ""));
    let mut model = None;
    let mut expect = None;
    let mut lines = Vec::new();
    for raw in input.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(m) = line.strip_prefix("model ") {
            model = Some(m.trim());
        } else if let Some(e) = line.strip_prefix("expect ") {
            expect = Some(e.trim() == "ok");
        } else {
            lines.push(parse_line(line));
        }
    }
    let name = path.display();
    let (ok, output) = run(model.unwrap_or_else(|| panic!("{name}: no model")), &lines);
    let expect_ok = expect.unwrap_or_else(|| panic!("{name}: no expect"));
    if std::env::var_os("UPDATE_GOLDENFILES").is_some() {
        fs::write(path, format!("{input}----\n{output}")).unwrap();
    } else if output != expected {
        return Err(format!(
            "{name}: golden mismatch\n--- want\n{expected}--- got\n{output}"
        ));
    }
    if ok != expect_ok {
        return Err(format!("{name}: expected ok={expect_ok}, got:\n{output}"));
    }
    Ok(())
}

#[test]
fn golden_histories() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut paths: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hist"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 10,
        "golden files missing from {}",
        dir.display()
    );
    let failures: Vec<String> = paths.iter().filter_map(|p| run_file(p).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

//! Golden tests for the vindexes: value → keyspace id → shard
//! (tests/golden/vindex_hash.txt, tests/golden/vindex_other.txt).

#[path = "golden/runner.rs"]
mod runner;

use topo::keyrange::{from_hex, generate_shard_ranges, shard_for, KeyRange};
use topo::vindex::{create_vindex, Value};

/// `NULL`, `'text'`, `x'hex'`, `u:<u64>`, or a decimal integer (i64).
fn parse_value(s: &str) -> Value {
    if s == "NULL" {
        Value::Null
    } else if let Some(t) = s.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        Value::Str(t.to_string())
    } else if let Some(h) = s.strip_prefix("x'").and_then(|t| t.strip_suffix('\'')) {
        Value::Bytes(from_hex(h).unwrap())
    } else if let Some(u) = s.strip_prefix("u:") {
        Value::Uint(u.parse().unwrap())
    } else {
        Value::Int(s.parse().unwrap())
    }
}

fn landing(ranges: &[KeyRange], id: &[u8]) -> String {
    let names: Vec<String> = ranges.iter().map(KeyRange::shard_name).collect();
    shard_for(names.iter().map(String::as_str).zip(ranges), id)
        .unwrap_or("none")
        .to_string()
}

/// `<vindex type> <value>` → `<keyspace id hex> 2:<shard of 2> 4:<shard of 4>`.
fn exec(command: &str) -> String {
    let (vindex_type, value) = runner::verb(command);
    let vindex = match create_vindex(vindex_type) {
        Ok(v) => v,
        Err(e) => return format!("error: {e}"),
    };
    let two = generate_shard_ranges(2).unwrap();
    let four = generate_shard_ranges(4).unwrap();
    match vindex.map(&parse_value(value)) {
        Ok(id) => format!(
            "{id} 2:{} 4:{}",
            landing(&two, id.as_bytes()),
            landing(&four, id.as_bytes())
        ),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn vindex_hash_golden() {
    runner::run("vindex_hash.txt", exec);
}

#[test]
fn vindex_other_golden() {
    runner::run("vindex_other.txt", exec);
}

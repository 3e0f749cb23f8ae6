//! Golden tests for shard-name parsing, equal partitioning and the coverage
//! check (tests/golden/keyrange.txt).

#[path = "golden/runner.rs"]
mod runner;

use topo::keyrange::{check_partition, from_hex, generate_shard_ranges, KeyRange};

fn exec(command: &str) -> String {
    let (verb, rest) = runner::verb(command);
    match verb {
        // parse <shard name>
        "parse" => match KeyRange::parse_shard_name(rest) {
            Ok(r) => format!(
                "start={:?} end={:?} full={} name={}",
                topo::keyrange::to_hex(&r.start),
                topo::keyrange::to_hex(&r.end),
                r.is_full(),
                r.shard_name()
            ),
            Err(e) => format!("error: {e}"),
        },
        // partition <n>
        "partition" => match rest.parse().map(generate_shard_ranges) {
            Ok(Ok(ranges)) => ranges
                .iter()
                .map(KeyRange::shard_name)
                .collect::<Vec<_>>()
                .join(" "),
            Ok(Err(e)) => format!("error: {e}"),
            Err(e) => format!("bad count: {e}"),
        },
        // check <shard names…>
        "check" => {
            let names: Vec<&str> = rest.split_whitespace().collect();
            let parsed: Result<Vec<KeyRange>, _> = names
                .iter()
                .map(|n| KeyRange::parse_shard_name(n))
                .collect();
            match parsed {
                Ok(ranges) => match check_partition(names.iter().copied().zip(ranges.iter())) {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("error: {e}"),
                },
                Err(e) => format!("error: {e}"),
            }
        }
        // contains <shard name> <keyspace id hex>
        "contains" => {
            let (name, id) = runner::verb(rest);
            let range = KeyRange::parse_shard_name(name).unwrap();
            let id = from_hex(id).unwrap();
            range.contains(&id).to_string()
        }
        other => panic!("unknown command {other:?}"),
    }
}

#[test]
fn keyrange_golden() {
    runner::run("keyrange.txt", exec);
}

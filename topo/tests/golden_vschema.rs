//! Golden tests for VSchema, SrvVSchema and routing-rules parsing and
//! validation (tests/golden/vschema.txt). Output is `ok <compact JSON>` or
//! one `error <path>: <message>` line per problem.

#[path = "golden/runner.rs"]
mod runner;

use topo::vschema::{RoutingRules, SrvVSchema, VSchema, VSchemaError};

fn show<T>(result: Result<T, VSchemaError>, to_json: impl Fn(&T) -> Vec<u8>) -> String {
    match result {
        Ok(v) => format!("ok {}", String::from_utf8(to_json(&v)).unwrap()),
        Err(e) => e
            .problems
            .iter()
            .map(|p| format!("error {p}"))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn exec(command: &str) -> String {
    let (verb, json) = runner::verb(command);
    let json = json.as_bytes();
    match verb {
        "vschema" => show(VSchema::parse(json), VSchema::to_json),
        "srv" => show(SrvVSchema::parse(json), SrvVSchema::to_json),
        "routing" => show(RoutingRules::parse(json), RoutingRules::to_json),
        other => panic!("unknown command {other:?}"),
    }
}

#[test]
fn vschema_golden() {
    runner::run("vschema.txt", exec);
}

//! Golden tests of the query planner: `tests/golden/plans/*.txt` hold
//! blocks of
//!
//! ```text
//! # comment
//! -- keyspace: lookup          (optional: session keyspace, `none` for none)
//! -- tablet_type: replica      (optional)
//! -- binds: 5, 'x'             (optional: bind values for `?`)
//! > SELECT …
//! <the printed plan, or `error: …`>
//! ```
//!
//! separated by blank lines. `UPDATE_GOLDENFILES=1 cargo test -p gate
//! --test planner_golden` rewrites the files from the planner's output;
//! review the diff.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gate::exec::qualify::qualify;
use gate::merge::Value;
use gate::planner::{self, placeholders, PlanContext, Template};
use gate::server::params::interpolate;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use topo::keyrange::KeyRange;
use topo::records::{KeyspacePartition, ShardReference, SrvKeyspace, TabletType};
use topo::vschema::SrvVSchema;

const VSCHEMA: &str = r#"{
  "keyspaces": {
    "commerce": {
      "sharded": true,
      "vindexes": {"hash": {"type": "hash"}, "xx": {"type": "xxhash"}},
      "tables": {
        "users": {"column_vindexes": [{"column": "user_id", "name": "hash"}]},
        "orders": {"column_vindexes": [{"column": "user_id", "name": "hash"}],
                   "auto_increment": {"column": "order_id", "sequence": "lookup.order_seq"}},
        "events": {"column_vindexes": [{"column": "user_id", "name": "xx"}]},
        "products": {"type": "reference"},
        "settings": {"pinned": "80"}
      }
    },
    "solo": {
      "sharded": true,
      "vindexes": {"hash": {"type": "hash"}},
      "tables": {"sbtest": {"column_vindexes": [{"column": "id", "name": "hash"}]}}
    },
    "lookup": {
      "sharded": false,
      "tables": {"names": {}, "order_seq": {"type": "sequence"}}
    }
  }
}"#;

fn srv_keyspace(shards: &[&str]) -> SrvKeyspace {
    let refs: Vec<ShardReference> = shards
        .iter()
        .map(|s| ShardReference {
            name: s.to_string(),
            key_range: KeyRange::parse_shard_name(s).expect("test shard name"),
        })
        .collect();
    SrvKeyspace {
        partitions: TabletType::SERVING
            .iter()
            .map(|&t| KeyspacePartition {
                served_type: t,
                shards: refs.clone(),
            })
            .collect(),
        served_from: None,
    }
}

struct Env {
    vschema: SrvVSchema,
    srv: BTreeMap<String, SrvKeyspace>,
}

impl Env {
    fn new() -> Env {
        let vschema = SrvVSchema::parse(VSCHEMA.as_bytes()).expect("test vschema");
        let mut srv = BTreeMap::new();
        srv.insert("commerce".to_string(), srv_keyspace(&["-80", "80-"]));
        srv.insert("lookup".to_string(), srv_keyspace(&["0"]));
        srv.insert("solo".to_string(), srv_keyspace(&["-"]));
        Env { vschema, srv }
    }

    fn plan(&self, sql: &str, keyspace: Option<&str>, tt: TabletType, binds: &[Value]) -> String {
        let stmt = match planner::parse(sql) {
            Ok(mut v) if v.len() == 1 => v.remove(0),
            Ok(v) => return format!("error: {} statements", v.len()),
            Err(e) => return format!("error: parse: {e}"),
        };
        let ctx = PlanContext {
            vschema: &self.vschema,
            srv_keyspaces: &self.srv,
            default_keyspace: keyspace,
            tablet_type: tt,
            bind_values: binds,
        };
        match planner::plan(stmt, sql, &ctx) {
            Ok(p) => p.to_string(),
            Err(e) => format!("error: {e}"),
        }
    }
}

fn parse_binds(s: &str) -> Vec<Value> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.eq_ignore_ascii_case("null") {
                Value::Null
            } else if let Ok(i) = s.parse::<i64>() {
                Value::Int(i)
            } else {
                Value::Bytes(s.trim_matches('\'').as_bytes().to_vec())
            }
        })
        .collect()
}

/// Runs one golden file, returning the regenerated text.
fn run_file(env: &Env, text: &str) -> String {
    let mut out = String::new();
    let mut keyspace: Option<String> = Some("commerce".into());
    let mut tt = TabletType::Primary;
    let mut binds = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(d) = line.strip_prefix("-- ") {
            out.push_str(line);
            out.push('\n');
            match d.split_once(':') {
                Some(("keyspace", v)) => {
                    let v = v.trim();
                    keyspace = (v != "none").then(|| v.to_string());
                }
                Some(("tablet_type", v)) => {
                    tt = match v.trim() {
                        "replica" => TabletType::Replica,
                        "rdonly" => TabletType::Rdonly,
                        _ => TabletType::Primary,
                    }
                }
                Some(("binds", v)) => binds = parse_binds(v),
                _ => panic!("bad directive {line}"),
            }
        } else if let Some(sql) = line.strip_prefix("> ") {
            out.push_str(line);
            out.push('\n');
            // Skip the old expected output.
            while lines.peek().is_some_and(|l| !l.trim().is_empty()) {
                lines.next();
            }
            out.push_str(&env.plan(sql, keyspace.as_deref(), tt, &binds));
            out.push('\n');
            keyspace = Some("commerce".into());
            tt = TabletType::Primary;
            binds.clear();
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/plans")
}

#[test]
fn golden_plans() {
    let env = Env::new();
    let update = std::env::var_os("UPDATE_GOLDENFILES").is_some();
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("golden dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no golden files");
    let mut failed = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read golden file");
        let got = run_file(&env, &text);
        if got != text {
            if update {
                std::fs::write(&path, &got).expect("write golden file");
            } else {
                let diff: Vec<String> = text
                    .lines()
                    .zip(got.lines())
                    .filter(|(a, b)| a != b)
                    .take(6)
                    .map(|(a, b)| format!("  want: {a}\n   got: {b}"))
                    .collect();
                failed.push(format!("{}:\n{}", path.display(), diff.join("\n")));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "golden mismatch (UPDATE_GOLDENFILES=1 to regenerate, then review the diff):\n{}",
        failed.join("\n")
    );
}

/// user_id 1..4 land where Vitess's hash puts them (1 → 166b40b44aba4bd6).
#[test]
fn hash_vectors_pick_the_owning_shard() {
    let env = Env::new();
    for (id, ksid, shard) in [
        (1u64, "166b40b44aba4bd6", "-80"),
        (2, "06e7ea22ce92708f", "-80"),
        (3, "4eb190c9a2fa169c", "-80"),
        (4, "d2fd8867d50d2dfe", "80-"),
    ] {
        assert_eq!(topo::vindex::Hash::hash_u64(id).to_string(), ksid);
        let plan = env.plan(
            &format!("SELECT name FROM users WHERE user_id = {id}"),
            Some("commerce"),
            TabletType::Primary,
            &[],
        );
        assert!(
            plan.starts_with("EqualUnique SELECT on commerce@primary")
                && plan.contains(&format!("\n  {shard}: ")),
            "user_id {id}: {plan}"
        );
    }
}

/// No statement the parser accepts makes the planner panic.
#[test]
fn never_panics_on_odd_statements() {
    let env = Env::new();
    for sql in [
        "SELECT * FROM users WHERE user_id IN ()",
        "SELECT COUNT(*) FROM users GROUP BY 99",
        "SELECT a FROM users ORDER BY 0",
        "SELECT * FROM users LIMIT 18446744073709551615 OFFSET 18446744073709551615",
        "INSERT INTO users (user_id) VALUES (1, 2)",
        "INSERT INTO users (user_id) VALUES (-9223372036854775808)",
        "SELECT * FROM a.b.c.d",
        "SELECT * FROM users u JOIN users u ON u.user_id = u.user_id",
        "UPDATE users SET user_id = user_id WHERE user_id = ?",
        "DELETE FROM users WHERE user_id = ?",
        "SELECT ?, ?",
        "SELECT MAX(user_id) FROM users HAVING MAX(user_id) > ? ",
    ] {
        let _ = env.plan(sql, Some("commerce"), TabletType::Primary, &[]);
        let _ = env.plan(sql, None, TabletType::Replica, &[Value::Int(1)]);
    }
}

impl Env {
    fn ctx<'a>(&'a self, keyspace: Option<&'a str>, tt: TabletType) -> PlanContext<'a> {
        PlanContext {
            vschema: &self.vschema,
            srv_keyspaces: &self.srv,
            default_keyspace: keyspace,
            tablet_type: tt,
            bind_values: &[],
        }
    }
}

/// What the executor sends for `plan`: (shard, SQL) pairs, qualified, the
/// SQL printed from its parse.
fn sent(plan: &planner::Plan) -> Vec<(String, String)> {
    plan.queries
        .iter()
        .map(|q| {
            let sql = if plan.qualified {
                q.sql.clone()
            } else {
                qualify(&q.sql, &plan.keyspace)
            };
            let sql = with_bind_vars(&sql, &plan.bind_vars);
            // As MariaDB reads it: `x'00'` and `X'00'` are one literal.
            let canonical = match planner::parse(&sql) {
                Ok(s) => s.iter().map(|s| s.to_string()).collect(),
                Err(e) => format!("unparsable {sql}: {e}"),
            };
            (q.shard.clone(), canonical)
        })
        .collect()
}

/// `sql` with its bind variables written in as literals, the way the tablet
/// binds them (its own placeholder scan, then one value per `?`).
fn with_bind_vars(
    sql: &str,
    vars: &std::collections::HashMap<String, tablet::query::bind::BindValue>,
) -> String {
    use tablet::query::bind::{bind, BindValue};
    let bound = bind(sql, vars).expect("every placeholder has a value");
    let Some(params) = bound.params else {
        return bound.sql;
    };
    let at = placeholders(&bound.sql);
    assert_eq!(at.len(), params.len(), "{}", bound.sql);
    let mut out = bound.sql.clone();
    for (pos, v) in at.iter().zip(&params).rev() {
        let literal = match v {
            BindValue::Int(i) => i.to_string(),
            BindValue::UInt(u) => u.to_string(),
            other => panic!("only integers travel as bind variables, not {other:?}"),
        };
        out.replace_range(*pos..*pos + 1, &literal);
    }
    out
}

/// A prepared statement's template, bound to values, sends what planning
/// the interpolated text (the prepared path without templates) sends: same
/// route, shards and SQL. Values that the template cannot route (NULL, a
/// string on a hash vindex) bind to nothing, and the slow path plans them.
#[test]
fn templates_bind_like_full_planning() {
    let env = Env::new();
    // (statement, session keyspace, tablet type, has a template)
    let cases: &[(&str, Option<&str>, TabletType, bool)] = &[
        ("SELECT c FROM users WHERE user_id = ?", Some("commerce"), TabletType::Primary, true),
        ("SELECT c FROM users WHERE user_id=?", Some("commerce"), TabletType::Replica, true),
        ("SELECT name, '?' FROM commerce.users WHERE ? = user_id AND name <> ?", None, TabletType::Primary, true),
        ("SELECT name FROM users WHERE name = ? AND (user_id = ?) LIMIT ?, ?", Some("commerce"), TabletType::Primary, true),
        ("SELECT u.name, o.total FROM users u JOIN orders o ON o.user_id = u.user_id WHERE u.user_id = ? AND o.total > ?", Some("commerce"), TabletType::Primary, true),
        ("SELECT p.title FROM users u JOIN products p ON p.id = u.pid WHERE u.user_id = ?", Some("commerce"), TabletType::Primary, true),
        ("UPDATE users SET name = ?, n = n + ? WHERE user_id = ?", Some("commerce"), TabletType::Primary, true),
        ("DELETE FROM commerce.users WHERE user_id = ? AND name = ?", None, TabletType::Primary, true),
        ("SELECT name FROM names WHERE id BETWEEN ? AND ? ORDER BY id LIMIT ?", Some("lookup"), TabletType::Primary, true),
        ("UPDATE names SET v = ? WHERE id = ?", Some("lookup"), TabletType::Primary, true),
        // A sharded keyspace of one shard: its scatters forward unchanged.
        ("SELECT c FROM sbtest WHERE id BETWEEN ? AND ? ORDER BY c", Some("solo"), TabletType::Primary, true),
        ("SELECT SUM(k) FROM sbtest WHERE id BETWEEN ? AND ?", Some("solo"), TabletType::Primary, true),
        ("SELECT DISTINCT c FROM sbtest WHERE id = ? OR k = ?", Some("solo"), TabletType::Replica, true),
        ("SELECT title FROM products WHERE id = ?", Some("commerce"), TabletType::Primary, true),
        ("SELECT v FROM settings WHERE k = ?", Some("commerce"), TabletType::Primary, true),
        ("SELECT COUNT(*) FROM users WHERE name = ?", Some("commerce"), TabletType::Primary, false),
        ("SELECT name FROM users WHERE user_id IN (?, ?)", Some("commerce"), TabletType::Primary, false),
        ("INSERT INTO users (user_id, name) VALUES (?, ?)", Some("commerce"), TabletType::Primary, false),
        ("UPDATE products SET title = ? WHERE id = ?", Some("commerce"), TabletType::Primary, false),
        ("UPDATE users SET name = ? WHERE user_id = ?", Some("commerce"), TabletType::Replica, false),
    ];
    let mut rng = StdRng::seed_from_u64(7);
    let mut bound = 0;
    for &(sql, ks, tt, templated) in cases {
        let stmt = planner::parse(sql).expect("test statement").remove(0);
        let template = Template::build(stmt, sql, &env.ctx(ks, tt), qualify);
        assert_eq!(template.is_some(), templated, "{sql}: {template:?}");
        let Some(template) = template else { continue };
        let n = placeholders(sql).len();
        for _ in 0..200 {
            let values: Vec<Value> = (0..n).map(|_| random_value(&mut rng)).collect();
            let text = interpolate(sql, &values).expect("interpolate");
            let stmt = planner::parse(&text)
                .expect("interpolated statement")
                .remove(0);
            let slow = planner::plan(stmt, &text, &env.ctx(ks, tt));
            match (template.bind(values.as_slice()), slow) {
                (Some(fast), Ok(slow)) => {
                    assert_eq!(
                        (fast.route, fast.statement, &fast.keyspace, fast.tablet_type),
                        (slow.route, slow.statement, &slow.keyspace, slow.tablet_type),
                        "{text}"
                    );
                    assert_eq!(sent(&fast), sent(&slow), "{text}");
                    let ints = values
                        .iter()
                        .filter(|v| matches!(v, Value::Int(_) | Value::UInt(_)))
                        .count();
                    assert_eq!(fast.bind_vars.len(), ints, "{text}: {fast:?}");
                    bound += 1;
                }
                (Some(fast), Err(e)) => panic!("{text}: template gave {fast}, planning: {e}"),
                // Refusing costs only speed; integers (what sharding keys
                // are bound as) must never be refused.
                (None, _) => assert!(
                    values
                        .iter()
                        .any(|v| !matches!(v, Value::Int(_) | Value::UInt(_))),
                    "{text}: template refused integers"
                ),
            }
        }
    }
    assert!(bound > 1500, "only {bound} executions bound");
}

/// Text queries share a template through their normalized form: bound to
/// the literals taken out, it sends what planning the text sends.
#[test]
fn normalized_text_binds_like_full_planning() {
    let env = Env::new();
    let cases: &[(&str, Option<&str>)] = &[
        ("SELECT c FROM users WHERE user_id = ?", Some("commerce")),
        ("SELECT name, '?', 7 FROM commerce.users WHERE ? = user_id AND name <> ? LIMIT 5", None),
        ("SELECT u.name FROM users u JOIN orders o ON o.user_id = u.user_id WHERE u.user_id = ? AND o.total > ?", Some("commerce")),
        ("UPDATE users SET name = ?, n = n + ? WHERE user_id = ?", Some("commerce")),
        ("DELETE FROM users WHERE user_id = ? ORDER BY 1 LIMIT 1", Some("commerce")),
        ("SELECT name FROM names WHERE id BETWEEN ? AND ? ORDER BY 1 LIMIT ?", Some("lookup")),
        ("SELECT COUNT(*) FROM users WHERE name = ?", Some("commerce")),
        ("SELECT 1 FROM dual", Some("commerce")),
    ];
    let mut rng = StdRng::seed_from_u64(11);
    let mut bound = 0;
    for &(sql, ks) in cases {
        let ctx = env.ctx(ks, TabletType::Primary);
        let n = placeholders(sql).len();
        for _ in 0..200 {
            let values: Vec<Value> = (0..n).map(|_| random_value(&mut rng)).collect();
            let text = interpolate(sql, &values).expect("interpolate");
            let stmt = planner::parse(&text)
                .expect("interpolated statement")
                .remove(0);
            let slow = planner::plan(stmt, &text, &ctx);
            let Some((normal, literals)) = planner::normalize(&text) else {
                continue;
            };
            let Ok(mut stmts) = planner::parse(&normal) else {
                continue;
            };
            let Some(template) = Template::build(stmts.remove(0), &normal, &ctx, qualify) else {
                continue;
            };
            match (template.bind(literals.as_slice()), slow) {
                (Some(fast), Ok(slow)) => {
                    assert_eq!(
                        (fast.route, &fast.keyspace),
                        (slow.route, &slow.keyspace),
                        "{text}"
                    );
                    assert_eq!(sent(&fast), sent(&slow), "{text}");
                    assert!(
                        fast.bind_vars.is_empty(),
                        "text literals stay text: {fast:?}"
                    );
                    bound += 1;
                }
                (Some(fast), Err(e)) => panic!("{text}: template gave {fast}, planning: {e}"),
                (None, _) => {}
            }
        }
    }
    assert!(bound > 800, "only {bound} executions bound");
}

fn random_value(rng: &mut StdRng) -> Value {
    match rng.gen_range(0..20) {
        0 => Value::Null,
        1 => Value::Float(rng.gen_range(-1e6..1e6)),
        2 => Value::UInt(rng.gen()),
        3 => Value::Int(rng.gen()),
        4 => Value::Bytes(vec![0xff, 0, b'\'', 0xfe]),
        5..=8 => {
            let pool = ["it's", "a\\b", "?", "x'y\"z", "", "üñí", "--", "/*", "`"];
            Value::Bytes(pool[rng.gen_range(0..pool.len())].as_bytes().to_vec())
        }
        _ => Value::Int(rng.gen_range(-5..100_000)),
    }
}

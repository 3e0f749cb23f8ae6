//! Randomized self-tests: simulate clients against an atomic in-memory
//! store, so every history is linearizable by construction (each operation
//! takes effect at one instant strictly inside its call/return interval).
//! The checker must accept all of them — and must reject the same histories
//! once one read is made stale, as a follower serving an unsafe
//! serializable read would.

use std::collections::HashMap;
use std::time::Instant;

use linearize::kv::{write_revisions, KvInput, KvModel, KvOutput};
use linearize::register::{Register, RegisterInput, RegisterOutput};
use linearize::revisions::check_revisions;
use linearize::{check, Budget, CheckResult, History};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// When an operation happens, decided before what it does.
#[derive(Clone, Copy)]
struct Slot {
    client: u64,
    call: u64,
    effect: u64,
    ret: u64,
    /// The client never learns the outcome.
    unknown: bool,
    /// For unknown operations: whether it took effect anyway.
    applied: bool,
}

/// Per client, back-to-back operations with random gaps; returned in effect
/// order (the order the atomic store applies them).
fn schedule(rng: &mut StdRng, clients: u64, ops: usize, unknown_rate: f64) -> Vec<Slot> {
    let mut slots = Vec::with_capacity(ops);
    let mut clock: Vec<u64> = (0..clients).map(|_| rng.gen_range(0..20)).collect();
    for i in 0..ops {
        let client = (i as u64) % clients;
        let call = clock[client as usize] + rng.gen_range(0..20);
        let effect = call + rng.gen_range(1..60);
        let ret = effect + rng.gen_range(1..60);
        clock[client as usize] = ret;
        let unknown = rng.gen_bool(unknown_rate);
        slots.push(Slot {
            client,
            call,
            effect,
            ret,
            unknown,
            applied: rng.gen_bool(0.5),
        });
    }
    slots.sort_by_key(|s| (s.effect, s.client));
    slots
}

// ---- register ----

type RegHistory = History<RegisterInput<u64>, RegisterOutput<u64>>;

/// A simulated register operation, with what happened.
struct RegOp {
    slot: Slot,
    input: RegisterInput<u64>,
    output: RegisterOutput<u64>,
}

fn simulate_register(rng: &mut StdRng, clients: u64, ops: usize, unknown_rate: f64) -> Vec<RegOp> {
    let mut value = 0u64;
    let mut next_value = 1u64;
    let mut out = Vec::new();
    for slot in schedule(rng, clients, ops, unknown_rate) {
        let effective = !slot.unknown || slot.applied;
        let (input, output) = match rng.gen_range(0..3) {
            0 => (RegisterInput::Read, RegisterOutput::Value(value)),
            1 => {
                next_value += 1;
                if effective {
                    value = next_value;
                }
                (RegisterInput::Write(next_value), RegisterOutput::Written)
            }
            _ => {
                // Half the time expect the current value, so CAS often wins.
                let expect = if rng.gen_bool(0.5) {
                    value
                } else {
                    rng.gen_range(0..next_value)
                };
                next_value += 1;
                let swapped = expect == value;
                if swapped && effective {
                    value = next_value;
                }
                (
                    RegisterInput::Cas {
                        expect,
                        new: next_value,
                    },
                    RegisterOutput::Swapped(swapped),
                )
            }
        };
        out.push(RegOp {
            slot,
            input,
            output,
        });
    }
    out
}

fn register_history(ops: &[RegOp]) -> RegHistory {
    let mut by_call: Vec<&RegOp> = ops.iter().collect();
    by_call.sort_by_key(|op| op.slot.call);
    let mut h = History::new();
    for op in by_call {
        let id = h.call(op.slot.client, op.input.clone(), op.slot.call);
        if op.slot.unknown {
            h.unknown(id).unwrap();
        } else {
            h.ret(id, op.output.clone(), op.slot.ret).unwrap();
        }
    }
    h
}

/// The value a known write (write or winning CAS) installed.
fn installed(op: &RegOp) -> Option<u64> {
    match (&op.input, &op.output, op.slot.unknown) {
        (_, _, true) => None,
        (RegisterInput::Write(v), _, _) => Some(*v),
        (RegisterInput::Cas { new, .. }, RegisterOutput::Swapped(true), _) => Some(*new),
        _ => None,
    }
}

/// Plants a stale read: some completed read returns the value from before a
/// write that completed before the read was called — choosing one where the
/// overwritten value's writer itself completed before that write began, so
/// no legal order can explain it. Returns the index of the bad read.
fn plant_stale_read(ops: &mut [RegOp]) -> Option<usize> {
    // (writer index or None for the initial value) of the value each op saw
    // just before its effect, in effect order.
    let mut writer_before = Vec::with_capacity(ops.len());
    let mut writer: Option<usize> = None;
    let mut value_writer: HashMap<u64, usize> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        writer_before.push(writer);
        if let RegisterInput::Write(v) | RegisterInput::Cas { new: v, .. } = &op.input {
            value_writer.insert(*v, i);
        }
        if let (RegisterInput::Read, RegisterOutput::Value(v)) = (&op.input, &op.output) {
            writer = if *v == 0 {
                None
            } else {
                value_writer.get(v).copied()
            };
        }
        if installed(op).is_some() {
            writer = Some(i);
        }
    }
    for r in (0..ops.len()).rev() {
        if ops[r].slot.unknown || ops[r].input != RegisterInput::Read {
            continue;
        }
        for w in (0..r).rev() {
            if installed(&ops[w]).is_none() || ops[w].slot.ret >= ops[r].slot.call {
                continue;
            }
            let stale = match writer_before[w] {
                None => Some(0),
                Some(p) if ops[p].slot.ret < ops[w].slot.call => installed(&ops[p]),
                Some(_) => None,
            };
            if let Some(stale) = stale {
                ops[r].output = RegisterOutput::Value(stale);
                return Some(r);
            }
        }
    }
    None
}

#[test]
fn correct_register_histories_are_linearizable() {
    for seed in 0..100 {
        let mut rng = StdRng::seed_from_u64(seed);
        let clients = rng.gen_range(2..7);
        let n = rng.gen_range(50..300);
        let ops = simulate_register(&mut rng, clients, n, 0.05);
        let result = check(
            &Register::new(0),
            &register_history(&ops),
            Budget::steps(2_000_000),
        );
        assert!(result.is_ok(), "seed {seed}: {result}");
    }
}

#[test]
fn stale_reads_are_caught() {
    let mut planted = 0;
    for seed in 0..100 {
        let mut rng = StdRng::seed_from_u64(1000 + seed);
        let clients = rng.gen_range(2..7);
        let n = rng.gen_range(50..300);
        let mut ops = simulate_register(&mut rng, clients, n, 0.05);
        let Some(bad) = plant_stale_read(&mut ops) else {
            continue;
        };
        planted += 1;
        let result = check(
            &Register::new(0),
            &register_history(&ops),
            Budget::steps(2_000_000),
        );
        assert!(
            result.is_illegal(),
            "seed {seed}: stale read at effect #{bad} accepted: {result}"
        );
    }
    assert!(
        planted >= 90,
        "only {planted} seeds had a stale read to plant"
    );
}

/// Thousands of operations in one partition, eight concurrent clients, a
/// few unknown outcomes: well under a second even in a debug build.
#[test]
fn thousands_of_ops_check_quickly() {
    for (clients, unknown_rate) in [(4, 0.02), (8, 0.005)] {
        let mut rng = StdRng::seed_from_u64(7);
        let ops = simulate_register(&mut rng, clients, 5000, unknown_rate);
        let h = register_history(&ops);
        let started = Instant::now();
        let result = check(&Register::new(0), &h, Budget::steps(3_000_000));
        eprintln!(
            "5000 ops, {clients} clients: {result} in {:?}",
            started.elapsed()
        );
        assert!(result.is_ok(), "{clients} clients: {result}");
    }
}

#[test]
fn budget_exhaustion_is_a_timeout_not_a_verdict() {
    let mut rng = StdRng::seed_from_u64(8);
    let ops = simulate_register(&mut rng, 8, 2000, 0.02);
    let result = check(
        &Register::new(0),
        &register_history(&ops),
        Budget::steps(100),
    );
    assert!(
        matches!(result, CheckResult::Timeout { steps: 101 }),
        "{result}"
    );
}

#[test]
fn unknown_writes_applied_or_not_are_both_accepted() {
    for applied in [false, true] {
        let mut h: RegHistory = History::new();
        h.complete(0, 0, 10, RegisterInput::Write(1), RegisterOutput::Written)
            .unwrap();
        let lost = h.call(1, RegisterInput::Write(2), 20);
        h.unknown(lost).unwrap();
        let seen = if applied { 2 } else { 1 };
        h.complete(2, 30, 40, RegisterInput::Read, RegisterOutput::Value(1))
            .unwrap();
        h.complete(
            2,
            500,
            510,
            RegisterInput::Read,
            RegisterOutput::Value(seen),
        )
        .unwrap();
        h.complete(
            3,
            600,
            610,
            RegisterInput::Read,
            RegisterOutput::Value(seen),
        )
        .unwrap();
        let result = check(&Register::new(0), &h, Budget::UNLIMITED);
        assert!(result.is_ok(), "applied={applied}: {result}");
    }
}

// ---- etcd-like KV with revisions ----

type KvHistory = History<KvInput<u8, u64>, KvOutput<u64>>;

/// Simulates a KV with one global revision counter. With `stale_key`, the
/// last read of that key that can be made stale returns the value from
/// before the key's most recent write completed before the read began.
fn simulate_kv(seed: u64, ops: usize, plant: bool) -> (KvHistory, bool) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut store: HashMap<u8, (u64, u64)> = HashMap::new(); // key -> (value, mod_revision)
    let mut revision = 1u64;
    let mut next_value = 0u64;
    let mut sim = Vec::new();
    for slot in schedule(&mut rng, 6, ops, 0.03) {
        let key = rng.gen_range(0..4u8);
        let effective = !slot.unknown || slot.applied;
        let current = store.get(&key).copied();
        next_value += 1;
        let (input, output) = match rng.gen_range(0..10) {
            0..=3 => (
                KvInput::Get(key),
                KvOutput::Get {
                    value: current.map(|c| c.0),
                    mod_revision: current.map(|c| c.1),
                },
            ),
            4..=6 => {
                if effective {
                    revision += 1;
                    store.insert(key, (next_value, revision));
                }
                (
                    KvInput::Put(key, next_value),
                    KvOutput::Put {
                        revision: Some(revision),
                    },
                )
            }
            7 => {
                let deleted = current.is_some();
                if deleted && effective {
                    revision += 1;
                    store.remove(&key);
                }
                (
                    KvInput::Delete(key),
                    KvOutput::Delete {
                        deleted,
                        revision: Some(revision),
                    },
                )
            }
            _ => {
                let expect = if rng.gen_bool(0.7) {
                    current.map(|c| c.0)
                } else {
                    Some(0)
                };
                let succeeded = expect == current.map(|c| c.0);
                if succeeded && effective {
                    revision += 1;
                    store.insert(key, (next_value, revision));
                }
                (
                    KvInput::PutIf {
                        key,
                        expect,
                        value: next_value,
                    },
                    KvOutput::PutIf {
                        succeeded,
                        revision: Some(revision),
                    },
                )
            }
        };
        // Each op also remembers the key's state before it, for planting.
        sim.push((slot, input, output, current));
    }
    let mut planted = false;
    if plant {
        // A read that returns the value of a key's write p although a later
        // write w to the key completed between p and the read.
        'reads: for r in (0..sim.len()).rev() {
            let (rs, KvInput::Get(key), _, _) = &sim[r] else {
                continue;
            };
            if rs.unknown {
                continue;
            }
            let writes: Vec<usize> = (0..r)
                .filter(|&i| {
                    let (s, input, output, _) = &sim[i];
                    input.key() == key
                        && !s.unknown
                        && matches!(
                            output,
                            KvOutput::Put { .. }
                                | KvOutput::PutIf {
                                    succeeded: true,
                                    ..
                                }
                                | KvOutput::Delete { deleted: true, .. }
                        )
                })
                .collect();
            // Real time orders p before w before r, yet r sees p's value:
            // illegal whatever unknown writes did (values are unique).
            for pair in writes.windows(2).rev() {
                let (p, w) = (pair[0], pair[1]);
                if sim[w].0.ret >= rs.call || sim[p].0.ret >= sim[w].0.call {
                    continue;
                }
                let installed = match (&sim[p].1, &sim[p].2) {
                    (KvInput::Put(_, v), KvOutput::Put { revision })
                    | (KvInput::PutIf { value: v, .. }, KvOutput::PutIf { revision, .. }) => {
                        Some((*v, *revision))
                    }
                    _ => None,
                };
                if let Some((value, mod_revision)) = installed {
                    sim[r].2 = KvOutput::Get {
                        value: Some(value),
                        mod_revision,
                    };
                    planted = true;
                    break 'reads;
                }
            }
        }
    }
    sim.sort_by_key(|(s, ..)| s.call);
    let mut h = History::new();
    for (slot, input, output, _) in sim {
        let id = h.call(slot.client, input, slot.call);
        if slot.unknown {
            h.unknown(id).unwrap();
        } else {
            h.ret(id, output, slot.ret).unwrap();
        }
    }
    (h, planted)
}

#[test]
fn correct_kv_histories_are_linearizable_with_revisions() {
    for seed in 0..50 {
        let (h, _) = simulate_kv(seed, 400, false);
        let result = check(&KvModel::with_revisions(), &h, Budget::steps(2_000_000));
        assert!(result.is_ok(), "seed {seed}: {result}");
        assert_eq!(check_revisions(&write_revisions(&h)), Ok(()), "seed {seed}");
    }
}

#[test]
fn kv_stale_reads_are_caught_with_and_without_revisions() {
    let mut planted = 0;
    for seed in 0..50 {
        let (h, did) = simulate_kv(500 + seed, 400, true);
        if !did {
            continue;
        }
        planted += 1;
        for result in [
            check(&KvModel::new(), &h, Budget::steps(2_000_000)),
            check(&KvModel::with_revisions(), &h, Budget::steps(2_000_000)),
        ] {
            assert!(
                result.is_illegal(),
                "seed {seed}: stale read accepted: {result}"
            );
        }
    }
    assert!(
        planted >= 45,
        "only {planted} seeds had a stale read to plant"
    );
}

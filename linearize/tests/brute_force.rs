//! Cross-checks the search (with its caching and pruning of unknown
//! operations) against the definition of linearizability, enumerated by
//! brute force, on thousands of small random register histories — legal
//! and illegal ones alike.

use linearize::register::{Register, RegisterInput, RegisterOutput};
use linearize::{check, Budget, History, Model, Operation};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Op = Operation<RegisterInput<u8>, RegisterOutput<u8>>;

/// Is there an order of all completed ops and some unknown ones, respecting
/// real time (an op may go next only if no unplaced completed op returned
/// before it was called), that the model accepts?
fn brute_force(model: &Register<u8>, ops: &[Op], placed: &mut Vec<bool>, state: u8) -> bool {
    let pending_known = |placed: &[bool], i: usize| !placed[i] && ops[i].ret().is_some();
    if !(0..ops.len()).any(|i| pending_known(placed, i)) {
        return true;
    }
    for i in 0..ops.len() {
        if placed[i] {
            continue;
        }
        let blocked = (0..ops.len())
            .any(|k| pending_known(placed, k) && ops[k].ret().is_some_and(|r| r < ops[i].call));
        if blocked {
            continue;
        }
        if let Some(next) = model.step(&state, &ops[i].input, ops[i].output()) {
            placed[i] = true;
            let ok = brute_force(model, ops, placed, next);
            placed[i] = false;
            if ok {
                return true;
            }
        }
    }
    false
}

fn random_history(rng: &mut StdRng) -> History<RegisterInput<u8>, RegisterOutput<u8>> {
    let mut h = History::new();
    for _ in 0..rng.gen_range(1..=8) {
        let call = rng.gen_range(0..20);
        let (input, output) = match rng.gen_range(0..3) {
            0 => (
                RegisterInput::Read,
                RegisterOutput::Value(rng.gen_range(0..3)),
            ),
            1 => (
                RegisterInput::Write(rng.gen_range(1..3)),
                RegisterOutput::Written,
            ),
            _ => (
                RegisterInput::Cas {
                    expect: rng.gen_range(0..3),
                    new: rng.gen_range(0..3),
                },
                RegisterOutput::Swapped(rng.gen_bool(0.5)),
            ),
        };
        let id = h.call(rng.gen_range(0..3u64), input, call);
        if rng.gen_bool(0.3) {
            h.unknown(id).unwrap();
        } else {
            h.ret(id, output, call + rng.gen_range(0..10)).unwrap();
        }
    }
    h
}

#[test]
fn search_agrees_with_brute_force() {
    let model = Register::new(0u8);
    let (mut legal, mut illegal) = (0, 0);
    for seed in 0..20_000 {
        let mut rng = StdRng::seed_from_u64(seed);
        let h = random_history(&mut rng);
        let expected = brute_force(&model, h.ops(), &mut vec![false; h.len()], 0);
        let result = check(&model, &h, Budget::UNLIMITED);
        assert_eq!(result.is_ok(), expected, "seed {seed}: {h:#?}\n{result}");
        if expected {
            legal += 1;
        } else {
            illegal += 1;
        }
    }
    assert!(
        legal > 4000 && illegal > 4000,
        "{legal} legal, {illegal} illegal"
    );
}

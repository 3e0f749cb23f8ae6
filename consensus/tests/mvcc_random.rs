//! Random workloads against the MVCC store: the harness's invariants hold
//! after every command (see `mvcc_support`), and applying the same commands
//! in differently sized transactions leaves byte-identical column families
//! and identical results — what every replica relies on.

mod mvcc_support;

use consensus::kv::{
    Applied, Command, Compare, CompareResult, CompareTarget, DeleteRangeRequest, KeyRange,
    PutRequest, RangeRequest, RequestOp, Revision, SortOrder, SortTarget, TxnRequest,
};
use mvcc_support::Harness;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const KEYS: &[&[u8]] = &[
    b"a", b"a\x00", b"a\x00b", b"ab", b"a\xff", b"b", b"b/1", b"c",
];

struct Gen {
    rng: StdRng,
}

impl Gen {
    fn key(&mut self) -> Vec<u8> {
        KEYS[self.rng.gen_range(0..KEYS.len())].to_vec()
    }

    fn range(&mut self) -> KeyRange {
        let key = self.key();
        match self.rng.gen_range(0..4) {
            0 => KeyRange::single(key),
            1 => KeyRange::prefix(key),
            2 => KeyRange {
                key,
                range_end: vec![0],
            },
            _ => KeyRange {
                key,
                range_end: self.key(),
            },
        }
    }

    /// Mostly 0 (current) or a readable revision, sometimes out of range.
    fn revision(&mut self, current: Revision, compact: Revision) -> Revision {
        match self.rng.gen_range(0..8) {
            0..=3 => 0,
            4..=6 => self.rng.gen_range(compact.max(1)..=current),
            _ => self.rng.gen_range((compact - 1).max(0)..=current + 1),
        }
    }

    fn lease(&mut self) -> i64 {
        [0, 0, 0, 0, 1, 2, 3][self.rng.gen_range(0..7)]
    }

    fn put(&mut self) -> PutRequest {
        let ignore = self.rng.gen_range(0..10);
        PutRequest {
            key: self.key(),
            value: if ignore == 0 {
                vec![]
            } else {
                vec![b'v', self.rng.gen()]
            },
            lease: if ignore == 1 { 0 } else { self.lease() },
            prev_kv: self.rng.gen(),
            ignore_value: ignore == 0,
            ignore_lease: ignore == 1,
        }
    }

    fn range_req(&mut self, current: Revision, compact: Revision) -> RangeRequest {
        RangeRequest {
            range: self.range(),
            limit: self.rng.gen_range(0..3),
            revision: self.revision(current, compact),
            sort_order: [SortOrder::None, SortOrder::Ascend, SortOrder::Descend]
                [self.rng.gen_range(0..3)],
            sort_target: [SortTarget::Key, SortTarget::Version, SortTarget::Value]
                [self.rng.gen_range(0..3)],
            keys_only: self.rng.gen(),
            min_mod_revision: if self.rng.gen_range(0..4) == 0 {
                current / 2
            } else {
                0
            },
            ..Default::default()
        }
    }

    fn compare(&mut self) -> Compare {
        let target = match self.rng.gen_range(0..5) {
            0 => CompareTarget::Version(self.rng.gen_range(0..3)),
            1 => CompareTarget::Create(self.rng.gen_range(0..10)),
            2 => CompareTarget::Mod(self.rng.gen_range(0..10)),
            3 => CompareTarget::Lease(self.lease()),
            _ => CompareTarget::Value(vec![b'v', self.rng.gen()]),
        };
        let result = [
            CompareResult::Equal,
            CompareResult::NotEqual,
            CompareResult::Greater,
            CompareResult::Less,
        ][self.rng.gen_range(0..4)];
        let range = if self.rng.gen_range(0..3) == 0 {
            self.range()
        } else {
            KeyRange::single(self.key())
        };
        Compare {
            range,
            result,
            target,
        }
    }

    fn txn(&mut self, depth: u32, current: Revision, compact: Revision) -> TxnRequest {
        let ops = |g: &mut Gen, n: usize| -> Vec<RequestOp> {
            (0..g.rng.gen_range(0..=n))
                .map(
                    |_| match g.rng.gen_range(0..if depth < 2 { 4 } else { 3 }) {
                        0 => RequestOp::Put(g.put()),
                        1 => RequestOp::DeleteRange(DeleteRangeRequest {
                            range: g.range(),
                            prev_kv: g.rng.gen(),
                        }),
                        2 => RequestOp::Range(g.range_req(current, compact)),
                        _ => RequestOp::Txn(g.txn(depth + 1, current, compact)),
                    },
                )
                .collect()
        };
        let compare = (0..self.rng.gen_range(0..3))
            .map(|_| self.compare())
            .collect();
        let success = ops(self, 3);
        let failure = ops(self, 2);
        TxnRequest {
            compare,
            success,
            failure,
        }
    }

    fn command(&mut self, current: Revision, compact: Revision) -> Command {
        match self.rng.gen_range(0..20) {
            0..=6 => Command::Put(self.put()),
            7..=9 => Command::DeleteRange(DeleteRangeRequest {
                range: self.range(),
                prev_kv: self.rng.gen(),
            }),
            10..=14 => Command::Txn(self.txn(0, current, compact)),
            15..=17 => Command::LeaseGrant {
                id: self.rng.gen_range(1..=3),
                ttl: 10,
            },
            18 => Command::LeaseRevoke {
                id: self.rng.gen_range(1..=3),
            },
            _ if self.rng.gen_range(0..4) == 0 => Command::Compact {
                revision: self.rng.gen_range(compact..=current + 1),
            },
            _ => Command::Compact {
                revision: self.rng.gen_range(compact + 1..=current.max(compact + 1)),
            },
        }
    }
}

/// Runs `n` random commands, one committed transaction each; returns them
/// with their results.
fn run(seed: u64, n: usize, reopen_every: usize) -> (Harness, Vec<Command>, Vec<Applied>) {
    let mut g = Gen {
        rng: StdRng::seed_from_u64(seed),
    };
    let mut h = Harness::new();
    let (mut cmds, mut results) = (Vec::new(), Vec::new());
    for i in 0..n {
        let cmd = g.command(h.mvcc().revision(), h.mvcc().compact_revision());
        results.push(h.apply(&cmd));
        cmds.push(cmd);
        if reopen_every > 0 && i % reopen_every == reopen_every - 1 {
            h.reopen();
        }
    }
    (h, cmds, results)
}

#[test]
fn random_workloads_keep_the_invariants() {
    for seed in 0..4 {
        let (h, _, results) = run(seed, 150, 50);
        let changed = results.iter().filter(|a| !a.events.is_empty()).count();
        let failed = results.iter().filter(|a| a.result.is_err()).count();
        let mut kinds = std::collections::BTreeMap::new();
        for a in &results {
            if let Err(e) = &a.result {
                *kinds.entry(format!("{e:?}")).or_insert(0) += 1;
            }
        }
        eprintln!("seed {seed}: {changed} changed, {failed} failed: {kinds:?}");
        // The workload must exercise both paths to mean anything.
        assert!(
            changed > 40 && failed > 5,
            "seed {seed}: {changed} changed, {failed} failed"
        );
        assert!(
            h.mvcc().compact_revision() > 0,
            "seed {seed} never compacted"
        );
    }
}

#[test]
fn batching_does_not_change_results_or_bytes() {
    for seed in 10..13 {
        let (one_by_one, cmds, results) = run(seed, 120, 0);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut batched = Harness::new();
        let mut batched_results = Vec::new();
        let mut rest = &cmds[..];
        while !rest.is_empty() {
            let n = rng.gen_range(1..=6).min(rest.len());
            batched_results.extend(batched.apply_batch(&rest[..n]));
            rest = &rest[n..];
        }
        assert_eq!(results, batched_results, "seed {seed}");
        assert!(
            one_by_one.raw_contents() == batched.raw_contents(),
            "seed {seed}: stores differ"
        );
    }
}

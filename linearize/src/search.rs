//! Wing & Gong's search with Lowe's memoisation, as porcupine implements it,
//! over one partition, plus pruning for unknown-outcome operations.
//!
//! Every completed operation contributes a *call* and a *return* entry to a
//! doubly linked list sorted by time. The search walks the list from the
//! front: at a call entry it tries to linearize that operation now (the
//! model must accept it, and the resulting configuration must be new — see
//! [`Cache`]). Linearizing *lifts* both entries out of the list and restarts
//! from the front. Reaching a return entry means that operation had to be
//! linearized already: backtrack by popping the last choice, re-inserting
//! its entries and trying the next call after it.
//!
//! Unknown-outcome operations have no return entry (return = +∞) and live in
//! a second list of call entries. At each configuration they are tried only
//! after every completed candidate failed ([`Pass`]), and only those called
//! before the first pending return. They never force a backtrack, and the
//! search succeeds as soon as every *completed* operation is linearized:
//! unknown operations left over are those that never took effect.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::budget::Meter;
use crate::model::Model;

/// One operation as the search sees it (indices are partition-local, in
/// call order).
pub(crate) struct SearchOp<'a, I, O> {
    pub(crate) input: &'a I,
    pub(crate) output: Option<&'a O>,
    pub(crate) call: u64,
    /// `None`: unknown outcome, return time +∞.
    pub(crate) ret: Option<u64>,
}

/// The furthest the search got before failing: the explanation of an
/// illegal history.
#[derive(Debug)]
pub(crate) struct Deepest<S> {
    /// Operations linearized, in order.
    pub(crate) linearized: Vec<usize>,
    /// The state after them.
    pub(crate) state: S,
    /// The operation whose return was reached before it could be placed.
    pub(crate) stuck: usize,
    /// Other operations that were called (not linearized) by then: each was
    /// tried in its place and led nowhere.
    pub(crate) candidates: Vec<usize>,
}

#[derive(Debug)]
pub(crate) enum Verdict<S> {
    Linearizable,
    Illegal(Deepest<S>),
    OutOfBudget,
}

/// Sentinels: the heads of the completed-ops list and the unknown-ops list.
const MAIN_HEAD: usize = 0;
const UNKNOWN_HEAD: usize = 1;

#[derive(Clone, Copy)]
struct Entry {
    op: usize,
    time: u64,
    /// For a call entry of a completed op, the list index of its return.
    ret_entry: Option<usize>,
    is_call: bool,
}

/// Two doubly linked lists over one arena. Removed entries keep their
/// links, so re-inserting in reverse order of removal restores the lists
/// exactly (dancing links).
struct List {
    entries: Vec<Entry>,
    next: Vec<usize>,
    prev: Vec<usize>,
    main_tail: usize,
    unknown_tail: usize,
}

impl List {
    fn new<I, O>(ops: &[SearchOp<'_, I, O>]) -> Self {
        // (time, calls before returns at equal times, op) — a return and a
        // call at the same instant count as concurrent, as in porcupine.
        let mut main: Vec<(u64, bool, usize)> = Vec::new();
        let mut unknown: Vec<(u64, bool, usize)> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            match op.ret {
                Some(ret) => {
                    main.push((op.call, false, i));
                    main.push((ret, true, i));
                }
                None => unknown.push((op.call, false, i)),
            }
        }
        main.sort_unstable();
        unknown.sort_unstable();
        let sentinel = Entry {
            op: usize::MAX,
            time: u64::MAX,
            ret_entry: None,
            is_call: false,
        };
        let mut list = List {
            entries: vec![sentinel, sentinel],
            next: Vec::new(),
            prev: Vec::new(),
            main_tail: 0,
            unknown_tail: 0,
        };
        let mut call_at = vec![0; ops.len()];
        let mut push_chain = |list: &mut List, head: usize, events: &[(u64, bool, usize)]| {
            let mut chain = vec![head];
            for &(time, is_return, op) in events {
                let index = list.entries.len();
                if is_return {
                    list.entries[call_at[op]].ret_entry = Some(index);
                } else {
                    call_at[op] = index;
                }
                list.entries.push(Entry {
                    op,
                    time,
                    ret_entry: None,
                    is_call: !is_return,
                });
                chain.push(index);
            }
            list.entries.push(sentinel);
            chain.push(list.entries.len() - 1);
            chain
        };
        let main_chain = push_chain(&mut list, MAIN_HEAD, &main);
        let unknown_chain = push_chain(&mut list, UNKNOWN_HEAD, &unknown);
        list.next = vec![0; list.entries.len()];
        list.prev = vec![0; list.entries.len()];
        for chain in [&main_chain, &unknown_chain] {
            for pair in chain.windows(2) {
                list.next[pair[0]] = pair[1];
                list.prev[pair[1]] = pair[0];
            }
        }
        list.main_tail = main_chain[main_chain.len() - 1];
        list.unknown_tail = unknown_chain[unknown_chain.len() - 1];
        list
    }

    fn unlink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    fn relink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = e;
        self.prev[n] = e;
    }

    fn lift(&mut self, call: usize) {
        self.unlink(call);
        if let Some(ret) = self.entries[call].ret_entry {
            self.unlink(ret);
        }
    }

    fn unlift(&mut self, call: usize) {
        if let Some(ret) = self.entries[call].ret_entry {
            self.relink(ret);
        }
        self.relink(call);
    }
}

/// A set of small integers as a bitset.
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }

    fn toggle(&mut self, i: usize) {
        self.0[i / 64] ^= 1 << (i % 64);
    }

    /// The members from `from` on, in order.
    fn members_from(&self, from: usize) -> Vec<u32> {
        let mut out = Vec::new();
        for (w, &word) in self.0.iter().enumerate().skip(from / 64) {
            let mut word = word;
            if w == from / 64 {
                word &= !0u64 << (from % 64);
            }
            while word != 0 {
                out.push((w * 64) as u32 + word.trailing_zeros());
                word &= word - 1;
            }
        }
        out
    }

    /// The set in compact form: the search linearizes roughly in call
    /// order, so the set is nearly always "everything below some op, plus a
    /// few". Memory per cache entry is then independent of history length.
    fn compact(&self) -> Compact {
        let full = self.0.iter().take_while(|w| **w == u64::MAX).count();
        let prefix = full * 64 + self.0.get(full).map_or(0, |w| w.trailing_ones() as usize);
        Compact {
            prefix: prefix as u32,
            rest: self.members_from(prefix),
        }
    }
}

#[derive(PartialEq, Eq)]
struct Compact {
    /// Members `0..prefix`.
    prefix: u32,
    /// Further members, ascending.
    rest: Vec<u32>,
}

fn is_subset(small: &[u32], big: &[u32]) -> bool {
    let mut big = big.iter();
    small.iter().all(|s| big.by_ref().any(|b| b == s))
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Which operations are linearized: completed ones by their rank among
/// completed ops (with a Zobrist hash kept up to date in O(1) per change),
/// unknown ones by their rank among unknown ops.
struct Linearized {
    rank: Vec<usize>,
    known: Bits,
    known_hash: u64,
    unknown: Bits,
}

impl Linearized {
    fn toggle(&mut self, op: usize, known: bool) {
        let rank = self.rank[op];
        if known {
            self.known.toggle(rank);
            self.known_hash ^= splitmix64(rank as u64);
        } else {
            self.unknown.toggle(rank);
        }
    }
}

struct CacheEntry<S> {
    known: Compact,
    state: S,
    unknown: Vec<u32>,
}

/// Every configuration ever reached. A new configuration is pruned when a
/// reached one *subsumes* it: same completed ops linearized, same state, and
/// a subset of its unknown ops linearized. Any way to finish from the new
/// one also finishes from the old one (which has the same obligations and
/// more unknown ops left to use or skip), and the old one is explored or
/// being explored. With no unknown ops this is porcupine's exact-match cache;
/// with them it keeps the search from enumerating all 2^k subsets of k
/// unknown writes.
struct Cache<S> {
    buckets: HashMap<u64, Vec<CacheEntry<S>>>,
}

impl<S: Clone + Eq + Hash> Cache<S> {
    /// Records the configuration; `false` if a reached one subsumes it.
    fn insert(&mut self, lin: &Linearized, state: &S) -> bool {
        let mut hasher = DefaultHasher::new();
        state.hash(&mut hasher);
        let key = hasher.finish() ^ lin.known_hash;
        let known = lin.known.compact();
        let unknown = lin.unknown.members_from(0);
        let bucket = self.buckets.entry(key).or_default();
        let subsumed = bucket
            .iter()
            .any(|e| e.known == known && e.state == *state && is_subset(&e.unknown, &unknown));
        if !subsumed {
            bucket.push(CacheEntry {
                known,
                state: state.clone(),
                unknown,
            });
        }
        !subsumed
    }
}

/// At each configuration the candidates are scanned twice: completed ops
/// first, then unknown ones. Doing without an unknown op before using it
/// reaches configurations with fewer unknown ops first, and those subsume
/// the rest.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Known,
    /// Unknown ops called no later than the return entry `stop`, at which
    /// the completed-ops pass ended.
    Unknown {
        stop: usize,
    },
}

/// One choice on the search stack.
struct Frame<S> {
    call: usize,
    /// The state before the choice.
    before: S,
    pass: Pass,
}

/// Checks one partition; `ops` must be sorted by call time.
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[SearchOp<'_, M::Input, M::Output>],
    meter: &mut Meter,
) -> Verdict<M::State> {
    let known_count = ops.iter().filter(|op| op.ret.is_some()).count();
    let mut remaining_known = known_count;
    if remaining_known == 0 {
        return Verdict::Linearizable;
    }
    let has_unknown = known_count < ops.len();
    let mut list = List::new(ops);
    let mut cache = Cache {
        buckets: HashMap::new(),
    };
    let (mut next_known, mut next_unknown) = (0, 0);
    let rank = ops
        .iter()
        .map(|op| {
            let counter = if op.ret.is_some() {
                &mut next_known
            } else {
                &mut next_unknown
            };
            *counter += 1;
            *counter - 1
        })
        .collect();
    let mut lin = Linearized {
        rank,
        known: Bits::new(known_count),
        known_hash: 0,
        unknown: Bits::new(ops.len() - known_count),
    };
    let mut state = model.init();
    let mut stack: Vec<Frame<M::State>> = Vec::new();
    let mut deepest: Option<Deepest<M::State>> = None;
    let mut cur = list.next[MAIN_HEAD];
    let mut pass = Pass::Known;
    loop {
        if !meter.tick() {
            return Verdict::OutOfBudget;
        }
        // Is `cur` a candidate, or has this configuration run out of them?
        let exhausted = match pass {
            Pass::Known if cur != list.main_tail && list.entries[cur].is_call => false,
            Pass::Known if has_unknown => {
                pass = Pass::Unknown { stop: cur };
                cur = list.next[UNKNOWN_HEAD];
                continue;
            }
            Pass::Known => true,
            Pass::Unknown { stop } => {
                cur == list.unknown_tail || list.entries[cur].time > list.entries[stop].time
            }
        };
        if exhausted {
            let stop = match pass {
                Pass::Known => cur,
                Pass::Unknown { stop } => stop,
            };
            // `stop` is the main tail only if no completed op is left,
            // which would have ended the search already.
            if stop != list.main_tail
                && deepest
                    .as_ref()
                    .is_none_or(|d| stack.len() > d.linearized.len())
            {
                deepest = Some(explain(&list, &stack, &state, stop));
            }
            let Some(frame) = stack.pop() else {
                return match deepest {
                    Some(d) => Verdict::Illegal(d),
                    None => Verdict::OutOfBudget,
                };
            };
            let op = list.entries[frame.call].op;
            let known = ops[op].ret.is_some();
            lin.toggle(op, known);
            if known {
                remaining_known += 1;
            }
            list.unlift(frame.call);
            state = frame.before;
            pass = frame.pass;
            cur = list.next[frame.call];
            continue;
        }
        let op_index = list.entries[cur].op;
        let op = &ops[op_index];
        let known = op.ret.is_some();
        let Some(next_state) = model.step(&state, op.input, op.output) else {
            cur = list.next[cur];
            continue;
        };
        // An unknown op that changes nothing here: the configuration without
        // it (the current one, already cached) subsumes the one with it.
        if !known && next_state == state {
            cur = list.next[cur];
            continue;
        }
        // Two unknown ops in a row, where the second alone would have had
        // the same effect (e.g. blind writes): the configuration without the
        // first is a sibling this pass tries too, and it subsumes this one.
        if let (Pass::Unknown { .. }, Some(top)) = (pass, stack.last()) {
            if matches!(top.pass, Pass::Unknown { .. })
                && model.step(&top.before, op.input, op.output).as_ref() == Some(&next_state)
            {
                cur = list.next[cur];
                continue;
            }
        }
        lin.toggle(op_index, known);
        if !cache.insert(&lin, &next_state) {
            lin.toggle(op_index, known);
            cur = list.next[cur];
            continue;
        }
        stack.push(Frame {
            call: cur,
            before: std::mem::replace(&mut state, next_state),
            pass,
        });
        list.lift(cur);
        if known {
            remaining_known -= 1;
            if remaining_known == 0 {
                return Verdict::Linearizable;
            }
        }
        pass = Pass::Known;
        cur = list.next[MAIN_HEAD];
    }
}

fn explain<S: Clone>(list: &List, stack: &[Frame<S>], state: &S, stop: usize) -> Deepest<S> {
    let stuck = list.entries[stop].op;
    let mut candidates = Vec::new();
    let mut e = list.next[MAIN_HEAD];
    while e != stop && e != list.main_tail {
        if list.entries[e].is_call && list.entries[e].op != stuck {
            candidates.push(list.entries[e].op);
        }
        e = list.next[e];
    }
    let mut e = list.next[UNKNOWN_HEAD];
    while e != list.unknown_tail && list.entries[e].time <= list.entries[stop].time {
        candidates.push(list.entries[e].op);
        e = list.next[e];
    }
    Deepest {
        linearized: stack.iter().map(|f| list.entries[f.call].op).collect(),
        state: state.clone(),
        stuck,
        candidates,
    }
}

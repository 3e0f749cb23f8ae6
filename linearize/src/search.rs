//! Wing & Gong's search with Lowe's memoisation, as porcupine implements it,
//! over one partition.
//!
//! Every operation contributes a *call* entry and, if it completed, a
//! *return* entry; entries sit in a doubly linked list sorted by time. The
//! search walks the list from the front: at a call entry it tries to
//! linearize that operation now (the model must accept it, and the resulting
//! (set of linearized ops, state) pair must be new — otherwise an equivalent
//! branch was already explored and failed). Linearizing *lifts* both entries
//! out of the list and restarts from the front. Reaching a return entry means
//! that operation had to be linearized already: backtrack by popping the last
//! choice, re-inserting its entries and trying the next call after it.
//!
//! Unknown-outcome operations have no return entry (return = +∞), so they
//! never force a backtrack, and the search succeeds as soon as every
//! *completed* operation is linearized: unknown operations still in the list
//! are those that never took effect (or took effect invisibly, later).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::budget::Meter;
use crate::model::Model;

/// One operation as the search sees it (indices are partition-local).
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
    /// Other operations that were called (not linearized) by then: every
    /// one of them was tried first, and none led anywhere.
    pub(crate) candidates: Vec<usize>,
}

#[derive(Debug)]
pub(crate) enum Verdict<S> {
    Linearizable,
    Illegal(Deepest<S>),
    OutOfBudget,
}

const HEAD: usize = 0;

#[derive(Clone, Copy)]
struct Entry {
    op: usize,
    /// For a call entry, the list index of its return entry (if any).
    /// `None` also for return entries; `is_call` tells them apart.
    ret_entry: Option<usize>,
    is_call: bool,
}

/// Doubly linked list over a fixed arena; index 0 is the head sentinel and
/// the last index the tail sentinel. Removed entries keep their links, so
/// re-inserting in reverse order of removal restores the list exactly.
struct List {
    entries: Vec<Entry>,
    next: Vec<usize>,
    prev: Vec<usize>,
    tail: usize,
}

impl List {
    fn new<I, O>(ops: &[SearchOp<'_, I, O>]) -> Self {
        // (time, calls before returns at equal times, op) — a return and a
        // call at the same instant count as concurrent, as in porcupine.
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            events.push((op.call, false, i));
            if let Some(ret) = op.ret {
                events.push((ret, true, i));
            }
        }
        events.sort_unstable();
        let sentinel = Entry {
            op: usize::MAX,
            ret_entry: None,
            is_call: false,
        };
        let mut entries = vec![sentinel];
        let mut call_at = vec![0; ops.len()];
        for &(_, is_return, op) in &events {
            let index = entries.len();
            if is_return {
                entries[call_at[op]].ret_entry = Some(index);
            } else {
                call_at[op] = index;
            }
            entries.push(Entry {
                op,
                ret_entry: None,
                is_call: !is_return,
            });
        }
        entries.push(sentinel);
        let tail = entries.len() - 1;
        let next = (0..entries.len()).map(|i| (i + 1).min(tail)).collect();
        let prev = (0..entries.len()).map(|i| i.saturating_sub(1)).collect();
        List {
            entries,
            next,
            prev,
            tail,
        }
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

/// The set of linearized operations, with a Zobrist hash kept up to date in
/// O(1) per change so cache lookups don't rehash the whole set.
#[derive(Clone, PartialEq, Eq)]
struct Linearized {
    words: Vec<u64>,
    hash: u64,
}

impl Linearized {
    fn new(n: usize) -> Self {
        Linearized {
            words: vec![0; n.div_ceil(64)],
            hash: 0,
        }
    }

    fn toggle(&mut self, op: usize) {
        self.words[op / 64] ^= 1 << (op % 64);
        self.hash ^= splitmix64(op as u64);
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Every (linearized set, state) pair ever reached. Reaching one again means
/// the same future was already explored (and failed, or we'd have stopped).
struct Cache<S> {
    buckets: HashMap<u64, Vec<(Vec<u64>, S)>>,
}

impl<S: Clone + Eq + Hash> Cache<S> {
    /// Inserts the pair; `false` if it was already there.
    fn insert(&mut self, lin: &Linearized, state: &S) -> bool {
        let mut hasher = DefaultHasher::new();
        state.hash(&mut hasher);
        let key = hasher.finish() ^ lin.hash;
        let bucket = self.buckets.entry(key).or_default();
        if bucket
            .iter()
            .any(|(words, s)| *words == lin.words && s == state)
        {
            return false;
        }
        bucket.push((lin.words.clone(), state.clone()));
        true
    }
}

/// Checks one partition.
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[SearchOp<'_, M::Input, M::Output>],
    meter: &mut Meter,
) -> Verdict<M::State> {
    let mut remaining_known = ops.iter().filter(|op| op.ret.is_some()).count();
    if remaining_known == 0 {
        return Verdict::Linearizable;
    }
    let mut list = List::new(ops);
    let mut cache = Cache {
        buckets: HashMap::new(),
    };
    let mut lin = Linearized::new(ops.len());
    let mut state = model.init();
    // The choices made so far: (call entry, state before it).
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut deepest: Option<Deepest<M::State>> = None;
    let mut cur = list.next[HEAD];
    loop {
        if !meter.tick() {
            return Verdict::OutOfBudget;
        }
        let entry = list.entries[cur];
        if cur == list.tail || !entry.is_call {
            // Unreachable at the tail while completed ops remain (their
            // return entries come first), but backtracking is right anyway.
            if cur != list.tail
                && deepest
                    .as_ref()
                    .is_none_or(|d| stack.len() > d.linearized.len())
            {
                deepest = Some(explain(&list, &stack, &state, cur));
            }
            let Some((call, previous)) = stack.pop() else {
                return match deepest {
                    Some(d) => Verdict::Illegal(d),
                    None => Verdict::OutOfBudget,
                };
            };
            let op = list.entries[call].op;
            lin.toggle(op);
            if ops[op].ret.is_some() {
                remaining_known += 1;
            }
            list.unlift(call);
            state = previous;
            cur = list.next[call];
            continue;
        }
        let op = &ops[entry.op];
        if let Some(next_state) = model.step(&state, op.input, op.output) {
            lin.toggle(entry.op);
            if cache.insert(&lin, &next_state) {
                stack.push((cur, std::mem::replace(&mut state, next_state)));
                list.lift(cur);
                if op.ret.is_some() {
                    remaining_known -= 1;
                    if remaining_known == 0 {
                        return Verdict::Linearizable;
                    }
                }
                cur = list.next[HEAD];
                continue;
            }
            lin.toggle(entry.op);
        }
        cur = list.next[cur];
    }
}

fn explain<S: Clone>(
    list: &List,
    stack: &[(usize, S)],
    state: &S,
    stuck_entry: usize,
) -> Deepest<S> {
    let stuck = list.entries[stuck_entry].op;
    let mut candidates = Vec::new();
    let mut e = list.next[HEAD];
    while e != stuck_entry && e != list.tail {
        let entry = list.entries[e];
        if entry.is_call && entry.op != stuck {
            candidates.push(entry.op);
        }
        e = list.next[e];
    }
    Deepest {
        linearized: stack
            .iter()
            .map(|(call, _)| list.entries[*call].op)
            .collect(),
        state: state.clone(),
        stuck,
        candidates,
    }
}

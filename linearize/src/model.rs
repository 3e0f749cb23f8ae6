//! The sequential specification a history is checked against.

use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification: the checker searches for an order of the
/// operations, consistent with real time, in which every output is what
/// `step` allows.
///
/// Models must be deterministic: `step` is a function of the state, the
/// input and the observed output. The state must be cheap to clone and hash:
/// the checker memoises every (set of linearized ops, state) pair it reaches.
pub trait Model {
    type State: Clone + Eq + Hash + Debug;
    type Input: Debug;
    type Output: Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Applies `input` to `state` given the observed `output`.
    ///
    /// Returns the next state, or `None` if the output is impossible from
    /// `state`. `output` is `None` for operations with an unknown outcome:
    /// apply the input's effect and accept whatever it would have returned.
    /// (The checker separately allows an unknown operation never to happen.)
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Whether the operation never changes the state (a read). Such an
    /// operation with an unknown outcome constrains nothing, so the checker
    /// drops it up front instead of trying it at every step of the search.
    fn is_read_only(&self, _input: &Self::Input) -> bool {
        false
    }

    /// Which independent sub-history an operation belongs to. Operations with
    /// different keys must never constrain each other (e.g. single-key
    /// operations on a KV store without cross-key revisions); each partition
    /// is then checked alone, which turns one exponential search into many
    /// small ones. Two keys colliding only merges partitions, which is always
    /// sound. The default puts everything in one partition.
    fn partition_key(&self, _input: &Self::Input) -> u64 {
        0
    }

    /// One-line rendering of an operation for reports.
    fn describe_op(&self, input: &Self::Input, output: Option<&Self::Output>) -> String {
        match output {
            Some(output) => format!("{input:?} -> {output:?}"),
            None => format!("{input:?} -> ?"),
        }
    }

    /// Rendering of a state for reports.
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }
}

//! A single read/write/compare-and-set register — the classic model, and the
//! one the randomized self-tests use.

use std::fmt::Debug;
use std::hash::Hash;

use crate::model::Model;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RegisterInput<V> {
    Read,
    Write(V),
    /// Set to `new` if the value is `expect`.
    Cas {
        expect: V,
        new: V,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RegisterOutput<V> {
    /// The value a `Read` returned.
    Value(V),
    /// A `Write` was acknowledged.
    Written,
    /// Whether a `Cas` swapped.
    Swapped(bool),
}

/// One register starting at `init`.
#[derive(Debug, Clone, Default)]
pub struct Register<V> {
    pub init: V,
}

impl<V> Register<V> {
    pub fn new(init: V) -> Self {
        Register { init }
    }
}

impl<V: Clone + Eq + Hash + Debug> Model for Register<V> {
    type State = V;
    type Input = RegisterInput<V>;
    type Output = RegisterOutput<V>;

    fn init(&self) -> V {
        self.init.clone()
    }

    fn step(&self, state: &V, input: &Self::Input, output: Option<&Self::Output>) -> Option<V> {
        use RegisterInput as I;
        use RegisterOutput as O;
        match (input, output) {
            (I::Read, None) => Some(state.clone()),
            (I::Read, Some(O::Value(v))) => (v == state).then(|| state.clone()),
            (I::Write(v), None | Some(O::Written)) => Some(v.clone()),
            (I::Cas { expect, new }, None) => Some(if expect == state {
                new.clone()
            } else {
                state.clone()
            }),
            (I::Cas { expect, new }, Some(O::Swapped(swapped))) => {
                if *swapped != (expect == state) {
                    None
                } else if *swapped {
                    Some(new.clone())
                } else {
                    Some(state.clone())
                }
            }
            // An output of the wrong kind can never be explained.
            _ => None,
        }
    }

    fn is_read_only(&self, input: &Self::Input) -> bool {
        matches!(input, RegisterInput::Read)
    }

    fn describe_op(&self, input: &Self::Input, output: Option<&Self::Output>) -> String {
        let call = match input {
            RegisterInput::Read => "read()".to_string(),
            RegisterInput::Write(v) => format!("write({v:?})"),
            RegisterInput::Cas { expect, new } => format!("cas({expect:?}, {new:?})"),
        };
        match output {
            None => format!("{call} -> ?"),
            Some(RegisterOutput::Value(v)) => format!("{call} -> {v:?}"),
            Some(RegisterOutput::Written) => format!("{call} -> ok"),
            Some(RegisterOutput::Swapped(s)) => format!("{call} -> {s}"),
        }
    }
}

//! An etcd-like key-value store, checked one key at a time.
//!
//! Every operation touches one key, so the model partitions by key and each
//! key's sub-history is checked alone — that is what makes long histories
//! tractable.
//!
//! # Revisions
//!
//! etcd has one global revision. Constraints *between* keys ("this Get's
//! header revision is at least that Put's revision on another key") would
//! tie partitions together and make per-key checking unsound, so this model
//! only checks revisions within a key, and only when built with
//! [`KvModel::with_revisions`]:
//! - the writes to a key take strictly increasing revisions in linearization
//!   order;
//! - a Get that reports a `mod_revision` sees the revision of the write that
//!   produced the value it read.
//!
//! The global property — revisions of successful writes are unique and
//! increase with real-time order — is checked by
//! [`check_revisions`](crate::revisions::check_revisions), which needs no
//! search; [`write_revisions`] extracts its input from a KV history.

use std::collections::hash_map::DefaultHasher;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use crate::history::History;
use crate::model::Model;
use crate::revisions::RevisionedWrite;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvInput<K, V> {
    Get(K),
    Put(K, V),
    Delete(K),
    /// A Txn: if the key's value equals `expect` (`None`: the key does not
    /// exist), put `value`; otherwise do nothing.
    PutIf {
        key: K,
        expect: Option<V>,
        value: V,
    },
}

impl<K, V> KvInput<K, V> {
    pub fn key(&self) -> &K {
        match self {
            KvInput::Get(key) | KvInput::Put(key, _) | KvInput::Delete(key) => key,
            KvInput::PutIf { key, .. } => key,
        }
    }
}

/// Outputs; each `revision` is `None` when the client did not record it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvOutput<V> {
    /// `mod_revision` is the key's, meaningful only when `value` is `Some`.
    Get {
        value: Option<V>,
        mod_revision: Option<u64>,
    },
    /// The response header's revision: the revision of this write.
    Put { revision: Option<u64> },
    /// Whether the key existed; `revision` is checked only if it did.
    Delete {
        deleted: bool,
        revision: Option<u64>,
    },
    /// Whether the compare held; `revision` is checked only if it did.
    PutIf {
        succeeded: bool,
        revision: Option<u64>,
    },
}

/// What the checker knows about one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyState<V> {
    pub value: Option<V>,
    /// Revision of the write that produced `value`, if known.
    pub mod_revision: Option<u64>,
    /// Every later write to this key has a revision above this.
    pub floor: u64,
}

/// The per-key KV model. Type parameters are the key and value types.
#[derive(Debug, Clone)]
pub struct KvModel<K, V> {
    check_revisions: bool,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Default for KvModel<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> KvModel<K, V> {
    /// Values only; revisions in outputs are ignored.
    pub fn new() -> Self {
        KvModel {
            check_revisions: false,
            _types: PhantomData,
        }
    }

    /// Values and per-key revisions (see the module docs).
    pub fn with_revisions() -> Self {
        KvModel {
            check_revisions: true,
            _types: PhantomData,
        }
    }
}

impl<K, V: Clone + Eq> KvModel<K, V> {
    /// A write of `value` (`None`: a delete) with `revision` (`None`: not
    /// known) applied to `state`, or `None` if the revision is impossible.
    fn write(
        &self,
        state: &KeyState<V>,
        value: Option<V>,
        revision: Option<u64>,
    ) -> Option<KeyState<V>> {
        if !self.check_revisions {
            return Some(KeyState {
                value,
                mod_revision: None,
                floor: 0,
            });
        }
        let floor = match revision {
            Some(r) if r <= state.floor => return None,
            Some(r) => r,
            None => state.floor,
        };
        let mod_revision = if value.is_some() { revision } else { None };
        Some(KeyState {
            value,
            mod_revision,
            floor,
        })
    }

    fn read(
        &self,
        state: &KeyState<V>,
        value: &Option<V>,
        rev: Option<u64>,
    ) -> Option<KeyState<V>> {
        if *value != state.value {
            return None;
        }
        match (
            self.check_revisions && value.is_some(),
            rev,
            state.mod_revision,
        ) {
            (true, Some(r), Some(known)) => (r == known).then(|| state.clone()),
            // The value came from a write whose revision we never learned;
            // the read reveals it.
            (true, Some(r), None) if r > state.floor => Some(KeyState {
                mod_revision: Some(r),
                floor: r,
                ..state.clone()
            }),
            (true, Some(_), None) => None,
            _ => Some(state.clone()),
        }
    }
}

impl<K, V> Model for KvModel<K, V>
where
    K: Hash + Debug,
    V: Clone + Eq + Hash + Debug,
{
    type State = KeyState<V>;
    type Input = KvInput<K, V>;
    type Output = KvOutput<V>;

    fn init(&self) -> Self::State {
        KeyState {
            value: None,
            mod_revision: None,
            floor: 0,
        }
    }

    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State> {
        use KvInput as I;
        use KvOutput as O;
        match (input, output) {
            (I::Get(_), None) => Some(state.clone()),
            (
                I::Get(_),
                Some(O::Get {
                    value,
                    mod_revision,
                }),
            ) => self.read(state, value, *mod_revision),
            (I::Put(_, v), None) => self.write(state, Some(v.clone()), None),
            (I::Put(_, v), Some(O::Put { revision })) => {
                self.write(state, Some(v.clone()), *revision)
            }
            (I::Delete(_), None) if state.value.is_some() => self.write(state, None, None),
            (I::Delete(_), None) => Some(state.clone()),
            (I::Delete(_), Some(O::Delete { deleted, revision })) => {
                match (*deleted, state.value.is_some()) {
                    (true, true) => self.write(state, None, *revision),
                    (false, false) => Some(state.clone()),
                    _ => None,
                }
            }
            (I::PutIf { expect, value, .. }, None) => {
                if *expect == state.value {
                    self.write(state, Some(value.clone()), None)
                } else {
                    Some(state.clone())
                }
            }
            (
                I::PutIf { expect, value, .. },
                Some(O::PutIf {
                    succeeded,
                    revision,
                }),
            ) => match (*succeeded, *expect == state.value) {
                (true, true) => self.write(state, Some(value.clone()), *revision),
                (false, false) => Some(state.clone()),
                _ => None,
            },
            // An output of the wrong kind can never be explained.
            _ => None,
        }
    }

    fn is_read_only(&self, input: &Self::Input) -> bool {
        matches!(input, KvInput::Get(_))
    }

    fn partition_key(&self, input: &Self::Input) -> u64 {
        let mut hasher = DefaultHasher::new();
        input.key().hash(&mut hasher);
        hasher.finish()
    }

    fn describe_op(&self, input: &Self::Input, output: Option<&Self::Output>) -> String {
        let call = match input {
            KvInput::Get(k) => format!("get({k:?})"),
            KvInput::Put(k, v) => format!("put({k:?}, {v:?})"),
            KvInput::Delete(k) => format!("delete({k:?})"),
            KvInput::PutIf { key, expect, value } => {
                format!("put_if({key:?}, expect {}, {value:?})", opt(expect))
            }
        };
        let at = |rev: &Option<u64>| rev.map_or(String::new(), |r| format!(" @{r}"));
        match output {
            None => format!("{call} -> ?"),
            Some(KvOutput::Get {
                value,
                mod_revision,
            }) => {
                format!("{call} -> {}{}", opt(value), at(mod_revision))
            }
            Some(KvOutput::Put { revision }) => format!("{call} -> ok{}", at(revision)),
            Some(KvOutput::Delete { deleted, revision }) => {
                let what = if *deleted { "deleted" } else { "absent" };
                format!("{call} -> {what}{}", at(revision))
            }
            Some(KvOutput::PutIf {
                succeeded,
                revision,
            }) => {
                format!("{call} -> {succeeded}{}", at(revision))
            }
        }
    }

    fn describe_state(&self, state: &Self::State) -> String {
        let value = opt(&state.value);
        match (self.check_revisions, state.mod_revision) {
            (false, _) => value,
            (true, Some(r)) => format!("{value} @{r}"),
            (true, None) => format!("{value} (writes above @{})", state.floor),
        }
    }
}

fn opt<V: Debug>(value: &Option<V>) -> String {
    value
        .as_ref()
        .map_or("nil".to_string(), |v| format!("{v:?}"))
}

/// The successful writes of a KV history that report a revision, as input
/// for [`check_revisions`](crate::revisions::check_revisions).
pub fn write_revisions<K, V>(
    history: &History<KvInput<K, V>, KvOutput<V>>,
) -> Vec<RevisionedWrite> {
    history
        .ops()
        .iter()
        .filter_map(|op| {
            let revision = match op.output()? {
                KvOutput::Put { revision } => *revision,
                KvOutput::Delete {
                    deleted: true,
                    revision,
                } => *revision,
                KvOutput::PutIf {
                    succeeded: true,
                    revision,
                } => *revision,
                _ => None,
            }?;
            Some(RevisionedWrite {
                op: op.id,
                call: op.call,
                ret: op.ret()?,
                revision,
            })
        })
        .collect()
}

//! The global-revision validator: a linear-time check that needs no search.
//!
//! In etcd every successful write gets its own revision from one global
//! counter, so among acknowledged writes (single-key ones, one per Txn):
//! - no two share a revision;
//! - if write A returned before write B was called, A's revision is lower.
//!
//! Together with the per-key [`KvModel`](crate::kv::KvModel) this covers
//! what cross-key revision checking inside the search would, without tying
//! partitions together.

use std::fmt;

use crate::history::OpId;

/// A completed write and the revision its response reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevisionedWrite {
    pub op: OpId,
    pub call: u64,
    pub ret: u64,
    pub revision: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionViolation {
    /// Two writes reported the same revision.
    Duplicate {
        first: OpId,
        second: OpId,
        revision: u64,
    },
    /// `earlier` returned before `later` was called, yet `later` got a
    /// revision no higher than `earlier`'s.
    OutOfOrder {
        earlier: OpId,
        earlier_revision: u64,
        later: OpId,
        later_revision: u64,
    },
}

impl fmt::Display for RevisionViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevisionViolation::Duplicate {
                first,
                second,
                revision,
            } => {
                write!(
                    f,
                    "writes {first} and {second} both got revision {revision}"
                )
            }
            RevisionViolation::OutOfOrder {
                earlier,
                earlier_revision,
                later,
                later_revision,
            } => {
                write!(
                    f,
                    "write {earlier} (revision {earlier_revision}) returned before write \
                     {later} was called, but {later} got revision {later_revision}"
                )
            }
        }
    }
}

/// Checks the writes' revisions; O(n log n).
pub fn check_revisions(writes: &[RevisionedWrite]) -> Result<(), RevisionViolation> {
    let mut by_revision: Vec<&RevisionedWrite> = writes.iter().collect();
    by_revision.sort_by_key(|w| (w.revision, w.op));
    for pair in by_revision.windows(2) {
        if pair[0].revision == pair[1].revision {
            return Err(RevisionViolation::Duplicate {
                first: pair[0].op,
                second: pair[1].op,
                revision: pair[0].revision,
            });
        }
    }
    // Sweep calls in time order, folding in every write that returned
    // strictly before the call; the highest revision among those must be
    // below the called write's.
    let mut by_ret: Vec<&RevisionedWrite> = writes.iter().collect();
    by_ret.sort_by_key(|w| w.ret);
    let mut by_call: Vec<&RevisionedWrite> = writes.iter().collect();
    by_call.sort_by_key(|w| w.call);
    let mut done = by_ret.iter().peekable();
    let mut highest: Option<&RevisionedWrite> = None;
    for later in by_call {
        while let Some(w) = done.next_if(|w| w.ret < later.call) {
            if highest.is_none_or(|h| w.revision > h.revision) {
                highest = Some(w);
            }
        }
        if let Some(earlier) = highest {
            if earlier.revision >= later.revision {
                return Err(RevisionViolation::OutOfOrder {
                    earlier: earlier.op,
                    earlier_revision: earlier.revision,
                    later: later.op,
                    later_revision: later.revision,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(op: usize, call: u64, ret: u64, revision: u64) -> RevisionedWrite {
        RevisionedWrite {
            op: OpId(op),
            call,
            ret,
            revision,
        }
    }

    #[test]
    fn concurrent_writes_may_take_revisions_in_any_order() {
        assert_eq!(
            check_revisions(&[w(0, 0, 10, 3), w(1, 5, 15, 2), w(2, 20, 30, 4)]),
            Ok(())
        );
    }

    #[test]
    fn duplicate_revisions_are_reported() {
        assert_eq!(
            check_revisions(&[w(0, 0, 10, 3), w(1, 20, 30, 3)]),
            Err(RevisionViolation::Duplicate {
                first: OpId(0),
                second: OpId(1),
                revision: 3
            })
        );
    }

    #[test]
    fn a_revision_going_back_in_real_time_is_reported() {
        assert_eq!(
            check_revisions(&[w(0, 0, 10, 2), w(1, 0, 12, 5), w(2, 20, 30, 4)]),
            Err(RevisionViolation::OutOfOrder {
                earlier: OpId(1),
                earlier_revision: 5,
                later: OpId(2),
                later_revision: 4,
            })
        );
    }

    #[test]
    fn equal_return_and_call_times_count_as_concurrent() {
        assert_eq!(check_revisions(&[w(0, 0, 10, 5), w(1, 10, 20, 4)]), Ok(()));
    }
}

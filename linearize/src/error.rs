//! The crate's one error type: misuse of the [`History`](crate::History)
//! recording API. Checking itself never fails — a history that cannot be
//! explained is a [`CheckResult::Illegal`](crate::CheckResult), not an error.

use std::fmt;

use crate::history::OpId;

/// A recording mistake by the caller; always a bug in the test harness, never
/// something to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The id was not handed out by this history.
    NoSuchOp(OpId),
    /// `ret`/`unknown`/`failed` was called twice for the same operation.
    AlreadyFinished(OpId),
    /// The return timestamp is earlier than the call timestamp.
    ReturnBeforeCall { op: OpId, call: u64, ret: u64 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoSuchOp(op) => write!(f, "operation {op} is not in this history"),
            Error::AlreadyFinished(op) => write!(f, "operation {op} already has an outcome"),
            Error::ReturnBeforeCall { op, call, ret } => {
                write!(
                    f,
                    "operation {op} returns at {ret}, before its call at {call}"
                )
            }
        }
    }
}

impl std::error::Error for Error {}

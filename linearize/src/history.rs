//! Recording a history: one [`Operation`] per client request, with the
//! timestamps at which the client sent it and heard back.

use std::fmt;

use crate::error::Error;

/// Who issued an operation. Only used in reports: the checker does not assume
/// a client's operations are sequential (async clients may pipeline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

impl From<u64> for ClientId {
    fn from(id: u64) -> Self {
        ClientId(id)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// Handle of one operation in a [`History`]: its index, in call order of
/// recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub usize);

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What the client learned about an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<O> {
    /// Called, not finished yet. At check time this counts as [`Unknown`]:
    /// a client that never heard back cannot know whether it took effect.
    ///
    /// [`Unknown`]: Outcome::Unknown
    Pending,
    /// The operation completed at time `at` and returned `output`.
    Ok { output: O, at: u64 },
    /// Timed out or the connection was lost: the operation may have taken
    /// effect at any instant after its call (even long after the client gave
    /// up), or never.
    Unknown,
    /// The operation definitely did not take effect (e.g. the server rejected
    /// it before proposing it). It is left out of the check entirely.
    Failed,
}

/// One client request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<I, O> {
    pub id: OpId,
    pub client: ClientId,
    /// When the client sent the request (any monotonic unit: nanoseconds
    /// since the test began, or a logical clock).
    pub call: u64,
    pub input: I,
    pub outcome: Outcome<O>,
}

impl<I, O> Operation<I, O> {
    /// The output, if the operation completed.
    pub fn output(&self) -> Option<&O> {
        match &self.outcome {
            Outcome::Ok { output, .. } => Some(output),
            _ => None,
        }
    }

    /// The return time; `None` for anything but a completed operation (the
    /// checker treats that as +∞).
    pub fn ret(&self) -> Option<u64> {
        match self.outcome {
            Outcome::Ok { at, .. } => Some(at),
            _ => None,
        }
    }
}

/// A recorded history: append-only, cheap to record into.
///
/// Concurrent clients share one history behind a `Mutex` (each call is a
/// push or a field update, so the lock is held for nanoseconds):
///
/// ```
/// use linearize::{History, ClientId, register::{RegisterInput, RegisterOutput}};
/// let mut h: History<RegisterInput<u64>, RegisterOutput<u64>> = History::new();
/// let id = h.call(ClientId(1), RegisterInput::Write(7), 100);
/// h.ret(id, RegisterOutput::Written, 250).unwrap();
/// let timed_out = h.call(ClientId(2), RegisterInput::Write(8), 300);
/// h.unknown(timed_out).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History<I, O> {
    ops: Vec<Operation<I, O>>,
}

impl<I, O> Default for History<I, O> {
    fn default() -> Self {
        History { ops: Vec::new() }
    }
}

impl<I, O> History<I, O> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `client` sent `input` at time `now`. Take `now` *before*
    /// sending, so the interval surely contains the effect.
    pub fn call(&mut self, client: impl Into<ClientId>, input: I, now: u64) -> OpId {
        let id = OpId(self.ops.len());
        self.ops.push(Operation {
            id,
            client: client.into(),
            call: now,
            input,
            outcome: Outcome::Pending,
        });
        id
    }

    /// Records that `id` completed with `output`, observed at `now` (take it
    /// *after* the response arrived).
    pub fn ret(&mut self, id: OpId, output: O, now: u64) -> Result<(), Error> {
        let op = self.pending_mut(id)?;
        if now < op.call {
            return Err(Error::ReturnBeforeCall {
                op: id,
                call: op.call,
                ret: now,
            });
        }
        op.outcome = Outcome::Ok { output, at: now };
        Ok(())
    }

    /// Records that the outcome of `id` is unknown (timeout, lost
    /// connection, ambiguous error).
    pub fn unknown(&mut self, id: OpId) -> Result<(), Error> {
        self.pending_mut(id)?.outcome = Outcome::Unknown;
        Ok(())
    }

    /// Records that `id` definitely had no effect; it is excluded from checks.
    /// Only use this when the error proves it (when in doubt, [`unknown`]).
    ///
    /// [`unknown`]: History::unknown
    pub fn failed(&mut self, id: OpId) -> Result<(), Error> {
        self.pending_mut(id)?.outcome = Outcome::Failed;
        Ok(())
    }

    /// Records a whole completed operation at once (handy for hand-written
    /// histories and for converting logs).
    pub fn complete(
        &mut self,
        client: impl Into<ClientId>,
        call: u64,
        ret: u64,
        input: I,
        output: O,
    ) -> Result<OpId, Error> {
        let id = self.call(client, input, call);
        self.ret(id, output, ret)?;
        Ok(id)
    }

    pub fn ops(&self) -> &[Operation<I, O>] {
        &self.ops
    }

    pub fn get(&self, id: OpId) -> Option<&Operation<I, O>> {
        self.ops.get(id.0)
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    fn pending_mut(&mut self, id: OpId) -> Result<&mut Operation<I, O>, Error> {
        let op = self.ops.get_mut(id.0).ok_or(Error::NoSuchOp(id))?;
        match op.outcome {
            Outcome::Pending => Ok(op),
            _ => Err(Error::AlreadyFinished(id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_rejects_misuse() {
        let mut h: History<u8, u8> = History::new();
        let a = h.call(1, 0, 10);
        assert_eq!(
            h.ret(a, 0, 5),
            Err(Error::ReturnBeforeCall {
                op: a,
                call: 10,
                ret: 5
            })
        );
        h.ret(a, 0, 10).unwrap();
        assert_eq!(h.unknown(a), Err(Error::AlreadyFinished(a)));
        assert_eq!(h.failed(OpId(9)), Err(Error::NoSuchOp(OpId(9))));
        assert_eq!(h.get(a).and_then(|op| op.ret()), Some(10));
    }
}

//! A linearizability checker for histories recorded against a replicated
//! store — Wing & Gong's search with the improvements of Lowe and of
//! [porcupine](https://github.com/anishathalye/porcupine), in pure std Rust.
//!
//! Chaos and cluster tests drive clients against the system under test,
//! record every operation, and afterwards ask: is there *one* order of all
//! these operations, consistent with real time, in which a correct
//! sequential implementation ([`Model`]) produces exactly the outputs the
//! clients saw? If so the history is linearizable ([`CheckResult::Ok`]).
//!
//! # Recording a history
//!
//! ```
//! use linearize::kv::{KvInput, KvModel, KvOutput};
//! use linearize::{check, Budget, ClientId, History};
//!
//! let mut h = History::new();
//! // Take `now` just before sending and just after the response arrives, on
//! // one monotonic clock shared by all clients (e.g. nanoseconds since the
//! // test's `Instant` start).
//! let put = h.call(ClientId(1), KvInput::Put("k", 1), 10);
//! let get = h.call(ClientId(2), KvInput::Get("k"), 12);
//! h.ret(put, KvOutput::Put { revision: Some(2) }, 20).unwrap();
//! h.ret(get, KvOutput::Get { value: Some(1), mod_revision: Some(2) }, 25).unwrap();
//! // A request that timed out: it may or may not have been applied.
//! let lost = h.call(ClientId(3), KvInput::Put("k", 2), 30);
//! h.unknown(lost).unwrap();
//!
//! let result = check(&KvModel::with_revisions(), &h, Budget::default());
//! assert!(result.is_ok(), "{result}");
//! ```
//!
//! From async code, share the history as `Arc<Mutex<History<_, _>>>`:
//! recording is a push, so the lock is never held across an await.
//!
//! # Outcomes
//!
//! - **Ok** — the client saw the response: the operation took effect at some
//!   instant between its call and return times.
//! - **Unknown** — a timeout, a dropped connection, an ambiguous error. The
//!   operation may have taken effect at any instant after its call — even
//!   after the client gave up, as a Raft proposal can commit late — or
//!   never. The checker treats its return time as +∞ and may also leave it
//!   out entirely. Operations still pending at check time count as Unknown.
//! - **Failed** — the error proves the operation had no effect; it is
//!   dropped. When unsure, record Unknown: a wrong Failed can turn a correct
//!   history illegal.
//!
//! Equal timestamps count as overlapping (a return and a call at the same
//! instant may be linearized in either order).
//!
//! # Models
//!
//! - [`register::Register`]: one read/write/compare-and-set register.
//! - [`kv::KvModel`]: etcd-like Get/Put/Delete/Put-if-value, partitioned by
//!   key, optionally checking per-key revisions; cross-key revisions are
//!   checked by the separate [`revisions::check_revisions`].
//!
//! # Cost and budget
//!
//! Checking linearizability is NP-complete: the search is exponential in
//! the number of *concurrent* operations in the worst case. In practice the
//! memoisation of configurations (linearized set, state) keeps ordinary
//! histories near-linear: 5000 register operations from 4–8 clients check
//! in well under a second in a debug build (see `tests/simulate.rs`).
//! Memory per cache entry is small and independent of history length (the
//! linearized set is stored as "all ops below n, plus a few").
//!
//! Unknown outcomes are the expensive part: an unknown write stays a
//! candidate forever, so it is retried wherever the search backtracks. The
//! checker limits this — unknown reads ([`Model::is_read_only`]) are dropped
//! up front, unknown ops are tried only after every completed candidate
//! failed, configurations with a superset of unknown ops are pruned, and an
//! unknown op that changes nothing is skipped — but a long history with
//! hundreds of unknown writes to one key can still exhaust the budget.
//! Record `Failed` instead of `Unknown` whenever the error proves the
//! operation had no effect, and partition by key.
//!
//! Partitioning (see [`Model::partition_key`]) turns one large search into
//! many small ones. Every check runs under a [`Budget`] of steps and/or
//! wall time, shared by all partitions; exhausting it yields
//! [`CheckResult::Timeout`], which proves nothing either way.
//!
//! # Illegal histories
//!
//! [`Illegal`] reports the longest partial linearization found, the state it
//! leads to, and the operation whose return came before it could be placed,
//! with the other pending operations that were tried instead. Print it with
//! `{}`.

mod budget;
mod check;
mod error;
mod history;
pub mod kv;
mod model;
pub mod register;
pub mod revisions;
mod search;

pub use budget::Budget;
pub use check::{check, CheckResult, Illegal};
pub use error::Error;
pub use history::{ClientId, History, OpId, Operation, Outcome};
pub use model::Model;

//! How much work a check may do before giving up with `Timeout`.

use std::time::{Duration, Instant};

/// A limit on the search. Linearizability checking is NP-complete; most real
/// histories check in near-linear time, but a pathological one (many
/// concurrent writes of equal values, many unknown outcomes) can explode, so
/// every check has a budget. Both limits apply to the whole check, across all
/// partitions. A *step* is one attempt to place an operation (or undo one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub max_steps: Option<u64>,
    pub max_time: Option<Duration>,
}

impl Budget {
    /// No limit at all: only for histories known to be small.
    pub const UNLIMITED: Budget = Budget {
        max_steps: None,
        max_time: None,
    };

    pub fn steps(max_steps: u64) -> Self {
        Budget {
            max_steps: Some(max_steps),
            max_time: None,
        }
    }

    pub fn time(max_time: Duration) -> Self {
        Budget {
            max_steps: None,
            max_time: Some(max_time),
        }
    }
}

impl Default for Budget {
    /// 50 million steps: roughly tens of seconds in a debug build,
    /// deterministic (unlike a wall-clock limit) so a timeout reproduces.
    fn default() -> Self {
        Budget::steps(50_000_000)
    }
}

/// Counts steps against a [`Budget`]. The clock is read only every 4096 steps.
#[derive(Debug)]
pub(crate) struct Meter {
    steps: u64,
    max_steps: Option<u64>,
    deadline: Option<Instant>,
}

impl Meter {
    pub(crate) fn start(budget: Budget) -> Self {
        Meter {
            steps: 0,
            max_steps: budget.max_steps,
            deadline: budget.max_time.map(|d| Instant::now() + d),
        }
    }

    /// Spends one step; `false` once the budget is exhausted.
    pub(crate) fn tick(&mut self) -> bool {
        self.steps += 1;
        if self.max_steps.is_some_and(|max| self.steps > max) {
            return false;
        }
        if self.steps & 0xFFF == 0 {
            if let Some(deadline) = self.deadline {
                return Instant::now() < deadline;
            }
        }
        true
    }

    pub(crate) fn steps(&self) -> u64 {
        self.steps
    }
}

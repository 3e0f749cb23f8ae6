//! Fan-out of applied events to watchers, with history replay.
//!
//! Contract: a [`WatchStream`] created with `start_revision = S` yields every
//! event with revision >= S whose key is in its range, in revision order, each
//! exactly once, batched by revision (one batch = all matching events of one
//! revision). `S = 0` means "from the next revision". If S is below the
//! compacted revision the stream fails with `KvError::Compacted`.

use crate::kv::{Event, KeyRange, KvError, Revision};

/// All events of one revision that match a watcher's range.
#[derive(Debug, Clone)]
pub struct WatchBatch {
    pub revision: Revision,
    pub events: Vec<Event>,
}

pub struct WatchHub {
    _private: (),
}

impl WatchHub {
    pub fn subscribe(&self, _range: KeyRange, _start_revision: Revision) -> Result<WatchStream, KvError> {
        Err(KvError::InvalidArgument("not ready".into()))
    }

    /// The newest revision whose events have been published.
    pub fn published_revision(&self) -> Revision {
        0
    }
}

pub struct WatchStream {
    _private: (),
}

impl WatchStream {
    /// The next batch; `Err(Compacted)` if the watcher fell so far behind that
    /// history it needed was compacted away. `None` when the node shuts down.
    pub async fn next(&mut self) -> Option<Result<WatchBatch, KvError>> {
        None
    }
}

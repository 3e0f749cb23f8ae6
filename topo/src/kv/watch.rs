//! Watches that survive reconnects, store restarts and leader changes.
//!
//! [`watch_resuming`] is the plumbing under every typed topology watch. Its
//! contract — what a watcher may see:
//!
//! 1. First a [`WatchUpdate::Snapshot`]: every key under the prefix as of one
//!    revision R.
//! 2. Then every change after R as a [`WatchUpdate::Event`], in revision
//!    order, each exactly once — never out of order, never a gap. Events of
//!    one txn share a revision and arrive together.
//! 3. When the connection breaks (store restart, member death, leader
//!    change) the watch reconnects with backoff and resumes from the last
//!    delivered revision + 1; the watcher notices nothing but a delay.
//! 4. If the history needed to resume was compacted meanwhile, it sends a new
//!    `Snapshot`: the changes in between are coalesced into it. A watcher must
//!    therefore *replace* its state on every Snapshot. Deleted keys are simply
//!    absent from it.
//! 5. Transient failures are never yielded. A yielded `Err` is permanent
//!    (e.g. a malformed key) and ends the stream.
//!
//! The stream is lazy and holds no task: dropping it stops watching.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;

use super::{Error, Kv, Result, Revision, Versioned, WatchEvent};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchUpdate {
    /// The complete contents under the prefix at `revision`; replaces all
    /// earlier state.
    Snapshot {
        entries: Vec<(String, Versioned)>,
        revision: Revision,
    },
    /// One change after everything delivered before it.
    Event(WatchEvent),
}

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Current contents of `prefix`, then its changes, across reconnects. See the
/// module docs for the contract.
pub fn watch_resuming(kv: Arc<dyn Kv>, prefix: &str) -> BoxStream<'static, Result<WatchUpdate>> {
    let prefix = prefix.to_string();
    async_stream::stream! {
        // The revision to resume from; None means "list first".
        let mut next: Option<Revision> = None;
        let mut backoff = MIN_BACKOFF;
        loop {
            let from = match next {
                Some(from) => from,
                None => match kv.list(&prefix).await {
                    Ok(listing) => {
                        let from = Revision(listing.revision.0 + 1);
                        next = Some(from);
                        yield Ok(WatchUpdate::Snapshot {
                            entries: listing.entries,
                            revision: listing.revision,
                        });
                        from
                    }
                    Err(e) if e.is_retryable() => {
                        tracing::debug!(prefix = %prefix, error = %e, "watch: list failed, retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                    Err(e) => {
                        yield Err(e);
                        return;
                    }
                },
            };
            let mut events = match kv.watch_prefix(&prefix, from).await {
                Ok(events) => events,
                Err(Error::Compacted { .. }) => {
                    next = None;
                    continue;
                }
                Err(e) if e.is_retryable() => {
                    tracing::debug!(prefix = %prefix, error = %e, "watch: reconnect failed, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
                Err(e) => {
                    yield Err(e);
                    return;
                }
            };
            loop {
                match events.next().await {
                    Some(Ok(event)) => {
                        backoff = MIN_BACKOFF;
                        next = Some(Revision(event.revision().0 + 1));
                        yield Ok(WatchUpdate::Event(event));
                    }
                    Some(Err(Error::Compacted { .. })) => {
                        next = None;
                        break;
                    }
                    Some(Err(e)) if !e.is_retryable() => {
                        yield Err(e);
                        return;
                    }
                    Some(Err(e)) => {
                        tracing::debug!(prefix = %prefix, error = %e, "watch: broken, resuming");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        break;
                    }
                    None => {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        break;
                    }
                }
            }
        }
    }
    .boxed()
}

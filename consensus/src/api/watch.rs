//! etcd's Watch service: one bidirectional stream carries many watches.
//!
//! Shape: a session task reads the client's requests and owns the table of
//! watches; each watch is one tokio task that pulls batches from its
//! `WatchStream` (replay, then live) and pushes responses into the single
//! outgoing channel of the stream. Dropping the stream (client gone) closes
//! that channel and every task ends; the session aborts the rest.
//!
//! What a client may rely on, as with etcd:
//! - a `created` response comes before any event of that watch;
//! - events of a watch come in revision order, without gaps or repeats
//!   (the hub's contract), one response per revision;
//! - after a `canceled` response no more events of that watch arrive;
//! - a progress response with header revision R (periodic `progress_notify`
//!   for one watch, or a `WatchProgressRequest` for all, watch_id -1) means
//!   every event with revision <= R has already been sent. To keep that
//!   promise the watch task reads the published revision P and then drains
//!   whatever its stream already holds before answering P. This relies on
//!   the hub queueing a batch before `published_revision()` covers it and on
//!   `WatchStream::next` being cancel-safe and ready whenever it holds data.
//!
//! Deviations: `fragment` is ignored (a revision is always sent whole);
//! a start revision below the compaction answers `created` then a
//! `canceled` response with `compact_revision`, as etcd does.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::proto::{PbWatchRequest, PbWatchResponse, PbWatchService};
use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{convert, EtcdApi};
use crate::kv::{EventKind, KeyRange, KvError, Revision};
use crate::node::{Header, Node, WatchBatch, WatchStream};

/// One watch as a client asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSpec {
    pub range: KeyRange,
    /// 0 = from the next revision.
    pub start_revision: Revision,
    pub progress_notify: bool,
    /// Filters: drop put / delete events.
    pub no_put: bool,
    pub no_delete: bool,
    pub prev_kv: bool,
    /// 0 = let the server choose.
    pub watch_id: i64,
}

/// What one message on a Watch stream asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchCommand {
    Create(WatchSpec),
    Cancel(i64),
    Progress,
}

/// etcd's mvcc error texts for watches that cannot be created.
const ERR_EMPTY_RANGE: &str = "mvcc: watcher range is empty";
const ERR_DUPLICATE_ID: &str = "mvcc: duplicate watch ID provided on the WatchStream";
const ERR_COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";
/// The watch_id of responses that concern the whole stream.
const STREAM_WATCH_ID: i64 = -1;
/// Outgoing responses buffered per stream before watch tasks wait.
const OUT_CAPACITY: usize = 256;

/// What the watch logic needs from the node. A trait so that the session
/// logic can be tested without Raft.
pub trait WatchSource: Send + Sync + 'static {
    type Stream: BatchStream;
    fn subscribe(&self, range: KeyRange, start: Revision) -> Result<Self::Stream, KvError>;
    fn published_revision(&self) -> Revision;
    fn header(&self, revision: Revision) -> Header;
    /// The revision history starts at (what a compacted watch reports).
    fn compact_revision(&self) -> impl Future<Output = Revision> + Send;
    /// Resolves when the source shuts down: the whole RPC then ends with
    /// Unavailable, even with no watch on it yet, so the client reconnects
    /// elsewhere instead of waiting on a member that will never answer.
    fn stopped(&self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }
}

/// A source of event batches; `next_batch` must be cancel-safe.
pub trait BatchStream: Send + 'static {
    fn next_batch(&mut self) -> impl Future<Output = Option<Result<WatchBatch, KvError>>> + Send;
}

impl BatchStream for WatchStream {
    fn next_batch(&mut self) -> impl Future<Output = Option<Result<WatchBatch, KvError>>> + Send {
        self.next()
    }
}

impl WatchSource for Node {
    type Stream = WatchStream;

    fn subscribe(&self, range: KeyRange, start: Revision) -> Result<WatchStream, KvError> {
        self.watch_hub().subscribe(range, start)
    }

    fn published_revision(&self) -> Revision {
        self.watch_hub().published_revision()
    }

    fn header(&self, revision: Revision) -> Header {
        Node::header(self, revision)
    }

    async fn stopped(&self) {
        let mut rx = self.stopped_signal();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    async fn compact_revision(&self) -> Revision {
        Node::compact_revision(self)
    }
}

#[tonic::async_trait]
impl PbWatchService for EtcdApi {
    type WatchStream = Pin<Box<dyn Stream<Item = Result<PbWatchResponse, Status>> + Send>>;

    async fn watch(
        &self,
        request: Request<Streaming<PbWatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let out = serve(
            self.node.clone(),
            request.into_inner(),
            self.config.progress_notify_interval,
        );
        Ok(Response::new(Box::pin(out)))
    }
}

/// Run one Watch stream: `inbound` are the client's requests, the returned
/// stream the responses. Ends when the client closes its side or goes away.
pub fn serve<S, I>(
    source: Arc<S>,
    inbound: I,
    progress_interval: Duration,
) -> ReceiverStream<Result<PbWatchResponse, Status>>
where
    S: WatchSource,
    I: Stream<Item = Result<PbWatchRequest, Status>> + Send + Unpin + 'static,
{
    let (out, rx) = mpsc::channel(OUT_CAPACITY);
    let session = Session {
        source,
        out,
        watches: HashMap::new(),
        next_id: 0,
        progress_interval,
    };
    tokio::spawn(session.run(inbound));
    ReceiverStream::new(rx)
}

type Out = mpsc::Sender<Result<PbWatchResponse, Status>>;

/// The outgoing channel is gone: the client left.
struct Closed;

struct Session<S: WatchSource> {
    source: Arc<S>,
    out: Out,
    watches: HashMap<i64, WatchHandle>,
    /// The next server-chosen watch id (etcd starts at 0).
    next_id: i64,
    progress_interval: Duration,
}

struct WatchHandle {
    task: JoinHandle<()>,
    /// Ask the watch for the revision it has delivered everything up to.
    sync: mpsc::UnboundedSender<oneshot::Sender<Revision>>,
}

impl<S: WatchSource> Drop for Session<S> {
    fn drop(&mut self) {
        for w in self.watches.values() {
            w.task.abort();
        }
    }
}

impl<S: WatchSource> Session<S> {
    async fn run<I>(mut self, mut inbound: I)
    where
        I: Stream<Item = Result<PbWatchRequest, Status>> + Unpin,
    {
        loop {
            let msg = tokio::select! {
                msg = inbound.next() => msg,
                _ = self.out.closed() => return,
                _ = self.source.stopped() => {
                    let _ = self.out.send(Err(Status::unavailable("etcdserver: server stopped"))).await;
                    return;
                }
            };
            let req = match msg {
                Some(Ok(req)) => req,
                // Client closed its side (etcd then ends the RPC) or broke.
                Some(Err(_)) | None => return,
            };
            let Some(cmd) = convert::watch_command(req) else {
                continue;
            };
            let handled = match cmd {
                WatchCommand::Create(spec) => self.create(spec).await,
                WatchCommand::Cancel(id) => self.cancel(id).await,
                WatchCommand::Progress => {
                    self.progress();
                    Ok(())
                }
            };
            if handled.is_err() {
                return;
            }
        }
    }

    async fn send(&self, resp: PbWatchResponse) -> Result<(), Closed> {
        self.out.send(Ok(resp)).await.map_err(|_| Closed)
    }

    fn notice(&self, revision: Revision, watch_id: i64) -> PbWatchResponse {
        convert::watch_notice(self.source.header(revision), watch_id)
    }

    async fn create(&mut self, spec: WatchSpec) -> Result<(), Closed> {
        let current = self.source.published_revision();
        let base = self.notice(current, STREAM_WATCH_ID);
        let refused = |reason: &str| PbWatchResponse {
            created: true,
            canceled: true,
            cancel_reason: reason.to_string(),
            ..base.clone()
        };
        let r = &spec.range;
        if !r.range_end.is_empty() && r.range_end != [0] && r.key >= r.range_end {
            return self.send(refused(ERR_EMPTY_RANGE)).await;
        }
        self.watches.retain(|_, w| !w.task.is_finished());
        let id = if spec.watch_id == 0 {
            while self.watches.contains_key(&self.next_id) {
                self.next_id += 1;
            }
            self.next_id += 1;
            self.next_id - 1
        } else if self.watches.contains_key(&spec.watch_id) {
            return self.send(refused(ERR_DUPLICATE_ID)).await;
        } else {
            spec.watch_id
        };
        // Start right after the revision the created response reports, so
        // "created at R" means "every later event will follow".
        let start = if spec.start_revision > 0 {
            spec.start_revision
        } else {
            current + 1
        };
        let created = PbWatchResponse {
            created: true,
            ..self.notice(current, id)
        };
        match self.source.subscribe(spec.range.clone(), start) {
            Ok(stream) => {
                self.send(created).await?;
                let (sync, sync_rx) = mpsc::unbounded_channel();
                let watcher = Watcher {
                    id,
                    spec,
                    source: self.source.clone(),
                    stream,
                    out: self.out.clone(),
                    last_revision: 0,
                };
                let task = tokio::spawn(watcher.run(sync_rx, self.progress_interval));
                self.watches.insert(id, WatchHandle { task, sync });
                Ok(())
            }
            Err(KvError::Compacted) => {
                self.send(created).await?;
                let compact_revision = self.source.compact_revision().await;
                self.send(compacted(self.notice(current, id), compact_revision))
                    .await
            }
            Err(e) => {
                let reason = e.to_string();
                self.send(PbWatchResponse {
                    canceled: true,
                    cancel_reason: reason,
                    ..created
                })
                .await
            }
        }
    }

    /// etcd answers only for a watch it knows; unknown ids get no response.
    async fn cancel(&mut self, id: i64) -> Result<(), Closed> {
        let Some(w) = self.watches.remove(&id) else {
            return Ok(());
        };
        w.task.abort();
        // Wait until the task is gone so none of its events can follow the
        // canceled response.
        let _ = w.task.await;
        let resp = PbWatchResponse {
            canceled: true,
            ..self.notice(self.source.published_revision(), id)
        };
        self.send(resp).await
    }

    /// A stream-wide progress response: the lowest revision all watches have
    /// caught up to (the published revision when there are none).
    fn progress(&mut self) {
        let replies: Vec<_> = self
            .watches
            .values()
            .filter_map(|w| {
                let (tx, rx) = oneshot::channel();
                w.sync.send(tx).ok().map(|_| rx)
            })
            .collect();
        let fallback = self.source.published_revision();
        let source = self.source.clone();
        let out = self.out.clone();
        tokio::spawn(async move {
            let mut revision: Option<Revision> = None;
            for rx in replies {
                // A watch that ended meanwhile has nothing more to deliver.
                if let Ok(r) = rx.await {
                    revision = Some(revision.map_or(r, |m| m.min(r)));
                }
            }
            let revision = revision.unwrap_or(fallback);
            let resp = convert::watch_notice(source.header(revision), STREAM_WATCH_ID);
            let _ = out.send(Ok(resp)).await;
        });
    }
}

fn compacted(notice: PbWatchResponse, compact_revision: Revision) -> PbWatchResponse {
    PbWatchResponse {
        canceled: true,
        compact_revision,
        cancel_reason: ERR_COMPACTED.to_string(),
        ..notice
    }
}

/// The task behind one watch.
struct Watcher<S: WatchSource> {
    id: i64,
    spec: WatchSpec,
    source: Arc<S>,
    stream: S::Stream,
    out: Out,
    /// The revision of the newest batch taken from the stream.
    last_revision: Revision,
}

/// What handling one stream item decided.
enum Flow {
    /// Keep going; `true` if a response with events was sent.
    Continue(bool),
    Stop,
}

impl<S: WatchSource> Watcher<S> {
    async fn run(
        mut self,
        mut sync_requests: mpsc::UnboundedReceiver<oneshot::Sender<Revision>>,
        interval: Duration,
    ) {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // etcd sends a periodic progress only to watches that got no events
        // since the previous tick.
        let mut quiet = true;
        loop {
            tokio::select! {
                // Control first so a busy stream cannot starve it; `sync`
                // drains the stream itself before answering.
                biased;
                Some(reply) = sync_requests.recv() => {
                    let Some(revision) = self.sync().await else { return };
                    let _ = reply.send(revision);
                }
                _ = ticker.tick(), if self.spec.progress_notify => {
                    if quiet {
                        let Some(revision) = self.sync().await else { return };
                        let resp = convert::watch_notice(self.source.header(revision), self.id);
                        if self.out.send(Ok(resp)).await.is_err() {
                            return;
                        }
                    }
                    quiet = true;
                }
                item = self.stream.next_batch() => match self.handle(item).await {
                    Flow::Continue(sent) => quiet &= !sent,
                    Flow::Stop => return,
                },
            }
        }
    }

    /// Deliver everything the stream already holds; return a revision R such
    /// that every event <= R of this watch has been sent. `None` if the
    /// watch ended while draining.
    async fn sync(&mut self) -> Option<Revision> {
        let published = self.source.published_revision();
        while let Some(item) = self.stream.next_batch().now_or_never() {
            if let Flow::Stop = self.handle(item).await {
                return None;
            }
        }
        Some(published.max(self.last_revision))
    }

    async fn handle(&mut self, item: Option<Result<WatchBatch, KvError>>) -> Flow {
        let resp = match item {
            Some(Ok(batch)) => {
                self.last_revision = batch.revision;
                let events: Vec<_> = batch
                    .events
                    .into_iter()
                    .filter(|e| match e.kind {
                        EventKind::Put => !self.spec.no_put,
                        EventKind::Delete => !self.spec.no_delete,
                    })
                    .map(|e| convert::event(e, self.spec.prev_kv))
                    .collect();
                if events.is_empty() {
                    return Flow::Continue(false);
                }
                let header = self.source.header(batch.revision);
                let resp = convert::watch_events(header, self.id, events);
                return match self.out.send(Ok(resp)).await {
                    Ok(()) => Flow::Continue(true),
                    Err(_) => Flow::Stop,
                };
            }
            Some(Err(KvError::Compacted)) => {
                let compact_revision = self.source.compact_revision().await;
                let notice = convert::watch_notice(
                    self.source.header(self.source.published_revision()),
                    self.id,
                );
                Ok(compacted(notice, compact_revision))
            }
            Some(Err(e)) => Ok(PbWatchResponse {
                canceled: true,
                cancel_reason: e.to_string(),
                ..convert::watch_notice(
                    self.source.header(self.source.published_revision()),
                    self.id,
                )
            }),
            // The node is shutting down: end the whole RPC so the client
            // reconnects (to another member) and resumes its watches.
            None => Err(Status::unavailable("etcdserver: server stopped")),
        };
        let _ = self.out.send(resp).await;
        Flow::Stop
    }
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;

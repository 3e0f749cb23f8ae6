//! Watch session tests against an in-memory event source.

use std::collections::VecDeque;
use std::sync::Mutex;

use etcd_client::proto::PbWatchRequestUnion;
use tokio::sync::broadcast;
use tokio::time::timeout;

use super::*;
use crate::kv::{Event, KeyValue};

/// History plus a live channel, published under one lock (like the hub).
struct Fake {
    state: Mutex<FakeState>,
}

struct FakeState {
    history: Vec<WatchBatch>,
    published: Revision,
    compacted: Revision,
    tx: Option<broadcast::Sender<WatchBatch>>,
}

impl Fake {
    fn new() -> Arc<Fake> {
        let (tx, _) = broadcast::channel(64);
        Arc::new(Fake {
            state: Mutex::new(FakeState {
                history: Vec::new(),
                published: 0,
                compacted: 0,
                tx: Some(tx),
            }),
        })
    }

    /// Apply one revision with these events; returns the revision.
    fn publish(&self, events: Vec<Event>) -> Revision {
        let mut s = self.state.lock().unwrap();
        let revision = s.published + 1;
        let events = events
            .into_iter()
            .map(|mut e| {
                e.kv.mod_revision = revision;
                e
            })
            .collect();
        let batch = WatchBatch { revision, events };
        s.history.push(batch.clone());
        if let Some(tx) = &s.tx {
            let _ = tx.send(batch);
        }
        s.published = revision;
        revision
    }

    fn compact(&self, revision: Revision) {
        self.state.lock().unwrap().compacted = revision;
    }

    fn shutdown(&self) {
        self.state.lock().unwrap().tx = None;
    }
}

struct FakeStream {
    range: KeyRange,
    pending: VecDeque<WatchBatch>,
    next_rev: Revision,
    rx: broadcast::Receiver<WatchBatch>,
}

impl FakeStream {
    fn keep(&self, b: WatchBatch) -> Option<WatchBatch> {
        let events: Vec<_> = b
            .events
            .into_iter()
            .filter(|e| self.range.contains(&e.kv.key))
            .collect();
        (!events.is_empty()).then_some(WatchBatch {
            revision: b.revision,
            events,
        })
    }
}

impl BatchStream for FakeStream {
    async fn next_batch(&mut self) -> Option<Result<WatchBatch, KvError>> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                return Some(Ok(b));
            }
            match self.rx.recv().await {
                Ok(b) if b.revision >= self.next_rev => {
                    self.next_rev = b.revision + 1;
                    if let Some(b) = self.keep(b) {
                        return Some(Ok(b));
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    return Some(Err(KvError::Compacted))
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl WatchSource for Fake {
    type Stream = FakeStream;

    fn subscribe(&self, range: KeyRange, start: Revision) -> Result<FakeStream, KvError> {
        let s = self.state.lock().unwrap();
        if start < s.compacted {
            return Err(KvError::Compacted);
        }
        let rx =
            s.tx.as_ref()
                .ok_or(KvError::InvalidArgument("stopped".into()))?
                .subscribe();
        let mut stream = FakeStream {
            range,
            pending: VecDeque::new(),
            next_rev: 0,
            rx,
        };
        for b in s.history.iter().filter(|b| b.revision >= start) {
            if let Some(b) = stream.keep(b.clone()) {
                stream.pending.push_back(b);
            }
        }
        stream.next_rev = start.max(s.published + 1);
        Ok(stream)
    }

    fn published_revision(&self) -> Revision {
        self.state.lock().unwrap().published
    }

    fn header(&self, revision: Revision) -> Header {
        Header {
            cluster_id: 11,
            member_id: 22,
            revision,
            raft_term: 3,
        }
    }

    async fn compact_revision(&self) -> Revision {
        self.state.lock().unwrap().compacted
    }
}

fn kv(key: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        create_revision: 1,
        mod_revision: 0,
        version: 1,
        value: b"v".to_vec(),
        lease: 0,
    }
}

fn put(key: &str) -> Event {
    Event {
        kind: EventKind::Put,
        kv: kv(key),
        prev_kv: Some(kv(key)),
    }
}

fn del(key: &str) -> Event {
    Event {
        kind: EventKind::Delete,
        kv: KeyValue {
            key: key.into(),
            ..Default::default()
        },
        prev_kv: Some(kv(key)),
    }
}

#[derive(Default)]
struct Opts {
    key: &'static str,
    prefix: bool,
    range_end: Option<Vec<u8>>,
    start: Revision,
    watch_id: i64,
    prev_kv: bool,
    filters: Vec<i32>,
    progress_notify: bool,
}

fn create(o: Opts) -> Result<PbWatchRequest, Status> {
    let mut req = PbWatchRequest {
        request_union: Some(PbWatchRequestUnion::CreateRequest(Default::default())),
    };
    if let Some(PbWatchRequestUnion::CreateRequest(c)) = &mut req.request_union {
        c.key = o.key.into();
        c.range_end = match (o.range_end, o.prefix) {
            (Some(end), _) => end,
            (None, true) => crate::kv::prefix_end(o.key.as_bytes()),
            (None, false) => Vec::new(),
        };
        c.start_revision = o.start;
        c.watch_id = o.watch_id;
        c.prev_kv = o.prev_kv;
        c.filters = o.filters;
        c.progress_notify = o.progress_notify;
    }
    Ok(req)
}

fn cancel(id: i64) -> Result<PbWatchRequest, Status> {
    let mut req = PbWatchRequest {
        request_union: Some(PbWatchRequestUnion::CancelRequest(Default::default())),
    };
    if let Some(PbWatchRequestUnion::CancelRequest(c)) = &mut req.request_union {
        c.watch_id = id;
    }
    Ok(req)
}

fn progress() -> Result<PbWatchRequest, Status> {
    Ok(PbWatchRequest {
        request_union: Some(PbWatchRequestUnion::ProgressRequest(Default::default())),
    })
}

type Client = (
    mpsc::Sender<Result<PbWatchRequest, Status>>,
    ReceiverStream<Result<PbWatchResponse, Status>>,
);

fn connect(fake: &Arc<Fake>, interval: Duration) -> Client {
    let (tx, rx) = mpsc::channel(16);
    let out = serve(fake.clone(), ReceiverStream::new(rx), interval);
    (tx, out)
}

const LONG: Duration = Duration::from_secs(600);

async fn recv(c: &mut Client) -> PbWatchResponse {
    match timeout(Duration::from_secs(5), c.1.next()).await {
        Ok(Some(Ok(r))) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

async fn send(c: &Client, req: Result<PbWatchRequest, Status>) {
    c.0.send(req).await.unwrap();
}

async fn assert_silent(c: &mut Client) {
    if let Ok(got) = timeout(Duration::from_millis(150), c.1.next()).await {
        panic!("expected nothing, got {got:?}");
    }
}

fn keys(r: &PbWatchResponse) -> Vec<(i32, String)> {
    r.events
        .iter()
        .map(|e| {
            let k = e.kv.as_ref().map(|kv| kv.key.clone()).unwrap_or_default();
            (e.r#type, String::from_utf8(k).unwrap())
        })
        .collect()
}

fn revision(r: &PbWatchResponse) -> Revision {
    r.header.unwrap().revision
}

#[tokio::test]
async fn created_then_live_events_in_order() {
    let fake = Fake::new();
    fake.publish(vec![put("x")]);
    let mut c = connect(&fake, LONG);
    send(
        &c,
        create(Opts {
            key: "a/",
            prefix: true,
            ..Default::default()
        }),
    )
    .await;
    let created = recv(&mut c).await;
    assert!(created.created && !created.canceled);
    assert_eq!((created.watch_id, revision(&created)), (0, 1));
    let h = created.header.unwrap();
    assert_eq!((h.cluster_id, h.member_id, h.raft_term), (11, 22, 3));

    fake.publish(vec![put("a/1"), put("b")]);
    fake.publish(vec![put("zzz")]);
    fake.publish(vec![del("a/1"), put("a/2")]);
    let r = recv(&mut c).await;
    assert_eq!((r.watch_id, revision(&r)), (0, 2));
    assert_eq!(keys(&r), vec![(0, "a/1".to_string())]);
    assert!(r.events[0].prev_kv.is_none(), "prev_kv not requested");
    let r = recv(&mut c).await;
    assert_eq!(revision(&r), 4);
    assert_eq!(
        keys(&r),
        vec![(1, "a/1".to_string()), (0, "a/2".to_string())]
    );
    assert_silent(&mut c).await;
}

#[tokio::test]
async fn watch_ids_auto_requested_and_refused() {
    let fake = Fake::new();
    let mut c = connect(&fake, LONG);
    let mut ids = Vec::new();
    for watch_id in [0, 0, 7] {
        send(
            &c,
            create(Opts {
                key: "k",
                watch_id,
                ..Default::default()
            }),
        )
        .await;
        let r = recv(&mut c).await;
        assert!(r.created && !r.canceled);
        ids.push(r.watch_id);
    }
    assert_eq!(ids, vec![0, 1, 7]);

    send(
        &c,
        create(Opts {
            key: "k",
            watch_id: 7,
            ..Default::default()
        }),
    )
    .await;
    let dup = recv(&mut c).await;
    assert!(dup.created && dup.canceled);
    assert_eq!(dup.watch_id, -1);
    assert_eq!(
        dup.cancel_reason,
        "mvcc: duplicate watch ID provided on the WatchStream"
    );

    let backwards = Opts {
        key: "b",
        range_end: Some(b"a".to_vec()),
        ..Default::default()
    };
    send(&c, create(backwards)).await;
    let empty = recv(&mut c).await;
    assert!(empty.created && empty.canceled);
    assert_eq!(empty.cancel_reason, "mvcc: watcher range is empty");

    send(
        &c,
        create(Opts {
            key: "k",
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(recv(&mut c).await.watch_id, 2);

    // Both watches on "k" see the event, each under its own id.
    fake.publish(vec![put("k")]);
    let mut got: Vec<i64> = Vec::new();
    for _ in 0..4 {
        got.push(recv(&mut c).await.watch_id);
    }
    got.sort();
    assert_eq!(got, vec![0, 1, 2, 7]);
}

#[tokio::test]
async fn replay_with_prev_kv_and_filters_then_live() {
    let fake = Fake::new();
    fake.publish(vec![put("a")]); // 1
    fake.publish(vec![del("a")]); // 2
    fake.publish(vec![put("a")]); // 3
    fake.publish(vec![del("a")]); // 4
    let mut c = connect(&fake, LONG);
    let opts = Opts {
        key: "a",
        start: 2,
        prev_kv: true,
        filters: vec![0],
        ..Default::default()
    };
    send(&c, create(opts)).await;
    assert!(recv(&mut c).await.created);
    for rev in [2, 4] {
        let r = recv(&mut c).await;
        assert_eq!(revision(&r), rev);
        assert_eq!(keys(&r), vec![(1, "a".to_string())]);
        assert_eq!(r.events[0].prev_kv.as_ref().unwrap().key, b"a");
    }
    fake.publish(vec![put("a")]); // 5: filtered out (NOPUT)
    fake.publish(vec![del("a")]); // 6
    assert_eq!(revision(&recv(&mut c).await), 6);
    assert_silent(&mut c).await;
}

#[tokio::test]
async fn compacted_start_revision_is_canceled_with_compact_revision() {
    let fake = Fake::new();
    for _ in 0..6 {
        fake.publish(vec![put("a")]);
    }
    fake.compact(5);
    let mut c = connect(&fake, LONG);
    send(
        &c,
        create(Opts {
            key: "a",
            start: 2,
            ..Default::default()
        }),
    )
    .await;
    let created = recv(&mut c).await;
    assert!(created.created && !created.canceled);
    let r = recv(&mut c).await;
    assert_eq!(r.watch_id, created.watch_id);
    assert!(r.canceled);
    assert_eq!(r.compact_revision, 5);
    assert_eq!(
        r.cancel_reason,
        "etcdserver: mvcc: required revision has been compacted"
    );
    // At the compaction revision it works.
    send(
        &c,
        create(Opts {
            key: "a",
            start: 5,
            ..Default::default()
        }),
    )
    .await;
    assert!(recv(&mut c).await.created);
    assert_eq!(revision(&recv(&mut c).await), 5);
    assert_eq!(revision(&recv(&mut c).await), 6);
}

#[tokio::test]
async fn cancel_stops_events() {
    let fake = Fake::new();
    let mut c = connect(&fake, LONG);
    send(
        &c,
        create(Opts {
            key: "a",
            ..Default::default()
        }),
    )
    .await;
    let id = recv(&mut c).await.watch_id;
    fake.publish(vec![put("a")]);
    assert_eq!(keys(&recv(&mut c).await).len(), 1);
    send(&c, cancel(id)).await;
    let r = recv(&mut c).await;
    assert!(r.canceled && !r.created);
    assert_eq!(r.watch_id, id);
    fake.publish(vec![put("a")]);
    assert_silent(&mut c).await;
    // Unknown ids get no answer, as in etcd.
    send(&c, cancel(99)).await;
    assert_silent(&mut c).await;
}

#[tokio::test]
async fn progress_request_follows_delivered_events() {
    let fake = Fake::new();
    let mut c = connect(&fake, LONG);
    // No watches: the published revision.
    fake.publish(vec![put("x")]);
    send(&c, progress()).await;
    let r = recv(&mut c).await;
    assert_eq!((r.watch_id, revision(&r)), (-1, 1));
    assert!(r.events.is_empty() && !r.created && !r.canceled);

    send(
        &c,
        create(Opts {
            key: "a",
            ..Default::default()
        }),
    )
    .await;
    assert!(recv(&mut c).await.created);
    fake.publish(vec![put("a")]); // 2
    fake.publish(vec![put("b")]); // 3
    send(&c, progress()).await;
    // The event of revision 2 must come before a progress claiming >= 2.
    let ev = recv(&mut c).await;
    assert_eq!((ev.watch_id, revision(&ev)), (0, 2));
    let p = recv(&mut c).await;
    assert_eq!((p.watch_id, revision(&p)), (-1, 3));
    assert!(p.events.is_empty());

    // The request is read before the watch task has seen revision 4: the
    // answer (4) must still come after the event.
    send(&c, progress()).await;
    fake.publish(vec![put("a")]); // 4
    let ev = recv(&mut c).await;
    assert_eq!((ev.watch_id, revision(&ev)), (0, 4), "event first");
    let p = recv(&mut c).await;
    assert_eq!((p.watch_id, revision(&p)), (-1, 4));
}

#[tokio::test]
async fn progress_notify_is_periodic_when_quiet() {
    let fake = Fake::new();
    let mut c = connect(&fake, Duration::from_millis(50));
    let opts = Opts {
        key: "a",
        progress_notify: true,
        ..Default::default()
    };
    send(&c, create(opts)).await;
    send(
        &c,
        create(Opts {
            key: "a",
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(recv(&mut c).await.watch_id, 0);
    assert_eq!(recv(&mut c).await.watch_id, 1);
    fake.publish(vec![put("other")]);
    let r = recv(&mut c).await;
    assert_eq!(
        (r.watch_id, revision(&r)),
        (0, 1),
        "only the progress_notify watch"
    );
    assert!(r.events.is_empty() && !r.canceled);
    let r = recv(&mut c).await;
    assert_eq!(r.watch_id, 0);
}

#[tokio::test]
async fn closing_the_request_side_ends_the_stream_and_tasks() {
    let fake = Fake::new();
    let mut c = connect(&fake, LONG);
    for _ in 0..3 {
        send(
            &c,
            create(Opts {
                key: "a",
                ..Default::default()
            }),
        )
        .await;
        assert!(recv(&mut c).await.created);
    }
    assert!(Arc::strong_count(&fake) > 1);
    let (tx, mut out) = c;
    drop(tx);
    let end = timeout(Duration::from_secs(5), out.next()).await.unwrap();
    assert!(end.is_none(), "stream should end, got {end:?}");
    // Session and watch tasks are gone, releasing the source.
    for _ in 0..100 {
        if Arc::strong_count(&fake) == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("tasks still hold the source: {}", Arc::strong_count(&fake));
}

#[tokio::test]
async fn node_shutdown_ends_rpc_with_unavailable() {
    let fake = Fake::new();
    let mut c = connect(&fake, LONG);
    send(
        &c,
        create(Opts {
            key: "a",
            ..Default::default()
        }),
    )
    .await;
    assert!(recv(&mut c).await.created);
    fake.shutdown();
    match timeout(Duration::from_secs(5), c.1.next()).await {
        Ok(Some(Err(s))) => {
            assert_eq!(s.code(), tonic::Code::Unavailable);
            assert_eq!(s.message(), "etcdserver: server stopped");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn sync_delivers_queued_batches_before_answering() {
    let fake = Fake::new();
    let spec = WatchSpec {
        range: KeyRange::single("a"),
        start_revision: 1,
        progress_notify: false,
        no_put: false,
        no_delete: false,
        prev_kv: false,
        watch_id: 0,
    };
    let stream = fake.subscribe(spec.range.clone(), 1).unwrap();
    fake.publish(vec![put("a")]); // 1
    fake.publish(vec![put("b")]); // 2
    fake.publish(vec![put("a")]); // 3
    let (out, mut rx) = mpsc::channel(8);
    let mut w = Watcher {
        id: 5,
        spec,
        source: fake.clone(),
        stream,
        out,
        last_revision: 0,
    };
    assert_eq!(w.sync().await, Some(3));
    // Both queued events were sent before sync answered.
    for rev in [1, 3] {
        let r = rx.try_recv().unwrap().unwrap();
        assert_eq!((r.watch_id, revision(&r)), (5, rev));
    }
    assert!(rx.try_recv().is_err());
}

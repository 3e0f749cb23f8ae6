//! [`Kv`] over the etcd v3 gRPC API, for real etcd (3.4+) and for
//! `vitrail control`, which serves the same API.
//!
//! Only plain etcd semantics are used: compares on create/mod revision,
//! txns, prefix ranges and watches, leases. The client balances over all
//! given endpoints: it keeps one connection per endpoint (each reconnecting
//! by itself), sends requests to the endpoint that last worked, and moves to
//! the next one when a request fails in a way that is safe to repeat — any
//! failure of a read or a lease refresh, but for writes only a failure to
//! connect at all (a write that may have reached the server is never
//! repeated: its outcome is unknown, so the caller gets
//! [`Error::Unavailable`] and re-reads). Watch streams end with an error when
//! their connection breaks; [`super::watch_resuming`] resumes them.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, KeyValue, PutOptions, Txn,
    TxnOp as EtcdOp, TxnOpResponse, WatchOptions,
};
use futures::StreamExt;

use super::{
    check_distinct_keys, check_precondition, Error, Kv, LeaseId, Listing, Result, Revision, TxnOp,
    Version, Versioned, WatchEvent, WatchStream,
};

/// How long one unary request may take before it counts as unavailable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// An etcd-v3 API client. Cheap to clone.
#[derive(Clone)]
pub struct EtcdKv {
    inner: Arc<Inner>,
}

struct Inner {
    /// One client per endpoint, in the order given.
    clients: Vec<Client>,
    /// Index of the endpoint that last answered.
    current: AtomicUsize,
}

/// When a failed request may be sent again to another endpoint.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// Reads, lease refreshes, watch creation: always safe.
    Always,
    /// Writes: only if the request never reached a server.
    IfNotSent,
}

impl EtcdKv {
    /// Connect to `endpoints` (`host:port` or `http://host:port`). Connection
    /// is lazy: this succeeds even if no endpoint is up yet.
    pub async fn connect<S: AsRef<str>>(endpoints: &[S]) -> Result<EtcdKv> {
        let endpoints: Vec<&str> = endpoints.iter().map(AsRef::as_ref).collect();
        if endpoints.is_empty() {
            return Err(Error::Other("no etcd endpoints given".into()));
        }
        let options = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT)
            .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2))
            .with_keep_alive_while_idle(true)
            // Fail watches on a member cut off from its leader instead of
            // silently delivering nothing.
            .with_require_leader(true);
        let mut clients = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            let client = Client::connect([endpoint], Some(options.clone()))
                .await
                .map_err(map_err)?;
            clients.push(client);
        }
        Ok(EtcdKv {
            inner: Arc::new(Inner {
                clients,
                current: AtomicUsize::new(0),
            }),
        })
    }

    /// Parse a `--control 127.0.0.1:2379,127.0.0.1:2479` style list.
    pub async fn connect_list(list: &str) -> Result<EtcdKv> {
        let endpoints: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        EtcdKv::connect(&endpoints).await
    }

    /// A client for the endpoint currently in use, for administrative calls
    /// outside [`Kv`].
    pub fn client(&self) -> Client {
        let i = self.inner.current.load(Ordering::Relaxed) % self.inner.clients.len();
        self.inner.clients[i].clone()
    }

    /// Run `f` against the current endpoint, moving on to the others when it
    /// fails in a way `repeat` allows.
    async fn call<T, F, Fut>(&self, repeat: Repeat, f: F) -> Result<T>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let n = self.inner.clients.len();
        let start = self.inner.current.load(Ordering::Relaxed);
        let mut last = Error::Unavailable("no endpoint answered".into());
        for attempt in 0..n {
            let i = (start + attempt) % n;
            match f(self.inner.clients[i].clone()).await {
                Ok(v) => {
                    if attempt > 0 {
                        self.inner.current.store(i, Ordering::Relaxed);
                    }
                    return Ok(v);
                }
                Err(e) => {
                    let may_repeat = repeat == Repeat::Always || never_sent(&e);
                    let e = map_err(e);
                    if !(may_repeat && e.is_retryable()) {
                        return Err(e);
                    }
                    tracing::debug!(endpoint = i, error = %e, "etcd endpoint failed, trying next");
                    last = e;
                }
            }
        }
        Err(last)
    }
}

/// Whether the request certainly never reached a server (so repeating a
/// write elsewhere cannot apply it twice).
fn never_sent(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::TransportError(_) => true,
        etcd_client::Error::GRpcStatus(status) => {
            status.code() == tonic::Code::Unavailable && {
                let m = status.message().to_ascii_lowercase();
                m.contains("connect") || m.contains("connection refused")
            }
        }
        _ => false,
    }
}

/// Classify a client error by what the caller must do.
fn map_err(e: etcd_client::Error) -> Error {
    use etcd_client::Error as E;
    use tonic::Code;
    match e {
        E::GRpcStatus(status) => match status.code() {
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Aborted
            | Code::ResourceExhausted
            | Code::Unknown => Error::Unavailable(status.message().to_string()),
            Code::NotFound if status.message().contains("lease not found") => Error::LeaseLost,
            Code::OutOfRange if status.message().contains("compacted") => Error::Compacted {
                requested: Revision(0),
                compact_revision: Revision(0),
            },
            _ => Error::Other(format!("{:?}: {}", status.code(), status.message())),
        },
        E::TransportError(e) => Error::Unavailable(e.to_string()),
        E::IoError(e) => Error::Unavailable(e.to_string()),
        E::LeaseKeepAliveError(m) if m.contains("not found") => Error::LeaseLost,
        E::LeaseKeepAliveError(m) | E::WatchError(m) => Error::Unavailable(m),
        other => Error::Other(other.to_string()),
    }
}

fn versioned(kv: &KeyValue) -> Versioned {
    Versioned {
        value: kv.value().to_vec(),
        version: Version(kv.mod_revision()),
        create_revision: Revision(kv.create_revision()),
        lease: (kv.lease() != 0).then_some(LeaseId(kv.lease())),
    }
}

fn key_string(kv: &KeyValue) -> Result<String> {
    String::from_utf8(kv.key().to_vec()).map_err(|_| Error::Other("non-UTF-8 key in store".into()))
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Result<Revision> {
    header
        .map(|h| Revision(h.revision()))
        .ok_or_else(|| Error::Other("response without header".into()))
}

/// The etcd compares that express `op`'s precondition.
fn compares(op: &TxnOp) -> Vec<Compare> {
    let key = op.key();
    let exists = || Compare::create_revision(key, CompareOp::Greater, 0);
    let at = |v: Version| Compare::mod_revision(key, CompareOp::Equal, v.0);
    match op {
        TxnOp::Create { .. } => vec![Compare::create_revision(key, CompareOp::Equal, 0)],
        TxnOp::Update {
            expected_version: None,
            ..
        } => vec![],
        TxnOp::Update {
            expected_version: Some(v),
            ..
        }
        | TxnOp::Delete {
            expected_version: Some(v),
            ..
        }
        | TxnOp::Check { version: v, .. } => vec![exists(), at(*v)],
        TxnOp::Delete {
            expected_version: None,
            ..
        } => vec![exists()],
    }
}

fn write(op: &TxnOp) -> Option<EtcdOp> {
    match op {
        TxnOp::Create { key, value, lease } => Some(EtcdOp::put(
            key.as_str(),
            value.clone(),
            lease.map(|l| PutOptions::new().with_lease(l.0)),
        )),
        TxnOp::Update { key, value, .. } => Some(EtcdOp::put(key.as_str(), value.clone(), None)),
        TxnOp::Delete { key, .. } => Some(EtcdOp::delete(key.as_str(), None)),
        TxnOp::Check { .. } => None,
    }
}

#[async_trait]
impl Kv for EtcdKv {
    async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        let resp = self
            .call(
                Repeat::Always,
                |mut c| async move { c.get(key, None).await },
            )
            .await?;
        Ok(resp.kvs().first().map(versioned))
    }

    async fn create(&self, key: &str, value: Vec<u8>, lease: Option<LeaseId>) -> Result<Version> {
        let op = TxnOp::Create {
            key: key.to_string(),
            value,
            lease,
        };
        self.txn(vec![op]).await.map(|r| Version(r.0))
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected_version: Option<Version>,
    ) -> Result<Version> {
        let op = TxnOp::Update {
            key: key.to_string(),
            value,
            expected_version,
        };
        self.txn(vec![op]).await.map(|r| Version(r.0))
    }

    async fn delete(&self, key: &str, expected_version: Option<Version>) -> Result<()> {
        let op = TxnOp::Delete {
            key: key.to_string(),
            expected_version,
        };
        self.txn(vec![op]).await.map(|_| ())
    }

    async fn list(&self, prefix: &str) -> Result<Listing> {
        let options = if prefix.is_empty() {
            GetOptions::new().with_all_keys()
        } else {
            GetOptions::new().with_prefix()
        };
        let resp = self
            .call(Repeat::Always, |mut c| {
                let options = options.clone();
                async move { c.get(prefix, Some(options)).await }
            })
            .await?;
        let mut entries = Vec::with_capacity(resp.kvs().len());
        for kv in resp.kvs() {
            entries.push((key_string(kv)?, versioned(kv)));
        }
        Ok(Listing {
            entries,
            revision: header_revision(resp.header())?,
        })
    }

    async fn txn(&self, ops: Vec<TxnOp>) -> Result<Revision> {
        check_distinct_keys(&ops)?;
        let when: Vec<Compare> = ops.iter().flat_map(compares).collect();
        let then: Vec<EtcdOp> = ops.iter().filter_map(write).collect();
        // On failure read every key (at the same revision as the compares) to
        // say which precondition failed.
        let or_else: Vec<EtcdOp> = ops.iter().map(|op| EtcdOp::get(op.key(), None)).collect();
        let txn = Txn::new().when(when).and_then(then).or_else(or_else);
        let resp = self
            .call(Repeat::IfNotSent, |mut c| {
                let txn = txn.clone();
                async move { c.txn(txn).await }
            })
            .await?;
        if resp.succeeded() {
            return header_revision(resp.header());
        }
        for (op, read) in ops.iter().zip(resp.op_responses()) {
            let current = match read {
                TxnOpResponse::Get(g) => g.kvs().first().map(versioned),
                _ => return Err(Error::Other("unexpected txn response".into())),
            };
            check_precondition(op, current.as_ref())?;
        }
        Err(Error::BadVersion(
            ops.first()
                .map(|op| op.key().to_string())
                .unwrap_or_default(),
        ))
    }

    async fn watch_prefix(&self, prefix: &str, from: Revision) -> Result<WatchStream> {
        let mut options = WatchOptions::new().with_start_revision(from.0);
        options = if prefix.is_empty() {
            options.with_all_keys()
        } else {
            options.with_prefix()
        };
        // The first response confirms creation (or reports compaction).
        let (stream, first) = self
            .call(Repeat::Always, |mut c| {
                let options = options.clone();
                async move {
                    let mut stream = c.watch(prefix, Some(options)).await?;
                    let first = stream.message().await?;
                    Ok((stream, first))
                }
            })
            .await?;
        match first {
            Some(resp) if resp.canceled() => {
                return Err(cancel_error(&resp, from));
            }
            Some(_) => {}
            None => return Err(Error::Unavailable("watch stream closed".into())),
        }
        let events = futures::stream::unfold(Some(stream), move |state| async move {
            let mut stream = state?;
            loop {
                match stream.message().await {
                    Ok(Some(resp)) if resp.canceled() => {
                        return Some((vec![Err(cancel_error(&resp, from))], None));
                    }
                    Ok(Some(resp)) => {
                        let batch: Vec<Result<WatchEvent>> =
                            resp.events().iter().filter_map(convert_event).collect();
                        if !batch.is_empty() {
                            return Some((batch, Some(stream)));
                        }
                        // progress notification: nothing to deliver
                    }
                    Ok(None) => {
                        let e = Error::Unavailable("watch stream closed".into());
                        return Some((vec![Err(e)], None));
                    }
                    Err(e) => return Some((vec![Err(map_err(e))], None)),
                }
            }
        });
        Ok(events.flat_map(futures::stream::iter).boxed())
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId> {
        let secs = ttl.as_secs_f64().ceil().max(1.0) as i64;
        let resp = self
            .call(Repeat::IfNotSent, |mut c| async move {
                c.lease_grant(secs, None).await
            })
            .await?;
        Ok(LeaseId(resp.id()))
    }

    async fn lease_keep_alive(&self, id: LeaseId) -> Result<Duration> {
        // Opening the keep-alive stream sends one refresh and checks that the
        // lease exists; the reply's TTL comes with a second refresh.
        let reply = self
            .call(Repeat::Always, |mut c| async move {
                let (mut keeper, mut stream) = c.lease_keep_alive(id.0).await?;
                keeper.keep_alive().await?;
                stream.message().await
            })
            .await?;
        match reply {
            Some(resp) if resp.ttl() > 0 => Ok(Duration::from_secs(resp.ttl() as u64)),
            Some(_) => Err(Error::LeaseLost),
            None => Err(Error::Unavailable("keep-alive stream closed".into())),
        }
    }

    async fn lease_revoke(&self, id: LeaseId) -> Result<()> {
        self.call(
            Repeat::Always,
            |mut c| async move { c.lease_revoke(id.0).await },
        )
        .await?;
        Ok(())
    }
}

fn cancel_error(resp: &etcd_client::WatchResponse, from: Revision) -> Error {
    if resp.compact_revision() > 0 {
        Error::Compacted {
            requested: from,
            compact_revision: Revision(resp.compact_revision()),
        }
    } else {
        Error::Unavailable(format!("watch canceled: {}", resp.cancel_reason()))
    }
}

fn convert_event(event: &etcd_client::Event) -> Option<Result<WatchEvent>> {
    let kv = event.kv()?;
    let key = match key_string(kv) {
        Ok(k) => k,
        Err(e) => return Some(Err(e)),
    };
    Some(Ok(match event.event_type() {
        EventType::Put => WatchEvent::Put {
            key,
            value: kv.value().to_vec(),
            version: Version(kv.mod_revision()),
            create_revision: Revision(kv.create_revision()),
        },
        EventType::Delete => WatchEvent::Delete {
            key,
            revision: Revision(kv.mod_revision()),
        },
    }))
}

#[cfg(test)]
mod tests {
    use tonic::{Code, Status};

    use super::*;

    fn status(code: Code, message: &str) -> etcd_client::Error {
        etcd_client::Error::GRpcStatus(Status::new(code, message))
    }

    #[test]
    fn errors_are_classified_by_what_the_caller_must_do() {
        assert!(map_err(status(Code::Unavailable, "etcdserver: no leader")).is_retryable());
        assert!(map_err(status(Code::DeadlineExceeded, "timeout")).is_retryable());
        assert_eq!(
            map_err(status(
                Code::NotFound,
                "etcdserver: requested lease not found"
            )),
            Error::LeaseLost
        );
        assert!(matches!(
            map_err(status(Code::InvalidArgument, "etcdserver: bad key")),
            Error::Other(_)
        ));
    }

    #[test]
    fn only_unsent_writes_are_repeated() {
        assert!(never_sent(&status(Code::Unavailable, "tcp connect error")));
        assert!(!never_sent(&status(
            Code::Unavailable,
            "etcdserver: leader changed"
        )));
        assert!(!never_sent(&status(Code::Unknown, "h2 protocol error")));
    }
}

//! How the gate reaches tablets' query services: one lazily connected gRPC
//! channel per address, or — for tablets running in this very process
//! (`vitrail up`, like Vitess's vtcombo) — the tablet's query engine called
//! directly.
//!
//! The in-process path skips everything between the two engines: no
//! protobuf, no HTTP/2 body, no task and channel per stream. Rows a tablet
//! streams are written to the client by the tablet's own task, chunk by
//! chunk (see [`RowSink`]). Under sysbench the gRPC hop, even in memory,
//! cost more CPU per point select than MariaDB did. Errors keep one
//! meaning on both paths: a local error becomes the gRPC status the tablet
//! would have sent ([`tablet::grpc::status_from`]), which the executor
//! classifies the same way.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Mutex;
use std::time::Duration;

use tablet::grpc::pb;
use tablet::grpc::pb::query_service_client::QueryServiceClient;
use tablet::grpc::{bind_vars_to_pb, status_from};
use tablet::query::bind::BindValue;
use tablet::query::{ChunkSink, LaneKey, QueryEngine, SinkClosed, StreamChunk};
use tonic::transport::{Channel, Endpoint};
use tonic::Status;

use super::error::ExecError;
use super::result::{Cell, Col, ResultSet};

/// Where a streamed result goes, chunk by chunk: the client's connection.
pub trait RowSink: Send {
    /// The columns, first thing from every shard (with no rows yet).
    fn columns(&mut self, cols: Vec<Col>) -> impl Future<Output = io::Result<()>> + Send;
    fn rows(&mut self, rows: Vec<Vec<Cell>>) -> impl Future<Output = io::Result<()>> + Send;
    /// Whether rows (or a header) went out: a failed statement can then no
    /// longer be sent again.
    fn started(&self) -> bool;
}

/// How a stream failed: at the tablet, or writing to the client.
#[derive(Debug)]
pub enum StreamFailure {
    Tablet(Status),
    Client(io::Error),
}

/// One tablet's query service.
#[derive(Clone)]
pub enum TabletClient {
    /// gRPC over the network: the normal case.
    Remote(QueryServiceClient<Channel>),
    /// A tablet in this process.
    Local(QueryEngine),
}

impl TabletClient {
    /// Runs `sql` (with values for its `:name` placeholders) in transaction
    /// `transaction_id` (0: autocommit).
    pub async fn execute(
        &mut self,
        sql: &str,
        vars: &BindVars,
        transaction_id: u64,
    ) -> Result<ResultSet, Status> {
        match self {
            TabletClient::Remote(c) => {
                let req = pb::ExecuteRequest {
                    query: Some(pb::BoundQuery {
                        sql: sql.to_string(),
                        bind_variables: bind_vars_to_pb(vars),
                    }),
                    transaction_id,
                    options: None,
                };
                let r = c.execute(req).await?.into_inner();
                Ok(ResultSet::from_pb(r.result.unwrap_or_default()))
            }
            TabletClient::Local(e) => e
                .execute(sql, vars, transaction_id, None)
                .await
                .map(ResultSet::from_tablet)
                .map_err(status_from),
        }
    }

    pub async fn begin(&mut self) -> Result<u64, Status> {
        match self {
            TabletClient::Remote(c) => Ok(c
                .begin(pb::BeginRequest { options: None })
                .await?
                .into_inner()
                .transaction_id),
            TabletClient::Local(e) => e.begin().await.map_err(status_from),
        }
    }

    pub async fn commit(&mut self, transaction_id: u64) -> Result<(), Status> {
        match self {
            TabletClient::Remote(c) => c
                .commit(pb::CommitRequest { transaction_id })
                .await
                .map(|_| ()),
            TabletClient::Local(e) => e.commit(transaction_id).await.map_err(status_from),
        }
    }

    pub async fn rollback(&mut self, transaction_id: u64) -> Result<(), Status> {
        match self {
            TabletClient::Remote(c) => c
                .rollback(pb::RollbackRequest { transaction_id })
                .await
                .map(|_| ()),
            TabletClient::Local(e) => e.rollback(transaction_id).await.map_err(status_from),
        }
    }

    /// Streams `sql`'s result into `sink`: its columns, then its rows.
    pub async fn stream<S: RowSink>(
        &mut self,
        sql: &str,
        vars: &BindVars,
        sink: &mut S,
    ) -> Result<(), StreamFailure> {
        match self {
            TabletClient::Remote(c) => {
                let req = pb::StreamExecuteRequest {
                    query: Some(pb::BoundQuery {
                        sql: sql.to_string(),
                        bind_variables: bind_vars_to_pb(vars),
                    }),
                    options: None,
                };
                let mut stream = c
                    .stream_execute(req)
                    .await
                    .map_err(StreamFailure::Tablet)?
                    .into_inner();
                let mut first = true;
                while let Some(m) = stream.message().await.map_err(StreamFailure::Tablet)? {
                    let r = ResultSet::from_pb(m.result.unwrap_or_default());
                    if first {
                        first = false;
                        sink.columns(r.columns)
                            .await
                            .map_err(StreamFailure::Client)?;
                    }
                    if !r.rows.is_empty() {
                        sink.rows(r.rows).await.map_err(StreamFailure::Client)?;
                    }
                }
                Ok(())
            }
            TabletClient::Local(e) => {
                let mut local = LocalSink { sink, failed: None };
                let r = e.stream_into(sql, vars, None, &mut local).await;
                if let Some(io) = local.failed {
                    return Err(StreamFailure::Client(io));
                }
                r.map_err(|e| StreamFailure::Tablet(status_from(e)))
            }
        }
    }
}

/// Values for a statement's `:name` placeholders.
pub type BindVars = HashMap<String, BindValue>;

/// The tablet's chunks, handed to the gate's sink as they come.
struct LocalSink<'s, S> {
    sink: &'s mut S,
    /// Why the client stopped taking rows.
    failed: Option<io::Error>,
}

impl<S: RowSink> ChunkSink for LocalSink<'_, S> {
    async fn chunk(&mut self, chunk: StreamChunk) -> Result<(), SinkClosed> {
        let r = match chunk {
            StreamChunk::Columns(c) => {
                let cols = c.iter().map(Col::from_tablet).collect();
                self.sink.columns(cols).await
            }
            StreamChunk::Rows(rows) => self.sink.rows(rows).await,
        };
        r.map_err(|e| {
            self.failed = Some(e);
            SinkClosed
        })
    }
}

/// Tablets of this process, by the gRPC address they are registered with.
#[derive(Clone, Default)]
pub struct LocalTablets(HashMap<String, QueryEngine>);

impl LocalTablets {
    pub fn insert(&mut self, addr: impl Into<String>, engine: QueryEngine) {
        self.0.insert(addr.into(), engine);
    }
}

impl fmt::Debug for LocalTablets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// gRPC clients are kept per runtime ([`LaneKey`]): a channel's connection
/// is driven by a task on the runtime that opened it, so one shared by the
/// gate's connection threads would make every answer cross threads.
#[derive(Default)]
pub struct TabletConns {
    local: LocalTablets,
    clients: Mutex<HashMap<LaneKey, HashMap<String, TabletClient>>>,
}

impl TabletConns {
    pub fn new(local: LocalTablets) -> TabletConns {
        TabletConns {
            local,
            clients: Mutex::default(),
        }
    }

    pub fn client(&self, addr: &str) -> Result<TabletClient, ExecError> {
        if let Some(engine) = self.local.0.get(addr) {
            return Ok(TabletClient::Local(engine.clone()));
        }
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| ExecError::Unavailable("tablet client table poisoned".into()))?;
        let clients = clients.entry(LaneKey::current()).or_default();
        if let Some(c) = clients.get(addr) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| ExecError::Unavailable(format!("bad tablet address {addr}: {e}")))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true);
        let client = TabletClient::Remote(QueryServiceClient::new(endpoint.connect_lazy()));
        clients.insert(addr.to_string(), client.clone());
        Ok(client)
    }
}

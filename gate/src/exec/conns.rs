//! How the gate reaches tablets' query services: one lazily connected gRPC
//! channel per address, or — for tablets running in this very process
//! (`vitrail up`, like Vitess's vtcombo) — the tablet's gRPC service called
//! in memory.
//!
//! The in-process path keeps the whole gRPC contract (the same generated
//! client, protobuf messages, status codes and streams) and drops only
//! HTTP/2 framing and the loopback socket. Under sysbench that hop was
//! most of the gate's cost: two TCP sends and an HTTP/2 task wake-up per
//! statement on each side.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use tablet::grpc::pb::query_service_client::QueryServiceClient;
use tablet::grpc::pb::query_service_server::QueryServiceServer;
use tablet::grpc::QueryServiceImpl;
use tonic::body::Body;
use tonic::codegen::{http, BoxFuture, Service, StdError};
use tonic::transport::{Channel, Endpoint};

use super::error::ExecError;

/// A client of one tablet's query service.
pub type TabletClient = QueryServiceClient<TabletChannel>;

/// The transport under a [`TabletClient`].
#[derive(Clone)]
pub enum TabletChannel {
    /// gRPC over the network: the normal case.
    Remote(Channel),
    /// A tablet in this process, its service called directly.
    Local(QueryServiceServer<QueryServiceImpl>),
}

impl Service<http::Request<Body>> for TabletChannel {
    type Response = http::Response<Body>;
    type Error = StdError;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            TabletChannel::Remote(c) => c.poll_ready(cx).map_err(Into::into),
            TabletChannel::Local(s) => {
                Service::<http::Request<Body>>::poll_ready(s, cx).map_err(|e| match e {})
            }
        }
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        match self {
            TabletChannel::Remote(c) => {
                let f = c.call(req);
                Box::pin(async move { f.await.map_err(Into::into) })
            }
            TabletChannel::Local(s) => {
                let f = s.call(req);
                Box::pin(async move { f.await.map_err(|e| match e {}) })
            }
        }
    }
}

/// Tablets of this process, by the gRPC address they are registered with.
#[derive(Clone, Default)]
pub struct LocalTablets(HashMap<String, QueryServiceServer<QueryServiceImpl>>);

impl LocalTablets {
    pub fn insert(&mut self, addr: impl Into<String>, svc: QueryServiceServer<QueryServiceImpl>) {
        self.0.insert(addr.into(), svc);
    }
}

impl fmt::Debug for LocalTablets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

#[derive(Default)]
pub struct TabletConns {
    local: LocalTablets,
    clients: Mutex<HashMap<String, TabletClient>>,
}

impl TabletConns {
    pub fn new(local: LocalTablets) -> TabletConns {
        TabletConns {
            local,
            clients: Mutex::default(),
        }
    }

    pub fn client(&self, addr: &str) -> Result<TabletClient, ExecError> {
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| ExecError::Unavailable("tablet client table poisoned".into()))?;
        if let Some(c) = clients.get(addr) {
            return Ok(c.clone());
        }
        let channel = match self.local.0.get(addr) {
            Some(svc) => TabletChannel::Local(svc.clone()),
            None => {
                let endpoint = Endpoint::from_shared(format!("http://{addr}"))
                    .map_err(|e| ExecError::Unavailable(format!("bad tablet address {addr}: {e}")))?
                    .connect_timeout(Duration::from_secs(2))
                    .tcp_nodelay(true);
                TabletChannel::Remote(endpoint.connect_lazy())
            }
        };
        let client = QueryServiceClient::new(channel);
        clients.insert(addr.to_string(), client.clone());
        Ok(client)
    }
}

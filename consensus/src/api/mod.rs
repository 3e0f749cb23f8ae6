//! The etcd v3 gRPC API (KV, Watch, Lease, Cluster, Maintenance) on top of
//! [`Node`], so that `etcdctl` and etcd client libraries work unmodified.
//!
//! Each service lives in its own file and only translates: request →
//! `convert` (validation + domain types) → a `Node` call → `convert` →
//! response; errors become etcd's exact statuses in `error`. Protobuf types
//! never travel further in than this module (STYLE.md §11).
//!
//! Mount [`routes`] (or [`EtcdApi::routes`]) on the client port.

mod cluster;
pub mod convert;
pub mod error;
mod kv;
mod lease;
mod maintenance;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

use etcd_client::proto::{
    PbClusterServer, PbKvServer, PbLeaseServer, PbMaintenanceServer, PbWatchServer,
};
use tonic::service::Routes;

use crate::kv::Revision;
use crate::node::{Header, Node};

/// etcd's default `--max-request-bytes` (1.5 MiB): larger writes are refused
/// with "etcdserver: request is too large".
pub const MAX_REQUEST_BYTES: usize = 1536 * 1024;
/// etcd lets gRPC decode messages up to the request limit plus this much, so
/// that an oversized request reaches the server and gets etcd's own error
/// rather than a transport error.
pub const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// Knobs of the API layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// How often a watch created with `progress_notify` gets an empty
    /// response carrying the current revision when it saw no events
    /// (etcd: 10 minutes).
    pub progress_notify_interval: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            progress_notify_interval: Duration::from_secs(600),
        }
    }
}

/// The five etcd services over one node.
pub struct EtcdApi {
    node: Arc<Node>,
    config: ApiConfig,
}

/// All five services with the default configuration.
pub fn routes(node: Arc<Node>) -> Routes {
    EtcdApi::new(node, ApiConfig::default()).routes()
}

impl EtcdApi {
    pub fn new(node: Arc<Node>, config: ApiConfig) -> Arc<Self> {
        Arc::new(EtcdApi { node, config })
    }

    /// The services ready to mount (`Server::builder().add_routes(..)`).
    pub fn routes(self: Arc<Self>) -> Routes {
        let limit = MAX_REQUEST_BYTES + GRPC_OVERHEAD_BYTES;
        Routes::new(PbKvServer::from_arc(self.clone()).max_decoding_message_size(limit))
            .add_service(PbWatchServer::from_arc(self.clone()).max_decoding_message_size(limit))
            .add_service(PbLeaseServer::from_arc(self.clone()).max_decoding_message_size(limit))
            .add_service(PbClusterServer::from_arc(self.clone()).max_decoding_message_size(limit))
            .add_service(PbMaintenanceServer::from_arc(self).max_decoding_message_size(limit))
    }

    fn header(&self, revision: Revision) -> Header {
        self.node.header(revision)
    }

    /// Header for responses that do not come from a particular write.
    fn current_header(&self) -> Header {
        self.node.header(self.node.revision())
    }
}

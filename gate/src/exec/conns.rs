//! gRPC clients to tablets, one lazily connected channel per address.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tablet::grpc::pb::query_service_client::QueryServiceClient;
use tonic::transport::{Channel, Endpoint};

use super::error::ExecError;

#[derive(Default)]
pub struct TabletConns {
    clients: Mutex<HashMap<String, QueryServiceClient<Channel>>>,
}

impl TabletConns {
    pub fn client(&self, addr: &str) -> Result<QueryServiceClient<Channel>, ExecError> {
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| ExecError::Unavailable("tablet client table poisoned".into()))?;
        if let Some(c) = clients.get(addr) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| ExecError::Unavailable(format!("bad tablet address {addr}: {e}")))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true);
        let client = QueryServiceClient::new(endpoint.connect_lazy());
        clients.insert(addr.to_string(), client.clone());
        Ok(client)
    }
}

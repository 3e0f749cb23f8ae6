//! The receiving side of peer traffic.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::pb::peer_server::{Peer, PeerServer};
use super::pb::Blob;
use super::ForwardRequest;
use crate::node::Node;

pub struct PeerService {
    node: Arc<Node>,
}

pub fn service(node: Arc<Node>) -> PeerServer<PeerService> {
    PeerServer::new(PeerService { node })
        .max_decoding_message_size(256 << 20)
        .max_encoding_message_size(256 << 20)
}

fn decode<T: serde::de::DeserializeOwned>(b: &Blob) -> Result<T, Status> {
    bincode::deserialize(&b.data)
        .map_err(|e| Status::invalid_argument(format!("undecodable peer message: {e}")))
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Response<Blob>, Status> {
    bincode::serialize(v)
        .map(|data| Response::new(Blob { data }))
        .map_err(|e| Status::internal(e.to_string()))
}

#[tonic::async_trait]
impl Peer for PeerService {
    async fn append_entries(&self, req: Request<Blob>) -> Result<Response<Blob>, Status> {
        let rpc = decode(req.get_ref())?;
        encode(&self.node.raft().append_entries(rpc).await)
    }

    async fn vote(&self, req: Request<Blob>) -> Result<Response<Blob>, Status> {
        let rpc = decode(req.get_ref())?;
        encode(&self.node.raft().vote(rpc).await)
    }

    async fn install_snapshot(&self, req: Request<Blob>) -> Result<Response<Blob>, Status> {
        let rpc = decode(req.get_ref())?;
        encode(&self.node.raft().install_snapshot(rpc).await)
    }

    async fn forward(&self, req: Request<Blob>) -> Result<Response<Blob>, Status> {
        let fwd: ForwardRequest = decode(req.get_ref())?;
        encode(&self.node.handle_forward(fwd).await)
    }
}

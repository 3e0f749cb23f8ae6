//! The sending side: one lazily-connected tonic channel per peer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use tonic::transport::{Channel, Endpoint};

use super::pb::peer_client::PeerClient;
use super::pb::Blob;
use super::{Filter, ForwardRequest, ForwardResult};
use crate::node::NodeError;
use crate::raft_types::{Member, NodeId, TypeConfig};

/// Shared cache of channels, keyed by peer address.
#[derive(Clone, Default)]
pub struct Channels {
    inner: Arc<Mutex<HashMap<String, Channel>>>,
    /// Source address for outgoing peer connections: a member that listens
    /// on 127.0.0.2 also sends from 127.0.0.2, so address-based firewall
    /// rules (and chaos-test partitions) see one address per member.
    local: Option<std::net::IpAddr>,
}

impl Channels {
    /// Channels that connect from the host part of `peer_addr` (unless it
    /// is a wildcard or a name).
    pub fn from_peer_addr(peer_addr: &str) -> Self {
        let local = peer_addr
            .parse::<std::net::SocketAddr>()
            .ok()
            .map(|a| a.ip())
            .filter(|ip| !ip.is_unspecified());
        Channels {
            inner: Arc::default(),
            local,
        }
    }

    pub fn get(&self, addr: &str) -> Result<Channel, String> {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(addr) {
            return Ok(c.clone());
        }
        let ep = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| format!("bad peer address {addr}: {e}"))?
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(5))
            .local_address(self.local);
        let ch = ep.connect_lazy();
        map.insert(addr.to_string(), ch.clone());
        Ok(ch)
    }
}

/// Creates one [`PeerNetwork`] per target for openraft.
#[derive(Clone)]
pub struct NetworkFactory {
    pub self_id: NodeId,
    pub channels: Channels,
    pub filter: Filter,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: NodeId, node: &Member) -> PeerNetwork {
        PeerNetwork {
            self_id: self.self_id,
            target,
            node: node.clone(),
            channels: self.channels.clone(),
            filter: self.filter.clone(),
        }
    }
}

pub struct PeerNetwork {
    self_id: NodeId,
    target: NodeId,
    node: Member,
    channels: Channels,
    filter: Filter,
}

#[derive(Debug)]
struct NetErr(String);
impl std::fmt::Display for NetErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for NetErr {}

/// Where one peer message goes.
pub(crate) struct Route<'a> {
    pub channels: &'a Channels,
    pub filter: &'a Filter,
    pub from: NodeId,
    pub to: NodeId,
    pub addr: &'a str,
}

/// Sends one blob along `route`, honoring the test filter and a deadline.
/// The error says whether the peer was unreachable (the request surely did
/// not arrive) and why.
pub(crate) async fn call(
    route: &Route<'_>,
    method: Method,
    data: Vec<u8>,
    timeout: Duration,
) -> Result<Vec<u8>, (bool, String)> {
    let Route {
        channels,
        filter,
        from,
        to,
        addr,
    } = *route;
    if let Some(f) = filter {
        if !f.allow(from, to) {
            return Err((true, format!("partitioned from {to}")));
        }
    }
    let ch = channels.get(addr).map_err(|e| (true, e))?;
    let mut client = PeerClient::new(ch)
        .max_decoding_message_size(256 << 20)
        .max_encoding_message_size(256 << 20);
    let req = Blob { data };
    let fut = async {
        match method {
            Method::Append => client.append_entries(req).await,
            Method::Vote => client.vote(req).await,
            Method::Snapshot => client.install_snapshot(req).await,
            Method::Forward => client.forward(req).await,
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err((false, format!("timeout after {timeout:?} calling {addr}"))),
        Ok(Err(status)) => {
            let unreachable = matches!(
                status.code(),
                tonic::Code::Unavailable | tonic::Code::Unknown
            );
            Err((unreachable, format!("{addr}: {status}")))
        }
        Ok(Ok(resp)) => {
            if let Some(f) = filter {
                // A partition also drops replies that were in flight.
                if !f.allow(to, from) {
                    return Err((true, format!("partitioned from {to}")));
                }
            }
            Ok(resp.into_inner().data)
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Method {
    Append,
    Vote,
    Snapshot,
    Forward,
}

impl PeerNetwork {
    async fn rpc<Req, Resp, E>(
        &self,
        method: Method,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, Member, E>>
    where
        Req: serde::Serialize,
        Resp: serde::de::DeserializeOwned,
        E: std::error::Error + serde::de::DeserializeOwned,
    {
        let data = bincode::serialize(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let route = Route {
            channels: &self.channels,
            filter: &self.filter,
            from: self.self_id,
            to: self.target,
            addr: &self.node.peer_addr,
        };
        let out = call(&route, method, data, option.hard_ttl()).await;
        let bytes = match out {
            Ok(b) => b,
            Err((true, msg)) => return Err(RPCError::Unreachable(Unreachable::new(&NetErr(msg)))),
            Err((false, msg)) => return Err(RPCError::Network(NetworkError::new(&NetErr(msg)))),
        };
        let res: Result<Resp, E> =
            bincode::deserialize(&bytes).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        res.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

impl RaftNetwork<TypeConfig> for PeerNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        self.rpc(Method::Append, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Member, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.rpc(Method::Snapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        self.rpc(Method::Vote, &rpc, &option).await
    }
}

/// Sends a [`ForwardRequest`] to the leader at `addr`.
pub async fn forward(
    channels: &Channels,
    filter: &Filter,
    from: NodeId,
    to: NodeId,
    addr: &str,
    req: &ForwardRequest,
    timeout: Duration,
) -> ForwardResult {
    let data = bincode::serialize(req).map_err(|e| NodeError::Internal(e.to_string()))?;
    let route = Route {
        channels,
        filter,
        from,
        to,
        addr,
    };
    match call(&route, Method::Forward, data, timeout).await {
        Ok(bytes) => bincode::deserialize::<ForwardResult>(&bytes)
            .map_err(|e| NodeError::Internal(format!("bad forward response: {e}")))?,
        Err((_, msg)) => Err(NodeError::Unavailable(format!("leader unreachable: {msg}"))),
    }
}

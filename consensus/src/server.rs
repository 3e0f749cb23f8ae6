//! A whole control-plane member as one value: the node, its peer gRPC
//! service, its etcd gRPC API and its metrics endpoint, with clean shutdown.
//! `vitrail control` and the in-process cluster tests both start members
//! through [`Server::start`].

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;

use crate::api::{ApiConfig, EtcdApi};
use crate::node::{Node, NodeConfig};

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {what} address {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Node(#[from] crate::node::NodeError),
}

pub struct Server {
    node: Arc<Node>,
    client_addr: SocketAddr,
    peer_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Accepted connections with Nagle off. (`Server::tcp_nodelay` does not
/// apply to `serve_with_incoming*`: without this every small response waited
/// ~40 ms for a delayed ACK — found by the benchmark.)
fn incoming(l: TcpListener) -> TcpIncoming {
    TcpIncoming::from(l).with_nodelay(Some(true))
}

async fn bind(what: &'static str, addr: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind {
            what,
            addr: addr.to_string(),
            source,
        })
}

impl Server {
    /// Binds every port first (a taken port is a clear error before any
    /// state is touched), then starts the node and serves.
    pub async fn start(
        cfg: NodeConfig,
        api: ApiConfig,
        metrics_addr: Option<String>,
    ) -> Result<Server, StartError> {
        let peer_l = bind("peer", &cfg.peer_addr).await?;
        let client_l = bind("client", &cfg.client_addr).await?;
        let metrics_l = match &metrics_addr {
            Some(a) => Some(bind("metrics", a).await?),
            None => None,
        };
        let peer_addr = peer_l.local_addr().map_err(|source| StartError::Bind {
            what: "peer",
            addr: cfg.peer_addr.clone(),
            source,
        })?;
        let client_addr = client_l.local_addr().map_err(|source| StartError::Bind {
            what: "client",
            addr: cfg.client_addr.clone(),
            source,
        })?;
        let node = Node::start(cfg).await?;
        let (stop, _) = watch::channel(false);
        let mut tasks = Vec::new();

        let peer_svc = crate::network::server::service(node.clone());
        let mut rx = stop.subscribe();
        tasks.push(tokio::spawn(async move {
            let res = tonic::transport::Server::builder()
                .add_service(peer_svc)
                .serve_with_incoming_shutdown(incoming(peer_l), async move {
                    let _ = rx.changed().await;
                })
                .await;
            if let Err(e) = res {
                tracing::error!("peer server: {e}");
            }
        }));

        let routes = EtcdApi::new(node.clone(), api).routes();
        let mut rx = stop.subscribe();
        tasks.push(tokio::spawn(async move {
            let res = tonic::transport::Server::builder()
                .add_routes(routes)
                .serve_with_incoming_shutdown(incoming(client_l), async move {
                    let _ = rx.changed().await;
                })
                .await;
            if let Err(e) = res {
                tracing::error!("client server: {e}");
            }
        }));

        if let Some(l) = metrics_l {
            tasks.push(tokio::spawn(serve_metrics(
                l,
                node.clone(),
                stop.subscribe(),
            )));
        }
        Ok(Server {
            node,
            client_addr,
            peer_addr,
            stop,
            tasks,
        })
    }

    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    pub fn client_addr(&self) -> SocketAddr {
        self.client_addr
    }

    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// Stops serving (gracefully, for up to two seconds: open connections
    /// are told to go away), then stops Raft; storage stays consistent.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.node.shutdown().await;
        for mut t in self.tasks {
            if tokio::time::timeout(std::time::Duration::from_secs(2), &mut t)
                .await
                .is_err()
            {
                t.abort();
                let _ = t.await;
            }
        }
    }
}

/// A minimal HTTP/1.1 responder: `GET /metrics` (Prometheus text) and
/// `GET /health` (200 when a leader is known).
async fn serve_metrics(l: TcpListener, node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    loop {
        let (mut sock, _) = tokio::select! {
            r = l.accept() => match r { Ok(s) => s, Err(_) => continue },
            _ = stop.changed() => return,
        };
        let node = node.clone();
        tokio::spawn(async move {
            // Read the request head (up to 8 KiB), whatever the segmentation.
            let mut buf = Vec::with_capacity(1024);
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let req = String::from_utf8_lossy(&buf);
            let path = req.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = match path {
                "/metrics" => ("200 OK", node.render_metrics()),
                "/health" => {
                    if node.status().leader != 0 {
                        ("200 OK", "{\"health\":\"true\"}\n".to_string())
                    } else {
                        (
                            "503 Service Unavailable",
                            "{\"health\":\"false\",\"reason\":\"no leader\"}\n".to_string(),
                        )
                    }
                }
                _ => ("404 Not Found", "not found\n".to_string()),
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        });
    }
}

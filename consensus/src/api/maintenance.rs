//! etcd's Maintenance service: Status, Snapshot, Alarm, Defragment,
//! MoveLeader; Hash/HashKV/Downgrade are not supported.

use std::pin::Pin;

use etcd_client::proto::{
    PbAlarmRequest, PbAlarmResponse, PbDefragmentRequest, PbDefragmentResponse, PbDowngradeRequest,
    PbDowngradeResponse, PbHashKvRequest, PbHashKvResponse, PbHashRequest, PbHashResponse,
    PbMaintenanceService, PbMoveLeaderRequest, PbMoveLeaderResponse, PbSnapshotRequest,
    PbSnapshotResponse, PbStatusRequest, PbStatusResponse,
};
use futures::Stream;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use super::error::Rejected;
use super::{convert, EtcdApi};
use crate::node::{Header, NodeStatus};

/// The version Status reports. etcdctl 3.4 only prints it; clients that
/// compare versions (clientv3's `RejectOldCluster`) parse it as semver, and
/// build metadata (`+vitrail`) keeps it equal to 3.4.0 for comparisons.
pub const ETCD_VERSION: &str = "3.4.0+vitrail";

/// etcd sends snapshots in 32 KiB chunks.
const SNAPSHOT_CHUNK: usize = 32 * 1024;
/// etcdctl (3.4.2x) recognises the appended checksum by the file size: a
/// bolt file is a whole number of pages, so `size % 512 == 32` means "data +
/// sha256", and anything else is refused ("sha256 checksum not found").
const SNAPSHOT_ALIGN: usize = 512;

/// etcd's Snapshot stream: chunks with the bytes still to come, then one
/// last message whose blob is the SHA-256 of everything before it.
/// `etcdctl snapshot save` writes all blobs (hash included) to the file, so
/// the file is the data followed by its checksum, as with etcd. The data is
/// zero-padded to a multiple of 512 bytes for etcdctl's size check; the
/// snapshot format ends with its own end marker, so `--restore` ignores the
/// padding (and the checksum) after it.
fn snapshot_messages(
    data: Vec<u8>,
    header: Header,
) -> impl Iterator<Item = PbSnapshotResponse> + Send {
    let mut data = data;
    data.resize(data.len().div_ceil(SNAPSHOT_ALIGN) * SNAPSHOT_ALIGN, 0);
    let hash = Sha256::digest(&data).to_vec();
    let total = data.len();
    let chunks = total.div_ceil(SNAPSHOT_CHUNK);
    let header = convert::header(header);
    // Lazy: the snapshot is already in memory once; do not copy it twice.
    (0..=chunks).map(move |i| {
        let (blob, remaining) = if i < chunks {
            let end = ((i + 1) * SNAPSHOT_CHUNK).min(total);
            (data[i * SNAPSHOT_CHUNK..end].to_vec(), total - end)
        } else {
            (hash.clone(), 0)
        };
        PbSnapshotResponse {
            header: Some(header),
            remaining_bytes: remaining as u64,
            blob,
            version: String::new(),
        }
    })
}

fn status_response(s: NodeStatus, header: Header) -> PbStatusResponse {
    PbStatusResponse {
        header: Some(convert::header(header)),
        version: ETCD_VERSION.to_string(),
        db_size: s.db_size,
        leader: s.leader,
        raft_index: s.raft_index,
        raft_term: s.raft_term,
        raft_applied_index: s.raft_applied_index,
        errors: Vec::new(),
        db_size_in_use: s.db_size,
        is_learner: s.is_learner,
        ..Default::default()
    }
}

#[tonic::async_trait]
impl PbMaintenanceService for EtcdApi {
    /// vitrail raises no alarms (no space quota, no corruption check), so
    /// the list is always empty and activate/deactivate change nothing.
    async fn alarm(
        &self,
        _request: Request<PbAlarmRequest>,
    ) -> Result<Response<PbAlarmResponse>, Status> {
        Ok(Response::new(PbAlarmResponse {
            header: Some(convert::header(self.current_header())),
            alarms: Vec::new(),
        }))
    }

    async fn status(
        &self,
        _request: Request<PbStatusRequest>,
    ) -> Result<Response<PbStatusResponse>, Status> {
        let status = self.node.status();
        let header = self.current_header();
        Ok(Response::new(status_response(status, header)))
    }

    /// RocksDB compacts on its own; there is nothing to defragment.
    async fn defragment(
        &self,
        _request: Request<PbDefragmentRequest>,
    ) -> Result<Response<PbDefragmentResponse>, Status> {
        Ok(Response::new(PbDefragmentResponse {
            header: Some(convert::header(self.current_header())),
        }))
    }

    async fn hash(
        &self,
        _request: Request<PbHashRequest>,
    ) -> Result<Response<PbHashResponse>, Status> {
        Err(Rejected::Unsupported("Hash").into())
    }

    async fn hash_kv(
        &self,
        _request: Request<PbHashKvRequest>,
    ) -> Result<Response<PbHashKvResponse>, Status> {
        Err(Rejected::Unsupported("HashKV").into())
    }

    type SnapshotStream = Pin<Box<dyn Stream<Item = Result<PbSnapshotResponse, Status>> + Send>>;

    async fn snapshot(
        &self,
        _request: Request<PbSnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        let data = self.node.snapshot().await?;
        let messages = snapshot_messages(data, self.current_header());
        Ok(Response::new(Box::pin(futures::stream::iter(
            messages.map(Ok),
        ))))
    }

    async fn move_leader(
        &self,
        request: Request<PbMoveLeaderRequest>,
    ) -> Result<Response<PbMoveLeaderResponse>, Status> {
        self.node
            .move_leader(request.into_inner().target_id)
            .await?;
        Ok(Response::new(PbMoveLeaderResponse {
            header: Some(convert::header(self.current_header())),
        }))
    }

    async fn downgrade(
        &self,
        _request: Request<PbDowngradeRequest>,
    ) -> Result<Response<PbDowngradeResponse>, Status> {
        Err(Rejected::Unsupported("Downgrade").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Header = Header {
        cluster_id: 1,
        member_id: 2,
        revision: 3,
        raft_term: 4,
    };

    #[test]
    fn snapshot_is_chunked_with_trailing_sha256() {
        let data: Vec<u8> = (0..(2 * SNAPSHOT_CHUNK + 100))
            .map(|i| (i % 251) as u8)
            .collect();
        let msgs: Vec<_> = snapshot_messages(data.clone(), H).collect();
        assert_eq!(msgs.len(), 4);
        let remaining: Vec<u64> = msgs.iter().map(|m| m.remaining_bytes).collect();
        assert_eq!(remaining, vec![(SNAPSHOT_CHUNK + 512) as u64, 512, 0, 0]);
        assert!(msgs[..3].iter().all(|m| m.blob.len() <= SNAPSHOT_CHUNK));
        let body: Vec<u8> = msgs[..3].iter().flat_map(|m| m.blob.clone()).collect();
        assert_eq!(&body[..data.len()], data.as_slice());
        assert!(body[data.len()..].iter().all(|b| *b == 0), "zero padding");
        // What etcdctl writes to disk: body ++ sha256(body), sized so that
        // its checksum detection (size % 512 == 32) accepts it.
        let file: Vec<u8> = msgs.iter().flat_map(|m| m.blob.clone()).collect();
        assert_eq!(file.len() % 512, 32);
        assert_eq!(&file[body.len()..], Sha256::digest(&body).as_slice());
    }

    #[test]
    fn empty_snapshot_still_sends_checksum() {
        let msgs: Vec<_> = snapshot_messages(Vec::new(), H).collect();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].blob, Sha256::digest(b"").to_vec());
    }

    #[test]
    fn status_reports_node_fields() {
        let s = status_response(
            NodeStatus {
                member_id: 2,
                leader: 7,
                raft_term: 4,
                raft_index: 10,
                raft_applied_index: 9,
                db_size: 4096,
                is_learner: false,
            },
            H,
        );
        assert_eq!(s.version, ETCD_VERSION);
        assert_eq!(
            (s.leader, s.raft_term, s.raft_index, s.raft_applied_index),
            (7, 4, 10, 9)
        );
        assert_eq!((s.db_size, s.db_size_in_use), (4096, 4096));
        assert_eq!(s.header.unwrap().member_id, 2);
    }
}

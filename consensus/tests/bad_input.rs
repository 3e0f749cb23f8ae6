//! Bad requests get etcd's gRPC status code and message, and the node keeps
//! serving afterwards.

mod support;

use std::time::Duration;

use etcd_client::{Compare, CompareOp, Error, GetOptions, PutOptions, Txn, TxnOp};
use support::Cluster;

fn code_and_message(e: Error) -> (tonic::Code, String) {
    match e {
        Error::GRpcStatus(s) => (s.code(), s.message().to_string()),
        other => panic!("expected a gRPC status, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_requests_get_matching_status_and_node_keeps_serving() {
    let c = Cluster::start(3).await;
    let leader = c.wait_leader(Duration::from_secs(10), None).await;
    let mut cl = c.client((leader + 1) % 3).await;

    // Oversized value: etcd's limit is 1.5 MiB.
    let big = vec![b'x'; 1_700_000];
    let (code, msg) = code_and_message(cl.put("big", big, None).await.unwrap_err());
    assert_eq!(code, tonic::Code::InvalidArgument, "{msg}");
    assert!(msg.contains("request is too large"), "{msg}");
    // Far past the gRPC limit: refused by the transport, not by a crash.
    let huge = vec![b'x'; 8 << 20];
    assert!(cl.put("huge", huge, None).await.is_err());

    // Empty key.
    let (code, msg) = code_and_message(cl.put("", "v", None).await.unwrap_err());
    assert_eq!(code, tonic::Code::InvalidArgument);
    assert!(msg.contains("key is not provided"), "{msg}");

    // Unknown lease.
    let (code, msg) = code_and_message(
        cl.put("k", "v", Some(PutOptions::new().with_lease(0x1234)))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, tonic::Code::NotFound);
    assert!(msg.contains("requested lease not found"), "{msg}");
    let (code, _) = code_and_message(cl.lease_revoke(0x1234).await.unwrap_err());
    assert_eq!(code, tonic::Code::NotFound);

    // Future revision.
    let (code, msg) = code_and_message(
        cl.get("k", Some(GetOptions::new().with_revision(1_000_000)))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, tonic::Code::OutOfRange);
    assert!(msg.contains("future revision"), "{msg}");

    // An inverted range is empty, not an error (as in etcd).
    cl.put("m", "1", None).await.unwrap();
    let r = cl
        .get("z", Some(GetOptions::new().with_range("a")))
        .await
        .unwrap();
    assert_eq!(r.count(), 0);

    // Too many operations in one txn (etcd's default limit is 128).
    let ops: Vec<TxnOp> = (0..129)
        .map(|i| TxnOp::put(format!("t{i}"), "v", None))
        .collect();
    let txn = Txn::new()
        .when([Compare::version("m", CompareOp::Greater, 0)])
        .and_then(ops);
    let (code, msg) = code_and_message(cl.txn(txn).await.unwrap_err());
    assert_eq!(code, tonic::Code::InvalidArgument);
    assert!(msg.contains("too many operations in txn request"), "{msg}");
    // Nothing of it was written.
    assert_eq!(cl.get("t0", None).await.unwrap().count(), 0);

    // Duplicate key in one txn.
    let txn = Txn::new().and_then([TxnOp::put("d", "1", None), TxnOp::put("d", "2", None)]);
    let (code, msg) = code_and_message(cl.txn(txn).await.unwrap_err());
    assert_eq!(code, tonic::Code::InvalidArgument);
    assert!(msg.contains("duplicate key"), "{msg}");

    // Compacting the future.
    let (code, _) = code_and_message(cl.compact(1_000_000, None).await.unwrap_err());
    assert_eq!(code, tonic::Code::OutOfRange);

    // Still serving, on every member.
    cl.put("after", "ok", None).await.unwrap();
    for i in 0..3 {
        let mut ci = c.client(i).await;
        let r = ci.get("after", None).await.unwrap();
        assert_eq!(r.kvs()[0].value(), b"ok");
    }
    c.shutdown().await;
}

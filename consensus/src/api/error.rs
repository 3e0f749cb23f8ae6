//! Errors → gRPC `Status`, exactly as etcd 3.4 reports them.
//!
//! etcd clients recognise server errors by their *message*: clientv3's
//! `rpctypes.Error` looks the status message up in a table of known strings
//! (and the Rust `etcd-client` surfaces it verbatim), so the codes and texts
//! below are copied character for character from etcd's
//! `etcdserver/api/v3rpc/rpctypes/error.go`. This module is the only place
//! where crate errors become `tonic::Status` (STYLE.md §3).

use tonic::{Code, Status};

use crate::kv::KvError;
use crate::node::NodeError;

/// A request the API layer rejects before it reaches the node: the checks
/// etcd's v3rpc layer makes (`key.go`, `lease.go`, `member.go`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("etcdserver: key is not provided")]
    EmptyKey,
    #[error("etcdserver: value is provided")]
    ValueProvided,
    #[error("etcdserver: lease is provided")]
    LeaseProvided,
    #[error("etcdserver: request is too large")]
    RequestTooLarge,
    #[error("etcdserver: too many operations in txn request")]
    TooManyOps,
    #[error("etcdserver: duplicate key given in txn request")]
    DuplicateKey,
    #[error("etcdserver: too large lease TTL")]
    LeaseTtlTooLarge,
    #[error("etcdserver: given member URLs are invalid")]
    MemberBadUrls,
    /// A protobuf enum value etcd does not define (sort order, compare
    /// target, …). etcd 3.4 silently misbehaves on these; we refuse them.
    #[error("etcdserver: invalid {0}")]
    InvalidEnum(&'static str),
    /// A Txn `RequestOp` with no request set.
    #[error("etcdserver: empty request op in txn")]
    EmptyRequestOp,
    /// Part of the etcd API we do not implement.
    #[error("etcdserver: {0} is not supported by vitrail")]
    Unsupported(&'static str),
}

impl From<Rejected> for Status {
    fn from(e: Rejected) -> Status {
        let code = match e {
            Rejected::LeaseTtlTooLarge => Code::OutOfRange,
            Rejected::Unsupported(_) => Code::Unimplemented,
            Rejected::EmptyKey
            | Rejected::ValueProvided
            | Rejected::LeaseProvided
            | Rejected::RequestTooLarge
            | Rejected::TooManyOps
            | Rejected::DuplicateKey
            | Rejected::MemberBadUrls
            | Rejected::InvalidEnum(_)
            | Rejected::EmptyRequestOp => Code::InvalidArgument,
        };
        Status::new(code, e.to_string())
    }
}

/// The status etcd returns for a deterministic request error.
pub fn kv_status(e: &KvError) -> Status {
    match e {
        KvError::Compacted => {
            Status::out_of_range("etcdserver: mvcc: required revision has been compacted")
        }
        KvError::FutureRevision => {
            Status::out_of_range("etcdserver: mvcc: required revision is a future revision")
        }
        KvError::LeaseNotFound => Status::not_found("etcdserver: requested lease not found"),
        KvError::LeaseExists => Status::failed_precondition("etcdserver: lease already exists"),
        KvError::KeyNotFound => Status::invalid_argument("etcdserver: key not found"),
        KvError::DuplicateKey => {
            Status::invalid_argument("etcdserver: duplicate key given in txn request")
        }
        KvError::TooManyOps => {
            Status::invalid_argument("etcdserver: too many operations in txn request")
        }
        KvError::InvalidArgument(msg) => Status::invalid_argument(prefixed(msg)),
    }
}

/// The status for any node error. The node's messages for `Unavailable`,
/// `InvalidArgument` and `FailedPrecondition` are expected to be etcd's own
/// texts without the `etcdserver: ` prefix (e.g. "no leader", "bad leader
/// transferee"); a message that already carries the prefix keeps it once.
pub fn node_status(e: &NodeError) -> Status {
    match e {
        NodeError::Kv(kv) => kv_status(kv),
        NodeError::Unavailable(msg) => Status::unavailable(prefixed(msg)),
        NodeError::InvalidArgument(msg) => Status::invalid_argument(prefixed(msg)),
        NodeError::MemberNotFound => Status::not_found("etcdserver: member not found"),
        NodeError::FailedPrecondition(msg) => Status::failed_precondition(prefixed(msg)),
        // etcd answers unknown server errors with codes.Unknown; Internal says
        // more precisely that this is our fault, and no client matches on it.
        NodeError::Internal(msg) => Status::internal(format!("etcdserver: internal error: {msg}")),
    }
}

impl From<NodeError> for Status {
    fn from(e: NodeError) -> Status {
        node_status(&e)
    }
}

fn prefixed(msg: &str) -> String {
    if msg.starts_with("etcdserver: ") {
        msg.to_string()
    } else {
        format!("etcdserver: {msg}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: Status, code: Code, msg: &str) {
        assert_eq!(s.code(), code, "{s:?}");
        assert_eq!(s.message(), msg);
    }

    #[test]
    fn kv_errors_map_like_etcd() {
        let cases = [
            (
                KvError::Compacted,
                Code::OutOfRange,
                "etcdserver: mvcc: required revision has been compacted",
            ),
            (
                KvError::FutureRevision,
                Code::OutOfRange,
                "etcdserver: mvcc: required revision is a future revision",
            ),
            (
                KvError::LeaseNotFound,
                Code::NotFound,
                "etcdserver: requested lease not found",
            ),
            (
                KvError::LeaseExists,
                Code::FailedPrecondition,
                "etcdserver: lease already exists",
            ),
            (
                KvError::KeyNotFound,
                Code::InvalidArgument,
                "etcdserver: key not found",
            ),
            (
                KvError::DuplicateKey,
                Code::InvalidArgument,
                "etcdserver: duplicate key given in txn request",
            ),
            (
                KvError::TooManyOps,
                Code::InvalidArgument,
                "etcdserver: too many operations in txn request",
            ),
            (
                KvError::InvalidArgument("bad thing".into()),
                Code::InvalidArgument,
                "etcdserver: bad thing",
            ),
        ];
        for (e, code, msg) in cases {
            check(kv_status(&e), code, msg);
            check(Status::from(NodeError::Kv(e)), code, msg);
        }
    }

    #[test]
    fn node_errors_map_like_etcd() {
        check(
            Status::from(NodeError::Unavailable("no leader".into())),
            Code::Unavailable,
            "etcdserver: no leader",
        );
        check(
            Status::from(NodeError::Unavailable(
                "etcdserver: request timed out".into(),
            )),
            Code::Unavailable,
            "etcdserver: request timed out",
        );
        check(
            Status::from(NodeError::MemberNotFound),
            Code::NotFound,
            "etcdserver: member not found",
        );
        check(
            Status::from(NodeError::FailedPrecondition(
                "bad leader transferee".into(),
            )),
            Code::FailedPrecondition,
            "etcdserver: bad leader transferee",
        );
        check(
            Status::from(NodeError::InvalidArgument("x".into())),
            Code::InvalidArgument,
            "etcdserver: x",
        );
        check(
            Status::from(NodeError::Internal("disk".into())),
            Code::Internal,
            "etcdserver: internal error: disk",
        );
    }

    #[test]
    fn rejections_map_like_etcd() {
        check(
            Rejected::EmptyKey.into(),
            Code::InvalidArgument,
            "etcdserver: key is not provided",
        );
        check(
            Rejected::ValueProvided.into(),
            Code::InvalidArgument,
            "etcdserver: value is provided",
        );
        check(
            Rejected::LeaseProvided.into(),
            Code::InvalidArgument,
            "etcdserver: lease is provided",
        );
        check(
            Rejected::RequestTooLarge.into(),
            Code::InvalidArgument,
            "etcdserver: request is too large",
        );
        check(
            Rejected::TooManyOps.into(),
            Code::InvalidArgument,
            "etcdserver: too many operations in txn request",
        );
        check(
            Rejected::DuplicateKey.into(),
            Code::InvalidArgument,
            "etcdserver: duplicate key given in txn request",
        );
        check(
            Rejected::LeaseTtlTooLarge.into(),
            Code::OutOfRange,
            "etcdserver: too large lease TTL",
        );
        check(
            Rejected::MemberBadUrls.into(),
            Code::InvalidArgument,
            "etcdserver: given member URLs are invalid",
        );
        check(
            Rejected::InvalidEnum("sort order").into(),
            Code::InvalidArgument,
            "etcdserver: invalid sort order",
        );
        check(
            Rejected::Unsupported("MemberUpdate").into(),
            Code::Unimplemented,
            "etcdserver: MemberUpdate is not supported by vitrail",
        );
    }
}

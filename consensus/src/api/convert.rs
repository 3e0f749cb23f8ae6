//! Protobuf (etcd's `etcdserverpb`/`mvccpb`) ↔ domain types (`kv::types`).
//!
//! Pure functions, no IO. Requests are converted *and validated* here with
//! the checks etcd's v3rpc layer makes before a request reaches raft
//! (`etcdserver/api/v3rpc/key.go`): empty keys, `ignore_value` with a value,
//! the txn operation limit and the duplicate-key rule. Protobuf enums arrive
//! as `i32`; values etcd does not define are rejected.

use std::collections::HashSet;

use etcd_client::proto::{
    PbCompare, PbCompareTarget, PbDeleteRequest, PbDeleteResponse, PbEvent, PbKeyValue, PbMember,
    PbPutRequest, PbPutResponse, PbRangeRequest, PbRangeResponse, PbResponseHeader, PbResponseOp,
    PbTargetUnion, PbTxnOpRequest, PbTxnOpResponse, PbTxnRequest, PbTxnRequestOp, PbTxnResponse,
    PbWatchRequest, PbWatchRequestUnion, PbWatchResponse,
};

use super::error::Rejected;
use super::watch::{WatchCommand, WatchSpec};
use crate::kv::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, DeleteRangeResponse, Event,
    EventKind, KeyRange, KeyValue, PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp,
    ResponseOp, SortOrder, SortTarget, TxnRequest, TxnResponse,
};
use crate::node::{Header, MemberInfo};

/// etcd's default `--max-txn-ops`.
pub const MAX_TXN_OPS: usize = 128;

// ---------------------------------------------------------------- requests

pub fn range_request(r: PbRangeRequest) -> Result<RangeRequest, Rejected> {
    if r.key.is_empty() {
        return Err(Rejected::EmptyKey);
    }
    let sort_order = match r.sort_order {
        0 => SortOrder::None,
        1 => SortOrder::Ascend,
        2 => SortOrder::Descend,
        _ => return Err(Rejected::InvalidEnum("sort order")),
    };
    let sort_target = match r.sort_target {
        0 => SortTarget::Key,
        1 => SortTarget::Version,
        2 => SortTarget::Create,
        3 => SortTarget::Mod,
        4 => SortTarget::Value,
        _ => return Err(Rejected::InvalidEnum("sort target")),
    };
    // etcd's apply.go: results come out of the index sorted by key, so a sort
    // on any other target without an order means ascending.
    let sort_order = if sort_target != SortTarget::Key && sort_order == SortOrder::None {
        SortOrder::Ascend
    } else {
        sort_order
    };
    Ok(RangeRequest {
        range: KeyRange {
            key: r.key,
            range_end: r.range_end,
        },
        // etcd treats limit <= 0 as "no limit" and revision <= 0 as "current".
        limit: r.limit.max(0),
        revision: r.revision.max(0),
        sort_order,
        sort_target,
        serializable: r.serializable,
        keys_only: r.keys_only,
        count_only: r.count_only,
        min_mod_revision: r.min_mod_revision,
        max_mod_revision: r.max_mod_revision,
        min_create_revision: r.min_create_revision,
        max_create_revision: r.max_create_revision,
    })
}

pub fn put_request(r: PbPutRequest) -> Result<PutRequest, Rejected> {
    if r.key.is_empty() {
        return Err(Rejected::EmptyKey);
    }
    if r.ignore_value && !r.value.is_empty() {
        return Err(Rejected::ValueProvided);
    }
    if r.ignore_lease && r.lease != 0 {
        return Err(Rejected::LeaseProvided);
    }
    Ok(PutRequest {
        key: r.key,
        value: r.value,
        lease: r.lease,
        prev_kv: r.prev_kv,
        ignore_value: r.ignore_value,
        ignore_lease: r.ignore_lease,
    })
}

pub fn delete_request(r: PbDeleteRequest) -> Result<DeleteRangeRequest, Rejected> {
    if r.key.is_empty() {
        return Err(Rejected::EmptyKey);
    }
    Ok(DeleteRangeRequest {
        range: KeyRange {
            key: r.key,
            range_end: r.range_end,
        },
        prev_kv: r.prev_kv,
    })
}

/// A Txn, validated as etcd does: at most `MAX_TXN_OPS` operations per
/// branch (nested txns share the budget), no empty keys, and no key written
/// twice (or written and deleted) within one branch.
pub fn txn_request(r: PbTxnRequest) -> Result<TxnRequest, Rejected> {
    let txn = txn_inner(r, MAX_TXN_OPS)?;
    check_intervals(&txn.success)?;
    check_intervals(&txn.failure)?;
    Ok(txn)
}

fn txn_inner(r: PbTxnRequest, max_ops: usize) -> Result<TxnRequest, Rejected> {
    let ops = r.compare.len().max(r.success.len()).max(r.failure.len());
    if ops > max_ops {
        return Err(Rejected::TooManyOps);
    }
    let nested_budget = max_ops - ops;
    let compare = r
        .compare
        .into_iter()
        .map(compare)
        .collect::<Result<Vec<_>, _>>()?;
    let ops = |v: Vec<PbTxnRequestOp>| {
        v.into_iter()
            .map(|op| request_op(op, nested_budget))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(TxnRequest {
        compare,
        success: ops(r.success)?,
        failure: ops(r.failure)?,
    })
}

fn request_op(op: PbTxnRequestOp, max_ops: usize) -> Result<RequestOp, Rejected> {
    match op.request.ok_or(Rejected::EmptyRequestOp)? {
        PbTxnOpRequest::RequestRange(r) => Ok(RequestOp::Range(range_request(r)?)),
        PbTxnOpRequest::RequestPut(r) => Ok(RequestOp::Put(put_request(r)?)),
        PbTxnOpRequest::RequestDeleteRange(r) => Ok(RequestOp::DeleteRange(delete_request(r)?)),
        PbTxnOpRequest::RequestTxn(r) => Ok(RequestOp::Txn(txn_inner(r, max_ops)?)),
    }
}

pub fn compare(c: PbCompare) -> Result<Compare, Rejected> {
    if c.key.is_empty() {
        return Err(Rejected::EmptyKey);
    }
    let result = match c.result {
        0 => CompareResult::Equal,
        1 => CompareResult::Greater,
        2 => CompareResult::Less,
        3 => CompareResult::NotEqual,
        _ => return Err(Rejected::InvalidEnum("compare result")),
    };
    // As in etcd, `target` decides what is compared; a missing or mismatched
    // union reads as the zero value (etcd's generated getters do the same).
    let union = c.target_union;
    let int = |pick: fn(&PbTargetUnion) -> Option<i64>| union.as_ref().and_then(pick).unwrap_or(0);
    let target = match PbCompareTarget::try_from(c.target) {
        Ok(PbCompareTarget::Version) => CompareTarget::Version(int(|u| match u {
            PbTargetUnion::Version(v) => Some(*v),
            _ => None,
        })),
        Ok(PbCompareTarget::Create) => CompareTarget::Create(int(|u| match u {
            PbTargetUnion::CreateRevision(v) => Some(*v),
            _ => None,
        })),
        Ok(PbCompareTarget::Mod) => CompareTarget::Mod(int(|u| match u {
            PbTargetUnion::ModRevision(v) => Some(*v),
            _ => None,
        })),
        Ok(PbCompareTarget::Lease) => CompareTarget::Lease(int(|u| match u {
            PbTargetUnion::Lease(v) => Some(*v),
            _ => None,
        })),
        Ok(PbCompareTarget::Value) => CompareTarget::Value(match union {
            Some(PbTargetUnion::Value(v)) => v,
            _ => Vec::new(),
        }),
        Err(_) => return Err(Rejected::InvalidEnum("compare target")),
    };
    Ok(Compare {
        range: KeyRange {
            key: c.key,
            range_end: c.range_end,
        },
        result,
        target,
    })
}

/// etcd's `checkIntervals`: within one branch a key may be put once and may
/// not be both put and deleted; the two branches of a nested txn are
/// exclusive, so the same key may be put in both. Delete ranges may overlap.
/// Returns the keys put and the ranges deleted by `ops` (children included).
fn check_intervals(ops: &[RequestOp]) -> Result<(HashSet<Vec<u8>>, Vec<KeyRange>), Rejected> {
    let mut dels: Vec<KeyRange> = ops
        .iter()
        .filter_map(|op| match op {
            RequestOp::DeleteRange(d) => Some(d.range.clone()),
            _ => None,
        })
        .collect();
    let deleted = |dels: &[KeyRange], k: &[u8]| dels.iter().any(|r| r.contains(k));
    let mut puts: HashSet<Vec<u8>> = HashSet::new();
    for op in ops {
        let RequestOp::Txn(t) = op else { continue };
        let (puts_then, dels_then) = check_intervals(&t.success)?;
        let (puts_else, dels_else) = check_intervals(&t.failure)?;
        for k in &puts_then {
            if puts.contains(k) || deleted(&dels, k) {
                return Err(Rejected::DuplicateKey);
            }
        }
        for k in &puts_else {
            if (puts.contains(k) && !puts_then.contains(k)) || deleted(&dels, k) {
                return Err(Rejected::DuplicateKey);
            }
        }
        puts.extend(puts_then);
        puts.extend(puts_else);
        dels.extend(dels_then);
        dels.extend(dels_else);
    }
    for op in ops {
        let RequestOp::Put(p) = op else { continue };
        if puts.contains(&p.key) || deleted(&dels, &p.key) {
            return Err(Rejected::DuplicateKey);
        }
        puts.insert(p.key.clone());
    }
    Ok((puts, dels))
}

// --------------------------------------------------------------- responses

pub fn header(h: Header) -> PbResponseHeader {
    PbResponseHeader {
        cluster_id: h.cluster_id,
        member_id: h.member_id,
        revision: h.revision,
        raft_term: h.raft_term,
    }
}

pub fn key_value(kv: KeyValue) -> PbKeyValue {
    PbKeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

/// An event; `prev_kv` is kept only when the watcher asked for it.
pub fn event(e: Event, with_prev_kv: bool) -> PbEvent {
    PbEvent {
        r#type: match e.kind {
            EventKind::Put => 0,
            EventKind::Delete => 1,
        },
        kv: Some(key_value(e.kv)),
        prev_kv: if with_prev_kv {
            e.prev_kv.map(key_value)
        } else {
            None
        },
    }
}

pub fn range_response(r: RangeResponse, h: Header) -> PbRangeResponse {
    PbRangeResponse {
        header: Some(header(h)),
        kvs: r.kvs.into_iter().map(key_value).collect(),
        more: r.more,
        count: r.count,
    }
}

pub fn put_response(r: PutResponse, h: Header) -> PbPutResponse {
    PbPutResponse {
        header: Some(header(h)),
        prev_kv: r.prev_kv.map(key_value),
    }
}

pub fn delete_response(r: DeleteRangeResponse, h: Header) -> PbDeleteResponse {
    PbDeleteResponse {
        header: Some(header(h)),
        deleted: r.deleted,
        prev_kvs: r.prev_kvs.into_iter().map(key_value).collect(),
    }
}

/// A Txn response; nested responses carry the same header as the outer one.
pub fn txn_response(r: TxnResponse, h: Header) -> PbTxnResponse {
    let responses = r
        .responses
        .into_iter()
        .map(|op| PbResponseOp {
            response: Some(match op {
                ResponseOp::Range(r) => PbTxnOpResponse::ResponseRange(range_response(r, h)),
                ResponseOp::Put(r) => PbTxnOpResponse::ResponsePut(put_response(r, h)),
                ResponseOp::DeleteRange(r) => {
                    PbTxnOpResponse::ResponseDeleteRange(delete_response(r, h))
                }
                ResponseOp::Txn(r) => PbTxnOpResponse::ResponseTxn(txn_response(r, h)),
            }),
        })
        .collect();
    PbTxnResponse {
        header: Some(header(h)),
        succeeded: r.succeeded,
        responses,
    }
}

pub fn member(m: MemberInfo) -> PbMember {
    PbMember {
        id: m.id,
        name: m.name,
        peer_ur_ls: m.peer_urls,
        client_ur_ls: m.client_urls,
        is_learner: m.is_learner,
    }
}

// ------------------------------------------------------------------- watch

/// What one message on a Watch stream asks for. `None` for an empty message
/// (etcd ignores those).
pub fn watch_command(r: PbWatchRequest) -> Option<WatchCommand> {
    match r.request_union? {
        PbWatchRequestUnion::CreateRequest(c) => {
            // etcd's watch.go: an empty key means "from the smallest key";
            // range_end [0] means "every key >= key" (KeyRange's convention).
            let key = if c.key.is_empty() { vec![0] } else { c.key };
            Some(WatchCommand::Create(WatchSpec {
                range: KeyRange {
                    key,
                    range_end: c.range_end,
                },
                start_revision: c.start_revision.max(0),
                progress_notify: c.progress_notify,
                no_put: c.filters.contains(&0),
                no_delete: c.filters.contains(&1),
                prev_kv: c.prev_kv,
                watch_id: c.watch_id,
            }))
        }
        PbWatchRequestUnion::CancelRequest(c) => Some(WatchCommand::Cancel(c.watch_id)),
        PbWatchRequestUnion::ProgressRequest(_) => Some(WatchCommand::Progress),
    }
}

/// A watch response with no events (created / canceled / progress).
pub fn watch_notice(h: Header, watch_id: i64) -> PbWatchResponse {
    PbWatchResponse {
        header: Some(header(h)),
        watch_id,
        ..Default::default()
    }
}

/// Events of one revision for one watcher, after its filters.
pub fn watch_events(h: Header, watch_id: i64, events: Vec<PbEvent>) -> PbWatchResponse {
    PbWatchResponse {
        header: Some(header(h)),
        watch_id,
        events,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_client::proto::PbTxnOpRequest as Op;

    fn kv(key: &str, rev: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            create_revision: rev,
            mod_revision: rev,
            version: 1,
            value: b"v".to_vec(),
            lease: 7,
        }
    }

    fn pb_put(key: &str) -> PbTxnRequestOp {
        PbTxnRequestOp {
            request: Some(Op::RequestPut(PbPutRequest {
                key: key.into(),
                ..Default::default()
            })),
        }
    }

    fn pb_del(key: &str, end: &[u8]) -> PbTxnRequestOp {
        PbTxnRequestOp {
            request: Some(Op::RequestDeleteRange(PbDeleteRequest {
                key: key.into(),
                range_end: end.to_vec(),
                ..Default::default()
            })),
        }
    }

    fn pb_txn(success: Vec<PbTxnRequestOp>, failure: Vec<PbTxnRequestOp>) -> PbTxnRequest {
        PbTxnRequest {
            compare: vec![],
            success,
            failure,
        }
    }

    #[test]
    fn range_converts_sort_and_normalises() {
        let r = range_request(PbRangeRequest {
            key: b"a".to_vec(),
            range_end: vec![0],
            limit: -3,
            revision: -1,
            sort_order: 2,
            sort_target: 4,
            keys_only: true,
            min_mod_revision: 5,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            r.range,
            KeyRange {
                key: b"a".to_vec(),
                range_end: vec![0]
            }
        );
        assert_eq!((r.limit, r.revision), (0, 0));
        assert_eq!(
            (r.sort_order, r.sort_target),
            (SortOrder::Descend, SortTarget::Value)
        );
        assert!(r.keys_only && !r.count_only);
        assert_eq!(r.min_mod_revision, 5);
    }

    #[test]
    fn range_sort_target_without_order_ascends() {
        let mk = |order, target| {
            range_request(PbRangeRequest {
                key: b"a".to_vec(),
                sort_order: order,
                sort_target: target,
                ..Default::default()
            })
        };
        assert_eq!(mk(0, 3).unwrap().sort_order, SortOrder::Ascend);
        assert_eq!(mk(0, 0).unwrap().sort_order, SortOrder::None);
        assert_eq!(mk(3, 0), Err(Rejected::InvalidEnum("sort order")));
        assert_eq!(mk(0, 9), Err(Rejected::InvalidEnum("sort target")));
    }

    #[test]
    fn empty_keys_are_rejected() {
        assert_eq!(
            range_request(PbRangeRequest::default()),
            Err(Rejected::EmptyKey)
        );
        assert_eq!(
            put_request(PbPutRequest::default()),
            Err(Rejected::EmptyKey)
        );
        assert_eq!(
            delete_request(PbDeleteRequest::default()),
            Err(Rejected::EmptyKey)
        );
        let txn = PbTxnRequest {
            compare: vec![PbCompare::default()],
            ..Default::default()
        };
        assert_eq!(txn_request(txn), Err(Rejected::EmptyKey));
        assert_eq!(
            txn_request(pb_txn(vec![pb_put("")], vec![])),
            Err(Rejected::EmptyKey)
        );
    }

    #[test]
    fn put_ignore_flags_are_checked() {
        let p = |value: &[u8], lease, iv, il| {
            put_request(PbPutRequest {
                key: b"k".to_vec(),
                value: value.to_vec(),
                lease,
                prev_kv: true,
                ignore_value: iv,
                ignore_lease: il,
            })
        };
        assert_eq!(p(b"x", 0, true, false), Err(Rejected::ValueProvided));
        assert_eq!(p(b"", 3, false, true), Err(Rejected::LeaseProvided));
        let ok = p(b"", 0, true, true).unwrap();
        assert!(ok.ignore_value && ok.ignore_lease && ok.prev_kv);
        assert_eq!(p(b"x", 3, false, false).unwrap().lease, 3);
    }

    #[test]
    fn compare_targets_and_results() {
        let c = |result, target, union| {
            compare(PbCompare {
                result,
                target,
                key: b"k".to_vec(),
                range_end: vec![],
                target_union: union,
            })
        };
        let got = c(1, 0, Some(PbTargetUnion::Version(4))).unwrap();
        assert_eq!(got.result, CompareResult::Greater);
        assert_eq!(got.target, CompareTarget::Version(4));
        assert_eq!(
            c(0, 1, Some(PbTargetUnion::CreateRevision(9)))
                .unwrap()
                .target,
            CompareTarget::Create(9)
        );
        assert_eq!(
            c(2, 2, Some(PbTargetUnion::ModRevision(3))).unwrap().result,
            CompareResult::Less
        );
        assert_eq!(
            c(3, 3, Some(PbTargetUnion::Value(b"x".to_vec()))).unwrap(),
            Compare {
                range: KeyRange::single("k"),
                result: CompareResult::NotEqual,
                target: CompareTarget::Value(b"x".to_vec())
            }
        );
        assert_eq!(
            c(0, 4, Some(PbTargetUnion::Lease(5))).unwrap().target,
            CompareTarget::Lease(5)
        );
        // The target enum wins; a missing/mismatched union is the zero value.
        assert_eq!(c(0, 2, None).unwrap().target, CompareTarget::Mod(0));
        assert_eq!(
            c(0, 3, Some(PbTargetUnion::Version(1))).unwrap().target,
            CompareTarget::Value(vec![])
        );
        assert_eq!(c(7, 0, None), Err(Rejected::InvalidEnum("compare result")));
        assert_eq!(c(0, 7, None), Err(Rejected::InvalidEnum("compare target")));
    }

    #[test]
    fn nested_txn_converts() {
        let inner = pb_txn(vec![pb_put("b")], vec![pb_del("c", b"d")]);
        let outer = PbTxnRequest {
            compare: vec![PbCompare {
                key: b"a".to_vec(),
                target: 3,
                target_union: Some(PbTargetUnion::Value(b"1".to_vec())),
                ..Default::default()
            }],
            success: vec![
                PbTxnRequestOp {
                    request: Some(Op::RequestRange(PbRangeRequest {
                        key: b"a".to_vec(),
                        ..Default::default()
                    })),
                },
                PbTxnRequestOp {
                    request: Some(Op::RequestTxn(inner)),
                },
            ],
            failure: vec![pb_put("a")],
        };
        let t = txn_request(outer).unwrap();
        assert_eq!(t.compare.len(), 1);
        assert!(matches!(&t.success[0], RequestOp::Range(r) if r.range == KeyRange::single("a")));
        let RequestOp::Txn(inner) = &t.success[1] else {
            panic!("not a txn: {:?}", t.success[1])
        };
        assert!(matches!(&inner.success[0], RequestOp::Put(p) if p.key == b"b"));
        assert!(matches!(&inner.failure[0], RequestOp::DeleteRange(d)
            if d.range == KeyRange { key: b"c".to_vec(), range_end: b"d".to_vec() }));
        assert!(matches!(&t.failure[0], RequestOp::Put(p) if p.key == b"a"));
        assert_eq!(
            txn_request(pb_txn(vec![PbTxnRequestOp { request: None }], vec![])),
            Err(Rejected::EmptyRequestOp)
        );
    }

    #[test]
    fn txn_op_limit_counts_nesting() {
        let many = |n: usize, p: &str| (0..n).map(|i| pb_put(&format!("{p}{i}"))).collect();
        assert!(txn_request(pb_txn(many(128, "a"), many(128, "b"))).is_ok());
        let too_many = Err(Rejected::TooManyOps);
        assert_eq!(txn_request(pb_txn(many(129, "a"), vec![])), too_many);
        // 100 ops at the top leave 28 for a nested txn.
        let nested = |n| PbTxnRequestOp {
            request: Some(Op::RequestTxn(pb_txn(many(n, "n"), vec![]))),
        };
        let mut ops: Vec<_> = many(99, "a");
        ops.push(nested(29));
        assert_eq!(txn_request(pb_txn(ops, vec![])), too_many);
        let mut ops: Vec<_> = many(99, "a");
        ops.push(nested(28));
        assert!(txn_request(pb_txn(ops, vec![])).is_ok());
    }

    #[test]
    fn txn_duplicate_keys_like_etcd() {
        let dup = Err(Rejected::DuplicateKey);
        // Same key put twice in a branch.
        assert_eq!(
            txn_request(pb_txn(vec![pb_put("a"), pb_put("a")], vec![])),
            dup
        );
        // Put inside a deleted range, either order.
        assert_eq!(
            txn_request(pb_txn(vec![pb_del("a", b"c"), pb_put("b")], vec![])),
            dup
        );
        assert_eq!(
            txn_request(pb_txn(vec![pb_put("b"), pb_del("b", b"")], vec![])),
            dup
        );
        // from-key delete covers everything after.
        assert_eq!(
            txn_request(pb_txn(vec![pb_put("z"), pb_del("m", &[0])], vec![])),
            dup
        );
        // Different branches are independent; overlapping deletes are fine.
        assert!(txn_request(pb_txn(vec![pb_put("a")], vec![pb_put("a")])).is_ok());
        assert!(txn_request(pb_txn(vec![pb_del("a", b"c"), pb_del("b", b"")], vec![])).is_ok());
        assert!(txn_request(pb_txn(vec![pb_del("a", b"c"), pb_put("c")], vec![])).is_ok());
        // Nested: then/else may both put a key, but not the outer level too.
        let nested = |then: &str, els: &str| PbTxnRequestOp {
            request: Some(Op::RequestTxn(pb_txn(
                vec![pb_put(then)],
                vec![pb_put(els)],
            ))),
        };
        assert!(txn_request(pb_txn(vec![nested("x", "x")], vec![])).is_ok());
        assert_eq!(
            txn_request(pb_txn(vec![nested("x", "y"), pb_put("x")], vec![])),
            dup
        );
        assert_eq!(
            txn_request(pb_txn(vec![nested("x", "y"), pb_put("y")], vec![])),
            dup
        );
        assert_eq!(
            txn_request(pb_txn(vec![pb_del("w", b"z"), nested("a", "x")], vec![])),
            dup
        );
        assert_eq!(
            txn_request(pb_txn(vec![nested("x", "y"), nested("y", "q")], vec![])),
            dup
        );
    }

    #[test]
    fn responses_carry_header_and_values() {
        let h = Header {
            cluster_id: 1,
            member_id: 2,
            revision: 3,
            raft_term: 4,
        };
        let r = range_response(
            RangeResponse {
                kvs: vec![kv("a", 2)],
                more: true,
                count: 5,
            },
            h,
        );
        let ph = r.header.unwrap();
        assert_eq!(
            (ph.cluster_id, ph.member_id, ph.revision, ph.raft_term),
            (1, 2, 3, 4)
        );
        assert_eq!(r.kvs[0].key, b"a");
        assert_eq!(
            (r.kvs[0].create_revision, r.kvs[0].lease, r.more, r.count),
            (2, 7, true, 5)
        );
        let p = put_response(
            PutResponse {
                prev_kv: Some(kv("a", 1)),
            },
            h,
        );
        assert_eq!(p.prev_kv.unwrap().mod_revision, 1);
        let d = delete_response(
            DeleteRangeResponse {
                deleted: 2,
                prev_kvs: vec![kv("b", 1)],
            },
            h,
        );
        assert_eq!((d.deleted, d.prev_kvs.len()), (2, 1));

        let t = txn_response(
            TxnResponse {
                succeeded: true,
                responses: vec![
                    ResponseOp::Put(PutResponse::default()),
                    ResponseOp::Txn(TxnResponse {
                        succeeded: false,
                        responses: vec![ResponseOp::DeleteRange(DeleteRangeResponse::default())],
                    }),
                ],
            },
            h,
        );
        assert!(t.succeeded);
        assert!(
            matches!(&t.responses[0].response, Some(PbTxnOpResponse::ResponsePut(p)) if p.header.is_some())
        );
        let Some(PbTxnOpResponse::ResponseTxn(inner)) = &t.responses[1].response else {
            panic!("nested txn missing")
        };
        assert!(!inner.succeeded);
        assert!(matches!(
            inner.responses[0].response,
            Some(PbTxnOpResponse::ResponseDeleteRange(_))
        ));
    }

    #[test]
    fn events_strip_prev_kv_unless_asked() {
        let e = Event {
            kind: EventKind::Delete,
            kv: kv("a", 5),
            prev_kv: Some(kv("a", 4)),
        };
        let with = event(e.clone(), true);
        assert_eq!(with.r#type, 1);
        assert_eq!(with.prev_kv.unwrap().mod_revision, 4);
        assert!(event(e, false).prev_kv.is_none());
        let put = event(
            Event {
                kind: EventKind::Put,
                kv: kv("b", 6),
                prev_kv: None,
            },
            true,
        );
        assert_eq!((put.r#type, put.kv.unwrap().mod_revision), (0, 6));
    }

    #[test]
    fn watch_create_prefix_and_filters() {
        let mut req = PbWatchRequest {
            request_union: Some(PbWatchRequestUnion::CreateRequest(Default::default())),
        };
        if let Some(PbWatchRequestUnion::CreateRequest(c)) = &mut req.request_union {
            c.key = b"/p/".to_vec();
            c.range_end = crate::kv::prefix_end(b"/p/");
            c.start_revision = 7;
            c.filters = vec![0];
            c.prev_kv = true;
            c.watch_id = 42;
            c.progress_notify = true;
        }
        let Some(WatchCommand::Create(s)) = watch_command(req) else {
            panic!("not a create")
        };
        assert_eq!(s.range, KeyRange::prefix("/p/"));
        assert!(s.range.contains(b"/p/x") && !s.range.contains(b"/q"));
        assert_eq!((s.start_revision, s.watch_id), (7, 42));
        assert!(s.no_put && !s.no_delete && s.prev_kv && s.progress_notify);

        // Empty key with range_end [0] = every key.
        let mut all = PbWatchRequest {
            request_union: Some(PbWatchRequestUnion::CreateRequest(Default::default())),
        };
        if let Some(PbWatchRequestUnion::CreateRequest(c)) = &mut all.request_union {
            c.range_end = vec![0];
            c.filters = vec![1];
            c.start_revision = -4;
        }
        let Some(WatchCommand::Create(s)) = watch_command(all) else {
            panic!("not a create")
        };
        assert_eq!(
            s.range,
            KeyRange {
                key: vec![0],
                range_end: vec![0]
            }
        );
        assert!(s.range.contains(b"anything"));
        assert!(!s.no_put && s.no_delete);
        assert_eq!(s.start_revision, 0);

        let mut cancel = PbWatchRequest {
            request_union: Some(PbWatchRequestUnion::CancelRequest(Default::default())),
        };
        if let Some(PbWatchRequestUnion::CancelRequest(c)) = &mut cancel.request_union {
            c.watch_id = 3;
        }
        assert!(matches!(
            watch_command(cancel),
            Some(WatchCommand::Cancel(3))
        ));
        let progress = PbWatchRequest {
            request_union: Some(PbWatchRequestUnion::ProgressRequest(Default::default())),
        };
        assert!(matches!(
            watch_command(progress),
            Some(WatchCommand::Progress)
        ));
        assert!(watch_command(PbWatchRequest::default()).is_none());
    }

    #[test]
    fn member_converts() {
        let m = member(MemberInfo {
            id: 9,
            name: "n1".into(),
            peer_urls: vec!["http://127.0.0.1:2380".into()],
            client_urls: vec!["http://127.0.0.1:2379".into()],
            is_learner: true,
        });
        assert_eq!((m.id, m.name.as_str(), m.is_learner), (9, "n1", true));
        assert_eq!(m.peer_ur_ls, vec!["http://127.0.0.1:2380".to_string()]);
        assert_eq!(m.client_ur_ls, vec!["http://127.0.0.1:2379".to_string()]);
    }
}

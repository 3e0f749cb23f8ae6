//! Static request checks: what etcd's gRPC layer rejects before proposing
//! (`etcdserver/api/v3rpc/key.go`). They depend only on the request, so
//! running them again at apply time is deterministic and protects the state
//! machine from requests that did not come through our API layer.

use std::collections::HashSet;

use super::types::{
    DeleteRangeRequest, KeyRange, KvError, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

/// etcd's default `--max-txn-ops`.
pub const MAX_TXN_OPS: usize = 128;

fn empty_key() -> KvError {
    KvError::InvalidArgument("key is not provided".into())
}

pub fn check_range(r: &RangeRequest) -> Result<(), KvError> {
    if r.range.key.is_empty() {
        return Err(empty_key());
    }
    Ok(())
}

pub fn check_put(r: &PutRequest) -> Result<(), KvError> {
    if r.key.is_empty() {
        return Err(empty_key());
    }
    if r.ignore_value && !r.value.is_empty() {
        return Err(KvError::InvalidArgument("value is provided".into()));
    }
    if r.ignore_lease && r.lease != 0 {
        return Err(KvError::InvalidArgument("lease is provided".into()));
    }
    Ok(())
}

pub fn check_delete(r: &DeleteRangeRequest) -> Result<(), KvError> {
    if r.range.key.is_empty() {
        return Err(empty_key());
    }
    Ok(())
}

/// The whole Txn check: op counts and keys (recursively), then put/delete
/// overlaps within each branch.
pub fn check_txn(r: &TxnRequest) -> Result<(), KvError> {
    check_txn_ops(r, MAX_TXN_OPS)?;
    check_intervals(&r.success)?;
    check_intervals(&r.failure)?;
    Ok(())
}

/// etcd counts ops per level: the longest of compare/success/failure must
/// not exceed the budget, and a nested Txn gets what its parent left over.
fn check_txn_ops(r: &TxnRequest, max_ops: usize) -> Result<(), KvError> {
    let opc = r.compare.len().max(r.success.len()).max(r.failure.len());
    if opc > max_ops {
        return Err(KvError::TooManyOps);
    }
    if r.compare.iter().any(|c| c.range.key.is_empty()) {
        return Err(empty_key());
    }
    for op in r.success.iter().chain(&r.failure) {
        match op {
            RequestOp::Range(q) => check_range(q)?,
            RequestOp::Put(q) => check_put(q)?,
            RequestOp::DeleteRange(q) => check_delete(q)?,
            RequestOp::Txn(t) => check_txn_ops(t, max_ops - opc)?,
        }
    }
    Ok(())
}

/// Whether a delete removes `key`, with etcd's interval semantics: a
/// `range_end` of `[0]` is taken literally (an empty interval), not as "to
/// the end of the keyspace". etcd's own duplicate check therefore lets a
/// from-key delete and a put of a key it covers share a Txn; we accept the
/// same requests (the store handles a key changed twice in one revision).
fn del_covers(del: &KeyRange, key: &[u8]) -> bool {
    if del.range_end.is_empty() {
        key == del.key.as_slice()
    } else {
        del.key.as_slice() <= key && key < del.range_end.as_slice()
    }
}

type Puts<'a> = HashSet<&'a [u8]>;

/// etcd's `checkIntervals`: within one branch (including nested Txns) no key
/// may be put twice, and no put may fall in a delete of the same or an
/// enclosing level. The two branches of a nested Txn may put the same key.
fn check_intervals(ops: &[RequestOp]) -> Result<(Puts<'_>, Vec<&KeyRange>), KvError> {
    let mut dels: Vec<&KeyRange> = ops
        .iter()
        .filter_map(|op| match op {
            RequestOp::DeleteRange(d) => Some(&d.range),
            _ => None,
        })
        .collect();
    let covered = |dels: &[&KeyRange], k: &[u8]| dels.iter().any(|d| del_covers(d, k));

    let mut puts = Puts::new();
    for op in ops {
        let RequestOp::Txn(t) = op else { continue };
        let (puts_then, dels_then) = check_intervals(&t.success)?;
        let (puts_else, dels_else) = check_intervals(&t.failure)?;
        for &k in &puts_then {
            if puts.contains(k) || covered(&dels, k) {
                return Err(KvError::DuplicateKey);
            }
            puts.insert(k);
        }
        for &k in &puts_else {
            if (puts.contains(k) && !puts_then.contains(k)) || covered(&dels, k) {
                return Err(KvError::DuplicateKey);
            }
            puts.insert(k);
        }
        dels.extend(dels_then);
        dels.extend(dels_else);
    }

    for op in ops {
        let RequestOp::Put(p) = op else { continue };
        let k = p.key.as_slice();
        if puts.contains(k) || covered(&dels, k) {
            return Err(KvError::DuplicateKey);
        }
        puts.insert(k);
    }
    Ok((puts, dels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &str) -> RequestOp {
        RequestOp::Put(PutRequest {
            key: k.into(),
            value: b"v".to_vec(),
            ..Default::default()
        })
    }
    fn del(k: &str, end: &str) -> RequestOp {
        RequestOp::DeleteRange(DeleteRangeRequest {
            range: KeyRange {
                key: k.into(),
                range_end: end.into(),
            },
            prev_kv: false,
        })
    }
    fn txn(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> TxnRequest {
        TxnRequest {
            compare: vec![],
            success,
            failure,
        }
    }

    #[test]
    fn duplicate_puts() {
        assert_eq!(
            check_txn(&txn(vec![put("a"), put("a")], vec![])),
            Err(KvError::DuplicateKey)
        );
        // Same key in different branches is fine.
        assert_eq!(check_txn(&txn(vec![put("a")], vec![put("a")])), Ok(()));
        // Nested then/else may share a key, but not with the outer level.
        let nested = RequestOp::Txn(txn(vec![put("a")], vec![put("a")]));
        assert_eq!(check_txn(&txn(vec![nested.clone()], vec![])), Ok(()));
        assert_eq!(
            check_txn(&txn(vec![nested, put("a")], vec![])),
            Err(KvError::DuplicateKey)
        );
    }

    #[test]
    fn put_inside_delete() {
        assert_eq!(
            check_txn(&txn(vec![del("a", "c"), put("b")], vec![])),
            Err(KvError::DuplicateKey)
        );
        assert_eq!(
            check_txn(&txn(vec![del("a", ""), put("a")], vec![])),
            Err(KvError::DuplicateKey)
        );
        assert_eq!(
            check_txn(&txn(vec![del("a", "c"), put("c")], vec![])),
            Ok(())
        );
        // Overlapping deletes are fine.
        assert_eq!(
            check_txn(&txn(vec![del("a", "c"), del("b", "d")], vec![])),
            Ok(())
        );
        // A nested put under an outer delete, and an outer put under a nested delete.
        let nested_put = RequestOp::Txn(txn(vec![put("b")], vec![]));
        let nested_del = RequestOp::Txn(txn(vec![], vec![del("b", "")]));
        assert_eq!(
            check_txn(&txn(vec![del("a", "c"), nested_put], vec![])),
            Err(KvError::DuplicateKey)
        );
        assert_eq!(
            check_txn(&txn(vec![nested_del, put("b")], vec![])),
            Err(KvError::DuplicateKey)
        );
        // etcd quirk: a from-key delete ([0] range end) never conflicts.
        assert_eq!(
            check_txn(&txn(vec![del("a", "\0"), put("b")], vec![])),
            Ok(())
        );
    }

    #[test]
    fn too_many_ops() {
        let many = |n: usize| (0..n).map(|i| put(&format!("k{i}"))).collect::<Vec<_>>();
        assert_eq!(check_txn(&txn(many(128), vec![])), Ok(()));
        assert_eq!(check_txn(&txn(many(129), vec![])), Err(KvError::TooManyOps));
        assert_eq!(check_txn(&txn(many(100), many(100))), Ok(()));
        // A nested txn gets the budget its parent left: 120 + 9 > 128.
        let mut outer = many(119);
        outer.push(RequestOp::Txn(txn(vec![put("x"); 9], vec![])));
        assert_eq!(
            check_txn_ops(&txn(outer, vec![]), MAX_TXN_OPS),
            Err(KvError::TooManyOps)
        );
    }

    #[test]
    fn empty_keys_and_put_flags() {
        assert_eq!(check_txn(&txn(vec![put("")], vec![])), Err(empty_key()));
        assert_eq!(check_txn(&txn(vec![], vec![del("", "")])), Err(empty_key()));
        let p = PutRequest {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            ignore_value: true,
            ..Default::default()
        };
        assert_eq!(
            check_put(&p),
            Err(KvError::InvalidArgument("value is provided".into()))
        );
        let p = PutRequest {
            key: b"k".to_vec(),
            lease: 5,
            ignore_lease: true,
            ..Default::default()
        };
        assert_eq!(
            check_put(&p),
            Err(KvError::InvalidArgument("lease is provided".into()))
        );
    }
}

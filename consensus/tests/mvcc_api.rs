//! The contract between `Mvcc` and its caller: what reads see before and
//! after the caller commits, reload after a dropped transaction, and errors.

mod mvcc_support;

use std::sync::Arc;

use consensus::kv::mvcc::{Db, MvccError};
use consensus::kv::{
    Command, CommandResult, KeyRange, Mvcc, PutRequest, RangeRequest, RequestOp, TxnRequest,
};
use mvcc_support::open_db;

fn put(key: &str, value: &str) -> Command {
    Command::Put(PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    })
}

fn get(m: &Mvcc, key: &str) -> Vec<Vec<u8>> {
    let req = RangeRequest {
        range: KeyRange::single(key),
        ..Default::default()
    };
    m.range(&req)
        .unwrap()
        .kvs
        .into_iter()
        .map(|kv| kv.value)
        .collect()
}

#[test]
fn mvcc_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Mvcc>();
    check::<MvccError>();
}

#[test]
fn several_commands_in_one_transaction_read_their_own_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let mut m = Mvcc::open(db.clone()).unwrap();
    let txn = db.transaction();

    m.apply(&txn, &put("a", "1")).unwrap();
    // A Txn applied next sees the uncommitted put, both in compares and reads.
    let txn_cmd = Command::Txn(TxnRequest {
        compare: vec![consensus::kv::Compare {
            range: KeyRange::single("a"),
            result: consensus::kv::CompareResult::Equal,
            target: consensus::kv::CompareTarget::Value(b"1".to_vec()),
        }],
        success: vec![RequestOp::Range(RangeRequest {
            range: KeyRange::single("a"),
            ..Default::default()
        })],
        failure: vec![],
    });
    let applied = m.apply(&txn, &txn_cmd).unwrap();
    let Ok(CommandResult::Txn(resp)) = applied.result else {
        panic!("{applied:?}")
    };
    assert!(resp.succeeded);
    assert_eq!(
        format!("{:?}", resp.responses)
            .matches("value: [49]")
            .count(),
        1
    );
    let applied = m.apply(&txn, &put("a", "2")).unwrap();
    assert_eq!(applied.revision, 3);
    assert_eq!(applied.events[0].prev_kv.as_ref().unwrap().value, b"1");

    // Reads serve committed state only; the revision cache runs ahead.
    assert_eq!(m.revision(), 3);
    assert!(get(&m, "a").is_empty());
    let at2 = RangeRequest {
        range: KeyRange::single("a"),
        revision: 2,
        ..Default::default()
    };
    assert_eq!(m.range(&at2), Err(consensus::kv::KvError::FutureRevision));
    txn.commit().unwrap();
    assert_eq!(get(&m, "a"), vec![b"2".to_vec()]);
    assert_eq!(m.range(&at2).unwrap().kvs[0].value, b"1");
}

#[test]
fn reload_after_a_dropped_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let mut m = Mvcc::open(db.clone()).unwrap();
    let txn = db.transaction();
    m.apply(&txn, &put("a", "1")).unwrap();
    m.apply(&txn, &Command::Compact { revision: 2 }).unwrap();
    assert_eq!((m.revision(), m.compact_revision()), (2, 2));
    drop(txn);
    m.reload().unwrap();
    assert_eq!((m.revision(), m.compact_revision()), (1, 0));

    let txn = db.transaction();
    m.apply(&txn, &put("b", "1")).unwrap();
    txn.commit().unwrap();
    assert_eq!(m.revision(), 2);
    assert!(get(&m, "a").is_empty());
    assert_eq!(get(&m, "b"), vec![b"1".to_vec()]);
}

#[test]
fn open_needs_the_column_families() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(true);
    let db = Arc::new(Db::open(&opts, dir.path()).unwrap());
    match Mvcc::open(db) {
        Err(MvccError::MissingColumnFamily(_)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn db_size_counts_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let mut m = Mvcc::open(db.clone()).unwrap();
    let empty = m.db_size();
    let txn = db.transaction();
    for i in 0..100 {
        m.apply(&txn, &put(&format!("k{i}"), &"x".repeat(1000)))
            .unwrap();
    }
    txn.commit().unwrap();
    assert!(
        m.db_size() > empty + 100_000,
        "{} -> {}",
        empty,
        m.db_size()
    );
}

//! A rough throughput check of the MVCC store alone (no Raft, no gRPC):
//! `cargo run --release -p consensus --example mvcc_bench` (BLOOM=1 adds
//! bloom filters and a 64 MiB block cache to compare).
//! Prints numbers; asserts nothing about them.

#[path = "../tests/mvcc_support/mod.rs"]
mod mvcc_support;

use std::time::Instant;

use consensus::kv::mvcc::Db;
use consensus::kv::{Command, KeyRange, Mvcc, PutRequest, RangeRequest, RequestOp, TxnRequest};
use std::sync::Arc;

fn open_db(path: &std::path::Path) -> Arc<Db> {
    if std::env::var_os("BLOOM").is_none() {
        return mvcc_support::open_db(path);
    }
    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    let cfs = Mvcc::COLUMN_FAMILIES.iter().map(|name| {
        let mut o = rocksdb::Options::default();
        let mut b = rocksdb::BlockBasedOptions::default();
        b.set_bloom_filter(10.0, false);
        b.set_block_cache(&rocksdb::Cache::new_lru_cache(64 << 20).unwrap());
        o.set_block_based_table_factory(&b);
        rocksdb::ColumnFamilyDescriptor::new(*name, o)
    });
    Arc::new(Db::open_cf_descriptors(&opts, path, cfs).unwrap())
}

fn rate(what: &str, n: usize, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{what}: {n} in {secs:.2}s = {:.0}/s ({:.1} µs each)",
        n as f64 / secs,
        secs * 1e6 / n as f64
    );
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let mut m = Mvcc::open(db.clone()).unwrap();
    let value = vec![b'x'; 256];
    let keys: Vec<Vec<u8>> = (0..10_000)
        .map(|i| format!("/registry/pods/ns{}/pod{i:06}", i % 10).into_bytes())
        .collect();

    // Puts, 100 commands per transaction (one Raft batch), keys overwritten 10x.
    let n = 100_000;
    let start = Instant::now();
    for batch in 0..n / 100 {
        let txn = db.transaction();
        for i in 0..100 {
            let key = keys[(batch * 100 + i) % keys.len()].clone();
            let cmd = Command::Put(PutRequest {
                key,
                value: value.clone(),
                ..Default::default()
            });
            m.apply(&txn, &cmd).unwrap();
        }
        txn.commit().unwrap();
    }
    rate("put (100/txn)", n, start);

    // Where does a put go: apply vs commit.
    let (mut t_apply, mut t_commit) = (0.0, 0.0);
    let n = 20_000;
    for batch in 0..n / 100 {
        let txn = db.transaction();
        let t0 = Instant::now();
        for i in 0..100 {
            let key = keys[(batch * 100 + i) % keys.len()].clone();
            let cmd = Command::Put(PutRequest {
                key,
                value: value.clone(),
                ..Default::default()
            });
            m.apply(&txn, &cmd).unwrap();
        }
        let t1 = Instant::now();
        txn.commit().unwrap();
        t_apply += (t1 - t0).as_secs_f64();
        t_commit += t1.elapsed().as_secs_f64();
    }
    println!(
        "  apply {:.1} µs/put, commit {:.1} µs/put",
        t_apply * 1e6 / n as f64,
        t_commit * 1e6 / n as f64
    );

    // The same writes committed as a plain write batch (no conflict check).
    let (mut t_apply, mut t_write) = (0.0, 0.0);
    let n = 20_000;
    for batch in 0..n / 100 {
        let txn = db.transaction();
        let t0 = Instant::now();
        for i in 0..100 {
            let key = keys[(batch * 100 + i) % keys.len()].clone();
            let cmd = Command::Put(PutRequest {
                key,
                value: value.clone(),
                ..Default::default()
            });
            m.apply(&txn, &cmd).unwrap();
        }
        let wb = txn.get_writebatch();
        drop(txn);
        let t1 = Instant::now();
        db.write(wb).unwrap();
        t_apply += (t1 - t0).as_secs_f64();
        t_write += t1.elapsed().as_secs_f64();
    }
    println!(
        "  as a write batch: apply {:.1} µs/put, write {:.1} µs/put",
        t_apply * 1e6 / n as f64,
        t_write * 1e6 / n as f64
    );

    // Raw iteration over one prefix, for comparison with Range.
    let cf = db.cf_handle("mvcc_kv").unwrap();
    let start = Instant::now();
    let n = 200;
    for i in 0..n {
        let prefix = format!("/registry/pods/ns{}/", i % 10).into_bytes();
        let mut it = db.raw_iterator_cf(&cf);
        it.seek(&prefix);
        let mut c = 0;
        while let Some(k) = it.key() {
            if !k.starts_with(&prefix) {
                break;
            }
            c += 1;
            it.next();
        }
        assert_eq!(c, 1000);
    }
    rate("raw prefix scan of 1000 keys", n, start);
    for name in Mvcc::COLUMN_FAMILIES {
        let cf = db.cf_handle(name).unwrap();
        db.compact_range_cf(&cf, None::<&[u8]>, None::<&[u8]>);
    }
    let start = Instant::now();
    for i in 0..n {
        let req = RangeRequest {
            range: KeyRange::prefix(format!("/registry/pods/ns{}/", i % 10)),
            limit: 100,
            ..Default::default()
        };
        assert_eq!(m.range(&req).unwrap().kvs.len(), 100);
    }
    rate(
        "after a full compaction: range prefix limit=100 (of 1000)",
        n,
        start,
    );

    // Txns: compare + put, like a topo read-modify-write.
    let start = Instant::now();
    let n = 20_000;
    for batch in 0..n / 100 {
        let txn = db.transaction();
        for i in 0..100 {
            let key = keys[(batch * 100 + i) % keys.len()].clone();
            let cmd = Command::Txn(TxnRequest {
                compare: vec![consensus::kv::Compare {
                    range: KeyRange::single(key.clone()),
                    result: consensus::kv::CompareResult::Greater,
                    target: consensus::kv::CompareTarget::Version(0),
                }],
                success: vec![RequestOp::Put(PutRequest {
                    key,
                    value: value.clone(),
                    ..Default::default()
                })],
                failure: vec![],
            });
            m.apply(&txn, &cmd).unwrap();
        }
        txn.commit().unwrap();
    }
    rate("txn compare+put (100/txn)", n, start);

    let start = Instant::now();
    let n = 200_000;
    for i in 0..n {
        let req = RangeRequest {
            range: KeyRange::single(keys[i % keys.len()].clone()),
            ..Default::default()
        };
        assert_eq!(m.range(&req).unwrap().kvs.len(), 1);
    }
    rate("range single key", n, start);

    let start = Instant::now();
    let n = 2_000;
    for i in 0..n {
        let req = RangeRequest {
            range: KeyRange::prefix(format!("/registry/pods/ns{}/", i % 10)),
            limit: 100,
            ..Default::default()
        };
        assert_eq!(m.range(&req).unwrap().kvs.len(), 100);
    }
    rate("range prefix limit=100 (of 1000)", n, start);

    let rev = m.revision();
    let start = Instant::now();
    let n = 50_000;
    for i in 0..n {
        let req = RangeRequest {
            range: KeyRange::single(keys[i % keys.len()].clone()),
            revision: rev - 50_000,
            ..Default::default()
        };
        assert_eq!(m.range(&req).unwrap().kvs.len(), 1);
    }
    rate("range single key at an old revision", n, start);

    let start = Instant::now();
    let n = 200;
    for i in 0..n {
        let req = RangeRequest {
            range: KeyRange::prefix(format!("/registry/pods/ns{}/", i % 10)),
            revision: rev - 50_000,
            limit: 100,
            ..Default::default()
        };
        assert_eq!(m.range(&req).unwrap().kvs.len(), 100);
    }
    rate(
        "range prefix limit=100 (of 1000) at an old revision",
        n,
        start,
    );

    let start = Instant::now();
    let evs = m
        .events_since(
            rev - 10_000,
            &KeyRange {
                key: vec![0],
                range_end: vec![0],
            },
        )
        .unwrap();
    rate("events_since (10k events)", evs.len(), start);

    let start = Instant::now();
    let txn = db.transaction();
    m.apply(
        &txn,
        &Command::Compact {
            revision: rev - 1000,
        },
    )
    .unwrap();
    txn.commit().unwrap();
    println!(
        "compact of {} revisions: {:.2}s",
        rev - 1000,
        start.elapsed().as_secs_f64()
    );
    println!("db_size {} MB", m.db_size() >> 20);
}

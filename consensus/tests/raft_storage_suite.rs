//! openraft's own storage conformance suite, run against the RocksDB log
//! store and state machine (real RocksDB in a temp dir per case).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use consensus::kv::{LeaseId, Mvcc, Revision};
use consensus::raft_types::{Response, StorageError, TypeConfig};
use consensus::store::{self, ApplyListener, LogStore, StateMachine};
use openraft::testing::{StoreBuilder, Suite};

struct NoListener;

impl ApplyListener for NoListener {
    fn applied(&self, _: &[Response], _: &[LeaseId], _: Duration) {}
    fn reset(&self, _: Revision) {}
}

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = store::open_db(dir.path()).expect("open rocksdb");
        let mvcc = Arc::new(RwLock::new(Mvcc::open(db.clone()).expect("open mvcc")));
        let log = LogStore::new(db.clone());
        let sm = StateMachine::open(
            db,
            mvcc,
            &dir.path().join("snapshots"),
            Arc::new(NoListener),
        )?;
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    if let Err(e) = Suite::test_all(Builder) {
        panic!("openraft storage suite failed: {e}");
    }
}

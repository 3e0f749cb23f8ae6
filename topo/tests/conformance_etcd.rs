//! The KV conformance suite against a real etcd 3.4 (`/usr/bin/etcd`), each
//! test on its own freshly started server.

mod conformance;
#[allow(dead_code)]
mod support;

use support::{ServerKind, ServerProcess};

conformance_suite!(support::TestBackend::etcd());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_survives_server_restart() {
    let mut server = ServerProcess::start(ServerKind::Etcd).await;
    conformance::watch_survives_server_restart(&mut server).await;
}

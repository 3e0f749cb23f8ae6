//! The C client family (libmysqlclient / MariaDB Connector/C, here through
//! sysbench's Lua driver), whose prepared statements behave unlike
//! mysql_async's: parameter types go with the first execution only, and
//! the prepare reply's column count decides whether rows are read.
//!
//! The script (`c_client.lua`) re-executes a point select with new values
//! and checks each answer (the gate once read re-executions' parameters
//! one byte off and answered for the wrong user), then runs a second
//! prepared statement inside a transaction (once "Commands out of sync":
//! the first statement's rows were never read), against two real shards.

mod support;

use support::{Cluster, PASSWORD, USER};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sysbench_prepared_statements_get_the_right_rows() {
    let c = Cluster::start().await;
    c.sql("USE commerce; CREATE TABLE users (user_id BIGINT PRIMARY KEY, name VARCHAR(50))");
    c.sql(
        "USE commerce; INSERT INTO users (user_id, name) VALUES \
         (1,'py1'),(2,'py2'),(3,'py3'),(4,'py4'),(5,'py5'),(6,'py6'),(7,'py7'),(8,'py8')",
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c_client.lua");
    let out = std::process::Command::new("sysbench")
        .args([
            "--db-driver=mysql",
            "--mysql-host=127.0.0.1",
            &format!("--mysql-port={}", c.port()),
            &format!("--mysql-user={USER}"),
            &format!("--mysql-password={PASSWORD}"),
            "--mysql-db=commerce",
            "--events=1",
            "--threads=1",
            script,
            "run",
        ])
        .output()
        .expect("sysbench runs (scripts/install-deps.sh installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().any(|l| l.trim() == "ok"),
        "sysbench script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.shutdown().await;
}

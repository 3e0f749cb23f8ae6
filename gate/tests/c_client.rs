//! The C client family (libmysqlclient / MariaDB Connector/C, here through
//! sysbench's Lua driver), whose prepared statements behave unlike
//! mysql_async's: parameter types go with the first execution only, and
//! the prepare reply's column count decides whether rows are read.
//!
//! The script (`c_client.lua`) re-executes a prepared UPDATE with new
//! values (the gate once read re-executions' parameters one byte off and
//! updated nobody; the rows are checked here afterwards), then runs two
//! prepared SELECTs inside a transaction and counts their rows (once
//! "Commands out of sync": the first one's rows were never read), against
//! two real shards.

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
    let names = c.sql("SELECT user_id, name FROM commerce.users ORDER BY user_id");
    let seen: Vec<&str> = names
        .lines()
        .filter(|l| l.ends_with("seen"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        seen,
        ["3", "5", "7"],
        "rows after the prepared updates:\n{names}"
    );
    c.shutdown().await;
}

//! A third client family: Python's PyMySQL (Debian's python3-pymysql),
//! with server-side parameter interpolation, a transaction and an error,
//! against the gate over two real shards.

mod support;

use support::{Cluster, PASSWORD, USER};

const SCRIPT: &str = r#"
import sys, pymysql
port = int(sys.argv[1]); user = sys.argv[2]; password = sys.argv[3]
conn = pymysql.connect(host="127.0.0.1", port=port, user=user, password=password,
                       database="commerce", autocommit=True)
cur = conn.cursor()
cur.executemany("INSERT INTO users (user_id, name) VALUES (%s, %s)",
                [(i, "py%d" % i) for i in range(1, 9)])
cur.execute("SELECT name FROM users WHERE user_id = %s", (3,))
assert cur.fetchall() == (("py3",),), "point select"
cur.execute("SELECT COUNT(*) FROM users")
assert cur.fetchone()[0] == 8, "scatter count"
cur.execute("SELECT user_id FROM users ORDER BY user_id DESC LIMIT 2")
assert [r[0] for r in cur.fetchall()] == [8, 7], "merge-sorted limit"
conn.autocommit(False)
cur.execute("UPDATE users SET name = 'changed' WHERE user_id = 1")
conn.rollback()
cur.execute("SELECT name FROM users WHERE user_id = 1")
assert cur.fetchone()[0] == "py1", "rollback"
try:
    cur.execute("SELEKT 1")
    raise SystemExit("malformed SQL was accepted")
except pymysql.err.ProgrammingError as e:
    assert e.args[0] == 1064, e.args
cur.execute("SELECT 1")
assert cur.fetchone()[0] == 1, "session survives an error"
print("ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pymysql_reads_writes_transactions_and_errors() {
    let c = Cluster::start().await;
    c.sql("USE commerce; CREATE TABLE users (user_id BIGINT PRIMARY KEY, name VARCHAR(50))");
    let out = // Debian's interpreter: python3-pymysql installs for it (a python3
    // earlier on PATH, e.g. pyenv's, would not see the module).
    std::process::Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT, &c.port().to_string(), USER, PASSWORD])
        .output()
        .expect("python3 runs (scripts/install-deps.sh installs python3-pymysql)");
    assert!(
        out.status.success(),
        "PyMySQL script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    c.shutdown().await;
}

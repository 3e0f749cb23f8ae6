//! Malformed client packets against a real gate: each gets an error packet
//! (or, for commands MySQL never answers, nothing) and the same connection
//! keeps working. opensrv-mysql 0.7 alone panics on several of these,
//! which ended the connection.
//!
//! The client side is a raw socket speaking the protocol by hand, so that
//! it can send what no driver would.

mod support;

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha1::{Digest, Sha1};
use support::{Cluster, PASSWORD, USER};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const COM_QUERY: u8 = 0x03;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
const COM_STMT_CLOSE: u8 = 0x19;

/// What the server answered to one command.
#[derive(Debug, PartialEq)]
enum Reply {
    Ok,
    Err(u16, String),
    /// A result set: its rows' packets (text or binary).
    Rows(Vec<Vec<u8>>),
}

struct Client {
    sock: TcpStream,
}

impl Client {
    async fn read_packet(&mut self) -> (u8, Vec<u8>) {
        let mut h = [0u8; 4];
        support::within("a packet from the gate", self.sock.read_exact(&mut h))
            .await
            .expect("the gate closed the connection");
        let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
        let mut p = vec![0; len];
        support::within("a packet from the gate", self.sock.read_exact(&mut p))
            .await
            .expect("the gate closed the connection mid-packet");
        (h[3], p)
    }

    async fn send(&mut self, seq: u8, payload: &[u8]) {
        self.sock.write_all(&frame(seq, payload)).await.unwrap();
    }

    /// Connects and authenticates with mysql_native_password.
    async fn connect(port: u16) -> Client {
        let sock = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut c = Client { sock };
        let (_, greeting) = c.read_packet().await;
        assert_eq!(greeting[0], 10, "protocol 10");
        let version_end = 1 + greeting[1..].iter().position(|&b| b == 0).unwrap();
        let part1 = &greeting[version_end + 5..version_end + 13];
        let part2_at = version_end + 13 + 1 + 2 + 1 + 2 + 2 + 1 + 10;
        let part2 = &greeting[part2_at..part2_at + 12];
        let scramble = [part1, part2].concat();

        // PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | TRANSACTIONS.
        let caps: u32 = 0x200 | 0x8000 | 0x8_0000 | 0x2000;
        let mut p = caps.to_le_bytes().to_vec();
        p.extend_from_slice(&(1u32 << 24).to_le_bytes());
        p.push(33);
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(USER.as_bytes());
        p.push(0);
        let token = native_password(PASSWORD.as_bytes(), &scramble);
        p.push(token.len() as u8);
        p.extend_from_slice(&token);
        p.extend_from_slice(b"mysql_native_password\0");
        c.send(1, &p).await;
        let (_, ok) = c.read_packet().await;
        assert_eq!(ok[0], 0, "authenticated: {ok:?}");
        c
    }

    /// Reads the whole answer to one command.
    async fn reply(&mut self) -> Reply {
        let (_, first) = self.read_packet().await;
        match first[0] {
            0x00 => return Reply::Ok,
            // opensrv answers COM_FIELD_LIST with an EOF-headed OK.
            0xfe if first.len() < 9 => return Reply::Ok,
            0xff => {
                let code = u16::from_le_bytes([first[1], first[2]]);
                let message = String::from_utf8_lossy(&first[9..]).into_owned();
                return Reply::Err(code, message);
            }
            _ => {}
        }
        // Column count, definitions, EOF, rows, EOF (no DEPRECATE_EOF).
        let columns = usize::from(first[0]);
        for _ in 0..columns {
            self.read_packet().await;
        }
        let (_, eof) = self.read_packet().await;
        assert_eq!(eof[0], 0xfe, "EOF after the column definitions");
        let mut rows = Vec::new();
        loop {
            let (_, p) = self.read_packet().await;
            match p[0] {
                0xfe if p.len() < 9 => return Reply::Rows(rows),
                0xff => {
                    let code = u16::from_le_bytes([p[1], p[2]]);
                    return Reply::Err(code, String::from_utf8_lossy(&p[9..]).into_owned());
                }
                _ => rows.push(p),
            }
        }
    }

    async fn command(&mut self, payload: &[u8]) -> Reply {
        self.send(0, payload).await;
        self.reply().await
    }

    /// `SELECT 1` answers with one row holding "1".
    async fn assert_alive(&mut self, after: &str) {
        let mut q = vec![COM_QUERY];
        q.extend_from_slice(b"SELECT 1");
        match self.command(&q).await {
            Reply::Rows(rows) => assert_eq!(rows, vec![b"\x011".to_vec()], "after {after}"),
            other => panic!("SELECT 1 after {after}: {other:?}"),
        }
    }

    /// Prepares `sql`; its statement id and parameter count.
    async fn prepare(&mut self, sql: &str) -> (u32, u16) {
        let mut p = vec![COM_STMT_PREPARE];
        p.extend_from_slice(sql.as_bytes());
        self.send(0, &p).await;
        let (_, ok) = self.read_packet().await;
        assert_eq!(ok[0], 0, "prepare {sql}: {ok:?}");
        let id = u32::from_le_bytes([ok[1], ok[2], ok[3], ok[4]]);
        let columns = u16::from_le_bytes([ok[5], ok[6]]);
        let params = u16::from_le_bytes([ok[7], ok[8]]);
        for n in [params, columns] {
            if n > 0 {
                for _ in 0..=n {
                    self.read_packet().await; // definitions, then EOF
                }
            }
        }
        (id, params)
    }
}

fn frame(seq: u8, payload: &[u8]) -> Vec<u8> {
    let n = payload.len();
    let mut v = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq];
    v.extend_from_slice(payload);
    v
}

fn native_password(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    let stage1 = Sha1::digest(password);
    let stage2 = Sha1::digest(stage1);
    let mut h = Sha1::new();
    h.update(scramble);
    h.update(stage2);
    let mix = h.finalize();
    stage1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect()
}

/// COM_STMT_EXECUTE of `stmt` with one parameter of type `ty` and `value`.
fn execute(stmt: u32, ty: u8, value: &[u8]) -> Vec<u8> {
    let mut p = vec![COM_STMT_EXECUTE];
    p.extend_from_slice(&stmt.to_le_bytes());
    p.extend_from_slice(&[0, 1, 0, 0, 0]); // flags, iteration count
    p.extend_from_slice(&[0, 1, ty, 0]); // NULL bitmap, types bound, type
    p.extend_from_slice(value);
    p
}

fn assert_refused(reply: Reply, code: u16, what: &str) {
    match reply {
        Reply::Err(c, m) => {
            assert_eq!(c, code, "{what}: {m}");
            if code == 1210 {
                assert_eq!(m, "Incorrect arguments to mysqld_stmt_execute", "{what}");
            }
        }
        other => panic!("{what}: expected error {code}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_packets_get_errors_and_the_session_goes_on() {
    let cluster = Cluster::start().await;
    let mut c = Client::connect(cluster.port()).await;
    c.assert_alive("connecting").await;
    let (stmt, params) = c.prepare("SELECT ?").await;
    assert_eq!(params, 1);
    // Never executed: no types to put back when an execute leaves them out.
    let (untyped, _) = c.prepare("SELECT ?").await;

    // A valid execute answers its row (binary: header, NULL bitmap, value).
    let good = execute(stmt, 0x08, &42i64.to_le_bytes());
    match c.command(&good).await {
        Reply::Rows(rows) => assert_eq!(rows.len(), 1, "{rows:?}"),
        other => panic!("valid execute: {other:?}"),
    }

    let mut truncated = execute(stmt, 0x08, &42i64.to_le_bytes());
    truncated.truncate(truncated.len() - 3);
    let mut no_bitmap = vec![COM_STMT_EXECUTE];
    no_bitmap.extend_from_slice(&stmt.to_le_bytes());
    no_bitmap.extend_from_slice(&[0, 1, 0, 0, 0]);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("type byte 0xee", execute(stmt, 0xee, &[1, 2, 3, 4]), 1210),
        ("truncated LONGLONG", truncated, 1210),
        ("missing NULL bitmap", no_bitmap, 1210),
        (
            "string longer than the packet",
            execute(stmt, 0xfd, b"\xfc\xff\x00abc"),
            1210,
        ),
        ("only the command byte", vec![COM_STMT_EXECUTE], 1210),
        (
            "types never sent",
            {
                let mut p = execute(untyped, 0x08, &[]);
                p.truncate(11);
                p.push(0);
                p.extend_from_slice(&7i64.to_le_bytes());
                p
            },
            1210,
        ),
        (
            "unknown statement",
            execute(stmt + 1000, 0x08, &[0; 8]),
            1243,
        ),
    ];
    for (what, packet, code) in &cases {
        assert_refused(c.command(packet).await, *code, what);
        c.assert_alive(what).await;
    }

    // A sequence number other than 0 does not get past the checks (opensrv
    // does not look at it), nor does 255 (opensrv would add 1 to it) —
    // that one ends the connection, as MySQL does.
    c.send(3, &execute(stmt, 0xee, &[0; 8])).await;
    assert_refused(c.reply().await, 1210, "sequence number 3");
    c.assert_alive("sequence number 3").await;

    // Empty packets, lone command bytes and other odd commands: opensrv
    // answers these itself (or the handler does) without panicking.
    for p in [
        &[][..],
        &[COM_QUERY],
        &[0x02],
        &[0x04],
        &[0x04, b'u', b's', b'e', b'r', b's', 0],
        &[COM_STMT_PREPARE],
        &[0x1a],
        &[0x1a, 1, 0, 0, 0],
        &[0x99, 1, 2, 3],
    ] {
        let what = format!("command {p:?}");
        match c.command(p).await {
            Reply::Ok | Reply::Err(..) => {}
            other => panic!("{what}: {other:?}"),
        }
        c.assert_alive(&what).await;
    }

    // Text that is not UTF-8.
    let mut latin1 = vec![COM_QUERY];
    latin1.extend_from_slice(b"SELECT 'caf\xe9'");
    assert_refused(c.command(&latin1).await, 1300, "latin1 query");
    c.assert_alive("latin1 query").await;

    // Sent together with the next command, in one write.
    let mut both = frame(0, &execute(stmt, 0xee, &[0; 8]));
    let mut q = vec![COM_QUERY];
    q.extend_from_slice(b"SELECT 1");
    both.extend(frame(0, &q));
    c.sock.write_all(&both).await.unwrap();
    assert_refused(c.reply().await, 1210, "pipelined");
    assert!(matches!(c.reply().await, Reply::Rows(_)));

    // Commands MySQL never answers: short or for an unknown statement,
    // they must not be answered either (an answer would be taken for the
    // next command's).
    for (what, p) in [
        ("short COM_STMT_CLOSE", vec![COM_STMT_CLOSE, 1]),
        (
            "short COM_STMT_SEND_LONG_DATA",
            vec![COM_STMT_SEND_LONG_DATA, 1],
        ),
        (
            "COM_STMT_SEND_LONG_DATA for an unknown statement",
            vec![COM_STMT_SEND_LONG_DATA, 0xee, 0, 0, 0, 0, 0, b'x'],
        ),
    ] {
        c.send(0, &p).await;
        c.assert_alive(what).await;
    }

    // Long data stands in for the parameter's value in the execute; once
    // used, it is gone and the value must be in the packet again.
    let mut long = vec![COM_STMT_SEND_LONG_DATA];
    long.extend_from_slice(&stmt.to_le_bytes());
    long.extend_from_slice(&[0, 0]);
    long.extend_from_slice(b"from long data");
    c.send(0, &long).await;
    let without_value = execute(stmt, 0xfc, &[]);
    match c.command(&without_value).await {
        Reply::Rows(rows) => {
            assert!(rows[0].ends_with(b"from long data"), "{rows:?}")
        }
        other => panic!("execute with long data: {other:?}"),
    }
    assert_refused(c.command(&without_value).await, 1210, "long data used up");
    c.assert_alive("long data").await;

    // Each refusal above is counted in the gate's metrics under its code:
    // 1210 for the six malformed cases, sequence number 3, the pipelined
    // execute and the used-up long data; 1243 and 1300 once each.
    let metrics = cluster.metrics().await;
    for (code, n) in [(1210, 9), (1243, 1), (1300, 1)] {
        let line = format!("vitrail_gate_errors_total{{code=\"{code}\"}} {n}\n");
        assert!(metrics.contains(&line), "want {line:?} in:\n{metrics}");
    }
    assert!(metrics.contains("vitrail_gate_queries_total{plan=\"Refused\"} 11\n"));

    fuzz(&mut c, stmt).await;

    // Sequence number 255 ends the connection (and nothing panicked: the
    // gate still serves new ones).
    c.send(255, &q).await;
    let mut rest = Vec::new();
    let n = support::within("the gate to close", c.sock.read_to_end(&mut rest))
        .await
        .unwrap_or(0);
    assert_eq!(n, 0, "{rest:?}");
    let mut again = Client::connect(cluster.port()).await;
    again.assert_alive("reconnecting").await;
    cluster.shutdown().await;
}

/// A few hundred mutations of valid executes (seeded: the same each run):
/// each gets a result or an error packet, never a closed connection.
async fn fuzz(c: &mut Client, stmt: u32) {
    let valid: Vec<Vec<u8>> = vec![
        execute(stmt, 0x08, &(-5i64).to_le_bytes()),
        execute(stmt, 0x03, &7u32.to_le_bytes()),
        execute(stmt, 0x01, &[9]),
        execute(stmt, 0x05, &2.5f64.to_le_bytes()),
        execute(stmt, 0xfd, b"\x05hello"),
        execute(stmt, 0xfc, b"\xfc\x03\x00abc"),
        execute(stmt, 0x0c, &[7, 0xea, 0x07, 11, 22, 1, 2, 3]),
        execute(stmt, 0x0a, &[4, 0xea, 0x07, 11, 22]),
        execute(stmt, 0x06, &[]),
    ];
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut answers = [0usize; 3];
    for i in 0..400 {
        let mut p = valid[rng.gen_range(0..valid.len())].clone();
        for _ in 0..rng.gen_range(1..4) {
            // The command byte stays: another command would be another test.
            let at = rng.gen_range(1..p.len().max(2));
            match rng.gen_range(0..5) {
                0 => p.truncate(at),
                1 if at < p.len() => p[at] = rng.gen(),
                2 if at < p.len() => p[at] ^= 1 << rng.gen_range(0..8),
                3 => p.insert(at.min(p.len()), rng.gen()),
                _ => p.extend((0..rng.gen_range(1..8)).map(|_| rng.gen::<u8>())),
            }
        }
        let reply = tokio::time::timeout(Duration::from_secs(30), c.command(&p))
            .await
            .unwrap_or_else(|_| panic!("mutation {i} {p:?}: no answer"));
        answers[match reply {
            Reply::Ok => 0,
            Reply::Err(..) => 1,
            Reply::Rows(_) => 2,
        }] += 1;
        if i % 50 == 0 {
            c.assert_alive(&format!("mutation {i}")).await;
        }
    }
    // The mutations exercised both sides.
    assert!(answers[1] > 50 && answers[2] > 10, "{answers:?}");
    c.assert_alive("the mutations").await;
}

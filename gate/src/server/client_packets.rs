//! The client's packets on their way to opensrv-mysql, framed once, for
//! what opensrv does not do itself.
//!
//! **One packet at a time.** opensrv reads until it has one whole packet,
//! handles it, then reads again; this reader frames the next packet only
//! when opensrv asks for bytes after taking all of the previous one, that
//! is after it was handled. So what the handler learned from a packet (a
//! prepared statement's parameter count, the end of authentication) is
//! known here before the next one is looked at, and a reset seen here
//! applies to the command after it, even when the client sent several
//! commands at once.
//!
//! A packet whose framing opensrv would panic on ends the connection (see
//! [`super::frames`]).
//!
//! After authentication ([`CommandPhase`]) each packet is a command,
//! whatever its sequence number (opensrv does not look at it):
//!
//! **COM_RESET_CONNECTION.** opensrv answers commands it does not know
//! (COM_RESET_CONNECTION, COM_CHANGE_USER…) with a plain OK and no
//! callback, so the session would keep its transaction and variables
//! across a connection pool's reset. A reset sets a [`ResetFlag`], which
//! the handler checks before running the next command and resets the
//! session then.
//!
//! **Parameter types on COM_STMT_EXECUTE.** A client may send a prepared
//! statement's parameter types only with its first execution
//! (`new_params_bound_flag` = 1) and leave them out of later ones (flag =
//! 0: "same types as before"); libmysqlclient and MariaDB Connector/C do,
//! and so sysbench, PHP and C programs do. opensrv-mysql 0.7 keeps the
//! types but does not skip the 0 flag byte, so it reads every parameter one
//! byte off: sysbench's second point select asked for id 1421824 instead
//! of 5554 and got nothing back — a wrong answer, not an error. This reader
//! remembers the types of each statement's last typed execution and puts
//! them back (flag 1 + types) when a later one omits them. The parameter
//! count of each statement comes from the handler's prepare
//! ([`ParamCounts`]).
//!
//! **Malformed COM_STMT_EXECUTE.** opensrv panics on many (see
//! [`super::stmt_execute`]) and ends the connection on an unknown
//! statement. Each execute is checked whole; one that is refused becomes a
//! COM_QUERY that [`rejected`] recognizes, and the handler answers it with
//! the error (1210, or 1243 for an unknown statement) and nothing else:
//! the session goes on. The stand-in carries the error itself, so nothing
//! has to be shared with the handler to match them up.
//!
//! **COM_STMT_SEND_LONG_DATA and COM_STMT_CLOSE** get no answer from
//! MySQL. opensrv answers a short one with an OK packet (which the client
//! takes for the answer to its next command) and ends the connection on
//! long data for an unknown statement; those are dropped here. The long
//! data a statement has is remembered, as opensrv takes those parameters
//! from it and not from the execute.
//!
//! **Text that is not UTF-8** in COM_QUERY, COM_INIT_DB or
//! COM_STMT_PREPARE ends the connection in opensrv; here it is error 1300
//! (ER_INVALID_CHARACTER_STRING) and the session goes on.
//!
//! Everything else passes through unchanged.

use std::collections::{HashMap, HashSet};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use super::frames::{frame, payload, push_packet};
use super::stmt_execute::{bound_flag_at, check, statement_id};
use crate::exec::MysqlErr;

const COM_INIT_DB: u8 = 0x02;
const COM_QUERY: u8 = 0x03;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_RESET_CONNECTION: u8 = 0x1f;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
const COM_STMT_CLOSE: u8 = 0x19;
/// Starts the COM_QUERY standing in for a refused command (no SQL starts
/// with a NUL byte).
const REJECTED: &str = "\0vitrail rejected ";
const WRONG_ARGUMENTS: &str = "Incorrect arguments to mysqld_stmt_execute";

/// Set when the client sends COM_RESET_CONNECTION.
#[derive(Clone, Default)]
pub struct ResetFlag(Arc<AtomicBool>);

impl ResetFlag {
    /// True once per reset the client asked for.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}

/// Set by the handler once the client is authenticated: every packet after
/// that is a command.
#[derive(Clone, Default)]
pub struct CommandPhase(Arc<AtomicBool>);

impl CommandPhase {
    pub fn start(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn started(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Parameter count of each prepared statement, by statement id.
#[derive(Clone, Default)]
pub struct ParamCounts(Arc<Mutex<HashMap<u32, usize>>>);

impl ParamCounts {
    pub fn set(&self, stmt: u32, params: usize) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(stmt, params);
        }
    }

    pub fn remove(&self, stmt: u32) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(&stmt);
        }
    }

    fn get(&self, stmt: u32) -> Option<usize> {
        self.0.lock().ok().and_then(|m| m.get(&stmt).copied())
    }
}

/// The error to answer if `query` stands in for a command this reader
/// refused.
pub fn rejected(query: &str) -> Option<MysqlErr> {
    let (code, message) = query.strip_prefix(REJECTED)?.split_once(' ')?;
    Some(MysqlErr::new(code.parse().ok()?, message))
}

/// The COM_QUERY payload standing in for a refused command.
fn stand_in(code: u16, message: &str) -> Vec<u8> {
    let mut p = vec![COM_QUERY];
    p.extend_from_slice(format!("{REJECTED}{code} {message}").as_bytes());
    p
}

/// What this reader knows of a prepared statement besides its count.
#[derive(Default)]
struct Stmt {
    /// Types (2 bytes per parameter) of the last execution that passed.
    types: Option<Vec<u8>>,
    /// Parameters sent with COM_STMT_SEND_LONG_DATA since that execution.
    long_data: HashSet<u16>,
}

/// What becomes of a command.
enum Action {
    Pass,
    Replace(Vec<u8>),
    Drop,
}

pub struct ClientPackets<R> {
    inner: R,
    resets: ResetFlag,
    counts: ParamCounts,
    phase: CommandPhase,
    stmts: HashMap<u32, Stmt>,
    /// Bytes read but not yet a whole packet.
    pending: Vec<u8>,
    /// The current (possibly rewritten) packet, not yet all handed over.
    out: Vec<u8>,
    out_pos: usize,
    eof: bool,
}

impl<R> ClientPackets<R> {
    pub fn new(inner: R, resets: ResetFlag, counts: ParamCounts, phase: CommandPhase) -> Self {
        ClientPackets {
            inner,
            resets,
            counts,
            phase,
            stmts: HashMap::new(),
            pending: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            eof: false,
        }
    }

    /// Moves the first whole packet of `pending` to `out` (rewritten, or
    /// nothing if dropped); false if there is none yet.
    fn next_packet(&mut self) -> io::Result<bool> {
        let Some(f) = frame(&self.pending)? else {
            return Ok(false);
        };
        let mut pending = std::mem::take(&mut self.pending);
        let action = if self.phase.started() {
            self.command(&payload(&pending, &f))
        } else {
            Action::Pass
        };
        match action {
            Action::Pass => self.out.extend_from_slice(&pending[..f.end]),
            Action::Replace(p) => {
                if push_packet(&mut self.out, &p, f.last_seq).is_none() {
                    // Types put back need one more part than the client's
                    // sequence numbers leave room for; the stand-in is one
                    // part and always fits.
                    let p = stand_in(1210, WRONG_ARGUMENTS);
                    let _ = push_packet(&mut self.out, &p, f.last_seq);
                }
            }
            Action::Drop => {}
        }
        pending.drain(..f.end);
        self.pending = pending;
        Ok(true)
    }

    fn command(&mut self, p: &[u8]) -> Action {
        match p.first() {
            Some(&COM_RESET_CONNECTION) => {
                self.resets.0.store(true, Ordering::Release);
                Action::Pass
            }
            Some(&(COM_QUERY | COM_INIT_DB | COM_STMT_PREPARE))
                if std::str::from_utf8(&p[1..]).is_err() =>
            {
                Action::Replace(stand_in(1300, "Invalid utf8mb4 character string"))
            }
            Some(&COM_STMT_EXECUTE) => self.execute(p),
            Some(&COM_STMT_SEND_LONG_DATA) => self.long_data(p),
            Some(&COM_STMT_CLOSE) => match statement_id(p) {
                Some(id) => {
                    self.stmts.remove(&id);
                    Action::Pass
                }
                None => Action::Drop,
            },
            _ => Action::Pass,
        }
    }

    fn execute(&mut self, p: &[u8]) -> Action {
        let Some(id) = statement_id(p) else {
            tracing::debug!("COM_STMT_EXECUTE without a statement id refused");
            return Action::Replace(stand_in(1210, WRONG_ARGUMENTS));
        };
        let Some(params) = self.counts.get(id) else {
            return Action::Replace(stand_in(
                1243,
                &format!("Unknown prepared statement handler ({id}) given to mysqld_stmt_execute"),
            ));
        };
        let st = self.stmts.entry(id).or_default();
        let restored = restore_types(p, params, st.types.as_deref());
        let full = restored.as_deref().unwrap_or(p);
        let long_data = &st.long_data;
        if let Err(why) = check(full, params, |i| {
            u16::try_from(i).is_ok_and(|i| long_data.contains(&i))
        }) {
            tracing::debug!(stmt = id, why, "malformed COM_STMT_EXECUTE refused");
            return Action::Replace(stand_in(1210, WRONG_ARGUMENTS));
        }
        // opensrv took these types and used up the long data.
        if params > 0 {
            let at = bound_flag_at(params) + 1;
            st.types = full.get(at..at + 2 * params).map(<[u8]>::to_vec);
        }
        st.long_data.clear();
        match restored {
            Some(p) => Action::Replace(p),
            None => Action::Pass,
        }
    }

    fn long_data(&mut self, p: &[u8]) -> Action {
        let (Some(id), Some(param)) = (statement_id(p), p.get(5..7)) else {
            return Action::Drop;
        };
        if self.counts.get(id).is_none() {
            return Action::Drop;
        }
        let param = u16::from_le_bytes([param[0], param[1]]);
        self.stmts.entry(id).or_default().long_data.insert(param);
        Action::Pass
    }
}

/// `p` with the types put back if it omits them (flag 0) and they are
/// known; `None` to take `p` as it is.
fn restore_types(p: &[u8], params: usize, types: Option<&[u8]>) -> Option<Vec<u8>> {
    let flag_at = bound_flag_at(params);
    if params == 0 || *p.get(flag_at)? != 0 {
        return None;
    }
    let types = types?;
    let mut new = Vec::with_capacity(p.len() + types.len());
    new.extend_from_slice(&p[..flag_at]);
    new.push(1);
    new.extend_from_slice(types);
    new.extend_from_slice(&p[flag_at + 1..]);
    Some(new)
}

impl<R: AsyncRead + Unpin> AsyncRead for ClientPackets<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.out_pos < this.out.len() {
                let n = (this.out.len() - this.out_pos).min(buf.remaining());
                buf.put_slice(&this.out[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                if this.out_pos == this.out.len() {
                    this.out.clear();
                    this.out_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.next_packet()? {
                continue;
            }
            if this.eof {
                // A torn last packet goes through as it came.
                if !this.pending.is_empty() {
                    this.out = std::mem::take(&mut this.pending);
                    continue;
                }
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 8192];
            let mut rb = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    if rb.filled().is_empty() {
                        this.eof = true;
                    } else {
                        this.pending.extend_from_slice(rb.filled());
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::frames::tests::packet;
    use super::super::frames::MAX_PAYLOAD;
    use super::*;
    use tokio::io::AsyncReadExt;

    /// COM_STMT_EXECUTE of statement 1 with one LONG parameter.
    fn execute(with_types: bool, value: u32) -> Vec<u8> {
        let mut p = vec![COM_STMT_EXECUTE, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        if with_types {
            p.extend_from_slice(&[1, 0x03, 0x00]);
        } else {
            p.push(0);
        }
        p.extend_from_slice(&value.to_le_bytes());
        packet(0, &p)
    }

    fn refused(code: u16) -> Vec<u8> {
        let message = match code {
            1243 => "Unknown prepared statement handler (1) given to mysqld_stmt_execute",
            _ => "Incorrect arguments to mysqld_stmt_execute",
        };
        packet(0, &stand_in(code, message))
    }

    /// Statement 1 has one parameter.
    fn one_param() -> ParamCounts {
        let counts = ParamCounts::default();
        counts.set(1, 1);
        counts
    }

    fn authenticated() -> CommandPhase {
        let phase = CommandPhase::default();
        phase.start();
        phase
    }

    async fn read_all(input: Vec<u8>, counts: ParamCounts) -> Vec<u8> {
        read_with(input, ResetFlag::default(), counts, authenticated()).await
    }

    async fn read_with(
        input: Vec<u8>,
        resets: ResetFlag,
        counts: ParamCounts,
        phase: CommandPhase,
    ) -> Vec<u8> {
        let mut r = ClientPackets::new(&input[..], resets, counts, phase);
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn omitted_types_are_put_back() {
        let mut input = execute(true, 6380);
        input.extend(execute(false, 4984));
        input.extend(packet(0, &[0x03, b'S']));
        let out = read_all(input, one_param()).await;
        let mut want = execute(true, 6380);
        want.extend(execute(true, 4984));
        want.extend(packet(0, &[0x03, b'S']));
        assert_eq!(out, want);
    }

    #[tokio::test]
    async fn before_authentication_everything_passes_unchanged() {
        let mut input = execute(true, 1);
        input.extend(execute(false, 2));
        input.extend(packet(1, &[COM_STMT_EXECUTE, 9]));
        input.extend(packet(1, &[COM_STMT_CLOSE]));
        let out = read_with(
            input.clone(),
            ResetFlag::default(),
            one_param(),
            CommandPhase::default(),
        )
        .await;
        assert_eq!(out, input);
        // A torn packet at EOF goes through as it came.
        let torn = vec![10, 0, 0, 0, 0x03];
        assert_eq!(read_all(torn.clone(), ParamCounts::default()).await, torn);
    }

    #[tokio::test]
    async fn malformed_executes_become_their_error() {
        let cases: Vec<(Vec<u8>, u16)> = vec![
            // Statement 1 is unknown here.
            (execute(true, 1), 1243),
            // Types never sent.
            (execute(false, 7), 1210),
            // Only the command byte; a statement id but no header.
            (packet(0, &[COM_STMT_EXECUTE]), 1210),
            (packet(0, &[COM_STMT_EXECUTE, 1, 0, 0, 0, 0]), 1210),
            // Unknown type byte; truncated value; no NULL bitmap.
            (
                packet(0, &[0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0xee, 0, 1]),
                1210,
            ),
            (execute(true, 1)[..17].to_vec(), 1210),
            (packet(0, &[0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0]), 1210),
        ];
        for (i, (bad, code)) in cases.into_iter().enumerate() {
            let counts = if code == 1243 {
                ParamCounts::default()
            } else {
                one_param()
            };
            let mut bad = bad;
            // Framed again: truncations above cut the header's length too.
            let payload = bad.split_off(4);
            let mut input = packet(0, &payload);
            input.extend(packet(0, &[0x03, b'S']));
            let out = read_all(input, counts).await;
            let mut want = refused(code);
            want.extend(packet(0, &[0x03, b'S']));
            assert_eq!(out, want, "case {i}");
        }
    }

    #[tokio::test]
    async fn text_that_is_not_utf8_is_refused() {
        let mut input = Vec::new();
        for cmd in [COM_QUERY, COM_INIT_DB, COM_STMT_PREPARE] {
            input.extend(packet(0, &[cmd, b'S', 0xff]));
        }
        input.extend(packet(0, &[COM_QUERY, b'S']));
        let out = read_all(input, ParamCounts::default()).await;
        let invalid = packet(0, &stand_in(1300, "Invalid utf8mb4 character string"));
        let mut want = [invalid.clone(), invalid.clone(), invalid].concat();
        want.extend(packet(0, &[COM_QUERY, b'S']));
        assert_eq!(out, want);
    }

    #[tokio::test]
    async fn refused_types_are_not_remembered() {
        let mut bad = execute(true, 1);
        bad[4 + 12] = 0xee;
        let mut input = bad;
        input.extend(execute(false, 2));
        let out = read_all(input, one_param()).await;
        let mut want = refused(1210);
        want.extend(refused(1210));
        assert_eq!(out, want);
    }

    #[test]
    fn stand_ins_carry_their_error() {
        let p = stand_in(1210, "Incorrect arguments to mysqld_stmt_execute");
        let q = std::str::from_utf8(&p[1..]).unwrap();
        let e = rejected(q).unwrap();
        assert_eq!(e.code, 1210);
        assert_eq!(e.message, "Incorrect arguments to mysqld_stmt_execute");
        assert!(rejected("SELECT 1").is_none());
        assert!(rejected("\0vitrail rejected x y").is_none());
    }

    #[tokio::test]
    async fn long_data_and_close() {
        let counts = one_param();
        let long = packet(0, &[COM_STMT_SEND_LONG_DATA, 1, 0, 0, 0, 0, 0, b'x']);
        // Execute with the parameter's value left out (it came as long data).
        let without_value = {
            let mut p = execute(true, 0);
            p.truncate(p.len() - 4);
            p[0] -= 4;
            p
        };
        let mut input = packet(0, &[COM_STMT_SEND_LONG_DATA, 1, 0]); // short: dropped
        input.extend(packet(0, &[COM_STMT_SEND_LONG_DATA, 9, 0, 0, 0, 0, 0])); // unknown: dropped
        input.extend(long.clone());
        input.extend(without_value.clone());
        // The long data was used up: the same execute is now short.
        input.extend(without_value.clone());
        input.extend(packet(0, &[COM_STMT_CLOSE, 1])); // short: dropped
        input.extend(packet(0, &[COM_STMT_CLOSE, 1, 0, 0, 0]));
        let out = read_all(input, counts.clone()).await;
        let mut want = long;
        want.extend(without_value);
        want.extend(refused(1210));
        want.extend(packet(0, &[COM_STMT_CLOSE, 1, 0, 0, 0]));
        assert_eq!(out, want);
    }

    #[tokio::test]
    async fn close_forgets_the_types() {
        let mut input = execute(true, 1);
        input.extend(packet(0, &[COM_STMT_CLOSE, 1, 0, 0, 0]));
        input.extend(execute(false, 2));
        let out = read_all(input, one_param()).await;
        let mut want = execute(true, 1);
        want.extend(packet(0, &[COM_STMT_CLOSE, 1, 0, 0, 0]));
        want.extend(refused(1210));
        assert_eq!(out, want);
    }

    #[tokio::test]
    async fn sees_reset_commands_only() {
        let flag = ResetFlag::default();
        // COM_QUERY "\x1f" (a reset byte inside a payload is not a command).
        let counts = ParamCounts::default;
        read_with(
            packet(0, &[0x03, 0x1f]),
            flag.clone(),
            counts(),
            authenticated(),
        )
        .await;
        assert!(!flag.take());
        // COM_RESET_CONNECTION split across reads.
        let split = (&[1u8, 0][..]).chain(&[0u8, 0][..]).chain(&[0x1fu8][..]);
        let mut r = ClientPackets::new(split, flag.clone(), counts(), authenticated());
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, packet(0, &[0x1f]));
        assert!(flag.take());
        assert!(!flag.take());
        // Before authentication (an auth response may start with 0x1f).
        let phase = CommandPhase::default();
        read_with(packet(3, &[0x1f]), flag.clone(), counts(), phase).await;
        assert!(!flag.take());
        // The second part of a long COM_QUERY starting with 0x1f.
        let mut input = vec![0xff, 0xff, 0xff, 0];
        input.push(0x03);
        input.resize(4 + MAX_PAYLOAD, b' ');
        input.extend(packet(1, &[0x1f]));
        let out = read_with(input.clone(), flag.clone(), counts(), authenticated()).await;
        assert_eq!(out, input);
        assert!(!flag.take());
    }

    #[tokio::test]
    async fn one_packet_at_a_time() {
        let mut input = packet(0, &[0x03, b'a']);
        input.extend(packet(0, &[0x03, b'b']));
        let mut r = ClientPackets::new(
            &input[..],
            ResetFlag::default(),
            ParamCounts::default(),
            authenticated(),
        );
        let mut buf = [0u8; 64];
        let n = r.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &packet(0, &[0x03, b'a'])[..]);
        let n = r.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &packet(0, &[0x03, b'b'])[..]);
        assert_eq!(r.read(&mut buf).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn long_executes_are_joined_checked_and_split_again() {
        // A statement with one BLOB parameter whose value fills the first
        // part exactly: the execute has two parts (the second empty-ish).
        let counts = one_param();
        let mut typed = vec![0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0xfc, 0];
        let value_len = MAX_PAYLOAD - typed.len() - 4;
        typed.push(0xfd);
        typed.extend_from_slice(&(value_len as u32).to_le_bytes()[..3]);
        typed.resize(typed.len() + value_len, b'v');
        assert_eq!(typed.len(), MAX_PAYLOAD);
        let mut untyped = typed.clone();
        untyped.drain(12..14);
        untyped[11] = 0;
        let mut input = Vec::new();
        push_packet(&mut input, &typed, 1).unwrap();
        push_packet(&mut input, &untyped, 1).unwrap();
        push_packet(&mut input, &untyped, 0).unwrap();
        let out = read_all(input, counts).await;
        // The first goes through as it came. The others get their types
        // back and with them a second part, numbered so that the packet
        // still ends on the client's sequence number: 0 and 1 for the
        // second; the third ends on 0 and cannot, so it is refused.
        let mut want = Vec::new();
        push_packet(&mut want, &typed, 1).unwrap();
        push_packet(&mut want, &typed, 1).unwrap();
        want.extend(refused(1210));
        assert!(out == want, "{} bytes, want {}", out.len(), want.len());
    }
}

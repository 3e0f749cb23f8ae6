//! The client's packets on their way to opensrv-mysql, framed once, for
//! two things opensrv does not do itself.
//!
//! **COM_RESET_CONNECTION.** opensrv answers commands it does not know
//! (COM_RESET_CONNECTION, COM_CHANGE_USER…) with a plain OK and no
//! callback, so the session would keep its transaction and variables
//! across a connection pool's reset. Every packet with sequence number 0
//! starts a command whose first byte is the command code; a reset sets a
//! [`ResetFlag`], which the handler checks before running the next command
//! and resets the session then (nothing can happen in between).
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
//! Everything else passes through unchanged.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

const COM_RESET_CONNECTION: u8 = 0x1f;
const COM_STMT_EXECUTE: u8 = 0x17;
const MAX_PAYLOAD: usize = 0xff_ffff;

/// Set when the client sends COM_RESET_CONNECTION.
#[derive(Clone, Default)]
pub struct ResetFlag(Arc<AtomicBool>);

impl ResetFlag {
    /// True once per reset the client asked for.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
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

pub struct ClientPackets<R> {
    inner: R,
    resets: ResetFlag,
    counts: ParamCounts,
    /// Types (2 bytes per parameter) of each statement's last typed run.
    types: HashMap<u32, Vec<u8>>,
    /// Bytes read but not yet a whole packet.
    pending: Vec<u8>,
    /// Whole (possibly rewritten) packets not yet handed to the reader.
    out: Vec<u8>,
    out_pos: usize,
    eof: bool,
}

impl<R> ClientPackets<R> {
    pub fn new(inner: R, resets: ResetFlag, counts: ParamCounts) -> Self {
        ClientPackets {
            inner,
            resets,
            counts,
            types: HashMap::new(),
            pending: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            eof: false,
        }
    }

    /// Moves every whole packet from `pending` to `out`, rewritten if
    /// needed.
    fn drain_packets(&mut self) {
        let mut start = 0;
        while self.pending.len() - start >= 4 {
            let h = &self.pending[start..start + 4];
            let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
            if self.pending.len() - start < 4 + len {
                break;
            }
            let seq = h[3];
            let payload = &self.pending[start + 4..start + 4 + len];
            if seq == 0 && payload.first() == Some(&COM_RESET_CONNECTION) {
                self.resets.0.store(true, Ordering::Release);
            }
            match rewrite(&self.counts, &mut self.types, seq, len, payload) {
                Some(new) => {
                    let n = new.len();
                    self.out
                        .extend_from_slice(&[n as u8, (n >> 8) as u8, (n >> 16) as u8, seq]);
                    self.out.extend_from_slice(&new);
                }
                None => self
                    .out
                    .extend_from_slice(&self.pending[start..start + 4 + len]),
            }
            start += 4 + len;
        }
        self.pending.drain(..start);
    }
}

/// The payload with types put back, or `None` to pass it unchanged.
fn rewrite(
    counts: &ParamCounts,
    known: &mut HashMap<u32, Vec<u8>>,
    seq: u8,
    len: usize,
    p: &[u8],
) -> Option<Vec<u8>> {
    // Only a command's first packet, whole, and an execute.
    if seq != 0 || len >= MAX_PAYLOAD || p.first() != Some(&COM_STMT_EXECUTE) || p.len() < 10 {
        return None;
    }
    let stmt = u32::from_le_bytes([p[1], p[2], p[3], p[4]]);
    let params = counts.get(stmt)?;
    if params == 0 {
        return None;
    }
    let flag_at = 10 + params.div_ceil(8);
    let flag = *p.get(flag_at)?;
    if flag != 0 {
        let types = p.get(flag_at + 1..flag_at + 1 + 2 * params)?;
        known.insert(stmt, types.to_vec());
        return None;
    }
    // Types omitted: put back the last ones (none known → leave it to
    // opensrv, which reports the statement as malformed).
    let types = known.get(&stmt)?;
    if len + types.len() >= MAX_PAYLOAD {
        return None;
    }
    let mut new = Vec::with_capacity(len + types.len());
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
                        this.drain_packets();
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
    use super::*;
    use tokio::io::AsyncReadExt;

    fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
        let n = payload.len();
        let mut v = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq];
        v.extend_from_slice(payload);
        v
    }

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

    async fn read_all(input: Vec<u8>, counts: ParamCounts) -> Vec<u8> {
        read_with(input, ResetFlag::default(), counts).await
    }

    async fn read_with(input: Vec<u8>, resets: ResetFlag, counts: ParamCounts) -> Vec<u8> {
        let mut r = ClientPackets::new(&input[..], resets, counts);
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn omitted_types_are_put_back() {
        let counts = ParamCounts::default();
        counts.set(1, 1);
        let mut input = execute(true, 6380);
        input.extend(execute(false, 4984));
        input.extend(packet(0, &[0x03, b'S']));
        let out = read_all(input, counts).await;
        let mut want = execute(true, 6380);
        want.extend(execute(true, 4984));
        want.extend(packet(0, &[0x03, b'S']));
        assert_eq!(out, want);
    }

    #[tokio::test]
    async fn unknown_statements_and_other_packets_pass_unchanged() {
        // No parameter count known for statement 1: nothing to do.
        let mut input = execute(true, 1);
        input.extend(execute(false, 2));
        input.extend(packet(1, &[COM_STMT_EXECUTE, 9]));
        let out = read_all(input.clone(), ParamCounts::default()).await;
        assert_eq!(out, input);
        // A torn packet at EOF goes through as it came.
        let torn = vec![10, 0, 0, 0, 0x03];
        assert_eq!(read_all(torn.clone(), ParamCounts::default()).await, torn);
    }

    #[tokio::test]
    async fn types_never_seen_are_left_for_opensrv_to_refuse() {
        let counts = ParamCounts::default();
        counts.set(1, 1);
        let input = execute(false, 7);
        assert_eq!(read_all(input.clone(), counts).await, input);
    }

    #[tokio::test]
    async fn sees_reset_commands_only() {
        let flag = ResetFlag::default();
        // COM_QUERY "\x1f" (a reset byte inside a payload is not a command).
        read_with(
            packet(0, &[0x03, 0x1f]),
            flag.clone(),
            ParamCounts::default(),
        )
        .await;
        assert!(!flag.take());
        // COM_RESET_CONNECTION split across reads.
        let split = (&[1u8, 0][..]).chain(&[0u8, 0][..]).chain(&[0x1fu8][..]);
        let mut r = ClientPackets::new(split, flag.clone(), ParamCounts::default());
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, packet(0, &[0x1f]));
        assert!(flag.take());
        assert!(!flag.take());
        // A non-command packet (sequence 1) starting with 0x1f.
        read_with(packet(1, &[0x1f]), flag.clone(), ParamCounts::default()).await;
        assert!(!flag.take());
    }
}

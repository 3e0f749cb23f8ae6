//! Turns opensrv-mysql's authentication failure packet into MySQL's.
//!
//! opensrv answers a failed authentication with error 1698 and its own
//! wording; clients and tools expect 1045 `Access denied for user …`. The
//! handler records the wanted packet in an [`AuthFailure`] before answering
//! `false`; this writer then swallows opensrv's packet (the last one it
//! sends before closing) and writes ours with the same sequence number.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;

/// The error to send instead of opensrv's, once authentication failed.
/// The flag spares every later packet of a session (each row of every
/// result goes through [`RewriteAuthError::poll_write`]) a mutex.
#[derive(Clone, Default)]
pub struct AuthFailure(Arc<Failure>);

#[derive(Default)]
struct Failure {
    failed: AtomicBool,
    packet: Mutex<Option<(u16, String)>>,
}

impl AuthFailure {
    pub fn set(&self, code: u16, message: String) {
        if let Ok(mut g) = self.0.packet.lock() {
            *g = Some((code, message));
            self.0.failed.store(true, Ordering::Release);
        }
    }

    fn get(&self) -> Option<(u16, String)> {
        if !self.0.failed.load(Ordering::Acquire) {
            return None;
        }
        self.0.packet.lock().ok().and_then(|g| g.clone())
    }
}

pub struct RewriteAuthError<W> {
    inner: W,
    failure: AuthFailure,
    /// Sequence number of the swallowed packet, once seen.
    seq: Option<u8>,
    /// Our packet, not yet fully written.
    out: Vec<u8>,
    emitted: bool,
}

impl<W> RewriteAuthError<W> {
    pub fn new(inner: W, failure: AuthFailure) -> Self {
        RewriteAuthError {
            inner,
            failure,
            seq: None,
            out: Vec::new(),
            emitted: false,
        }
    }
}

fn err_packet(seq: u8, code: u16, message: &str) -> Vec<u8> {
    let mut payload = vec![0xff];
    payload.extend_from_slice(&code.to_le_bytes());
    payload.push(b'#');
    payload.extend_from_slice(b"28000");
    payload.extend_from_slice(message.as_bytes());
    let len = payload.len() as u32;
    let mut p = len.to_le_bytes()[..3].to_vec();
    p.push(seq);
    p.extend_from_slice(&payload);
    p
}

impl<W: AsyncWrite + Unpin> RewriteAuthError<W> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            let n = match Pin::new(&mut self.inner).poll_write(cx, &self.out) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for RewriteAuthError<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Some((code, message)) = this.failure.get() {
            // Swallow opensrv's error packet; remember its sequence number
            // (the header is the first 4 bytes it writes).
            if this.seq.is_none() && buf.len() >= 4 {
                this.seq = Some(buf[3]);
            }
            if !this.emitted {
                if let Some(seq) = this.seq {
                    this.out = err_packet(seq, code, &message);
                    this.emitted = true;
                }
            }
            return Poll::Ready(Ok(buf.len()));
        }
        match this.drain(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn replaces_the_packet_after_failure() {
        let failure = AuthFailure::default();
        let mut w = RewriteAuthError::new(Vec::new(), failure.clone());
        w.write_all(b"\x01\x00\x00\x00\x00").await.unwrap();
        failure.set(1045, "Access denied for user 'x'".into());
        w.write_all(&[9, 0, 0, 2]).await.unwrap();
        w.write_all(b"\xff\xa2\x06#28000whatever").await.unwrap();
        w.flush().await.unwrap();
        let out = w.inner;
        assert_eq!(&out[..5], b"\x01\x00\x00\x00\x00");
        let p = &out[5..];
        assert_eq!(p[3], 2, "same sequence number");
        assert_eq!(&p[4..7], &[0xff, 0x15, 0x04]); // 1045 little-endian
        assert!(p.ends_with(b"Access denied for user 'x'"));
        assert_eq!(p.len() - 4, p[0] as usize);
    }
}

//! Noticing COM_RESET_CONNECTION, which opensrv-mysql does not pass on.
//!
//! opensrv answers commands it does not know (COM_RESET_CONNECTION,
//! COM_CHANGE_USER…) with a plain OK and no callback, so the session would
//! keep its transaction and variables across a connection pool's reset.
//! This reader watches the client's packets go by: every packet with
//! sequence number 0 starts a command, whose first byte is the command
//! code. A reset sets a flag; the handler checks it before running the next
//! command and resets the session then (nothing can happen in between).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

const COM_RESET_CONNECTION: u8 = 0x1f;

#[derive(Clone, Default)]
pub struct ResetFlag(Arc<AtomicBool>);

impl ResetFlag {
    /// True once per reset the client asked for.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}

pub struct WatchResets<R> {
    inner: R,
    flag: ResetFlag,
    header: [u8; 4],
    header_len: usize,
    /// Payload bytes left in the current packet.
    payload_left: usize,
    /// The next payload byte is a command code.
    at_command: bool,
}

impl<R> WatchResets<R> {
    pub fn new(inner: R, flag: ResetFlag) -> Self {
        WatchResets {
            inner,
            flag,
            header: [0; 4],
            header_len: 0,
            payload_left: 0,
            at_command: false,
        }
    }

    fn observe(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.payload_left == 0 {
                let take = (4 - self.header_len).min(bytes.len());
                self.header[self.header_len..self.header_len + take]
                    .copy_from_slice(&bytes[..take]);
                self.header_len += take;
                bytes = &bytes[take..];
                if self.header_len == 4 {
                    self.header_len = 0;
                    self.payload_left = usize::from(self.header[0])
                        | usize::from(self.header[1]) << 8
                        | usize::from(self.header[2]) << 16;
                    self.at_command = self.header[3] == 0;
                }
                continue;
            }
            if self.at_command {
                self.at_command = false;
                if bytes[0] == COM_RESET_CONNECTION {
                    self.flag.0.store(true, Ordering::Release);
                }
            }
            let take = self.payload_left.min(bytes.len());
            self.payload_left -= take;
            bytes = &bytes[take..];
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for WatchResets<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = buf.filled()[before..].to_vec();
                this.observe(&new);
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_reset_commands_only() {
        let flag = ResetFlag::default();
        let mut w = WatchResets::new(tokio::io::empty(), flag.clone());
        // COM_QUERY "\x1f" (a reset byte inside a payload is not a command).
        w.observe(&[2, 0, 0, 0, 0x03, 0x1f]);
        assert!(!flag.take());
        // COM_RESET_CONNECTION split across reads.
        w.observe(&[1, 0]);
        w.observe(&[0, 0]);
        w.observe(&[0x1f]);
        assert!(flag.take());
        assert!(!flag.take());
        // A non-command packet (sequence 1) starting with 0x1f.
        w.observe(&[1, 0, 0, 1, 0x1f]);
        assert!(!flag.take());
    }
}

//! Whole packets out of the client's bytes, and back.
//!
//! A packet longer than 16 MiB - 1 comes in parts, each with the next
//! sequence number. opensrv-mysql 0.7 `assert!`s that they are consecutive
//! and adds 1 to the client's last sequence number (an overflow on 255),
//! and buffers a packet of any length. Packets it would panic on, and
//! packets beyond max_allowed_packet (64 MiB), are an error here, which
//! ends the connection as MySQL does ("Got packets out of order", "Got a
//! packet bigger than 'max_allowed_packet' bytes").

use std::borrow::Cow;
use std::io;

/// The longest part of a packet; a packet this long continues in the next.
pub const MAX_PAYLOAD: usize = 0xff_ffff;
/// max_allowed_packet, as the gate announces it.
const MAX_PACKET: usize = 64 << 20;

/// Where the first packet of a buffer ends.
pub struct Frame {
    pub end: usize,
    pub parts: usize,
    /// The sequence number of its last part, which the answer follows.
    pub last_seq: u8,
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

/// The first whole packet of `buf` (all its parts), `None` if it is not
/// all there yet; an error for what opensrv cannot take.
pub fn frame(buf: &[u8]) -> io::Result<Option<Frame>> {
    let mut at = 0;
    let mut total = 0;
    let mut parts = 0;
    let mut prev: Option<u8> = None;
    loop {
        let Some(h) = buf.get(at..at + 4) else {
            return Ok(None);
        };
        let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
        let seq = h[3];
        if seq == u8::MAX || prev.is_some_and(|p| seq != p.wrapping_add(1)) {
            return Err(invalid("Got packets out of order"));
        }
        total += len;
        if total > MAX_PACKET {
            return Err(invalid(
                "Got a packet bigger than 'max_allowed_packet' bytes",
            ));
        }
        if buf.len() - at - 4 < len {
            return Ok(None);
        }
        at += 4 + len;
        parts += 1;
        prev = Some(seq);
        if len < MAX_PAYLOAD {
            return Ok(Some(Frame {
                end: at,
                parts,
                last_seq: seq,
            }));
        }
    }
}

/// The payload of the packet `f` at the start of `buf`, parts joined.
pub fn payload<'a>(buf: &'a [u8], f: &Frame) -> Cow<'a, [u8]> {
    if f.parts == 1 {
        return Cow::Borrowed(&buf[4..f.end]);
    }
    let mut p = Vec::with_capacity(f.end);
    for part in buf[..f.end].chunks(MAX_PAYLOAD + 4) {
        p.extend_from_slice(&part[4..]);
    }
    Cow::Owned(p)
}

/// Appends `payload` as a packet whose last part has sequence number
/// `last_seq` (the answer follows that number, whatever the rewrite did to
/// the length); `None` if it needs more parts than numbers below
/// `last_seq`.
pub fn push_packet(out: &mut Vec<u8>, payload: &[u8], last_seq: u8) -> Option<()> {
    let extra = u8::try_from(payload.len() / MAX_PAYLOAD).ok()?;
    let mut seq = last_seq.checked_sub(extra)?;
    let mut rest = payload;
    loop {
        let len = rest.len().min(MAX_PAYLOAD);
        out.extend_from_slice(&[len as u8, (len >> 8) as u8, (len >> 16) as u8, seq]);
        out.extend_from_slice(&rest[..len]);
        rest = &rest[len..];
        if len < MAX_PAYLOAD {
            return Some(());
        }
        seq = seq.wrapping_add(1);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// One MySQL packet: 3-byte length, sequence number, payload.
    pub(in crate::server) fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
        let n = payload.len();
        let mut v = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq];
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn framing_opensrv_would_panic_on_is_an_error() {
        let part = |seq: u8| {
            let mut v = vec![0xff, 0xff, 0xff, seq];
            v.resize(4 + MAX_PAYLOAD, 0);
            v
        };
        let cases = [
            // Sequence number 255 (opensrv adds 1 to it).
            packet(255, &[0x03, b'S']),
            // A second part out of order.
            [part(0), packet(2, &[1])].concat(),
            // Beyond max_allowed_packet: refused at the fifth part's header.
            [part(0), part(1), part(2), part(3), vec![5, 0, 0, 4]].concat(),
        ];
        for (i, input) in cases.into_iter().enumerate() {
            let e = frame(&input).err().expect("refused");
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "case {i}");
        }
    }

    #[test]
    fn parts_are_joined_and_split_again() {
        for len in [0, 5, MAX_PAYLOAD - 1, MAX_PAYLOAD, MAX_PAYLOAD + 3] {
            let p: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut framed = Vec::new();
            push_packet(&mut framed, &p, 3).unwrap();
            framed.extend(packet(0, b"next"));
            let f = frame(&framed).unwrap().unwrap();
            assert_eq!(f.last_seq, 3);
            assert_eq!(f.parts, len / MAX_PAYLOAD + 1);
            assert_eq!(&framed[f.end..], &packet(0, b"next")[..]);
            assert!(payload(&framed, &f) == p, "len {len}");
            if len >= MAX_PAYLOAD {
                // Not all there yet.
                assert!(frame(&framed[..f.end - 1]).unwrap().is_none());
                // No room below sequence number 0 for a first part.
                assert!(push_packet(&mut Vec::new(), &p, 0).is_none());
            }
        }
    }
}

//! Helpers shared by the workspace's tests and benchmarks.
//!
//! Only port allocation for now. Binding `127.0.0.1:0` and releasing the
//! port is the usual trick, but the kernel hands out those ports from the
//! ephemeral range (32768–60999 on Linux), the same range every outgoing
//! connection draws its local port from. Between the release and the real
//! bind, any client socket of a concurrent test can take the port; CI saw
//! exactly that ("cannot listen on peer address 127.0.0.1:42055"). Ports
//! here come from below that range instead, where only listeners live, and
//! each is handed out at most once per process, so concurrent tests of one
//! binary cannot collide with each other either.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;

use rand::Rng;

/// Range the ports come from: above the well-known and common service
/// ports, below Linux's default ephemeral range.
const LOW: u16 = 20_000;
const HIGH: u16 = 32_000;

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A port on 127.0.0.1 that is free right now and not handed out before by
/// this process.
pub fn free_port() -> u16 {
    free_port_on("127.0.0.1")
}

/// A port on `ip` that is free right now and not handed out before by this
/// process.
pub fn free_port_on(ip: &str) -> u16 {
    free_block_on(ip, &[0])
}

/// A base port such that every `base + offset` is free on 127.0.0.1 right
/// now (for programs that derive several ports from one base).
pub fn free_block(offsets: &[u16]) -> u16 {
    free_block_on("127.0.0.1", offsets)
}

/// As [`free_block`], on `ip`.
///
/// # Panics
/// When no block is found after many tries, which means the machine has
/// run out of listening ports: a test cannot go on without one.
pub fn free_block_on(ip: &str, offsets: &[u16]) -> u16 {
    let span = offsets.iter().copied().max().unwrap_or(0);
    assert!(span < HIGH - LOW, "offsets {offsets:?} span too wide");
    let mut rng = rand::thread_rng();
    let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let taken = guard.get_or_insert_with(HashSet::new);
    for _ in 0..10_000 {
        let base = rng.gen_range(LOW..HIGH - span);
        let ports: Vec<u16> = offsets.iter().map(|o| base + o).collect();
        if ports.iter().any(|p| taken.contains(p)) {
            continue;
        }
        if ports.iter().all(|p| TcpListener::bind((ip, *p)).is_ok()) {
            taken.extend(ports);
            return base;
        }
    }
    panic!("no free block of ports on {ip} for offsets {offsets:?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_below_the_ephemeral_range_and_never_repeat() {
        let mut seen = HashSet::new();
        for _ in 0..500 {
            let p = free_port();
            assert!((LOW..HIGH).contains(&p), "{p}");
            assert!(seen.insert(p), "port {p} handed out twice");
        }
    }

    #[test]
    fn a_block_is_free_at_every_offset() {
        let base = free_block(&[0, 1, 101, 202]);
        for o in [0, 1, 101, 202] {
            assert!(TcpListener::bind(("127.0.0.1", base + o)).is_ok());
        }
    }
}

//! Proposal batching (group commit): every command waiting when the
//! proposer wakes up goes into ONE Raft entry, so one log append and one
//! fsync serve them all. At most `IN_FLIGHT` batches are being committed at
//! once: while they replicate, new commands pile up in the channel and form
//! the next batch (without the bound every request would race through as a
//! batch of one). A few batches in flight keep the Raft pipeline busy.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::node_impl::{Node, Proposal};

/// Upper bound on commands per entry (keeps entries well under the peer
/// message limit even with 1.5 MiB values... most of the time; a batch is
/// also cut by size below).
const MAX_BATCH: usize = 2048;
const MAX_BATCH_BYTES: usize = 4 << 20;
const IN_FLIGHT: usize = 4;

pub(super) async fn run(node: Arc<Node>, mut rx: mpsc::Receiver<Proposal>) {
    let mut stop = node.shutdown_signal();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    loop {
        let first = tokio::select! {
            p = rx.recv() => match p { Some(p) => p, None => return },
            _ = stop.changed() => return,
        };
        // Wait for a free slot before draining: what arrives meanwhile
        // joins this batch.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stop.changed() => return,
        };
        let mut bytes = approx_size(&first);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(p) => {
                    bytes += approx_size(&p);
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        node.metrics
            .proposals
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let node = node.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let (cmds, txs): (Vec<_>, Vec<_>) = batch.into_iter().map(|p| (p.cmd, p.tx)).unzip();
            match node.write_batch(cmds).await {
                Ok(results) if results.len() == txs.len() => {
                    for (tx, r) in txs.into_iter().zip(results) {
                        let _ = tx.send(Ok(r));
                    }
                }
                Ok(results) => {
                    let e = super::NodeError::Internal(format!(
                        "batch of {} commands produced {} results",
                        txs.len(),
                        results.len()
                    ));
                    for tx in txs {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
                Err(e) => {
                    node.metrics
                        .proposals_failed
                        .fetch_add(txs.len() as u64, Ordering::Relaxed);
                    for tx in txs {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
            }
        });
    }
}

fn approx_size(p: &Proposal) -> usize {
    use crate::kv::Command;
    match &p.cmd {
        Command::Put(r) => r.key.len() + r.value.len() + 32,
        _ => 256,
    }
}

//! Mempool gossip: a transaction a client submitted to this node is forwarded, in batches, to
//! every other agency's node (`ForwardTxs`), which admits it as `SubmitTx` would but never
//! forwards it again.
//!
//! Why: without it a transaction waits for its own node's turn to propose (one height in five
//! with five validators), and the other validators first see it inside a proposal, so they
//! verify its signature while consensus waits for their vote. With it, any proposer includes
//! it, and every validator has verified it (the signature cache) before the block arrives:
//! each node still verifies each transaction once, but off the consensus path.
//!
//! Forwarding is best effort: a peer that is down or busy misses the batch, and the
//! transaction still reaches the ledger through this node's own proposals. Nothing here is
//! consensus-critical (pools are not part of the state).

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use custos_api::pb::ForwardTxsRequest;
use custos_primitives::types::AgencyId;

/// Largest batch, in transactions.
pub const MAX_BATCH_TXS: usize = 512;
/// Largest batch, in bytes (well under the API's 1 MiB message limit).
pub const MAX_BATCH_BYTES: usize = 512 * 1024;
/// How long a batch waits for more transactions after its first.
const LINGER: Duration = Duration::from_millis(5);
/// Transactions waiting to be batched; beyond it, forwarding is skipped (logged).
const QUEUE: usize = 16_384;
/// Batches waiting per peer; beyond it, a slow peer misses batches.
const PEER_QUEUE: usize = 256;

/// Hands admitted transactions to the forwarding tasks.
#[derive(Clone, Debug)]
pub struct Gossip {
    tx: mpsc::Sender<Vec<u8>>,
}

impl Gossip {
    /// Starts forwarding to `peers` (agency → gRPC address, this node's agency excluded by the
    /// caller), connecting with the node's own transport identity `tls`.
    pub fn start(peers: BTreeMap<AgencyId, String>, tls: rustls::ClientConfig) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut outs = Vec::new();
        for (agency, addr) in peers {
            let (ptx, prx) = mpsc::channel(PEER_QUEUE);
            tokio::spawn(peer_task(agency, addr, tls.clone(), prx));
            outs.push(ptx);
        }
        tokio::spawn(batcher(rx, outs));
        Gossip { tx }
    }

    /// Queues an admitted transaction for the other nodes (dropped, with a debug log, when the
    /// queue is full: the transaction is in this node's pool either way).
    pub fn forward(&self, bytes: Vec<u8>) {
        if self.tx.try_send(bytes).is_err() {
            debug!("gossip queue full; a transaction is not forwarded");
        }
    }
}

async fn batcher(mut rx: mpsc::Receiver<Vec<u8>>, outs: Vec<mpsc::Sender<std::sync::Arc<Vec<Vec<u8>>>>>) {
    while let Some(first) = rx.recv().await {
        let mut size = first.len();
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < MAX_BATCH_TXS && size < MAX_BATCH_BYTES {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(t)) => {
                    size += t.len();
                    batch.push(t);
                }
                Ok(None) | Err(_) => break,
            }
        }
        let batch = std::sync::Arc::new(batch);
        for out in &outs {
            if out.try_send(batch.clone()).is_err() {
                debug!("a peer's gossip queue is full; it misses a batch");
            }
        }
    }
}

async fn peer_task(
    agency: AgencyId,
    addr: String,
    tls: rustls::ClientConfig,
    mut rx: mpsc::Receiver<std::sync::Arc<Vec<Vec<u8>>>>,
) {
    let mut client = None;
    let mut down_since: Option<tokio::time::Instant> = None;
    while let Some(batch) = rx.recv().await {
        if client.is_none() {
            // A peer that was down is retried at most once a second; batches meanwhile are
            // dropped (their transactions are still in this node's pool).
            if down_since.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
                continue;
            }
            match custos_api::client::connect(&addr, tls.clone()).await {
                Ok(c) => {
                    if down_since.take().is_some() {
                        info!(peer = %agency, %addr, "gossip: connected");
                    }
                    client = Some(c);
                }
                Err(e) => {
                    if down_since.is_none() {
                        warn!(peer = %agency, %addr, error = %e, "gossip: cannot reach the peer; retrying");
                    }
                    down_since = Some(tokio::time::Instant::now());
                    continue;
                }
            }
        }
        let Some(c) = client.as_mut() else { continue };
        let txs = batch.as_ref().clone();
        match c.forward_txs(ForwardTxsRequest { txs }).await {
            Ok(r) => debug!(peer = %agency, sent = batch.len(), admitted = r.into_inner().admitted, "gossip"),
            Err(s) => {
                warn!(peer = %agency, %addr, error = %s.message(), "gossip: forwarding failed; reconnecting");
                client = None;
                down_since = Some(tokio::time::Instant::now());
            }
        }
    }
}

//! The test-only Byzantine proposer (`[byzantine]` in node.toml, `byzantine` feature): spoils
//! the blocks this node proposes and replays its old proposal streams. Equivocation is done
//! below the app, by Malachite's Byzantine network proxy (see `custos_consensus::engine`).
//!
//! Nothing here is built into a release binary.

use std::collections::VecDeque;

use custos_consensus::block::Block;
use custos_consensus::context::ProposalPart;
use custos_consensus::engine::StreamMessage;
use custos_contracts::state;
use custos_primitives::crypto::Suite;
use tracing::warn;

use crate::config::InvalidBlock;
use crate::store::Store;

/// How many past proposal streams are kept for replay.
const REPLAY_STREAMS: usize = 4;

/// The proposal streams this node sent, newest last.
#[derive(Debug, Default)]
pub struct Replay {
    streams: VecDeque<Vec<StreamMessage<ProposalPart>>>,
}

impl Replay {
    /// Remembers one complete stream.
    pub fn record(&mut self, parts: Vec<StreamMessage<ProposalPart>>) {
        if self.streams.len() == REPLAY_STREAMS {
            self.streams.pop_front();
        }
        self.streams.push_back(parts);
    }

    /// Every part of every remembered stream, oldest first.
    pub fn parts(&self) -> impl Iterator<Item = &StreamMessage<ProposalPart>> {
        self.streams.iter().flatten()
    }
}

/// The most recent committed transaction below `height` (searching back at most 64 blocks).
fn committed_tx(store: &Store, height: u64) -> Option<Vec<u8>> {
    (height.saturating_sub(64)..height).rev().find_map(|h| {
        let bytes = store.block(h).ok().flatten()?;
        let block = Block::decode_untrusted(&bytes).ok()?;
        block.txs.last().cloned()
    })
}

/// Spoils `block` (already built and executed honestly) as `how` says. `writes` are the
/// block's honest state writes. Returns false when there was nothing to spoil with (no
/// transaction to corrupt or replay): the block then goes out honest.
pub fn spoil(
    how: InvalidBlock,
    block: &mut Block,
    writes: &[(Vec<u8>, Option<Vec<u8>>)],
    suite: &impl Suite,
    store: &Store,
) -> bool {
    let height = block.header.height;
    match how {
        InvalidBlock::BadSignature => {
            let tx = match block.txs.first() {
                Some(tx) => Some(tx.clone()),
                None => committed_tx(store, height),
            };
            let Some(mut tx) = tx else { return false };
            // The signature closes the SCALE encoding of a signed transaction.
            if let Some(last) = tx.last_mut() {
                *last ^= 0x01;
            }
            match block.txs.first_mut() {
                Some(first) => *first = tx,
                None => block.txs.push(tx),
            }
            refresh_tx_root(block, suite);
            true
        }
        InvalidBlock::ReplayedTx => {
            let Some(tx) = committed_tx(store, height) else { return false };
            block.txs.push(tx);
            refresh_tx_root(block, suite);
            true
        }
        InvalidBlock::ForgedWrite => {
            let mut forged = writes.to_vec();
            forged.push((b"forged/by-a-byzantine-proposer".to_vec(), Some(b"no transaction wrote this".to_vec())));
            forged.sort_by(|a, b| a.0.cmp(&b.0));
            match state::compute_root(suite, store, &forged, height) {
                Ok((root, _)) => {
                    block.header.state_root = root;
                    true
                }
                Err(e) => {
                    warn!(error = %e, "byzantine: cannot compute the forged state root");
                    false
                }
            }
        }
        InvalidBlock::WrongStateRoot => {
            block.header.state_root.0[0] ^= 0x01;
            true
        }
    }
}

fn refresh_tx_root(block: &mut Block, suite: &impl Suite) {
    let ids = block.tx_ids(suite);
    block.header.tx_root = custos_consensus::block::tx_root(suite, &ids);
}

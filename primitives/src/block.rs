//! A block: header plus the encoded transactions. Consensus decides on the header's hash; the
//! block itself travels as proposal parts and through value sync.

use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode};

use crate::codec::{CodecError, decode_exact};
use crate::crypto::{Hash, Suite};
use crate::merkle::MerkleTree;
use crate::types::{BlockHash, BlockHeader, TX_ID_TAG, TxId};

/// Largest encoded block.
pub const MAX_BLOCK_BYTES: usize = 8 * 1024 * 1024;
/// Most transactions in one block.
pub const MAX_BLOCK_TXS: usize = 10_000;

/// A block.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions, each SCALE-encoded as signed.
    pub txs: Vec<Vec<u8>>,
}

impl Block {
    /// Decodes a block from untrusted bytes (bounded, fully consumed).
    pub fn decode_untrusted(bytes: &[u8]) -> Result<Self, CodecError> {
        let b: Block = decode_exact("block", bytes, MAX_BLOCK_BYTES)?;
        if b.txs.len() > MAX_BLOCK_TXS {
            return Err(CodecError::Invalid { what: "block", reason: format!("{} transactions", b.txs.len()) });
        }
        Ok(b)
    }

    /// The block id.
    pub fn hash(&self, suite: &impl Suite) -> BlockHash {
        self.header.hash(suite)
    }

    /// The transaction ids, in order.
    pub fn tx_ids(&self, suite: &impl Suite) -> Vec<TxId> {
        self.txs.iter().map(|t| TxId(suite.hash_parts(&[TX_ID_TAG, t]))).collect()
    }
}

/// The Merkle root over transaction ids.
pub fn tx_root(suite: &impl Suite, ids: &[TxId]) -> Hash {
    let leaves: Vec<&[u8]> = ids.iter().map(|i| i.0.as_bytes().as_slice()).collect();
    MerkleTree::new(suite, &leaves).root(suite)
}

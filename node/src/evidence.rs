//! The node's side of evidence export: the chain as a [`ChainSource`] read from the store.
//! The node only gathers; what it gathers is checked by whoever verifies the bundle.

use custos_consensus::block::Block;
use custos_consensus::codec::decode_commit_cert;
use custos_contracts::evidence::{CertifiedHeader, ChainSource, EvidenceError};
use custos_contracts::state::{self, StateProof};
use custos_primitives::codec::BoundedVec;
use custos_primitives::genesis::ValidatedGenesis;
use custos_primitives::types::{CommitCertificate, CommitSignature};

use crate::store::Store;

/// The committed chain in a node's store.
#[derive(Debug)]
pub struct StoreSource<'a> {
    /// The store.
    pub store: &'a Store,
    /// The chain's genesis.
    pub genesis: &'a ValidatedGenesis,
}

fn source_err(e: impl std::fmt::Display) -> EvidenceError {
    EvidenceError::Source(e.to_string())
}

impl StoreSource<'_> {
    fn block(&self, height: u64) -> Result<Block, EvidenceError> {
        let bytes =
            self.store.block(height).map_err(source_err)?.ok_or_else(|| source_err(format!("no block at {height}")))?;
        Block::decode_untrusted(&bytes).map_err(source_err)
    }
}

impl ChainSource for StoreSource<'_> {
    fn genesis_json(&self) -> String {
        self.genesis.genesis.to_json()
    }

    fn last_height(&self) -> Result<u64, EvidenceError> {
        Ok(self.store.last_committed_height().map_err(source_err)?.unwrap_or(0))
    }

    fn certified_header(&self, height: u64) -> Result<CertifiedHeader, EvidenceError> {
        let header = self.block(height)?.header;
        let bytes = self
            .store
            .certificate(height)
            .map_err(source_err)?
            .ok_or_else(|| source_err(format!("no commit certificate at {height}")))?;
        let wire = decode_commit_cert(&bytes).map_err(source_err)?;
        let round = wire.round.ok_or_else(|| source_err(format!("certificate at {height} has no round")))?;
        let mut signatures: Vec<CommitSignature> =
            wire.signatures.iter().map(|(a, s)| CommitSignature { validator: a.0, signature: *s }).collect();
        signatures.sort_by_key(|s| s.validator);
        let signatures = BoundedVec::try_from(signatures)
            .map_err(|_| source_err(format!("certificate at {height} has too many signatures")))?;
        Ok(CertifiedHeader {
            header,
            certificate: CommitCertificate { height: wire.height.0, round, block: wire.value, signatures },
        })
    }

    fn block_txs(&self, height: u64) -> Result<Vec<Vec<u8>>, EvidenceError> {
        Ok(self.block(height)?.txs)
    }

    fn prove(&self, key: &[u8], height: u64) -> Result<(Option<Vec<u8>>, StateProof), EvidenceError> {
        state::prove(&self.genesis.suite, self.store, key, height).map_err(source_err)
    }

    fn validator_changes(&self, up_to: u64) -> Result<Vec<u64>, EvidenceError> {
        // A set stored at `h + 1` was put in force by block `h`; the genesis set is at 1.
        let heights = self.store.validator_set_heights().map_err(source_err)?;
        Ok(heights.into_iter().filter(|h| *h > 1).map(|h| h - 1).filter(|h| *h <= up_to).collect())
    }
}

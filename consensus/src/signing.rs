//! Consensus signing for both suites: one [`SigningScheme`](mc::SigningScheme) whose keys and
//! signatures carry their suite (SM2 with SM3-ZA, or ed25519), a [`Signer`] holding the
//! node's key, and a [`Verifier`] that checks under the network's suite.

use std::sync::Arc;

use async_trait::async_trait;
use malachitebft_app_channel::app::types::core::{
    self as mc, SignedExtension, SignedMessage, SignedProposal, SignedVote, ValidatorProof, VoteExtensionScope,
};
use malachitebft_signing::{Error as SigningError, Signer, VerificationResult, Verifier};
use parity_scale_codec::Encode;

use custos_primitives::codec::decode_exact;
use custos_primitives::crypto::{PublicKey, Signature, SigningKey, Suite};

use crate::context::{CustosContext, verify_bytes};

/// Domain tag of (disabled) vote extensions, so an extension signature can never be replayed
/// as anything else.
pub const EXTENSION_TAG: &[u8] = b"custos/vote-extension/v1";

/// The signing scheme: SCALE-encoded, suite-tagged keys and signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CustosScheme;

/// A key or signature that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SchemeDecodingError(String);

impl mc::SigningScheme for CustosScheme {
    type DecodingError = SchemeDecodingError;
    type Signature = Signature;
    type PublicKey = PublicKey;
    type PrivateKey = Arc<SigningKey>;

    fn decode_signature(bytes: &[u8]) -> Result<Signature, SchemeDecodingError> {
        decode_exact("signature", bytes, 65).map_err(|e| SchemeDecodingError(e.to_string()))
    }

    fn encode_signature(signature: &Signature) -> Vec<u8> {
        signature.encode()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<PublicKey, SchemeDecodingError> {
        let pk: PublicKey = decode_exact("public key", bytes, 66).map_err(|e| SchemeDecodingError(e.to_string()))?;
        // Reject encodings that are not valid curve points.
        match pk {
            PublicKey::Sm2(b) => PublicKey::sm2_from_sec1(&b),
            PublicKey::Ed25519(b) => PublicKey::ed25519_from_bytes(&b),
        }
        .map_err(|e| SchemeDecodingError(e.to_string()))
    }

    fn encode_public_key(public_key: &PublicKey) -> Vec<u8> {
        public_key.encode()
    }
}

/// Signs consensus messages with the node's consensus key.
#[derive(Debug, Clone)]
pub struct CustosSigner {
    ctx: CustosContext,
    key: Arc<SigningKey>,
}

impl CustosSigner {
    /// A signer for `ctx` with `key` (which must be of the context's suite).
    pub fn new(ctx: CustosContext, key: Arc<SigningKey>) -> Self {
        CustosSigner { ctx, key }
    }

    fn sign(&self, bytes: &[u8]) -> Result<Signature, SigningError> {
        self.key.sign(bytes).map_err(SigningError::from_source)
    }
}

#[async_trait]
impl Signer<CustosContext> for CustosSigner {
    async fn sign_vote(&self, vote: crate::context::Vote) -> Result<SignedVote<CustosContext>, SigningError> {
        let signature = self.sign(&vote.sign_bytes(self.ctx.chain_id()))?;
        Ok(SignedMessage::new(vote, signature))
    }

    async fn sign_proposal(
        &self,
        proposal: crate::context::Proposal,
    ) -> Result<SignedProposal<CustosContext>, SigningError> {
        let signature = self.sign(&proposal.sign_bytes(self.ctx.chain_id()))?;
        Ok(SignedMessage::new(proposal, signature))
    }

    async fn sign_vote_extension(
        &self,
        scope: VoteExtensionScope<CustosContext>,
        extension: (),
    ) -> Result<SignedExtension<CustosContext>, SigningError> {
        let signature = self.sign(&extension_sign_bytes(&self.ctx, &scope))?;
        Ok(SignedMessage::new(extension, signature))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<CustosContext>, SigningError> {
        // Malachite's proof-of-validator: exactly these bytes, no extra prefix (ADR-006).
        let signature = self.sign(&ValidatorProof::<CustosContext>::signing_bytes(&public_key, &peer_id))?;
        Ok(ValidatorProof::new(public_key, peer_id, signature))
    }
}

fn extension_sign_bytes(ctx: &CustosContext, scope: &VoteExtensionScope<CustosContext>) -> Vec<u8> {
    let mut out = EXTENSION_TAG.to_vec();
    (ctx.chain_id(), scope.height, scope.round.as_u32(), scope.value_id, scope.validator_address).encode_to(&mut out);
    out
}

/// Verifies consensus messages under the network's suite. A key or signature of the other
/// suite is invalid.
#[derive(Debug, Clone)]
pub struct CustosVerifier {
    ctx: CustosContext,
}

impl CustosVerifier {
    /// A verifier for `ctx`.
    pub fn new(ctx: CustosContext) -> Self {
        CustosVerifier { ctx }
    }
}

fn result(ok: bool) -> Result<VerificationResult, SigningError> {
    Ok(VerificationResult::from_bool(ok))
}

#[async_trait]
impl Verifier<CustosContext> for CustosVerifier {
    async fn verify_signed_vote(
        &self,
        vote: &crate::context::Vote,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, SigningError> {
        result(verify_bytes(&self.ctx, public_key, &vote.sign_bytes(self.ctx.chain_id()), signature))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &crate::context::Proposal,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, SigningError> {
        result(verify_bytes(&self.ctx, public_key, &proposal.sign_bytes(self.ctx.chain_id()), signature))
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<CustosContext>,
        _extension: &(),
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, SigningError> {
        result(verify_bytes(&self.ctx, public_key, &extension_sign_bytes(&self.ctx, scope), signature))
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<CustosContext>,
    ) -> Result<VerificationResult, SigningError> {
        let Ok(pk) = <CustosScheme as mc::SigningScheme>::decode_public_key(&proof.public_key) else {
            return result(false);
        };
        result(self.ctx.suite().verify(&pk, &proof.preimage(), &proof.signature).is_ok())
    }
}

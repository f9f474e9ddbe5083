//! The SCALE wire and storage formats shared by every crate.
//!
//! These encodings are frozen by the golden vectors in `tests/it/golden.rs`: change one only
//! on purpose, together with its vector. Every hashed or signed structure is prefixed with a
//! domain-separation tag so that no two kinds of object can be confused.

use core::fmt;

use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use serde::{Deserialize, Serialize};

use crate::codec::{self, BoundedVec, CodecError, ConstU32, bounded_id};
use crate::crypto::{CryptoError, Hash, PublicKey, Signature, SigningKey, Suite};

/// Domain tag of transaction signatures.
pub const TX_SIGNING_TAG: &[u8] = b"custos/tx/v1";
/// Domain tag of transaction ids.
pub const TX_ID_TAG: &[u8] = b"custos/txid/v1";
/// Domain tag of block header hashes.
pub const HEADER_TAG: &[u8] = b"custos/header/v1";
/// Domain tag of precommit votes (what commit certificates sign).
pub const PRECOMMIT_TAG: &[u8] = b"custos/precommit/v1";
/// Domain tag of salted document hashes.
pub const DOC_HASH_TAG: &[u8] = b"custos/doc/v1";

/// Largest encoded transaction accepted from the network.
pub const MAX_TX_BYTES: usize = 64 * 1024;
/// Largest validator set (and so the largest commit certificate).
pub const MAX_VALIDATORS: u32 = 128;
/// Largest encoded commit certificate.
pub const MAX_CERTIFICATE_BYTES: usize = 64 + MAX_VALIDATORS as usize * 128;

bounded_id!(
    /// The network's name, fixed at genesis (e.g. `custos-hlj-1`). Part of every signed payload.
    ChainId,
    64,
    "chain id"
);

bounded_id!(
    /// An agency's identifier in the registry (e.g. `court-230102`).
    AgencyId,
    32,
    "agency id"
);

macro_rules! hash_newtype {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(
            Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode,
            DecodeWithMemTracking, MaxEncodedLen, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub crate::crypto::Hash);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

hash_newtype!(
    /// A node's identity: the suite hash of its certificate's SubjectPublicKeyInfo (DER).
    /// Also its validator address.
    NodeId
);
hash_newtype!(
    /// A certificate's fingerprint: the suite hash of the whole certificate (DER).
    /// Transactions name their signer by it.
    CertFingerprint
);
hash_newtype!(
    /// The anchored hash of a document: `H(tag ‖ salt ‖ bytes)`.
    DocHash
);
hash_newtype!(
    /// A pseudonymous case reference: `HMAC(case key, court case number)`.
    CaseRef
);
hash_newtype!(
    /// A transaction id: `H(tag ‖ SCALE(signed transaction))`.
    TxId
);
hash_newtype!(
    /// A block id: `H(tag ‖ SCALE(header))`.
    BlockHash
);

impl NodeId {
    /// The node id of a public key: `H(SPKI DER)`.
    pub fn of_key(suite: &impl Suite, key: &PublicKey) -> Result<Self, CryptoError> {
        Ok(NodeId(suite.hash(&key.to_spki_der()?)))
    }
}

impl CertFingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of_der(suite: &impl Suite, der: &[u8]) -> Self {
        CertFingerprint(suite.hash(der))
    }
}

/// The salt that travels with a document so low-entropy documents cannot be guessed from
/// their anchored hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen)]
pub struct Salt(pub [u8; 32]);

impl Salt {
    /// A fresh random salt.
    pub fn random() -> Result<Self, CryptoError> {
        Ok(Salt(*crate::crypto::random_bytes::<32>()?))
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Salt({})", hex::encode(self.0))
    }
}

/// Incremental computation of a [`DocHash`] over a document streamed in pieces.
#[derive(Debug, Clone)]
pub struct DocHasher(crate::crypto::Hasher);

impl DocHasher {
    /// Starts hashing a document with `salt`.
    pub fn new(suite: &impl Suite, salt: &Salt) -> Self {
        let mut h = suite.hasher();
        h.update(DOC_HASH_TAG);
        h.update(&salt.0);
        DocHasher(h)
    }
    /// Feeds document bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// The document hash.
    pub fn finalize(self) -> DocHash {
        DocHash(self.0.finalize())
    }
}

impl DocHash {
    /// Hash of a whole in-memory document.
    pub fn compute(suite: &impl Suite, salt: &Salt, document: &[u8]) -> Self {
        let mut h = DocHasher::new(suite, salt);
        h.update(document);
        h.finalize()
    }
}

impl CaseRef {
    /// Derives the pseudonymous reference of a court case number (案号) with the consortium
    /// case key. The case number itself never goes on the ledger.
    pub fn derive(suite: &impl Suite, case_key: &[u8], case_number: &str) -> Self {
        CaseRef(suite.hmac(case_key, case_number.trim().as_bytes()))
    }
}

/// The five kinds of agency (domain.md §1).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Encode,
    Decode,
    DecodeWithMemTracking,
    MaxEncodedLen,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AgencyRole {
    /// 人民法院.
    #[codec(index = 0)]
    Court,
    /// 人民检察院.
    #[codec(index = 1)]
    Procuratorate,
    /// 公安机关 (including 看守所).
    #[codec(index = 2)]
    Police,
    /// 监狱 / 监狱管理机关.
    #[codec(index = 3)]
    Prison,
    /// 司法局 / 社区矫正机构 (CCA).
    #[codec(index = 4)]
    Justice,
}

impl AgencyRole {
    /// All roles, in registry order.
    pub const ALL: [AgencyRole; 5] =
        [AgencyRole::Court, AgencyRole::Procuratorate, AgencyRole::Police, AgencyRole::Prison, AgencyRole::Justice];

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AgencyRole::Court => "court",
            AgencyRole::Procuratorate => "procuratorate",
            AgencyRole::Police => "police",
            AgencyRole::Prison => "prison",
            AgencyRole::Justice => "justice",
        }
    }

    /// Chinese name.
    pub fn chinese(self) -> &'static str {
        match self {
            AgencyRole::Court => "人民法院",
            AgencyRole::Procuratorate => "人民检察院",
            AgencyRole::Police => "公安机关",
            AgencyRole::Prison => "监狱",
            AgencyRole::Justice => "司法局·社区矫正机构",
        }
    }
}

impl fmt::Display for AgencyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::str::FromStr for AgencyRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        AgencyRole::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            format!("unknown agency role {s:?}: expected court, procuratorate, police, prison or justice")
        })
    }
}

/// Administrative level of an agency (省 / 市 / 县).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Encode,
    Decode,
    DecodeWithMemTracking,
    MaxEncodedLen,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AgencyLevel {
    /// 省级 (province).
    #[codec(index = 0)]
    Province,
    /// 地市级 (prefecture-level city).
    #[codec(index = 1)]
    City,
    /// 县级 (county or district).
    #[default]
    #[codec(index = 2)]
    County,
}

/// What a certificate's holder may do. Carried in the certificate's subject as `OU=<role>`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Encode,
    Decode,
    DecodeWithMemTracking,
    MaxEncodedLen,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    /// The agency's certificate authority.
    #[codec(index = 0)]
    Ca,
    /// A node (validator or observer).
    #[codec(index = 1)]
    Node,
    /// A clerk who sends and receives documents.
    #[codec(index = 2)]
    Clerk,
    /// An adapter process syncing the agency's own systems.
    #[codec(index = 3)]
    Adapter,
    /// An auditor (read and verify).
    #[codec(index = 4)]
    Auditor,
    /// The agency's administrator (members, revocation, governance votes).
    #[codec(index = 5)]
    Admin,
}

impl MemberRole {
    /// All roles.
    pub const ALL: [MemberRole; 6] = [
        MemberRole::Ca,
        MemberRole::Node,
        MemberRole::Clerk,
        MemberRole::Adapter,
        MemberRole::Auditor,
        MemberRole::Admin,
    ];

    /// Lower-case name, as written in the certificate's OU.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Ca => "ca",
            MemberRole::Node => "node",
            MemberRole::Clerk => "clerk",
            MemberRole::Adapter => "adapter",
            MemberRole::Auditor => "auditor",
            MemberRole::Admin => "admin",
        }
    }
}

impl fmt::Display for MemberRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::str::FromStr for MemberRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        MemberRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown member role {s:?}: expected ca, node, clerk, adapter, auditor or admin"))
    }
}

/// The signed part of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct UnsignedTransaction<C> {
    /// Network name; a transaction for another network never verifies here.
    pub chain_id: ChainId,
    /// Fingerprint of the signer's certificate.
    pub signer: CertFingerprint,
    /// Per-signer sequence number (replay protection).
    pub nonce: u64,
    /// Last height at which the transaction may be included.
    pub valid_until: u64,
    /// The contract call (defined by `custos-contracts`).
    pub call: C,
}

impl<C: Encode> UnsignedTransaction<C> {
    /// The bytes the signer signs: `TX_SIGNING_TAG ‖ SCALE(self)`.
    pub fn signing_payload(&self) -> Vec<u8> {
        let mut out = TX_SIGNING_TAG.to_vec();
        self.encode_to(&mut out);
        out
    }

    /// Signs with `key`.
    pub fn sign(self, key: &SigningKey) -> Result<Transaction<C>, CryptoError> {
        let signature = key.sign(&self.signing_payload())?;
        Ok(Transaction {
            chain_id: self.chain_id,
            signer: self.signer,
            nonce: self.nonce,
            valid_until: self.valid_until,
            call: self.call,
            signature,
        })
    }
}

/// A signed transaction envelope: `{chain_id, signer, nonce, valid_until, call, signature}`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct Transaction<C> {
    /// Network name.
    pub chain_id: ChainId,
    /// Fingerprint of the signer's certificate.
    pub signer: CertFingerprint,
    /// Per-signer sequence number.
    pub nonce: u64,
    /// Last height at which the transaction may be included.
    pub valid_until: u64,
    /// The contract call.
    pub call: C,
    /// Signature over [`UnsignedTransaction::signing_payload`].
    pub signature: Signature,
}

impl<C: Encode + Decode + Clone> Transaction<C> {
    /// The signed part.
    pub fn unsigned(&self) -> UnsignedTransaction<C> {
        UnsignedTransaction {
            chain_id: self.chain_id.clone(),
            signer: self.signer,
            nonce: self.nonce,
            valid_until: self.valid_until,
            call: self.call.clone(),
        }
    }

    /// Checks the signature against the signer's public key (looked up by the caller from
    /// the registry by [`Transaction::signer`]).
    pub fn verify_signature(&self, suite: &impl Suite, key: &PublicKey) -> Result<(), CryptoError> {
        suite.verify(key, &self.unsigned().signing_payload(), &self.signature)
    }

    /// The transaction id.
    pub fn id(&self, suite: &impl Suite) -> TxId {
        TxId(suite.hash_parts(&[TX_ID_TAG, &self.encode()]))
    }

    /// Decodes a transaction from untrusted bytes (at most [`MAX_TX_BYTES`], fully consumed).
    pub fn decode_untrusted(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode_exact("transaction", bytes, MAX_TX_BYTES)
    }
}

/// A block header.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen)]
pub struct BlockHeader {
    /// Network name.
    pub chain_id: ChainId,
    /// Height, starting at 1 for the first block after genesis.
    pub height: u64,
    /// Hash of the previous header ([`Hash::ZERO`] for height 1).
    pub parent: BlockHash,
    /// Proposer's time, milliseconds since the Unix epoch (monotonic along the chain).
    pub time_ms: u64,
    /// The proposing node.
    pub proposer: NodeId,
    /// Merkle root of the block's transaction ids.
    pub tx_root: Hash,
    /// Root of the authenticated state after executing the block.
    pub state_root: Hash,
    /// Hash of the validator set that signs this block's commit certificate.
    pub validator_set_hash: Hash,
}

impl BlockHeader {
    /// The block id: `H(HEADER_TAG ‖ SCALE(header))`.
    pub fn hash(&self, suite: &impl Suite) -> BlockHash {
        BlockHash(suite.hash_parts(&[HEADER_TAG, &self.encode()]))
    }

    /// Decodes a header from untrusted bytes.
    pub fn decode_untrusted(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode_bounded("block header", bytes)
    }
}

/// What a validator signs to precommit a block.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen)]
pub struct PrecommitPayload {
    /// Network name.
    pub chain_id: ChainId,
    /// Height.
    pub height: u64,
    /// Consensus round.
    pub round: u32,
    /// The block committed.
    pub block: BlockHash,
}

impl PrecommitPayload {
    /// The signed bytes: `PRECOMMIT_TAG ‖ SCALE(self)`.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = PRECOMMIT_TAG.to_vec();
        self.encode_to(&mut out);
        out
    }
}

/// One validator's precommit signature in a commit certificate.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen)]
pub struct CommitSignature {
    /// The validator.
    pub validator: NodeId,
    /// Its signature over the [`PrecommitPayload`].
    pub signature: Signature,
}

/// Proof that more than two thirds of a height's validators precommitted a block.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen)]
pub struct CommitCertificate {
    /// Height.
    pub height: u64,
    /// Round in which the block was decided.
    pub round: u32,
    /// The decided block.
    pub block: BlockHash,
    /// Precommit signatures, sorted by validator id, no duplicates.
    pub signatures: BoundedVec<CommitSignature, ConstU32<MAX_VALIDATORS>>,
}

impl CommitCertificate {
    /// Decodes a certificate from untrusted bytes.
    pub fn decode_untrusted(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode_exact("commit certificate", bytes, MAX_CERTIFICATE_BYTES)
    }

    /// The payload each signature covers.
    pub fn payload(&self, chain_id: &ChainId) -> PrecommitPayload {
        PrecommitPayload { chain_id: chain_id.clone(), height: self.height, round: self.round, block: self.block }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crypto::{AnySuite, SuiteId};

    #[test]
    fn ids_validate() {
        assert!(ChainId::new("custos-hlj-1").is_ok());
        assert!(ChainId::new("").is_err());
        assert!(ChainId::new("Upper").is_err());
        assert!(ChainId::new(&"a".repeat(65)).is_err());
        assert!(AgencyId::new("court-230102").is_ok());
        assert!(AgencyId::new("法院").is_err());
        // Invalid characters are refused on decode too.
        let mut bytes = parity_scale_codec::Compact(3u32).encode();
        bytes.extend_from_slice(b"A B");
        assert!(codec::decode_exact::<AgencyId>("agency id", &bytes, 64).is_err());
    }

    #[test]
    fn doc_hash_is_salted_and_streamable() {
        let s = AnySuite::with_defaults(SuiteId::Sm);
        let a = DocHash::compute(&s, &Salt([1; 32]), b"doc");
        let b = DocHash::compute(&s, &Salt([2; 32]), b"doc");
        assert_ne!(a, b);
        let mut h = DocHasher::new(&s, &Salt([1; 32]));
        h.update(b"d");
        h.update(b"oc");
        assert_eq!(h.finalize(), a);
    }

    #[test]
    fn case_ref_is_keyed() {
        let s = AnySuite::with_defaults(SuiteId::Sm);
        let a = CaseRef::derive(&s, b"key-1", "(2026)黑0102刑初123号");
        let b = CaseRef::derive(&s, b"key-2", "(2026)黑0102刑初123号");
        assert_ne!(a, b);
        assert_eq!(a, CaseRef::derive(&s, b"key-1", " (2026)黑0102刑初123号 "));
    }

    #[test]
    fn transaction_sign_verify_and_replay_on_other_chain_fails() {
        for id in [SuiteId::Sm, SuiteId::Intl] {
            let s = AnySuite::with_defaults(id);
            let k = s.generate_signing_key().unwrap();
            let tx = UnsignedTransaction {
                chain_id: ChainId::new("a").unwrap(),
                signer: CertFingerprint(Hash([9; 32])),
                nonce: 1,
                valid_until: 10,
                call: vec![1u8, 2, 3],
            }
            .sign(&k)
            .unwrap();
            tx.verify_signature(&s, &k.public_key()).unwrap();
            let mut other = tx.clone();
            other.chain_id = ChainId::new("b").unwrap();
            assert!(other.verify_signature(&s, &k.public_key()).is_err());
            let bytes = tx.encode();
            assert_eq!(Transaction::<Vec<u8>>::decode_untrusted(&bytes).unwrap(), tx);
        }
    }
}

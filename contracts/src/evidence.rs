//! Evidence bundles: one file that proves a document's history (or the absence of a receipt)
//! to someone who trusts only the consortium's genesis — no node, no network.
//!
//! # What a bundle holds
//!
//! A [`Bundle`] is SCALE, framed by [`BUNDLE_MAGIC`] and [`BUNDLE_VERSION`]:
//! - the genesis (its JSON file), whose hash the verifier compares with the one it trusts;
//! - the subject: a document's history as of a height, or a receipt's absence at a height;
//! - the document's salt, when the exporter had it, so `verify FILE` can recompute its hash;
//! - **certified headers**: block headers with their commit certificates;
//! - the heights at which the validator set changed, up to the last header;
//! - **transactions** with their Merkle path to their block's `tx_root`;
//! - **facts**: state keys with their value (or none) at a height, and the Jellyfish Merkle
//!   proof of it against that height's `state_root`.
//!
//! # What the verifier checks ([`verify`])
//!
//! 1. The genesis is valid and is the trusted one; every header is of its chain.
//! 2. Walking the headers in height order from the genesis validator set: each header names
//!    the validator set in force, and its commit certificate carries valid precommit
//!    signatures of **more than two thirds** of that set's power. Each signer's node
//!    certificate chains to its agency's CA and was valid at the header's block time.
//! 3. A validator-set change at height `c` (in force from `c + 1`) is read from the
//!    `validators` state key at `c`, proven against header `c` — a header certified by the
//!    set before the change, so every change on the way was approved by the previous set.
//! 4. Every fact's proof against its header's state root; every transaction's Merkle path.
//! 5. The subject: for a document, its anchor record, the anchoring transaction signed by the
//!    issuing member (whose certificate chained to the issuer's CA and was valid **at the
//!    anchoring block's time**, so old bundles keep verifying after certificates expire), a
//!    receipt and a grant record (or its proven absence) for every agency of the registry, and
//!    every event of the document's case. For an absence, the anchor and the proven absence
//!    of the receipt.
//!
//! The verifier does not stop at the first failure: it reports every check that failed, each
//! naming what failed ([`Failure`]), and succeeds only when there is none.
//!
//! Bundles are made by [`export_document`] and [`export_absence`] from any [`ChainSource`]
//! (a node's store; an in-memory chain in tests). Nothing the source says is trusted: the
//! exporter only gathers, the verifier checks.
#![warn(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};

use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode};
use serde::Serialize;

use custos_primitives::codec::decode_exact;
use custos_primitives::crypto::{AnySuite, EncryptionPublicKey, Hash, Suite};
use custos_primitives::genesis::{Genesis, ValidatedGenesis, Validator, validator_set_hash};
use custos_primitives::merkle::{MerkleProof, MerkleTree};
use custos_primitives::types::{
    AgencyId, BlockHeader, CaseRef, CertFingerprint, CommitCertificate, DocHash, MAX_TX_BYTES, MemberRole, NodeId,
    Salt, TxId,
};
use custos_primitives::x509::{self, Certificate};

use crate::call::Call;
use crate::documents::{self, AnchorRecord, CaseEvent, GrantRecord, ReceiptRecord};
use crate::registry::{self, AgencyRecord, MemberRecord, NodeRecord};
use crate::runtime::{decode_tx, tx_id};
use crate::state::StateProof;
use crate::workflow::{CaseRecord, phase};

/// The first bytes of every bundle.
pub const BUNDLE_MAGIC: [u8; 8] = *b"CUSTOSEV";
/// The bundle format version this code writes and reads.
pub const BUNDLE_VERSION: u8 = 1;
/// Largest bundle accepted.
pub const MAX_BUNDLE_BYTES: usize = 64 * 1024 * 1024;
/// Largest state value read from a fact.
const MAX_VALUE_BYTES: usize = MAX_TX_BYTES * 4;

/// What a bundle proves.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub enum Subject {
    /// A document's whole history (anchor, receipts, grants, its case) as of height `at`.
    #[codec(index = 0)]
    Document {
        /// The document.
        doc: DocHash,
        /// The height the history is proven at.
        at: u64,
    },
    /// No receipt from `agency` for `doc` existed at height `at`.
    #[codec(index = 1)]
    ReceiptAbsent {
        /// The document.
        doc: DocHash,
        /// The agency that had not acknowledged it.
        agency: AgencyId,
        /// The height.
        at: u64,
    },
}

impl Subject {
    /// The document concerned.
    pub fn doc(&self) -> &DocHash {
        match self {
            Subject::Document { doc, .. } | Subject::ReceiptAbsent { doc, .. } => doc,
        }
    }
    /// The height the subject is proven at.
    pub fn at(&self) -> u64 {
        match self {
            Subject::Document { at, .. } | Subject::ReceiptAbsent { at, .. } => *at,
        }
    }
}

/// A block header with the certificate that committed it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct CertifiedHeader {
    /// The header.
    pub header: BlockHeader,
    /// Its commit certificate.
    pub certificate: CommitCertificate,
}

/// A transaction with its place in a block.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct IncludedTx {
    /// The block's height.
    pub height: u64,
    /// The transaction, as signed.
    pub tx: Vec<u8>,
    /// Merkle path of its id to the block's `tx_root`.
    pub path: MerkleProof,
}

/// A state key's value (or its absence) at a height, with the proof.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct Fact {
    /// The height (the state after that block).
    pub height: u64,
    /// The state key.
    pub key: Vec<u8>,
    /// The value, or `None` for an exclusion proof.
    pub value: Option<Vec<u8>>,
    /// The proof against the header's `state_root`.
    pub proof: StateProof,
}

/// An evidence bundle.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct Bundle {
    /// [`BUNDLE_MAGIC`].
    pub magic: [u8; 8],
    /// [`BUNDLE_VERSION`].
    pub version: u8,
    /// The genesis file (JSON).
    pub genesis: Vec<u8>,
    /// What is proven.
    pub subject: Subject,
    /// The document's salt, when known to the exporter.
    pub salt: Option<Salt>,
    /// Certified headers, by ascending height.
    pub headers: Vec<CertifiedHeader>,
    /// Heights whose block changed the validator set (in force from the next height), ascending.
    pub validator_changes: Vec<u64>,
    /// Transactions.
    pub txs: Vec<IncludedTx>,
    /// State facts.
    pub facts: Vec<Fact>,
}

impl Bundle {
    /// The bundle's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode()
    }

    /// Reads a bundle from untrusted bytes (bounded, fully consumed, magic and version checked).
    pub fn from_bytes(bytes: &[u8]) -> Result<Bundle, EvidenceError> {
        if bytes.len() < 9 || bytes[..8] != BUNDLE_MAGIC {
            return Err(EvidenceError::NotABundle);
        }
        if bytes[8] != BUNDLE_VERSION {
            return Err(EvidenceError::Version { found: bytes[8], supported: BUNDLE_VERSION });
        }
        decode_exact("evidence bundle", bytes, MAX_BUNDLE_BYTES).map_err(|e| EvidenceError::Decode(e.to_string()))
    }
}

/// Why a bundle could not be made or read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// The bytes are not an evidence bundle.
    #[error("not a Custos evidence bundle (the file does not start with {:?})", String::from_utf8_lossy(&BUNDLE_MAGIC))]
    NotABundle,
    /// A bundle of another format version.
    #[error("evidence bundle format version {found}; this program reads version {supported}")]
    Version {
        /// Version in the file.
        found: u8,
        /// Version supported.
        supported: u8,
    },
    /// The bundle does not decode.
    #[error("evidence bundle does not decode: {0}")]
    Decode(String),
    /// The chain source failed.
    #[error("reading the chain: {0}")]
    Source(String),
    /// The document is not anchored at the height asked.
    #[error("document {doc} is not anchored at height {at}")]
    NotAnchored {
        /// The document.
        doc: DocHash,
        /// The height.
        at: u64,
    },
    /// The height asked is not committed.
    #[error("height {asked} is not committed (last committed: {last})")]
    NotCommitted {
        /// Asked.
        asked: u64,
        /// Last committed.
        last: u64,
    },
    /// A stored record does not decode.
    #[error("{what} does not decode: {reason}")]
    Corrupt {
        /// The record.
        what: String,
        /// Why.
        reason: String,
    },
}

/// One check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum Failure {
    /// The genesis in the bundle is not a valid genesis.
    #[error("genesis: {reason}")]
    Genesis {
        /// Why.
        reason: String,
    },
    /// The bundle is of another chain than the trusted genesis.
    #[error("the bundle is from another chain: its genesis {found} ({chain}) is not the trusted genesis {trusted}")]
    OtherChain {
        /// Its genesis hash.
        found: String,
        /// Its chain id.
        chain: String,
        /// The trusted genesis hash.
        trusted: String,
    },
    /// A header names another chain.
    #[error("header {height}: chain id {chain} is not the genesis chain {genesis}")]
    HeaderChain {
        /// Height.
        height: u64,
        /// The header's chain id.
        chain: String,
        /// The genesis chain id.
        genesis: String,
    },
    /// Headers not in strictly ascending order, or height 0.
    #[error("headers are not in strictly ascending height order (at height {height})")]
    HeaderOrder {
        /// Where.
        height: u64,
    },
    /// The certificate is not about this header.
    #[error("header {height}: the commit certificate is for {what}")]
    CertificateMismatch {
        /// Height.
        height: u64,
        /// What it is for instead.
        what: String,
    },
    /// The header names another validator set than the one derived from the genesis and the
    /// proven changes.
    #[error(
        "header {height}: signed by validator set {header}, but the genesis and the proven changes give {derived} (a validator-set change is missing or forged)"
    )]
    ValidatorSet {
        /// Height.
        height: u64,
        /// Set hash in the header.
        header: String,
        /// Set hash derived.
        derived: String,
    },
    /// A signature in a commit certificate is not a validator's or does not verify.
    #[error("header {height}: precommit signature of {node}: {reason}")]
    Signature {
        /// Height.
        height: u64,
        /// The signer.
        node: String,
        /// Why.
        reason: String,
    },
    /// Too little voting power signed.
    #[error(
        "header {height}{change}: commit certificate holds {signed} of {total} voting power; more than two thirds is needed"
    )]
    Quorum {
        /// Height.
        height: u64,
        /// " (validator-set change)" when this header changed the set.
        change: String,
        /// Power that signed validly.
        signed: u64,
        /// Total power.
        total: u64,
    },
    /// A validator's node certificate does not hold at a height.
    #[error("header {height}: node certificate of validator {node} ({agency}): {reason}")]
    NodeCertificate {
        /// Height.
        height: u64,
        /// Node.
        node: String,
        /// Its agency.
        agency: String,
        /// Why.
        reason: String,
    },
    /// A validator-set change without its proof.
    #[error("validator-set change at height {height}: {reason}")]
    ValidatorChange {
        /// Height.
        height: u64,
        /// Why.
        reason: String,
    },
    /// A header the bundle needs is not in it.
    #[error("no certified header for height {height} (needed for {what})")]
    MissingHeader {
        /// Height.
        height: u64,
        /// For what.
        what: String,
    },
    /// A state proof does not hold.
    #[error("state proof of {key} at height {height}: {reason}")]
    StateProof {
        /// Height.
        height: u64,
        /// Key, readable.
        key: String,
        /// Why.
        reason: String,
    },
    /// A fact the subject needs is not in the bundle.
    #[error("missing proof of {key} at height {height} (needed for {what})")]
    MissingFact {
        /// Height.
        height: u64,
        /// Key.
        key: String,
        /// For what.
        what: String,
    },
    /// A proven value that does not decode.
    #[error("{key} at height {height}: value does not decode: {reason}")]
    BadValue {
        /// Height.
        height: u64,
        /// Key.
        key: String,
        /// Why.
        reason: String,
    },
    /// A transaction's inclusion does not hold.
    #[error("transaction {tx} at height {height}: {reason}")]
    Transaction {
        /// Height.
        height: u64,
        /// Tx id.
        tx: String,
        /// Why.
        reason: String,
    },
    /// A member's certificate does not hold for what it signed.
    #[error("member {member} of {agency}: {reason}")]
    MemberCertificate {
        /// Fingerprint.
        member: String,
        /// Agency.
        agency: String,
        /// Why.
        reason: String,
    },
    /// The agency's CA is not known from the genesis or a proven registry record.
    #[error("agency {agency}: no CA certificate in the genesis or in a proven registry record")]
    UnknownCa {
        /// Agency.
        agency: String,
    },
    /// The document does not match the bundle.
    #[error("the document's hash {computed} is not the bundle's document {expected}")]
    Document {
        /// Computed from the file.
        computed: String,
        /// The bundle's subject.
        expected: String,
    },
    /// The subject is not what the facts say.
    #[error("subject: {reason}")]
    Subject {
        /// Why.
        reason: String,
    },
}

/// What a history entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A document anchored (sent).
    Anchored,
    /// A case moved to a new state by a document.
    CaseTransition,
    /// A delivery receipt.
    Received,
    /// Access granted to an agency not addressed.
    Granted,
    /// A grant revoked.
    GrantRevoked,
}

/// One entry of a verified history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    /// Block height.
    pub height: u64,
    /// What it records.
    pub kind: EntryKind,
    /// Block time (ms since the epoch), when the bundle carries it.
    pub time_ms: Option<u64>,
    /// The agency acting.
    pub agency: String,
    /// What happened.
    pub what: String,
    /// The transaction, when known.
    pub tx_id: Option<String>,
}

/// What a verified bundle proves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// The chain.
    pub chain_id: String,
    /// Its genesis hash.
    pub genesis_hash: String,
    /// The crypto suite.
    pub suite: String,
    /// The document.
    pub doc_hash: String,
    /// The height the subject is proven at.
    pub at_height: u64,
    /// Its block time.
    pub at_time_ms: u64,
    /// Document type code.
    pub doc_type: Option<String>,
    /// The issuing agency.
    pub issuer: Option<String>,
    /// The case reference (pseudonymous).
    pub case_ref: Option<String>,
    /// Agencies that had not acknowledged the document at `at_height` among its recipients and
    /// copies (each absence proven).
    pub not_received: Vec<String>,
    /// The history, by height.
    pub timeline: Vec<TimelineEntry>,
    /// For an absence bundle: the agency whose receipt is proven absent.
    pub absent_receipt_from: Option<String>,
    /// Certified headers checked.
    pub headers: usize,
    /// Precommit signatures checked.
    pub signatures: usize,
    /// Validator-set changes followed.
    pub validator_changes: usize,
    /// State proofs checked.
    pub facts: usize,
}

/// The outcome of [`verify`]: what the bundle says (as far as it could be read) and every
/// failed check. It proves something only when `failures` is empty.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// What was found.
    pub verified: Option<Verified>,
    /// Every failed check.
    pub failures: Vec<Failure>,
}

impl Report {
    /// Whether every check held.
    pub fn ok(&self) -> bool {
        self.failures.is_empty() && self.verified.is_some()
    }
}

/// A readable form of a state key (`receipt/<hash>/police`).
pub fn show_key(key: &[u8]) -> String {
    let text_prefix: Vec<u8> = key.iter().take_while(|b| b.is_ascii_graphic() && **b != b'/').copied().collect();
    let rest = &key[text_prefix.len()..];
    let mut out = String::from_utf8_lossy(&text_prefix).into_owned();
    if rest.is_empty() {
        return out;
    }
    // `prefix/<32 bytes>[/<ascii>]` as most keys are; anything else as hex.
    let rest = rest.strip_prefix(b"/").unwrap_or(rest);
    if rest.len() >= 32 {
        out.push('/');
        out.push_str(&hex::encode(&rest[..32]));
        let tail = &rest[32..];
        if !tail.is_empty() {
            if tail.iter().all(|b| b.is_ascii_graphic()) {
                out.push_str(&String::from_utf8_lossy(tail));
            } else {
                out.push('/');
                out.push_str(&hex::encode(tail));
            }
        }
    } else if rest.iter().all(|b| b.is_ascii_graphic()) {
        out.push('/');
        out.push_str(&String::from_utf8_lossy(rest));
    } else {
        out.push('/');
        out.push_str(&hex::encode(rest));
    }
    out
}

/// The first 8 bytes of a hash, as hex (for messages; full hashes are in the JSON).
fn short(h: &Hash) -> String {
    hex::encode(&h.0[..8])
}

/// The genesis as bundles carry it: the file's JSON re-rendered from what the genesis hash
/// covers — certificates as canonical PEM of their DER, keys in their canonical text,
/// agencies and validators in a fixed order. The hash ignores PEM line breaks, hex case and
/// JSON layout; carrying one canonical text makes every byte of a bundle matter.
pub fn canonical_genesis_json(g: &Genesis) -> Result<String, String> {
    let mut g = g.clone();
    for a in &mut g.agencies {
        a.ca_cert_pem = Certificate::from_pem(&a.ca_cert_pem).map_err(|e| format!("CA of {}: {e}", a.id))?.to_pem();
        if let Some(k) = &a.encryption_key {
            let key = EncryptionPublicKey::parse(k).map_err(|e| format!("encryption key of {}: {e}", a.id))?;
            a.encryption_key = Some(key.to_text());
        }
    }
    for v in &mut g.validators {
        v.node_cert_pem =
            Certificate::from_pem(&v.node_cert_pem).map_err(|e| format!("node of {}: {e}", v.agency))?.to_pem();
        let mut p2p = [0u8; 32];
        hex::decode_to_slice(v.p2p_key.trim(), &mut p2p).map_err(|_| format!("p2p key of {}", v.agency))?;
        v.p2p_key = hex::encode(p2p);
    }
    g.agencies.sort_by(|a, b| a.id.cmp(&b.id));
    g.validators.sort_by(|a, b| a.node_cert_pem.cmp(&b.node_cert_pem));
    Ok(g.to_json())
}

/// The genesis a verifier trusts, by hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustAnchor(pub Hash);

struct Checker {
    suite: AnySuite,
    genesis: ValidatedGenesis,
    failures: Vec<Failure>,
    headers: BTreeMap<u64, CertifiedHeader>,
    /// Facts whose proof held: (height, key) → value.
    facts: BTreeMap<(u64, Vec<u8>), Option<Vec<u8>>>,
    /// Agency CA certificates: genesis, then proven registry records.
    cas: BTreeMap<AgencyId, Certificate>,
    signatures: usize,
    /// Node certificates (DER) whose chain to their agency CA already held.
    chained: BTreeSet<Vec<u8>>,
}

/// Verifies a bundle against the trusted genesis. Never panics on any input.
pub fn verify(bundle: &Bundle, trust: TrustAnchor) -> Report {
    let mut failures = Vec::new();
    let genesis = match std::str::from_utf8(&bundle.genesis)
        .map_err(|e| e.to_string())
        .and_then(|t| Genesis::from_json(t).map_err(|e| e.to_string()).map(|g| (t, g)))
        .and_then(|(t, g)| match canonical_genesis_json(&g) {
            Ok(c) if c == t => Ok(g),
            Ok(_) => Err("not in the canonical form exporters write (altered?)".to_owned()),
            Err(e) => Err(e),
        })
        .and_then(|g| g.validate().map_err(|e| e.to_string()))
    {
        Ok(g) => g,
        Err(reason) => {
            failures.push(Failure::Genesis { reason });
            return Report { verified: None, failures };
        }
    };
    if genesis.hash != trust.0 {
        failures.push(Failure::OtherChain {
            found: genesis.hash.to_string(),
            chain: genesis.genesis.chain_id.to_string(),
            trusted: trust.0.to_string(),
        });
        return Report { verified: None, failures };
    }
    let mut c = Checker {
        suite: genesis.suite.clone(),
        cas: genesis.cas.clone(),
        genesis,
        failures,
        headers: BTreeMap::new(),
        facts: BTreeMap::new(),
        signatures: 0,
        chained: BTreeSet::new(),
    };
    c.index(bundle);
    c.read_agency_cas();
    c.check_headers(bundle);
    c.check_txs(bundle);
    let verified = c.subject(bundle);
    Report { verified, failures: c.failures }
}

impl Checker {
    fn fail(&mut self, f: Failure) {
        self.failures.push(f);
    }

    /// Headers by height (chain id, order) and facts whose proofs hold.
    fn index(&mut self, b: &Bundle) {
        let chain = self.genesis.genesis.chain_id.clone();
        let mut last = 0;
        for h in &b.headers {
            let height = h.header.height;
            if height <= last {
                self.fail(Failure::HeaderOrder { height });
                continue;
            }
            last = height;
            if h.header.chain_id != chain {
                self.fail(Failure::HeaderChain {
                    height,
                    chain: h.header.chain_id.to_string(),
                    genesis: chain.to_string(),
                });
                continue;
            }
            self.headers.insert(height, h.clone());
        }
        for f in &b.facts {
            let key = show_key(&f.key);
            let Some(h) = self.headers.get(&f.height) else {
                self.fail(Failure::MissingHeader { height: f.height, what: format!("the proof of {key}") });
                continue;
            };
            let root = h.header.state_root;
            match f.proof.verify(&self.suite, &root, &f.key, f.value.as_deref()) {
                Ok(()) => {
                    self.facts.insert((f.height, f.key.clone()), f.value.clone());
                }
                Err(e) => self.fail(Failure::StateProof { height: f.height, key, reason: e.to_string() }),
            }
        }
    }

    /// A proven fact: `Ok(None)` when proven absent; a failure when missing.
    fn fact(&mut self, height: u64, key: &[u8], what: &str) -> Option<Option<Vec<u8>>> {
        match self.facts.get(&(height, key.to_vec())) {
            Some(v) => Some(v.clone()),
            None => {
                // A fact whose proof failed was reported already; do not report it twice.
                let failed = self.failures.iter().any(
                    |f| matches!(f, Failure::StateProof { height: h, key: k, .. } if *h == height && *k == show_key(key)),
                );
                if !failed {
                    self.fail(Failure::MissingFact { height, key: show_key(key), what: what.to_owned() });
                }
                None
            }
        }
    }

    fn decoded<T: Decode>(&mut self, height: u64, key: &[u8], value: &[u8]) -> Option<T> {
        match decode_exact::<T>("state value", value, MAX_VALUE_BYTES) {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail(Failure::BadValue { height, key: show_key(key), reason: e.to_string() });
                None
            }
        }
    }

    /// A present, decoded fact (`None` with a failure when missing or absent).
    fn record<T: Decode>(&mut self, height: u64, key: &[u8], what: &str) -> Option<T> {
        match self.fact(height, key, what)? {
            Some(v) => self.decoded(height, key, &v),
            None => {
                self.fail(Failure::Subject {
                    reason: format!("{what}: {} is absent at height {height}", show_key(key)),
                });
                None
            }
        }
    }

    /// CAs of agencies added after genesis, from proven registry records.
    fn read_agency_cas(&mut self) {
        let proven: Vec<(u64, Vec<u8>, Vec<u8>)> = self
            .facts
            .iter()
            .filter(|((_, k), _)| k.starts_with(b"agency/"))
            .filter_map(|((h, k), v)| v.clone().map(|v| (*h, k.clone(), v)))
            .collect();
        for (height, key, value) in proven {
            let Some(rec) = self.decoded::<AgencyRecord>(height, &key, &value) else { continue };
            if self.cas.contains_key(&rec.id) {
                continue;
            }
            match Certificate::from_der(&rec.ca_cert) {
                Ok(ca) => {
                    self.cas.insert(rec.id, ca);
                }
                Err(e) => self.fail(Failure::BadValue { height, key: show_key(&key), reason: e.to_string() }),
            }
        }
    }

    /// The node certificates of the genesis validators, by node id.
    fn genesis_node_certs(&mut self) -> BTreeMap<NodeId, Certificate> {
        let mut out = BTreeMap::new();
        for v in &self.genesis.genesis.validators {
            if let Ok(cert) = Certificate::from_pem(&v.node_cert_pem)
                && let Ok(id) = NodeId::of_key(&self.suite, cert.public_key())
            {
                out.insert(id, cert);
            }
        }
        out
    }

    /// Walks the headers from the genesis validator set, following the proven changes.
    fn check_headers(&mut self, b: &Bundle) {
        let mut set: Vec<Validator> = self.genesis.validators.clone();
        let mut certs = self.genesis_node_certs();
        let mut changes: Vec<u64> = b.validator_changes.clone();
        changes.dedup();
        if changes.windows(2).any(|w| w[0] >= w[1]) {
            self.fail(Failure::ValidatorChange {
                height: changes[0],
                reason: "changes are not in ascending order".into(),
            });
            changes.sort_unstable();
            changes.dedup();
        }
        let change_set: BTreeSet<u64> = changes.iter().copied().collect();
        for &c in &changes {
            if !self.headers.contains_key(&c) {
                self.fail(Failure::MissingHeader { height: c, what: "a validator-set change".into() });
            }
        }
        let heights: Vec<u64> = self.headers.keys().copied().collect();
        for height in heights {
            let Some(h) = self.headers.get(&height).cloned() else { continue };
            self.check_certificate(&h, &set, &certs, change_set.contains(&height));
            if change_set.contains(&height) {
                match self.read_change(height) {
                    Some((next, next_certs)) => {
                        set = next;
                        certs.extend(next_certs);
                    }
                    None => return,
                }
            }
        }
    }

    /// The validator set a block at `height` put in force, and its validators' certificates.
    fn read_change(&mut self, height: u64) -> Option<(Vec<Validator>, BTreeMap<NodeId, Certificate>)> {
        let what = format!("the validator-set change at height {height}");
        let set: Vec<Validator> = self.record(height, registry::VALIDATORS_KEY, &what)?;
        let mut certs = BTreeMap::new();
        for v in &set {
            let key = registry::node_key(&v.node_id);
            let Some(rec) = self.record::<NodeRecord>(height, &key, &what) else { continue };
            if rec.public_key != v.public_key || rec.agency != v.agency {
                self.fail(Failure::ValidatorChange {
                    height,
                    reason: format!("node record of {} differs from its validator entry", short(&v.node_id.0)),
                });
                continue;
            }
            match Certificate::from_der(&rec.certificate) {
                Ok(cert) => {
                    certs.insert(v.node_id, cert);
                }
                Err(e) => self.fail(Failure::ValidatorChange {
                    height,
                    reason: format!("node certificate of {}: {e}", short(&v.node_id.0)),
                }),
            }
        }
        Some((set, certs))
    }

    fn check_certificate(
        &mut self,
        h: &CertifiedHeader,
        set: &[Validator],
        certs: &BTreeMap<NodeId, Certificate>,
        is_change: bool,
    ) {
        let height = h.header.height;
        let derived = validator_set_hash(&self.suite, set);
        if h.header.validator_set_hash != derived {
            self.fail(Failure::ValidatorSet {
                height,
                header: h.header.validator_set_hash.to_string(),
                derived: derived.to_string(),
            });
        }
        let block = h.header.hash(&self.suite);
        let cert = &h.certificate;
        if cert.height != height || cert.block != block {
            self.fail(Failure::CertificateMismatch {
                height,
                what: format!("block {} at height {}, not {block}", cert.block, cert.height),
            });
            return;
        }
        let payload = cert.payload(&self.genesis.genesis.chain_id).signing_bytes();
        let at = (h.header.time_ms / 1000) as i64;
        let total: u64 = set.iter().map(|v| v.power).sum();
        let mut signed: u64 = 0;
        let mut seen = BTreeSet::new();
        for s in cert.signatures.iter() {
            let node = short(&s.validator.0);
            if !seen.insert(s.validator) {
                self.fail(Failure::Signature { height, node, reason: "signed twice".into() });
                continue;
            }
            let Some(v) = set.iter().find(|v| v.node_id == s.validator) else {
                self.fail(Failure::Signature { height, node, reason: "not a validator at this height".into() });
                continue;
            };
            self.signatures += 1;
            if let Err(e) = self.suite.verify(&v.public_key, &payload, &s.signature) {
                self.fail(Failure::Signature { height, node, reason: e.to_string() });
                continue;
            }
            let agency = v.agency.to_string();
            let cert_check = match (certs.get(&v.node_id), self.cas.get(&v.agency)) {
                (None, _) => Err("no node certificate in the genesis or a proven node record".to_owned()),
                (_, None) => Err("its agency's CA is unknown".to_owned()),
                // The chain (issuer, signature, constraints, key) once per certificate; its
                // validity and the CA's at every height it signs at.
                (Some(nc), Some(ca)) if self.chained.contains(nc.der()) => {
                    nc.check_validity(at).and_then(|()| ca.check_validity(at)).map_err(|e| e.to_string())
                }
                (Some(nc), Some(ca)) => x509::verify_member(&self.suite, nc, ca, at, Some(MemberRole::Node))
                    .map_err(|e| e.to_string())
                    .and_then(|m| {
                        if m.public_key == v.public_key && m.agency == v.agency {
                            Ok(())
                        } else {
                            Err("the certificate's key or agency is not the validator's".into())
                        }
                    }),
            };
            if cert_check.is_ok()
                && let Some(nc) = certs.get(&v.node_id)
            {
                self.chained.insert(nc.der().to_vec());
            }
            if let Err(reason) = cert_check {
                self.fail(Failure::NodeCertificate { height, node, agency, reason });
                continue;
            }
            signed = signed.saturating_add(v.power);
        }
        if (signed as u128) * 3 <= (total as u128) * 2 {
            let change = if is_change { " (validator-set change)".to_owned() } else { String::new() };
            self.fail(Failure::Quorum { height, change, signed, total });
        }
    }

    fn check_txs(&mut self, b: &Bundle) {
        for t in &b.txs {
            let id = tx_id(&self.suite, &t.tx);
            let Some(h) = self.headers.get(&t.height) else {
                self.fail(Failure::MissingHeader { height: t.height, what: format!("transaction {}", short(&id.0)) });
                continue;
            };
            let root = h.header.tx_root;
            if let Err(e) = t.path.verify(&self.suite, id.0.as_bytes(), &root) {
                self.fail(Failure::Transaction { height: t.height, tx: id.0.to_string(), reason: e.to_string() });
            }
        }
    }

    /// The record's block time is its certified header's.
    fn check_time(&mut self, height: u64, time_ms: u64, what: &str) {
        match self.time_of(height) {
            None => self.fail(Failure::MissingHeader { height, what: what.to_owned() }),
            Some(t) if t != time_ms => self.fail(Failure::Subject {
                reason: format!("{what}: the record says block time {time_ms}, the header at height {height} {t}"),
            }),
            Some(_) => {}
        }
    }

    fn time_of(&self, height: u64) -> Option<u64> {
        self.headers.get(&height).map(|h| h.header.time_ms)
    }

    /// Checks a member's certificate for something it signed at `time_ms` (height `height`).
    fn check_member(&mut self, at: u64, fp: &CertFingerprint, agency: &AgencyId, height: u64, time_ms: u64) {
        let key = registry::member_key(fp);
        let what = format!("the certificate of member {}", short(&fp.0));
        let Some(m) = self.record::<MemberRecord>(at, &key, &what) else { return };
        let fail = |reason: String| Failure::MemberCertificate {
            member: fp.0.to_string(),
            agency: agency.to_string(),
            reason,
        };
        if &m.agency != agency {
            self.fail(fail(format!("registered for {}, acted for {agency}", m.agency)));
            return;
        }
        if let Some(r) = &m.revoked
            && r.height <= height
        {
            self.fail(fail(format!("revoked at height {}, acted at height {height}", r.height)));
        }
        let cert = match Certificate::from_der(&m.certificate) {
            Ok(c) => c,
            Err(e) => return self.fail(fail(e.to_string())),
        };
        if cert.fingerprint(&self.suite) != *fp {
            return self.fail(fail("the registered certificate is not the one with this fingerprint".into()));
        }
        let Some(ca) = self.cas.get(agency).cloned() else {
            return self.fail(Failure::UnknownCa { agency: agency.to_string() });
        };
        let at_s = (time_ms / 1000) as i64;
        match x509::verify_member(&self.suite, &cert, &ca, at_s, Some(m.role)) {
            Ok(v) if v.public_key == m.public_key => {}
            Ok(_) => self.fail(fail("the registered key is not the certificate's".into())),
            Err(e) => self.fail(fail(format!("at height {height}: {e}"))),
        }
    }

    /// Finds the transaction `id` among the bundle's and checks its signature by `signer`.
    fn signed_tx(&mut self, b: &Bundle, id: &TxId, height: u64, at: u64, signer: &CertFingerprint) -> Option<Call> {
        let Some(t) = b.txs.iter().find(|t| t.height == height && tx_id(&self.suite, &t.tx) == *id) else {
            self.fail(Failure::Transaction { height, tx: id.0.to_string(), reason: "not in the bundle".into() });
            return None;
        };
        let fail = |reason: String| Failure::Transaction { height, tx: id.0.to_string(), reason };
        let tx = match decode_tx(&t.tx) {
            Ok(tx) => tx,
            Err(e) => {
                self.fail(fail(e.to_string()));
                return None;
            }
        };
        if tx.signer != *signer {
            self.fail(fail(format!("signed by {}, the record names {}", short(&tx.signer.0), short(&signer.0))));
            return None;
        }
        if tx.chain_id != self.genesis.genesis.chain_id {
            self.fail(fail(format!("transaction of chain {}", tx.chain_id)));
        }
        let member = self.facts.get(&(at, registry::member_key(signer))).cloned().flatten();
        if let Some(m) = member.and_then(|v| decode_exact::<MemberRecord>("member", &v, MAX_VALUE_BYTES).ok())
            && let Err(e) = tx.verify_signature(&self.suite, &m.public_key)
        {
            self.fail(fail(format!("signature: {e}")));
        }
        Some(tx.call)
    }

    fn subject(&mut self, b: &Bundle) -> Option<Verified> {
        let at = b.subject.at();
        let doc = *b.subject.doc();
        let Some(top) = self.headers.get(&at).cloned() else {
            self.fail(Failure::MissingHeader { height: at, what: "the subject's height".into() });
            return None;
        };
        let mut v = Verified {
            chain_id: self.genesis.genesis.chain_id.to_string(),
            genesis_hash: self.genesis.hash.to_string(),
            suite: self.suite.id().to_string(),
            doc_hash: doc.0.to_string(),
            at_height: at,
            at_time_ms: top.header.time_ms,
            doc_type: None,
            issuer: None,
            case_ref: None,
            not_received: Vec::new(),
            timeline: Vec::new(),
            absent_receipt_from: None,
            headers: self.headers.len(),
            signatures: 0,
            validator_changes: b.validator_changes.len(),
            facts: self.facts.len(),
        };
        let anchor: Option<AnchorRecord> = self.record(at, &documents::doc_key(&doc), "the document's anchor");
        if let Some(a) = &anchor {
            if a.doc_hash != doc {
                self.fail(Failure::Subject { reason: "the anchor record is of another document".into() });
            }
            v.doc_type = Some(a.doc_type.to_string());
            v.issuer = Some(a.issuer.to_string());
            v.case_ref = Some(a.case_ref.0.to_string());
        }
        match &b.subject {
            Subject::ReceiptAbsent { agency, .. } => {
                v.absent_receipt_from = Some(agency.to_string());
                let key = documents::receipt_key(&doc, agency);
                match self.fact(at, &key, "the receipt's absence") {
                    Some(None) => {}
                    Some(Some(_)) => self.fail(Failure::Subject {
                        reason: format!("{agency} had acknowledged the document by height {at}"),
                    }),
                    None => {}
                }
                if let Some(a) = &anchor {
                    v.timeline.push(self.anchored_entry(a));
                }
            }
            Subject::Document { .. } => {
                if let Some(a) = &anchor {
                    self.document_history(b, a, at, &mut v);
                }
            }
        }
        v.timeline.sort_by_key(|e| (e.height, e.kind));
        v.signatures = self.signatures;
        v.facts = self.facts.len();
        Some(v)
    }

    fn anchored_entry(&self, a: &AnchorRecord) -> TimelineEntry {
        let mut what = format!("anchored {} ({}) by member {}", a.doc_type, a.doc_hash.0, short(&a.signer.0));
        let to: Vec<String> = a.recipients.iter().map(ToString::to_string).collect();
        what.push_str(&format!(", sent to {}", to.join(", ")));
        if !a.copies.is_empty() {
            let cc: Vec<String> = a.copies.iter().map(ToString::to_string).collect();
            what.push_str(&format!(", copied to {}", cc.join(", ")));
        }
        TimelineEntry {
            height: a.height,
            kind: EntryKind::Anchored,
            time_ms: Some(a.time_ms),
            agency: a.issuer.to_string(),
            what,
            tx_id: Some(a.tx_id.0.to_string()),
        }
    }

    fn document_history(&mut self, b: &Bundle, a: &AnchorRecord, at: u64, v: &mut Verified) {
        // The anchoring transaction, signed by the member the record names.
        self.check_time(a.height, a.time_ms, "the anchoring block");
        match self.signed_tx(b, &a.tx_id, a.height, at, &a.signer) {
            Some(Call::Anchor(call)) if call.doc_hash == a.doc_hash => {}
            Some(_) => self.fail(Failure::Transaction {
                height: a.height,
                tx: a.tx_id.0.to_string(),
                reason: "is not the anchoring of this document".into(),
            }),
            None => {}
        }
        self.check_member(at, &a.signer, &a.issuer, a.height, a.time_ms);
        v.timeline.push(self.anchored_entry(a));

        // A receipt and a grant record, or their proven absence, for every agency.
        let agencies: Vec<AgencyId> =
            self.record(at, registry::AGENCIES_KEY, "the list of agencies").unwrap_or_default();
        for agency in &agencies {
            let key = documents::receipt_key(&a.doc_hash, agency);
            match self.fact(at, &key, "a receipt or its absence") {
                Some(Some(bytes)) => {
                    let Some(r) = self.decoded::<ReceiptRecord>(at, &key, &bytes) else { continue };
                    if &r.agency != agency {
                        self.fail(Failure::Subject { reason: format!("receipt of {agency} names {}", r.agency) });
                    }
                    self.check_time(r.height, r.time_ms, &format!("{agency}'s receipt"));
                    match self.signed_tx(b, &r.tx_id, r.height, at, &r.signer) {
                        Some(Call::Receipt(call)) if call.doc_hash == a.doc_hash => {}
                        Some(_) => self.fail(Failure::Transaction {
                            height: r.height,
                            tx: r.tx_id.0.to_string(),
                            reason: "is not a receipt of this document".into(),
                        }),
                        None => {}
                    }
                    self.check_member(at, &r.signer, agency, r.height, r.time_ms);
                    v.timeline.push(TimelineEntry {
                        height: r.height,
                        kind: EntryKind::Received,
                        time_ms: Some(r.time_ms),
                        agency: agency.to_string(),
                        what: format!("received (receipt signed by member {})", short(&r.signer.0)),
                        tx_id: Some(r.tx_id.0.to_string()),
                    });
                }
                Some(None) if a.recipients.contains(agency) || a.copies.contains(agency) => {
                    v.not_received.push(agency.to_string());
                }
                Some(None) => {}
                None => {}
            }
            let key = documents::grant_key(&a.doc_hash, agency);
            if let Some(Some(bytes)) = self.fact(at, &key, "a grant or its absence")
                && let Some(g) = self.decoded::<GrantRecord>(at, &key, &bytes)
            {
                v.timeline.push(TimelineEntry {
                    height: g.height,
                    kind: EntryKind::Granted,
                    time_ms: self.time_of(g.height),
                    agency: a.issuer.to_string(),
                    what: format!("granted {agency} access (by member {})", short(&g.by.0)),
                    tx_id: None,
                });
                if let Some(r) = g.revoked_at {
                    v.timeline.push(TimelineEntry {
                        height: r,
                        kind: EntryKind::GrantRevoked,
                        time_ms: self.time_of(r),
                        agency: a.issuer.to_string(),
                        what: format!("revoked {agency}'s access"),
                        tx_id: None,
                    });
                }
            }
        }
        self.case_history(a, at, v);
    }

    /// Every event of the document's case (when the document belongs to an opened case).
    fn case_history(&mut self, a: &AnchorRecord, at: u64, v: &mut Verified) {
        let key = documents::case_key(&a.case_ref);
        let Some(Some(bytes)) = self.fact(at, &key, "the document's case") else { return };
        let Some(case) = self.decoded::<CaseRecord>(at, &key, &bytes) else { return };
        for n in 0..case.events {
            let ekey = documents::case_event_key(&a.case_ref, n);
            let Some(ev) = self.record::<CaseEvent>(at, &ekey, "the case's history") else { continue };
            let other: Option<AnchorRecord> = self.record(at, &documents::doc_key(&ev.doc_hash), "the case's history");
            v.timeline.push(TimelineEntry {
                height: ev.height,
                kind: EntryKind::CaseTransition,
                time_ms: other.as_ref().map(|o| o.time_ms),
                agency: ev.issuer.to_string(),
                what: format!("case {} → {} by {} ({})", phase(&ev.from), ev.to, ev.doc_type, ev.doc_hash.0),
                tx_id: other.map(|o| o.tx_id.0.to_string()),
            });
        }
    }
}

/// Where an exporter reads the chain (a node's store, an in-memory chain).
pub trait ChainSource {
    /// The genesis file (JSON).
    fn genesis_json(&self) -> String;
    /// The last committed height.
    fn last_height(&self) -> Result<u64, EvidenceError>;
    /// A committed header with its commit certificate.
    fn certified_header(&self, height: u64) -> Result<CertifiedHeader, EvidenceError>;
    /// A committed block's transactions, in order.
    fn block_txs(&self, height: u64) -> Result<Vec<Vec<u8>>, EvidenceError>;
    /// A state key's value at a height, with its proof.
    fn prove(&self, key: &[u8], height: u64) -> Result<(Option<Vec<u8>>, StateProof), EvidenceError>;
    /// Heights up to `up_to` whose block changed the validator set, ascending.
    fn validator_changes(&self, up_to: u64) -> Result<Vec<u64>, EvidenceError>;
}

struct Builder<'a, S: ChainSource> {
    source: &'a S,
    /// The source's genesis, parsed and validated once.
    genesis: ValidatedGenesis,
    heights: BTreeSet<u64>,
    facts: BTreeMap<(u64, Vec<u8>), Fact>,
    txs: Vec<IncludedTx>,
}

impl<S: ChainSource> Builder<'_, S> {
    fn fact(&mut self, height: u64, key: Vec<u8>) -> Result<Option<Vec<u8>>, EvidenceError> {
        if let Some(f) = self.facts.get(&(height, key.clone())) {
            return Ok(f.value.clone());
        }
        let (value, proof) = self.source.prove(&key, height)?;
        self.heights.insert(height);
        self.facts.insert((height, key.clone()), Fact { height, key, value: value.clone(), proof });
        Ok(value)
    }

    fn record<T: Decode>(&mut self, height: u64, key: Vec<u8>) -> Result<Option<T>, EvidenceError> {
        let what = show_key(&key);
        match self.fact(height, key)? {
            None => Ok(None),
            Some(v) => decode_exact(MAX_VALUE_STR, &v, MAX_VALUE_BYTES)
                .map(Some)
                .map_err(|e| EvidenceError::Corrupt { what, reason: e.to_string() }),
        }
    }

    fn tx(&mut self, height: u64, id: &TxId) -> Result<(), EvidenceError> {
        let txs = self.source.block_txs(height)?;
        let ids: Vec<TxId> = txs.iter().map(|t| tx_id(&self.genesis.suite, t)).collect();
        let Some(index) = ids.iter().position(|i| i == id) else {
            return Err(EvidenceError::Source(format!("transaction {id:?} is not in block {height}")));
        };
        let leaves: Vec<&[u8]> = ids.iter().map(|i| i.0.as_bytes().as_slice()).collect();
        let tree = MerkleTree::new(&self.genesis.suite, &leaves);
        let path = tree.prove(&self.genesis.suite, index).ok_or_else(|| {
            EvidenceError::Source(format!("no Merkle path for transaction {index} of block {height}"))
        })?;
        self.heights.insert(height);
        self.txs.push(IncludedTx { height, tx: txs[index].clone(), path });
        Ok(())
    }

    fn finish(mut self, subject: Subject, salt: Option<Salt>) -> Result<Bundle, EvidenceError> {
        let top = self.heights.last().copied().unwrap_or(subject.at());
        let changes: Vec<u64> = self.source.validator_changes(top)?.into_iter().filter(|c| *c < top).collect();
        for &c in &changes {
            let set: Option<Vec<Validator>> = self.record(c, registry::VALIDATORS_KEY.to_vec())?;
            for v in set.unwrap_or_default() {
                self.fact(c, registry::node_key(&v.node_id))?;
            }
        }
        let headers =
            self.heights.iter().map(|h| self.source.certified_header(*h)).collect::<Result<Vec<_>, EvidenceError>>()?;
        Ok(Bundle {
            magic: BUNDLE_MAGIC,
            version: BUNDLE_VERSION,
            genesis: canonical_genesis_json(&self.genesis.genesis).map_err(EvidenceError::Source)?.into_bytes(),
            subject,
            salt,
            headers,
            validator_changes: changes,
            txs: self.txs,
            facts: self.facts.into_values().collect(),
        })
    }
}

const MAX_VALUE_STR: &str = "state value";

fn builder<S: ChainSource>(source: &S, at: Option<u64>) -> Result<(Builder<'_, S>, u64), EvidenceError> {
    let text = source.genesis_json();
    let genesis = Genesis::from_json(&text)
        .and_then(|g| g.validate())
        .map_err(|e| EvidenceError::Source(format!("genesis: {e}")))?;
    let last = source.last_height()?;
    let at = at.unwrap_or(last);
    if at == 0 || at > last {
        return Err(EvidenceError::NotCommitted { asked: at, last });
    }
    let mut heights = BTreeSet::new();
    heights.insert(at);
    Ok((Builder { source, genesis, heights, facts: BTreeMap::new(), txs: Vec::new() }, at))
}

/// Exports the whole history of `doc` as of height `at` (default: the last committed).
pub fn export_document<S: ChainSource>(
    source: &S,
    doc: &DocHash,
    at: Option<u64>,
    salt: Option<Salt>,
) -> Result<Bundle, EvidenceError> {
    let (mut b, at) = builder(source, at)?;
    let Some(anchor) = b.record::<AnchorRecord>(at, documents::doc_key(doc))? else {
        return Err(EvidenceError::NotAnchored { doc: *doc, at });
    };
    b.tx(anchor.height, &anchor.tx_id)?;
    b.fact(at, registry::member_key(&anchor.signer))?;
    let agencies: Vec<AgencyId> = b.record(at, registry::AGENCIES_KEY.to_vec())?.unwrap_or_default();
    for agency in &agencies {
        if !b.genesis.cas.contains_key(agency) {
            b.fact(at, registry::agency_key(agency))?;
        }
        if let Some(r) = b.record::<ReceiptRecord>(at, documents::receipt_key(doc, agency))? {
            b.tx(r.height, &r.tx_id)?;
            b.fact(at, registry::member_key(&r.signer))?;
        }
        if let Some(g) = b.record::<GrantRecord>(at, documents::grant_key(doc, agency))? {
            b.heights.insert(g.height);
            if let Some(r) = g.revoked_at {
                b.heights.insert(r);
            }
        }
    }
    case_facts(&mut b, &anchor.case_ref, at)?;
    b.finish(Subject::Document { doc: *doc, at }, salt)
}

fn case_facts<S: ChainSource>(b: &mut Builder<'_, S>, case: &CaseRef, at: u64) -> Result<(), EvidenceError> {
    let Some(record) = b.record::<CaseRecord>(at, documents::case_key(case))? else { return Ok(()) };
    for n in 0..record.events {
        if let Some(ev) = b.record::<CaseEvent>(at, documents::case_event_key(case, n))? {
            b.fact(at, documents::doc_key(&ev.doc_hash))?;
        }
    }
    Ok(())
}

/// Exports the proof that `agency` had not acknowledged `doc` at height `at` (default: the
/// last committed). Fails when the document was not anchored then; the bundle would not
/// verify if the receipt existed (the exporter does not check it: the verifier does).
pub fn export_absence<S: ChainSource>(
    source: &S,
    doc: &DocHash,
    agency: &AgencyId,
    at: Option<u64>,
) -> Result<Bundle, EvidenceError> {
    let (mut b, at) = builder(source, at)?;
    if b.record::<AnchorRecord>(at, documents::doc_key(doc))?.is_none() {
        return Err(EvidenceError::NotAnchored { doc: *doc, at });
    }
    b.fact(at, documents::receipt_key(doc, agency))?;
    b.finish(Subject::ReceiptAbsent { doc: *doc, agency: agency.clone(), at }, None)
}

/// Checks that `file_hash` (the salted hash of a file) is the bundle's document.
pub fn check_document(report: &mut Report, bundle: &Bundle, file_hash: &DocHash) {
    if file_hash != bundle.subject.doc() {
        report.failures.push(Failure::Document {
            computed: file_hash.0.to_string(),
            expected: bundle.subject.doc().0.to_string(),
        });
    }
}

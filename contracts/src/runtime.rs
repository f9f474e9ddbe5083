//! The deterministic state machine every node runs on each block.
//!
//! A transaction is first checked as an envelope (decodes within bounds, right chain, not
//! expired, known signer, valid signature, next nonce): a block holding a transaction that
//! fails these checks is invalid as a whole. A well-formed transaction whose call fails (e.g.
//! a document anchored twice) is included with a failed result: its nonce is consumed and it
//! changes nothing else.
//!
//! State keys (all values SCALE):
//! - `member/<fingerprint>` → [`MemberRecord`]
//! - `nonce/<fingerprint>` → next nonce (u64)
//! - `doc/<doc hash>` → [`AnchorRecord`]
//! - `txres/<tx id>` → [`TxOutcome`]

use std::collections::BTreeMap;

use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode};

use custos_primitives::codec::decode_exact;
use custos_primitives::crypto::{AnySuite, Hash, PublicKey, Suite};
use custos_primitives::genesis::ValidatedGenesis;
use custos_primitives::types::{
    AgencyId, CaseRef, CertFingerprint, ChainId, DocHash, MAX_TX_BYTES, MemberRole, TX_ID_TAG, TxId,
};
use custos_primitives::x509::{self, Certificate};

use crate::call::{AnchorCall, Call, DocType, RegisterMemberCall, SignedTx};

/// Domain tag of the state commitment.
pub const STATE_TAG: &[u8] = b"custos/state-writes/v1";

/// Why a transaction envelope is refused. Each variant is distinct so clients can tell them apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// Not a decodable transaction (malformed or over-long).
    #[error("malformed transaction: {0}")]
    Malformed(String),
    /// For another network.
    #[error("transaction is for chain {found}, this is {expected}")]
    WrongChain {
        /// This chain.
        expected: ChainId,
        /// The transaction's chain.
        found: ChainId,
    },
    /// `valid_until` has passed.
    #[error("transaction expired at height {valid_until} (current height {height})")]
    Expired {
        /// Last valid height.
        valid_until: u64,
        /// Height it would be included at.
        height: u64,
    },
    /// The signer is not a registered member (and the call is not its own registration).
    #[error("unknown signer {0}: register the member certificate first")]
    UnknownSigner(CertFingerprint),
    /// The signature does not verify.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// Nonce already used (a replay) or out of order.
    #[error("nonce {found} rejected for signer {signer}: expected {expected} (replayed or out of order)")]
    BadNonce {
        /// Signer.
        signer: CertFingerprint,
        /// Next expected nonce.
        expected: u64,
        /// Nonce presented.
        found: u64,
    },
    /// The registration's certificate is unusable.
    #[error("member certificate rejected: {0}")]
    Certificate(String),
}

/// Why a well-formed call failed (included, nonce consumed, nothing else changed).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, thiserror::Error)]
pub enum CallError {
    /// The document hash is already anchored.
    #[error("document {0} is already anchored")]
    AlreadyAnchored(DocHash),
    /// A recipient or copy agency is not in the registry.
    #[error("unknown agency {0}")]
    UnknownAgency(AgencyId),
    /// The member's role may not make this call.
    #[error("role {role:?} may not call {call}")]
    RoleNotAllowed {
        /// The member's role.
        role: MemberRole,
        /// The call.
        call: String,
    },
    /// The certificate is already registered.
    #[error("member {0} is already registered")]
    AlreadyRegistered(CertFingerprint),
    /// A receipt for a document that is not anchored.
    #[error("document {0} is not anchored")]
    NotAnchored(DocHash),
    /// A receipt from an agency the document was not sent or copied to.
    #[error("agency {agency} is neither a recipient nor a copy of document {doc}")]
    NotAddressed {
        /// The document.
        doc: DocHash,
        /// The signer's agency.
        agency: AgencyId,
    },
    /// The agency already acknowledged the document.
    #[error("agency {agency} already acknowledged document {doc}")]
    AlreadyReceived {
        /// The document.
        doc: DocHash,
        /// The agency.
        agency: AgencyId,
    },
}

/// A delivery receipt.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct ReceiptRecord {
    /// The acknowledging agency.
    pub agency: AgencyId,
    /// The signing member.
    pub signer: CertFingerprint,
    /// Height.
    pub height: u64,
    /// Block time (ms).
    pub time_ms: u64,
    /// The receipt transaction.
    pub tx_id: TxId,
}

/// A registered member.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct MemberRecord {
    /// Agency.
    pub agency: AgencyId,
    /// Role.
    pub role: MemberRole,
    /// Signing key.
    pub public_key: PublicKey,
    /// The certificate (DER).
    pub certificate: Vec<u8>,
    /// Height of registration.
    pub registered_at: u64,
}

/// An anchored document.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct AnchorRecord {
    /// Document hash.
    pub doc_hash: DocHash,
    /// Type code.
    pub doc_type: DocType,
    /// Case.
    pub case_ref: CaseRef,
    /// Issuing agency.
    pub issuer: AgencyId,
    /// Signing member.
    pub signer: CertFingerprint,
    /// Recipients.
    pub recipients: Vec<AgencyId>,
    /// Copies.
    pub copies: Vec<AgencyId>,
    /// Height.
    pub height: u64,
    /// Block time (ms since the epoch).
    pub time_ms: u64,
    /// Anchoring transaction.
    pub tx_id: TxId,
}

/// The result of an included transaction.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct TxOutcome {
    /// Height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// `Ok` or the call's failure.
    pub result: Result<(), CallError>,
}

/// Read access to committed state.
pub trait StateRead {
    /// The value at `key`, if any.
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
}

impl StateRead for BTreeMap<Vec<u8>, Vec<u8>> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        BTreeMap::get(self, key).cloned()
    }
}

/// Pending writes over committed state.
#[derive(Debug)]
pub struct Overlay<'a, S: StateRead> {
    base: &'a S,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a, S: StateRead> Overlay<'a, S> {
    /// No writes yet.
    pub fn new(base: &'a S) -> Self {
        Overlay { base, writes: BTreeMap::new() }
    }
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }
    /// The writes, in key order.
    pub fn into_writes(self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        self.writes.into_iter().collect()
    }
}

impl<S: StateRead> StateRead for Overlay<'_, S> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.writes.get(key) {
            Some(v) => v.clone(),
            None => self.base.get(key),
        }
    }
}

/// State key of a member.
pub fn member_key(fp: &CertFingerprint) -> Vec<u8> {
    [b"member/".as_slice(), fp.0.as_bytes()].concat()
}
/// State key of a signer's next nonce.
pub fn nonce_key(fp: &CertFingerprint) -> Vec<u8> {
    [b"nonce/".as_slice(), fp.0.as_bytes()].concat()
}
/// State key of an anchored document.
pub fn doc_key(d: &DocHash) -> Vec<u8> {
    [b"doc/".as_slice(), d.0.as_bytes()].concat()
}
/// State key of an agency's receipt of a document.
pub fn receipt_key(d: &DocHash, agency: &AgencyId) -> Vec<u8> {
    [b"receipt/".as_slice(), d.0.as_bytes(), b"/", agency.as_str().as_bytes()].concat()
}
/// State key of a transaction's outcome.
pub fn txres_key(t: &TxId) -> Vec<u8> {
    [b"txres/".as_slice(), t.0.as_bytes()].concat()
}

fn read<T: Decode>(state: &impl StateRead, key: &[u8]) -> Option<T> {
    state.get(key).and_then(|b| decode_exact("state value", &b, MAX_TX_BYTES * 4).ok())
}

/// A transaction that passed the envelope checks.
#[derive(Clone, Debug)]
pub struct CheckedTx {
    /// The transaction.
    pub tx: SignedTx,
    /// Its id.
    pub id: TxId,
    /// Its encoded size.
    pub size: usize,
}

/// What executing a block produced.
#[derive(Clone, Debug)]
pub struct BlockOutcome {
    /// State writes, in key order (`None` deletes).
    pub writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Outcome of each transaction, in block order.
    pub outcomes: Vec<(TxId, TxOutcome)>,
    /// The new state commitment.
    pub state_root: Hash,
}

/// The runtime: chain parameters and the genesis registry.
#[derive(Clone, Debug)]
pub struct Runtime {
    suite: AnySuite,
    chain_id: ChainId,
    cas: BTreeMap<AgencyId, Certificate>,
}

/// Decodes a transaction from untrusted bytes.
pub fn decode_tx(bytes: &[u8]) -> Result<SignedTx, TxError> {
    SignedTx::decode_untrusted(bytes).map_err(|e| TxError::Malformed(e.to_string()))
}

/// The id of a transaction from its bytes.
pub fn tx_id(suite: &impl Suite, bytes: &[u8]) -> TxId {
    TxId(suite.hash_parts(&[TX_ID_TAG, bytes]))
}

impl Runtime {
    /// The runtime of a validated genesis.
    pub fn new(genesis: &ValidatedGenesis) -> Self {
        Runtime { suite: genesis.suite.clone(), chain_id: genesis.genesis.chain_id.clone(), cas: genesis.cas.clone() }
    }

    /// The suite.
    pub fn suite(&self) -> &AnySuite {
        &self.suite
    }

    /// The chain id.
    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    /// Envelope checks against committed state, for the mempool: decode, chain, expiry,
    /// signer, signature (skipped when `signature_known_good`), nonce ≥ the next expected.
    pub fn check_tx(
        &self,
        state: &impl StateRead,
        bytes: &[u8],
        height: u64,
        time_s: i64,
        signature_known_good: bool,
    ) -> Result<CheckedTx, TxError> {
        let tx = decode_tx(bytes)?;
        let id = tx_id(&self.suite, bytes);
        self.check_envelope(state, &tx, height, time_s, signature_known_good, false)?;
        Ok(CheckedTx { tx, id, size: bytes.len() })
    }

    fn check_envelope(
        &self,
        state: &impl StateRead,
        tx: &SignedTx,
        height: u64,
        time_s: i64,
        signature_known_good: bool,
        exact_nonce: bool,
    ) -> Result<(), TxError> {
        if tx.chain_id != self.chain_id {
            return Err(TxError::WrongChain { expected: self.chain_id.clone(), found: tx.chain_id.clone() });
        }
        if tx.valid_until < height {
            return Err(TxError::Expired { valid_until: tx.valid_until, height });
        }
        let key = match (&tx.call, read::<MemberRecord>(state, &member_key(&tx.signer))) {
            (_, Some(m)) => m.public_key,
            (Call::RegisterMember(r), None) => {
                let cert = self.verify_registration(r, time_s)?;
                if cert.fingerprint(&self.suite) != tx.signer {
                    return Err(TxError::Certificate(
                        "the transaction's signer is not the fingerprint of the registered certificate".into(),
                    ));
                }
                *cert.public_key()
            }
            (_, None) => return Err(TxError::UnknownSigner(tx.signer)),
        };
        if !signature_known_good {
            tx.verify_signature(&self.suite, &key).map_err(|e| TxError::BadSignature(e.to_string()))?;
        }
        let expected = read::<u64>(state, &nonce_key(&tx.signer)).unwrap_or(0);
        let nonce_ok = if exact_nonce { tx.nonce == expected } else { tx.nonce >= expected };
        if !nonce_ok {
            return Err(TxError::BadNonce { signer: tx.signer, expected, found: tx.nonce });
        }
        Ok(())
    }

    fn verify_registration(&self, r: &RegisterMemberCall, time_s: i64) -> Result<Certificate, TxError> {
        let cert = Certificate::from_der(&r.certificate).map_err(|e| TxError::Certificate(e.to_string()))?;
        let agency = cert.agency().map_err(|e| TxError::Certificate(e.to_string()))?;
        let ca = self
            .cas
            .get(agency)
            .ok_or_else(|| TxError::Certificate(format!("agency {agency} is not in the registry")))?;
        x509::verify_member(&self.suite, &cert, ca, time_s, None).map_err(|e| TxError::Certificate(e.to_string()))?;
        Ok(cert)
    }

    /// Executes a block's transactions on top of `state`. Fails if any transaction fails its
    /// envelope checks (then the block is invalid). `verified` tells which transaction ids
    /// already had their signature checked on this node.
    pub fn execute_block(
        &self,
        state: &impl StateRead,
        parent_root: &Hash,
        height: u64,
        time_ms: u64,
        txs: &[Vec<u8>],
        verified: &dyn Fn(&TxId) -> bool,
    ) -> Result<BlockOutcome, (usize, TxError)> {
        let (outcome, mut invalid) = self.execute(state, parent_root, height, time_ms, txs, verified);
        match invalid.drain(..).next() {
            Some(first) => Err(first),
            None => Ok(outcome),
        }
    }

    /// Executes candidate transactions for a new block in one pass, leaving out those that
    /// fail their envelope checks: the result is what [`Runtime::execute_block`] gives for the
    /// transactions kept. Returns the outcome and the positions (in `candidates`) left out,
    /// with why.
    pub fn execute_candidates(
        &self,
        state: &impl StateRead,
        parent_root: &Hash,
        height: u64,
        time_ms: u64,
        candidates: &[Vec<u8>],
        verified: &dyn Fn(&TxId) -> bool,
    ) -> (BlockOutcome, Vec<(usize, TxError)>) {
        self.execute(state, parent_root, height, time_ms, candidates, verified)
    }

    /// One pass over `txs`: transactions failing their envelope checks are left out (and
    /// listed with their position); the others are applied in order.
    fn execute(
        &self,
        state: &impl StateRead,
        parent_root: &Hash,
        height: u64,
        time_ms: u64,
        txs: &[Vec<u8>],
        verified: &dyn Fn(&TxId) -> bool,
    ) -> (BlockOutcome, Vec<(usize, TxError)>) {
        let time_s = i64::try_from(time_ms / 1000).unwrap_or(i64::MAX);
        let mut overlay = Overlay::new(state);
        let mut outcomes = Vec::with_capacity(txs.len());
        let mut skipped = Vec::new();
        for (i, bytes) in txs.iter().enumerate() {
            let checked = decode_tx(bytes).and_then(|tx| {
                let id = tx_id(&self.suite, bytes);
                self.check_envelope(&overlay, &tx, height, time_s, verified(&id), true).map(|()| (tx, id))
            });
            let (tx, id) = match checked {
                Ok(x) => x,
                Err(e) => {
                    skipped.push((i, e));
                    continue;
                }
            };
            overlay.put(nonce_key(&tx.signer), (tx.nonce + 1).encode());
            let result = self.apply(&mut overlay, &tx, &id, height, time_ms);
            let outcome = TxOutcome { height, index: outcomes.len() as u32, result };
            overlay.put(txres_key(&id), outcome.encode());
            outcomes.push((id, outcome));
        }
        let writes = overlay.into_writes();
        let state_root = self.suite.hash_parts(&[STATE_TAG, &parent_root.0, &writes.encode()]);
        (BlockOutcome { writes, outcomes, state_root }, skipped)
    }

    fn apply<S: StateRead>(
        &self,
        state: &mut Overlay<'_, S>,
        tx: &SignedTx,
        id: &TxId,
        height: u64,
        time_ms: u64,
    ) -> Result<(), CallError> {
        match &tx.call {
            Call::RegisterMember(r) => {
                if state.get(&member_key(&tx.signer)).is_some() {
                    return Err(CallError::AlreadyRegistered(tx.signer));
                }
                // The envelope check verified the certificate.
                let cert =
                    Certificate::from_der(&r.certificate).map_err(|_| CallError::AlreadyRegistered(tx.signer))?;
                let (Ok(agency), Ok(role)) = (cert.agency(), cert.role()) else {
                    return Err(CallError::AlreadyRegistered(tx.signer));
                };
                let record = MemberRecord {
                    agency: agency.clone(),
                    role,
                    public_key: *cert.public_key(),
                    certificate: r.certificate.to_vec(),
                    registered_at: height,
                };
                state.put(member_key(&tx.signer), record.encode());
                Ok(())
            }
            Call::Anchor(a) => self.anchor(state, tx, id, a, height, time_ms),
            Call::Receipt(r) => {
                let member: MemberRecord = read(state, &member_key(&tx.signer))
                    .ok_or(CallError::RoleNotAllowed { role: MemberRole::Ca, call: "receipt".into() })?;
                if !matches!(member.role, MemberRole::Clerk | MemberRole::Adapter) {
                    return Err(CallError::RoleNotAllowed { role: member.role, call: "receipt".into() });
                }
                let doc: AnchorRecord = read(state, &doc_key(&r.doc_hash)).ok_or(CallError::NotAnchored(r.doc_hash))?;
                if !doc.recipients.contains(&member.agency) && !doc.copies.contains(&member.agency) {
                    return Err(CallError::NotAddressed { doc: r.doc_hash, agency: member.agency });
                }
                let key = receipt_key(&r.doc_hash, &member.agency);
                if state.get(&key).is_some() {
                    return Err(CallError::AlreadyReceived { doc: r.doc_hash, agency: member.agency });
                }
                let record = ReceiptRecord { agency: member.agency, signer: tx.signer, height, time_ms, tx_id: *id };
                state.put(key, record.encode());
                Ok(())
            }
        }
    }

    fn anchor<S: StateRead>(
        &self,
        state: &mut Overlay<'_, S>,
        tx: &SignedTx,
        id: &TxId,
        a: &AnchorCall,
        height: u64,
        time_ms: u64,
    ) -> Result<(), CallError> {
        let member: MemberRecord = read(state, &member_key(&tx.signer))
            .ok_or(CallError::RoleNotAllowed { role: MemberRole::Ca, call: "anchor".into() })?;
        if !matches!(member.role, MemberRole::Clerk | MemberRole::Adapter) {
            return Err(CallError::RoleNotAllowed { role: member.role, call: "anchor".into() });
        }
        for agency in a.recipients.iter().chain(a.copies.iter()) {
            if !self.cas.contains_key(agency) {
                return Err(CallError::UnknownAgency(agency.clone()));
            }
        }
        if state.get(&doc_key(&a.doc_hash)).is_some() {
            return Err(CallError::AlreadyAnchored(a.doc_hash));
        }
        let record = AnchorRecord {
            doc_hash: a.doc_hash,
            doc_type: a.doc_type.clone(),
            case_ref: a.case_ref,
            issuer: member.agency,
            signer: tx.signer,
            recipients: a.recipients.to_vec(),
            copies: a.copies.to_vec(),
            height,
            time_ms,
            tx_id: *id,
        };
        state.put(doc_key(&a.doc_hash), record.encode());
        Ok(())
    }

    /// The committed record of a document, if anchored.
    pub fn anchor_record(state: &impl StateRead, doc: &DocHash) -> Option<AnchorRecord> {
        read(state, &doc_key(doc))
    }

    /// The committed receipt of `agency` for a document.
    pub fn receipt(state: &impl StateRead, doc: &DocHash, agency: &AgencyId) -> Option<ReceiptRecord> {
        read(state, &receipt_key(doc, agency))
    }

    /// The committed outcome of a transaction.
    pub fn tx_outcome(state: &impl StateRead, id: &TxId) -> Option<TxOutcome> {
        read(state, &txres_key(id))
    }

    /// The next nonce of a signer.
    pub fn next_nonce(state: &impl StateRead, signer: &CertFingerprint) -> u64 {
        read(state, &nonce_key(signer)).unwrap_or(0)
    }

    /// A registered member.
    pub fn member(state: &impl StateRead, signer: &CertFingerprint) -> Option<MemberRecord> {
        read(state, &member_key(signer))
    }
}

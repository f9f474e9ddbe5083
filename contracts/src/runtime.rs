//! The deterministic state machine every node runs on each block.
//!
//! A transaction is first checked as an envelope (decodes within bounds, right chain, not
//! expired, known signer whose certificate is neither revoked nor expired and whose agency is
//! active, valid signature, next nonce): a block holding a transaction that fails these checks
//! is invalid as a whole. A well-formed transaction whose call fails (e.g. a document anchored
//! twice, an illegal case transition) is included with a failed result: its nonce is consumed
//! and it changes nothing else.
//!
//! The modules hold the calls' logic and storage: [`crate::registry`], [`crate::documents`],
//! [`crate::workflow`], [`crate::governance`]. This module keeps the nonces and transaction
//! results:
//! - `nonce/<fingerprint>` → next nonce (u64)
//! - `txres/<tx id>` → [`TxOutcome`]
//! - `meta/genesis` → the genesis hash, written with the genesis registry by the first block

use std::collections::BTreeMap;

use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode};

use custos_primitives::codec::decode_exact;
use custos_primitives::crypto::{AnySuite, Suite};
use custos_primitives::genesis::{ValidatedGenesis, Validator};
use custos_primitives::types::{
    AgencyId, AgencyRole, CaseRef, CertFingerprint, ChainId, DocHash, MAX_TX_BYTES, MemberRole, NodeId, TX_ID_TAG, TxId,
};
use custos_primitives::x509::{self, Certificate};

use crate::call::{AnchorCall, Call, Date, DocType, ReceiptCall, RegisterMemberCall, SignedTx};
use crate::documents::{self, AnchorRecord, CaseEvent, DocumentError, GrantRecord, ReceiptRecord};
use crate::governance::{self, ChainParams, DeadlineParams, GovAction, GovernanceError, Proposal, ProposalStatus};
use crate::registry::{self, AgencyRecord, MemberRecord, NodeRecord, RegistryError, Revocation};
use crate::workflow::{self, CaseRecord, CaseState, Phase, WorkflowError};

pub use crate::documents::{case_event_key, case_key, doc_key, receipt_key};
pub use crate::registry::member_key;

/// Key marking that the genesis registry has been written.
pub const GENESIS_KEY: &[u8] = b"meta/genesis";

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
    /// The signer's certificate was revoked by its agency's admin.
    #[error("signer {signer} was revoked at height {height}")]
    Revoked {
        /// Signer.
        signer: CertFingerprint,
        /// Height of the revocation.
        height: u64,
    },
    /// The signer's certificate has expired.
    #[error("signer {signer}'s certificate expired at {} (block time {})", x509::format_unix(*not_after), x509::format_unix(*now))]
    CertificateExpired {
        /// Signer.
        signer: CertFingerprint,
        /// End of validity.
        not_after: i64,
        /// Block time.
        now: i64,
    },
    /// The signer's agency was removed from the registry.
    #[error("signer {signer}'s agency {agency} has been removed from the registry")]
    AgencyRemoved {
        /// Signer.
        signer: CertFingerprint,
        /// Agency.
        agency: AgencyId,
    },
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
    /// Registry.
    #[codec(index = 0)]
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Anchors and receipts.
    #[codec(index = 1)]
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// Case workflow.
    #[codec(index = 2)]
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    /// Governance.
    #[codec(index = 3)]
    #[error(transparent)]
    Governance(#[from] GovernanceError),
}

/// What a successful call did, for clients and indexers. Stable indices.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub enum Event {
    /// A member registered.
    #[codec(index = 0)]
    MemberRegistered {
        /// Member.
        member: CertFingerprint,
        /// Agency.
        agency: AgencyId,
        /// Role.
        role: MemberRole,
    },
    /// A member was revoked.
    #[codec(index = 1)]
    MemberRevoked {
        /// Member.
        member: CertFingerprint,
        /// Admin.
        by: CertFingerprint,
    },
    /// A document was anchored.
    #[codec(index = 2)]
    Anchored {
        /// Document.
        doc: DocHash,
        /// Type.
        doc_type: DocType,
        /// Case.
        case_ref: CaseRef,
        /// Issuer.
        issuer: AgencyId,
    },
    /// A case changed state.
    #[codec(index = 3)]
    CaseMoved {
        /// Case.
        case_ref: CaseRef,
        /// Before.
        from: Phase,
        /// After.
        to: CaseState,
    },
    /// A receipt was recorded.
    #[codec(index = 4)]
    Received {
        /// Document.
        doc: DocHash,
        /// Agency.
        agency: AgencyId,
    },
    /// A proposal was opened.
    #[codec(index = 5)]
    ProposalOpened {
        /// Id.
        id: u64,
        /// Proposer.
        proposer: AgencyId,
    },
    /// A vote was counted.
    #[codec(index = 6)]
    Voted {
        /// Proposal.
        id: u64,
        /// Agency.
        agency: AgencyId,
        /// Approve or reject.
        approve: bool,
    },
    /// A proposal was decided.
    #[codec(index = 7)]
    ProposalDecided {
        /// Proposal.
        id: u64,
        /// Status.
        status: ProposalStatus,
    },
    /// The validator set changes at the next height.
    #[codec(index = 8)]
    ValidatorSetChanged {
        /// Validators from the next height.
        validators: u32,
    },
    /// An agency's encryption key was set.
    #[codec(index = 9)]
    EncryptionKeySet {
        /// Agency.
        agency: AgencyId,
    },
    /// An agency was granted access to a document.
    #[codec(index = 10)]
    AccessGranted {
        /// Document.
        doc: DocHash,
        /// Agency.
        agency: AgencyId,
    },
    /// A grant was revoked.
    #[codec(index = 11)]
    AccessRevoked {
        /// Document.
        doc: DocHash,
        /// Agency.
        agency: AgencyId,
    },
    /// A certificate (transport or member) was revoked.
    #[codec(index = 12)]
    CertificateRevoked {
        /// Its fingerprint.
        certificate: CertFingerprint,
        /// The admin.
        by: CertFingerprint,
    },
}

/// The result of an included transaction.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct TxOutcome {
    /// Height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// `Ok` with what happened, or the call's failure.
    pub result: Result<Vec<Event>, CallError>,
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

/// Committed state seen through the genesis registry until the first block has written it.
struct WithGenesis<'a, S: StateRead> {
    state: &'a S,
    genesis: Option<&'a BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl<'a, S: StateRead> WithGenesis<'a, S> {
    fn new(state: &'a S, genesis: &'a BTreeMap<Vec<u8>, Vec<u8>>) -> Self {
        let written = state.get(GENESIS_KEY).is_some();
        WithGenesis { state, genesis: (!written).then_some(genesis) }
    }
}

impl<S: StateRead> StateRead for WithGenesis<'_, S> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.state.get(key).or_else(|| self.genesis.and_then(|g| g.get(key).cloned()))
    }
}

/// State key of a signer's next nonce.
pub fn nonce_key(fp: &CertFingerprint) -> Vec<u8> {
    [b"nonce/".as_slice(), fp.0.as_bytes()].concat()
}
/// State key of a transaction's outcome.
pub fn txres_key(t: &TxId) -> Vec<u8> {
    [b"txres/".as_slice(), t.0.as_bytes()].concat()
}

/// The value at `key` decoded as `T`; `None` when absent or when it does not decode.
pub(crate) fn read<T: Decode>(state: &impl StateRead, key: &[u8]) -> Option<T> {
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
    /// State writes, in key order (`None` deletes). The state root of the block's header is
    /// the Jellyfish Merkle root after these writes ([`crate::state::compute_root`]).
    pub writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Outcome of each transaction, in block order.
    pub outcomes: Vec<(TxId, TxOutcome)>,
    /// The validator set from the next height on, when this block changed it.
    pub next_validators: Option<Vec<Validator>>,
}

/// The runtime: chain parameters and the genesis registry.
#[derive(Clone, Debug)]
pub struct Runtime {
    suite: AnySuite,
    chain_id: ChainId,
    genesis: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// Decodes a transaction from untrusted bytes.
pub fn decode_tx(bytes: &[u8]) -> Result<SignedTx, TxError> {
    SignedTx::decode_untrusted(bytes).map_err(|e| TxError::Malformed(e.to_string()))
}

/// The id of a transaction from its bytes.
pub fn tx_id(suite: &impl Suite, bytes: &[u8]) -> TxId {
    TxId(suite.hash_parts(&[TX_ID_TAG, bytes]))
}

/// The state the genesis puts in place: agencies, nodes, the validator set, default
/// parameters.
pub fn genesis_state(genesis: &ValidatedGenesis) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut s = BTreeMap::new();
    let mut ids = Vec::new();
    for a in &genesis.genesis.agencies {
        let Some(ca) = genesis.cas.get(&a.id) else { continue };
        let mut area = [b'0'; 6];
        if a.area_code.len() == 6 {
            area.copy_from_slice(a.area_code.as_bytes());
        }
        let rec = AgencyRecord {
            id: a.id.clone(),
            role: a.role,
            level: a.level,
            area_code: area,
            ca_cert: ca.der().to_vec(),
            active: true,
            added_at: 0,
            encryption_key: genesis.encryption_keys.get(&a.id).copied(),
        };
        s.insert(registry::agency_key(&a.id), rec.encode());
        ids.push(a.id.clone());
    }
    ids.sort();
    s.insert(registry::AGENCIES_KEY.to_vec(), ids.encode());
    let mut validators = genesis.validators.clone();
    validators.sort_by_key(|v| v.node_id);
    for (v, gv) in validators.iter().zip(sorted_genesis_validators(genesis)) {
        let rec = NodeRecord {
            node_id: v.node_id,
            agency: v.agency.clone(),
            public_key: v.public_key,
            certificate: gv,
            p2p_key: v.p2p_key,
            power: v.power,
            added_at: 0,
        };
        s.insert(registry::node_key(&v.node_id), rec.encode());
    }
    s.insert(registry::VALIDATORS_KEY.to_vec(), validators.encode());
    s.insert(governance::CHAIN_PARAMS_KEY.to_vec(), ChainParams::default().encode());
    s.insert(governance::DEADLINES_KEY.to_vec(), DeadlineParams::default().encode());
    s.insert(governance::CASE_KEY_VERSION_KEY.to_vec(), 1u32.encode());
    s.insert(GENESIS_KEY.to_vec(), genesis.hash.encode());
    s
}

/// The node certificates (DER) of the genesis validators, in node-id order.
fn sorted_genesis_validators(genesis: &ValidatedGenesis) -> Vec<Vec<u8>> {
    let suite = &genesis.suite;
    let mut certs: Vec<(NodeId, Vec<u8>)> = genesis
        .genesis
        .validators
        .iter()
        .filter_map(|gv| {
            let cert = Certificate::from_pem(&gv.node_cert_pem).ok()?;
            let id = NodeId::of_key(suite, cert.public_key()).ok()?;
            Some((id, cert.der().to_vec()))
        })
        .collect();
    certs.sort_by_key(|c| c.0);
    certs.into_iter().map(|c| c.1).collect()
}

/// Who is making a call: the member record and its agency's kind.
struct Caller {
    fp: CertFingerprint,
    member: MemberRecord,
}

impl Runtime {
    /// The runtime of a validated genesis.
    pub fn new(genesis: &ValidatedGenesis) -> Self {
        Runtime {
            suite: genesis.suite.clone(),
            chain_id: genesis.genesis.chain_id.clone(),
            genesis: genesis_state(genesis),
        }
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
        let state = WithGenesis::new(state, &self.genesis);
        self.check_envelope(&state, &tx, height, time_s, signature_known_good, false)?;
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
            (_, Some(m)) => {
                if let Some(r) = &m.revoked {
                    return Err(TxError::Revoked { signer: tx.signer, height: r.height });
                }
                if time_s > m.not_after {
                    return Err(TxError::CertificateExpired { signer: tx.signer, not_after: m.not_after, now: time_s });
                }
                if !read::<AgencyRecord>(state, &registry::agency_key(&m.agency)).is_some_and(|a| a.active) {
                    return Err(TxError::AgencyRemoved { signer: tx.signer, agency: m.agency });
                }
                m.public_key
            }
            (Call::RegisterMember(r), None) => {
                let cert = self.verify_registration(state, r, time_s)?;
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

    fn verify_registration(
        &self,
        state: &impl StateRead,
        r: &RegisterMemberCall,
        time_s: i64,
    ) -> Result<Certificate, TxError> {
        let cert = Certificate::from_der(&r.certificate).map_err(|e| TxError::Certificate(e.to_string()))?;
        let agency = cert.agency().map_err(|e| TxError::Certificate(e.to_string()))?;
        let rec: AgencyRecord = read(state, &registry::agency_key(agency))
            .ok_or_else(|| TxError::Certificate(format!("agency {agency} is not in the registry")))?;
        if !rec.active {
            return Err(TxError::Certificate(format!("agency {agency} has been removed from the registry")));
        }
        let ca = Certificate::from_der(&rec.ca_cert).map_err(|e| TxError::Certificate(e.to_string()))?;
        x509::verify_member(&self.suite, &cert, &ca, time_s, None).map_err(|e| TxError::Certificate(e.to_string()))?;
        if let Some(r) = read::<Revocation>(state, &registry::revoked_cert_key(&cert.fingerprint(&self.suite))) {
            return Err(TxError::Certificate(format!("the certificate was revoked at height {}", r.height)));
        }
        Ok(cert)
    }

    /// Executes a block's transactions on top of `state`. Fails if any transaction fails its
    /// envelope checks (then the block is invalid). `verified` tells which transaction ids
    /// already had their signature checked on this node.
    pub fn execute_block(
        &self,
        state: &impl StateRead,
        height: u64,
        time_ms: u64,
        txs: &[Vec<u8>],
        verified: &dyn Fn(&TxId) -> bool,
    ) -> Result<BlockOutcome, (usize, TxError)> {
        let (outcome, mut invalid) = self.execute(state, height, time_ms, txs, verified);
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
        height: u64,
        time_ms: u64,
        candidates: &[Vec<u8>],
        verified: &dyn Fn(&TxId) -> bool,
    ) -> (BlockOutcome, Vec<(usize, TxError)>) {
        self.execute(state, height, time_ms, candidates, verified)
    }

    /// One pass over `txs`: transactions failing their envelope checks are left out (and
    /// listed with their position); the others are applied in order, each call on its own
    /// overlay so that a failed call leaves nothing behind but its nonce and result.
    fn execute(
        &self,
        state: &impl StateRead,
        height: u64,
        time_ms: u64,
        txs: &[Vec<u8>],
        verified: &dyn Fn(&TxId) -> bool,
    ) -> (BlockOutcome, Vec<(usize, TxError)>) {
        let time_s = i64::try_from(time_ms / 1000).unwrap_or(i64::MAX);
        let mut overlay = Overlay::new(state);
        if overlay.get(GENESIS_KEY).is_none() {
            for (k, v) in &self.genesis {
                overlay.put(k.clone(), v.clone());
            }
        }
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
            let ctx = Ctx { height, time_ms, time_s, tx: &tx, id: &id };
            let mut call_overlay = Overlay::new(&overlay);
            let result = self.apply(&mut call_overlay, &ctx);
            let call_writes = result.is_ok().then(|| call_overlay.into_writes());
            for (k, v) in call_writes.into_iter().flatten() {
                overlay.writes.insert(k, v);
            }
            overlay.put(nonce_key(&tx.signer), (tx.nonce + 1).encode());
            let outcome = TxOutcome { height, index: outcomes.len() as u32, result };
            overlay.put(txres_key(&id), outcome.encode());
            outcomes.push((id, outcome));
        }
        let before = WithGenesis::new(state, &self.genesis).get(registry::VALIDATORS_KEY);
        let after = overlay.get(registry::VALIDATORS_KEY);
        let next_validators = match after {
            Some(v) if Some(&v) != before.as_ref() => {
                decode_exact::<Vec<Validator>>("validator set", &v, MAX_TX_BYTES * 4).ok()
            }
            _ => None,
        };
        let writes = overlay.into_writes();
        (BlockOutcome { writes, outcomes, next_validators }, skipped)
    }

    fn caller<S: StateRead>(state: &Overlay<'_, S>, ctx: &Ctx<'_>) -> Result<Caller, CallError> {
        // The envelope check guarantees a registered member for every call but registration.
        let member = read::<MemberRecord>(state, &member_key(&ctx.tx.signer))
            .ok_or(RegistryError::UnknownMember(ctx.tx.signer))?;
        registry::may_call(member.role, ctx.tx.call.name())?;
        Ok(Caller { fp: ctx.tx.signer, member })
    }

    fn apply<S: StateRead>(&self, state: &mut Overlay<'_, S>, ctx: &Ctx<'_>) -> Result<Vec<Event>, CallError> {
        match &ctx.tx.call {
            Call::RegisterMember(r) => self.register(state, ctx, r),
            Call::Anchor(a) => {
                let caller = Self::caller(state, ctx)?;
                self.anchor(state, ctx, &caller, a)
            }
            Call::Receipt(r) => {
                let caller = Self::caller(state, ctx)?;
                receipt(state, ctx, &caller, r)
            }
            Call::RevokeMember(r) => {
                let caller = Self::caller(state, ctx)?;
                let mut m: MemberRecord =
                    read(state, &member_key(&r.member)).ok_or(RegistryError::UnknownMember(r.member))?;
                if m.agency != caller.member.agency {
                    return Err(RegistryError::OtherAgency { member: r.member, agency: m.agency }.into());
                }
                if m.revoked.is_some() {
                    return Err(RegistryError::AlreadyRevoked(r.member).into());
                }
                m.revoked = Some(Revocation { height: ctx.height, by: caller.fp });
                state.put(member_key(&r.member), m.encode());
                Ok(vec![Event::MemberRevoked { member: r.member, by: caller.fp }])
            }
            Call::RevokeCertificate(r) => {
                let caller = Self::caller(state, ctx)?;
                self.revoke_certificate(state, ctx, &caller, &r.certificate)
            }
            Call::SetEncryptionKey(k) => {
                let caller = Self::caller(state, ctx)?;
                if k.key.suite() != self.suite.id() {
                    return Err(RegistryError::WrongKeySuite {
                        expected: self.suite.id().to_string(),
                        found: k.key.suite().to_string(),
                    }
                    .into());
                }
                let agency = caller.member.agency;
                let mut rec: AgencyRecord = read(state, &registry::agency_key(&agency))
                    .ok_or_else(|| RegistryError::UnknownAgency(agency.clone()))?;
                rec.encryption_key = Some(k.key);
                state.put(registry::agency_key(&agency), rec.encode());
                Ok(vec![Event::EncryptionKeySet { agency }])
            }
            Call::GrantAccess(g) => {
                let caller = Self::caller(state, ctx)?;
                let doc = issued_by(state, &g.doc_hash, &caller.member.agency)?;
                if !read::<AgencyRecord>(state, &registry::agency_key(&g.agency)).is_some_and(|a| a.active) {
                    return Err(DocumentError::UnknownParty(g.agency.clone()).into());
                }
                if readable(state, &doc, &g.agency) {
                    return Err(DocumentError::AlreadyReadable { doc: g.doc_hash, agency: g.agency.clone() }.into());
                }
                let grant = GrantRecord { by: caller.fp, height: ctx.height, revoked_at: None };
                state.put(documents::grant_key(&g.doc_hash, &g.agency), grant.encode());
                Ok(vec![Event::AccessGranted { doc: g.doc_hash, agency: g.agency.clone() }])
            }
            Call::RevokeAccess(g) => {
                let caller = Self::caller(state, ctx)?;
                issued_by(state, &g.doc_hash, &caller.member.agency)?;
                let key = documents::grant_key(&g.doc_hash, &g.agency);
                let mut grant: GrantRecord = read(state, &key)
                    .filter(|r: &GrantRecord| r.revoked_at.is_none())
                    .ok_or_else(|| DocumentError::NoGrant { doc: g.doc_hash, agency: g.agency.clone() })?;
                grant.revoked_at = Some(ctx.height);
                state.put(key, grant.encode());
                Ok(vec![Event::AccessRevoked { doc: g.doc_hash, agency: g.agency.clone() }])
            }
            Call::Propose(p) => {
                let caller = Self::caller(state, ctx)?;
                let id: u64 = read(state, governance::NEXT_PROPOSAL_KEY).unwrap_or(0);
                let params = chain_params(state);
                let proposal = Proposal {
                    id,
                    action: p.action.clone(),
                    proposer: caller.member.agency.clone(),
                    opened_at: ctx.height,
                    expires_at: ctx.height.saturating_add(params.proposal_ttl),
                    approvals: vec![],
                    rejections: vec![],
                    status: ProposalStatus::Open,
                };
                state.put(governance::NEXT_PROPOSAL_KEY.to_vec(), (id + 1).encode());
                let mut events = vec![Event::ProposalOpened { id, proposer: caller.member.agency.clone() }];
                events.extend(self.vote(state, ctx, &caller, proposal, true)?);
                Ok(events)
            }
            Call::Vote(v) => {
                let caller = Self::caller(state, ctx)?;
                let proposal: Proposal = read(state, &governance::proposal_key(v.proposal))
                    .ok_or(GovernanceError::UnknownProposal(v.proposal))?;
                if proposal.status != ProposalStatus::Open {
                    return Err(GovernanceError::Decided { id: v.proposal, status: proposal.status }.into());
                }
                if ctx.height > proposal.expires_at {
                    return Err(GovernanceError::Expired { id: v.proposal, expires_at: proposal.expires_at }.into());
                }
                let agency = &caller.member.agency;
                if proposal.approvals.contains(agency) || proposal.rejections.contains(agency) {
                    return Err(GovernanceError::AlreadyVoted { id: v.proposal, agency: agency.clone() }.into());
                }
                self.vote(state, ctx, &caller, proposal, v.approve)
            }
        }
    }

    fn register<S: StateRead>(
        &self,
        state: &mut Overlay<'_, S>,
        ctx: &Ctx<'_>,
        r: &RegisterMemberCall,
    ) -> Result<Vec<Event>, CallError> {
        let signer = ctx.tx.signer;
        if state.get(&member_key(&signer)).is_some() {
            return Err(RegistryError::AlreadyRegistered(signer).into());
        }
        // The envelope check verified the certificate against its agency's CA.
        let cert = Certificate::from_der(&r.certificate).map_err(|e| RegistryError::Certificate(e.to_string()))?;
        let (agency, role) = match (cert.agency(), cert.role()) {
            (Ok(a), Ok(r)) => (a.clone(), r),
            (Err(e), _) | (_, Err(e)) => return Err(RegistryError::Certificate(e.to_string()).into()),
        };
        if matches!(role, MemberRole::Ca | MemberRole::Node) {
            return Err(RegistryError::RoleNotAllowed {
                role,
                call: "register_member".into(),
                needed: "clerk, adapter, auditor or admin".into(),
            }
            .into());
        }
        let record = MemberRecord {
            agency: agency.clone(),
            role,
            public_key: *cert.public_key(),
            certificate: r.certificate.to_vec(),
            registered_at: ctx.height,
            not_after: cert.not_after(),
            revoked: None,
        };
        state.put(member_key(&signer), record.encode());
        Ok(vec![Event::MemberRegistered { member: signer, agency, role }])
    }

    fn revoke_certificate<S: StateRead>(
        &self,
        state: &mut Overlay<'_, S>,
        ctx: &Ctx<'_>,
        caller: &Caller,
        der: &[u8],
    ) -> Result<Vec<Event>, CallError> {
        let bad = |e: &dyn std::fmt::Display| RegistryError::Certificate(e.to_string());
        let cert = Certificate::from_der(der).map_err(|e| bad(&e))?;
        let fp = cert.fingerprint(&self.suite);
        let agency = cert.agency().map_err(|e| bad(&e))?.clone();
        if agency != caller.member.agency {
            return Err(RegistryError::OtherAgency { member: fp, agency }.into());
        }
        // Issued by the agency's CA as the registry holds it (validity periods aside: an expired
        // certificate may still be revoked).
        let rec: AgencyRecord =
            read(state, &registry::agency_key(&agency)).ok_or_else(|| RegistryError::UnknownAgency(agency.clone()))?;
        let ca = Certificate::from_der(&rec.ca_cert).map_err(|e| bad(&e))?;
        cert.verify_signed_by(&self.suite, &ca).map_err(|e| bad(&e))?;
        if cert.is_ca() {
            return Err(bad(&"a CA certificate is replaced by governance, not revoked").into());
        }
        let key = registry::revoked_cert_key(&fp);
        if state.get(&key).is_some() {
            return Err(RegistryError::AlreadyRevoked(fp).into());
        }
        let revocation = Revocation { height: ctx.height, by: caller.fp };
        state.put(key, revocation.encode());
        // A registered member certificate is revoked as a member too.
        let mut events = Vec::new();
        if let Some(mut m) = read::<MemberRecord>(state, &member_key(&fp))
            && m.revoked.is_none()
        {
            m.revoked = Some(revocation);
            state.put(member_key(&fp), m.encode());
            events.push(Event::MemberRevoked { member: fp, by: caller.fp });
        }
        events.push(Event::CertificateRevoked { certificate: fp, by: caller.fp });
        Ok(events)
    }

    /// Whether a certificate (e.g. an API client's transport certificate) has been revoked,
    /// and when.
    pub fn certificate_revoked(state: &impl StateRead, fp: &CertFingerprint) -> Option<Revocation> {
        read(state, &registry::revoked_cert_key(fp))
    }

    fn anchor<S: StateRead>(
        &self,
        state: &mut Overlay<'_, S>,
        ctx: &Ctx<'_>,
        caller: &Caller,
        a: &AnchorCall,
    ) -> Result<Vec<Event>, CallError> {
        if state.get(&doc_key(&a.doc_hash)).is_some() {
            return Err(DocumentError::AlreadyAnchored(a.doc_hash).into());
        }
        let mut seen = Vec::new();
        let mut recipients = Vec::new();
        for (i, agency) in a.recipients.iter().chain(a.copies.iter()).enumerate() {
            let rec = read::<AgencyRecord>(state, &registry::agency_key(agency))
                .filter(|r: &AgencyRecord| r.active)
                .ok_or_else(|| DocumentError::UnknownParty(agency.clone()))?;
            if seen.contains(agency) {
                return Err(DocumentError::DuplicateParty(agency.clone()).into());
            }
            seen.push(agency.clone());
            if i < a.recipients.len() {
                recipients.push((agency.clone(), rec.role));
            }
        }
        let issuer = &caller.member.agency;
        let issuer_role = agency_role(state, issuer)?;
        let case: Option<CaseRecord> = read(state, &case_key(&a.case_ref));
        let doc = workflow::Document {
            doc_type: &a.doc_type,
            case_ref: a.case_ref,
            issuer: (issuer, issuer_role),
            recipients: &recipients,
            dates: &a.dates,
            subject_kind: a.subject_kind,
            height: ctx.height,
            today: Date::from_unix_seconds_cst(ctx.time_s),
        };
        let next = workflow::apply(case.as_ref(), &doc, &chain_params(state))?;
        let from = case.as_ref().map(|c| c.state);
        let to = next.as_ref().map(|c| c.state);
        if let Some(next) = &next {
            let event = CaseEvent {
                doc_hash: a.doc_hash,
                doc_type: a.doc_type.clone(),
                issuer: issuer.clone(),
                from,
                to: next.state,
                height: ctx.height,
            };
            state.put(case_event_key(&a.case_ref, next.events.saturating_sub(1)), event.encode());
            state.put(case_key(&a.case_ref), next.encode());
        }
        let record = AnchorRecord {
            doc_hash: a.doc_hash,
            doc_type: a.doc_type.clone(),
            case_ref: a.case_ref,
            issuer: issuer.clone(),
            signer: caller.fp,
            recipients: a.recipients.to_vec(),
            copies: a.copies.to_vec(),
            dates: a.dates,
            subject_kind: a.subject_kind,
            eseal_ref: a.eseal_ref,
            case_state: to,
            height: ctx.height,
            time_ms: ctx.time_ms,
            tx_id: *ctx.id,
        };
        state.put(doc_key(&a.doc_hash), record.encode());
        let mut events = vec![Event::Anchored {
            doc: a.doc_hash,
            doc_type: a.doc_type.clone(),
            case_ref: a.case_ref,
            issuer: issuer.clone(),
        }];
        if let Some(to) = to
            && from != Some(to)
        {
            events.push(Event::CaseMoved { case_ref: a.case_ref, from, to });
        }
        Ok(events)
    }

    /// Counts a vote (the proposer's included) and carries the action out once approved.
    fn vote<S: StateRead>(
        &self,
        state: &mut Overlay<'_, S>,
        ctx: &Ctx<'_>,
        caller: &Caller,
        mut proposal: Proposal,
        approve: bool,
    ) -> Result<Vec<Event>, CallError> {
        let active = active_agencies(state);
        let params = chain_params(state);
        let agency = caller.member.agency.clone();
        governance::tally(&mut proposal, &agency, approve, &active, params.threshold, ctx.height);
        let mut events = vec![Event::Voted { id: proposal.id, agency, approve }];
        if proposal.status != ProposalStatus::Open {
            if let ProposalStatus::Approved(_) = proposal.status {
                events.extend(self.carry_out(state, ctx, &proposal.action)?);
            }
            events.push(Event::ProposalDecided { id: proposal.id, status: proposal.status });
        }
        state.put(governance::proposal_key(proposal.id), proposal.encode());
        Ok(events)
    }

    fn carry_out<S: StateRead>(
        &self,
        state: &mut Overlay<'_, S>,
        ctx: &Ctx<'_>,
        action: &GovAction,
    ) -> Result<Vec<Event>, CallError> {
        let invalid = |reason: String| GovernanceError::Invalid { action: action.name().into(), reason };
        let mut validators_changed = false;
        match action {
            GovAction::AddAgency { id, role, level, area_code, ca_cert } => {
                if state.get(&registry::agency_key(id)).is_some() {
                    return Err(invalid(format!("agency {id} already exists")).into());
                }
                if !area_code.iter().all(u8::is_ascii_digit) {
                    return Err(invalid("the area code must be six digits (GB/T 2260)".into()).into());
                }
                let ca = Certificate::from_der(ca_cert).map_err(|e| invalid(e.to_string()))?;
                let named = ca.verify_as_ca(&self.suite, ctx.time_s).map_err(|e| invalid(e.to_string()))?;
                if named != id {
                    return Err(invalid(format!("the CA certificate names agency {named}, not {id}")).into());
                }
                let rec = AgencyRecord {
                    id: id.clone(),
                    role: *role,
                    level: *level,
                    area_code: *area_code,
                    ca_cert: ca_cert.to_vec(),
                    active: true,
                    added_at: ctx.height,
                    encryption_key: None,
                };
                state.put(registry::agency_key(id), rec.encode());
                let mut ids: Vec<AgencyId> = read(state, registry::AGENCIES_KEY).unwrap_or_default();
                if let Err(pos) = ids.binary_search(id) {
                    ids.insert(pos, id.clone());
                }
                state.put(registry::AGENCIES_KEY.to_vec(), ids.encode());
            }
            GovAction::RemoveAgency { id } => {
                let mut rec: AgencyRecord = read(state, &registry::agency_key(id))
                    .filter(|r: &AgencyRecord| r.active)
                    .ok_or_else(|| invalid(format!("{id} is not an active agency")))?;
                if validators(state).iter().any(|v| &v.agency == id) {
                    return Err(invalid(format!("{id} still runs a validator: remove its nodes first")).into());
                }
                rec.active = false;
                state.put(registry::agency_key(id), rec.encode());
            }
            GovAction::AddNode { certificate, p2p_key, power } => {
                let rec = self.node_record(state, ctx, certificate, *p2p_key, *power).map_err(invalid)?;
                if state.get(&registry::node_key(&rec.node_id)).is_some() {
                    return Err(invalid(format!("node {} already exists", rec.node_id)).into());
                }
                state.put(registry::node_key(&rec.node_id), rec.encode());
                validators_changed = *power > 0;
            }
            GovAction::RemoveNode { node } => {
                let rec: NodeRecord =
                    read(state, &registry::node_key(node)).ok_or_else(|| invalid(format!("no node {node}")))?;
                state.writes.insert(registry::node_key(node), None);
                validators_changed = rec.power > 0;
            }
            GovAction::SetValidatorPower { node, power } => {
                let mut rec: NodeRecord =
                    read(state, &registry::node_key(node)).ok_or_else(|| invalid(format!("no node {node}")))?;
                if *power > 0
                    && !read::<AgencyRecord>(state, &registry::agency_key(&rec.agency)).is_some_and(|a| a.active)
                {
                    return Err(invalid(format!("node {node} belongs to removed agency {}", rec.agency)).into());
                }
                validators_changed = rec.power != *power;
                rec.power = *power;
                state.put(registry::node_key(node), rec.encode());
            }
            GovAction::RotateNodeKey { node, certificate, p2p_key } => {
                let old: NodeRecord =
                    read(state, &registry::node_key(node)).ok_or_else(|| invalid(format!("no node {node}")))?;
                let new = self.node_record(state, ctx, certificate, *p2p_key, old.power).map_err(invalid)?;
                if new.agency != old.agency {
                    return Err(
                        invalid(format!("the new certificate belongs to {}, not {}", new.agency, old.agency)).into()
                    );
                }
                if new.node_id == old.node_id {
                    return Err(invalid("the new certificate has the same key".into()).into());
                }
                state.writes.insert(registry::node_key(node), None);
                state.put(registry::node_key(&new.node_id), new.encode());
                validators_changed = old.power > 0;
            }
            GovAction::SetDeadlines(d) => state.put(governance::DEADLINES_KEY.to_vec(), d.encode()),
            GovAction::SetHolidays(y) => {
                let in_year = |d: &Date| d.to_string().starts_with(&format!("{:04}-", y.year));
                if !y.holidays.iter().chain(y.workdays.iter()).all(in_year) {
                    return Err(invalid(format!("every date must lie in {}", y.year)).into());
                }
                state.put(governance::holidays_key(y.year), y.encode());
            }
            GovAction::SetCaseKeyVersion(v) => {
                let current: u32 = read(state, governance::CASE_KEY_VERSION_KEY).unwrap_or(1);
                if *v <= current {
                    return Err(invalid(format!("the version must grow (now {current})")).into());
                }
                state.put(governance::CASE_KEY_VERSION_KEY.to_vec(), v.encode());
            }
            GovAction::SetChainParams(p) => {
                if p.proposal_ttl == 0 || p.max_period_days == 0 {
                    return Err(invalid("proposal_ttl and max_period_days must be positive".into()).into());
                }
                state.put(governance::CHAIN_PARAMS_KEY.to_vec(), p.encode());
            }
        }
        if !validators_changed {
            return Ok(vec![]);
        }
        // Rebuild the validator set from the node records it names and the changed node.
        let mut set: Vec<Validator> = Vec::new();
        let mut ids: Vec<NodeId> = validators(state).iter().map(|v| v.node_id).collect();
        match action {
            GovAction::AddNode { certificate, .. } | GovAction::RotateNodeKey { certificate, .. } => {
                if let Ok(c) = Certificate::from_der(certificate)
                    && let Ok(id) = NodeId::of_key(&self.suite, c.public_key())
                {
                    ids.push(id);
                }
            }
            GovAction::SetValidatorPower { node, .. } => ids.push(*node),
            _ => {}
        }
        ids.sort();
        ids.dedup();
        for id in ids {
            if let Some(rec) = read::<NodeRecord>(state, &registry::node_key(&id))
                && rec.power > 0
            {
                set.push(rec.validator());
            }
        }
        if set.is_empty() {
            return Err(invalid("the validator set would be empty".into()).into());
        }
        state.put(registry::VALIDATORS_KEY.to_vec(), set.encode());
        Ok(vec![Event::ValidatorSetChanged { validators: set.len() as u32 }])
    }

    fn node_record(
        &self,
        state: &impl StateRead,
        ctx: &Ctx<'_>,
        der: &[u8],
        p2p_key: [u8; 32],
        power: u64,
    ) -> Result<NodeRecord, String> {
        let cert = Certificate::from_der(der).map_err(|e| e.to_string())?;
        let agency = cert.agency().map_err(|e| e.to_string())?.clone();
        let rec: AgencyRecord = read(state, &registry::agency_key(&agency))
            .filter(|r: &AgencyRecord| r.active)
            .ok_or_else(|| format!("{agency} is not an active agency"))?;
        let ca = Certificate::from_der(&rec.ca_cert).map_err(|e| e.to_string())?;
        x509::verify_member(&self.suite, &cert, &ca, ctx.time_s, Some(MemberRole::Node)).map_err(|e| e.to_string())?;
        let node_id = NodeId::of_key(&self.suite, cert.public_key()).map_err(|e| e.to_string())?;
        Ok(NodeRecord {
            node_id,
            agency,
            public_key: *cert.public_key(),
            certificate: der.to_vec(),
            p2p_key,
            power,
            added_at: ctx.height,
        })
    }
}

/// What every call sees of its transaction and block.
struct Ctx<'a> {
    height: u64,
    time_ms: u64,
    time_s: i64,
    tx: &'a SignedTx,
    id: &'a TxId,
}

fn receipt<S: StateRead>(
    state: &mut Overlay<'_, S>,
    ctx: &Ctx<'_>,
    caller: &Caller,
    r: &ReceiptCall,
) -> Result<Vec<Event>, CallError> {
    let agency = caller.member.agency.clone();
    let doc: AnchorRecord = read(state, &doc_key(&r.doc_hash)).ok_or(DocumentError::NotAnchored(r.doc_hash))?;
    if !readable(state, &doc, &agency) {
        return Err(DocumentError::NotAddressed { doc: r.doc_hash, agency }.into());
    }
    let key = receipt_key(&r.doc_hash, &agency);
    if state.get(&key).is_some() {
        return Err(DocumentError::AlreadyReceived { doc: r.doc_hash, agency }.into());
    }
    let record = ReceiptRecord {
        agency: agency.clone(),
        signer: ctx.tx.signer,
        height: ctx.height,
        time_ms: ctx.time_ms,
        tx_id: *ctx.id,
    };
    state.put(key, record.encode());
    Ok(vec![Event::Received { doc: r.doc_hash, agency }])
}

/// The anchored document, if `agency` issued it.
fn issued_by(state: &impl StateRead, doc: &DocHash, agency: &AgencyId) -> Result<AnchorRecord, CallError> {
    let rec: AnchorRecord = read(state, &doc_key(doc)).ok_or(DocumentError::NotAnchored(*doc))?;
    if &rec.issuer != agency {
        return Err(DocumentError::NotIssuer { doc: *doc, issuer: rec.issuer }.into());
    }
    Ok(rec)
}

/// `agency` is a recipient or a copy of the anchored document, or holds an active grant.
fn readable(state: &impl StateRead, doc: &AnchorRecord, agency: &AgencyId) -> bool {
    doc.recipients.contains(agency) || doc.copies.contains(agency) || active_grant(state, &doc.doc_hash, agency)
}

fn active_grant(state: &impl StateRead, doc: &DocHash, agency: &AgencyId) -> bool {
    read::<GrantRecord>(state, &documents::grant_key(doc, agency)).is_some_and(|g| g.revoked_at.is_none())
}

fn agency_role(state: &impl StateRead, id: &AgencyId) -> Result<AgencyRole, CallError> {
    read::<AgencyRecord>(state, &registry::agency_key(id))
        .map(|a| a.role)
        .ok_or_else(|| RegistryError::UnknownAgency(id.clone()).into())
}

fn chain_params(state: &impl StateRead) -> ChainParams {
    read(state, governance::CHAIN_PARAMS_KEY).unwrap_or_default()
}

fn validators(state: &impl StateRead) -> Vec<Validator> {
    read(state, registry::VALIDATORS_KEY).unwrap_or_default()
}

fn active_agencies(state: &impl StateRead) -> Vec<AgencyId> {
    let ids: Vec<AgencyId> = read(state, registry::AGENCIES_KEY).unwrap_or_default();
    ids.into_iter()
        .filter(|id| read::<AgencyRecord>(state, &registry::agency_key(id)).is_some_and(|a| a.active))
        .collect()
}

/// Queries on committed state (for the API, the CLI and tests). Each sees the genesis registry
/// before the first block has written it.
impl Runtime {
    fn view<'a, S: StateRead>(&'a self, state: &'a S) -> WithGenesis<'a, S> {
        WithGenesis::new(state, &self.genesis)
    }

    /// The committed record of a document, if anchored.
    pub fn anchor_record(state: &impl StateRead, doc: &DocHash) -> Option<AnchorRecord> {
        read(state, &doc_key(doc))
    }

    /// The committed receipt of `agency` for a document.
    pub fn receipt(state: &impl StateRead, doc: &DocHash, agency: &AgencyId) -> Option<ReceiptRecord> {
        read(state, &receipt_key(doc, agency))
    }

    /// A document's history: its anchor and the receipts of the agencies it was addressed to.
    pub fn document_history(state: &impl StateRead, doc: &DocHash) -> Option<(AnchorRecord, Vec<ReceiptRecord>)> {
        let anchor = Self::anchor_record(state, doc)?;
        let receipts =
            anchor.recipients.iter().chain(anchor.copies.iter()).filter_map(|a| Self::receipt(state, doc, a)).collect();
        Some((anchor, receipts))
    }

    /// Whether `agency` may read (fetch) a document: it is a recipient or a copy, or holds an
    /// active grant. `false` for a document not anchored.
    pub fn may_read(state: &impl StateRead, doc: &DocHash, agency: &AgencyId) -> bool {
        match Self::anchor_record(state, doc) {
            Some(a) => readable(state, &a, agency),
            None => false,
        }
    }

    /// A case as it stands.
    pub fn case(state: &impl StateRead, case: &CaseRef) -> Option<CaseRecord> {
        read(state, &case_key(case))
    }

    /// A case's documents, in order.
    pub fn case_history(state: &impl StateRead, case: &CaseRef) -> Vec<CaseEvent> {
        let n = Self::case(state, case).map(|c| c.events).unwrap_or(0);
        (0..n).filter_map(|i| read(state, &case_event_key(case, i))).collect()
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

    /// An agency of the registry.
    pub fn agency(&self, state: &impl StateRead, id: &AgencyId) -> Option<AgencyRecord> {
        read(&self.view(state), &registry::agency_key(id))
    }

    /// Every agency of the registry, active or removed.
    pub fn agencies(&self, state: &impl StateRead) -> Vec<AgencyRecord> {
        let view = self.view(state);
        let ids: Vec<AgencyId> = read(&view, registry::AGENCIES_KEY).unwrap_or_default();
        ids.iter().filter_map(|id| read(&view, &registry::agency_key(id))).collect()
    }

    /// The validator set in force after the committed state.
    pub fn validators(&self, state: &impl StateRead) -> Vec<Validator> {
        validators(&self.view(state))
    }

    /// A governance proposal.
    pub fn proposal(state: &impl StateRead, id: u64) -> Option<Proposal> {
        read(state, &governance::proposal_key(id))
    }

    /// The chain parameters.
    pub fn chain_params(&self, state: &impl StateRead) -> ChainParams {
        chain_params(&self.view(state))
    }

    /// The deadline table.
    pub fn deadlines(&self, state: &impl StateRead) -> DeadlineParams {
        read(&self.view(state), governance::DEADLINES_KEY).unwrap_or_default()
    }
}

//! The test world: a generated five-agency consortium, its runtime and a `BTreeMap` state
//! that blocks are executed on; members that sign transactions; document builders; and the
//! state invariants checked after every block of every test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use parity_scale_codec::{Decode, Encode};

use custos_contracts::call::{
    AnchorCall, BusinessDates, Call, Date, DocType, ProposeCall, RegisterMemberCall, SubjectKind, VoteCall,
};
use custos_contracts::documents::{AnchorRecord, CaseEvent, ReceiptRecord};
use custos_contracts::governance::{self, GovAction, Proposal};
use custos_contracts::registry::{self, AgencyRecord, MemberRecord, NodeRecord};
use custos_contracts::runtime::{
    self, BlockOutcome, CallError, Event, GENESIS_KEY, Runtime, TxError, TxOutcome, nonce_key, txres_key,
};
use custos_contracts::state::{self, MemTreeStore};
use custos_contracts::workflow::CaseRecord;
use custos_primitives::crypto::{AnySuite, Hash, SigningKey, SuiteId};
use custos_primitives::genesis::Validator;
use custos_primitives::types::{
    AgencyId, CaseRef, CertFingerprint, ChainId, DocHash, MemberRole, Salt, UnsignedTransaction,
};
use custos_primitives::x509::{self, CertParams, Certificate};
use custos_testnet::consortium::{self, InitOptions};
use custos_testnet::home::{self, Profile};

/// The consortium is generated an hour before [`NOW`]; its member certificates are valid
/// `InitOptions::member_days` from then.
pub const INIT: i64 = NOW - 3600;
/// 2026-06-01 10:00 China Standard Time: the block time of every test unless one sets another.
pub const NOW: i64 = 1_780_279_200;
/// [`NOW`] in milliseconds.
pub const NOW_MS: u64 = NOW as u64 * 1000;

/// The committed state.
pub type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// Each transaction's result in a block: its events, or why its call failed.
pub type Results = Vec<Result<Vec<Event>, CallError>>;

/// The five agencies of the generated consortium, in registry template order.
pub const AGENCIES: [&str; 5] = ["court", "procuratorate", "police", "prison", "justice"];

/// An agency id.
pub fn agency(id: &str) -> AgencyId {
    AgencyId::new(id).unwrap()
}

/// A date `YYYY-MM-DD`.
pub fn date(s: &str) -> Date {
    Date::parse(s).unwrap()
}

/// The date of [`NOW`] (China Standard Time).
pub fn today() -> Date {
    Date::from_unix_seconds_cst(NOW)
}

/// Someone who signs transactions: a certificate, its key and the next nonce to use.
pub struct Member {
    /// The agency of the certificate.
    pub agency: AgencyId,
    /// The role of the certificate.
    pub role: MemberRole,
    /// The signing key.
    pub key: SigningKey,
    /// The certificate (DER).
    pub cert: Vec<u8>,
    /// Its fingerprint, the transactions' signer.
    pub signer: CertFingerprint,
    /// The next nonce this member signs with.
    pub nonce: u64,
}

impl Member {
    fn new(suite: &AnySuite, key: SigningKey, cert: Vec<u8>) -> Member {
        let parsed = Certificate::from_der(&cert).unwrap();
        Member {
            agency: parsed.agency().unwrap().clone(),
            role: parsed.role().unwrap(),
            signer: CertFingerprint::of_der(suite, &cert),
            key,
            cert,
            nonce: 0,
        }
    }

    /// The call registering this member's own certificate.
    pub fn registration(&self) -> Call {
        Call::RegisterMember(RegisterMemberCall { certificate: self.cert.clone().try_into().unwrap() })
    }

    /// The certificate's end of validity (Unix seconds).
    pub fn not_after(&self) -> i64 {
        Certificate::from_der(&self.cert).unwrap().not_after()
    }
}

/// The clerks (or the admins) of the five agencies.
pub struct Five {
    /// 人民法院.
    pub court: Member,
    /// 人民检察院.
    pub procuratorate: Member,
    /// 公安机关.
    pub police: Member,
    /// 监狱.
    pub prison: Member,
    /// 司法局 / CCA.
    pub justice: Member,
}

impl Five {
    /// All five, in registry template order.
    pub fn all(&mut self) -> [&mut Member; 5] {
        [&mut self.court, &mut self.procuratorate, &mut self.police, &mut self.prison, &mut self.justice]
    }

    /// The member of the agency `id`.
    pub fn of(&mut self, id: &str) -> &mut Member {
        match id {
            "court" => &mut self.court,
            "procuratorate" => &mut self.procuratorate,
            "police" => &mut self.police,
            "prison" => &mut self.prison,
            "justice" => &mut self.justice,
            other => panic!("no agency {other} in the consortium"),
        }
    }
}

/// A document to anchor, built step by step.
#[derive(Clone, Debug)]
pub struct Doc(pub AnchorCall);

impl Doc {
    /// A document of `doc_type` about `case`, addressed to nobody yet, without dates.
    pub fn new(doc_type: &str, case: CaseRef, hash: DocHash) -> Doc {
        Doc(AnchorCall {
            doc_hash: hash,
            doc_type: DocType::new(doc_type).unwrap(),
            case_ref: case,
            recipients: Default::default(),
            copies: Default::default(),
            dates: BusinessDates::default(),
            subject_kind: None,
            eseal_ref: None,
        })
    }
    /// Addressed (送达) to these agencies.
    pub fn to(mut self, recipients: &[&str]) -> Doc {
        self.0.recipients = recipients.iter().map(|a| agency(a)).collect::<Vec<_>>().try_into().unwrap();
        self
    }
    /// Copied (抄送) to these agencies.
    pub fn copy(mut self, copies: &[&str]) -> Doc {
        self.0.copies = copies.iter().map(|a| agency(a)).collect::<Vec<_>>().try_into().unwrap();
        self
    }
    /// Stating the subject kind.
    pub fn kind(mut self, kind: SubjectKind) -> Doc {
        self.0.subject_kind = Some(kind);
        self
    }
    /// Taking effect on `d`.
    pub fn effective(mut self, d: Date) -> Doc {
        self.0.dates.effective = Some(d);
        self
    }
    /// Something received on `d`.
    pub fn received(mut self, d: Date) -> Doc {
        self.0.dates.received = Some(d);
        self
    }
    /// A period from `start` to `end`.
    pub fn period(mut self, start: Date, end: Date) -> Doc {
        self.0.dates.period_start = Some(start);
        self.0.dates.period_end = Some(end);
        self
    }
    /// With an e-seal reference.
    pub fn eseal(mut self, h: Hash) -> Doc {
        self.0.eseal_ref = Some(h);
        self
    }
    /// The document hash.
    pub fn hash(&self) -> DocHash {
        self.0.doc_hash
    }
    /// The anchoring call.
    pub fn call(&self) -> Call {
        Call::Anchor(self.0.clone())
    }
}

/// The runtime of a generated consortium and the state its blocks were executed on.
pub struct World {
    _dir: tempfile::TempDir,
    /// The consortium folder (agency homes below it).
    pub dir: PathBuf,
    /// The options the consortium was generated with.
    pub opts: InitOptions,
    /// The runtime.
    pub runtime: Runtime,
    /// The suite.
    pub suite: AnySuite,
    /// The network.
    pub chain: ChainId,
    /// Committed state.
    pub state: State,
    /// The state root of the last block.
    pub root: Hash,
    /// Height of the last block.
    pub height: u64,
    /// Block time of the next block (ms since the epoch).
    pub time_ms: u64,
    /// Number of transactions of each executed block, by height (for the invariants).
    pub block_txs: BTreeMap<u64, u32>,
    /// The outcome of the last executed block.
    pub last: Option<BlockOutcome>,
    /// The Jellyfish Merkle tree of the state, as a node keeps it.
    pub tree: MemTreeStore,
    /// Every executed block, for tests that rebuild the chain's headers (evidence).
    pub blocks: Vec<Recorded>,
    next_doc: u32,
}

/// One executed block.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Height.
    pub height: u64,
    /// Its transactions.
    pub txs: Vec<Vec<u8>>,
    /// Its block time.
    pub time_ms: u64,
    /// The state root after it.
    pub root: Hash,
    /// Whether it changed the validator set (in force from the next height).
    pub changed_validators: bool,
}

impl World {
    /// A fresh consortium of `suite`; block 1 (empty) writes the genesis registry.
    pub fn new(suite: SuiteId) -> World {
        let dir = tempfile::tempdir().unwrap();
        let opts = InitOptions::new(suite, INIT).unwrap();
        consortium::init(dir.path(), &opts).unwrap();
        let g = consortium::load_genesis(dir.path()).unwrap();
        let mut w = World {
            dir: dir.path().to_path_buf(),
            _dir: dir,
            opts,
            runtime: Runtime::new(&g),
            suite: g.suite.clone(),
            chain: g.genesis.chain_id.clone(),
            state: State::new(),
            root: state::EMPTY_ROOT,
            tree: MemTreeStore::new(),
            height: 0,
            time_ms: NOW_MS,
            block_txs: BTreeMap::new(),
            last: None,
            blocks: Vec::new(),
            next_doc: 0,
        };
        w.block(vec![]);
        assert!(w.state.contains_key(GENESIS_KEY), "the first block writes the genesis registry");
        w
    }

    fn home(&self, agency: &str) -> PathBuf {
        self.dir.join(agency)
    }

    /// The identity of `role` generated for `agency` (not registered).
    pub fn member(&self, agency: &str, role: MemberRole) -> Member {
        let home = self.home(agency);
        let id = Profile::load(&home).unwrap().identity(&home, role).unwrap();
        Member::new(&self.suite, id.key, id.cert.der().to_vec())
    }

    /// The TLS transport certificate (DER) of `role` generated for `agency`.
    pub fn transport_der(&self, agency: &str, role: MemberRole) -> Vec<u8> {
        let home = self.home(agency);
        Profile::load(&home).unwrap().transport(&home, role).unwrap().cert.der().to_vec()
    }

    /// A new certificate of `role` issued by `agency`'s CA, valid from [`INIT`] to `not_after`.
    pub fn issue(&self, agency: &str, role: MemberRole, common_name: &str, not_after: i64) -> Member {
        let home = self.home(agency);
        let ca = Profile::load(&home).unwrap().identity(&home, MemberRole::Ca).unwrap();
        issue_from(&self.suite, &ca.cert, &ca.key, role, common_name, not_after)
    }

    /// The five clerks, or the five admins, registered together in one block.
    pub fn five(&mut self, role: MemberRole) -> Five {
        let [court, procuratorate, police, prison, justice] = AGENCIES.map(|a| self.member(a, role));
        let mut five = Five { court, procuratorate, police, prison, justice };
        let txs: Vec<_> = five
            .all()
            .into_iter()
            .map(|m| {
                let call = m.registration();
                self.tx(m, call)
            })
            .collect();
        for r in self.block(txs) {
            assert!(matches!(r.as_deref(), Ok([Event::MemberRegistered { .. }])), "{r:?}");
        }
        five
    }

    /// Registers `m` in a block of its own.
    pub fn register(&mut self, m: &mut Member) {
        let call = m.registration();
        let events = self.call(m, call);
        assert_eq!(events, vec![Event::MemberRegistered { member: m.signer, agency: m.agency.clone(), role: m.role }]);
    }

    /// A fresh document hash.
    pub fn doc_hash(&mut self) -> DocHash {
        self.next_doc += 1;
        let n = self.next_doc;
        DocHash::compute(&self.suite, &Salt([(n % 251) as u8; 32]), format!("document {n}").as_bytes())
    }

    /// A document of `doc_type` about `case`, with a fresh hash.
    pub fn doc(&mut self, doc_type: &str, case: CaseRef) -> Doc {
        let h = self.doc_hash();
        Doc::new(doc_type, case, h)
    }

    /// The pseudonymous reference of a court case number.
    pub fn case(&self, number: &str) -> CaseRef {
        CaseRef::derive(&self.suite, b"test case key", number)
    }

    /// A transaction of `m` with its next nonce, valid for 1000 blocks.
    pub fn tx(&self, m: &mut Member, call: Call) -> Vec<u8> {
        let bytes = sign(&self.chain, m.signer, m.nonce, self.height + 1000, call, &m.key);
        m.nonce += 1;
        bytes
    }

    /// The state root a block outcome at `height` gives on the current state.
    pub fn root_of(&self, out: &BlockOutcome, height: u64) -> Hash {
        state::compute_root(self.runtime.suite(), &self.tree, &out.writes, height).unwrap().0
    }

    /// Executes a block; on an envelope refusal returns it and leaves everything as it was.
    pub fn try_block(&mut self, txs: Vec<Vec<u8>>) -> Result<Results, (usize, TxError)> {
        let height = self.height + 1;
        let out = self.runtime.execute_block(&self.state, height, self.time_ms, &txs, &|_| false)?;
        assert_eq!(out.outcomes.len(), txs.len(), "every transaction of a valid block has an outcome");
        for (k, v) in &out.writes {
            match v {
                Some(v) => self.state.insert(k.clone(), v.clone()),
                None => self.state.remove(k),
            };
        }
        let (root, batch) = state::compute_root(self.runtime.suite(), &self.tree, &out.writes, height).unwrap();
        self.tree.apply(&batch);
        self.height = height;
        self.root = root;
        self.block_txs.insert(height, txs.len() as u32);
        self.blocks.push(Recorded {
            height,
            txs: txs.clone(),
            time_ms: self.time_ms,
            root,
            changed_validators: out.next_validators.is_some(),
        });
        for (id, o) in &out.outcomes {
            assert_eq!(o.height, height);
            assert_eq!(Runtime::tx_outcome(&self.state, id).as_ref(), Some(o), "the outcome is committed");
        }
        check_invariants(&self.state, &self.runtime, &self.block_txs, self.height);
        let results = out.outcomes.iter().map(|(_, o)| o.result.clone()).collect();
        self.last = Some(out);
        Ok(results)
    }

    /// A block of no transactions whose state writes are `writes`, as validators that collude
    /// would commit: for tests of what an independent verifier still catches.
    pub fn forged_block(&mut self, writes: Vec<(Vec<u8>, Option<Vec<u8>>)>) {
        let height = self.height + 1;
        for (k, v) in &writes {
            match v {
                Some(v) => self.state.insert(k.clone(), v.clone()),
                None => self.state.remove(k),
            };
        }
        let (root, batch) = state::compute_root(self.runtime.suite(), &self.tree, &writes, height).unwrap();
        self.tree.apply(&batch);
        self.height = height;
        self.root = root;
        self.block_txs.insert(height, 0);
        self.blocks.push(Recorded { height, txs: vec![], time_ms: self.time_ms, root, changed_validators: false });
    }

    /// Executes a block that must pass the envelope checks; returns each transaction's result.
    pub fn block(&mut self, txs: Vec<Vec<u8>>) -> Results {
        match self.try_block(txs) {
            Ok(r) => r,
            Err((i, e)) => panic!("transaction {i} refused at the envelope: {e}"),
        }
    }

    /// One call of `m` in a block of its own, which must succeed; returns its events.
    pub fn call(&mut self, m: &mut Member, call: Call) -> Vec<Event> {
        let name = call.name();
        let tx = self.tx(m, call);
        match self.block(vec![tx]).remove(0) {
            Ok(events) => events,
            Err(e) => panic!("{name} by {} {} failed: {e}", m.agency, m.role),
        }
    }

    /// Anchors `doc` as `m`; must succeed.
    pub fn anchor(&mut self, m: &mut Member, doc: &Doc) -> Vec<Event> {
        self.call(m, doc.call())
    }

    /// Opens a proposal as admin `m`; returns its id.
    pub fn propose(&mut self, m: &mut Member, action: GovAction) -> u64 {
        let id: u64 = self.state.get(governance::NEXT_PROPOSAL_KEY).map(|b| decode(b)).unwrap_or(0);
        let events = self.call(m, Call::Propose(ProposeCall { action }));
        assert_eq!(events[0], Event::ProposalOpened { id, proposer: m.agency.clone() });
        id
    }

    /// Votes as admin `m`; must succeed.
    pub fn vote(&mut self, m: &mut Member, proposal: u64, approve: bool) -> Vec<Event> {
        self.call(m, Call::Vote(VoteCall { proposal, approve }))
    }

    /// One call of `m` that must fail: returns its error, after checking that the block
    /// changed nothing but the signer's nonce and the transaction's result.
    pub fn expect_call_failure(&mut self, m: &mut Member, call: Call) -> CallError {
        let before = self.state.clone();
        let tx = self.tx(m, call);
        let id = runtime::tx_id(&self.suite, &tx);
        let result = self.block(vec![tx]).remove(0);
        let err = match result {
            Err(e) => e,
            Ok(events) => panic!("the call was expected to fail but succeeded with {events:?}"),
        };
        let changed = changed_keys(&before, &self.state);
        let expected: BTreeSet<Vec<u8>> = [nonce_key(&m.signer), txres_key(&id)].into();
        assert_eq!(
            changed.iter().map(|k| show_key(k)).collect::<Vec<_>>(),
            expected.iter().map(|k| show_key(k)).collect::<Vec<_>>(),
            "a failed call ({err}) changes only the signer's nonce and its result"
        );
        let outcome = Runtime::tx_outcome(&self.state, &id).unwrap();
        assert_eq!(outcome.result, Err(err.clone()));
        assert_eq!(Runtime::next_nonce(&self.state, &m.signer), m.nonce, "the failed call consumed its nonce");
        err
    }

    /// One transaction of `m` that must be refused at the envelope (the block is invalid):
    /// returns why, after checking that nothing changed. `m`'s nonce is not consumed.
    pub fn expect_refused(&mut self, m: &mut Member, call: Call) -> TxError {
        let tx = self.tx(m, call);
        m.nonce -= 1;
        self.expect_block_refused(vec![tx], 0)
    }

    /// A block that must be invalid because of its transaction `index`: returns why, after
    /// checking that state, root and height are untouched.
    pub fn expect_block_refused(&mut self, txs: Vec<Vec<u8>>, index: usize) -> TxError {
        let (before, root, height) = (self.state.clone(), self.root, self.height);
        match self.try_block(txs) {
            Ok(results) => panic!("the block was expected to be refused, but executed: {results:?}"),
            Err((i, e)) => {
                assert_eq!(i, index, "refused transaction ({e})");
                assert_eq!(self.state, before, "an invalid block changes nothing");
                assert_eq!((self.root, self.height), (root, height));
                e
            }
        }
    }

    /// Moves the block time to [`NOW`] plus `days` days; returns that day's date.
    pub fn set_day(&mut self, days: u64) -> Date {
        self.time_ms = NOW_MS + days * 86_400_000;
        today().plus_days(days as i32)
    }

    /// The validator set in force.
    pub fn validators(&self) -> Vec<Validator> {
        self.runtime.validators(&self.state)
    }

    /// The genesis validator of `agency`.
    pub fn validator_of(&self, agency: &str) -> Validator {
        self.validators().into_iter().find(|v| v.agency.as_str() == agency).unwrap()
    }
}

/// Issues a member certificate from a CA.
pub fn issue_from(
    suite: &AnySuite,
    ca_cert: &Certificate,
    ca_key: &SigningKey,
    role: MemberRole,
    common_name: &str,
    not_after: i64,
) -> Member {
    let key = home::generate_key(suite).unwrap();
    let id = ca_cert.agency().unwrap().clone();
    let params = CertParams { agency: &id, role, common_name, not_before: INIT, not_after };
    let der = x509::issue_member(ca_cert, ca_key, &key.public_key(), &params).unwrap();
    Member::new(suite, key, der)
}

/// Signs a transaction.
pub fn sign(
    chain: &ChainId,
    signer: CertFingerprint,
    nonce: u64,
    valid_until: u64,
    call: Call,
    key: &SigningKey,
) -> Vec<u8> {
    UnsignedTransaction { chain_id: chain.clone(), signer, nonce, valid_until, call }.sign(key).unwrap().encode()
}

/// Decodes a whole state value.
pub fn decode<T: Decode>(bytes: &[u8]) -> T {
    let mut input = bytes;
    let v = T::decode(&mut input).unwrap();
    assert!(input.is_empty(), "trailing bytes in a state value");
    v
}

/// The entries whose key starts with `prefix`, in key order.
pub fn with_prefix<'a>(state: &'a State, prefix: &'a [u8]) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
    state
        .range(prefix.to_vec()..)
        .take_while(move |(k, _)| k.starts_with(prefix))
        .map(move |(k, v)| (&k[prefix.len()..], v.as_slice()))
}

/// Keys whose value differs between two states (added, removed or changed).
pub fn changed_keys(a: &State, b: &State) -> BTreeSet<Vec<u8>> {
    a.keys().chain(b.keys()).filter(|k| a.get(*k) != b.get(*k)).cloned().collect()
}

/// A state key for messages: its text prefix and the rest in hex.
pub fn show_key(k: &[u8]) -> String {
    let cut = k.iter().position(|b| *b == b'/').map(|i| i + 1).unwrap_or(k.len());
    format!("{}{}", String::from_utf8_lossy(&k[..cut]), hex::encode(&k[cut..]))
}

fn hash_of(bytes: &[u8]) -> Hash {
    Hash(bytes.try_into().unwrap())
}

/// The invariants every committed state keeps, whatever its blocks did (checked after every
/// block of every test):
///
/// 1. **Receipts.** Every receipt `receipt/<doc>/<agency>` refers to an anchored document, and
///    that document was addressed to the receipt's agency as a recipient or a copy, or the
///    agency held an access grant when it acknowledged; the record names the agency of its key.
/// 2. **Cases.** For every case `case/<ref>`, its `events` equals the number of its
///    `casehist/<ref>/<n>` entries, which are numbered 0, 1, … without gaps; the first entry
///    comes from "no case", each next one from where the previous one went, and the last one
///    went to the case's state. Each entry's document is anchored with that state.
/// 3. **Anchors.** Every anchored document is stored under its own hash, was issued by an
///    agency of the registry, and — when it has a case state — its case has a record.
/// 4. **Members.** Every member's agency is in the registry.
/// 5. **Registry.** The agency list is sorted without duplicates and each entry has its
///    record; every node belongs to an agency of the registry.
/// 6. **Validators.** The validator set is non-empty, strictly sorted by node id, and each
///    entry matches its node record (agency, key, transport key, power) with power > 0;
///    every node with power > 0 is in the set.
/// 7. **Transaction results.** Every `txres` outcome is of a block executed so far and its
///    index is below that block's number of transactions.
/// 8. **Governance.** Every proposal's id is below `gov/next` and is the id of its key; its
///    approvals and rejections are sorted and disjoint.
pub fn check_invariants(state: &State, runtime: &Runtime, block_txs: &BTreeMap<u64, u32>, height: u64) {
    let agency_ids: Vec<AgencyId> = decode(&state[registry::AGENCIES_KEY]);
    let registered = |a: &AgencyId| state.contains_key(&registry::agency_key(a));

    // 1. Receipts.
    for (rest, v) in with_prefix(state, b"receipt/") {
        let doc = DocHash(hash_of(&rest[..32]));
        assert_eq!(rest[32], b'/');
        let agency_in_key = AgencyId::new(core::str::from_utf8(&rest[33..]).unwrap()).unwrap();
        let r: ReceiptRecord = decode(v);
        assert_eq!(r.agency, agency_in_key, "receipt record under another agency's key");
        let anchor = Runtime::anchor_record(state, &doc).unwrap_or_else(|| panic!("receipt of unanchored {doc}"));
        // Addressed, copied, or granted access before the receipt (the grant may be revoked since).
        let granted = state
            .get(&custos_contracts::documents::grant_key(&doc, &r.agency))
            .map(|g| decode::<custos_contracts::documents::GrantRecord>(g))
            .is_some_and(|g| g.height <= r.height && g.revoked_at.is_none_or(|at| at > r.height));
        assert!(
            anchor.recipients.contains(&r.agency) || anchor.copies.contains(&r.agency) || granted,
            "receipt of {doc} by {}, which it was not addressed, copied or granted to",
            r.agency
        );
    }

    // 2. Cases.
    for (rest, v) in with_prefix(state, b"case/") {
        let c: CaseRecord = decode(v);
        assert_eq!(c.case_ref.0, hash_of(rest), "case record under another key");
        let mut hist_prefix = b"casehist/".to_vec();
        hist_prefix.extend_from_slice(rest);
        hist_prefix.push(b'/');
        let entries: Vec<(u32, CaseEvent)> = with_prefix(state, &hist_prefix)
            .map(|(n, e)| (u32::from_be_bytes(n.try_into().unwrap()), decode(e)))
            .collect();
        assert_eq!(entries.len() as u32, c.events, "case {}: events vs history entries", c.case_ref);
        let mut from = None;
        for (i, (n, e)) in entries.iter().enumerate() {
            assert_eq!(*n, i as u32, "case {}: history numbered without gaps", c.case_ref);
            assert_eq!(e.from, from, "case {}: entry {n} starts where the previous one went", c.case_ref);
            let anchor = Runtime::anchor_record(state, &e.doc_hash).unwrap();
            assert_eq!((anchor.doc_type, anchor.case_state), (e.doc_type.clone(), Some(e.to)));
            from = Some(e.to);
        }
        assert_eq!(from, Some(c.state), "case {}: the last history entry went to the case's state", c.case_ref);
    }

    // 3. Anchors.
    for (rest, v) in with_prefix(state, b"doc/") {
        let a: AnchorRecord = decode(v);
        assert_eq!(a.doc_hash.0, hash_of(rest));
        assert!(registered(&a.issuer), "anchor issued by {}, not in the registry", a.issuer);
        if a.case_state.is_some() {
            assert!(Runtime::case(state, &a.case_ref).is_some(), "anchor {} with a state but no case", a.doc_hash);
        }
    }

    // 4. Members.
    for (_, v) in with_prefix(state, b"member/") {
        let m: MemberRecord = decode(v);
        assert!(registered(&m.agency), "member of {}, not in the registry", m.agency);
    }

    // 5. Registry.
    assert!(agency_ids.windows(2).all(|w| w[0] < w[1]), "agency list sorted, no duplicates");
    for id in &agency_ids {
        let rec: AgencyRecord = decode(&state[&registry::agency_key(id)]);
        assert_eq!(&rec.id, id);
    }
    assert_eq!(runtime.agencies(state).len(), agency_ids.len());
    let nodes: Vec<NodeRecord> = with_prefix(state, b"node/").map(|(_, v)| decode(v)).collect();
    for n in &nodes {
        assert!(registered(&n.agency), "node of {}, not in the registry", n.agency);
    }

    // 6. Validators.
    let set: Vec<Validator> = decode(&state[registry::VALIDATORS_KEY]);
    assert!(!set.is_empty(), "the validator set is never empty");
    assert!(set.windows(2).all(|w| w[0].node_id < w[1].node_id), "validators sorted by node id");
    for v in &set {
        let rec: NodeRecord = decode(
            state.get(&registry::node_key(&v.node_id)).unwrap_or_else(|| panic!("validator {} has no node", v.node_id)),
        );
        assert!(rec.power > 0, "validator {} with power 0", v.node_id);
        assert_eq!(&rec.validator(), v, "validator entry matches its node record");
    }
    for n in nodes.iter().filter(|n| n.power > 0) {
        assert!(set.iter().any(|v| v.node_id == n.node_id), "node {} has power but is not a validator", n.node_id);
    }
    assert_eq!(runtime.validators(state), set);

    // 7. Transaction results.
    for (_, v) in with_prefix(state, b"txres/") {
        let o: TxOutcome = decode(v);
        assert!(o.height <= height);
        let n = block_txs.get(&o.height).copied().unwrap_or_else(|| panic!("outcome of unknown block {}", o.height));
        assert!(o.index < n, "outcome index {} of a block of {n} transactions", o.index);
    }

    // 8. Governance.
    let next: u64 = state.get(governance::NEXT_PROPOSAL_KEY).map(|b| decode(b)).unwrap_or(0);
    for (rest, v) in with_prefix(state, b"gov/proposal/") {
        let p: Proposal = decode(v);
        assert_eq!(p.id, u64::from_be_bytes(rest.try_into().unwrap()));
        assert!(p.id < next);
        assert!(p.approvals.windows(2).all(|w| w[0] < w[1]) && p.rejections.windows(2).all(|w| w[0] < w[1]));
        assert!(p.approvals.iter().all(|a| !p.rejections.contains(a)), "an agency both approved and rejected");
    }
}

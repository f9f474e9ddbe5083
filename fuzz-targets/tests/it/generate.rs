//! Generators of the fixture and of the seed corpus. Both are ignored tests, run by hand:
//!
//! ```sh
//! # A new consortium (new keys): only when the fixture must change.
//! cargo test -p custos-fuzz-targets --test it -- --ignored generate::write_fixture
//! # The seed corpus, from the fixture and the demo evidence bundle (deterministic).
//! cargo test -p custos-fuzz-targets --test it -- --ignored generate::write_corpus
//! ```
//!
//! The corpus is small valid encodings of each format (a few hundred KB in all): the fuzzers
//! grow their own from it.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use parity_scale_codec::Encode;

use custos_contracts::call::{
    AnchorCall, BusinessDates, Call, Date, DocType, GrantAccessCall, ProposeCall, ReceiptCall, RevokeAccessCall,
    RevokeMemberCall, SetEncryptionKeyCall, SubjectKind, VoteCall,
};
use custos_contracts::evidence::{BUNDLE_MAGIC, BUNDLE_VERSION, Bundle, CertifiedHeader, Fact, IncludedTx, Subject};
use custos_contracts::governance::GovAction;
use custos_contracts::state::{ProofLeaf, ProofNode, StateProof};
use custos_contracts::{RegisterMemberCall, SignedTx};
use custos_dossier::{DocTypeCode, Manifest, MediaType, Recipient, SignedManifest};
use custos_fuzz_targets::world::Fixture;
use custos_fuzz_targets::{CallRecord, TARGETS, encode_calls, world};
use custos_primitives::block::Block;
use custos_primitives::crypto::{EncryptionPublicKey, Hash, Signature, SuiteId};
use custos_primitives::merkle::MerkleTree;
use custos_primitives::types::{
    AgencyId, BlockHash, BlockHeader, CaseRef, CertFingerprint, ChainId, CommitCertificate, CommitSignature, DocHash,
    MemberRole, NodeId, Salt,
};
use custos_testnet::consortium::{self, InitOptions};
use custos_testnet::home::Profile;

use crate::support::{corpus_dir, repo};

/// 2026-06-01 10:00 China Standard Time: the fixture's first block time.
const NOW: i64 = 1_780_279_200;
const AGENCIES: [&str; 5] = ["court", "procuratorate", "police", "prison", "justice"];

#[test]
#[ignore = "writes fuzz-targets/fixtures/world.scale (new keys); run by hand"]
fn write_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let opts = InitOptions::new(SuiteId::Sm, NOW - 3600).unwrap();
    consortium::init(dir.path(), &opts).unwrap();
    let genesis = fs::read(dir.path().join("genesis.json")).unwrap();
    let mut members = Vec::new();
    for a in AGENCIES {
        let home = dir.path().join(a);
        let profile = Profile::load(&home).unwrap();
        for role in [MemberRole::Clerk, MemberRole::Admin] {
            members.push(profile.identity(&home, role).unwrap().cert.der().to_vec());
        }
    }
    let f = Fixture { genesis, members, time_ms: NOW as u64 * 1000 };
    custos_fuzz_targets::World::from_fixture(&f).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/world.scale");
    fs::write(&path, f.encode()).unwrap();
    println!("wrote {}", path.display());
}

#[test]
#[ignore = "rewrites fuzz/corpus/; run by hand"]
fn write_corpus() {
    let w = world().expect("the fixture world");
    let demo = fs::read(repo().join("contracts/benches/fixtures/demo-judgment.evidence")).unwrap();
    let bundle = Bundle::from_bytes(&demo).unwrap();
    let mut out: Vec<(&str, String, Vec<u8>)> = Vec::new();
    let mut put = |target: &'static str, name: String, bytes: Vec<u8>| out.push((target, name, bytes));

    // Transactions: the demo's, and the fixture's registrations and calls.
    for (i, t) in bundle.txs.iter().enumerate().take(8) {
        put("transaction", format!("demo-tx-{i}"), t.tx.clone());
    }
    let records = dispatch_seeds(w);
    for (i, (name, recs)) in records.iter().enumerate() {
        if let Some(r) = recs.first() {
            let tx = SignedTx {
                chain_id: w.runtime.chain_id().clone(),
                signer: w.members[usize::from(r.signer) % w.members.len()].0,
                nonce: i as u64,
                valid_until: 1000,
                call: r.call.clone(),
                signature: Signature { suite: SuiteId::Sm, bytes: [0x5a; 64] },
            };
            put("transaction", format!("fixture-{name}"), tx.encode());
        }
    }
    let reg = SignedTx {
        chain_id: w.runtime.chain_id().clone(),
        signer: w.members[0].0,
        nonce: 0,
        valid_until: u64::MAX,
        call: Call::RegisterMember(RegisterMemberCall { certificate: fixture_certs()[0].clone().try_into().unwrap() }),
        signature: Signature { suite: SuiteId::Intl, bytes: [0; 64] },
    };
    put("transaction", "fixture-register".into(), reg.encode());

    // Blocks and headers.
    for (i, h) in bundle.headers.iter().enumerate().take(3) {
        let txs: Vec<Vec<u8>> =
            bundle.txs.iter().filter(|t| t.height == h.header.height).map(|t| t.tx.clone()).collect();
        put("block", format!("demo-block-{i}"), Block { header: h.header.clone(), txs }.encode());
        put("block", format!("demo-header-{i}"), h.header.encode());
        put("commit_certificate", format!("demo-{i}"), h.certificate.encode());
    }
    put("block", "empty".into(), Block { header: header(), txs: vec![] }.encode());
    put("commit_certificate", "synthetic".into(), certificate().encode());

    // X.509: the fixture's CAs and members.
    for (i, ca) in w.cas().enumerate().take(2) {
        put("x509_certificate", format!("ca-{i}"), ca.der().to_vec());
    }
    for (i, der) in fixture_certs().iter().enumerate().take(4) {
        put("x509_certificate", format!("member-{i}"), der.clone());
    }

    // Manifests, signed and not, both suites.
    for suite in [SuiteId::Sm, SuiteId::Intl] {
        let m = manifest(suite);
        put("manifest", format!("manifest-{suite}"), m.encode());
        let s = SignedManifest { manifest: m, signature: Signature { suite, bytes: [0x77; 64] } };
        put("manifest", format!("signed-{suite}"), s.encode());
    }

    // Evidence bundles: the demo's real one and a small synthetic one.
    put("evidence_bundle", "demo-judgment".into(), demo.clone());
    put("evidence_bundle", "synthetic".into(), synthetic_bundle().encode());

    // State proofs (distinct shapes) and Merkle paths.
    let mut seen = BTreeSet::new();
    for f in &bundle.facts {
        let bytes = f.proof.encode();
        let shape = (f.value.is_some(), f.proof.siblings.len());
        if seen.insert(shape) {
            put("state_proof", format!("demo-{}-{}", if shape.0 { "incl" } else { "excl" }, shape.1), bytes);
        }
    }
    let mut paths = BTreeSet::new();
    for t in &bundle.txs {
        paths.insert(t.path.encode());
    }
    for (i, p) in paths.into_iter().enumerate().take(4) {
        put("merkle_proof", format!("demo-{i}"), p);
    }
    let suite = custos_primitives::AnySuite::with_defaults(SuiteId::Sm);
    for size in [1usize, 2, 3, 5, 8] {
        let leaves: Vec<Vec<u8>> = (0..size).map(|i| vec![i as u8]).collect();
        let tree = MerkleTree::new(&suite, &leaves);
        put("merkle_proof", format!("tree-{size}"), tree.prove(&suite, size - 1).unwrap().encode());
    }

    // Call sequences.
    for (name, recs) in records {
        put("call_dispatch", name, encode_calls(&recs));
    }

    // Consensus codec: proposal parts and their stream messages, votes and a proposal, a stored
    // commit certificate.
    for (name, bytes) in consensus_seeds() {
        put("consensus_message", name, bytes);
    }

    for (target, _) in TARGETS {
        let dir = corpus_dir(target);
        if dir.exists() {
            fs::remove_dir_all(&dir).unwrap();
        }
        fs::create_dir_all(&dir).unwrap();
    }
    let mut total = 0;
    for (target, name, bytes) in out {
        total += bytes.len();
        fs::write(corpus_dir(target).join(name), bytes).unwrap();
    }
    println!("wrote {total} bytes of corpus");
}

fn fixture_certs() -> Vec<Vec<u8>> {
    Fixture::committed().unwrap().members
}

fn h(b: u8) -> Hash {
    Hash([b; 32])
}

fn agency(s: &str) -> AgencyId {
    AgencyId::new(s).unwrap()
}

fn header() -> BlockHeader {
    BlockHeader {
        chain_id: ChainId::new("custos-local-sm").unwrap(),
        height: 2,
        parent: BlockHash(h(1)),
        time_ms: NOW as u64 * 1000,
        proposer: NodeId(h(2)),
        tx_root: h(3),
        state_root: h(4),
        validator_set_hash: h(5),
    }
}

fn certificate() -> CommitCertificate {
    let sig =
        |v: u8, suite| CommitSignature { validator: NodeId(h(v)), signature: Signature { suite, bytes: [v; 64] } };
    CommitCertificate {
        height: 2,
        round: 0,
        block: BlockHash(h(6)),
        signatures: vec![sig(1, SuiteId::Sm), sig(2, SuiteId::Intl)].try_into().unwrap(),
    }
}

fn manifest(suite: SuiteId) -> Manifest {
    Manifest {
        version: 1,
        suite,
        doc_id: DocHash(h(0x11)),
        salt: Salt([0x22; 32]),
        size: 1_048_577,
        chunk_size: 1 << 20,
        media_type: MediaType::new("application/pdf").unwrap(),
        doc_type: DocTypeCode::new("JUDGMENT").unwrap(),
        case_ref: CaseRef(h(0x55)),
        issuer: agency("court"),
        clerk: CertFingerprint(h(0x66)),
        chunks: vec![h(0x33), h(0x44)].try_into().unwrap(),
        recipients: vec![
            Recipient { agency: agency("court"), wrapped_key: vec![1, 2, 3].try_into().unwrap() },
            Recipient { agency: agency("justice"), wrapped_key: vec![4, 5].try_into().unwrap() },
        ]
        .try_into()
        .unwrap(),
    }
}

fn synthetic_bundle() -> Bundle {
    Bundle {
        magic: BUNDLE_MAGIC,
        version: BUNDLE_VERSION,
        genesis: b"{}".to_vec(),
        subject: Subject::ReceiptAbsent { doc: DocHash(h(8)), agency: agency("police"), at: 2 },
        salt: Some(Salt([9; 32])),
        headers: vec![CertifiedHeader { header: header(), certificate: certificate() }],
        validator_changes: vec![1],
        txs: vec![IncludedTx {
            height: 2,
            tx: vec![1, 2, 3],
            path: custos_primitives::merkle::MerkleProof {
                leaf_index: 1,
                tree_size: 2,
                path: vec![h(10)].try_into().unwrap(),
            },
        }],
        facts: vec![Fact {
            height: 2,
            key: b"receipt/x".to_vec(),
            value: None,
            proof: StateProof {
                leaf: Some(ProofLeaf { key_hash: h(11), value_hash: h(12) }),
                siblings: vec![ProofNode::Null, ProofNode::Internal { left: h(13), right: h(14) }].try_into().unwrap(),
            },
        }],
    }
}

/// Member selectors of the fixture: clerk `2i`, admin `2i + 1` of agency `i`.
const COURT: u8 = 0;
const COURT_ADMIN: u8 = 1;
const PROC: u8 = 2;
const PROC_ADMIN: u8 = 3;
const POLICE: u8 = 4;
const POLICE_ADMIN: u8 = 5;
const JUSTICE: u8 = 8;
const JUSTICE_ADMIN: u8 = 9;

struct Anchor {
    doc_type: &'static str,
    case: u8,
    doc: u8,
    to: &'static [&'static str],
    copy: &'static [&'static str],
    kind: Option<SubjectKind>,
    dates: BusinessDates,
}

impl Anchor {
    fn new(doc_type: &'static str, case: u8, doc: u8) -> Anchor {
        Anchor { doc_type, case, doc, to: &[], copy: &[], kind: None, dates: BusinessDates::default() }
    }
    fn call(self) -> Call {
        Call::Anchor(AnchorCall {
            doc_hash: DocHash(h(self.doc)),
            doc_type: DocType::new(self.doc_type).unwrap(),
            case_ref: CaseRef(h(self.case)),
            recipients: self.to.iter().map(|a| agency(a)).collect::<Vec<_>>().try_into().unwrap(),
            copies: self.copy.iter().map(|a| agency(a)).collect::<Vec<_>>().try_into().unwrap(),
            dates: self.dates,
            subject_kind: self.kind,
            eseal_ref: None,
        })
    }
}

fn rec(signer: u8, flags: u8, call: Call) -> CallRecord {
    CallRecord { signer, flags, call }
}

/// Call sequences: a probation case end to end, receipts and grants, governance, revocation.
fn dispatch_seeds(w: &custos_fuzz_targets::World) -> Vec<(String, Vec<CallRecord>)> {
    let today = Date::from_unix_seconds_cst(NOW);
    let end = today.plus_days(365);
    let req = Anchor { to: &["justice"], ..Anchor::new("ASSESS_REQ", 0xc1, 1) };
    let opinion = Anchor { to: &["court"], copy: &["procuratorate"], ..Anchor::new("ASSESS_OPINION", 0xc1, 2) };
    let judgment = Anchor {
        to: &["justice"],
        copy: &["procuratorate", "police"],
        kind: Some(SubjectKind::Probation),
        dates: BusinessDates {
            effective: Some(today),
            received: None,
            period_start: Some(today),
            period_end: Some(end),
        },
        ..Anchor::new("JUDGMENT", 0xc1, 3)
    };
    let notice = Anchor { to: &["justice"], copy: &["procuratorate", "police"], ..Anchor::new("EXEC_NOTICE", 0xc1, 4) };
    let intake = Anchor {
        dates: BusinessDates { received: Some(today.plus_days(3)), ..BusinessDates::default() },
        ..Anchor::new("INTAKE", 0xc1, 5)
    };
    let announce = Anchor::new("ANNOUNCE", 0xc1, 6);
    let warning = Anchor { copy: &["procuratorate"], ..Anchor::new("WARNING", 0xc1, 7) };
    let probation = vec![
        rec(COURT, 0, req.call()),
        rec(JUSTICE, 1, opinion.call()),
        rec(COURT, 1 | (1 << 2), judgment.call()),
        rec(COURT, 1 | (2 << 2), notice.call()),
        rec(JUSTICE, 0, Call::Receipt(ReceiptCall { doc_hash: DocHash(h(3)) })),
        rec(PROC, 0, Call::Receipt(ReceiptCall { doc_hash: DocHash(h(3)) })),
        rec(JUSTICE, 1 | (3 << 2), intake.call()),
        rec(JUSTICE, 1, announce.call()),
        rec(JUSTICE, 1 | (60 << 2), warning.call()),
    ];
    let grants = vec![
        rec(COURT, 0, Anchor { to: &["justice"], ..Anchor::new("ASSESS_REQ", 0xc2, 0x21) }.call()),
        rec(COURT, 1, Call::GrantAccess(GrantAccessCall { doc_hash: DocHash(h(0x21)), agency: agency("prison") })),
        rec(COURT, 1, Call::RevokeAccess(RevokeAccessCall { doc_hash: DocHash(h(0x21)), agency: agency("prison") })),
        rec(POLICE, 1, Call::Receipt(ReceiptCall { doc_hash: DocHash(h(0x21)) })),
    ];
    let node = w.genesis.validators.first().map_or(NodeId(h(0x40)), |v| v.node_id);
    let governance = vec![
        rec(COURT_ADMIN, 0, Call::Propose(ProposeCall { action: GovAction::SetValidatorPower { node, power: 0 } })),
        rec(PROC_ADMIN, 1, Call::Vote(VoteCall { proposal: 0, approve: true })),
        rec(POLICE_ADMIN, 1, Call::Vote(VoteCall { proposal: 0, approve: true })),
        rec(JUSTICE_ADMIN, 1, Call::Vote(VoteCall { proposal: 0, approve: false })),
        rec(COURT_ADMIN, 1, Call::Propose(ProposeCall { action: GovAction::SetCaseKeyVersion(2) })),
        rec(COURT_ADMIN, 1, Call::Propose(ProposeCall { action: GovAction::RemoveAgency { id: agency("prison") } })),
        rec(PROC_ADMIN, 1, Call::Vote(VoteCall { proposal: 2, approve: true })),
        rec(POLICE_ADMIN, 0, Call::Vote(VoteCall { proposal: 2, approve: true })),
    ];
    let court_clerk = w.members[usize::from(COURT)].0;
    let revocation = vec![
        rec(COURT_ADMIN, 0, Call::RevokeMember(RevokeMemberCall { member: court_clerk })),
        rec(COURT, 1, Anchor { to: &["justice"], ..Anchor::new("ASSESS_REQ", 0xc3, 0x31) }.call()),
        rec(JUSTICE_ADMIN, 1, Call::SetEncryptionKey(SetEncryptionKeyCall { key: EncryptionPublicKey::Sm2([4; 65]) })),
        rec(0xff, 1, Call::Receipt(ReceiptCall { doc_hash: DocHash(h(1)) })),
    ];
    vec![
        ("probation".to_owned(), probation),
        ("grants".to_owned(), grants),
        ("governance".to_owned(), governance),
        ("revocation".to_owned(), revocation),
    ]
}

/// Wire encodings of the consensus codec's messages, as peers send them.
fn consensus_seeds() -> Vec<(String, Vec<u8>)> {
    use bytes::Bytes;
    use custos_consensus::codec::{CustosCodec, WireCommitCert, encode_commit_cert};
    use custos_consensus::context::{Address, BlockId, Height, Proposal, ProposalInit, ProposalPart, Vote};
    use custos_consensus::engine::{Codec, Round, StreamContent, StreamId, StreamMessage};
    use malachitebft_app_channel::app::types::SignedConsensusMsg;
    use malachitebft_app_channel::app::types::core::{NilOrVal, SignedMessage, VoteType};

    let sig = Signature { suite: SuiteId::Sm, bytes: [0x5a; 64] };
    let who = Address(custos_primitives::types::NodeId(h(0x42)));
    let block = custos_primitives::types::BlockHash(h(0x17));
    let init =
        ProposalInit { height: Height(7), round: Some(1), pol_round: Some(0), proposer: who, block, total_len: 3 };
    let parts = [
        ("part-init", ProposalPart::Init(init)),
        ("part-data", ProposalPart::Data(vec![1, 2, 3])),
        ("part-fin", ProposalPart::Fin(sig)),
    ];
    let mut out = Vec::new();
    let stream = StreamId::new(Bytes::from_static(b"stream"));
    for (i, (name, part)) in parts.into_iter().enumerate() {
        out.push((name.to_string(), CustosCodec.encode(&part).unwrap().to_vec()));
        let msg = StreamMessage::new(stream.clone(), i as u64, StreamContent::Data(part));
        out.push((format!("stream-{name}"), CustosCodec.encode(&msg).unwrap().to_vec()));
    }
    let fin: StreamMessage<ProposalPart> = StreamMessage::new(stream, 3, StreamContent::Fin);
    out.push(("stream-fin".into(), CustosCodec.encode(&fin).unwrap().to_vec()));
    for (name, vote_type, value) in [
        ("prevote", VoteType::Prevote, NilOrVal::Val(block)),
        ("precommit", VoteType::Precommit, NilOrVal::Val(block)),
        ("nil-prevote", VoteType::Prevote, NilOrVal::Nil),
    ] {
        let vote = Vote { vote_type, height: Height(7), round: Round::new(1), value, validator: who, extension: None };
        let msg = SignedConsensusMsg::Vote(SignedMessage::new(vote, sig));
        out.push((name.to_string(), CustosCodec.encode(&msg).unwrap().to_vec()));
    }
    let proposal = Proposal {
        height: Height(7),
        round: Round::new(1),
        value: BlockId(block),
        pol_round: Round::new(0),
        proposer: who,
    };
    let msg = SignedConsensusMsg::Proposal(SignedMessage::new(proposal, sig));
    out.push(("proposal".into(), CustosCodec.encode(&msg).unwrap().to_vec()));
    let cert = WireCommitCert { height: Height(7), round: Some(1), value: block, signatures: vec![(who, sig); 4] };
    out.push(("stored-commit-cert".into(), encode_commit_cert(&cert)));
    out
}

//! Evidence bundles exported from a chain rebuilt over the test world (headers, commit
//! certificates signed by the consortium's node keys) and verified offline; each tampering
//! named by issue 6 makes verification fail with a failure naming what failed.

use std::collections::BTreeMap;

use parity_scale_codec::Decode;

use custos_contracts::call::{Call, GrantAccessCall, ReceiptCall, SubjectKind};
use custos_contracts::evidence::{
    self, Bundle, CertifiedHeader, ChainSource, EvidenceError, Failure, Report, TrustAnchor,
};
use custos_contracts::governance::GovAction;
use custos_contracts::registry::{self, MemberRecord};
use custos_contracts::runtime::tx_id;
use custos_contracts::state::{self, StateProof};
use custos_primitives::codec::BoundedVec;
use custos_primitives::crypto::{AnySuite, Hash, SigningKey, SuiteId};
use custos_primitives::genesis::{Validator, validator_set_hash};
use custos_primitives::merkle::MerkleTree;
use custos_primitives::types::{
    BlockHash, BlockHeader, CertFingerprint, CommitCertificate, CommitSignature, DocHash, MemberRole, NodeId,
    PrecommitPayload,
};
use custos_primitives::x509;
use custos_testnet::consortium;

use crate::support::{Doc, Five, INIT, Member, NOW, World, agency, date, today};

/// The world's blocks as a certified chain: every header signed by the nodes in `signers`
/// (all validators of the height by default).
struct Chain<'a> {
    w: &'a World,
    genesis_json: String,
    headers: BTreeMap<u64, CertifiedHeader>,
    changes: Vec<u64>,
}

fn node_keys(w: &World) -> BTreeMap<NodeId, SigningKey> {
    ["court", "procuratorate", "police", "prison", "justice"]
        .iter()
        .map(|a| {
            let m = w.member(a, MemberRole::Node);
            (NodeId::of_key(&w.suite, &m.key.public_key()).unwrap(), m.key)
        })
        .collect()
}

fn certify(suite: &AnySuite, w: &World, header: &BlockHeader, signers: &[&Validator]) -> CommitCertificate {
    let keys = node_keys(w);
    let block = header.hash(suite);
    let payload = PrecommitPayload { chain_id: w.chain.clone(), height: header.height, round: 0, block };
    let mut sigs: Vec<CommitSignature> = signers
        .iter()
        .map(|v| CommitSignature {
            validator: v.node_id,
            signature: keys[&v.node_id].sign(&payload.signing_bytes()).unwrap(),
        })
        .collect();
    sigs.sort_by_key(|s| s.validator);
    CommitCertificate { height: header.height, round: 0, block, signatures: BoundedVec::try_from(sigs).unwrap() }
}

impl<'a> Chain<'a> {
    fn new(w: &'a World) -> Chain<'a> {
        let genesis_json = std::fs::read_to_string(w.dir.join("genesis.json")).unwrap();
        let g = consortium::load_genesis(&w.dir).unwrap();
        let mut set: Vec<Validator> = g.validators.clone();
        let mut parent = BlockHash(Hash::ZERO);
        let mut headers = BTreeMap::new();
        let mut changes = Vec::new();
        for r in &w.blocks {
            let ids: Vec<_> = r.txs.iter().map(|t| tx_id(&w.suite, t)).collect();
            let leaves: Vec<&[u8]> = ids.iter().map(|i| i.0.as_bytes().as_slice()).collect();
            let header = BlockHeader {
                chain_id: w.chain.clone(),
                height: r.height,
                parent,
                time_ms: r.time_ms,
                proposer: set[0].node_id,
                tx_root: MerkleTree::new(&w.suite, &leaves).root(&w.suite),
                state_root: r.root,
                validator_set_hash: validator_set_hash(&w.suite, &set),
            };
            let all: Vec<&Validator> = set.iter().collect();
            let certificate = certify(&w.suite, w, &header, &all);
            parent = header.hash(&w.suite);
            headers.insert(r.height, CertifiedHeader { header, certificate });
            if r.changed_validators {
                let (v, _) = state::prove(&w.suite, &w.tree, registry::VALIDATORS_KEY, r.height).unwrap();
                set = Vec::<Validator>::decode(&mut v.unwrap().as_slice()).unwrap();
                changes.push(r.height);
            }
        }
        Chain { w, genesis_json, headers, changes }
    }
}

impl ChainSource for Chain<'_> {
    fn genesis_json(&self) -> String {
        self.genesis_json.clone()
    }
    fn last_height(&self) -> Result<u64, EvidenceError> {
        Ok(self.w.height)
    }
    fn certified_header(&self, height: u64) -> Result<CertifiedHeader, EvidenceError> {
        self.headers.get(&height).cloned().ok_or_else(|| EvidenceError::Source(format!("no header {height}")))
    }
    fn block_txs(&self, height: u64) -> Result<Vec<Vec<u8>>, EvidenceError> {
        Ok(self.w.blocks.iter().find(|b| b.height == height).map(|b| b.txs.clone()).unwrap_or_default())
    }
    fn prove(&self, key: &[u8], height: u64) -> Result<(Option<Vec<u8>>, StateProof), EvidenceError> {
        state::prove(&self.w.suite, &self.w.tree, key, height).map_err(|e| EvidenceError::Source(e.to_string()))
    }
    fn validator_changes(&self, up_to: u64) -> Result<Vec<u64>, EvidenceError> {
        Ok(self.changes.iter().copied().filter(|c| *c <= up_to).collect())
    }
}

struct Case {
    w: World,
    clerks: Five,
    judgment: Doc,
}

/// A probation judgment court → justice (copies procuratorate, police), the execution notice,
/// justice's receipt of the judgment, a grant to the prison.
fn decided_case(suite: SuiteId) -> Case {
    let mut w = World::new(suite);
    let mut c = w.five(MemberRole::Clerk);
    let case = w.case("(2026)黑0103刑初500号");
    let d = today();
    let judgment = w
        .doc("JUDGMENT", case)
        .to(&["justice"])
        .copy(&["procuratorate", "police"])
        .kind(SubjectKind::Probation)
        .effective(d)
        .period(d, date("2027-05-31"));
    w.anchor(&mut c.court, &judgment);
    w.set_day(2);
    let notice = w.doc("EXEC_NOTICE", case).to(&["justice"]).copy(&["procuratorate", "police"]);
    w.anchor(&mut c.court, &notice);
    w.call(&mut c.justice, Call::Receipt(ReceiptCall { doc_hash: judgment.hash() }));
    w.call(&mut c.court, Call::GrantAccess(GrantAccessCall { doc_hash: judgment.hash(), agency: agency("prison") }));
    w.block(vec![]);
    Case { w, clerks: c, judgment }
}

fn trust(w: &World) -> TrustAnchor {
    TrustAnchor(consortium::load_genesis(&w.dir).unwrap().hash)
}

fn export(w: &World, doc: &DocHash) -> Bundle {
    let chain = Chain::new(w);
    let b = evidence::export_document(&chain, doc, None, None).unwrap();
    // What goes to a file comes back identical.
    assert_eq!(Bundle::from_bytes(&b.to_bytes()).unwrap(), b);
    b
}

fn failures(r: &Report) -> String {
    r.failures.iter().map(|f| format!("{f}\n")).collect()
}

#[track_caller]
fn assert_fails(r: &Report, pred: impl Fn(&Failure) -> bool, what: &str) {
    assert!(!r.ok(), "{what}: the bundle still verified");
    assert!(r.failures.iter().any(pred), "{what}: no failure names it; failures:\n{}", failures(r));
}

fn honest(suite: SuiteId) {
    let Case { w, judgment, .. } = decided_case(suite);
    let b = export(&w, &judgment.hash());
    let r = evidence::verify(&b, trust(&w));
    assert!(r.ok(), "{}", failures(&r));
    let v = r.verified.unwrap();
    assert_eq!(v.at_height, w.height);
    assert_eq!(v.doc_type.as_deref(), Some("JUDGMENT"));
    assert_eq!(v.issuer.as_deref(), Some("court"));
    let whats: Vec<String> = v.timeline.iter().map(|e| format!("{} {}", e.agency, e.what)).collect();
    assert!(whats.iter().any(|w| w.starts_with("court anchored JUDGMENT")), "{whats:?}");
    assert!(whats.iter().any(|w| w.starts_with("justice received")), "{whats:?}");
    assert!(whats.iter().any(|w| w.contains("granted prison access")), "{whats:?}");
    assert!(whats.iter().any(|w| w.contains("EXEC_NOTICE")), "the case's later event is in the history: {whats:?}");
    assert_eq!(v.not_received, vec!["police".to_string(), "procuratorate".to_string()]);
    // Times are block times from certified headers.
    let anchored = v.timeline.iter().find(|e| e.what.starts_with("anchored")).unwrap();
    assert_eq!(anchored.time_ms, Some(w.blocks.iter().find(|b| b.height == anchored.height).unwrap().time_ms));
    assert!(v.signatures >= 5 * v.headers, "every signature of every header is checked");
}

#[test]
fn an_honest_bundle_verifies_offline_with_the_whole_history_sm() {
    honest(SuiteId::Sm);
}

#[test]
fn an_honest_bundle_verifies_offline_with_the_whole_history_intl() {
    honest(SuiteId::Intl);
}

#[test]
fn a_changed_document_byte_fails_naming_the_document() {
    let Case { w, judgment, .. } = decided_case(SuiteId::Sm);
    let b = export(&w, &judgment.hash());
    let mut r = evidence::verify(&b, trust(&w));
    let other = DocHash::compute(&w.suite, &custos_primitives::types::Salt([9; 32]), b"one byte changed");
    evidence::check_document(&mut r, &b, &other);
    assert_fails(&r, |f| matches!(f, Failure::Document { .. }), "document changed");
}

#[test]
fn tampered_parts_of_a_bundle_fail_naming_the_part() {
    let Case { w, judgment, .. } = decided_case(SuiteId::Sm);
    let b = export(&w, &judgment.hash());
    let t = trust(&w);

    // A proof: one sibling byte of the anchor's state proof.
    let mut x = b.clone();
    let fact = x.facts.iter_mut().find(|f| f.key.starts_with(b"doc/")).unwrap();
    let mut bytes = parity_scale_codec::Encode::encode(&fact.proof);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fact.proof = StateProof::decode_untrusted(&bytes).unwrap();
    assert_fails(
        &evidence::verify(&x, t),
        |f| matches!(f, Failure::StateProof { key, .. } if key.starts_with("doc/")),
        "proof",
    );

    // A proven value: one byte of a member's certificate inside its registry record.
    let mut x = b.clone();
    let fact = x.facts.iter_mut().find(|f| f.key.starts_with(b"member/")).unwrap();
    let v = fact.value.as_mut().unwrap();
    let n = v.len() - 40;
    v[n] ^= 0x80;
    assert_fails(
        &evidence::verify(&x, t),
        |f| matches!(f, Failure::StateProof { key, .. } if key.starts_with("member/")),
        "certificate in a record",
    );

    // A header: its time.
    let mut x = b.clone();
    x.headers[0].header.time_ms += 1;
    let h = x.headers[0].header.height;
    assert_fails(
        &evidence::verify(&x, t),
        |f| matches!(f, Failure::CertificateMismatch { height, .. } if *height == h),
        "header",
    );

    // A signature.
    let mut x = b.clone();
    let mut sigs = x.headers[0].certificate.signatures.clone().into_inner();
    let mut s = parity_scale_codec::Encode::encode(&sigs[2].signature);
    let mid = s.len() / 2;
    s[mid] ^= 1;
    sigs[2].signature = Decode::decode(&mut s.as_slice()).unwrap();
    x.headers[0].certificate.signatures = BoundedVec::try_from(sigs).unwrap();
    assert_fails(
        &evidence::verify(&x, t),
        |f| matches!(f, Failure::Signature { height, .. } if *height == h),
        "signature",
    );

    // A transaction byte.
    let mut x = b.clone();
    let n = x.txs[0].tx.len() - 5;
    x.txs[0].tx[n] ^= 1;
    assert_fails(&evidence::verify(&x, t), |f| matches!(f, Failure::Transaction { .. }), "transaction");
}

/// Seeded sweep: any one byte of the bundle file changed makes it fail to decode or to verify.
#[test]
fn any_flipped_byte_of_the_file_fails() {
    let Case { w, judgment, .. } = decided_case(SuiteId::Intl);
    let b = export(&w, &judgment.hash());
    let bytes = b.to_bytes();
    let seed: u64 = std::env::var("CUSTOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_0006);
    println!("seed {seed} (replay with CUSTOS_SEED={seed}); {} bytes", bytes.len());
    let mut state = seed;
    let t = trust(&w);
    let flips: usize = std::env::var("CUSTOS_FLIPS").ok().and_then(|s| s.parse().ok()).unwrap_or(150);
    for _ in 0..flips {
        // xorshift64*: deterministic positions from the seed.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let pos = (r % bytes.len() as u64) as usize;
        let mut m = bytes.clone();
        m[pos] ^= 1 << (r >> 61);
        let Ok(x) = Bundle::from_bytes(&m) else { continue };
        assert_eq!(x.salt, None, "the exporter had no salt; a flipped tag would not decode");
        let report = evidence::verify(&x, t);
        assert!(!report.ok(), "seed {seed}: flipping byte {pos} of {} still verifies", bytes.len());
    }
}

#[test]
fn two_thirds_or_fewer_of_the_signatures_fail() {
    let Case { w, judgment, .. } = decided_case(SuiteId::Sm);
    let b = export(&w, &judgment.hash());
    let mut x = b.clone();
    let top = x.headers.len() - 1;
    let sigs = x.headers[top].certificate.signatures.clone().into_inner();
    x.headers[top].certificate.signatures = BoundedVec::try_from(sigs[..3].to_vec()).unwrap();
    let h = x.headers[top].header.height;
    assert_fails(
        &evidence::verify(&x, trust(&w)),
        |f| matches!(f, Failure::Quorum { height, signed: 3, total: 5, .. } if *height == h),
        "3 of 5 signatures",
    );
    // Four of five (more than two thirds) is enough.
    let mut x = b.clone();
    let sigs = x.headers[top].certificate.signatures.clone().into_inner();
    x.headers[top].certificate.signatures = BoundedVec::try_from(sigs[1..].to_vec()).unwrap();
    let r = evidence::verify(&x, trust(&w));
    assert!(r.ok(), "{}", failures(&r));
}

#[test]
fn a_bundle_from_another_chain_fails() {
    let Case { w, judgment, .. } = decided_case(SuiteId::Sm);
    let b = export(&w, &judgment.hash());
    let other = World::new(SuiteId::Sm);
    assert_fails(&evidence::verify(&b, trust(&other)), |f| matches!(f, Failure::OtherChain { .. }), "other chain");
}

#[test]
fn validator_set_changes_are_followed_and_must_be_signed_by_the_previous_set() {
    let Case { mut w, mut clerks, judgment } = decided_case(SuiteId::Intl);
    let mut admins = w.five(MemberRole::Admin);
    // The prison's validator becomes an observer: the set shrinks to four.
    let prison = w.validator_of("prison").node_id;
    let id = w.propose(&mut admins.court, GovAction::SetValidatorPower { node: prison, power: 0 });
    w.vote(&mut admins.procuratorate, id, true);
    w.vote(&mut admins.police, id, true);
    let change = w.height;
    assert!(w.blocks.last().unwrap().changed_validators);
    // The police acknowledge after the change: a header signed by the new set.
    w.call(&mut clerks.police, Call::Receipt(ReceiptCall { doc_hash: judgment.hash() }));
    w.block(vec![]);

    let b = export(&w, &judgment.hash());
    assert_eq!(b.validator_changes, vec![change]);
    let r = evidence::verify(&b, trust(&w));
    assert!(r.ok(), "{}", failures(&r));
    let top = b.headers.last().unwrap();
    assert_eq!(top.certificate.signatures.len(), 4, "signed by the four validators after the change");

    // The change's block signed by too few of the previous set.
    let mut x = b.clone();
    let i = x.headers.iter().position(|h| h.header.height == change).unwrap();
    let sigs = x.headers[i].certificate.signatures.clone().into_inner();
    x.headers[i].certificate.signatures = BoundedVec::try_from(sigs[..3].to_vec()).unwrap();
    assert_fails(
        &evidence::verify(&x, trust(&w)),
        |f| matches!(f, Failure::Quorum { height, change, .. } if *height == b.headers[i].header.height && change.contains("validator-set change")),
        "validator-set change signed by too few",
    );

    // The change left out: later headers name a set the verifier cannot derive.
    let mut x = b.clone();
    x.validator_changes.clear();
    assert_fails(&evidence::verify(&x, trust(&w)), |f| matches!(f, Failure::ValidatorSet { .. }), "change omitted");
}

#[test]
fn a_member_certified_by_a_ca_not_in_genesis_fails_even_if_validators_committed_it() {
    let mut w = World::new(SuiteId::Sm);
    let mut c = w.five(MemberRole::Clerk);
    // A "court" CA that is not the genesis one issues a clerk certificate; colluding validators
    // write its registry record directly (the runtime would have refused the registration).
    let rogue_key = custos_testnet::home::generate_key(&w.suite).unwrap();
    let rogue_ca = x509::issue_ca(&rogue_key, &agency("court"), "rogue court CA", INIT, NOW + 86_400 * 365).unwrap();
    let rogue_ca = x509::Certificate::from_der(&rogue_ca).unwrap();
    let mut rogue: Member = crate::support::issue_from(
        &w.suite,
        &rogue_ca,
        &rogue_key,
        MemberRole::Clerk,
        "rogue clerk",
        NOW + 86_400 * 30,
    );
    let record = MemberRecord {
        agency: agency("court"),
        role: MemberRole::Clerk,
        public_key: rogue.key.public_key(),
        certificate: rogue.cert.clone(),
        registered_at: w.height + 1,
        not_after: rogue.not_after(),
        revoked: None,
    };
    w.forged_block(vec![(registry::member_key(&rogue.signer), Some(parity_scale_codec::Encode::encode(&record)))]);
    let case = w.case("(2026)黑0103刑初501号");
    let doc = w.doc("LETTER", case).to(&["justice"]);
    w.anchor(&mut rogue, &doc);
    w.call(&mut c.justice, Call::Receipt(ReceiptCall { doc_hash: doc.hash() }));

    let b = export(&w, &doc.hash());
    let r = evidence::verify(&b, trust(&w));
    let fp: CertFingerprint = rogue.signer;
    assert_fails(
        &r,
        |f| matches!(f, Failure::MemberCertificate { member, .. } if *member == fp.0.to_string()),
        "member of a CA not in genesis",
    );
    // Only that: everything else in the bundle holds.
    assert_eq!(r.failures.len(), 1, "{}", failures(&r));
}

#[test]
fn a_certificate_expired_since_still_verifies_at_the_anchoring_height() {
    let mut w = World::new(SuiteId::Sm);
    let mut c = w.five(MemberRole::Clerk);
    // A clerk whose certificate expires ten days from now anchors today.
    let mut short_lived = w.issue("court", MemberRole::Clerk, "clerk until day 10", NOW + 10 * 86_400);
    w.register(&mut short_lived);
    let case = w.case("(2026)黑0103刑初502号");
    let doc = w.doc("LETTER", case).to(&["justice"]);
    w.anchor(&mut short_lived, &doc);
    // A month later (the certificate expired) the justice bureau acknowledges.
    w.set_day(30);
    w.call(&mut c.justice, Call::Receipt(ReceiptCall { doc_hash: doc.hash() }));
    let b = export(&w, &doc.hash());
    let r = evidence::verify(&b, trust(&w));
    assert!(r.ok(), "{}", failures(&r));
}

#[test]
fn absence_of_a_receipt_is_proven_and_fails_once_the_receipt_exists() {
    let Case { mut w, mut clerks, judgment } = decided_case(SuiteId::Sm);
    let chain = Chain::new(&w);
    let before = w.height;
    let b = evidence::export_absence(&chain, &judgment.hash(), &agency("police"), None).unwrap();
    let r = evidence::verify(&b, trust(&w));
    assert!(r.ok(), "{}", failures(&r));
    assert_eq!(r.verified.unwrap().absent_receipt_from.as_deref(), Some("police"));
    drop(chain);
    w.call(&mut clerks.police, Call::Receipt(ReceiptCall { doc_hash: judgment.hash() }));
    let chain = Chain::new(&w);
    // At the earlier height the absence still holds; now it does not.
    let old = evidence::export_absence(&chain, &judgment.hash(), &agency("police"), Some(before)).unwrap();
    assert!(evidence::verify(&old, trust(&w)).ok());
    let now = evidence::export_absence(&chain, &judgment.hash(), &agency("police"), None).unwrap();
    assert_fails(&evidence::verify(&now, trust(&w)), |f| matches!(f, Failure::Subject { .. }), "receipt exists");
    // A forged absence: the receipt's inclusion proof replaced by an exclusion claim.
    let mut x = now.clone();
    x.facts.iter_mut().find(|f| f.key.starts_with(b"receipt/")).unwrap().value = None;
    assert_fails(&evidence::verify(&x, trust(&w)), |f| matches!(f, Failure::StateProof { .. }), "forged absence");
}

#[test]
fn garbage_is_refused_before_verification() {
    assert!(matches!(Bundle::from_bytes(b"hello"), Err(EvidenceError::NotABundle)));
    let mut v = evidence::BUNDLE_MAGIC.to_vec();
    v.push(9);
    assert!(matches!(Bundle::from_bytes(&v), Err(EvidenceError::Version { found: 9, .. })));
    v[8] = evidence::BUNDLE_VERSION;
    v.extend_from_slice(&[0xff; 64]);
    assert!(matches!(Bundle::from_bytes(&v), Err(EvidenceError::Decode(_))));
}

/// A bundle exported by the demo on a real five-node network (kept as the benchmark's
/// fixture) still verifies: real SM2 certificates and signatures, frozen format.
#[test]
fn the_demo_bundle_fixture_still_verifies() {
    let bytes = include_bytes!("../../benches/fixtures/demo-judgment.evidence");
    let b = Bundle::from_bytes(bytes).unwrap();
    let g = custos_primitives::genesis::Genesis::from_json(std::str::from_utf8(&b.genesis).unwrap()).unwrap();
    let r = evidence::verify(&b, TrustAnchor(g.validate().unwrap().hash));
    assert!(r.ok(), "{}", failures(&r));
    let v = r.verified.unwrap();
    assert_eq!((v.headers, v.doc_type.as_deref(), v.suite.as_str()), (4, Some("JUDGMENT"), "sm"));
}

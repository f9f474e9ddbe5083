//! The runtime on a generated consortium: registration, anchors, envelope checks, determinism.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use parity_scale_codec::Encode;

use custos_contracts::call::{AnchorCall, Call, DocType, ReceiptCall, RegisterMemberCall};
use custos_contracts::runtime::{CallError, Runtime, StateRead, TxError};
use custos_primitives::crypto::{Hash, SigningKey, Suite, SuiteId};
use custos_primitives::types::{CaseRef, CertFingerprint, ChainId, DocHash, MemberRole, Salt, UnsignedTransaction};
use custos_testnet::consortium::{self, InitOptions};
use custos_testnet::home::Profile;

const NOW: i64 = 1_780_000_000;
const NOW_MS: u64 = NOW as u64 * 1000;

struct World {
    _dir: tempfile::TempDir,
    runtime: Runtime,
    chain: ChainId,
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    root: Hash,
    height: u64,
}

struct Member {
    key: SigningKey,
    cert: Vec<u8>,
    signer: CertFingerprint,
    nonce: u64,
}

impl World {
    fn new(suite: SuiteId) -> (World, Vec<Member>) {
        let dir = tempfile::tempdir().unwrap();
        consortium::init(dir.path(), &InitOptions::new(suite, NOW - 3600).unwrap()).unwrap();
        let g = consortium::load_genesis(dir.path()).unwrap();
        let mut members = Vec::new();
        for a in ["court", "procuratorate", "police", "prison", "justice"] {
            let home = dir.path().join(a);
            let p = Profile::load(&home).unwrap();
            let clerk = p.identity(&home, MemberRole::Clerk).unwrap();
            members.push(Member {
                signer: clerk.cert.fingerprint(&g.suite),
                cert: clerk.cert.der().to_vec(),
                key: clerk.key,
                nonce: 0,
            });
        }
        // The node identity of the court, to show that a node may not anchor.
        let home = dir.path().join("court");
        let node = Profile::load(&home).unwrap().identity(&home, MemberRole::Node).unwrap();
        members.push(Member {
            signer: node.cert.fingerprint(&g.suite),
            cert: node.cert.der().to_vec(),
            key: node.key,
            nonce: 0,
        });
        let world = World {
            runtime: Runtime::new(&g),
            chain: g.genesis.chain_id.clone(),
            _dir: dir,
            state: BTreeMap::new(),
            root: Hash::ZERO,
            height: 0,
        };
        (world, members)
    }

    /// Executes a block and applies it; returns the per-transaction results.
    fn block(&mut self, txs: Vec<Vec<u8>>) -> Result<Vec<Result<(), CallError>>, (usize, TxError)> {
        self.height += 1;
        let out = self.runtime.execute_block(&self.state, &self.root, self.height, NOW_MS, &txs, &|_| false)?;
        for (k, v) in out.writes {
            match v {
                Some(v) => self.state.insert(k, v),
                None => self.state.remove(&k),
            };
        }
        self.root = out.state_root;
        Ok(out.outcomes.into_iter().map(|(_, o)| o.result).collect())
    }
}

impl Member {
    fn tx(&mut self, chain: &ChainId, call: Call) -> Vec<u8> {
        let tx = UnsignedTransaction {
            chain_id: chain.clone(),
            signer: self.signer,
            nonce: self.nonce,
            valid_until: 1000,
            call,
        }
        .sign(&self.key)
        .unwrap();
        self.nonce += 1;
        tx.encode()
    }
    fn register(&mut self, chain: &ChainId) -> Vec<u8> {
        let cert = self.cert.clone().try_into().unwrap();
        self.tx(chain, Call::RegisterMember(RegisterMemberCall { certificate: cert }))
    }
}

fn anchor(suite: &impl Suite, n: u32, to: &str) -> (DocHash, Call) {
    let doc_hash = DocHash::compute(suite, &Salt([n as u8; 32]), format!("doc {n}").as_bytes());
    (
        doc_hash,
        Call::Anchor(AnchorCall {
            doc_hash,
            doc_type: DocType::new("JUDGMENT").unwrap(),
            case_ref: CaseRef::derive(suite, b"k", "(2026)黑0103刑初1号"),
            recipients: vec![to.parse().unwrap()].try_into().unwrap(),
            copies: vec!["procuratorate".parse().unwrap()].try_into().unwrap(),
        }),
    )
}

#[test]
fn register_then_anchor_both_suites() {
    for suite in [SuiteId::Sm, SuiteId::Intl] {
        let (mut w, mut m) = World::new(suite);
        let chain = w.chain.clone();
        let reg = m[0].register(&chain);
        assert_eq!(w.block(vec![reg]).unwrap(), vec![Ok(())]);
        let (doc, call) = anchor(w.runtime.suite(), 1, "justice");
        let t = m[0].tx(&chain, call);
        assert_eq!(w.block(vec![t]).unwrap(), vec![Ok(())]);
        let rec = Runtime::anchor_record(&w.state, &doc).unwrap();
        assert_eq!(rec.issuer.as_str(), "court");
        assert_eq!(rec.height, 2);
        assert_eq!(Runtime::next_nonce(&w.state, &m[0].signer), 2);
    }
}

#[test]
fn the_same_hash_anchored_twice_is_refused_and_changes_nothing_else() {
    let (mut w, mut m) = World::new(SuiteId::Sm);
    let chain = w.chain.clone();
    let (r0, r1) = (m[0].register(&chain), m[4].register(&chain));
    w.block(vec![r0, r1]).unwrap();
    let (doc, call) = anchor(w.runtime.suite(), 7, "justice");
    let first = m[0].tx(&chain, call.clone());
    w.block(vec![first]).unwrap();
    let second = m[4].tx(&chain, call);
    assert_eq!(w.block(vec![second]).unwrap(), vec![Err(CallError::AlreadyAnchored(doc))]);
    assert_eq!(Runtime::anchor_record(&w.state, &doc).unwrap().issuer.as_str(), "court", "the first anchor stands");
    assert_eq!(Runtime::next_nonce(&w.state, &m[4].signer), 2, "the failed call consumed its nonce");
}

#[test]
fn unknown_agency_and_wrong_role_fail_the_call() {
    let (mut w, mut m) = World::new(SuiteId::Sm);
    let chain = w.chain.clone();
    let (r0, r5) = (m[0].register(&chain), m[5].register(&chain));
    w.block(vec![r0, r5]).unwrap();
    let (_, call) = anchor(w.runtime.suite(), 2, "tax-office");
    let t = m[0].tx(&chain, call);
    assert!(matches!(w.block(vec![t]).unwrap()[0], Err(CallError::UnknownAgency(_))));
    let (_, call) = anchor(w.runtime.suite(), 3, "justice");
    let t = m[5].tx(&chain, call);
    assert!(matches!(w.block(vec![t]).unwrap()[0], Err(CallError::RoleNotAllowed { role: MemberRole::Node, .. })));
}

#[test]
fn envelope_failures_make_the_block_invalid() {
    let (mut w, mut m) = World::new(SuiteId::Intl);
    let chain = w.chain.clone();
    let (_, call) = anchor(w.runtime.suite(), 4, "justice");
    // Unknown signer: the whole block is invalid, naming the transaction.
    let t = m[1].tx(&chain, call.clone());
    assert!(matches!(w.block(vec![t]), Err((0, TxError::UnknownSigner(_)))));
    // The procuratorate clerk of this consortium registering on another consortium's chain:
    // its certificate chains to no CA there.
    let (mut other, _) = World::new(SuiteId::Intl);
    let mut clerk = Member { key: std::mem::replace(&mut m[1].key, SuiteId::Intl.pipe_key()), ..m[1].clone_public() };
    let reg = clerk.register(&other.chain.clone());
    assert!(matches!(other.block(vec![reg]), Err((0, TxError::Certificate(_)))));
    // A nonce gap (0 registered, then 2 instead of 1).
    clerk.nonce = 0;
    let reg = clerk.register(&chain);
    assert!(w.block(vec![reg]).is_ok());
    clerk.nonce = 2;
    let gap = clerk.tx(&chain, call.clone());
    assert!(matches!(w.block(vec![gap]), Err((0, TxError::BadNonce { expected: 1, found: 2, .. }))));
    // Wrong chain.
    clerk.nonce = 1;
    let wrong = clerk.tx(&ChainId::new("elsewhere").unwrap(), call);
    assert!(matches!(w.block(vec![wrong]), Err((0, TxError::WrongChain { .. }))));
}

#[test]
fn execution_is_deterministic() {
    let (mut w, mut m) = World::new(SuiteId::Sm);
    let chain = w.chain.clone();
    let regs: Vec<_> = m.iter_mut().take(5).map(|x| x.register(&chain)).collect();
    w.block(regs).unwrap();
    let txs: Vec<_> = (0..5u32)
        .map(|i| {
            let (_, call) = anchor(w.runtime.suite(), 100 + i, "justice");
            m[i as usize].tx(&chain, call)
        })
        .collect();
    // The same block on the same state, twice: identical writes, outcomes and root.
    let a = w.runtime.execute_block(&w.state, &w.root, 2, NOW_MS, &txs, &|_| false).unwrap();
    let b = w.runtime.execute_block(&w.state, &w.root, 2, NOW_MS, &txs, &|_| true).unwrap();
    assert_eq!(a.writes, b.writes);
    assert_eq!(a.state_root, b.state_root);
    assert_eq!(a.outcomes.len(), 5);
    // A different order is a different block with a different root.
    let mut reversed = txs.clone();
    reversed.reverse();
    let c = w.runtime.execute_block(&w.state, &w.root, 2, NOW_MS, &reversed, &|_| false).unwrap();
    assert_ne!(c.state_root, a.state_root);
}

#[test]
fn candidates_leave_out_invalid_transactions_in_one_pass() {
    let (mut w, mut m) = World::new(SuiteId::Sm);
    let chain = w.chain.clone();
    let regs: Vec<_> = m.iter_mut().take(2).map(|x| x.register(&chain)).collect();
    w.block(regs).unwrap();
    let (_, a) = anchor(w.runtime.suite(), 200, "justice");
    let (_, b) = anchor(w.runtime.suite(), 201, "justice");
    let good1 = m[0].tx(&chain, a);
    let stranger = m[2].tx(&chain, b.clone()); // police clerk: not registered
    let good2 = m[1].tx(&chain, b);
    let candidates = vec![good1.clone(), stranger, good2.clone()];
    let (outcome, left_out) = w.runtime.execute_candidates(&w.state, &w.root, 2, NOW_MS, &candidates, &|_| false);
    assert_eq!(left_out.len(), 1);
    assert_eq!(left_out[0].0, 1);
    assert!(matches!(left_out[0].1, TxError::UnknownSigner(_)));
    // Exactly what the block of the kept transactions executes to.
    let kept = w.runtime.execute_block(&w.state, &w.root, 2, NOW_MS, &[good1, good2], &|_| false).unwrap();
    assert_eq!(outcome.writes, kept.writes);
    assert_eq!(outcome.state_root, kept.state_root);
    assert_eq!(outcome.outcomes, kept.outcomes);
}

trait PipeKey {
    fn pipe_key(self) -> SigningKey;
}

impl PipeKey for SuiteId {
    fn pipe_key(self) -> SigningKey {
        custos_primitives::crypto::AnySuite::with_defaults(self).generate_signing_key().unwrap()
    }
}

impl Member {
    fn clone_public(&self) -> Member {
        Member { key: SuiteId::Intl.pipe_key(), cert: self.cert.clone(), signer: self.signer, nonce: self.nonce }
    }
}

#[test]
fn receipts_only_from_addressed_agencies_and_once() {
    let (mut w, mut m) = World::new(SuiteId::Sm);
    let chain = w.chain.clone();
    let regs: Vec<_> = m.iter_mut().take(5).map(|x| x.register(&chain)).collect();
    w.block(regs).unwrap();
    // The court sends to justice, copy to procuratorate (see `anchor`).
    let (doc, call) = anchor(w.runtime.suite(), 9, "justice");
    let t = m[0].tx(&chain, call);
    w.block(vec![t]).unwrap();
    let receipt = Call::Receipt(ReceiptCall { doc_hash: doc });
    // Justice (recipient) and the procuratorate (copy) acknowledge; police may not.
    let (j, p, police) =
        (m[4].tx(&chain, receipt.clone()), m[1].tx(&chain, receipt.clone()), m[2].tx(&chain, receipt.clone()));
    let results = w.block(vec![j, p, police]).unwrap();
    assert_eq!(results[0], Ok(()));
    assert_eq!(results[1], Ok(()));
    assert!(matches!(&results[2], Err(CallError::NotAddressed { agency, .. }) if agency.as_str() == "police"));
    let r = Runtime::receipt(&w.state, &doc, &"justice".parse().unwrap()).unwrap();
    assert_eq!(r.height, 3);
    assert!(Runtime::receipt(&w.state, &doc, &"police".parse().unwrap()).is_none());
    // A second receipt of the same agency is refused; a receipt of an unknown document too.
    let again = m[4].tx(&chain, receipt);
    let (missing, _) = anchor(w.runtime.suite(), 99, "justice");
    let unknown = m[4].tx(&chain, Call::Receipt(ReceiptCall { doc_hash: missing }));
    let results = w.block(vec![again, unknown]).unwrap();
    assert!(matches!(results[0], Err(CallError::AlreadyReceived { .. })));
    assert_eq!(results[1], Err(CallError::NotAnchored(missing)));
}

#[test]
fn state_read_trait_sees_committed_values() {
    let mut s: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    s.insert(b"a".to_vec(), b"1".to_vec());
    assert_eq!(StateRead::get(&s, b"a"), Some(b"1".to_vec()));
    assert_eq!(StateRead::get(&s, b"b"), None);
}

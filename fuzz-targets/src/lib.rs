//! Fuzz entry points for every decoder of untrusted bytes and for the contracts' call dispatch.
//!
//! One `pub fn <target>(data: &[u8])` per target. Each decodes the bytes the way the node, the
//! CLI or the verifier does, and when decoding succeeds checks what must then hold: the format
//! is canonical (re-encoding gives back exactly the input, so one value has one encoding and
//! one hash), the whole input was consumed, and every verification function run on the
//! decoded value returns `Err` instead of panicking. A panic (or an abort, an overflow in a
//! debug build, an allocation failure) is a finding.
//!
//! The same functions are driven by `cargo fuzz` (`fuzz/fuzz_targets/<target>.rs`) and by the
//! stable test suite (`tests/it/`: the committed corpus, the regression inputs and a short
//! seeded mutation loop). See `docs/fuzzing.md`.
//!
//! The functions assert their invariants with `assert!`/`panic!` on purpose: a panic is how a
//! fuzzer learns that an invariant broke. Nothing else in them panics.
#![warn(missing_docs)]

pub mod mutate;
pub mod world;

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::StreamMessage;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::{PolkaCertificate, ValidatorProof};
use malachitebft_app_channel::app::types::sync::{Request, Response, Status};
use malachitebft_app_channel::app::types::{ProposedValue, SignedConsensusMsg};
use parity_scale_codec::Encode;

use custos_consensus::codec::{CustosCodec, decode_commit_cert, encode_commit_cert};
use custos_consensus::context::{CustosContext, ProposalPart};

use custos_contracts::evidence::{self, Bundle, TrustAnchor};
use custos_contracts::runtime;
use custos_contracts::state::{MAX_PROOF_BYTES, StateProof};
use custos_contracts::{Call, SignedTx};
use custos_dossier::{Manifest, SignedManifest};
use custos_primitives::block::Block;
use custos_primitives::codec::{MAX_DECODE_DEPTH, decode_exact};
use custos_primitives::crypto::{AnySuite, Hash, PublicKey, Signature, Suite, SuiteId};
use custos_primitives::merkle::{MerkleProof, MerkleTree};
use custos_primitives::types::{BlockHeader, ChainId, CommitCertificate};
use custos_primitives::x509::{self, Certificate};

pub use world::{World, world};

/// A fuzz entry point.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz/fuzz_targets/<name>.rs` and `fuzz/corpus/<name>/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("transaction", transaction),
    ("block", block),
    ("commit_certificate", commit_certificate),
    ("x509_certificate", x509_certificate),
    ("manifest", manifest),
    ("evidence_bundle", evidence_bundle),
    ("state_proof", state_proof),
    ("merkle_proof", merkle_proof),
    ("call_dispatch", call_dispatch),
    ("consensus_message", consensus_message),
];

/// The entry point named `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Asserts that `value` re-encodes to exactly `input`: the format has one encoding per value.
#[allow(clippy::panic)] // the point: a non-canonical encoding is a finding
fn assert_canonical<T: Encode + core::fmt::Debug>(what: &str, value: &T, input: &[u8]) {
    let again = value.encode();
    if again != input {
        panic!(
            "{what}: decoded from {} bytes but re-encodes to {} different bytes (non-canonical encoding)\n\
             input:     {}\nre-encoded: {}\nvalue: {value:?}",
            input.len(),
            again.len(),
            hex(input),
            hex(&again)
        );
    }
}

fn hex(b: &[u8]) -> String {
    const MAX: usize = 256;
    let s: String = b.iter().take(MAX).map(|x| format!("{x:02x}")).collect();
    if b.len() > MAX { format!("{s}… ({} bytes)", b.len()) } else { s }
}

/// Both suites with their default parameters.
fn suites() -> [AnySuite; 2] {
    [AnySuite::with_defaults(SuiteId::Sm), AnySuite::with_defaults(SuiteId::Intl)]
}

/// A valid public key of each suite: the SM2 key of a fixture member, and ed25519's base point.
fn some_keys() -> Vec<PublicKey> {
    let mut keys = Vec::new();
    if let Some(w) = world() {
        keys.extend(w.member_keys().first().copied());
    }
    // The ed25519 base point, compressed.
    let mut base = [0x66u8; 32];
    base[0] = 0x58;
    keys.extend(PublicKey::ed25519_from_bytes(&base).ok());
    keys
}

/// Signature checks must fail cleanly (no key signed fuzzer bytes) for any key of any suite.
#[allow(clippy::panic)]
fn assert_signature_refused(what: &str, msg: &[u8], sig: &Signature) {
    for suite in suites() {
        for key in some_keys() {
            if suite.verify(&key, msg, sig).is_ok() {
                panic!("{what}: a fuzzer-made signature verified under {} with {key:?}", suite.id());
            }
        }
    }
}

/// Transactions as the mempool and `SubmitTx` read them ([`runtime::decode_tx`], that is
/// `Transaction::<Call>::decode_untrusted`): canonical; its signature refused for every
/// key; the mempool's envelope checks ([`custos_contracts::Runtime::check_tx`]) against the
/// fixture's state return without panicking.
#[allow(clippy::panic)]
pub fn transaction(data: &[u8]) {
    let Ok(tx) = runtime::decode_tx(data) else { return };
    assert_canonical("transaction", &tx, data);
    if SignedTx::decode_untrusted(data).as_ref() != Ok(&tx) {
        panic!("transaction: decode_tx and Transaction::decode_untrusted disagree");
    }
    let payload = tx.unsigned().signing_payload();
    assert_signature_refused("transaction", &payload, &tx.signature);
    for suite in suites() {
        let id = runtime::tx_id(&suite, data);
        if id != tx.id(&suite) {
            panic!("transaction: the id of the bytes differs from the id of the decoded value");
        }
    }
    if let Some(w) = world() {
        // Signature checked and, separately, taken as known good (the cached path).
        let _ = w.runtime.check_tx(&w.state, data, w.height + 1, w.time_s(), false);
        let _ = w.runtime.check_tx(&w.state, data, w.height + 1, w.time_s(), true);
    }
}

/// Blocks as proposal parts and value sync deliver them ([`Block::decode_untrusted`]) and
/// headers ([`BlockHeader::decode_untrusted`]): canonical; at most `MAX_BLOCK_TXS`
/// transactions; the header hash, transaction ids and root computed; every transaction
/// decoded (or refused) like the node does.
#[allow(clippy::panic)]
pub fn block(data: &[u8]) {
    if let Ok(h) = BlockHeader::decode_untrusted(data) {
        assert_canonical("block header", &h, data);
        for suite in suites() {
            let _ = h.hash(&suite);
        }
    }
    let Ok(b) = Block::decode_untrusted(data) else { return };
    assert_canonical("block", &b, data);
    if b.txs.len() > custos_primitives::block::MAX_BLOCK_TXS {
        panic!("block: {} transactions accepted", b.txs.len());
    }
    for suite in suites() {
        let _ = b.hash(&suite);
        let ids = b.tx_ids(&suite);
        let _ = custos_primitives::block::tx_root(&suite, &ids);
    }
    for tx in &b.txs {
        if let Ok(t) = runtime::decode_tx(tx) {
            assert_canonical("transaction in a block", &t, tx);
        }
    }
    if let Some(w) = world() {
        // What a validator does with a proposed block: execute it on committed state.
        let _ = w.runtime.execute_block(&w.state, w.height + 1, w.time_ms, &b.txs, &|_| false);
    }
}

/// Commit certificates ([`CommitCertificate::decode_untrusted`]): canonical; at most
/// `MAX_VALIDATORS` signatures; every precommit signature refused for every key.
#[allow(clippy::panic)]
pub fn commit_certificate(data: &[u8]) {
    let Ok(c) = CommitCertificate::decode_untrusted(data) else { return };
    assert_canonical("commit certificate", &c, data);
    let chain = world().map(|w| w.runtime.chain_id().clone()).or_else(|| ChainId::new("custos-fuzz").ok());
    let Some(chain) = chain else { return };
    let payload = c.payload(&chain).signing_bytes();
    // Verifying every signature with every key is slow (SM2): the first few are enough.
    for s in c.signatures.iter().take(4) {
        assert_signature_refused("commit certificate", &payload, &s.signature);
    }
}

/// X.509 member certificates ([`Certificate::from_der`], what `RegisterMember`, `AddAgency`,
/// `AddNode`, genesis and bundles go through): only canonical DER accepted (the stored DER is
/// the input); the accessors, PEM round trip, fingerprint, validity and chain checks against
/// the fixture's CAs (and the certificate itself as a CA) return without panicking.
#[allow(clippy::panic)]
pub fn x509_certificate(data: &[u8]) {
    let Ok(cert) = Certificate::from_der(data) else { return };
    if cert.der() != data {
        panic!("x509: the certificate's DER differs from the input");
    }
    match Certificate::from_pem(&cert.to_pem()) {
        Ok(again) if again.der() == data => {}
        other => panic!("x509: PEM round trip failed: {other:?}"),
    }
    let _ = (cert.subject(), cert.issuer(), cert.common_name(), cert.agency(), cert.role(), cert.serial_hex());
    let _ = (cert.is_ca(), cert.key_usage(), cert.ext_key_usage(), cert.is_transport(), cert.suite());
    let at = world().map_or(1_780_279_200, World::time_s);
    for t in [at, cert.not_before(), cert.not_after(), i64::MIN, i64::MAX] {
        let _ = cert.check_validity(t);
    }
    for suite in suites() {
        let _ = cert.fingerprint(&suite);
        let _ = cert.verify_signed_by(&suite, &cert);
        let _ = cert.verify_as_ca(&suite, at);
        let _ = x509::verify_member(&suite, &cert, &cert, at, None);
        let _ = x509::verify_transport(&suite, &cert, &cert, at, None);
        if let Some(w) = world() {
            for ca in w.cas().take(1) {
                let _ = x509::verify_member(&suite, &cert, ca, at, None);
                let _ = x509::verify_transport(&suite, &cert, ca, at, None);
                let _ = cert.verify_signed_by(&suite, ca);
            }
        }
    }
}

/// E-dossier manifests ([`Manifest::decode_untrusted`], [`SignedManifest::decode_untrusted`],
/// what a fetching node reads from the issuing node): canonical; valid
/// ([`Manifest::validate`] holds for what decoding accepted); chunk arithmetic defined for every
/// chunk; the signature refused for every key.
#[allow(clippy::panic)]
pub fn manifest(data: &[u8]) {
    if let Ok(m) = Manifest::decode_untrusted(data) {
        assert_canonical("manifest", &m, data);
        check_manifest(&m);
    }
    if let Ok(s) = SignedManifest::decode_untrusted(data) {
        assert_canonical("signed manifest", &s, data);
        check_manifest(&s.manifest);
        for suite in suites() {
            for key in some_keys() {
                if s.verify(&suite, &key).is_ok() {
                    panic!("signed manifest: a fuzzer-made signature verified");
                }
            }
        }
    }
}

#[allow(clippy::panic)]
fn check_manifest(m: &Manifest) {
    if let Err(e) = m.validate() {
        panic!("manifest: decoding accepted a manifest that does not validate: {e}");
    }
    let _ = m.signing_payload();
    let n = u32::try_from(m.chunks.len()).unwrap_or(u32::MAX);
    for i in [0, n.saturating_sub(1), n, u32::MAX] {
        let _ = (m.chunk_plain_len(i), m.chunk_cipher_len(i));
    }
    for r in m.recipients.iter() {
        let _ = m.recipient(&r.agency);
    }
}

/// Evidence bundles ([`Bundle::from_bytes`], what `custos verify --bundle` reads from a file):
/// canonical; the offline verifier ([`evidence::verify`]) returns a report — against the
/// fixture's genesis and against the bundle's own genesis, so that fuzzed bundles reach the
/// header, certificate, proof and subject checks — and never a pass for a bundle whose
/// certificates no validator signed.
#[allow(clippy::panic)]
pub fn evidence_bundle(data: &[u8]) {
    let Ok(b) = Bundle::from_bytes(data) else { return };
    assert_canonical("evidence bundle", &b, data);
    if b.to_bytes() != data {
        panic!("evidence bundle: to_bytes differs from the input");
    }
    // The fixture's genesis (for most inputs the wrong one: the early refusal), and the
    // bundle's own (the full walk).
    let mut anchors = vec![TrustAnchor(world().map_or(Hash([0; 32]), |w| w.genesis_hash))];
    if let Some(h) = bundle_genesis_hash(&b).filter(|h| anchors[0].0 != *h) {
        anchors.push(TrustAnchor(h));
    }
    for a in anchors {
        let report = evidence::verify(&b, a);
        if report.failures.is_empty() && report.verified.is_none() {
            panic!("evidence bundle: a report with neither a verified subject nor a failure");
        }
    }
}

/// The hash of the genesis a bundle carries, when it is a valid genesis.
fn bundle_genesis_hash(b: &Bundle) -> Option<Hash> {
    let text = std::str::from_utf8(&b.genesis).ok()?;
    let g = custos_primitives::genesis::Genesis::from_json(text).ok()?;
    g.validate().ok().map(|v| v.hash)
}

/// Jellyfish Merkle state proofs ([`StateProof::decode_untrusted`], what `custos prove` and
/// bundles carry): canonical, at most `MAX_PROOF_BYTES`; verification against arbitrary roots
/// and keys, for inclusion and exclusion, in both suites, returns without panicking, and a
/// proof never verifies both a value and the absence of the same key.
#[allow(clippy::panic)]
pub fn state_proof(data: &[u8]) {
    let Ok(p) = StateProof::decode_untrusted(data) else { return };
    assert_canonical("state proof", &p, data);
    if data.len() > MAX_PROOF_BYTES {
        panic!("state proof: {} bytes accepted", data.len());
    }
    // Roots and keys: fixed ones, and the ones the proof's own leaf suggests.
    let key: &[u8] = b"doc/fuzz";
    let roots = [Hash([0; 32]), custos_contracts::state::EMPTY_ROOT, Hash([0xa5; 32])];
    for suite in suites() {
        let _ = p.is_inclusion_of(&suite, key);
        for root in roots {
            let included = p.verify(&suite, &root, key, Some(b"value")).is_ok();
            let excluded = p.verify(&suite, &root, key, None).is_ok();
            if included && excluded {
                panic!("state proof: proves both a value and the absence of {key:?} under {root}");
            }
        }
    }
}

/// RFC 9162 Merkle inclusion proofs ([`MerkleProof`], the transactions' paths in bundles):
/// decoded with `decode_exact`; canonical; `compute_root` and `verify` return without panicking
/// for any index and size; a proof made by [`MerkleTree::prove`] for the decoded shape verifies.
#[allow(clippy::panic)]
pub fn merkle_proof(data: &[u8]) {
    let Ok(p) = decode_exact::<MerkleProof>("merkle proof", data, 1 << 16) else { return };
    assert_canonical("merkle proof", &p, data);
    for suite in suites() {
        let leaf = b"leaf";
        let root = p.compute_root(&suite, &custos_primitives::merkle::leaf_hash(&suite, leaf));
        match root {
            Ok(r) => {
                if p.verify(&suite, leaf, &r).is_err() {
                    panic!("merkle proof: compute_root succeeded but verify refused the root it computed");
                }
            }
            Err(_) => {
                if p.verify(&suite, leaf, &Hash([0; 32])).is_ok() {
                    panic!("merkle proof: compute_root failed but verify accepted");
                }
            }
        }
        // A real tree of the proof's size (small sizes only: building costs a hash per leaf).
        if p.tree_size > 0 && p.tree_size <= 64 && p.leaf_index < p.tree_size {
            let leaves: Vec<Vec<u8>> = (0..p.tree_size).map(|i| i.to_le_bytes().to_vec()).collect();
            let tree = MerkleTree::new(&suite, &leaves);
            let Ok(index) = usize::try_from(p.leaf_index) else { return };
            match tree.prove(&suite, index) {
                Some(real) => {
                    let Some(l) = leaves.get(index) else { return };
                    if real.verify(&suite, l, &tree.root(&suite)).is_err() {
                        panic!("merkle proof: a proof made by the tree does not verify");
                    }
                }
                None => panic!("merkle proof: the tree refused to prove index {index} of {}", p.tree_size),
            }
        }
    }
}

/// The contracts' call dispatch: the input is a sequence of `(signer, flags, SCALE Call)`
/// records, executed as transactions of the fixture's registered members (clerks and admins of
/// the five agencies) in one or more blocks on a fresh copy of the fixture's state (the
/// genesis registry and the registrations). Signatures are taken as known good (the
/// `verified` path), so that every call reaches its module. Execution must never panic, must be
/// deterministic (the same blocks executed twice give the same writes and outcomes), and every
/// transaction result written must decode.
///
/// Record: `signer` picks a member (`signer % members`; `0xff` an unknown signer); `flags` bit 0
/// starts a new block before it, bit 1 uses a wrong nonce, bits 2–7 advance the block time
/// by that many days (with a new block).
#[allow(clippy::panic)]
pub fn call_dispatch(data: &[u8]) {
    let Some(w) = world() else { return };
    let blocks = parse_calls(data);
    if blocks.is_empty() {
        return;
    }
    let a = w.run(&blocks);
    let b = w.run(&blocks);
    if a != b {
        panic!("call dispatch: the same blocks executed twice gave different results");
    }
}

/// One parsed record of [`call_dispatch`]'s input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRecord {
    /// Signer selector.
    pub signer: u8,
    /// Flags (see [`call_dispatch`]).
    pub flags: u8,
    /// The call.
    pub call: Call,
}

/// Splits [`call_dispatch`]'s input into records (stops at the first that does not decode).
pub fn parse_calls(data: &[u8]) -> Vec<CallRecord> {
    let mut input = data;
    let mut out = Vec::new();
    while let [signer, flags, rest @ ..] = input {
        let mut rest: &[u8] = rest;
        let Ok(call) = <Call as parity_scale_codec::DecodeLimit>::decode_with_depth_limit(MAX_DECODE_DEPTH, &mut rest)
        else {
            break;
        };
        out.push(CallRecord { signer: *signer, flags: *flags, call });
        input = rest;
        if out.len() >= 64 {
            break;
        }
    }
    out
}

/// Encodes records as [`call_dispatch`] input (for the corpus generator).
pub fn encode_calls(records: &[CallRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.push(r.signer);
        out.push(r.flags);
        r.call.encode_to(&mut out);
    }
    out
}

/// Decodes `data` as a `T` with the consensus codec; when it decodes and re-encodes, the
/// re-encoding must decode again and re-encode to the same bytes (one wire form per value).
#[allow(clippy::panic)] // the point: a codec that does not round-trip is a finding
fn consensus_round_trip<T>(what: &str, data: &[u8])
where
    CustosCodec: Codec<T>,
{
    let Ok(value) = Codec::<T>::decode(&CustosCodec, Bytes::copy_from_slice(data)) else { return };
    // Encoding may refuse a value the wire form cannot carry; that is not a finding.
    let Ok(first) = CustosCodec.encode(&value) else { return };
    let again = match Codec::<T>::decode(&CustosCodec, first.clone()) {
        Ok(v) => v,
        Err(e) => panic!("{what}: its own encoding does not decode: {e}\nbytes: {}", hex(&first)),
    };
    match CustosCodec.encode(&again) {
        Ok(second) if second == first => {}
        Ok(second) => panic!("{what}: encoding is not stable\nfirst:  {}\nsecond: {}", hex(&first), hex(&second)),
        Err(e) => panic!("{what}: a decoded value does not encode again: {e}"),
    }
}

/// The consensus codec (`CustosCodec`: peer-to-peer consensus messages, proposal parts and
/// their streams, liveness messages, value-sync requests, responses and status, the WAL's
/// proposed values, polka certificates, validator proofs, and the store's commit
/// certificates): bytes a peer sends are decoded as every kind; whatever decodes must round-trip
/// ([`consensus_round_trip`]); stored commit certificates re-encode to exactly the input.
pub fn consensus_message(data: &[u8]) {
    consensus_round_trip::<ProposalPart>("proposal part", data);
    consensus_round_trip::<StreamMessage<ProposalPart>>("stream message", data);
    consensus_round_trip::<SignedConsensusMsg<CustosContext>>("consensus message", data);
    consensus_round_trip::<LivenessMsg<CustosContext>>("liveness message", data);
    consensus_round_trip::<Request<CustosContext>>("sync request", data);
    consensus_round_trip::<Response<CustosContext>>("sync response", data);
    consensus_round_trip::<Status<CustosContext>>("sync status", data);
    consensus_round_trip::<ProposedValue<CustosContext>>("proposed value", data);
    consensus_round_trip::<PolkaCertificate<CustosContext>>("polka certificate", data);
    consensus_round_trip::<ValidatorProof<CustosContext>>("validator proof", data);
    if let Ok(c) = decode_commit_cert(data) {
        let again = encode_commit_cert(&c);
        assert_eq!(again, data, "stored commit certificate: non-canonical encoding");
    }
}

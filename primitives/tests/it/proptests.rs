//! Property tests: SCALE round trips of every wire type, and Merkle inclusion proofs
//! (every leaf proves; any single altered proof component fails, exactly as the tree's
//! shape predicts). Both suites wherever a suite is involved.

use std::fmt::Debug;
use std::sync::OnceLock;

use custos_primitives::AnySuite;
use custos_primitives::codec::{self, BoundedVec, CodecError};
use custos_primitives::crypto::{CryptoError, Hash, PublicKey, Signature, SigningKey, Suite, SuiteId};
use custos_primitives::merkle::{self, MAX_PATH_LEN, MerkleError, MerkleProof, MerkleTree};
use custos_primitives::types::{
    AgencyId, BlockHash, BlockHeader, CertFingerprint, ChainId, CommitCertificate, CommitSignature, MAX_VALIDATORS,
    NodeId, Transaction, UnsignedTransaction,
};
use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use proptest::prelude::*;
use proptest::sample::Index;

/// `prop_assert!(matches!(value, pattern))` with the value in the failure message.
macro_rules! prop_assert_matches {
    ($value:expr, $pattern:pat $(if $guard:expr)? $(,)?) => {{
        let value = $value;
        prop_assert!(
            matches!(value, $pattern $(if $guard)?),
            "{:?} does not match {}",
            value,
            stringify!($pattern)
        );
    }};
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(64)
}

// ---------------------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------------------

fn suite_id() -> impl Strategy<Value = SuiteId> {
    prop_oneof![Just(SuiteId::Sm), Just(SuiteId::Intl)]
}

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn signature() -> impl Strategy<Value = Signature> {
    (suite_id(), any::<[u8; 64]>()).prop_map(|(suite, bytes)| Signature { suite, bytes })
}

fn public_key() -> impl Strategy<Value = PublicKey> {
    prop_oneof![any::<[u8; 65]>().prop_map(PublicKey::Sm2), any::<[u8; 32]>().prop_map(PublicKey::Ed25519),]
}

const CHAIN_ID_RE: &str = "[a-z0-9][a-z0-9._-]{0,63}";
const AGENCY_ID_RE: &str = "[a-z0-9][a-z0-9._-]{0,31}";

fn chain_id() -> impl Strategy<Value = ChainId> {
    CHAIN_ID_RE.prop_map(|s| ChainId::new(&s).expect("valid by construction"))
}

fn agency_id() -> impl Strategy<Value = AgencyId> {
    AGENCY_ID_RE.prop_map(|s| AgencyId::new(&s).expect("valid by construction"))
}

fn header() -> impl Strategy<Value = BlockHeader> {
    (chain_id(), any::<u64>(), hash(), any::<u64>(), hash(), hash(), hash(), hash()).prop_map(
        |(chain_id, height, parent, time_ms, proposer, tx_root, state_root, validator_set_hash)| BlockHeader {
            chain_id,
            height,
            parent: BlockHash(parent),
            time_ms,
            proposer: NodeId(proposer),
            tx_root,
            state_root,
            validator_set_hash,
        },
    )
}

fn commit_certificate() -> impl Strategy<Value = CommitCertificate> {
    let sig = (hash(), signature()).prop_map(|(v, signature)| CommitSignature { validator: NodeId(v), signature });
    (any::<u64>(), any::<u32>(), hash(), prop::collection::vec(sig, 0..=24)).prop_map(|(height, round, block, sigs)| {
        CommitCertificate {
            height,
            round,
            block: BlockHash(block),
            signatures: BoundedVec::try_from(sigs).expect("within MAX_VALIDATORS"),
        }
    })
}

fn merkle_proof() -> impl Strategy<Value = MerkleProof> {
    (any::<u64>(), any::<u64>(), prop::collection::vec(hash(), 0..=MAX_PATH_LEN as usize)).prop_map(
        |(leaf_index, tree_size, path)| MerkleProof {
            leaf_index,
            tree_size,
            path: BoundedVec::try_from(path).expect("within MAX_PATH_LEN"),
        },
    )
}

/// One signing key per suite, made once (key generation is not the point here).
fn key(id: SuiteId) -> &'static SigningKey {
    static KEYS: OnceLock<[SigningKey; 2]> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        [SuiteId::Sm, SuiteId::Intl].map(|id| AnySuite::with_defaults(id).generate_signing_key().expect("key"))
    });
    match id {
        SuiteId::Sm => &keys[0],
        SuiteId::Intl => &keys[1],
    }
}

// ---------------------------------------------------------------------------------------
// Round trips.
// ---------------------------------------------------------------------------------------

/// Encodes `v` and checks: within `MaxEncodedLen`, decodes back through the bounded
/// untrusted decoder, a random strict prefix is invalid, and a trailing byte is refused.
fn bounded_round_trip<T>(v: &T, cut: Index) -> Result<(), TestCaseError>
where
    T: Encode + Decode + MaxEncodedLen + PartialEq + Debug,
{
    let bytes = v.encode();
    prop_assert!(bytes.len() <= T::max_encoded_len());
    prop_assert_eq!(bytes.len(), v.encoded_size());
    prop_assert_eq!(&codec::decode_bounded::<T>("value", &bytes).expect("decodes"), v);
    let short = &bytes[..cut.index(bytes.len())];
    prop_assert_matches!(codec::decode_bounded::<T>("value", short), Err(CodecError::Invalid { .. }));
    let mut long = bytes.clone();
    long.push(0);
    prop_assert_matches!(
        codec::decode_exact::<T>("value", &long, usize::MAX),
        Err(CodecError::TrailingBytes { remaining: 1, .. })
    );
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hash_round_trips(h in hash(), cut in any::<Index>()) {
        bounded_round_trip(&h, cut)?;
        prop_assert_eq!(Hash::from_hex(&h.to_hex()).expect("hex"), h);
        let json = serde_json::to_string(&h).expect("json");
        prop_assert_eq!(serde_json::from_str::<Hash>(&json).expect("json"), h);
        prop_assert_eq!(h.encode(), h.0.to_vec());
    }

    #[test]
    fn signature_round_trips(s in signature(), cut in any::<Index>()) {
        bounded_round_trip(&s, cut)?;
        prop_assert_eq!(s.encode().len(), 65);
        prop_assert_eq!(s.encode()[0], s.suite as u8);
    }

    #[test]
    fn public_key_round_trips(k in public_key(), cut in any::<Index>()) {
        bounded_round_trip(&k, cut)?;
        prop_assert_eq!(k.encode().len(), 1 + k.as_bytes().len());
    }

    #[test]
    fn real_public_keys_round_trip_through_spki(id in suite_id(), cut in any::<Index>()) {
        let k = key(id).public_key();
        bounded_round_trip(&k, cut)?;
        prop_assert_eq!(PublicKey::from_spki_der(&k.to_spki_der().expect("spki")).expect("spki"), k);
    }

    #[test]
    fn ids_round_trip(c in chain_id(), a in agency_id(), cut in any::<Index>()) {
        bounded_round_trip(&c, cut)?;
        bounded_round_trip(&a, cut)?;
        prop_assert_eq!(c.as_str().parse::<ChainId>().expect("parse"), c.clone());
        let json = serde_json::to_string(&a).expect("json");
        prop_assert_eq!(json.clone(), format!("\"{a}\""));
        prop_assert_eq!(serde_json::from_str::<AgencyId>(&json).expect("json"), a.clone());
        // An agency id is a valid chain id; a chain id of more than 32 bytes is not an agency id.
        prop_assert!(ChainId::new(a.as_str()).is_ok());
        prop_assert_eq!(AgencyId::new(c.as_str()).is_ok(), c.as_str().len() <= AgencyId::MAX_LEN);
    }

    #[test]
    fn invalid_ids_are_refused_by_constructor_and_decoder(
        good in AGENCY_ID_RE,
        bad in "[A-Z /:\u{4e00}-\u{4e10}]",
        at in any::<Index>(),
    ) {
        // Insert one forbidden character (upper case, space, slash, colon, CJK).
        let mut s = good.clone();
        let pos = at.index(s.len() + 1);
        s.insert_str(pos, &bad);
        prop_assert!(AgencyId::new(&s).is_err());
        prop_assert!(ChainId::new(&s).is_err());
        let bytes = s.as_bytes().to_vec().encode();
        if bytes.len() <= AgencyId::max_encoded_len() {
            prop_assert_matches!(
                codec::decode_bounded::<AgencyId>("agency id", &bytes),
                Err(CodecError::Invalid { .. })
            );
        }
        prop_assert_matches!(
            codec::decode_bounded::<ChainId>("chain id", &bytes),
            Err(CodecError::Invalid { .. })
        );
    }

    #[test]
    fn transaction_round_trips_and_stays_signed(
        id in suite_id(),
        chain in chain_id(),
        signer in hash(),
        nonce in any::<u64>(),
        valid_until in any::<u64>(),
        call in prop::collection::vec(any::<u8>(), 0..512),
        cut in any::<Index>(),
    ) {
        let suite = AnySuite::with_defaults(id);
        let k = key(id);
        let tx = UnsignedTransaction {
            chain_id: chain,
            signer: CertFingerprint(signer),
            nonce,
            valid_until,
            call,
        }
        .sign(k)
        .expect("sign");
        let bytes = tx.encode();
        let back = Transaction::<Vec<u8>>::decode_untrusted(&bytes).expect("decodes");
        prop_assert_eq!(&back, &tx);
        prop_assert_eq!(back.id(&suite), tx.id(&suite));
        back.verify_signature(&suite, &k.public_key()).expect("still verifies");
        // The other suite refuses it as a suite mismatch, not as a bad signature.
        let other = AnySuite::with_defaults(if id == SuiteId::Sm { SuiteId::Intl } else { SuiteId::Sm });
        prop_assert_matches!(
            back.verify_signature(&other, &k.public_key()),
            Err(CryptoError::WrongSuite { .. })
        );
        // Any changed signed field breaks the signature.
        let mut changed = back.clone();
        changed.nonce = changed.nonce.wrapping_add(1);
        prop_assert_eq!(
            changed.verify_signature(&suite, &k.public_key()),
            Err(CryptoError::BadSignature { suite: id })
        );
        let short = &bytes[..cut.index(bytes.len())];
        prop_assert_matches!(
            Transaction::<Vec<u8>>::decode_untrusted(short),
            Err(CodecError::Invalid { .. })
        );
        let mut long = bytes.clone();
        long.push(0);
        prop_assert_eq!(
            Transaction::<Vec<u8>>::decode_untrusted(&long),
            Err(CodecError::TrailingBytes { what: "transaction", remaining: 1 })
        );
    }

    #[test]
    fn header_round_trips(h in header(), id in suite_id(), cut in any::<Index>()) {
        let suite = AnySuite::with_defaults(id);
        let bytes = h.encode();
        prop_assert!(bytes.len() <= BlockHeader::max_encoded_len());
        let back = BlockHeader::decode_untrusted(&bytes).expect("decodes");
        prop_assert_eq!(&back, &h);
        prop_assert_eq!(back.hash(&suite), h.hash(&suite));
        let mut next = h.clone();
        next.height = next.height.wrapping_add(1);
        prop_assert_ne!(next.hash(&suite), h.hash(&suite));
        prop_assert!(BlockHeader::decode_untrusted(&bytes[..cut.index(bytes.len())]).is_err());
    }

    #[test]
    fn commit_certificate_round_trips(c in commit_certificate(), cut in any::<Index>()) {
        let bytes = c.encode();
        prop_assert!(bytes.len() <= CommitCertificate::max_encoded_len());
        prop_assert_eq!(&CommitCertificate::decode_untrusted(&bytes).expect("decodes"), &c);
        prop_assert_matches!(
            CommitCertificate::decode_untrusted(&bytes[..cut.index(bytes.len())]),
            Err(CodecError::Invalid { .. })
        );
        let mut long = bytes.clone();
        long.push(0);
        prop_assert_matches!(
            CommitCertificate::decode_untrusted(&long),
            Err(CodecError::TrailingBytes { .. })
        );
        prop_assert!(c.signatures.len() <= MAX_VALIDATORS as usize);
    }

    #[test]
    fn merkle_proof_round_trips(p in merkle_proof(), cut in any::<Index>()) {
        bounded_round_trip(&p, cut)?;
        // One path element more than MAX_PATH_LEN does not decode.
        let mut path: Vec<Hash> = p.path.to_vec();
        path.resize(MAX_PATH_LEN as usize + 1, Hash::ZERO);
        let over = (p.leaf_index, p.tree_size, path).encode();
        prop_assert_matches!(
            codec::decode_exact::<MerkleProof>("merkle proof", &over, usize::MAX),
            Err(CodecError::Invalid { .. })
        );
    }
}

// ---------------------------------------------------------------------------------------
// Merkle proofs.
// ---------------------------------------------------------------------------------------

/// The sides of a leaf's siblings, leaf to root (`true`: the sibling is on the left),
/// computed top-down from the definition (split at the largest power of two below the
/// size) — independently of the bottom-up index arithmetic of `MerkleProof::compute_root`.
fn shape(mut index: u64, mut size: u64) -> Vec<bool> {
    let mut sides = Vec::new();
    while size > 1 {
        // Largest power of two below `size`, without overflow for sizes above 2^63.
        let k = 1u64 << (63 - (size - 1).leading_zeros());
        if index < k {
            sides.push(false);
            size = k;
        } else {
            sides.push(true);
            index -= k;
            size -= k;
        }
    }
    sides.reverse();
    sides
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    OutOfRange,
    PathLength,
    RootMismatch,
}

fn outcome(r: &Result<(), MerkleError>) -> Outcome {
    match r {
        Ok(()) => Outcome::Ok,
        Err(MerkleError::IndexOutOfRange { .. }) => Outcome::OutOfRange,
        Err(MerkleError::PathLength { .. }) => Outcome::PathLength,
        Err(MerkleError::RootMismatch { .. }) => Outcome::RootMismatch,
    }
}

/// What verifying the genuine path of leaf `index` of a `size`-leaf tree must give when
/// the proof claims `claimed_index` and `claimed_size` instead. The root commits to the
/// sequence of sibling sides, not to the index or size themselves (as in RFC 9162, where
/// the size comes from the signed tree head): a claim with the same sides verifies.
fn predicted(index: u64, size: u64, claimed_index: u64, claimed_size: u64) -> Outcome {
    if claimed_index >= claimed_size {
        return Outcome::OutOfRange;
    }
    let (real, claimed) = (shape(index, size), shape(claimed_index, claimed_size));
    if real.len() != claimed.len() {
        Outcome::PathLength
    } else if real == claimed {
        Outcome::Ok
    } else {
        Outcome::RootMismatch
    }
}

/// A small deterministic generator for the per-leaf choices of one test case.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 17
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn with_path(p: &MerkleProof, path: Vec<Hash>) -> MerkleProof {
    MerkleProof {
        leaf_index: p.leaf_index,
        tree_size: p.tree_size,
        path: BoundedVec::try_from(path).expect("within MAX_PATH_LEN"),
    }
}

/// Builds the tree of `leaves` (distinct) and checks every leaf's proof and, for each
/// leaf, one alteration of each kind chosen by `seed`.
fn check_tree(suite: &AnySuite, leaves: &[Vec<u8>], seed: u64) -> Result<(), TestCaseError> {
    let n = leaves.len();
    let size = n as u64;
    let tree = MerkleTree::new(suite, leaves);
    prop_assert_eq!(tree.len(), n);
    let root = tree.root(suite);
    prop_assert!(tree.prove(suite, n).is_none());
    let mut rng = Lcg(seed);
    for (i, leaf) in leaves.iter().enumerate() {
        let index = i as u64;
        let p = tree.prove(suite, i).expect("in range");
        prop_assert_eq!(p.leaf_index, index);
        prop_assert_eq!(p.tree_size, size);
        prop_assert_eq!(p.path.len(), shape(index, size).len());
        prop_assert_eq!(p.verify(suite, leaf, &root), Ok(()));
        prop_assert_eq!(p.compute_root(suite, &merkle::leaf_hash(suite, leaf)), Ok(root));

        // A flipped bit in one path element.
        if !p.path.is_empty() {
            let mut q = p.clone();
            let j = rng.below(p.path.len() as u64) as usize;
            let bit = rng.below(256) as usize;
            q.path[j].0[bit / 8] ^= 1 << (bit % 8);
            prop_assert_matches!(q.verify(suite, leaf, &root), Err(MerkleError::RootMismatch { .. }));
        }

        // A changed leaf index: another leaf's position never verifies (its sides differ).
        if n > 1 {
            let other = (index + 1 + rng.below(size - 1)) % size;
            prop_assert_ne!(other, index);
            let expected = predicted(index, size, other, size);
            prop_assert_ne!(&expected, &Outcome::Ok);
            let q = MerkleProof { leaf_index: other, ..p.clone() };
            prop_assert_eq!(outcome(&q.verify(suite, leaf, &root)), expected);
        }
        for beyond in [size, size + rng.below(1000), u64::MAX] {
            let q = MerkleProof { leaf_index: beyond, ..p.clone() };
            prop_assert_matches!(q.verify(suite, leaf, &root), Err(MerkleError::IndexOutOfRange { .. }));
        }

        // A changed tree size: fails unless the new size puts the leaf at the very same
        // sides (then the proof is the same computation; see `predicted`).
        for claimed in [size - 1, size + 1, 1 + rng.below(2 * size + 8), size.saturating_mul(2), 0, u64::MAX] {
            if claimed == size {
                continue;
            }
            let q = MerkleProof { tree_size: claimed, ..p.clone() };
            let got = outcome(&q.verify(suite, leaf, &root));
            prop_assert_eq!(got, predicted(index, size, index, claimed), "size {} -> {}", size, claimed);
        }

        // A dropped or an added path element.
        if !p.path.is_empty() {
            let mut path = p.path.to_vec();
            path.remove(rng.below(path.len() as u64) as usize);
            let r = with_path(&p, path).verify(suite, leaf, &root);
            prop_assert!(matches!(r, Err(MerkleError::PathLength { .. })), "{:?}", r);
        }
        let mut path = p.path.to_vec();
        let extra = Hash(root.0.map(|b| b ^ (rng.next() as u8)));
        path.insert(rng.below(path.len() as u64 + 1) as usize, extra);
        let r = with_path(&p, path).verify(suite, leaf, &root);
        prop_assert!(matches!(r, Err(MerkleError::PathLength { .. })), "{:?}", r);

        // A different leaf: another leaf of the tree, or bytes not in it.
        if n > 1 {
            let other = &leaves[(i + 1 + rng.below(size - 1) as usize) % n];
            prop_assert_matches!(p.verify(suite, other, &root), Err(MerkleError::RootMismatch { .. }));
        }
        let mut foreign = leaf.clone();
        foreign.push(0xa5);
        if !leaves.contains(&foreign) {
            prop_assert_matches!(p.verify(suite, &foreign, &root), Err(MerkleError::RootMismatch { .. }));
        }
        // The leaf hash itself is not accepted as the leaf (domain separation).
        let hashed = merkle::leaf_hash(suite, leaf);
        prop_assert!(p.verify(suite, &hashed.0, &root).is_err());
        // The right leaf against another root.
        prop_assert!(p.verify(suite, leaf, &Hash(root.0.map(|b| !b))).is_err());
    }
    Ok(())
}

/// 1..200 distinct leaves of 0..24 bytes, in random order.
fn distinct_leaves() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::btree_set(prop::collection::vec(any::<u8>(), 0..24), 1..200)
        .prop_map(|s| s.into_iter().collect::<Vec<_>>())
        .prop_shuffle()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn merkle_every_leaf_proves_and_any_alteration_fails(
        leaves in distinct_leaves(),
        seed in any::<u64>(),
    ) {
        for id in [SuiteId::Sm, SuiteId::Intl] {
            check_tree(&AnySuite::with_defaults(id), &leaves, seed)?;
        }
    }
}

/// Exhaustively for small trees: every leaf, every claimed index and size, as predicted.
#[test]
fn merkle_small_trees_exhaustively() {
    for id in [SuiteId::Sm, SuiteId::Intl] {
        let suite = AnySuite::with_defaults(id);
        for n in 1..=24u64 {
            let leaves: Vec<Vec<u8>> = (0..n).map(|i| format!("leaf-{i}").into_bytes()).collect();
            let tree = MerkleTree::new(&suite, &leaves);
            let root = tree.root(&suite);
            for (i, leaf) in leaves.iter().enumerate() {
                let index = i as u64;
                let p = tree.prove(&suite, i).expect("in range");
                for claimed_index in 0..n + 2 {
                    for claimed_size in 0..=40u64 {
                        let q = MerkleProof { leaf_index: claimed_index, tree_size: claimed_size, ..p.clone() };
                        assert_eq!(
                            outcome(&q.verify(&suite, leaf, &root)),
                            predicted(index, n, claimed_index, claimed_size),
                            "{id} leaf {i} of {n} claimed as {claimed_index} of {claimed_size}"
                        );
                    }
                }
            }
        }
    }
}

/// Pins a property of RFC 9162-shaped proofs that callers must know: the root commits to
/// the leaf's sibling sides, not to `tree_size` (nor to `leaf_index` once the size may also
/// be changed). A verifier must take the tree size from a trusted source (e.g. the block's
/// transaction count), never from the proof.
#[test]
fn merkle_proof_size_is_not_bound_by_the_root() {
    for id in [SuiteId::Sm, SuiteId::Intl] {
        let suite = AnySuite::with_defaults(id);
        let leaves: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i]).collect();
        let tree = MerkleTree::new(&suite, &leaves);
        let root = tree.root(&suite);
        // Leaf 0 of 5 has the same sides as leaf 0 of 6, 7 or 8 (left, left, left).
        let p0 = tree.prove(&suite, 0).expect("proof");
        for claimed in 6..=8 {
            let q = MerkleProof { tree_size: claimed, ..p0.clone() };
            assert_eq!(q.verify(&suite, &leaves[0], &root), Ok(()));
        }
        assert!(matches!(
            MerkleProof { tree_size: 9, ..p0.clone() }.verify(&suite, &leaves[0], &root),
            Err(MerkleError::PathLength { .. })
        ));
        // Leaf 4 of 5 (a lone right subtree) reads as leaf 1 of 2.
        let p4 = tree.prove(&suite, 4).expect("proof");
        let q = MerkleProof { leaf_index: 1, tree_size: 2, ..p4.clone() };
        assert_eq!(q.verify(&suite, &leaves[4], &root), Ok(()));
        // With the true size, the index is bound.
        for other in 0..4 {
            let q = MerkleProof { leaf_index: other, ..p4.clone() };
            assert!(q.verify(&suite, &leaves[4], &root).is_err());
        }
    }
}

/// Proofs claiming huge trees (as untrusted bytes may) are answered at once, not by a loop
/// that never ends: `tree_size` above 2^63 once made the path-length computation spin
/// forever (`k << 1` wrapped to 0).
#[test]
fn merkle_huge_claimed_sizes_terminate() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let suite = AnySuite::with_defaults(SuiteId::Intl);
        let leaves = [b"a".to_vec(), b"b".to_vec()];
        let tree = MerkleTree::new(&suite, &leaves);
        let root = tree.root(&suite);
        let p = tree.prove(&suite, 1).expect("proof");
        let mut results = Vec::new();
        for size in [(1u64 << 63) + 1, u64::MAX - 1, u64::MAX] {
            for index in [0, 1, size - 1] {
                // The genuine one-sibling path, claimed for the huge tree.
                let q = MerkleProof { leaf_index: index, tree_size: size, ..p.clone() };
                let got = outcome(&q.verify(&suite, &leaves[1], &root));
                results.push((size, index, got, predicted(1, 2, index, size)));
                // A made-up path of the length such a tree needs (up to 64 siblings).
                let full = with_path(&p, vec![Hash::ZERO; shape(index, size).len()]);
                let q = MerkleProof { leaf_index: index, tree_size: size, ..full };
                let got = outcome(&q.verify(&suite, &leaves[1], &root));
                results.push((size, index, got, Outcome::RootMismatch));
            }
        }
        tx.send(results).expect("send");
    });
    let results = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("MerkleProof::verify did not return within 20 s for a tree_size above 2^63");
    for (size, index, got, expected) in &results {
        assert_eq!(got, expected, "leaf {index} of {size}");
    }
    // The last leaf of a 2^63 + 1 tree sits alone on the right, as leaf 1 of 2 does.
    assert!(results.contains(&((1 << 63) + 1, 1 << 63, Outcome::Ok, Outcome::Ok)), "{results:?}");
    assert_eq!(shape(u64::MAX - 1, u64::MAX).len(), 63);
    assert_eq!(shape(0, u64::MAX).len(), 64);
    assert_eq!(shape(0, (1 << 63) + 1).len(), 64);
    assert_eq!(shape(1 << 63, (1 << 63) + 1), vec![true]);
}

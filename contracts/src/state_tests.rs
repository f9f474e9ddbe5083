#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use proptest::prelude::*;

use custos_primitives::crypto::{AnySuite, SuiteId};

use super::*;

type Writes = Vec<(Vec<u8>, Option<Vec<u8>>)>;

fn suites() -> [AnySuite; 2] {
    [AnySuite::with_defaults(SuiteId::Sm), AnySuite::with_defaults(SuiteId::Intl)]
}

fn put(k: &str, v: &str) -> (Vec<u8>, Option<Vec<u8>>) {
    (k.as_bytes().to_vec(), Some(v.as_bytes().to_vec()))
}

fn del(k: &str) -> (Vec<u8>, Option<Vec<u8>>) {
    (k.as_bytes().to_vec(), None)
}

/// The fixed write set of the golden vectors (key order, as the runtime produces it).
fn golden_writes() -> Writes {
    vec![put("doc/aa", "anchor-1"), put("member/01", "alice"), put("nonce/01", "1"), put("receipt/aa/gov", "r")]
}

/// Commits `blocks` as heights 1, 2, ... and returns the store with each height's root.
fn commit_all(suite: &AnySuite, blocks: &[Writes]) -> (MemTreeStore, Vec<Hash>) {
    let mut store = MemTreeStore::new();
    let mut roots = Vec::new();
    for (i, writes) in blocks.iter().enumerate() {
        let (root, batch) = compute_root(suite, &store, writes, i as u64 + 1).unwrap();
        store.apply(&batch);
        roots.push(root);
    }
    (store, roots)
}

#[test]
fn empty_root_is_the_placeholder_in_both_suites() {
    assert_eq!(EMPTY_ROOT.0, *b"SPARSE_MERKLE_PLACEHOLDER_HASH__");
    assert_eq!(EMPTY_ROOT.to_hex(), "5350415253455f4d45524b4c455f504c414345484f4c4445525f484153485f5f");
    for suite in suites() {
        let store = MemTreeStore::new();
        let (root, batch) = compute_root(&suite, &store, &[], 0).unwrap();
        assert_eq!(root, EMPTY_ROOT);
        let mut store = store;
        store.apply(&batch);
        assert_eq!(root_at(&suite, &store, 0).unwrap(), EMPTY_ROOT);
        // Block 1 with no writes on an empty store: still the empty root.
        let (root1, _) = compute_root(&suite, &MemTreeStore::new(), &[], 1).unwrap();
        assert_eq!(root1, EMPTY_ROOT);
        // Nothing is in the empty state, and that is provable.
        let (v, proof) = prove(&suite, &store, b"doc/aa", 0).unwrap();
        assert_eq!(v, None);
        assert_eq!(proof.leaf, None);
        assert!(proof.siblings.is_empty());
        proof.verify(&suite, &EMPTY_ROOT, b"doc/aa", None).unwrap();
        assert!(proof.verify(&suite, &EMPTY_ROOT, b"doc/aa", Some(b"x")).is_err());
    }
}

/// A one-key tree, computed by hand from jmt's hashing rules with the suite hash of
/// `custos-primitives`: root = H("JMT::LeafNode" ‖ H(key) ‖ H(value)).
#[test]
fn one_leaf_root_matches_an_independent_computation() {
    for suite in suites() {
        let (key, value) = (b"doc/aa".as_slice(), b"anchor-1".as_slice());
        let expected = suite.hash_parts(&[b"JMT::LeafNode", &suite.hash(key).0, &suite.hash(value).0]);
        let (_, roots) = commit_all(&suite, &[vec![(key.to_vec(), Some(value.to_vec()))]]);
        assert_eq!(roots[0], expected);
        assert_eq!(key_hash(&suite, key).0, suite.hash(key).0);
    }
}

#[test]
fn golden_roots() {
    let expected = [
        (SuiteId::Sm, "f9e209c1c1b16ee018a11e01a5566f12fc51472941b4738ec3283b448b4c09d5"),
        (SuiteId::Intl, "11a74e55d472809ce44b902f1fbbbfee99cb1c80af7488a8d0b799d4114a7189"),
    ];
    for (id, hex) in expected {
        let suite = AnySuite::with_defaults(id);
        let (_, roots) = commit_all(&suite, &[golden_writes()]);
        assert_eq!(roots[0].to_hex(), hex, "suite {id}");
    }
}

#[test]
fn golden_proof_encoding() {
    let suite = AnySuite::with_defaults(SuiteId::Intl);
    let (store, roots) = commit_all(&suite, &[golden_writes()]);
    let (value, proof) = prove(&suite, &store, b"doc/aa", 1).unwrap();
    assert_eq!(value.as_deref(), Some(b"anchor-1".as_slice()));
    let bytes = proof.encode();
    assert_eq!(
        hex::encode(&bytes),
        "014c1144554f5246eb873f595a10bb962981ba2d4708e8b61613a03f9c6207cfbee015669745eafb8afb5ee8930d0af31747d8b1e0658079db0b322750ec31a20b0c027a9646f8d8e8d40ce3f58d0330af1c6ac9f5c0e32700ecaea1e7c709142a9a8a6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b00015350415253455f4d45524b4c455f504c414345484f4c4445525f484153485f5fba9839ca030dca9dc32a52fcaccc11e23dee8b385918779491d37d6e6533dfe1"
    );
    let decoded = StateProof::decode_untrusted(&bytes).unwrap();
    assert_eq!(decoded, proof);
    assert_eq!(roots[0].to_hex(), "11a74e55d472809ce44b902f1fbbbfee99cb1c80af7488a8d0b799d4114a7189");
    decoded.verify(&suite, &roots[0], b"doc/aa", Some(b"anchor-1")).unwrap();
}

#[test]
fn inclusion_and_exclusion_in_both_suites() {
    for suite in suites() {
        let (store, roots) = commit_all(&suite, &[golden_writes()]);
        let root = roots[0];
        for (k, v) in golden_writes() {
            let v = v.unwrap();
            let (got, proof) = prove(&suite, &store, &k, 1).unwrap();
            assert_eq!(got.as_ref(), Some(&v));
            assert!(proof.is_inclusion_of(&suite, &k));
            proof.verify(&suite, &root, &k, Some(&v)).unwrap();
            // Wrong value, absence claim, wrong root, other key: all refused.
            assert!(matches!(
                proof.verify(&suite, &root, &k, Some(b"other")),
                Err(StateError::Verify { claim: "inclusion", .. })
            ));
            assert!(matches!(
                proof.verify(&suite, &root, &k, None),
                Err(StateError::Verify { claim: "exclusion", .. })
            ));
            assert!(proof.verify(&suite, &EMPTY_ROOT, &k, Some(&v)).is_err());
            assert!(proof.verify(&suite, &root, b"doc/zz", Some(&v)).is_err());
        }
        for absent in [b"doc/bb".as_slice(), b"receipt/aa/other", b"", b"x"] {
            let (got, proof) = prove(&suite, &store, absent, 1).unwrap();
            assert_eq!(got, None);
            assert!(!proof.is_inclusion_of(&suite, absent));
            proof.verify(&suite, &root, absent, None).unwrap();
            assert!(proof.verify(&suite, &root, absent, Some(b"r")).is_err());
        }
    }
}

#[test]
fn a_proof_of_one_suite_does_not_verify_in_the_other() {
    let [sm, intl] = suites();
    let (store, roots) = commit_all(&sm, &[golden_writes()]);
    let (_, proof) = prove(&sm, &store, b"doc/aa", 1).unwrap();
    proof.verify(&sm, &roots[0], b"doc/aa", Some(b"anchor-1")).unwrap();
    assert!(proof.verify(&intl, &roots[0], b"doc/aa", Some(b"anchor-1")).is_err());
}

#[test]
fn old_heights_stay_provable_after_updates_and_deletes() {
    for suite in suites() {
        let blocks =
            vec![golden_writes(), vec![put("doc/aa", "anchor-2"), put("doc/bb", "b")], vec![del("doc/aa")], vec![]];
        let (store, roots) = commit_all(&suite, &blocks);
        assert_eq!(roots[2], roots[3], "an empty block keeps the root");
        let expect = [Some(b"anchor-1".as_slice()), Some(b"anchor-2"), None, None];
        for (i, want) in expect.iter().enumerate() {
            let h = i as u64 + 1;
            assert_eq!(root_at(&suite, &store, h).unwrap(), roots[i]);
            let (got, proof) = prove(&suite, &store, b"doc/aa", h).unwrap();
            assert_eq!(got.as_deref(), *want, "height {h}");
            proof.verify(&suite, &roots[i], b"doc/aa", *want).unwrap();
        }
        // doc/bb is absent at height 1, present from 2 on.
        let (got, proof) = prove(&suite, &store, b"doc/bb", 1).unwrap();
        assert_eq!(got, None);
        proof.verify(&suite, &roots[0], b"doc/bb", None).unwrap();
        assert!(matches!(prove(&suite, &store, b"doc/aa", 9), Err(StateError::MissingRoot { height: 9 })));
        // Deleting everything gives back the empty root.
        let (root, _) =
            compute_root(&suite, &store, &[del("doc/bb"), del("member/01"), del("nonce/01"), del("receipt/aa/gov")], 5)
                .unwrap();
        assert_eq!(root, EMPTY_ROOT);
    }
}

#[test]
fn conversion_round_trips_through_jmt() {
    let suite = AnySuite::with_defaults(SuiteId::Sm);
    let (store, _) = commit_all(&suite, &[golden_writes()]);
    for key in [b"doc/aa".as_slice(), b"doc/bb"] {
        let (_, proof) = prove(&suite, &store, key, 1).unwrap();
        let jmt = proof.to_jmt::<Sm3Hasher>().unwrap();
        assert_eq!(StateProof::from_jmt(&jmt).unwrap(), proof);
    }
}

#[test]
fn untrusted_proof_bytes_are_bounded() {
    let leaf = ProofLeaf { key_hash: Hash([1; 32]), value_hash: Hash([2; 32]) };
    let full = StateProof {
        leaf: Some(leaf),
        siblings: BoundedVec::try_from(vec![ProofNode::Leaf(leaf); MAX_PROOF_SIBLINGS as usize]).unwrap(),
    };
    let bytes = full.encode();
    assert!(bytes.len() <= MAX_PROOF_BYTES);
    assert_eq!(StateProof::max_encoded_len(), MAX_PROOF_BYTES);
    assert_eq!(StateProof::decode_untrusted(&bytes).unwrap(), full);
    // 257 siblings: refused by the length bound or the sibling bound, never decoded.
    let mut over = vec![1u8];
    over.extend_from_slice(&leaf.encode());
    over.extend(parity_scale_codec::Compact(MAX_PROOF_SIBLINGS + 1).encode());
    over.extend(std::iter::repeat_n(0u8, MAX_PROOF_SIBLINGS as usize + 1));
    assert!(matches!(StateProof::decode_untrusted(&over), Err(StateError::Decode(_))));
    // A huge announced length with no data.
    let mut liar = vec![0u8];
    liar.extend(parity_scale_codec::Compact(u32::MAX).encode());
    assert!(matches!(StateProof::decode_untrusted(&liar), Err(StateError::Decode(_))));
    // Trailing bytes, bad variant, truncation.
    let mut trailing = StateProof { leaf: None, siblings: BoundedVec::default() }.encode();
    trailing.push(0);
    assert!(StateProof::decode_untrusted(&trailing).is_err());
    assert!(StateProof::decode_untrusted(&[0, 4, 7]).is_err());
    assert!(StateProof::decode_untrusted(&bytes[..bytes.len() - 1]).is_err());
    assert!(StateProof::decode_untrusted(&[]).is_err());
}

#[test]
fn a_forged_sibling_list_does_not_verify() {
    let suite = AnySuite::with_defaults(SuiteId::Intl);
    let (store, roots) = commit_all(&suite, &[golden_writes()]);
    let (_, proof) = prove(&suite, &store, b"doc/aa", 1).unwrap();
    // Claim the key's subtree is empty by dropping its leaf.
    let mut forged = proof.clone();
    forged.leaf = None;
    assert!(forged.verify(&suite, &roots[0], b"doc/aa", None).is_err());
    // Too many siblings for jmt (more than the key has bits is impossible on the wire; one
    // more sibling than the real path changes the root).
    let mut longer = proof.clone();
    let mut s = longer.siblings.into_inner();
    s.push(ProofNode::Null);
    longer.siblings = BoundedVec::try_from(s).unwrap();
    assert!(longer.verify(&suite, &roots[0], b"doc/aa", Some(b"anchor-1")).is_err());
}

#[test]
fn storage_encodings_round_trip() {
    let suite = AnySuite::with_defaults(SuiteId::Sm);
    let (_, batch) = compute_root(&suite, &MemTreeStore::new(), &golden_writes(), 1).unwrap();
    assert!(!batch.nodes().is_empty());
    for (k, n) in batch.nodes() {
        assert_eq!(&decode_node_key(&encode_node_key(k).unwrap()).unwrap(), k);
        assert_eq!(&decode_node(&encode_node(n).unwrap()).unwrap(), n);
    }
    assert!(decode_node(&[9, 9]).is_err());
    assert!(decode_node_key(&[1]).is_err());
}

fn arb_writes() -> impl Strategy<Value = Writes> {
    // Small key space so that blocks overwrite and delete each other's keys.
    proptest::collection::btree_map(
        proptest::collection::vec(0u8..4, 1..4),
        proptest::option::weighted(0.8, proptest::collection::vec(any::<u8>(), 0..8)),
        0..12,
    )
    .prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    /// Random blocks: every key ever touched (and some never touched) is proven at every
    /// height, against that height's root, with the value a plain map says it has; wrong
    /// values and wrong absence claims fail.
    #[test]
    fn random_blocks_prove_at_every_height(blocks in proptest::collection::vec(arb_writes(), 1..5), sm in any::<bool>()) {
        let suite = AnySuite::with_defaults(if sm { SuiteId::Sm } else { SuiteId::Intl });
        let (store, roots) = commit_all(&suite, &blocks);
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut keys: Vec<Vec<u8>> = vec![vec![9, 9], vec![]];
        for (i, writes) in blocks.iter().enumerate() {
            for (k, v) in writes {
                keys.push(k.clone());
                match v {
                    Some(v) => { model.insert(k.clone(), v.clone()); }
                    None => { model.remove(k); }
                }
            }
            let h = i as u64 + 1;
            for k in &keys {
                let (got, proof) = prove(&suite, &store, k, h).unwrap();
                let want = model.get(k);
                prop_assert_eq!(got.as_ref(), want);
                prop_assert!(proof.verify(&suite, &roots[i], k, want.map(Vec::as_slice)).is_ok());
                let decoded = StateProof::decode_untrusted(&proof.encode()).unwrap();
                prop_assert_eq!(&decoded, &proof);
                match want {
                    Some(v) => {
                        let mut wrong = v.clone();
                        wrong.push(1);
                        prop_assert!(proof.verify(&suite, &roots[i], k, Some(&wrong)).is_err());
                        prop_assert!(proof.verify(&suite, &roots[i], k, None).is_err());
                    }
                    None => prop_assert!(proof.verify(&suite, &roots[i], k, Some(b"v")).is_err()),
                }
            }
            if model.is_empty() {
                prop_assert_eq!(roots[i], EMPTY_ROOT);
            }
        }
    }

    /// The root depends on the content alone: the same final state reached through other
    /// histories (all at once, or one key per block) has the same root.
    #[test]
    fn roots_depend_only_on_content(blocks in proptest::collection::vec(arb_writes(), 1..4), sm in any::<bool>()) {
        let suite = AnySuite::with_defaults(if sm { SuiteId::Sm } else { SuiteId::Intl });
        let (_, roots) = commit_all(&suite, &blocks);
        let (_, again) = commit_all(&suite, &blocks);
        prop_assert_eq!(&roots, &again);
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for writes in &blocks {
            for (k, v) in writes {
                match v {
                    Some(v) => { model.insert(k.clone(), v.clone()); }
                    None => { model.remove(k); }
                }
            }
        }
        let final_root = *roots.last().unwrap();
        let at_once: Writes = model.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
        let (_, one) = commit_all(&suite, &[at_once]);
        prop_assert_eq!(one[0], final_root);
        let one_by_one: Vec<Writes> = model.iter().rev().map(|(k, v)| vec![(k.clone(), Some(v.clone()))]).collect();
        if !one_by_one.is_empty() {
            let (_, each) = commit_all(&suite, &one_by_one);
            prop_assert_eq!(*each.last().unwrap(), final_root);
        } else {
            prop_assert_eq!(final_root, EMPTY_ROOT);
        }
    }
}

#[test]
fn answers_are_checked_against_the_header() {
    use custos_primitives::types::{AgencyId, BlockHash, BlockHeader, ChainId, DocHash, NodeId};
    for suite in suites() {
        let doc = DocHash(Hash([0xaa; 32]));
        let gov = AgencyId::new("gov").unwrap();
        let anchor = StateQuestion::Anchor(doc);
        let receipt = StateQuestion::Receipt { doc, agency: gov.clone() };
        assert_eq!(anchor.key(), crate::runtime::doc_key(&doc));
        assert_eq!(receipt.key(), crate::runtime::receipt_key(&doc, &gov));
        let (store, roots) = commit_all(&suite, &[vec![(anchor.key(), Some(b"record".to_vec()))]]);
        let header = BlockHeader {
            chain_id: ChainId::new("custos-test").unwrap(),
            height: 1,
            parent: BlockHash(Hash::ZERO),
            time_ms: 1,
            proposer: NodeId(Hash([2; 32])),
            tx_root: Hash([3; 32]),
            state_root: roots[0],
            validator_set_hash: Hash([5; 32]),
        };
        let hb = header.encode();
        let (value, proof) = prove(&suite, &store, &anchor.key(), 1).unwrap();
        let pb = proof.encode();
        let ok = check_answer(&suite, &anchor.key(), Some(1), &hb, value.as_deref(), &pb).unwrap();
        assert!(ok.included());
        assert_eq!((ok.height, ok.state_root, ok.block), (1, roots[0], header.hash(&suite)));
        assert_eq!(check_answer(&suite, &anchor.key(), None, &hb, value.as_deref(), &pb).unwrap(), ok);
        // The receipt is absent, provably.
        let (none, rproof) = prove(&suite, &store, &receipt.key(), 1).unwrap();
        assert_eq!(none, None);
        let absent = check_answer(&suite, &receipt.key(), Some(1), &hb, None, &rproof.encode()).unwrap();
        assert!(!absent.included());
        // A node hiding the anchor, lying about the value, or about the height, is caught.
        assert!(matches!(
            check_answer(&suite, &anchor.key(), Some(1), &hb, None, &pb),
            Err(StateError::Verify { claim: "exclusion", .. })
        ));
        assert!(check_answer(&suite, &anchor.key(), Some(1), &hb, Some(b"forged"), &pb).is_err());
        assert!(matches!(
            check_answer(&suite, &anchor.key(), Some(2), &hb, value.as_deref(), &pb),
            Err(StateError::WrongHeight { asked: 2, header: 1 })
        ));
        let mut other_root = header.clone();
        other_root.state_root = EMPTY_ROOT;
        assert!(check_answer(&suite, &anchor.key(), Some(1), &other_root.encode(), value.as_deref(), &pb).is_err());
        assert!(matches!(
            check_answer(&suite, &anchor.key(), Some(1), &hb[1..], value.as_deref(), &pb),
            Err(StateError::Header(_))
        ));
        assert!(matches!(
            check_answer(&suite, &anchor.key(), Some(1), &hb, value.as_deref(), &pb[1..]),
            Err(StateError::Decode(_))
        ));
    }
}

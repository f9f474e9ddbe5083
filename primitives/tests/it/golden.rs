//! Golden vectors: they freeze every SCALE encoding and every domain-separated hash.
//!
//! If one of these fails, a wire or storage format changed. That breaks every node, bundle
//! and database already written: change a vector only on purpose, with a migration note.
//! The encodings were written out by hand from the SCALE rules (compact length prefixes,
//! little-endian integers, one-byte enum indices); the hashes were computed once and frozen.

use custos_primitives::crypto::{AnySuite, Hash, PublicKey, Signature, SuiteId};
use custos_primitives::merkle::MerkleTree;
use custos_primitives::types::*;
use parity_scale_codec::{Decode, Encode};

fn h(b: u8) -> Hash {
    Hash([b; 32])
}

fn rep(byte: &str, n: usize) -> String {
    byte.repeat(n)
}

/// Checks encoding and decoding against the expected hex.
fn golden<T: Encode + Decode + PartialEq + core::fmt::Debug>(name: &str, value: &T, expected: &str) {
    let actual = hex::encode(value.encode());
    assert_eq!(actual, expected, "encoding of {name} changed");
    let bytes = hex::decode(expected).unwrap();
    let decoded = T::decode(&mut &bytes[..]).unwrap();
    assert_eq!(&decoded, value, "decoding of {name} changed");
}

fn chain() -> ChainId {
    ChainId::new("custos-test").unwrap()
}

// "custos-test" is 11 bytes: compact(11) = 11 << 2 = 0x2c.
const CHAIN_HEX: &str = "2c637573746f732d74657374";

fn sample_unsigned() -> UnsignedTransaction<Vec<u8>> {
    UnsignedTransaction {
        chain_id: chain(),
        signer: CertFingerprint(h(0xaa)),
        nonce: 1,
        valid_until: 100,
        call: vec![1, 2, 3],
    }
}

fn sample_header() -> BlockHeader {
    BlockHeader {
        chain_id: chain(),
        height: 2,
        parent: BlockHash(h(0x01)),
        time_ms: 1_764_400_000_000,
        proposer: NodeId(h(0x02)),
        tx_root: h(0x03),
        state_root: h(0x04),
        validator_set_hash: h(0x05),
    }
}

#[test]
fn enums_and_fixed_types() {
    golden("SuiteId::Sm", &SuiteId::Sm, "00");
    golden("SuiteId::Intl", &SuiteId::Intl, "01");
    golden("Hash", &h(0x11), &rep("11", 32));
    golden("Signature", &Signature { suite: SuiteId::Sm, bytes: [0x22; 64] }, &format!("00{}", rep("22", 64)));
    golden("PublicKey::Ed25519", &PublicKey::Ed25519([0x33; 32]), &format!("01{}", rep("33", 32)));
    let mut sm2 = [0x44u8; 65];
    sm2[0] = 0x04;
    golden("PublicKey::Sm2", &PublicKey::Sm2(sm2), &format!("0004{}", rep("44", 64)));
    golden("AgencyRole::Justice", &AgencyRole::Justice, "04");
    golden("MemberRole::Admin", &MemberRole::Admin, "05");
    golden("AgencyId", &AgencyId::new("court").unwrap(), "14636f757274");
    golden("ChainId", &chain(), CHAIN_HEX);
}

#[test]
fn transaction_envelope() {
    let unsigned = sample_unsigned();
    let body = format!("{CHAIN_HEX}{}{}{}{}", rep("aa", 32), "0100000000000000", "6400000000000000", "0c010203");
    golden("UnsignedTransaction", &unsigned, &body);
    // The signing payload is the tag followed by the unsigned encoding.
    assert_eq!(hex::encode(unsigned.signing_payload()), format!("{}{body}", hex::encode(b"custos/tx/v1")));
    let tx = Transaction {
        chain_id: chain(),
        signer: CertFingerprint(h(0xaa)),
        nonce: 1,
        valid_until: 100,
        call: vec![1u8, 2, 3],
        signature: Signature { suite: SuiteId::Intl, bytes: [0x55; 64] },
    };
    golden("Transaction", &tx, &format!("{body}01{}", rep("55", 64)));
}

#[test]
fn block_header_and_commit_certificate() {
    let header = sample_header();
    // 1_764_400_000_000 = 0x0000_019a_ce6f_6c00 (little-endian below).
    let expected = format!(
        "{CHAIN_HEX}0200000000000000{}{}{}{}{}{}",
        rep("01", 32),
        "006c6fce9a010000",
        rep("02", 32),
        rep("03", 32),
        rep("04", 32),
        rep("05", 32)
    );
    assert_eq!(1_764_400_000_000u64.to_le_bytes(), [0x00, 0x6c, 0x6f, 0xce, 0x9a, 0x01, 0x00, 0x00]);
    golden("BlockHeader", &header, &expected);

    let cert = CommitCertificate {
        height: 2,
        round: 1,
        block: BlockHash(h(0x06)),
        signatures: vec![
            CommitSignature {
                validator: NodeId(h(0x07)),
                signature: Signature { suite: SuiteId::Sm, bytes: [0x08; 64] },
            },
            CommitSignature {
                validator: NodeId(h(0x09)),
                signature: Signature { suite: SuiteId::Sm, bytes: [0x0a; 64] },
            },
        ]
        .try_into()
        .unwrap(),
    };
    let expected = format!(
        "020000000000000001000000{}08{}00{}{}00{}",
        rep("06", 32),
        rep("07", 32),
        rep("08", 64),
        rep("09", 32),
        rep("0a", 64)
    );
    golden("CommitCertificate", &cert, &expected);

    let payload = cert.payload(&chain());
    golden("PrecommitPayload", &payload, &format!("{CHAIN_HEX}020000000000000001000000{}", rep("06", 32)));
}

#[test]
fn merkle_proof_encoding() {
    let s = AnySuite::with_defaults(SuiteId::Intl);
    let leaves: Vec<Vec<u8>> = (0u8..3).map(|i| vec![i]).collect();
    let t = MerkleTree::new(&s, &leaves);
    let p = t.prove(&s, 2).unwrap();
    // leaf 2 of 3: one sibling (the root of leaves 0..2).
    assert_eq!(p.path.len(), 1);
    let expected = format!("{}{}04{}", "0200000000000000", "0300000000000000", hex::encode(p.path[0].0));
    golden("MerkleProof", &p, &expected);
}

/// Frozen digests: these pin the domain tags, the hash functions and the tree shape.
#[test]
fn frozen_hashes() {
    let expected: [(SuiteId, [&str; 6]); 2] = [
        (
            SuiteId::Sm,
            [
                "4828f5232626b611e43980a1afb7d1b8006c9ead82eb247156824a1388e5e33b",
                "ad602ce23114fddf92e4e38ea982b7fa7ae739911aab8b7bfd7876adce67089b",
                "6730891ca65a32ca605aca276ae6b4dfe03ffd476b99421f91bf9bb1327a1702",
                "4102fd5d7f62943169ae5342ef2f756dc3c8ce88640730f74bb32c59fc7ae6cd",
                "5e95691be15095020dd2b67199a41505b59f5725bb24fca926346cd3f51b9b2b",
                "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b",
            ],
        ),
        (
            SuiteId::Intl,
            [
                "cfe1990fbdfaac183a4779268e568c841388329fcbdb3fce035341081be0c115",
                "7cdd08cefdef2ad379ba44f904868e1ce41017f33dee1f223b865fc26cee8152",
                "a420463d54370a43f487e7c3e1c39cdfed6ea9210ad3bab67088b685f049e5f2",
                "2f3890c2332d50763cba3aa4b95fc1b34617ec4e875a5ad84cda6d6fe9c33be2",
                "4f35cf39654ebe8edaf08d5a49dc81948f38b4239bf42b95fb9d71dc6a1db2f1",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ],
        ),
    ];
    for (id, want) in expected {
        let s = AnySuite::with_defaults(id);
        let leaves: Vec<Vec<u8>> = (0u8..5).map(|i| vec![i; 3]).collect();
        let tx = Transaction {
            chain_id: chain(),
            signer: CertFingerprint(h(0xaa)),
            nonce: 1,
            valid_until: 100,
            call: vec![1u8, 2, 3],
            signature: Signature { suite: id, bytes: [0x55; 64] },
        };
        let got = [
            MerkleTree::new(&s, &leaves).root(&s).to_hex(),
            sample_header().hash(&s).to_string(),
            tx.id(&s).to_string(),
            DocHash::compute(&s, &Salt([0x0b; 32]), b"judgment").to_string(),
            CaseRef::derive(&s, b"consortium-case-key", "(2026)黑0103刑初1号").to_string(),
            MerkleTree::new::<Vec<u8>>(&s, &[]).root(&s).to_hex(),
        ];
        for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
            assert_eq!(g, w, "frozen hash #{i} of suite {id} changed");
        }
    }
}

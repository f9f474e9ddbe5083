//! Golden vectors: they freeze the manifest encoding, the signing payload, the chunk nonce
//! and associated data, chunk names and the sealed chunk format.
//!
//! If one of these fails, a storage or exchange format changed: every store and every
//! manifest already written would become unreadable. Change a vector only on purpose, with a
//! new format version. The manifest encoding was written out by hand from the SCALE rules
//! (compact length prefixes, little-endian integers, one-byte enum indices); the
//! sealed chunks and chunk names were cross-checked once against OpenSSL 3.0 (SM3, and
//! SM4-GCM / AES-256-GCM through Python's `cryptography`) and frozen.

use custos_dossier::{
    ChunkStore, DocTypeCode, MANIFEST_SIGNING_TAG, Manifest, MediaType, Recipient, SignedManifest, chunk_aad,
    chunk_nonce, open_chunk, seal_chunk,
};
use custos_primitives::crypto::{AeadKey, AnySuite, Hash, Signature, SuiteId};
use custos_primitives::types::{AgencyId, CaseRef, CertFingerprint, DocHash, Salt};
use parity_scale_codec::Encode;

fn h(b: u8) -> Hash {
    Hash([b; 32])
}

fn rep(byte: &str, n: usize) -> String {
    byte.repeat(n)
}

fn ascii(s: &str) -> String {
    hex::encode(s.as_bytes())
}

fn sample() -> Manifest {
    Manifest {
        version: 1,
        suite: SuiteId::Sm,
        doc_id: DocHash(h(0x11)),
        salt: Salt([0x22; 32]),
        size: 1_048_577, // one chunk and one byte
        chunk_size: 1 << 20,
        media_type: MediaType::new("application/pdf").unwrap(),
        doc_type: DocTypeCode::new("JUDGMENT").unwrap(),
        case_ref: CaseRef(h(0x55)),
        issuer: AgencyId::new("court-230102").unwrap(),
        clerk: CertFingerprint(h(0x66)),
        chunks: vec![h(0x33), h(0x44)].try_into().unwrap(),
        recipients: vec![
            Recipient {
                agency: AgencyId::new("court-230102").unwrap(),
                wrapped_key: vec![1, 2, 3].try_into().unwrap(),
            },
            Recipient { agency: AgencyId::new("justice-230102").unwrap(), wrapped_key: vec![4, 5].try_into().unwrap() },
        ]
        .try_into()
        .unwrap(),
    }
}

fn sample_hex() -> String {
    [
        "01".to_string(),                                // version
        "00".to_string(),                                // suite: sm
        rep("11", 32),                                   // doc id
        rep("22", 32),                                   // salt
        "0100100000000000".to_string(),                  // size: u64 LE 0x100001
        "00001000".to_string(),                          // chunk size: u32 LE 0x100000
        format!("3c{}", ascii("application/pdf")),       // compact(15) = 0x3c
        format!("20{}", ascii("JUDGMENT")),              // compact(8) = 0x20
        rep("55", 32),                                   // case ref
        format!("30{}", ascii("court-230102")),          // compact(12) = 0x30
        rep("66", 32),                                   // clerk certificate fingerprint
        format!("08{}{}", rep("33", 32), rep("44", 32)), // 2 chunk hashes
        // 2 recipients: (compact(12) "court-230102", compact(3) 01 02 03),
        // (compact(14) = 0x38 "justice-230102", compact(2) 04 05)
        format!("0830{}0c010203", ascii("court-230102")),
        format!("38{}080405", ascii("justice-230102")),
    ]
    .concat()
}

#[test]
fn manifest_encoding_is_frozen() {
    let m = sample();
    m.validate().unwrap();
    let expected = sample_hex();
    assert_eq!(hex::encode(m.encode()), expected);
    let bytes = hex::decode(&expected).unwrap();
    assert_eq!(Manifest::decode_untrusted(&bytes).unwrap(), m);
    // The signing payload is the domain tag, then the encoding.
    assert_eq!(MANIFEST_SIGNING_TAG, b"custos/dossier-manifest/v1");
    assert_eq!(hex::encode(m.signing_payload()), format!("{}{expected}", ascii("custos/dossier-manifest/v1")));
}

#[test]
fn signed_manifest_encoding_is_frozen() {
    let s = SignedManifest { manifest: sample(), signature: Signature { suite: SuiteId::Sm, bytes: [0x77; 64] } };
    let expected = format!("{}00{}", sample_hex(), rep("77", 64));
    assert_eq!(hex::encode(s.encode()), expected);
    assert_eq!(SignedManifest::decode_untrusted(&hex::decode(&expected).unwrap()).unwrap(), s);
}

#[test]
fn nonce_and_associated_data_are_frozen() {
    assert_eq!(hex::encode(chunk_nonce(0)), "000000000000000000000000");
    assert_eq!(hex::encode(chunk_nonce(2047)), "0000000000000000000007ff");
    let aad = chunk_aad(&Salt([0x22; 32]), 2047, true);
    assert_eq!(hex::encode(aad), format!("{}{}00000000000007ff01", ascii("custos/dossier-chunk/v1"), rep("22", 32)));
    let aad = chunk_aad(&Salt([0x22; 32]), 0, false);
    assert_eq!(hex::encode(aad), format!("{}{}000000000000000000", ascii("custos/dossier-chunk/v1"), rep("22", 32)));
}

/// Known-answer sealed chunks: (suite, key length, expected `ciphertext ‖ tag`).
const SEALED: [(SuiteId, usize, &str); 2] = [
    (SuiteId::Sm, 16, "0ea1748e9a81c759db98a846cb2fc18f461479a029629f8d2c6e30a687bc"),
    (SuiteId::Intl, 32, "00cdf74de27070869bef42933b0f68e807aa7899af93184fafd1b2b80d6f"),
];

#[test]
fn sealed_chunk_format_is_frozen() {
    for (id, key_len, expected) in SEALED {
        let s = AnySuite::with_defaults(id);
        let key = AeadKey::from_bytes(&vec![0x0f; key_len]);
        let salt = Salt([0x22; 32]);
        let ct = seal_chunk(&s, &key, &salt, 1, true, b"custos dossier").unwrap();
        assert_eq!(hex::encode(&ct), expected, "{id}");
        assert_eq!(open_chunk(&s, &key, &salt, 1, true, &ct).unwrap(), b"custos dossier");
    }
}

#[test]
fn chunk_names_are_frozen() {
    let dir = tempfile::tempdir().unwrap();
    for (id, expected) in [
        (SuiteId::Sm, "c0a2900ac3e2bff17313435ae54d81f5699ad4a321aac0cca5b6a18e2867e64c"),
        (SuiteId::Intl, "657660964e0b83e3abe7c8ce3306f9c887f8d02bbb892faf6d9ca62806bd21cd"),
    ] {
        let store = ChunkStore::open(dir.path().join(id.as_str()), AnySuite::with_defaults(id)).unwrap();
        assert_eq!(store.chunk_hash(b"abc").to_hex(), expected, "{id}");
    }
}

/// The golden signed manifest's bytes (a starting point for mutation tests).
pub fn signed_sample_bytes() -> Vec<u8> {
    hex::decode(format!("{}00{}", sample_hex(), rep("77", 64))).unwrap()
}

//! Untrusted SCALE bytes: truncated, over-long, trailing, over-bound and bad-variant inputs
//! are rejected with the right [`CodecError`], never a panic or an allocation bomb.

use custos_primitives::codec::{self, BoundedVec, CodecError};
use custos_primitives::crypto::{CryptoError, Hash, PublicKey, Signature, Suite, SuiteId};
use custos_primitives::types::{
    BlockHash, BlockHeader, CertFingerprint, ChainId, CommitCertificate, CommitSignature, MAX_CERTIFICATE_BYTES,
    MAX_TX_BYTES, MAX_VALIDATORS, NodeId, Transaction, UnsignedTransaction,
};
use parity_scale_codec::{Compact, Encode, MaxEncodedLen};

use crate::support::suites;

fn tx(suite: &impl Suite, call: Vec<u8>) -> Transaction<Vec<u8>> {
    tx_and_key(suite, call).0
}

fn tx_and_key(suite: &impl Suite, call: Vec<u8>) -> (Transaction<Vec<u8>>, PublicKey) {
    let key = suite.generate_signing_key().expect("key");
    let tx = UnsignedTransaction {
        chain_id: ChainId::new("custos-hlj-1").expect("id"),
        signer: CertFingerprint(Hash([0x11; 32])),
        nonce: 42,
        valid_until: 1_000,
        call,
    }
    .sign(&key)
    .expect("sign");
    (tx, key.public_key())
}

fn header(chain_id: &str) -> BlockHeader {
    BlockHeader {
        chain_id: ChainId::new(chain_id).expect("id"),
        height: 7,
        parent: BlockHash(Hash([1; 32])),
        time_ms: 1_767_225_600_000,
        proposer: NodeId(Hash([2; 32])),
        tx_root: Hash([3; 32]),
        state_root: Hash([4; 32]),
        validator_set_hash: Hash([5; 32]),
    }
}

fn commit_signature(i: u8, suite: SuiteId) -> CommitSignature {
    CommitSignature { validator: NodeId(Hash([i; 32])), signature: Signature { suite, bytes: [i.wrapping_add(1); 64] } }
}

fn certificate(n: u8, suite: SuiteId) -> CommitCertificate {
    let sigs: Vec<CommitSignature> = (0..n).map(|i| commit_signature(i, suite)).collect();
    CommitCertificate {
        height: 7,
        round: 1,
        block: BlockHash(Hash([9; 32])),
        signatures: BoundedVec::try_from(sigs).expect("within bound"),
    }
}

/// Every strict prefix of `bytes` is rejected as invalid (never decoded, never a panic).
fn all_prefixes_invalid<T: std::fmt::Debug>(what: &str, bytes: &[u8], decode: impl Fn(&[u8]) -> Result<T, CodecError>) {
    for len in 0..bytes.len() {
        let r = decode(&bytes[..len]);
        assert!(
            matches!(&r, Err(CodecError::Invalid { what: w, .. }) if *w == what),
            "{what}: prefix of {len}/{} bytes: {r:?}",
            bytes.len()
        );
    }
}

fn with_trailing(bytes: &[u8], extra: &[u8]) -> Vec<u8> {
    [bytes, extra].concat()
}

// ---------------------------------------------------------------------------------------
// Transactions.
// ---------------------------------------------------------------------------------------

#[test]
fn transaction_truncated_and_trailing() {
    for suite in suites() {
        let t = tx(&suite, b"register case".to_vec());
        let bytes = t.encode();
        assert_eq!(Transaction::<Vec<u8>>::decode_untrusted(&bytes).expect("round trip"), t);
        all_prefixes_invalid("transaction", &bytes, Transaction::<Vec<u8>>::decode_untrusted);
        for extra in [&[0u8][..], &[0xff; 7][..]] {
            let r = Transaction::<Vec<u8>>::decode_untrusted(&with_trailing(&bytes, extra));
            assert_eq!(r, Err(CodecError::TrailingBytes { what: "transaction", remaining: extra.len() }));
        }
        let err = Transaction::<Vec<u8>>::decode_untrusted(&with_trailing(&bytes, &[1, 2])).expect_err("trailing");
        assert_eq!(err.to_string(), "transaction: 2 trailing bytes after a complete value");
    }
}

#[test]
fn transaction_size_limit_is_exact() {
    let suite = suites()[0].clone();
    // Fixed part: everything but the call's bytes and their compact length prefix.
    let fixed = tx(&suite, Vec::new()).encoded_size() - 1;
    // Calls of 2^14 bytes or more have a 4-byte compact length prefix.
    let n = MAX_TX_BYTES - fixed - 4;
    let at_limit = tx(&suite, vec![0xab; n]);
    let bytes = at_limit.encode();
    assert_eq!(bytes.len(), MAX_TX_BYTES);
    assert_eq!(Transaction::<Vec<u8>>::decode_untrusted(&bytes).expect("at the limit"), at_limit);

    let over = tx(&suite, vec![0xab; n + 1]).encode();
    assert_eq!(over.len(), MAX_TX_BYTES + 1);
    let err = Transaction::<Vec<u8>>::decode_untrusted(&over).expect_err("too long");
    assert_eq!(err, CodecError::TooLong { what: "transaction", len: MAX_TX_BYTES + 1, max: MAX_TX_BYTES });
    assert!(err.to_string().contains("exceeds the 65536-byte limit"), "{err}");
    // A valid transaction followed by enough padding to exceed the limit: the length cap
    // is checked first.
    let padded = with_trailing(&bytes, &[0]);
    assert!(matches!(Transaction::<Vec<u8>>::decode_untrusted(&padded), Err(CodecError::TooLong { .. })));
}

#[test]
fn transaction_with_lying_call_length_is_invalid() {
    let suite = suites()[1].clone();
    let t = tx(&suite, vec![7; 10]);
    let bytes = t.encode();
    // The call's compact length (10 -> one byte 0x28) sits right after
    // chain id (1 + 12) + signer (32) + nonce (8) + valid_until (8).
    let at = 1 + 12 + 32 + 8 + 8;
    assert_eq!(bytes[at], 10 << 2);
    for claimed in [11u32, 1 << 20, u32::MAX] {
        let mut v = bytes[..at].to_vec();
        v.extend(Compact(claimed).encode());
        v.extend_from_slice(&bytes[at + 1..]);
        let r = Transaction::<Vec<u8>>::decode_untrusted(&v);
        assert!(matches!(r, Err(CodecError::Invalid { what: "transaction", .. })), "{claimed}: {r:?}");
    }
    // Claiming fewer bytes leaves bytes over (or misreads the rest).
    let mut v = bytes.clone();
    v[at] = 9 << 2;
    assert!(Transaction::<Vec<u8>>::decode_untrusted(&v).is_err());
}

#[test]
fn transaction_with_invalid_chain_id_or_suite_is_invalid() {
    for suite in suites() {
        let (t, key) = tx_and_key(&suite, vec![1, 2, 3]);
        t.verify_signature(&suite, &key).expect("valid");
        let bytes = t.encode();
        // "custos-hlj-1" starts at offset 1: an upper-case letter is not a valid id.
        let mut v = bytes.clone();
        v[1] = b'C';
        assert!(matches!(
            Transaction::<Vec<u8>>::decode_untrusted(&v),
            Err(CodecError::Invalid { what: "transaction", ref reason }) if reason.contains("chain id")
        ));
        // The signature's suite byte is the 65th byte from the end.
        let at = bytes.len() - 65;
        assert_eq!(bytes[at], suite.id() as u8);
        for bad in [2u8, 3, 0x80, 0xff] {
            let mut v = bytes.clone();
            v[at] = bad;
            let r = Transaction::<Vec<u8>>::decode_untrusted(&v);
            assert!(matches!(r, Err(CodecError::Invalid { .. })), "suite index {bad}: {r:?}");
        }
        // The other valid index decodes, and then fails verification as a suite mismatch.
        let mut v = bytes.clone();
        v[at] ^= 1;
        let other = Transaction::<Vec<u8>>::decode_untrusted(&v).expect("decodes");
        assert_ne!(other.signature.suite, suite.id());
        assert!(matches!(other.verify_signature(&suite, &key), Err(CryptoError::WrongSuite { what: "signature", .. })));
    }
}

// ---------------------------------------------------------------------------------------
// Block headers.
// ---------------------------------------------------------------------------------------

#[test]
fn header_truncated_trailing_and_too_long() {
    let h = header("custos-hlj-1");
    let bytes = h.encode();
    assert_eq!(BlockHeader::decode_untrusted(&bytes).expect("round trip"), h);
    all_prefixes_invalid("block header", &bytes, BlockHeader::decode_untrusted);
    assert_eq!(
        BlockHeader::decode_untrusted(&with_trailing(&bytes, &[0; 3])),
        Err(CodecError::TrailingBytes { what: "block header", remaining: 3 })
    );

    // The longest header (a 64-byte chain id) is exactly the maximum encoded length...
    let max = BlockHeader::max_encoded_len();
    let longest = header(&"c".repeat(ChainId::MAX_LEN));
    let bytes = longest.encode();
    assert_eq!(bytes.len(), max);
    assert_eq!(BlockHeader::decode_untrusted(&bytes).expect("longest"), longest);
    // ...so one more byte is over the limit, checked before decoding.
    assert_eq!(
        BlockHeader::decode_untrusted(&with_trailing(&bytes, &[0])),
        Err(CodecError::TooLong { what: "block header", len: max + 1, max })
    );
    assert!(matches!(BlockHeader::decode_untrusted(&vec![0u8; 10 * max]), Err(CodecError::TooLong { .. })));
}

#[test]
fn header_with_over_long_chain_id_is_invalid() {
    // A chain id length prefix of 65 (over ChainId::MAX_LEN) in an input of legal length:
    // rejected at the prefix.
    let mut v = Compact(65u32).encode();
    v.extend(std::iter::repeat_n(b'c', 64));
    v.extend_from_slice(&header("c").encode()[2..]);
    assert!(v.len() <= BlockHeader::max_encoded_len());
    let r = BlockHeader::decode_untrusted(&v);
    assert!(matches!(r, Err(CodecError::Invalid { what: "block header", .. })), "{r:?}");
    // An empty chain id is invalid too.
    let mut v = Compact(0u32).encode();
    v.extend_from_slice(&header("c").encode()[2..]);
    assert!(matches!(BlockHeader::decode_untrusted(&v), Err(CodecError::Invalid { .. })));
}

// ---------------------------------------------------------------------------------------
// Commit certificates.
// ---------------------------------------------------------------------------------------

#[test]
fn certificate_truncated_and_trailing() {
    for id in [SuiteId::Sm, SuiteId::Intl] {
        let c = certificate(4, id);
        let bytes = c.encode();
        assert_eq!(CommitCertificate::decode_untrusted(&bytes).expect("round trip"), c);
        all_prefixes_invalid("commit certificate", &bytes, CommitCertificate::decode_untrusted);
        assert_eq!(
            CommitCertificate::decode_untrusted(&with_trailing(&bytes, &[9])),
            Err(CodecError::TrailingBytes { what: "commit certificate", remaining: 1 })
        );
    }
}

#[test]
fn certificate_with_max_validators_fits_and_too_long_is_rejected() {
    let full = certificate(u8::try_from(MAX_VALIDATORS).expect("128 fits u8"), SuiteId::Sm);
    let bytes = full.encode();
    assert!(bytes.len() <= MAX_CERTIFICATE_BYTES);
    assert!(bytes.len() <= CommitCertificate::max_encoded_len());
    assert_eq!(CommitCertificate::decode_untrusted(&bytes).expect("full"), full);
    let err = CommitCertificate::decode_untrusted(&vec![0u8; MAX_CERTIFICATE_BYTES + 1]).expect_err("too long");
    assert_eq!(
        err,
        CodecError::TooLong { what: "commit certificate", len: MAX_CERTIFICATE_BYTES + 1, max: MAX_CERTIFICATE_BYTES }
    );
}

#[test]
fn certificate_claiming_more_than_max_validators_is_invalid() {
    let c = certificate(1, SuiteId::Intl);
    let bytes = c.encode();
    // height (8) + round (4) + block (32), then the compact signature count.
    let at = 8 + 4 + 32;
    assert_eq!(bytes[at], 1 << 2);
    let head = &bytes[..at];
    let one_sig = commit_signature(0, SuiteId::Intl).encode();

    // 129 signatures, all present: over the bound, even though the input is small enough.
    let mut v = head.to_vec();
    v.extend(Compact(MAX_VALIDATORS + 1).encode());
    for _ in 0..=MAX_VALIDATORS {
        v.extend_from_slice(&one_sig);
    }
    assert!(v.len() <= MAX_CERTIFICATE_BYTES);
    let r = CommitCertificate::decode_untrusted(&v);
    assert!(
        matches!(&r, Err(CodecError::Invalid { what: "commit certificate", reason })
            if reason.contains("BoundedVec exceeds its limit")),
        "{r:?}"
    );

    // Huge claims with almost no data: rejected at the prefix, nothing allocated.
    for claimed in [MAX_VALIDATORS + 1, 1 << 20, 1 << 30, u32::MAX] {
        let mut v = head.to_vec();
        v.extend(Compact(claimed).encode());
        v.extend_from_slice(&one_sig);
        let r = CommitCertificate::decode_untrusted(&v);
        assert!(matches!(r, Err(CodecError::Invalid { .. })), "{claimed}: {r:?}");
    }

    // Exactly MAX_VALIDATORS claimed but one missing: truncated.
    let mut v = head.to_vec();
    v.extend(Compact(MAX_VALIDATORS).encode());
    for _ in 1..MAX_VALIDATORS {
        v.extend_from_slice(&one_sig);
    }
    assert!(matches!(CommitCertificate::decode_untrusted(&v), Err(CodecError::Invalid { .. })));

    // A non-canonical compact count (1 in the two-byte form) is not accepted: each value
    // has exactly one encoding.
    let mut v = head.to_vec();
    v.extend_from_slice(&[(1 << 2) | 0b01, 0]);
    v.extend_from_slice(&one_sig);
    assert!(matches!(CommitCertificate::decode_untrusted(&v), Err(CodecError::Invalid { .. })));
}

#[test]
fn certificate_with_bad_signature_suite_is_invalid() {
    let c = certificate(3, SuiteId::Sm);
    let bytes = c.encode();
    // The first signature's suite byte follows the count (1 byte) and the validator (32).
    let at = 8 + 4 + 32 + 1 + 32;
    assert_eq!(bytes[at], 0);
    let mut v = bytes.clone();
    v[at] = 2;
    let r = CommitCertificate::decode_untrusted(&v);
    assert!(matches!(r, Err(CodecError::Invalid { what: "commit certificate", .. })), "{r:?}");
}

// ---------------------------------------------------------------------------------------
// Enums.
// ---------------------------------------------------------------------------------------

#[test]
fn invalid_enum_indices_are_rejected() {
    assert_eq!(codec::decode_bounded::<SuiteId>("suite", &[0]), Ok(SuiteId::Sm));
    assert_eq!(codec::decode_bounded::<SuiteId>("suite", &[1]), Ok(SuiteId::Intl));
    for bad in [2u8, 7, 0x80, 0xff] {
        let r = codec::decode_bounded::<SuiteId>("suite", &[bad]);
        assert!(matches!(r, Err(CodecError::Invalid { what: "suite", .. })), "{bad}: {r:?}");

        let mut sig = vec![bad];
        sig.extend_from_slice(&[0u8; 64]);
        let r = codec::decode_bounded::<Signature>("signature", &sig);
        assert!(matches!(r, Err(CodecError::Invalid { what: "signature", .. })), "{bad}: {r:?}");

        let mut pk = vec![bad];
        pk.extend_from_slice(&[4u8; 64]);
        let r = codec::decode_bounded::<PublicKey>("public key", &pk);
        assert!(matches!(r, Err(CodecError::Invalid { .. })), "{bad}: {r:?}");
    }
    // Two suite bytes are one too many.
    assert_eq!(
        codec::decode_bounded::<SuiteId>("suite", &[0, 0]),
        Err(CodecError::TooLong { what: "suite", len: 2, max: 1 })
    );
    assert!(matches!(
        codec::decode_exact::<SuiteId>("suite", &[0, 0], 8),
        Err(CodecError::TrailingBytes { remaining: 1, .. })
    ));
    // Empty input.
    assert!(matches!(codec::decode_bounded::<SuiteId>("suite", &[]), Err(CodecError::Invalid { .. })));
    // A signature one byte short.
    let mut sig = vec![0u8];
    sig.extend_from_slice(&[0u8; 63]);
    assert!(matches!(codec::decode_bounded::<Signature>("signature", &sig), Err(CodecError::Invalid { .. })));
    // An ed25519 key has 32 bytes: 65 bytes (an SM2 key's length) under index 1 is too many.
    let mut pk = vec![1u8];
    pk.extend_from_slice(&[4u8; 65]);
    assert!(matches!(
        codec::decode_exact::<PublicKey>("public key", &pk, 100),
        Err(CodecError::TrailingBytes { remaining: 33, .. })
    ));
}

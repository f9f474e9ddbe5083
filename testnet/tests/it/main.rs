//! Consortium generation: what `init` writes verifies, and tampering is caught.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use custos_primitives::crypto::SuiteId;
use custos_primitives::types::MemberRole;
use custos_testnet::TestnetError;
use custos_testnet::consortium::{self, InitOptions};
use custos_testnet::home::Profile;

const NOW: i64 = 1_780_000_000; // 2026-05-28

#[test]
fn init_then_summarize_both_suites() {
    for suite in [SuiteId::Sm, SuiteId::Intl] {
        let tmp = tempfile::tempdir().unwrap();
        let opts = InitOptions::new(suite, NOW).unwrap();
        let s = consortium::init(tmp.path(), &opts).unwrap();
        assert_eq!(s.agencies.len(), 5);
        let again = consortium::summarize(tmp.path(), NOW + 86_400).unwrap();
        assert_eq!(again.genesis_hash, s.genesis_hash);
        let g = consortium::load_genesis(tmp.path()).unwrap();
        assert_eq!(g.validators.len(), 5);
        assert_eq!(g.suite.distid(), "1234567812345678");
        // Identities load and sign with the right key.
        let profile = Profile::load(&tmp.path().join("court")).unwrap();
        let clerk = profile.identity(&tmp.path().join("court"), MemberRole::Clerk).unwrap();
        assert_eq!(&clerk.key.public_key(), clerk.cert.public_key());
    }
}

#[test]
fn member_certificates_expire_after_two_years() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = InitOptions::new(SuiteId::Sm, NOW).unwrap();
    consortium::init(tmp.path(), &opts).unwrap();
    let three_years = NOW + 3 * 365 * 86_400;
    let err = consortium::summarize(tmp.path(), three_years).unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
}

#[test]
fn swapped_key_file_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    consortium::init(tmp.path(), &InitOptions::new(SuiteId::Sm, NOW).unwrap()).unwrap();
    let court = tmp.path().join("court");
    std::fs::copy(court.join("node/node.key.pem"), court.join("clerk/clerk.key.pem")).unwrap();
    let err = consortium::summarize(tmp.path(), NOW).unwrap_err();
    assert!(matches!(err, TestnetError::KeyMismatch { .. }), "{err}");
}

#[test]
fn tampered_genesis_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    consortium::init(tmp.path(), &InitOptions::new(SuiteId::Intl, NOW).unwrap()).unwrap();
    let path = tmp.path().join("genesis.json");
    let text = std::fs::read_to_string(&path).unwrap();
    // Give the police validator slot the prison's node certificate: it is not issued by the police CA.
    let mut g: serde_json::Value = serde_json::from_str(&text).unwrap();
    let prison_node = g["validators"][3]["node_cert_pem"].clone();
    g["validators"][2]["node_cert_pem"] = prison_node;
    std::fs::write(&path, serde_json::to_string(&g).unwrap()).unwrap();
    let err = consortium::load_genesis(tmp.path()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("validator of agency police"), "{msg}");
}

#[test]
fn init_refuses_a_non_empty_folder() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("keep.txt"), "x").unwrap();
    let err = consortium::init(tmp.path(), &InitOptions::new(SuiteId::Sm, NOW).unwrap()).unwrap_err();
    assert!(matches!(err, TestnetError::NotEmpty(_)));
}

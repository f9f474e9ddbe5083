//! Manifest signatures, untrusted decoding and the manifest side of the store.

use custos_dossier::{DossierError, MediaType, SignedManifest};
use custos_primitives::crypto::{AnySuite, Suite, SuiteId};
use custos_primitives::types::AgencyId;
use parity_scale_codec::Encode;

use crate::support::{Fixture, suites};

#[test]
fn signature_verifies_only_with_the_clerks_key_and_untampered_manifest() {
    for id in suites() {
        let fx = Fixture::new(id);
        let enc = fx.encrypt_bytes(b"an execution notice", 4096);
        let signed = enc.manifest.clone().sign(&fx.clerk).unwrap();
        signed.verify(&fx.suite, &fx.clerk.public_key()).unwrap();

        let other = fx.suite.generate_signing_key().unwrap();
        let err = signed.verify(&fx.suite, &other.public_key()).unwrap_err();
        assert!(matches!(err, DossierError::BadSignature { .. }), "{err}");

        let mut t = signed.clone();
        t.manifest.media_type = MediaType::new("image/tiff").unwrap();
        assert!(matches!(t.verify(&fx.suite, &fx.clerk.public_key()), Err(DossierError::BadSignature { .. })));
        let mut t = signed.clone();
        t.manifest.recipients[0].agency = AgencyId::new("court-999999").unwrap();
        assert!(matches!(t.verify(&fx.suite, &fx.clerk.public_key()), Err(DossierError::BadSignature { .. })));
        let mut t = signed.clone();
        t.manifest.chunks[0].0[0] ^= 1;
        assert!(matches!(t.verify(&fx.suite, &fx.clerk.public_key()), Err(DossierError::BadSignature { .. })));

        // Tampering survives an encode/decode round trip and is still caught.
        let mut bytes = signed.encode();
        let salt_at = 1 + 1 + 32;
        bytes[salt_at] ^= 0x80;
        let decoded = SignedManifest::decode_untrusted(&bytes).unwrap();
        assert!(decoded.verify(&fx.suite, &fx.clerk.public_key()).is_err());
    }
}

#[test]
fn signing_with_a_key_of_the_other_suite_is_refused() {
    let fx = Fixture::new(SuiteId::Sm);
    let enc = fx.encrypt_bytes(b"doc", 4096);
    let k = AnySuite::with_defaults(SuiteId::Intl).generate_signing_key().unwrap();
    assert!(matches!(enc.manifest.sign(&k), Err(DossierError::WrongSuite { .. })));
}

#[test]
fn decode_untrusted_enforces_version_bounds_and_consumption() {
    let fx = Fixture::new(SuiteId::Intl);
    let enc = fx.encrypt_bytes(&[1u8; 9000], 4096);
    let signed = enc.manifest.clone().sign(&fx.clerk).unwrap();
    let bytes = signed.encode();
    assert_eq!(SignedManifest::decode_untrusted(&bytes).unwrap(), signed);

    let mut v2 = bytes.clone();
    v2[0] = 2;
    assert!(matches!(
        SignedManifest::decode_untrusted(&v2),
        Err(DossierError::UnsupportedVersion { found: 2, supported: 1 })
    ));
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(SignedManifest::decode_untrusted(&long), Err(DossierError::Codec(_))));
    assert!(matches!(SignedManifest::decode_untrusted(&bytes[..bytes.len() - 1]), Err(DossierError::Codec(_))));
    let huge = vec![1u8; SignedManifest::max_encoded_bytes() + 1];
    assert!(matches!(SignedManifest::decode_untrusted(&huge), Err(DossierError::Codec(_))));

    // Invariants are checked on decode, not only the syntax.
    let mut m = enc.manifest.clone();
    m.recipients.as_mut().swap(0, 1);
    assert!(matches!(custos_dossier::Manifest::decode_untrusted(&m.encode()), Err(DossierError::Recipients { .. })));
    let mut m = enc.manifest.clone();
    m.size += 4096;
    assert!(matches!(custos_dossier::Manifest::decode_untrusted(&m.encode()), Err(DossierError::ChunkCount { .. })));
    let mut m = enc.manifest.clone();
    m.chunk_size = 100;
    assert!(matches!(custos_dossier::Manifest::decode_untrusted(&m.encode()), Err(DossierError::ChunkSize { .. })));
    let mut s = signed.clone();
    s.signature.suite = SuiteId::Sm;
    assert!(matches!(SignedManifest::decode_untrusted(&s.encode()), Err(DossierError::WrongSuite { .. })));
}

#[test]
fn store_keeps_signed_manifests() {
    let fx = Fixture::new(SuiteId::Sm);
    assert!(fx.store.list().unwrap().is_empty());
    let a = fx.encrypt_bytes(b"first", 4096).manifest.sign(&fx.clerk).unwrap();
    let b = fx.encrypt_bytes(b"second", 4096).manifest.sign(&fx.clerk).unwrap();
    fx.store.put_manifest(&a).unwrap();
    fx.store.put_manifest(&a).unwrap(); // idempotent
    fx.store.put_manifest(&b).unwrap();
    let mut ids = vec![a.doc_id(), b.doc_id()];
    ids.sort();
    assert_eq!(fx.store.list().unwrap(), ids);
    assert_eq!(fx.store.manifest(&a.doc_id()).unwrap().unwrap(), a);
    assert!(fx.store.manifest(&custos_primitives::types::DocHash::default()).unwrap().is_none());

    // Another manifest under the same document id is refused.
    let mut other = a.clone();
    other.manifest.media_type = MediaType::new("image/tiff").unwrap();
    assert!(matches!(fx.store.put_manifest(&other), Err(DossierError::ManifestConflict { .. })));

    // A manifest file copied under another document's name is noticed.
    std::fs::copy(fx.store.manifest_path(&a.doc_id()), fx.store.manifest_path(&b.doc_id())).unwrap();
    assert!(matches!(fx.store.manifest(&b.doc_id()), Err(DossierError::ManifestMisplaced { .. })));

    // Stray files are not listed.
    std::fs::write(fx.store.root().join("manifests").join(".tmp-leftover"), b"x").unwrap();
    assert_eq!(fx.store.list().unwrap().len(), 2);
}

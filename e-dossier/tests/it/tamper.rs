//! Tampering is detected, named by chunk index, and leaves no output file.

use custos_dossier::{Decryptor, DossierError, Encrypted, decrypt_to};
use custos_primitives::crypto::{AeadKey, Hash, Suite};
use custos_primitives::types::DocHash;

use crate::support::{Fixture, Rng, dir_entries, seed, suites};

const CHUNK: u32 = 4096;

/// A 4.5-chunk document.
fn doc(rng: &mut Rng) -> Vec<u8> {
    rng.bytes(CHUNK as usize * 9 / 2)
}

/// Decrypts and asserts failure, no output file and no temporary file left.
fn decrypt_fails(fx: &Fixture, enc: &Encrypted, manifest: &custos_dossier::Manifest, key: &AeadKey) -> DossierError {
    let out = fx.path("out.pdf");
    let err = decrypt_to(&fx.store, manifest, key, &out, &mut |_, _| {}).unwrap_err();
    assert!(!out.exists(), "output left behind after {err}");
    assert_eq!(dir_entries(fx.dir.path()), vec!["store".to_string()], "temporary file left after {err}");
    let _ = enc;
    err
}

#[test]
fn flipped_byte_in_a_stored_chunk_is_detected() {
    let mut rng = Rng::new(seed("flipped_byte_in_a_stored_chunk_is_detected", 0x5eed_0101));
    for id in suites() {
        let fx = Fixture::new(id);
        let enc = fx.encrypt_bytes(&doc(&mut rng), CHUNK);
        let h2 = enc.manifest.chunks[2];
        let path = fx.store.chunk_path(&h2);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[100] ^= 0x04;
        std::fs::write(&path, &bytes).unwrap();

        assert!(matches!(fx.store.get(&h2), Err(DossierError::Corrupt { hash, .. }) if hash == h2));
        let err = decrypt_fails(&fx, &enc, &enc.manifest, &enc.content_key);
        match err {
            DossierError::ChunkMismatch { index: 2, expected, found } => {
                assert_eq!(expected, h2);
                assert_ne!(found, h2);
            }
            other => panic!("expected ChunkMismatch at chunk 2, got {other}"),
        }
        // A chunk cut short is reported the same way.
        std::fs::write(&path, &bytes[..50]).unwrap();
        assert!(matches!(
            decrypt_fails(&fx, &enc, &enc.manifest, &enc.content_key),
            DossierError::ChunkMismatch { index: 2, .. }
        ));
        // A chunk grown past its expected length is refused before it is read whole.
        bytes.extend_from_slice(&[0u8; 64]);
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            decrypt_fails(&fx, &enc, &enc.manifest, &enc.content_key),
            DossierError::ChunkLength { index: 2, .. }
        ));
    }
}

#[test]
fn failed_decryption_keeps_an_existing_output_file() {
    let mut rng = Rng::new(seed("failed_decryption_keeps_an_existing_output_file", 0x5eed_0102));
    let fx = Fixture::new(custos_primitives::crypto::SuiteId::Sm);
    let enc = fx.encrypt_bytes(&doc(&mut rng), CHUNK);
    let out = fx.path("out.pdf");
    std::fs::write(&out, b"previous version").unwrap();
    let wrong = fx.suite.generate_aead_key().unwrap();
    let err = decrypt_to(&fx.store, &enc.manifest, &wrong, &out, &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, DossierError::Decrypt { index: 0 }), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"previous version");
    assert_eq!(dir_entries(fx.dir.path()), vec!["out.pdf".to_string(), "store".to_string()]);
}

#[test]
fn chunk_moved_to_another_position_fails() {
    let mut rng = Rng::new(seed("chunk_moved_to_another_position_fails", 0x5eed_0103));
    for id in suites() {
        let fx = Fixture::new(id);
        let enc = fx.encrypt_bytes(&doc(&mut rng), CHUNK);
        // The manifest is unsigned here: this tests the AEAD binding on its own.
        let mut m = enc.manifest.clone();
        m.chunks.as_mut().swap(1, 2);
        let err = decrypt_fails(&fx, &enc, &m, &enc.content_key);
        assert!(matches!(err, DossierError::Decrypt { index: 1 }), "{err}");
    }
}

#[test]
fn chunk_from_another_document_fails() {
    let mut rng = Rng::new(seed("chunk_from_another_document_fails", 0x5eed_0104));
    for id in suites() {
        let fx = Fixture::new(id);
        let a = fx.encrypt_bytes(&doc(&mut rng), CHUNK);
        let b = fx.encrypt_bytes(&doc(&mut rng), CHUNK);
        let mut m = a.manifest.clone();
        m.chunks[1] = b.manifest.chunks[1];
        let err = decrypt_fails(&fx, &a, &m, &a.content_key);
        assert!(matches!(err, DossierError::Decrypt { index: 1 }), "{err}");
        // Even knowing the other document's key, its chunk does not open in this one
        // (another salt in the associated data).
        let err = decrypt_fails(&fx, &a, &m, &b.content_key);
        assert!(matches!(err, DossierError::Decrypt { index: 0 }), "{err}");
        let mut only_b = m.clone();
        only_b.chunks = b.manifest.chunks.clone();
        let err = decrypt_fails(&fx, &a, &only_b, &b.content_key);
        assert!(matches!(err, DossierError::Decrypt { index: 0 }), "{err}");
    }
}

#[test]
fn truncated_chunk_list_fails() {
    let mut rng = Rng::new(seed("truncated_chunk_list_fails", 0x5eed_0105));
    for id in suites() {
        let fx = Fixture::new(id);
        let enc = fx.encrypt_bytes(&doc(&mut rng), CHUNK);
        assert_eq!(enc.manifest.chunk_count(), 5);
        // Dropping the last chunk alone is inconsistent with the size.
        let mut m = enc.manifest.clone();
        let mut chunks = m.chunks.into_inner();
        chunks.pop();
        m.chunks = chunks.try_into().unwrap();
        let err = decrypt_fails(&fx, &enc, &m, &enc.content_key);
        assert!(matches!(err, DossierError::ChunkCount { expected: 5, found: 4, .. }), "{err}");
        // Shrinking the size to match: chunk 3 was not sealed as the last one.
        m.size = 4 * u64::from(CHUNK);
        let err = decrypt_fails(&fx, &enc, &m, &enc.content_key);
        assert!(matches!(err, DossierError::Decrypt { index: 3 }), "{err}");
    }
}

#[test]
fn missing_chunk_and_wrong_document_id_fail() {
    let mut rng = Rng::new(seed("missing_chunk_and_wrong_document_id_fail", 0x5eed_0106));
    for id in suites() {
        let fx = Fixture::new(id);
        let enc = fx.encrypt_bytes(&doc(&mut rng), CHUNK);
        let mut m = enc.manifest.clone();
        m.doc_id = DocHash(Hash([0xee; 32]));
        let err = decrypt_fails(&fx, &enc, &m, &enc.content_key);
        assert!(
            matches!(err, DossierError::DocumentHash { expected, found }
            if expected == m.doc_id && found == enc.manifest.doc_id),
            "{err}"
        );

        assert!(fx.store.remove(&enc.manifest.chunks[4]).unwrap());
        let err = decrypt_fails(&fx, &enc, &enc.manifest, &enc.content_key);
        assert!(
            matches!(err, DossierError::ChunkMissing { index: 4, hash } if hash == enc.manifest.chunks[4]),
            "{err}"
        );
    }
}

/// The streaming decryptor (what `custos dossier fetch` feeds from the network): chunks are
/// taken in order only, a missing tail is refused at the end, and an unfinished or failed
/// decryption leaves neither output nor temporary file.
#[test]
fn decryptor_takes_chunks_in_order_and_leaves_nothing_unless_finished() {
    let mut rng = Rng::new(seed("decryptor_takes_chunks_in_order_and_leaves_nothing_unless_finished", 0x5eed_0107));
    for id in suites() {
        let fx = Fixture::new(id);
        let bytes = doc(&mut rng);
        let enc = fx.encrypt_bytes(&bytes, CHUNK);
        let m = &enc.manifest;
        let out = fx.path("out.pdf");
        let chunk = |i: usize| fx.store.get(&m.chunks[i]).unwrap();
        let nothing_left = || assert_eq!(dir_entries(fx.dir.path()), vec!["store".to_string()]);

        // Out of order: chunk 1 where chunk 0 is due.
        let mut dec = Decryptor::new(&fx.suite, m, &enc.content_key, &out).unwrap();
        let err = dec.push(&chunk(1)).unwrap_err();
        assert!(matches!(err, DossierError::ChunkMismatch { index: 0, .. }), "{err}");
        drop(dec);
        nothing_left();

        // Finished before the last chunk.
        let mut dec = Decryptor::new(&fx.suite, m, &enc.content_key, &out).unwrap();
        for i in 0..4 {
            dec.push(&chunk(i)).unwrap();
        }
        assert_eq!(dec.next_index(), 4);
        let err = dec.finish().unwrap_err();
        assert!(matches!(err, DossierError::ChunkMissing { index: 4, hash } if hash == m.chunks[4]), "{err}");
        nothing_left();

        // Abandoned half-way (a dropped connection).
        let mut dec = Decryptor::new(&fx.suite, m, &enc.content_key, &out).unwrap();
        dec.push(&chunk(0)).unwrap();
        drop(dec);
        nothing_left();

        // Complete; one chunk too many is refused.
        let mut dec = Decryptor::new(&fx.suite, m, &enc.content_key, &out).unwrap();
        for i in 0..5 {
            dec.push(&chunk(i)).unwrap();
        }
        let err = dec.push(&chunk(4)).unwrap_err();
        assert!(matches!(err, DossierError::InvalidManifest { .. }), "{err}");
        let stats = dec.finish().unwrap();
        assert_eq!((stats.chunks, stats.bytes), (5, bytes.len() as u64));
        assert_eq!(std::fs::read(&out).unwrap(), bytes);
    }
}

//! Encrypt, sign, store, fetch, decrypt: both suites, sizes around the chunk boundaries.

use custos_dossier::{DEFAULT_CHUNK_SIZE, MANIFEST_VERSION, SignedManifest, decrypt_to, encrypt_file};
use custos_primitives::crypto::{Suite, SuiteId};
use custos_primitives::types::DocHash;
use parity_scale_codec::Encode;

use crate::support::{Fixture, Rng, dir_entries, same_file, seed, write_random_file};

#[test]
fn round_trip_sm_at_chunk_boundaries() {
    round_trip_at_chunk_boundaries(SuiteId::Sm, 0x5eed_0001);
}

#[test]
fn round_trip_intl_at_chunk_boundaries() {
    round_trip_at_chunk_boundaries(SuiteId::Intl, 0x5eed_0002);
}

fn round_trip_at_chunk_boundaries(id: SuiteId, default_seed: u64) {
    let c = u64::from(DEFAULT_CHUNK_SIZE);
    let mut rng = Rng::new(seed(&format!("round_trip_{id}_at_chunk_boundaries"), default_seed));
    {
        let fx = Fixture::new(id);
        let sizes = [(0, 1), (1, 1), (c - 1, 1), (c, 1), (c + 1, 2), (c * 7 / 2, 4)];
        for (n, (size, chunks)) in sizes.into_iter().enumerate() {
            let input = fx.path(&format!("in-{size}"));
            write_random_file(&input, size, &mut rng);
            let params = fx.params(DEFAULT_CHUNK_SIZE);
            let mut calls = Vec::new();
            let enc = encrypt_file(&fx.store, &params, &input, &mut |d, t| calls.push((d, t))).unwrap();
            let m = &enc.manifest;
            assert_eq!((m.version, m.suite, m.size, m.chunk_count()), (MANIFEST_VERSION, id, size, chunks));
            assert_eq!(calls.len(), chunks as usize);
            assert_eq!(calls.last(), Some(&(size, size)));
            // The document id is the salted hash of the plaintext, as anchored.
            let bytes = std::fs::read(&input).unwrap();
            assert_eq!(m.doc_id, DocHash::compute(&fx.suite, &params.salt, &bytes));
            assert!(fx.store.missing(m).unwrap().is_empty());

            // Sign, store, reload the manifest as untrusted bytes.
            let signed = m.clone().sign(&fx.clerk).unwrap();
            fx.store.put_manifest(&signed).unwrap();
            let loaded = fx.store.manifest(&m.doc_id).unwrap().unwrap();
            assert_eq!(SignedManifest::decode_untrusted(&signed.encode()).unwrap(), loaded);
            loaded.verify(&fx.suite, &fx.clerk.public_key()).unwrap();

            // Each recipient unwraps the same key with its own decryption key; the two take
            // turns decrypting.
            for agency in [&fx.court, &fx.justice] {
                let key = loaded.manifest.unwrap_content_key(&fx.suite, &agency.id, &agency.key).unwrap();
                assert_eq!(key.as_bytes(), enc.content_key.as_bytes());
            }
            {
                let agency = if n % 2 == 0 { &fx.court } else { &fx.justice };
                let key = loaded.manifest.unwrap_content_key(&fx.suite, &agency.id, &agency.key).unwrap();
                let out = fx.path(&format!("out-{size}-{}", agency.id));
                let mut last = (0, 0);
                let stats = decrypt_to(&fx.store, &loaded.manifest, &key, &out, &mut |d, t| last = (d, t)).unwrap();
                assert_eq!((stats.chunks, stats.bytes), (chunks, size));
                assert_eq!(last, (size, size));
                assert!(same_file(&input, &out), "{id} size {size}");
            }
        }
        assert!(!dir_entries(fx.dir.path()).iter().any(|n| n.starts_with(".tmp-")));
    }
}

#[test]
fn each_document_gets_a_fresh_key_and_distinct_chunks() {
    let fx = Fixture::new(SuiteId::Sm);
    let doc = vec![0x42u8; 10_000];
    let a = fx.encrypt_bytes(&doc, 4096);
    let b = fx.encrypt_bytes(&doc, 4096);
    assert_ne!(a.content_key.as_bytes(), b.content_key.as_bytes());
    assert!(a.manifest.chunks.iter().all(|h| !b.manifest.chunks.contains(h)));
    assert_eq!(a.content_key.as_bytes().len(), fx.suite.aead_key_len());
}

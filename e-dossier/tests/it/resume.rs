//! `missing()`: what a resumed transfer still needs.

use custos_dossier::{ChunkStore, decrypt_to};
use custos_primitives::crypto::SuiteId;

use crate::support::{Fixture, Rng, same_file, seed, suites};

#[test]
fn missing_lists_exactly_the_deleted_chunks() {
    let mut rng = Rng::new(seed("missing_lists_exactly_the_deleted_chunks", 0x5eed_0201));
    for id in suites() {
        let fx = Fixture::new(id);
        let enc = fx.encrypt_bytes(&rng.bytes(4096 * 6 + 10), 4096);
        let m = &enc.manifest;
        assert_eq!(m.chunk_count(), 7);
        assert!(fx.store.missing(m).unwrap().is_empty());
        std::fs::remove_file(fx.store.chunk_path(&m.chunks[2])).unwrap();
        std::fs::remove_file(fx.store.chunk_path(&m.chunks[5])).unwrap();
        assert_eq!(fx.store.missing(m).unwrap(), vec![2, 5]);
    }
}

#[test]
fn resumed_transfer_between_stores() {
    let mut rng = Rng::new(seed("resumed_transfer_between_stores", 0x5eed_0202));
    let fx = Fixture::new(SuiteId::Sm);
    let input = rng.bytes(4096 * 5);
    let enc = fx.encrypt_bytes(&input, 4096);
    let signed = enc.manifest.clone().sign(&fx.clerk).unwrap();

    // The recipient's node has the manifest and nothing else.
    let remote = ChunkStore::open(fx.path("remote"), fx.suite.clone()).unwrap();
    remote.put_manifest(&signed).unwrap();
    let m = &remote.manifest(&signed.doc_id()).unwrap().unwrap().manifest;
    assert_eq!(remote.missing(m).unwrap(), vec![0, 1, 2, 3, 4]);

    // First session: chunks 0 and 3 arrive, then the connection drops.
    for i in [0usize, 3] {
        remote.put_expected(&m.chunks[i], &fx.store.get(&m.chunks[i]).unwrap()).unwrap();
    }
    assert_eq!(remote.missing(m).unwrap(), vec![1, 2, 4]);
    // A chunk offered under the wrong name is refused.
    assert!(remote.put_expected(&m.chunks[1], &fx.store.get(&m.chunks[2]).unwrap()).is_err());
    // Second session fetches the rest.
    for i in remote.missing(m).unwrap() {
        let h = &m.chunks[i as usize];
        remote.put_expected(h, &fx.store.get(h).unwrap()).unwrap();
    }
    assert!(remote.missing(m).unwrap().is_empty());

    let key = m.unwrap_content_key(&fx.suite, &fx.justice.id, &fx.justice.key).unwrap();
    let out = fx.path("received.pdf");
    decrypt_to(&remote, m, &key, &out, &mut |_, _| {}).unwrap();
    let src = fx.path("src.pdf");
    std::fs::write(&src, &input).unwrap();
    assert!(same_file(&src, &out));
}

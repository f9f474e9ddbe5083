//! The store on a real RocksDB folder: commit, reopen, idempotence, conflicts, ordering,
//! undecided proposals, corrupt records.

use std::time::Duration;

use custos_contracts::state;
use custos_node::store::{
    CF_BLOCKS, CF_JMT_NODES, CF_JMT_VALUES, CF_META, CF_TXS, CF_UNDECIDED, COLUMN_FAMILIES, Commit, CommitOutcome,
    Store, StoreError, StoredBlock, TxRecord,
};
use custos_primitives::Hash;
use custos_primitives::crypto::{AnySuite, SuiteId};
use custos_primitives::types::{BlockHash, TxId};
use parity_scale_codec::Encode;

fn hash(b: u8) -> BlockHash {
    BlockHash(Hash([b; 32]))
}

fn txid(height: u64, i: u8) -> TxId {
    let mut h = [i; 32];
    h[..8].copy_from_slice(&height.to_be_bytes());
    TxId(Hash(h))
}

fn commit_at(height: u64) -> Commit {
    let b = height as u8;
    Commit {
        height,
        block_hash: hash(b),
        block: format!("block-{height}").into_bytes(),
        certificate: format!("cert-{height}").into_bytes(),
        txs: vec![(txid(height, 1), b"tx-a".to_vec()), (txid(height, 2), b"tx-b".to_vec())],
        state_writes: vec![(b"state/counter".to_vec(), Some(height.to_be_bytes().to_vec()))],
        index_writes: vec![(format!("doc/{b:02x}").into_bytes(), txid(height, 1).0.0.to_vec())],
        next_validator_set: None,
        state_tree: Default::default(),
    }
}

fn written(outcome: CommitOutcome) -> Duration {
    match outcome {
        CommitOutcome::Written { write_time, batch_bytes } => {
            assert!(batch_bytes > 0);
            write_time
        }
        CommitOutcome::AlreadyCommitted => panic!("expected a write"),
    }
}

#[test]
fn commit_then_reopen_finds_everything() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.last_committed_height().unwrap(), None);
        store.set_genesis_validator_set(b"vset-1").unwrap();
        written(store.commit(&commit_at(1)).unwrap());
        let mut c2 = commit_at(2);
        c2.next_validator_set = Some(b"vset-3".to_vec());
        c2.state_writes.push((b"state/gone".to_vec(), Some(b"x".to_vec())));
        written(store.commit(&c2).unwrap());
        let mut c3 = commit_at(3);
        c3.state_writes.push((b"state/gone".to_vec(), None));
        written(store.commit(&c3).unwrap());
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.last_committed_height().unwrap(), Some(3));
    for h in 1..=3u64 {
        assert_eq!(store.block(h).unwrap(), Some(format!("block-{h}").into_bytes()));
        assert_eq!(store.block_hash(h).unwrap(), Some(hash(h as u8)));
        assert_eq!(store.block_height(&hash(h as u8)).unwrap(), Some(h));
        assert_eq!(store.certificate(h).unwrap(), Some(format!("cert-{h}").into_bytes()));
        assert_eq!(store.tx(&txid(h, 2)).unwrap(), Some(TxRecord { height: h, index: 1, bytes: b"tx-b".to_vec() }));
    }
    assert_eq!(store.block(4).unwrap(), None);
    assert_eq!(store.tx(&txid(9, 9)).unwrap(), None);
    assert_eq!(store.state_get(b"state/counter").unwrap(), Some(3u64.to_be_bytes().to_vec()));
    assert_eq!(store.state_get(b"state/gone").unwrap(), None);
    assert_eq!(store.index_get(b"doc/02").unwrap(), Some(txid(2, 1).0.0.to_vec()));
    let docs = store.index_prefix(b"doc/").unwrap();
    let keys: Vec<&[u8]> = docs.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(keys, vec![&b"doc/01"[..], b"doc/02", b"doc/03"]);
    assert_eq!(store.index_prefix_limited(b"doc/", 2).unwrap().len(), 2);
    assert!(store.index_prefix(b"nothing").unwrap().is_empty());
    // Validator sets: genesis at 1, the change decided at 2 signs from 3 on.
    assert_eq!(store.validator_set(0).unwrap(), None);
    assert_eq!(store.validator_set(1).unwrap(), Some(b"vset-1".to_vec()));
    assert_eq!(store.validator_set(2).unwrap(), Some(b"vset-1".to_vec()));
    assert_eq!(store.validator_set(3).unwrap(), Some(b"vset-3".to_vec()));
    assert_eq!(store.validator_set(1_000).unwrap(), Some(b"vset-3".to_vec()));
}

#[test]
fn a_commit_never_made_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        written(store.commit(&commit_at(1)).unwrap());
        // Height 2 is prepared but the node "crashes" before committing it.
        let _never_committed = commit_at(2);
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.last_committed_height().unwrap(), Some(1));
    assert_eq!(store.block(2).unwrap(), None);
    assert_eq!(store.certificate(2).unwrap(), None);
    assert_eq!(store.block_height(&hash(2)).unwrap(), None);
    assert_eq!(store.tx(&txid(2, 1)).unwrap(), None);
    assert_eq!(store.index_get(b"doc/02").unwrap(), None);
    assert_eq!(store.state_get(b"state/counter").unwrap(), Some(1u64.to_be_bytes().to_vec()));
}

#[test]
fn recommitting_the_same_block_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    written(store.commit(&commit_at(1)).unwrap());
    written(store.commit(&commit_at(2)).unwrap());
    assert_eq!(store.commit(&commit_at(2)).unwrap(), CommitOutcome::AlreadyCommitted);
    assert_eq!(store.commit(&commit_at(1)).unwrap(), CommitOutcome::AlreadyCommitted);
    // A replayed commit does not roll the state back.
    assert_eq!(store.state_get(b"state/counter").unwrap(), Some(2u64.to_be_bytes().to_vec()));
    assert_eq!(store.last_committed_height().unwrap(), Some(2));
}

#[test]
fn a_different_block_at_a_committed_height_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    written(store.commit(&commit_at(1)).unwrap());
    let mut other = commit_at(1);
    other.block_hash = hash(0xee);
    match store.commit(&other) {
        Err(StoreError::ConflictingCommit { height: 1, stored, new }) => {
            assert_eq!((stored, new), (hash(1), hash(0xee)));
        }
        r => panic!("expected a conflict, got {r:?}"),
    }
    assert_eq!(store.block_height(&hash(0xee)).unwrap(), None);
}

#[test]
fn heights_must_follow_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let e = store.commit(&commit_at(2)).unwrap_err();
    assert!(matches!(e, StoreError::UnexpectedHeight { height: 2, last_committed: None }), "{e:?}");
    written(store.commit(&commit_at(1)).unwrap());
    let e = store.commit(&commit_at(3)).unwrap_err();
    assert!(matches!(e, StoreError::UnexpectedHeight { height: 3, last_committed: Some(1) }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains('3') && msg.contains('1') && msg.contains('2'), "{msg}");
    assert_eq!(store.block(3).unwrap(), None);
}

#[test]
fn certificates_can_be_replaced_for_committed_heights_only() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        assert!(matches!(store.replace_certificate(1, b"x"), Err(StoreError::NotCommitted { height: 1, .. })));
        written(store.commit(&commit_at(1)).unwrap());
        store.replace_certificate(1, b"cert-1-more-signatures").unwrap();
        assert!(matches!(
            store.replace_certificate(2, b"x"),
            Err(StoreError::NotCommitted { height: 2, last_committed: Some(1) })
        ));
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.certificate(1).unwrap(), Some(b"cert-1-more-signatures".to_vec()));
}

#[test]
fn genesis_validator_set_and_meta() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.set_genesis_validator_set(b"g").unwrap();
    store.set_genesis_validator_set(b"g").unwrap();
    assert!(matches!(store.set_genesis_validator_set(b"other"), Err(StoreError::GenesisValidatorSetMismatch { .. })));
    assert_eq!(store.meta_get(b"genesis_hash").unwrap(), None);
    store.meta_put(b"genesis_hash", &[7; 32]).unwrap();
    assert_eq!(store.meta_get(b"genesis_hash").unwrap(), Some(vec![7; 32]));
    assert!(matches!(store.meta_put(b"store/last_committed", &[0; 8]), Err(StoreError::ReservedMetaKey { .. })));
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.meta_get(b"genesis_hash").unwrap(), Some(vec![7; 32]));
    assert_eq!(store.validator_set(1).unwrap(), Some(b"g".to_vec()));
}

#[test]
fn undecided_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        assert!(store.put_undecided(1, 0, &hash(1), b"b1r0", b"pv-1-0").unwrap());
        assert!(store.put_undecided(1, 1, &hash(0x11), b"b1r1", b"pv-1-1").unwrap());
        assert!(store.put_undecided(2, 0, &hash(2), b"b2", b"pv-2-0").unwrap());
        assert!(store.put_undecided(3, 0, &hash(3), b"b3", b"pv-3-0").unwrap());
        assert!(store.put_undecided(4, 0, &hash(4), b"b4", b"pv-4-0").unwrap());
    }
    // Durable across a restart.
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.undecided_block(1, &hash(0x11)).unwrap(), Some(b"b1r1".to_vec()));
    assert_eq!(store.undecided_block(1, &hash(1)).unwrap(), Some(b"b1r0".to_vec()));
    assert_eq!(store.undecided_block(1, &hash(2)).unwrap(), None);
    assert_eq!(store.undecided_for_round(1, 1).unwrap(), vec![(hash(0x11), b"pv-1-1".to_vec())]);
    assert_eq!(store.undecided_for_round(1, 2).unwrap(), vec![]);

    // Committing height 1 removes the proposals of height 1 only.
    written(store.commit(&commit_at(1)).unwrap());
    assert_eq!(store.undecided_block(1, &hash(1)).unwrap(), None);
    assert!(store.undecided_for_round(1, 1).unwrap().is_empty());
    assert_eq!(store.undecided_block(2, &hash(2)).unwrap(), Some(b"b2".to_vec()));
    // A late proposal for a committed height is not stored.
    assert!(!store.put_undecided(1, 5, &hash(9), b"late", b"pv").unwrap());
    assert_eq!(store.undecided_block(1, &hash(9)).unwrap(), None);

    store.prune_undecided_below(4).unwrap();
    assert_eq!(store.undecided_block(2, &hash(2)).unwrap(), None);
    assert_eq!(store.undecided_block(3, &hash(3)).unwrap(), None);
    assert_eq!(store.undecided_for_round(4, 0).unwrap(), vec![(hash(4), b"pv-4-0".to_vec())]);
}

/// Opens the folder with plain RocksDB and overwrites one record.
fn tamper(path: &std::path::Path, cf: &str, key: &[u8], value: &[u8]) {
    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(false);
    let db = rocksdb::DB::open_cf(&opts, path, COLUMN_FAMILIES).unwrap();
    db.put_cf(db.cf_handle(cf).unwrap(), key, value).unwrap();
}

#[test]
fn corrupt_records_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        written(store.commit(&commit_at(1)).unwrap());
        store.put_undecided(2, 0, &hash(2), b"b2", b"pv").unwrap();
    }
    tamper(dir.path(), CF_TXS, &txid(1, 1).0.0, &[0xff; 3]);
    let mut trailing = StoredBlock { hash: hash(1), bytes: b"block-1".to_vec() }.encode();
    trailing.push(0);
    tamper(dir.path(), CF_BLOCKS, &1u64.to_be_bytes(), &trailing);
    tamper(dir.path(), CF_UNDECIDED, &[0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 7], b"short key");
    let store = Store::open(dir.path()).unwrap();
    assert!(matches!(store.tx(&txid(1, 1)), Err(StoreError::Corrupt { cf: "txs", .. })));
    // Trailing bytes are corruption too.
    let e = store.block(1).unwrap_err();
    assert!(matches!(&e, StoreError::Corrupt { cf: "blocks", key_hex, .. } if key_hex == "0000000000000001"), "{e:?}");
    // Re-committing height 1 needs the stored hash: corruption, not a panic nor a conflict.
    assert!(matches!(store.commit(&commit_at(1)), Err(StoreError::Corrupt { .. })));
    assert!(matches!(store.undecided_for_round(2, 0), Err(StoreError::Corrupt { cf: "undecided", .. })));
    drop(store);

    tamper(dir.path(), CF_META, b"store/last_committed", &[1, 2, 3]);
    let store = Store::open(dir.path()).unwrap();
    assert!(matches!(store.last_committed_height(), Err(StoreError::Corrupt { cf: "meta", .. })));
    assert!(matches!(store.commit(&commit_at(2)), Err(StoreError::Corrupt { .. })));
    drop(store);

    tamper(dir.path(), CF_META, b"store/schema", &99u32.to_be_bytes());
    assert!(matches!(Store::open(dir.path()), Err(StoreError::SchemaMismatch { found: 99, expected: 2, .. })));
}

#[test]
fn the_store_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(dir.path()).unwrap());
    written(store.commit(&commit_at(1)).unwrap());
    // Two threads race to commit height 2: exactly one writes, the other sees it committed.
    let outcomes: Vec<CommitOutcome> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2).map(|_| s.spawn(|| store.commit(&commit_at(2)).unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let writes = outcomes.iter().filter(|o| matches!(o, CommitOutcome::Written { .. })).count();
    assert_eq!(writes, 1);
}

/// Times synced commits of small blocks. Run with
/// `cargo test -p custos-node --test it -- --ignored --nocapture measure_synced_commit`.
#[test]
#[ignore = "measurement, prints timings"]
fn measure_synced_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let n = 200u64;
    let mut times = Vec::new();
    let start = std::time::Instant::now();
    for h in 1..=n {
        let mut c = commit_at(h);
        c.block_hash = BlockHash(Hash([(h % 251) as u8; 32]));
        c.block_hash.0.0[..8].copy_from_slice(&h.to_be_bytes());
        c.txs = (0..50u8).map(|i| (txid(h, i), vec![i; 300])).collect();
        times.push(written(store.commit(&c).unwrap()));
    }
    let wall = start.elapsed();
    times.sort();
    let pct = |p: usize| times[(times.len() - 1) * p / 100];
    println!(
        "{n} synced commits of 50 x 300-byte txs: median {:?}, p90 {:?}, max {:?}; wall {:?} ({:.0} commits/s)",
        pct(50),
        pct(90),
        pct(100),
        wall,
        n as f64 / wall.as_secs_f64()
    );
}

type Writes = Vec<(Vec<u8>, Option<Vec<u8>>)>;

fn put(k: &str, v: &str) -> (Vec<u8>, Option<Vec<u8>>) {
    (k.as_bytes().to_vec(), Some(v.as_bytes().to_vec()))
}

/// Commits `writes` as the next height, with the state tree computed from the store as the
/// node does; returns the root.
fn commit_state(store: &Store, suite: &AnySuite, writes: Writes) -> Hash {
    let height = store.last_committed_height().unwrap().unwrap_or(0) + 1;
    let (root, tree) = state::compute_root(suite, store, &writes, height).unwrap();
    let mut c = commit_at(height);
    c.state_writes = writes;
    c.state_tree = tree;
    written(store.commit(&c).unwrap());
    root
}

/// Every key of `keys` proven at every height `1..=roots.len()` against that height's root,
/// with the expected value.
fn check_proofs(store: &Store, suite: &AnySuite, roots: &[Hash], expect: &[(&str, Vec<Option<&str>>)]) {
    for (key, per_height) in expect {
        for (i, want) in per_height.iter().enumerate() {
            let h = i as u64 + 1;
            assert_eq!(state::root_at(suite, store, h).unwrap(), roots[i], "root at {h}");
            let (got, proof) = state::prove(suite, store, key.as_bytes(), h).unwrap();
            assert_eq!(got.as_deref(), want.map(str::as_bytes), "{key} at {h}");
            proof.verify(suite, &roots[i], key.as_bytes(), want.map(str::as_bytes)).unwrap();
            // The opposite claim fails.
            let opposite = if want.is_some() { None } else { Some(b"x".as_slice()) };
            assert!(proof.verify(suite, &roots[i], key.as_bytes(), opposite).is_err());
        }
    }
}

#[test]
fn state_tree_proves_old_heights_after_later_changes() {
    for id in [SuiteId::Sm, SuiteId::Intl] {
        let suite = AnySuite::with_defaults(id);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let roots = vec![
            commit_state(&store, &suite, vec![put("doc/aa", "v1"), put("nonce/01", "1")]),
            commit_state(&store, &suite, vec![put("doc/aa", "v2"), put("receipt/aa/gov", "r")]),
            commit_state(&store, &suite, vec![("doc/aa".into(), None), put("doc/bb", "b")]),
            commit_state(&store, &suite, vec![]),
        ];
        assert_eq!(roots[2], roots[3], "an empty block keeps the root");
        assert_eq!(state::root_at(&suite, &store, 0).unwrap(), state::EMPTY_ROOT);
        check_proofs(
            &store,
            &suite,
            &roots,
            &[
                ("doc/aa", vec![Some("v1"), Some("v2"), None, None]),
                ("receipt/aa/gov", vec![None, Some("r"), Some("r"), Some("r")]),
                ("doc/bb", vec![None, None, Some("b"), Some("b")]),
                ("never/written", vec![None, None, None, None]),
            ],
        );
        assert!(matches!(
            state::prove(&suite, &store, b"doc/aa", 5),
            Err(state::StateError::MissingRoot { height: 5 })
        ));
    }
}

#[test]
fn state_tree_and_state_survive_a_reopen_together() {
    let suite = AnySuite::with_defaults(SuiteId::Sm);
    let dir = tempfile::tempdir().unwrap();
    let mut roots = Vec::new();
    {
        let store = Store::open(dir.path()).unwrap();
        roots.push(commit_state(&store, &suite, vec![put("doc/aa", "v1"), put("doc/cc", "c")]));
        roots.push(commit_state(&store, &suite, vec![put("doc/aa", "v2")]));
        // A commit that is refused (wrong height) writes neither state nor tree.
        let (_, tree) = state::compute_root(&suite, &store, &[put("doc/zz", "z")], 3).unwrap();
        let mut bad = commit_at(5);
        bad.state_writes = vec![put("doc/zz", "z")];
        bad.state_tree = tree;
        assert!(store.commit(&bad).is_err());
        // Dropped without any shutdown step: what was synced is all there is.
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.last_committed_height().unwrap(), Some(2));
    // The tree resumes where the state is: the next block builds on the reopened tree.
    roots.push(commit_state(&store, &suite, vec![("doc/cc".into(), None), put("doc/dd", "d")]));
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    check_proofs(
        &store,
        &suite,
        &roots,
        &[
            ("doc/aa", vec![Some("v1"), Some("v2"), Some("v2")]),
            ("doc/cc", vec![Some("c"), Some("c"), None]),
            ("doc/dd", vec![None, None, Some("d")]),
            ("doc/zz", vec![None, None, None]),
        ],
    );
    // The plain state (fast reads) and the tree agree on the latest height.
    for key in ["doc/aa", "doc/cc", "doc/dd", "doc/zz"] {
        let (tree_value, _) = state::prove(&suite, &store, key.as_bytes(), 3).unwrap();
        assert_eq!(store.state_get(key.as_bytes()).unwrap(), tree_value, "{key}");
    }
    // The same writes on a fresh store give the same roots: the root is content, not history.
    let other = tempfile::tempdir().unwrap();
    let fresh = Store::open(other.path()).unwrap();
    let at_once = commit_state(&fresh, &suite, vec![put("doc/aa", "v2"), put("doc/dd", "d")]);
    assert_eq!(at_once, roots[2]);
}

#[test]
fn corrupt_tree_records_are_errors_not_panics() {
    let suite = AnySuite::with_defaults(SuiteId::Intl);
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        commit_state(&store, &suite, vec![put("doc/aa", "v1")]);
    }
    let key_hash = state::key_hash(&suite, b"doc/aa");
    let mut value_key = key_hash.0.to_vec();
    value_key.extend_from_slice(&1u64.to_be_bytes());
    tamper(dir.path(), CF_JMT_VALUES, &value_key, &[7, 7]);
    let store = Store::open(dir.path()).unwrap();
    assert!(matches!(store.tree_value(1, &key_hash), Err(StoreError::Corrupt { cf: "jmt_values", .. })));
    assert!(state::prove(&suite, &store, b"doc/aa", 1).is_err());
    drop(store);
    // Tree nodes that do not decode.
    {
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), COLUMN_FAMILIES).unwrap();
        let cf = db.cf_handle(CF_JMT_NODES).unwrap();
        let keys: Vec<Box<[u8]>> = db.iterator_cf(cf, rocksdb::IteratorMode::Start).map(|r| r.unwrap().0).collect();
        assert!(!keys.is_empty());
        for k in keys {
            db.put_cf(cf, k, [0xff]).unwrap();
        }
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(matches!(state::root_at(&suite, &store, 1), Err(state::StateError::Tree { .. })));
}

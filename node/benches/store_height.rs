//! The store's work per height — one undecided proposal stored, read back as consensus does
//! (`undecided_for_round`, `undecided_block`), then the height committed — measured on a chain
//! of 100 heights and on one of 5,000. The two figures should match: the time per height must
//! not grow with the chain.
//!
//! It guards the fix of a real decay: the commit used to delete the undecided proposals with a
//! range tombstone from key 0, one per block. Every later read of that column family then had to
//! fragment all of them, and the network's block rate fell from about 14 heights/s at height 500
//! to 2 at height 2,000 (`docs/benchmarks.md`).
//!
//! Run: `cargo bench -p custos-node --bench store_height`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};

use custos_node::store::{Commit, Store};
use custos_primitives::Hash;
use custos_primitives::types::BlockHash;

fn block_hash(height: u64) -> BlockHash {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&height.to_be_bytes());
    BlockHash(Hash(h))
}

/// One height as the node runs it: the proposal stored, read back, the block committed.
fn one_height(store: &Store, height: u64) {
    let hash = block_hash(height);
    store.put_undecided(height, 0, &hash, b"block", b"proposed value").unwrap();
    black_box(store.undecided_for_round(height, 0).unwrap());
    black_box(store.undecided_block(height, &hash).unwrap());
    let commit = Commit {
        height,
        block_hash: hash,
        block: b"block".to_vec(),
        certificate: b"certificate".to_vec(),
        state_writes: vec![(b"counter".to_vec(), Some(height.to_be_bytes().to_vec()))],
        ..Commit::default()
    };
    black_box(store.commit(&commit).unwrap());
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_height");
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    for chain in [100u64, 5_000] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.set_genesis_validator_set(b"validator set").unwrap();
        for h in 1..=chain {
            one_height(&store, h);
        }
        let mut next = chain + 1;
        group.bench_with_input(BenchmarkId::new("put_read_commit", chain), &chain, |b, _| {
            b.iter_batched(
                || {
                    next += 1;
                    next - 1
                },
                |h| one_height(&store, h),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

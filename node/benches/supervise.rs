//! Supervision over 100,000 cases (issue 7 point 6): the rules evaluated over every digest in
//! memory, and the node's whole query path — one scan of the `supv/` index of a RocksDB store,
//! decoding each SCALE digest, evaluating, filtering — as `Supervise` runs it.
//!
//! The digests come from `custos_node::synthetic`, a generator with a fixed seed: a mix of subject kinds (管制, 缓刑, 假释,
//! 暂外), judgments delivered on time or late, copies sent or not, intakes registered or not,
//! receipts, execution notices, warnings with or without a revocation proposal, leaves with or
//! without a return.
//!
//! Run: `cargo bench -p custos-node --bench supervise` (prints seconds per query, then
//! criterion's figures).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use parity_scale_codec::Encode;

use custos_contracts::call::Date;
use custos_node::store::{Commit, Store};
use custos_node::supervise::{self, Access, Query};
use custos_node::synthetic;
use custos_primitives::Hash;
use custos_primitives::types::{AgencyId, BlockHash};

const CASES: usize = 100_000;

fn a(s: &str) -> AgencyId {
    AgencyId::new(s).unwrap()
}

fn bench(c: &mut Criterion) {
    let today = Date::parse("2026-11-30").unwrap();
    let started = Instant::now();
    let ds = synthetic::digests(CASES, 0x5eed_c0de, today);
    let docs: usize = ds.iter().map(|d| d.docs.len()).sum();
    println!("generated {CASES} case digests ({docs} documents) in {:.2?}", started.elapsed());
    let inputs = synthetic::inputs();
    let q = Query { as_of: today, rule: None, agency: None, case: None, limit: 1000 };

    // In memory: the rules alone.
    let t = Instant::now();
    let ans = supervise::evaluate_all(&ds, &inputs, &q, &Access::All);
    println!(
        "evaluate (in memory): {:.3} s per query over {} cases, {} findings",
        t.elapsed().as_secs_f64(),
        ans.cases,
        ans.matched
    );

    // The node's path: the index of a RocksDB store, scanned, decoded and evaluated.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let index: Vec<(Vec<u8>, Vec<u8>)> = ds.iter().map(|d| (supervise::digest_key(&d.case_ref), d.encode())).collect();
    let bytes: usize = index.iter().map(|(_, v)| v.len()).sum();
    store
        .commit(&Commit {
            height: 1,
            block_hash: BlockHash(Hash([1; 32])),
            block: vec![1],
            certificate: vec![1],
            index_writes: index,
            ..Commit::default()
        })
        .unwrap();
    drop(ds);
    println!("index: {CASES} digests, {:.1} MiB", bytes as f64 / (1 << 20) as f64);
    for (name, q, access) in [
        ("procuratorate, all findings", q.clone(), Access::All),
        ("police clerk (own agency only)", q.clone(), Access::Only(a("police"))),
        ("procuratorate, --rule S02", Query { rule: Some("S02".into()), ..q.clone() }, Access::All),
    ] {
        let t = Instant::now();
        let ans = supervise::query(&store, &inputs, &q, &access).unwrap();
        println!(
            "query over the store ({name}): {:.3} s per query, {} cases, {} findings matched",
            t.elapsed().as_secs_f64(),
            ans.cases,
            ans.matched
        );
    }

    let mut group = c.benchmark_group("supervise");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("query_100k_cases_store", |b| {
        b.iter(|| black_box(supervise::query(&store, &inputs, &q, &Access::All).unwrap().matched))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

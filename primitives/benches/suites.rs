//! The machine's ceiling for each suite primitive, so later benchmarks can be read against it:
//! SM2 / ed25519 sign and verify, SM3 / SHA-256 and SM4-GCM / AES-256-GCM throughput.
//!
//! Run: `cargo bench -p custos-primitives --bench suites`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use custos_primitives::crypto::{AnySuite, Suite, SuiteId};
use std::hint::black_box;

fn suites() -> [(SuiteId, &'static str, AnySuite); 2] {
    [
        (SuiteId::Sm, "sm2", AnySuite::with_defaults(SuiteId::Sm)),
        (SuiteId::Intl, "ed25519", AnySuite::with_defaults(SuiteId::Intl)),
    ]
}

fn signatures(c: &mut Criterion) {
    let msg = [0x5au8; 200]; // about the size of a signed anchor transaction
    let mut g = c.benchmark_group("signature");
    for (_, name, s) in suites() {
        let key = s.generate_signing_key().unwrap();
        let pk = key.public_key();
        let sig = key.sign(&msg).unwrap();
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("sign", name), |b| b.iter(|| key.sign(black_box(&msg)).unwrap()));
        g.bench_function(BenchmarkId::new("verify", name), |b| {
            b.iter(|| s.verify(black_box(&pk), black_box(&msg), black_box(&sig)).unwrap())
        });
    }
    g.finish();
}

fn hashing(c: &mut Criterion) {
    let data = vec![0xa5u8; 1 << 20];
    let mut g = c.benchmark_group("hash-1MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    for (id, _, s) in suites() {
        let name = match id {
            SuiteId::Sm => "sm3",
            SuiteId::Intl => "sha256",
        };
        g.bench_function(name, |b| b.iter(|| s.hash(black_box(&data))));
    }
    g.finish();
}

fn aead(c: &mut Criterion) {
    let data = vec![0xa5u8; 1 << 20];
    let mut g = c.benchmark_group("aead-seal-1MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    for (id, _, s) in suites() {
        let name = match id {
            SuiteId::Sm => "sm4-gcm",
            SuiteId::Intl => "aes256-gcm",
        };
        let key = s.generate_aead_key().unwrap();
        let nonce = [1u8; 12];
        g.bench_function(name, |b| b.iter(|| s.seal(&key, &nonce, b"", black_box(&data)).unwrap()));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = signatures, hashing, aead
}
criterion_main!(benches);

//! Offline verification of an evidence bundle: the demo's judgment (a case with ten events:
//! four certified headers with 16 SM2 precommit signatures, 29 state proofs, 3 signed
//! transactions with their members' certificates), in process.
//!
//! `cargo bench -p custos-contracts --bench evidence`. The fixture was exported by
//! `scripts/demo.sh` (`demo-net/judgment.evidence`); its own genesis is the trust anchor here.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};

use custos_contracts::evidence::{self, Bundle, TrustAnchor};
use custos_primitives::genesis::Genesis;

fn fixture() -> (Bundle, TrustAnchor) {
    let bytes = include_bytes!("fixtures/demo-judgment.evidence");
    let bundle = Bundle::from_bytes(bytes).expect("the fixture decodes");
    let text = std::str::from_utf8(&bundle.genesis).expect("utf-8 genesis");
    let genesis = Genesis::from_json(text).and_then(|g| g.validate()).expect("valid genesis");
    (bundle, TrustAnchor(genesis.hash))
}

fn verify(c: &mut Criterion) {
    let (bundle, trust) = fixture();
    let report = evidence::verify(&bundle, trust);
    assert!(report.ok(), "{:?}", report.failures);
    let v = report.verified.expect("verified");
    eprintln!(
        "bundle: {} bytes, {} headers, {} signatures, {} state proofs, {} timeline entries",
        bundle.to_bytes().len(),
        v.headers,
        v.signatures,
        v.facts,
        v.timeline.len()
    );
    c.bench_function("evidence/verify_demo_judgment_sm", |b| b.iter(|| evidence::verify(&bundle, trust)));
    c.bench_function("evidence/decode_and_verify_demo_judgment_sm", |b| {
        let bytes = bundle.to_bytes();
        b.iter(|| evidence::verify(&Bundle::from_bytes(&bytes).expect("decodes"), trust))
    });
}

criterion_group!(benches, verify);
criterion_main!(benches);

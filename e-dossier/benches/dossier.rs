//! E-dossier throughput on a 64 MiB document, per suite: encrypt + store (read the file,
//! seal every chunk, hash the document, write and fsync every chunk) and fetch + decrypt
//! (read and verify every chunk, open it, hash, write, fsync and rename the output).
//! Read the figures against `custos-primitives`' `suites` bench (the raw AEAD and hash
//! ceilings).
//!
//! Run: `cargo bench -p custos-dossier --bench dossier`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use custos_dossier::{ChunkStore, DEFAULT_CHUNK_SIZE, DocTypeCode, EncryptParams, MediaType, decrypt_to, encrypt_file};
use custos_primitives::crypto::{AnySuite, Hash, Suite, SuiteId};
use custos_primitives::types::{AgencyId, CaseRef, CertFingerprint, Salt};

const SIZE: u64 = 64 << 20;

/// Writes `SIZE` pseudo-random bytes (SplitMix64, fixed seed): incompressible, like a scan.
fn write_input(path: &Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut state: u64 = 0x5eed_beef;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..SIZE / buf.len() as u64 {
        for w in buf.chunks_mut(8) {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            w.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        f.write_all(&buf).unwrap();
    }
    f.flush().unwrap();
}

fn params(suite: &AnySuite) -> EncryptParams {
    let recipient = |id: &str| (AgencyId::new(id).unwrap(), suite.generate_decryption_key().unwrap().public_key());
    EncryptParams {
        salt: Salt::random().unwrap(),
        chunk_size: DEFAULT_CHUNK_SIZE,
        media_type: MediaType::new("application/pdf").unwrap(),
        doc_type: DocTypeCode::new("JUDGMENT").unwrap(),
        case_ref: CaseRef(Hash([7; 32])),
        issuer: AgencyId::new("court-230102").unwrap(),
        clerk: CertFingerprint(Hash([9; 32])),
        recipients: vec![recipient("court-230102"), recipient("justice-230102")],
    }
}

fn dossier(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("scan.pdf");
    write_input(&input);

    let mut g = c.benchmark_group("dossier-64MiB");
    g.throughput(Throughput::Bytes(SIZE));
    g.sampling_mode(SamplingMode::Flat);
    for id in [SuiteId::Sm, SuiteId::Intl] {
        let suite = AnySuite::with_defaults(id);
        let p = params(&suite);

        // Every iteration writes into a fresh store, removed outside the timed section.
        g.bench_function(BenchmarkId::new("encrypt+store", id.as_str()), |b| {
            b.iter_batched(
                || {
                    let d = tempfile::tempdir_in(dir.path()).unwrap();
                    let store = ChunkStore::open(d.path(), suite.clone()).unwrap();
                    (d, store)
                },
                |(d, store)| {
                    let enc = encrypt_file(&store, &p, &input, &mut |_, _| {}).unwrap();
                    (d, black_box(enc))
                },
                BatchSize::PerIteration,
            )
        });

        let store_dir = dir.path().join(format!("store-{id}"));
        let store = ChunkStore::open(&store_dir, suite.clone()).unwrap();
        let enc = encrypt_file(&store, &p, &input, &mut |_, _| {}).unwrap();
        let out = dir.path().join(format!("out-{id}.pdf"));
        g.bench_function(BenchmarkId::new("fetch+decrypt", id.as_str()), |b| {
            b.iter(|| decrypt_to(&store, &enc.manifest, &enc.content_key, &out, &mut |_, _| {}).unwrap())
        });
        std::fs::remove_dir_all(&store_dir).unwrap();
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(15));
    targets = dossier
}
criterion_main!(benches);

//! "A short run of each in the test suite": a seeded mutation loop per target over its corpus
//! (byte flips, truncations, splices…, see `custos_fuzz_targets::mutate`), on stable Rust.
//!
//! - `CUSTOS_FUZZ_SECS` — seconds per target (default 3);
//! - `CUSTOS_FUZZ_SEED` — the seed (default: a fresh one per run, printed);
//! - `CUSTOS_FUZZ_ITERS` — a fixed number of iterations instead of a time budget (to replay a
//!   failure exactly: same seed, at least as many iterations as the failing one).
//!
//! A failure prints the seed, the iteration and the input, and writes the input to the test's
//! temporary folder; add it under `tests/regressions/<target>/` once fixed.

use std::time::{Duration, Instant};

use custos_fuzz_targets::mutate::{Rng, mutate};
use custos_fuzz_targets::target;

use crate::support::inputs;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    match v.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name}={v:?} is not a number"),
    }
}

fn seed() -> u64 {
    env_u64("CUSTOS_FUZZ_SEED").unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        t.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32)
    })
}

/// Mutates the corpus of `name` for the configured time, calling its entry point each time.
fn run(name: &str, max_len: usize) {
    let f = target(name).unwrap();
    let corpus: Vec<Vec<u8>> = inputs(name).into_iter().map(|(_, b)| b).collect();
    assert!(!corpus.is_empty(), "no corpus for {name}");
    let seed = seed();
    // Per target, so that one seed replays any of them.
    let mut rng = Rng::new(seed ^ name.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))));
    let iters = env_u64("CUSTOS_FUZZ_ITERS");
    let budget = Duration::from_secs(env_u64("CUSTOS_FUZZ_SECS").unwrap_or(3));
    println!("fuzz {name}: seed {seed} (replay: CUSTOS_FUZZ_SEED={seed}), corpus {} inputs", corpus.len());
    let start = Instant::now();
    let mut i: u64 = 0;
    loop {
        match iters {
            Some(n) if i >= n => break,
            None if start.elapsed() >= budget => break,
            _ => {}
        }
        let base = &corpus[rng.below(corpus.len())];
        let input = mutate(&mut rng, base, &corpus, max_len);
        if let Err(e) = std::panic::catch_unwind(|| f(&input)) {
            let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
            let path = dir.join(format!("fuzz-crash-{name}-{seed}-{i}"));
            let _ = std::fs::write(&path, &input);
            let msg = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!(
                "fuzz {name}: iteration {i} of seed {seed} panicked: {}\nreplay: CUSTOS_FUZZ_SEED={seed} \
                 CUSTOS_FUZZ_ITERS={} cargo nextest run -p custos-fuzz-targets -E 'test(mutation::{name})'\n\
                 input ({} bytes) written to {}",
                msg.unwrap_or_default(),
                i + 1,
                input.len(),
                path.display()
            );
        }
        i += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("fuzz {name}: {i} executions in {secs:.1} s ({:.0}/s)", i as f64 / secs.max(1e-9));
}

#[test]
fn transaction() {
    run("transaction", 4096);
}

#[test]
fn block() {
    run("block", 64 * 1024);
}

#[test]
fn commit_certificate() {
    run("commit_certificate", 4096);
}

#[test]
fn x509_certificate() {
    run("x509_certificate", 4096);
}

#[test]
fn manifest() {
    run("manifest", 4096);
}

#[test]
fn evidence_bundle() {
    run("evidence_bundle", 64 * 1024);
}

#[test]
fn state_proof() {
    run("state_proof", 4096);
}

#[test]
fn merkle_proof() {
    run("merkle_proof", 4096);
}

#[test]
fn call_dispatch() {
    run("call_dispatch", 8192);
}

#[test]
fn consensus_message() {
    run("consensus_message", 8192);
}

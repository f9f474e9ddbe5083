//! Engine overhead, CI-sized: five minimal-app processes then five real nodes, a few seconds
//! each. Asserts the shape of the result, never the speed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use custos_bench::engine::{self, EngineOpts};
use custos_primitives::crypto::SuiteId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimal_app_and_custos_both_decide_heights() {
    let engine_bin = PathBuf::from(env!("CARGO_BIN_EXE_custos-bench-engine"));
    let node_bin = engine_bin.with_file_name("custos-node");
    assert!(node_bin.exists(), "{} is missing: run `cargo build --bins` first", node_bin.display());
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = EngineOpts::new(SuiteId::Sm, tmp.path().join("engine"));
    opts.duration = Duration::from_secs(3);
    opts.warmup_height = 3;
    opts.base_port = 37000;
    opts.engine_bin = Some(engine_bin);
    opts.node_bin = Some(node_bin);
    let r = engine::run(&opts).await.unwrap_or_else(|e| panic!("engine benchmark failed: {e}"));
    println!("{}", serde_json::to_string_pretty(&r).unwrap());
    assert_eq!(r.minimal.heights_per_node.len(), 5);
    assert_eq!(r.custos.heights_per_node.len(), 5);
    assert!(r.minimal.heights > 0.0, "the minimal app decided nothing in the window");
    assert!(r.custos.heights > 0.0, "Custos decided nothing in the window");
    assert!(r.minimal.latency.samples > 0 && r.custos.latency.samples > 0);
    assert!(r.minimal.latency.mean_ms > 0.0 && r.custos.latency.mean_ms > 0.0);
    assert!(r.ratio.is_finite() && r.ratio > 0.0, "ratio {}", r.ratio);
}

/// A full-size run, by hand: `ENGINE_SUITE=sm|intl ENGINE_SECS=30 cargo test -p custos-bench
/// --test it -- --ignored --nocapture engine_overhead_full` (ports 37300+).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full-size benchmark, run by hand"]
async fn engine_overhead_full() {
    let engine_bin = PathBuf::from(env!("CARGO_BIN_EXE_custos-bench-engine"));
    let suite = match std::env::var("ENGINE_SUITE").as_deref() {
        Ok("intl") => SuiteId::Intl,
        _ => SuiteId::Sm,
    };
    let secs = std::env::var("ENGINE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = EngineOpts::new(suite, tmp.path().join("engine"));
    opts.duration = Duration::from_secs(secs);
    opts.base_port = 37300;
    opts.node_bin = Some(engine_bin.with_file_name("custos-node"));
    opts.engine_bin = Some(engine_bin);
    let r = engine::run(&opts).await.unwrap_or_else(|e| panic!("engine benchmark failed: {e}"));
    println!("{}", serde_json::to_string(&r).unwrap());
}

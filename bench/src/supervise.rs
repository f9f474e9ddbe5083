//! The supervision rules (S01…S18) over synthetic cases, along the node's own query path: the
//! case digests are written into the `supv/` index of a RocksDB store, then each query scans,
//! decodes, evaluates and filters them as the `Supervise` call does (procuratorate: every
//! finding). The generator (`custos_node::synthetic`) uses a fixed seed.

use std::path::Path;
use std::time::Instant;

use parity_scale_codec::Encode;
use serde::Serialize;

use custos_contracts::call::Date;
use custos_node::store::{Commit, Store};
use custos_node::supervise::{self, Access, Query};
use custos_node::synthetic;
use custos_primitives::Hash;
use custos_primitives::types::BlockHash;

use crate::{BenchError, Result};

/// The generator's seed.
pub const SEED: u64 = 0x5eed_c0de;

/// Supervision figures.
#[derive(Clone, Debug, Serialize)]
pub struct Supervision {
    /// Cases generated.
    pub cases: usize,
    /// Documents over all cases.
    pub documents: usize,
    /// Findings of the full rule set.
    pub findings: u64,
    /// Queries timed.
    pub queries: u32,
    /// Seconds per query (median), through the store.
    pub seconds_per_query: f64,
    /// Fastest query, seconds.
    pub fastest_s: f64,
}

/// Generates `cases` digests into a store in `scratch` and times `queries` full queries.
pub fn run(scratch: &Path, cases: usize, queries: u32) -> Result<Supervision> {
    let today = Date::parse("2026-11-30").map_err(BenchError::Other)?;
    let ds = synthetic::digests(cases, SEED, today);
    let documents = ds.iter().map(|d| d.docs.len()).sum();
    let inputs = synthetic::inputs();
    let db = scratch.join("supervise-db");
    let _ = std::fs::remove_dir_all(&db);
    let store_err = |e: custos_node::store::StoreError| BenchError::Io { path: db.clone(), reason: e.to_string() };
    let store = Store::open(&db).map_err(store_err)?;
    let index: Vec<(Vec<u8>, Vec<u8>)> = ds.iter().map(|d| (supervise::digest_key(&d.case_ref), d.encode())).collect();
    drop(ds);
    store
        .commit(&Commit {
            height: 1,
            block_hash: BlockHash(Hash([1; 32])),
            block: vec![1],
            certificate: vec![1],
            index_writes: index,
            ..Commit::default()
        })
        .map_err(store_err)?;
    let q = Query { as_of: today, rule: None, agency: None, case: None, limit: 1000 };
    let mut times = Vec::new();
    let mut findings = 0;
    for _ in 0..queries.max(1) {
        let t = Instant::now();
        let ans = supervise::query(&store, &inputs, &q, &Access::All).map_err(|e| BenchError::Other(e.to_string()))?;
        times.push(t.elapsed().as_secs_f64());
        findings = ans.matched as u64;
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&db);
    times.sort_by(f64::total_cmp);
    Ok(Supervision {
        cases,
        documents,
        findings,
        queries: queries.max(1),
        seconds_per_query: times.get(times.len() / 2).copied().unwrap_or(0.0),
        fastest_s: times.first().copied().unwrap_or(0.0),
    })
}

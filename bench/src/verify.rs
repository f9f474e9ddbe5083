//! Offline verification of an evidence bundle of ten events: the demo's judgment (four certified
//! headers with 16 SM2 precommit signatures, 29 state proofs, three signed transactions and
//! their members' certificates, the genesis re-validated), in process over many iterations and
//! as a whole `custos verify --bundle` process.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;

use custos_contracts::evidence::{self, Bundle, TrustAnchor};
use custos_primitives::genesis::Genesis;

use crate::{BenchError, Result};

/// The bundle (exported by `scripts/demo.sh`, SM suite).
const FIXTURE: &[u8] = include_bytes!("../../contracts/benches/fixtures/demo-judgment.evidence");

/// Verification figures.
#[derive(Clone, Debug, Serialize)]
pub struct Verify {
    /// Bundle size, bytes.
    pub bundle_bytes: usize,
    /// Timeline events in the bundle.
    pub events: usize,
    /// Signatures checked per verification.
    pub signatures: usize,
    /// In-process iterations.
    pub iterations: u32,
    /// In process, decode + verify, ms per bundle (mean).
    pub ms_per_bundle: f64,
    /// Whole `custos verify --bundle` processes run.
    pub processes: u32,
    /// Whole-process wall time, ms (median).
    pub process_ms: f64,
}

/// Runs the in-process loop for about `time` (at least 3 iterations) and `processes` whole
/// processes of `custos` (the binary at `cli`), in `scratch`.
pub fn run(cli: &Path, scratch: &Path, time: Duration, processes: u32) -> Result<Verify> {
    let bundle = Bundle::from_bytes(FIXTURE).map_err(|e| BenchError::Other(format!("fixture: {e}")))?;
    let text = std::str::from_utf8(&bundle.genesis).map_err(|e| BenchError::Other(format!("fixture genesis: {e}")))?;
    let genesis = Genesis::from_json(text)
        .and_then(|g| g.validate())
        .map_err(|e| BenchError::Other(format!("fixture genesis: {e}")))?;
    let trust = TrustAnchor(genesis.hash);
    let report = evidence::verify(&bundle, trust);
    let verified = match (report.ok(), report.verified) {
        (true, Some(v)) => v,
        _ => return Err(BenchError::Other(format!("the fixture bundle does not verify: {:?}", report.failures))),
    };
    let start = Instant::now();
    let mut iterations = 0u32;
    while iterations < 3 || start.elapsed() < time {
        let b = Bundle::from_bytes(std::hint::black_box(FIXTURE)).map_err(|e| BenchError::Other(e.to_string()))?;
        if !evidence::verify(&b, trust).ok() {
            return Err(BenchError::Other("the fixture stopped verifying".into()));
        }
        iterations += 1;
    }
    let ms_per_bundle = start.elapsed().as_secs_f64() * 1000.0 / f64::from(iterations);

    std::fs::create_dir_all(scratch)
        .map_err(|e| BenchError::Io { path: scratch.to_path_buf(), reason: e.to_string() })?;
    let path = scratch.join("judgment.evidence");
    std::fs::write(&path, FIXTURE).map_err(|e| BenchError::Io { path: path.clone(), reason: e.to_string() })?;
    let mut times = Vec::new();
    for _ in 0..processes.max(1) {
        let t = Instant::now();
        let out = Command::new(cli)
            .arg("verify")
            .arg("--bundle")
            .arg(&path)
            .arg("--genesis-hash")
            .arg(genesis.hash.to_string())
            .env_remove("CUSTOS_HOME")
            .output()
            .map_err(|e| BenchError::Process { what: cli.display().to_string(), reason: e.to_string() })?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if !out.status.success() {
            return Err(BenchError::Process {
                what: format!("{} verify --bundle", cli.display()),
                reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(Verify {
        bundle_bytes: FIXTURE.len(),
        events: verified.timeline.len(),
        signatures: verified.signatures,
        iterations,
        ms_per_bundle,
        processes: processes.max(1),
        process_ms: times.get(times.len() / 2).copied().unwrap_or(0.0),
    })
}

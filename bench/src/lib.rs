//! Benchmarks of a Custos network, each against a ceiling measured on the same machine in the
//! same run (issue 9). The `custos-bench` binary runs them and writes a JSON result and the
//! Markdown table of `docs/benchmarks.md`.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![warn(missing_docs)]

use std::path::PathBuf;

/// Why a benchmark could not run. Each names what failed and where.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file operation failed.
    #[error("{path}: {reason}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A process could not be started or failed.
    #[error("{what}: {reason}")]
    Process {
        /// The program.
        what: String,
        /// Why.
        reason: String,
    },
    /// The network did not do what the benchmark needs in time.
    #[error("{0}")]
    Network(String),
    /// Anything else, with its explanation.
    #[error("{0}")]
    Other(String),
}

/// Result alias of this crate.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

pub mod anchoring;
pub mod catchup;
pub mod ceiling;
pub mod dossier;
pub mod engine;
pub mod machine;
pub mod net;
pub mod report;
pub mod supervise;
pub mod verify;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use tracing::info;

use custos_primitives::crypto::{AnySuite, SuiteId};

/// A benchmark of the harness, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Which {
    /// Anchoring throughput at saturation and open-loop commit latency.
    Anchoring,
    /// A large e-dossier sent and fetched between two nodes.
    Dossier,
    /// Offline verification of a ten-event evidence bundle.
    Verify,
    /// The supervision rules over synthetic cases.
    Supervision,
    /// A stopped node catching up.
    Catchup,
    /// Consensus-engine overhead: a minimal app on the same Malachite crates beside Custos
    /// with empty blocks.
    Engine,
}

/// What to run and how big.
#[derive(Clone, Debug)]
pub struct Options {
    /// Suites of the network benchmarks.
    pub suites: Vec<SuiteId>,
    /// Benchmarks to run.
    pub only: BTreeSet<Which>,
    /// Working folder (networks, files); must be empty or absent.
    pub dir: std::path::PathBuf,
    /// First port; each network uses `base_port..base_port+300`, the next one 300 above.
    pub base_port: u16,
    /// Time spent measuring each ceiling.
    pub ceiling_time: Duration,
    /// Saturation: warm-up before counting.
    pub warmup: Duration,
    /// Saturation: counted window.
    pub saturation: Duration,
    /// Saturation: in-flight submissions per node.
    pub window: usize,
    /// Latency: offered anchors per second.
    pub rate: u32,
    /// Latency: seconds of sending.
    pub latency: Duration,
    /// E-dossier size, bytes.
    pub dossier_bytes: u64,
    /// Verify: in-process time.
    pub verify_time: Duration,
    /// Verify: whole processes.
    pub verify_processes: u32,
    /// Supervision: synthetic cases.
    pub cases: usize,
    /// Supervision: queries timed.
    pub queries: u32,
    /// Catch-up: blocks behind.
    pub catchup_blocks: u64,
    /// Catch-up: the suites it runs for (a subset of `suites`; 10,000 blocks take minutes
    /// per suite).
    pub catchup_suites: Vec<SuiteId>,
    /// Catch-up: give up after.
    pub catchup_limit: Duration,
    /// Engine overhead: measured window of each network.
    pub engine: Duration,
}

impl Options {
    /// The sizes issue 9 asks for.
    pub fn full(dir: &Path, base_port: u16) -> Self {
        Options {
            suites: vec![SuiteId::Sm, SuiteId::Intl],
            only: [Which::Anchoring, Which::Dossier, Which::Verify, Which::Supervision, Which::Catchup, Which::Engine]
                .into(),
            dir: dir.to_path_buf(),
            base_port,
            ceiling_time: Duration::from_secs(2),
            warmup: Duration::from_secs(10),
            saturation: Duration::from_secs(60),
            window: 256,
            rate: 200,
            latency: Duration::from_secs(60),
            dossier_bytes: 1 << 30,
            verify_time: Duration::from_secs(5),
            verify_processes: 5,
            cases: 100_000,
            queries: 5,
            catchup_blocks: 10_000,
            catchup_suites: vec![SuiteId::Sm],
            catchup_limit: Duration::from_secs(3600),
            engine: Duration::from_secs(30),
        }
    }

    /// A CI-sized run: seconds, small numbers (the harness is exercised, the figures mean little).
    pub fn quick(dir: &Path, base_port: u16) -> Self {
        Options {
            ceiling_time: Duration::from_millis(100),
            warmup: Duration::from_secs(1),
            saturation: Duration::from_secs(3),
            window: 32,
            rate: 50,
            latency: Duration::from_secs(2),
            dossier_bytes: 4 << 20,
            verify_time: Duration::from_millis(200),
            verify_processes: 1,
            cases: 1_000,
            queries: 1,
            catchup_blocks: 20,
            catchup_limit: Duration::from_secs(120),
            engine: Duration::from_secs(3),
            ..Options::full(dir, base_port)
        }
    }
}

fn suite_name(s: SuiteId) -> String {
    s.as_str().to_string()
}

/// Runs the benchmarks `opts` selects, one network at a time, and reports.
///
/// After each benchmark, `progress` receives the report so far (judged, `complete: false`), so
/// a caller can save it: a long run that is interrupted keeps what it measured.
pub async fn run(opts: &Options, progress: &mut dyn FnMut(&report::Report) -> Result<()>) -> Result<report::Report> {
    std::fs::create_dir_all(&opts.dir).map_err(|e| BenchError::Io { path: opts.dir.clone(), reason: e.to_string() })?;
    let cli = net::binary("custos", "CUSTOS_BIN");
    let mut report = report::Report::new(machine::Machine::describe(), opts);
    let mut port = opts.base_port;
    let mut next_port = || {
        let p = port;
        port = port.saturating_add(300);
        p
    };
    let mut checkpoint = |report: &report::Report, current: Option<&report::SuiteReport>| {
        let mut partial = report.clone();
        partial.suites.extend(current.cloned());
        partial.judge();
        progress(&partial)
    };
    for &suite in &opts.suites {
        let name = suite_name(suite);
        let any = AnySuite::with_defaults(suite);
        info!(suite = %name, "measuring the suite's ceilings");
        let rates = ceiling::measure(&any, opts.ceiling_time)?;
        let mut sr = report::SuiteReport::new(&name, rates);
        if opts.only.contains(&Which::Anchoring) {
            let dir = opts.dir.join(format!("{name}-anchoring"));
            net::create(&dir, suite, next_port())?;
            let net = net::Network::start(&dir).await?;
            anchoring::register_all(&net).await?;
            info!(suite = %name, rate = opts.rate, secs = opts.latency.as_secs_f64(), "open-loop latency");
            sr.latency = Some(anchoring::latency(&net, opts.rate, opts.latency).await?);
            net.drain(Duration::from_secs(60)).await?;
            info!(suite = %name, secs = opts.saturation.as_secs_f64(), "saturation throughput");
            let sat = anchoring::saturation(&net, sr.ceiling_anchors_per_s, opts.warmup, opts.saturation, opts.window)
                .await?;
            sr.set_saturation(sat);
            drop(net);
            checkpoint(&report, Some(&sr))?;
        }
        if opts.only.contains(&Which::Dossier) {
            let dir = opts.dir.join(format!("{name}-dossier"));
            net::create(&dir, suite, next_port())?;
            let net = net::Network::start(&dir).await?;
            info!(suite = %name, mib = opts.dossier_bytes >> 20, "e-dossier send and fetch");
            let d = dossier::run(&net, &cli, &dir.join("files"), opts.dossier_bytes)?;
            sr.set_dossier(d);
            drop(net);
            checkpoint(&report, Some(&sr))?;
        }
        if opts.only.contains(&Which::Catchup) && opts.catchup_suites.contains(&suite) {
            let dir = opts.dir.join(format!("{name}-catchup"));
            net::create(&dir, suite, next_port())?;
            let mut net = net::Network::start(&dir).await?;
            info!(suite = %name, blocks = opts.catchup_blocks, "catch-up");
            sr.catchup = Some(catchup::run(&mut net, opts.catchup_blocks, opts.catchup_limit).await?);
            drop(net);
            checkpoint(&report, Some(&sr))?;
        }
        if opts.only.contains(&Which::Engine) {
            info!(suite = %name, secs = opts.engine.as_secs_f64(), "engine overhead");
            let mut eo = engine::EngineOpts::new(suite, opts.dir.join(format!("{name}-engine")));
            eo.duration = opts.engine;
            eo.base_port = next_port();
            if opts.engine < Duration::from_secs(10) {
                eo.warmup_height = 3;
            }
            sr.engine = Some(engine::run(&eo).await?);
        }
        report.suites.push(sr);
        checkpoint(&report, None)?;
    }
    if opts.only.contains(&Which::Verify) {
        info!("bundle verification");
        report.verify = Some(verify::run(&cli, &opts.dir.join("verify"), opts.verify_time, opts.verify_processes)?);
        checkpoint(&report, None)?;
    }
    if opts.only.contains(&Which::Supervision) {
        info!(cases = opts.cases, "supervision");
        report.supervision = Some(supervise::run(&opts.dir, opts.cases, opts.queries)?);
    }
    report.judge();
    report.complete = true;
    Ok(report)
}

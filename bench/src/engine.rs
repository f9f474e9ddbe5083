//! Consensus-engine overhead (issue 9): heights per second and round-start-to-decision latency
//! of Custos with empty blocks, beside a minimal application on the same Malachite engine
//! (`custos-bench-engine`: same context, codec and signing suite, empty values, no storage).
//!
//! Both run as five processes on loopback, one after the other (never at once), with the same
//! identities and consensus timeouts. After a warm-up, each is measured over the same window:
//! heights per second is the mean over the five nodes of the heights each decided in the
//! window divided by its length. Latency is from a node's start of a height's first round to
//! that node's decision: exact per height for the minimal app (its JSON lines on stdout), and
//! from the `custos_height_seconds` histogram of the nodes' `/metrics` for Custos (mean exact
//! from sum and count; percentiles interpolated inside the histogram's 25 % wide buckets).

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use custos_primitives::crypto::SuiteId;
use custos_testnet::consortium::{self, AGENCIES, InitOptions};
use custos_testnet::net::{self, NodeProcess};

use crate::{BenchError, Result};

/// Added to the consortium's p2p ports for the minimal app, so it never binds a real node's port.
pub const ENGINE_PORT_OFFSET: u16 = 50;

/// Options of [`run`].
#[derive(Clone, Debug)]
pub struct EngineOpts {
    /// Crypto suite of the consortium (and so of the consensus signatures).
    pub suite: SuiteId,
    /// Length of the measurement window of each network.
    pub duration: Duration,
    /// Every node must have decided this height before the window opens.
    pub warmup_height: u64,
    /// Longest wait for the warm-up.
    pub warmup_timeout: Duration,
    /// First port of the consortium (p2p `base..base+4`, gRPC `+100`, metrics `+200`; the
    /// minimal app uses p2p `base+50..base+54`).
    pub base_port: u16,
    /// Work folder: the consortium, the WALs and the logs go here. Must be absent or empty.
    pub dir: PathBuf,
    /// The `custos-bench-engine` binary; found with [`engine_binary`] when `None`.
    pub engine_bin: Option<PathBuf>,
    /// The `custos-node` binary; found with `custos_testnet::net::node_binary` when `None`.
    pub node_bin: Option<PathBuf>,
}

impl EngineOpts {
    /// Defaults: 30 s windows after height 5, base port 37000.
    pub fn new(suite: SuiteId, dir: PathBuf) -> Self {
        EngineOpts {
            suite,
            duration: Duration::from_secs(30),
            warmup_height: 5,
            warmup_timeout: Duration::from_secs(120),
            base_port: 37000,
            dir,
            engine_bin: None,
            node_bin: None,
        }
    }
}

/// Round-start-to-decision latency, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// Decisions measured (all nodes).
    pub samples: u64,
    /// How the figures were obtained.
    pub method: String,
}

/// What one network did in the window.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Figures {
    /// Heights decided in the window by each node.
    pub heights_per_node: Vec<u64>,
    /// Mean over the nodes of the heights decided in the window.
    pub heights: f64,
    /// Length of the window, in seconds.
    pub window_s: f64,
    /// `heights / window_s`.
    pub heights_per_s: f64,
    /// Latency from a node's start of a height's first round to its decision there.
    pub latency: Latency,
}

/// The result of [`run`].
#[derive(Clone, Debug, Serialize)]
pub struct EngineResult {
    /// Suite.
    pub suite: SuiteId,
    /// The minimal app (`custos-bench-engine`).
    pub minimal: Figures,
    /// Custos with empty blocks (no load).
    pub custos: Figures,
    /// Custos heights/s divided by the minimal app's.
    pub ratio: f64,
    /// Custos mean latency divided by the minimal app's.
    pub latency_ratio: f64,
    /// The goal recorded in issue 9: Custos keeps at least 80 % of the minimal app's heights/s.
    pub goal_met: bool,
}

/// The goal of issue 9: Custos empty-block heights/s ≥ this share of the minimal app's.
pub const GOAL_RATIO: f64 = 0.8;

/// Finds the `custos-bench-engine` binary: `CUSTOS_BENCH_ENGINE_BIN`, else next to the running
/// executable (or one folder up, for test executables in `deps/`), else on `PATH`.
pub fn engine_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("CUSTOS_BENCH_ENGINE_BIN") {
        return PathBuf::from(p);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        for candidate in [dir.join("custos-bench-engine"), dir.join("../custos-bench-engine")] {
            if candidate.exists() {
                return candidate;
            }
        }
    }
    PathBuf::from("custos-bench-engine")
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> BenchError + '_ {
    move |e| BenchError::Io { path: path.to_path_buf(), reason: e.to_string() }
}

/// Creates a five-agency consortium in `opts.dir`, measures the minimal app, then Custos.
pub async fn run(opts: &EngineOpts) -> Result<EngineResult> {
    if opts.duration.is_zero() {
        return Err(BenchError::Other("the measurement window must be longer than zero".into()));
    }
    let net_dir = opts.dir.join("consortium");
    let mut init =
        InitOptions::new(opts.suite, unix_now()).map_err(|e| BenchError::Other(format!("consortium options: {e}")))?;
    init.base_port = opts.base_port;
    consortium::init(&net_dir, &init).map_err(|e| BenchError::Other(format!("consortium: {e}")))?;

    let engine_bin = opts.engine_bin.clone().unwrap_or_else(engine_binary);
    let minimal = run_minimal(opts, &net_dir, &engine_bin).await?;
    let node_bin = opts.node_bin.clone().unwrap_or_else(net::node_binary);
    let custos = run_custos(opts, &net_dir, &node_bin).await?;
    let ratio = if minimal.heights_per_s > 0.0 { custos.heights_per_s / minimal.heights_per_s } else { f64::NAN };
    let latency_ratio =
        if minimal.latency.mean_ms > 0.0 { custos.latency.mean_ms / minimal.latency.mean_ms } else { f64::NAN };
    Ok(EngineResult { suite: opts.suite, goal_met: ratio >= GOAL_RATIO, ratio, latency_ratio, minimal, custos })
}

/// What the stdout readers of the minimal app collect.
#[derive(Debug)]
struct MiniState {
    /// Last decided height of each node.
    heights: Vec<u64>,
    /// Whether the window is open (latencies are recorded only then).
    recording: bool,
    /// Latencies in the window, in microseconds.
    hist: Histogram<u64>,
    sum_ms: f64,
}

/// The minimal app's processes, killed when dropped (errors and panics included).
struct Children(Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            if let Ok(None) = c.try_wait() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn lock(state: &Mutex<MiniState>) -> Result<std::sync::MutexGuard<'_, MiniState>> {
    state.lock().map_err(|_| BenchError::Other("a reader thread panicked".into()))
}

async fn run_minimal(opts: &EngineOpts, net_dir: &Path, bin: &Path) -> Result<Figures> {
    let hist = Histogram::new_with_bounds(1, 3_600_000_000, 3).map_err(|e| BenchError::Other(e.to_string()))?;
    let state =
        Arc::new(Mutex::new(MiniState { heights: vec![0; AGENCIES.len()], recording: false, hist, sum_ms: 0.0 }));
    let mut children = Children(Vec::new());
    let mut readers = Vec::new();
    for (i, a) in AGENCIES.iter().enumerate() {
        let home = net_dir.join(a.id);
        let wal = opts.dir.join("engine-wal").join(a.id);
        std::fs::create_dir_all(&wal).map_err(io_err(&wal))?;
        let log = home.join("engine.log");
        let err = std::fs::File::create(&log).map_err(io_err(&log))?;
        let mut child = Command::new(bin)
            .arg("--home")
            .arg(&home)
            .arg("--port-offset")
            .arg(ENGINE_PORT_OFFSET.to_string())
            .arg("--wal")
            .arg(&wal)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| BenchError::Process {
                what: bin.display().to_string(),
                reason: format!("{e} (build it with `cargo build --bins`)"),
            })?;
        let stdout = child.stdout.take();
        children.0.push((a.id.to_string(), child));
        let Some(stdout) = stdout else { continue };
        let state = state.clone();
        readers.push(std::thread::spawn(move || read_lines(i, stdout, &state)));
    }

    let deadline = Instant::now() + opts.warmup_timeout;
    loop {
        for (agency, c) in &mut children.0 {
            if let Ok(Some(status)) = c.try_wait() {
                let log = net_dir.join(agency.as_str()).join("engine.log");
                return Err(BenchError::Process {
                    what: format!("custos-bench-engine of {agency}"),
                    reason: format!("exited with {status}; see {}", log.display()),
                });
            }
        }
        let min = lock(&state)?.heights.iter().copied().min().unwrap_or(0);
        if min >= opts.warmup_height {
            break;
        }
        if Instant::now() > deadline {
            return Err(BenchError::Network(format!(
                "minimal app: not every node reached height {} within {:?} (logs: engine.log in each home)",
                opts.warmup_height, opts.warmup_timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (start_heights, started) = {
        let mut s = lock(&state)?;
        s.recording = true;
        (s.heights.clone(), Instant::now())
    };
    tokio::time::sleep(opts.duration).await;
    let (end_heights, window, hist, sum_ms) = {
        let mut s = lock(&state)?;
        s.recording = false;
        (s.heights.clone(), started.elapsed(), s.hist.clone(), s.sum_ms)
    };
    drop(children);
    for r in readers {
        let _ = r.join();
    }

    let samples = hist.len();
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let latency = Latency {
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        mean_ms: if samples > 0 { sum_ms / samples as f64 } else { 0.0 },
        samples,
        method: "exact: one sample per node and decided height (the app's JSON lines)".into(),
    };
    Ok(figures(&start_heights, &end_heights, window, latency))
}

/// Reads one minimal-app node's JSON lines until its stdout closes.
fn read_lines(node: usize, stdout: std::process::ChildStdout, state: &Mutex<MiniState>) {
    #[derive(serde::Deserialize)]
    struct Line {
        height: u64,
        ms: Option<f64>,
    }
    for line in std::io::BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let Ok(l) = serde_json::from_str::<Line>(&line) else { continue };
        let Ok(mut s) = state.lock() else { break };
        if let Some(h) = s.heights.get_mut(node) {
            *h = (*h).max(l.height);
        }
        if s.recording
            && let Some(ms) = l.ms
        {
            let _ = s.hist.record(((ms * 1000.0).round() as u64).max(1));
            s.sum_ms += ms;
        }
    }
}

fn figures(start: &[u64], end: &[u64], window: Duration, latency: Latency) -> Figures {
    let per_node: Vec<u64> = start.iter().zip(end).map(|(a, b)| b.saturating_sub(*a)).collect();
    let heights = if per_node.is_empty() { 0.0 } else { per_node.iter().sum::<u64>() as f64 / per_node.len() as f64 };
    let window_s = window.as_secs_f64();
    Figures { heights_per_node: per_node, heights, window_s, heights_per_s: heights / window_s, latency }
}

/// One scrape of a node's `/metrics`: the committed height and the `custos_height_seconds`
/// histogram.
#[derive(Clone, Debug, Default)]
struct Scrape {
    height: u64,
    /// Cumulative bucket counts by upper bound (seconds; `+Inf` last).
    buckets: Vec<(f64, u64)>,
    sum: f64,
    count: u64,
}

fn parse_metrics(text: &str) -> Scrape {
    let mut s = Scrape::default();
    for line in text.lines() {
        let Some((name, value)) = line.rsplit_once(' ') else { continue };
        if name == "custos_height" {
            s.height = value.parse::<f64>().map(|v| v as u64).unwrap_or(0);
        } else if name == "custos_height_seconds_sum" {
            s.sum = value.parse().unwrap_or(0.0);
        } else if name == "custos_height_seconds_count" {
            s.count = value.parse().unwrap_or(0);
        } else if let Some(le) = name.strip_prefix("custos_height_seconds_bucket{le=\"")
            && let Some(le) = le.strip_suffix("\"}")
        {
            let bound = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap_or(f64::INFINITY) };
            s.buckets.push((bound, value.parse().unwrap_or(0)));
        }
    }
    s
}

async fn scrape(addr: &str) -> Result<Scrape> {
    let fetch = async {
        let mut sock = tokio::net::TcpStream::connect(addr).await?;
        sock.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await?;
        let mut body = String::new();
        sock.read_to_string(&mut body).await?;
        Ok::<_, std::io::Error>(body)
    };
    let body = tokio::time::timeout(Duration::from_secs(5), fetch)
        .await
        .map_err(|_| BenchError::Network(format!("{addr}: /metrics did not answer in 5 s")))?
        .map_err(|e| BenchError::Network(format!("{addr}: {e}")))?;
    let body = body.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or(&body);
    Ok(parse_metrics(body))
}

async fn scrape_all(nodes: &[NodeProcess]) -> Result<Vec<Scrape>> {
    let mut out = Vec::with_capacity(nodes.len());
    for n in nodes {
        out.push(scrape(&n.metrics).await?);
    }
    Ok(out)
}

/// The quantile `q` of the decisions between two scrapes of every node, interpolated linearly
/// inside the bucket it falls in (the lower bound for the `+Inf` bucket).
fn bucket_quantile(start: &[Scrape], end: &[Scrape], q: f64) -> f64 {
    let Some(first) = end.first() else { return 0.0 };
    let mut cum: Vec<(f64, u64)> = first.buckets.iter().map(|(b, _)| (*b, 0)).collect();
    for (s, e) in start.iter().zip(end) {
        for (i, (bound, c)) in e.buckets.iter().enumerate() {
            let before = s.buckets.get(i).filter(|(b, _)| b == bound).map(|(_, c)| *c).unwrap_or(0);
            if let Some(slot) = cum.get_mut(i) {
                slot.1 += c.saturating_sub(before);
            }
        }
    }
    let total = cum.last().map(|(_, c)| *c).unwrap_or(0);
    if total == 0 {
        return 0.0;
    }
    let target = q * total as f64;
    let (mut lo, mut below) = (0.0, 0u64);
    for (bound, c) in cum {
        if c as f64 >= target && c > below {
            if bound.is_infinite() {
                return lo;
            }
            return lo + (bound - lo) * (target - below as f64) / (c - below) as f64;
        }
        lo = bound;
        below = c;
    }
    lo
}

async fn run_custos(opts: &EngineOpts, net_dir: &Path, bin: &Path) -> Result<Figures> {
    let mut nodes = net::start_all(net_dir, bin)
        .map_err(|e| BenchError::Process { what: bin.display().to_string(), reason: e.to_string() })?;
    let result = measure_custos(opts, &mut nodes).await;
    net::stop_all(&mut nodes);
    result
}

async fn measure_custos(opts: &EngineOpts, nodes: &mut [NodeProcess]) -> Result<Figures> {
    let deadline = Instant::now() + opts.warmup_timeout;
    loop {
        for n in nodes.iter_mut() {
            if let Ok(Some(status)) = n.child.try_wait() {
                return Err(BenchError::Process {
                    what: format!("custos-node of {}", n.agency),
                    reason: format!("exited with {status}; see {}", n.log.display()),
                });
            }
        }
        let mut min = u64::MAX;
        for n in nodes.iter() {
            min = min.min(scrape(&n.metrics).await.map(|s| s.height).unwrap_or(0));
        }
        if min >= opts.warmup_height {
            break;
        }
        if Instant::now() > deadline {
            return Err(BenchError::Network(format!(
                "Custos: not every node reached height {} within {:?} (see node.log in each home)",
                opts.warmup_height, opts.warmup_timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    let start = scrape_all(nodes).await?;
    tokio::time::sleep(opts.duration.saturating_sub(started.elapsed())).await;
    let end = scrape_all(nodes).await?;
    let window = started.elapsed();

    let samples: u64 = start.iter().zip(&end).map(|(s, e)| e.count.saturating_sub(s.count)).sum();
    let sum: f64 = start.iter().zip(&end).map(|(s, e)| (e.sum - s.sum).max(0.0)).sum();
    let latency = Latency {
        p50_ms: bucket_quantile(&start, &end, 0.5) * 1000.0,
        p99_ms: bucket_quantile(&start, &end, 0.99) * 1000.0,
        mean_ms: if samples > 0 { sum * 1000.0 / samples as f64 } else { 0.0 },
        samples,
        method: "custos_height_seconds of every node's /metrics: mean exact (sum/count over the window), \
                 percentiles interpolated inside 25 % buckets"
            .into(),
    };
    let heights = |v: &[Scrape]| v.iter().map(|s| s.height).collect::<Vec<_>>();
    Ok(figures(&heights(&start), &heights(&end), window, latency))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_parsed_and_quantiles_interpolated() {
        let text = "# HELP custos_height Last committed height\ncustos_height 12\n\
                    custos_height_seconds_sum 3.0\ncustos_height_seconds_count 10\n\
                    custos_height_seconds_bucket{le=\"0.1\"} 0\ncustos_height_seconds_bucket{le=\"0.2\"} 4\n\
                    custos_height_seconds_bucket{le=\"0.4\"} 10\ncustos_height_seconds_bucket{le=\"+Inf\"} 10\n";
        let s = parse_metrics(text);
        assert_eq!(s.height, 12);
        assert_eq!(s.count, 10);
        assert_eq!(s.buckets.len(), 4);
        let zero = Scrape { buckets: s.buckets.iter().map(|(b, _)| (*b, 0)).collect(), ..Default::default() };
        // 5 of 10 samples: the first above 0.2, a sixth of the way into (0.2, 0.4].
        let p50 = bucket_quantile(std::slice::from_ref(&zero), std::slice::from_ref(&s), 0.5);
        assert!((p50 - (0.2 + 0.2 / 6.0)).abs() < 1e-9, "{p50}");
    }

    #[test]
    fn figures_average_over_nodes() {
        let f = figures(&[1, 2], &[11, 14], Duration::from_secs(2), Latency::default());
        assert_eq!(f.heights_per_node, vec![10, 12]);
        assert!((f.heights_per_s - 5.5).abs() < 1e-9);
    }
}

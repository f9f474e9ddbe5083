//! Prometheus metrics of the node, served in the text format at `http://<metrics.listen>/metrics`.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The node's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    height: Gauge,
    round: Gauge,
    committed_txs: Counter,
    mempool_size: Gauge,
    mempool_bytes: Gauge,
    peers: Gauge,
    commit_latency: Histogram,
    fsync_seconds: Histogram,
    height_seconds: Histogram,
    rejected_busy: Counter,
    misbehaviour: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `custos_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("custos");
        let height = Gauge::default();
        let round = Gauge::default();
        let committed_txs = Counter::default();
        let mempool_size = Gauge::default();
        let mempool_bytes = Gauge::default();
        let peers = Gauge::default();
        // 1 ms .. ~32 s
        let commit_latency = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        // 50 µs .. ~0.8 s
        let fsync_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 15));
        // 1 ms .. ~36 s in steps of 25 %: fine enough for percentiles read from the buckets.
        let height_seconds = Histogram::new(exponential_buckets(0.001, 1.25, 48));
        let rejected_busy = Counter::default();
        let misbehaviour = Counter::default();
        registry.register("height", "Last committed height", height.clone());
        registry.register("round", "Consensus round of the height in progress", round.clone());
        registry.register("committed_transactions", "Transactions committed", committed_txs.clone());
        registry.register("mempool_transactions", "Transactions waiting in the pool", mempool_size.clone());
        registry.register("mempool_bytes", "Bytes waiting in the pool", mempool_bytes.clone());
        registry.register("peers", "Connected validator peers", peers.clone());
        registry.register(
            "commit_latency_seconds",
            "From a block's proposal time to its commit on this node",
            commit_latency.clone(),
        );
        registry.register("fsync_seconds", "Time of the synced RocksDB batch of one block", fsync_seconds.clone());
        registry.register(
            "height_seconds",
            "From the start of a height's first round to its decision on this node",
            height_seconds.clone(),
        );
        registry.register("mempool_rejected_busy", "Submissions answered busy (pool full)", rejected_busy.clone());
        registry.register(
            "misbehaviour_recorded",
            "Equivocations (double proposals or votes) recorded as evidence",
            misbehaviour.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            height,
            round,
            committed_txs,
            mempool_size,
            mempool_bytes,
            peers,
            commit_latency,
            fsync_seconds,
            height_seconds,
            rejected_busy,
            misbehaviour,
        }
    }

    /// The round of the height in progress.
    pub fn set_round(&self, round: u32) {
        self.round.set(i64::from(round));
    }

    /// A block was committed.
    pub fn committed(&self, height: u64, txs: usize, block_time_ms: u64) {
        self.height.set(i64::try_from(height).unwrap_or(i64::MAX));
        self.committed_txs.inc_by(txs as u64);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        self.commit_latency.observe(now.saturating_sub(block_time_ms) as f64 / 1000.0);
    }

    /// One synced batch write.
    pub fn observe_fsync(&self, d: Duration) {
        self.fsync_seconds.observe(d.as_secs_f64());
    }

    /// A height was decided `d` after its first round started on this node.
    pub fn observe_height(&self, d: Duration) {
        self.height_seconds.observe(d.as_secs_f64());
    }

    /// The pool's size.
    pub fn set_mempool(&self, txs: usize, bytes: usize) {
        self.mempool_size.set(txs as i64);
        self.mempool_bytes.set(bytes as i64);
    }

    /// A submission was answered busy.
    pub fn busy(&self) {
        self.rejected_busy.inc();
    }

    /// A new piece of equivocation evidence was recorded.
    pub fn misbehaviour_recorded(&self) {
        self.misbehaviour.inc();
    }

    /// Connected peers.
    pub fn set_peers(&self, n: usize) {
        self.peers.set(n as i64);
    }

    /// Connected peers, as last set.
    pub fn peers(&self) -> u64 {
        u64::try_from(self.peers.get()).unwrap_or(0)
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(reg) = self.registry.lock() {
            let _ = encode(&mut out, &reg);
        }
        out
    }
}

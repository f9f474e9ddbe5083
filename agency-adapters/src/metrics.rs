//! Prometheus metrics of an adapter (`custos_adapter_*`), served at `http://<metrics_listen>/metrics`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::error::{AdapterError, Result};

/// The adapter's counters and gauges (cheap to clone: shared).
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    anchored: Counter,
    already_anchored: Counter,
    failed: Counter,
    retries: Counter,
    busy: Counter,
    unavailable: Counter,
    committed_ok: Counter,
    committed_err: Counter,
    inflight: Gauge,
    pending: Gauge,
    inbox_height: Gauge,
    inbox_events: Counter,
    events_delivered: Counter,
    event_retries: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `custos_adapter_` prefix.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("custos_adapter");
        let m = Metrics {
            anchored: Counter::default(),
            already_anchored: Counter::default(),
            failed: Counter::default(),
            retries: Counter::default(),
            busy: Counter::default(),
            unavailable: Counter::default(),
            committed_ok: Counter::default(),
            committed_err: Counter::default(),
            inflight: Gauge::default(),
            pending: Gauge::default(),
            inbox_height: Gauge::default(),
            inbox_events: Counter::default(),
            events_delivered: Counter::default(),
            event_retries: Counter::default(),
            registry: Arc::new(Mutex::new(Registry::default())),
        };
        r.register("records_anchored", "Source records anchored by this adapter", m.anchored.clone());
        r.register(
            "records_already_anchored",
            "Source records found anchored already (an earlier attempt committed)",
            m.already_anchored.clone(),
        );
        r.register("records_failed", "Source records marked failed (with their reason)", m.failed.clone());
        r.register("record_retries", "Record attempts put off after a transient error", m.retries.clone());
        r.register("node_busy", "Submissions the node answered busy (back-pressure)", m.busy.clone());
        r.register("node_unavailable", "Times the node could not be reached", m.unavailable.clone());
        r.register(
            "transactions_committed_ok",
            "The adapter's transactions committed successfully",
            m.committed_ok.clone(),
        );
        r.register(
            "transactions_committed_failed",
            "The adapter's transactions committed with an error",
            m.committed_err.clone(),
        );
        r.register("transactions_inflight", "Transactions submitted and not yet committed", m.inflight.clone());
        r.register("records_pending", "Records waiting in the source at the last poll", m.pending.clone());
        r.register("inbox_height", "Last height fully delivered to the agency system", m.inbox_height.clone());
        r.register("inbox_events", "Events delivered to the agency system's inbox", m.inbox_events.clone());
        r.register(
            "webhook_deliveries",
            "Events POSTed to the agency system and acknowledged",
            m.events_delivered.clone(),
        );
        r.register("webhook_retries", "Event deliveries retried", m.event_retries.clone());
        if let Ok(mut reg) = m.registry.lock() {
            *reg = r;
        }
        m
    }

    /// A record was anchored by this adapter.
    pub fn anchored(&self) {
        self.anchored.inc();
    }
    /// A record was found anchored already.
    pub fn already_anchored(&self) {
        self.already_anchored.inc();
    }
    /// A record was marked failed.
    pub fn failed(&self) {
        self.failed.inc();
    }
    /// A record attempt was put off.
    pub fn retry(&self) {
        self.retries.inc();
    }
    /// The node answered busy.
    pub fn node_busy(&self) {
        self.busy.inc();
    }
    /// The node could not be reached.
    pub fn node_unavailable(&self) {
        self.unavailable.inc();
    }
    /// A transaction of the adapter committed.
    pub fn committed(&self, ok: bool) {
        if ok {
            self.committed_ok.inc()
        } else {
            self.committed_err.inc()
        };
    }
    /// Transactions in flight.
    pub fn set_inflight(&self, n: usize) {
        self.inflight.set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    /// Records pending at the last poll.
    pub fn set_pending(&self, n: usize) {
        self.pending.set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    /// The inbox checkpoint.
    pub fn set_inbox_height(&self, h: u64) {
        self.inbox_height.set(i64::try_from(h).unwrap_or(i64::MAX));
    }
    /// Events delivered to the inbox.
    pub fn inbox_events(&self, n: usize) {
        self.inbox_events.inc_by(n as u64);
    }
    /// A webhook event was acknowledged.
    pub fn event_delivered(&self) {
        self.events_delivered.inc();
    }
    /// A webhook event delivery is retried.
    pub fn event_retry(&self) {
        self.event_retries.inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            let _ = encode(&mut out, &r);
        }
        out
    }

    /// Serves `/metrics` on `addr` until the process ends.
    pub async fn serve(self, addr: SocketAddr) -> Result<tokio::task::JoinHandle<()>> {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| AdapterError::Config {
            path: "metrics_listen".into(),
            reason: format!("cannot listen on {addr}: {e}"),
        })?;
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let m = self.clone();
                async move { ([("content-type", "text/plain; version=0.0.4")], m.render()) }
            }),
        );
        Ok(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }))
    }
}

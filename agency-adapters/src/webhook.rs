//! The HTTP webhook adapter: the agency system POSTs records to the adapter, and the adapter
//! POSTs ledger events to the agency system.
//!
//! # Intake (agency system → adapter)
//!
//! `POST /v1/records` with a JSON body
//!
//! ```json
//! {"source_id": "row-1", "version": 1, "doc_type": "JUDGMENT", "case_number": "（2026）…",
//!  "recipients": ["justice"], "copies": [], "dates": {"effective": "2026-03-01"},
//!  "subject_kind": null, "eseal": null, "file_name": "a.pdf",
//!  "document_base64": "…"}
//! ```
//!
//! `version` defaults to 1, `copies` to `[]`, `dates` (`effective`, `received`, `period_start`,
//! `period_end`) to none. Exactly one of `document_base64` and `document_url` is given; a
//! `document_url` must be `http://` on a host of `allowed_hosts`, and is fetched by the adapter
//! (size cap `fetch_max_mib`, timeout `fetch_timeout_s`).
//!
//! Every request carries `X-Custos-Timestamp: <unix seconds>` and `X-Custos-Signature: <hex>`,
//! the network suite's HMAC (HMAC-SM3 on SM networks) with the shared secret of `secret_file`
//! over `timestamp + "." + body` (for a GET, `timestamp + "." + path`). A missing or wrong
//! signature, or a timestamp more than 300 s off the adapter's clock, is answered 401.
//!
//! An accepted record is written to the spool (`<state_dir>/webhook/records/`: the document,
//! then its state file, each by write, fsync, rename and fsync of the folder) before the
//! answer. The key is `(source_id, version)`: the same key with the same content (the same
//! fields and the same document bytes) answers the existing record's status; with other content
//! it is refused 409. The handler then waits up to `wait_ms` for the anchor and answers
//!
//! * `200 {"status":"done","source_id","version","tx_id","height","doc_hash"}`,
//! * `422 {"status":"failed","source_id","version","error"}`,
//! * `202 {"status":"pending","source_id","version"}` (still pending when the wait ends).
//!
//! Other refusals are `{"error": reason}` with 400 (malformed JSON, not exactly one document
//! field, bad base64), 401 (signature), 409 (conflict), 422 (the record fails the checks that
//! need no node, or its document URL is not allowed or cannot be fetched), 500 (the spool
//! cannot be written). A body over `body_limit_mib` is refused 413 by the server.
//!
//! `GET /v1/records/{source_id}/{version}` (signed over the path) answers 200 with the same
//! status JSON whatever the state, or 404 `{"error":…}` for an unknown key.
//!
//! # Events (adapter → agency system)
//!
//! With `event_url` set, each [`InboxEvent`] is POSTed there as JSON (the event's fields, plus
//! `document_base64` for a fetched document up to 8 MiB) with the headers `X-Custos-Event-Id`,
//! `X-Custos-Timestamp` and `X-Custos-Signature` (the same HMAC over `timestamp + "." + body`).
//! A delivery is retried with exponential backoff (up to 30 s between attempts) until the
//! agency system answers 2xx; the events of a height go in order, then the height's checkpoint
//! (`<state_dir>/webhook/inbox.height`) is written. Findings are remembered by event id
//! (`<state_dir>/webhook/findings/`). Delivery is **at least once, in order**: after a crash
//! between an acknowledged POST and the checkpoint, the events of that height are POSTed again,
//! so receivers must deduplicate by `X-Custos-Event-Id`. Without `event_url`, events are not
//! pushed and the checkpoint just advances.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tracing::{debug, info, warn};

use custos_primitives::crypto::{AnySuite, Suite};
use custos_primitives::types::{DocHash, Salt, TxId};

use crate::config::WebhookConfig;
use crate::error::{AdapterError, Result};
use crate::inbound::{Inbox, InboxEvent};
use crate::metrics::Metrics;
use crate::outbound::{Anchored, Outbox, Pending, RecordId};
use crate::record::{DocumentSource, OutboundRecord, RecordDates, RecordKey};

/// Header of the request's time, unix seconds.
pub const TIMESTAMP_HEADER: &str = "x-custos-timestamp";
/// Header of the request's HMAC, hex.
pub const SIGNATURE_HEADER: &str = "x-custos-signature";
/// Header of a pushed event's id.
pub const EVENT_ID_HEADER: &str = "x-custos-event-id";
/// Largest difference between a request's timestamp and the adapter's clock, s.
pub const MAX_SKEW_S: i64 = 300;
/// Fetched documents up to this size travel inside the pushed event (`document_base64`).
pub const EVENT_INLINE_MAX: u64 = 8 * 1024 * 1024;
/// Longest pause between two attempts of an event delivery.
pub const RETRY_MAX: Duration = Duration::from_secs(30);
/// How long one event POST may take.
const POST_TIMEOUT: Duration = Duration::from_secs(30);

/// The fields of a posted record, without its document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordFields {
    /// The record's id in the agency system.
    pub source_id: String,
    /// Its version.
    pub version: u64,
    /// Document type code.
    pub doc_type: String,
    /// The case number.
    pub case_number: String,
    /// Recipient agencies.
    pub recipients: Vec<String>,
    /// Copies.
    pub copies: Vec<String>,
    /// Business dates.
    pub dates: RecordDates,
    /// Kind of subject.
    pub subject_kind: Option<String>,
    /// E-seal hash (hex).
    pub eseal: Option<String>,
    /// The document's file name.
    pub file_name: Option<String>,
}

impl RecordFields {
    /// The record's key.
    pub fn key(&self) -> RecordKey {
        RecordKey { source_id: self.source_id.clone(), version: self.version }
    }

    /// The outbound record, its document at `document`.
    pub fn to_record(&self, document: DocumentSource) -> OutboundRecord {
        OutboundRecord {
            key: self.key(),
            document,
            file_name: self.file_name.clone(),
            doc_type: self.doc_type.clone(),
            case_number: self.case_number.clone(),
            recipients: self.recipients.clone(),
            copies: self.copies.clone(),
            dates: self.dates.clone(),
            subject_kind: self.subject_kind.clone(),
            eseal: self.eseal.clone(),
        }
    }
}

fn one() -> u64 {
    1
}

/// The body of `POST /v1/records`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordRequest {
    /// The record's id in the agency system.
    pub source_id: String,
    /// Its version (default 1).
    #[serde(default = "one")]
    pub version: u64,
    /// Document type code.
    pub doc_type: String,
    /// The case number.
    pub case_number: String,
    /// Recipient agencies.
    pub recipients: Vec<String>,
    /// Copies.
    #[serde(default)]
    pub copies: Vec<String>,
    /// Business dates.
    #[serde(default)]
    pub dates: RecordDates,
    /// Kind of subject.
    #[serde(default)]
    pub subject_kind: Option<String>,
    /// E-seal hash (hex).
    #[serde(default)]
    pub eseal: Option<String>,
    /// The document's file name.
    #[serde(default)]
    pub file_name: Option<String>,
    /// The document, base64.
    #[serde(default)]
    pub document_base64: Option<String>,
    /// Where the adapter fetches the document (`http://`, a host of `allowed_hosts`).
    #[serde(default)]
    pub document_url: Option<String>,
}

/// Where a posted record's document is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocumentInput {
    /// Inline, base64.
    Base64(String),
    /// To be fetched.
    Url(String),
}

impl RecordRequest {
    /// Splits the request into its fields and its document (exactly one of the two fields).
    pub fn split(self) -> std::result::Result<(RecordFields, DocumentInput), String> {
        let doc = match (self.document_base64, self.document_url) {
            (Some(b), None) => DocumentInput::Base64(b),
            (None, Some(u)) => DocumentInput::Url(u),
            (Some(_), Some(_)) => return Err("give only one of document_base64 and document_url".into()),
            (None, None) => return Err("no document: give document_base64 or document_url".into()),
        };
        let fields = RecordFields {
            source_id: self.source_id,
            version: self.version,
            doc_type: self.doc_type,
            case_number: self.case_number,
            recipients: self.recipients,
            copies: self.copies,
            dates: self.dates,
            subject_kind: self.subject_kind,
            eseal: self.eseal,
            file_name: self.file_name,
        };
        Ok((fields, doc))
    }
}

/// Where a spooled record stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpoolStatus {
    /// Waiting to be sent.
    Pending,
    /// Its document hash is written ahead; it may be on the ledger.
    Prepared,
    /// Anchored.
    Done,
    /// Can never be sent.
    Failed,
}

/// The state file of a spooled record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpoolEntry {
    /// Arrival order.
    pub seq: u64,
    /// Arrival time, ms since the epoch.
    pub received_ms: u64,
    /// The posted fields.
    pub fields: RecordFields,
    /// The suite hash of the document bytes (hex): what a re-POST is compared with.
    pub content: String,
    /// The document's size.
    pub size: u64,
    /// State.
    pub status: SpoolStatus,
    /// The document hash written ahead, then anchored.
    pub doc_hash: Option<DocHash>,
    /// Its salt (hex).
    pub salt: Option<String>,
    /// The anchoring transaction.
    pub tx_id: Option<TxId>,
    /// Its height.
    pub height: Option<u64>,
    /// Its block time.
    pub time_ms: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
}

impl SpoolEntry {
    /// The status JSON of the HTTP API, and the status code a POST answers with.
    pub fn status_json(&self) -> (StatusCode, Value) {
        let (sid, v) = (&self.fields.source_id, self.fields.version);
        match self.status {
            SpoolStatus::Done => (
                StatusCode::OK,
                json!({"status": "done", "source_id": sid, "version": v, "tx_id": self.tx_id,
                       "height": self.height, "doc_hash": self.doc_hash}),
            ),
            SpoolStatus::Failed => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"status": "failed", "source_id": sid, "version": v, "error": self.error}),
            ),
            SpoolStatus::Pending | SpoolStatus::Prepared => {
                (StatusCode::ACCEPTED, json!({"status": "pending", "source_id": sid, "version": v}))
            }
        }
    }

    fn is_final(&self) -> bool {
        matches!(self.status, SpoolStatus::Done | SpoolStatus::Failed)
    }
}

/// What the spool made of a posted record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Newly spooled.
    New(SpoolEntry),
    /// The same record was spooled before.
    Existing(SpoolEntry),
}

impl Admission {
    /// The spooled entry.
    pub fn entry(&self) -> &SpoolEntry {
        match self {
            Admission::New(e) | Admission::Existing(e) => e,
        }
    }
}

/// Computes the signature header value: hex of the suite HMAC over `timestamp + "." + message`.
pub fn sign(suite: &AnySuite, key: &[u8], timestamp: &str, message: &[u8]) -> String {
    let mut data = Vec::with_capacity(timestamp.len() + 1 + message.len());
    data.extend_from_slice(timestamp.as_bytes());
    data.push(b'.');
    data.extend_from_slice(message);
    suite.hmac(key, &data).to_hex()
}

/// Whether two byte strings are equal, in time independent of where they differ.
fn equal_ct(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a request's signature headers over `message` at time `now_s`.
pub fn verify(
    suite: &AnySuite,
    key: &[u8],
    headers: &HeaderMap,
    message: &[u8],
    now_s: i64,
) -> std::result::Result<(), String> {
    let ts = header(headers, TIMESTAMP_HEADER)?;
    let sig = header(headers, SIGNATURE_HEADER)?;
    let t: i64 = ts.trim().parse().map_err(|_| format!("{TIMESTAMP_HEADER} is not unix seconds"))?;
    if now_s.abs_diff(t) > MAX_SKEW_S.unsigned_abs() {
        return Err(format!("{TIMESTAMP_HEADER} is more than {MAX_SKEW_S} s off the adapter's clock"));
    }
    let given = hex::decode(sig.trim()).map_err(|_| format!("{SIGNATURE_HEADER} is not hex"))?;
    let want = hex::decode(sign(suite, key, ts, message)).map_err(|_| "signature encoding".to_string())?;
    if !equal_ct(&given, &want) {
        return Err("bad signature".into());
    }
    Ok(())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> std::result::Result<&'a str, String> {
    headers
        .get(name)
        .ok_or_else(|| format!("missing header {name}"))?
        .to_str()
        .map_err(|_| format!("header {name} is not text"))
}

fn now_s() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Writes `bytes` to `dir/name` atomically and durably: temporary file, fsync, rename, fsync of
/// the folder.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let mut f = std::fs::File::create(&tmp).map_err(AdapterError::io("create", &tmp))?;
    f.write_all(bytes).map_err(AdapterError::io("write", &tmp))?;
    f.sync_all().map_err(AdapterError::io("sync", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(AdapterError::io("rename", &path))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(AdapterError::io("sync", dir))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| AdapterError::Webhook(format!("spool task failed: {e}")))?
}

/// The records not yet done or failed, by arrival.
#[derive(Debug, Default)]
struct Index {
    next_seq: u64,
    open: BTreeMap<u64, RecordId>,
}

struct Inner {
    dir: PathBuf,
    suite: AnySuite,
    key: Vec<u8>,
    metrics: Metrics,
    event_url: Option<String>,
    wait: Duration,
    allowed_hosts: Vec<String>,
    body_limit: usize,
    fetch_max: u64,
    fetch_timeout: Duration,
    retry_base: Duration,
    index: Mutex<Index>,
    tmp_counter: AtomicU64,
    changed: tokio::sync::watch::Sender<u64>,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// The webhook adapter's spool, intake server and event pusher (cheap to clone: shared).
#[derive(Clone)]
pub struct WebhookStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WebhookStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookStore").field("dir", &self.inner.dir).field("event_url", &self.inner.event_url).finish()
    }
}

/// A refusal of the HTTP API: status and reason.
#[derive(Debug)]
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

impl WebhookStore {
    /// Opens the spool in `<state_dir>/webhook` and reads the shared secret of `config`.
    pub fn open(state_dir: &Path, config: &WebhookConfig, suite: AnySuite, metrics: Metrics) -> Result<Self> {
        Self::open_with(state_dir, config, suite, metrics, Duration::from_millis(500))
    }

    fn open_with(
        state_dir: &Path,
        config: &WebhookConfig,
        suite: AnySuite,
        metrics: Metrics,
        retry_base: Duration,
    ) -> Result<Self> {
        let secret = std::fs::read_to_string(&config.secret_file).map_err(|e| AdapterError::Config {
            path: config.secret_file.clone(),
            reason: format!("cannot read the webhook secret: {e}"),
        })?;
        let key = secret.trim().as_bytes().to_vec();
        if key.is_empty() {
            return Err(AdapterError::Config {
                path: config.secret_file.clone(),
                reason: "the webhook secret is empty".into(),
            });
        }
        if let Some(u) = &config.event_url
            && !u.starts_with("http://")
        {
            return Err(AdapterError::Config {
                path: "[webhook] event_url".into(),
                reason: format!("{u}: only http:// URLs are supported"),
            });
        }
        let dir = state_dir.join("webhook");
        for d in [dir.join("records"), dir.join("tmp"), dir.join("findings")] {
            std::fs::create_dir_all(&d).map_err(AdapterError::io("create", &d))?;
        }
        // Documents of requests cut short by a crash.
        if let Ok(rd) = std::fs::read_dir(dir.join("tmp")) {
            for e in rd.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let mut index = Index { next_seq: 1, open: BTreeMap::new() };
        let records = dir.join("records");
        for e in std::fs::read_dir(&records).map_err(AdapterError::io("read", &records))?.flatten() {
            let path = e.path();
            let Some(id) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if id.starts_with('.') {
                continue;
            }
            match read_entry(&path) {
                Ok(entry) => {
                    index.next_seq = index.next_seq.max(entry.seq + 1);
                    if !entry.is_final() {
                        index.open.insert(entry.seq, id.to_string());
                    }
                }
                Err(e) => warn!(path = %path.display(), error = %e, "unreadable spool entry skipped"),
            }
        }
        info!(dir = %dir.display(), open = index.open.len(), "webhook spool opened");
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let mib = |m: u64| m.saturating_mul(1024 * 1024);
        Ok(WebhookStore {
            inner: Arc::new(Inner {
                dir,
                suite,
                key,
                metrics,
                event_url: config.event_url.clone(),
                wait: Duration::from_millis(config.wait_ms),
                allowed_hosts: config.allowed_hosts.iter().map(|h| h.trim().to_ascii_lowercase()).collect(),
                body_limit: usize::try_from(mib(config.body_limit_mib)).unwrap_or(usize::MAX),
                fetch_max: mib(config.fetch_max_mib),
                fetch_timeout: Duration::from_secs(config.fetch_timeout_s),
                retry_base,
                index: Mutex::new(index),
                tmp_counter: AtomicU64::new(0),
                changed: tokio::sync::watch::channel(0).0,
                client,
            }),
        })
    }

    /// The spooled records received on or after `since` (China Standard Time), for
    /// reconciliation.
    pub fn entries(&self, since: custos_contracts::call::Date) -> Result<Vec<crate::reconcile::SourceEntry>> {
        let from = crate::reconcile::start_of_day_ms(since);
        let dir = self.records();
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(AdapterError::io("list", &dir))?.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".json") else { continue };
            let entry = read_entry(&e.path())?;
            if entry.received_ms < from {
                continue;
            }
            let status = match entry.status {
                SpoolStatus::Pending => "pending",
                SpoolStatus::Prepared => "prepared",
                SpoolStatus::Done => "done",
                SpoolStatus::Failed => "failed",
            };
            out.push(crate::reconcile::SourceEntry {
                id: id.to_string(),
                key: entry.fields.key(),
                status: status.to_string(),
                doc_hash: entry.doc_hash,
                tx_id: entry.tx_id,
                error: entry.error.clone(),
                record: Some(entry.fields.to_record(DocumentSource::Path(self.doc_path(id)))),
            });
        }
        Ok(out)
    }

    /// The spool id of a key: hex of the suite hash of `source_id ‖ 0 ‖ version` (big-endian).
    pub fn record_id(&self, key: &RecordKey) -> RecordId {
        let mut m = key.source_id.as_bytes().to_vec();
        m.push(0);
        m.extend_from_slice(&key.version.to_be_bytes());
        self.inner.suite.hash(&m).to_hex()
    }

    fn records(&self) -> PathBuf {
        self.inner.dir.join("records")
    }

    fn state_path(&self, id: &str) -> PathBuf {
        self.records().join(format!("{id}.json"))
    }

    fn doc_path(&self, id: &str) -> PathBuf {
        self.records().join(format!("{id}.doc"))
    }

    fn tmp_path(&self) -> PathBuf {
        let n = self.inner.tmp_counter.fetch_add(1, Ordering::Relaxed);
        self.inner.dir.join("tmp").join(format!("{}-{n}.part", std::process::id()))
    }

    fn notify(&self) {
        self.inner.changed.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// The spooled record of `key`, if any.
    pub async fn entry(&self, key: &RecordKey) -> Result<Option<SpoolEntry>> {
        let path = self.state_path(&self.record_id(key));
        blocking(move || match std::fs::metadata(&path) {
            Ok(_) => read_entry(&path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AdapterError::Io { op: "read", path, source: e }),
        })
        .await
    }

    /// Spools a record whose document is `document` (writes it to a temporary file first).
    pub async fn spool_bytes(&self, fields: RecordFields, document: Vec<u8>) -> Result<Admission> {
        let tmp = self.tmp_path();
        let suite = self.inner.suite.clone();
        let tmp2 = tmp.clone();
        let (content, size) = blocking(move || {
            let mut f = std::fs::File::create(&tmp2).map_err(AdapterError::io("create", &tmp2))?;
            f.write_all(&document).map_err(AdapterError::io("write", &tmp2))?;
            f.sync_all().map_err(AdapterError::io("sync", &tmp2))?;
            Ok((suite.hash(&document).to_hex(), document.len() as u64))
        })
        .await?;
        self.admit(fields, tmp, content, size).await
    }

    /// Spools a record whose document was written (and synced) to the temporary file `tmp`,
    /// with content hash `content`: the document moves into the spool, then the state file is
    /// written. The same key with the same content gives the existing entry; with other content
    /// a [`AdapterError::Conflict`].
    async fn admit(&self, fields: RecordFields, tmp: PathBuf, content: String, size: u64) -> Result<Admission> {
        let me = self.clone();
        let r = blocking(move || {
            let id = me.record_id(&fields.key());
            let state = me.state_path(&id);
            let mut index = me.inner.index.lock().map_err(|_| AdapterError::Webhook("spool lock poisoned".into()))?;
            if state.exists() {
                let _ = std::fs::remove_file(&tmp);
                let old = read_entry(&state)?;
                if old.fields == fields && old.content == content {
                    return Ok(Admission::Existing(old));
                }
                return Err(AdapterError::Conflict(format!(
                    "{} is already spooled with other content: send the new content as a new version",
                    fields.key()
                )));
            }
            let doc = me.doc_path(&id);
            std::fs::rename(&tmp, &doc).map_err(AdapterError::io("rename", &doc))?;
            sync_dir(&me.records())?;
            let entry = SpoolEntry {
                seq: index.next_seq,
                received_ms: now_ms(),
                fields,
                content,
                size,
                status: SpoolStatus::Pending,
                doc_hash: None,
                salt: None,
                tx_id: None,
                height: None,
                time_ms: None,
                error: None,
            };
            write_entry(&me.records(), &id, &entry)?;
            index.open.insert(entry.seq, id);
            index.next_seq += 1;
            Ok(Admission::New(entry))
        })
        .await?;
        if let Admission::New(e) = &r {
            info!(key = %e.fields.key(), seq = e.seq, size = e.size, "record spooled");
        }
        Ok(r)
    }

    /// Changes the state of record `id` with `f` (if it returns false, nothing is written).
    async fn update(&self, id: &RecordId, f: impl FnOnce(&mut SpoolEntry) -> bool + Send + 'static) -> Result<()> {
        let me = self.clone();
        let id = id.clone();
        blocking(move || {
            let mut index = me.inner.index.lock().map_err(|_| AdapterError::Webhook("spool lock poisoned".into()))?;
            let mut entry = read_entry(&me.state_path(&id))?;
            if f(&mut entry) {
                write_entry(&me.records(), &id, &entry)?;
            }
            if entry.is_final() {
                index.open.remove(&entry.seq);
            }
            Ok(())
        })
        .await?;
        self.notify();
        Ok(())
    }

    /// Waits up to `wait` for the record to be done or failed; its last state.
    async fn wait_final(&self, key: &RecordKey, mut entry: SpoolEntry, wait: Duration) -> Result<SpoolEntry> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut rx = self.inner.changed.subscribe();
        // Changes made before the subscription are seen by reading the state once more.
        if let Some(e) = self.entry(key).await? {
            entry = e;
        }
        loop {
            if entry.is_final() {
                return Ok(entry);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return Ok(entry),
            }
            if let Some(e) = self.entry(key).await? {
                entry = e;
            }
        }
    }

    /// The intake API's router.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/v1/records", axum::routing::post(post_record))
            .route("/v1/records/{source_id}/{version}", axum::routing::get(get_record))
            .layer(DefaultBodyLimit::max(self.inner.body_limit))
            .with_state(self.clone())
    }

    /// Serves the intake API on `listen` until `stop` resolves.
    pub async fn serve(
        &self,
        listen: SocketAddr,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<tokio::task::JoinHandle<()>> {
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| AdapterError::Config {
            path: "[webhook] listen".into(),
            reason: format!("cannot listen on {listen}: {e}"),
        })?;
        info!(%listen, "webhook intake at /v1/records");
        let app = self.router();
        Ok(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
                warn!(error = %e, "webhook intake server ended");
            }
        }))
    }

    fn check_url(&self, url: &str) -> std::result::Result<Uri, String> {
        let uri: Uri = url.parse().map_err(|e| format!("document_url {url:?}: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("document_url {url:?}: only http:// is supported"));
        }
        let host = uri.host().unwrap_or("").to_ascii_lowercase();
        let authority = uri.authority().map(|a| a.as_str().to_ascii_lowercase()).unwrap_or_default();
        if !self.inner.allowed_hosts.iter().any(|h| *h == host || *h == authority) {
            return Err(format!("document_url host {host:?} is not in [webhook] allowed_hosts"));
        }
        Ok(uri)
    }

    /// Fetches a document URL into a temporary file: (file, content hash, size).
    async fn fetch(&self, url: &str) -> std::result::Result<(PathBuf, String, u64), String> {
        let uri = self.check_url(url)?;
        let tmp = self.tmp_path();
        let r = tokio::time::timeout(self.inner.fetch_timeout, self.fetch_into(uri, &tmp)).await;
        let r = match r {
            Ok(r) => r,
            Err(_) => Err(format!("fetching {url} took longer than {} s", self.inner.fetch_timeout.as_secs())),
        };
        match r {
            Ok((content, size)) => Ok((tmp, content, size)),
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    async fn fetch_into(&self, uri: Uri, tmp: &Path) -> std::result::Result<(String, u64), String> {
        let url = uri.to_string();
        let req = hyper::Request::get(uri).body(Full::new(Bytes::new())).map_err(|e| format!("{url}: {e}"))?;
        let resp = self.inner.client.request(req).await.map_err(|e| format!("cannot fetch {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("fetching {url} answered {}", resp.status()));
        }
        let mut body = resp.into_body();
        let mut file = tokio::fs::File::create(tmp).await.map_err(|e| format!("spool: {e}"))?;
        let mut hasher = self.inner.suite.hasher();
        let mut size = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("fetching {url}: {e}"))?;
            if let Ok(data) = frame.into_data() {
                size += data.len() as u64;
                if size > self.inner.fetch_max {
                    return Err(format!("the document at {url} exceeds {} bytes", self.inner.fetch_max));
                }
                hasher.update(&data);
                file.write_all(&data).await.map_err(|e| format!("spool: {e}"))?;
            }
        }
        file.sync_all().await.map_err(|e| format!("spool: {e}"))?;
        Ok((hasher.finalize().to_hex(), size))
    }

    // ---- event delivery ----

    /// One signed POST of `body` to `url`.
    async fn post_once(&self, url: &str, event_id: &str, body: &Bytes) -> std::result::Result<(), String> {
        let ts = now_s().to_string();
        let sig = sign(&self.inner.suite, &self.inner.key, &ts, body);
        let req = hyper::Request::post(url)
            .header("content-type", "application/json")
            .header(EVENT_ID_HEADER, event_id)
            .header(TIMESTAMP_HEADER, &ts)
            .header(SIGNATURE_HEADER, sig)
            .body(Full::new(body.clone()))
            .map_err(|e| format!("{url}: {e}"))?;
        let resp = tokio::time::timeout(POST_TIMEOUT, self.inner.client.request(req))
            .await
            .map_err(|_| format!("{url}: no answer within {} s", POST_TIMEOUT.as_secs()))?
            .map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        // Drain the answer so the connection can be reused.
        let _ = tokio::time::timeout(Duration::from_secs(5), resp.into_body().collect()).await;
        if status.is_success() { Ok(()) } else { Err(format!("{url} answered {status}")) }
    }

    /// POSTs one event until the agency system acknowledges it.
    async fn push(&self, url: &str, ev: &InboxEvent) -> Result<()> {
        let body = Bytes::from(event_body(ev).await?);
        let mut delay = self.inner.retry_base;
        let mut attempt = 1u32;
        loop {
            match self.post_once(url, &ev.event_id, &body).await {
                Ok(()) => {
                    self.inner.metrics.event_delivered();
                    debug!(event = %ev.event_id, attempt, "event delivered");
                    return Ok(());
                }
                Err(e) => {
                    self.inner.metrics.event_retry();
                    warn!(event = %ev.event_id, attempt, retry_in_ms = delay.as_millis() as u64, error = %e,
                          "event delivery failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(RETRY_MAX);
                    attempt += 1;
                }
            }
        }
    }

    fn checkpoint_file(&self) -> PathBuf {
        self.inner.dir.join("inbox.height")
    }

    fn finding_marker(&self, event_id: &str) -> String {
        self.inner.suite.hash(event_id.as_bytes()).to_hex()
    }
}

/// The JSON pushed for an event: its fields, plus `document_base64` for a small fetched document.
async fn event_body(ev: &InboxEvent) -> Result<Vec<u8>> {
    let mut v = serde_json::to_value(ev).map_err(|e| AdapterError::Webhook(format!("event JSON: {e}")))?;
    if let (Some(p), Some(size)) = (&ev.document, ev.size)
        && size <= EVENT_INLINE_MAX
    {
        let bytes = tokio::fs::read(p).await.map_err(AdapterError::io("read", p))?;
        v["document_base64"] = Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    serde_json::to_vec(&v).map_err(|e| AdapterError::Webhook(format!("event JSON: {e}")))
}

fn read_entry(path: &Path) -> Result<SpoolEntry> {
    let bytes = std::fs::read(path).map_err(AdapterError::io("read", path))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| AdapterError::Webhook(format!("spool entry {} is unreadable: {e}", path.display())))
}

fn write_entry(dir: &Path, id: &str, entry: &SpoolEntry) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(entry).map_err(|e| AdapterError::Webhook(format!("spool entry: {e}")))?;
    write_atomic(dir, &format!("{id}.json"), &bytes)
}

fn refusal_of(e: AdapterError) -> Refusal {
    match e {
        AdapterError::Conflict(m) => Refusal(StatusCode::CONFLICT, m),
        e @ (AdapterError::Record(_) | AdapterError::Rejected(_)) => {
            Refusal(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        e => {
            warn!(error = %e, "webhook intake failed");
            Refusal(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

async fn post_record(State(s): State<WebhookStore>, headers: HeaderMap, body: Bytes) -> Response {
    match intake(&s, &headers, body).await {
        Ok(r) => r,
        Err(r) => {
            debug!(status = %r.0, reason = %r.1, "record refused");
            r.into_response()
        }
    }
}

async fn intake(s: &WebhookStore, headers: &HeaderMap, body: Bytes) -> std::result::Result<Response, Refusal> {
    verify(&s.inner.suite, &s.inner.key, headers, &body, now_s()).map_err(|e| Refusal(StatusCode::UNAUTHORIZED, e))?;
    let req: RecordRequest = serde_json::from_slice(&body)
        .map_err(|e| Refusal(StatusCode::BAD_REQUEST, format!("malformed record: {e}")))?;
    drop(body);
    let (fields, doc) = req.split().map_err(|e| Refusal(StatusCode::BAD_REQUEST, e))?;
    // The checks that need no node, before anything is spooled.
    fields.to_record(DocumentSource::Bytes(Vec::new())).check().map_err(refusal_of)?;
    let key = fields.key();
    let admission = match doc {
        DocumentInput::Base64(b) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .map_err(|e| Refusal(StatusCode::BAD_REQUEST, format!("document_base64: {e}")))?;
            drop(b);
            s.spool_bytes(fields, bytes).await
        }
        DocumentInput::Url(u) => {
            let (tmp, content, size) = s.fetch(&u).await.map_err(|e| Refusal(StatusCode::UNPROCESSABLE_ENTITY, e))?;
            s.admit(fields, tmp, content, size).await
        }
    }
    .map_err(refusal_of)?;
    if matches!(admission, Admission::New(_)) {
        s.notify();
    }
    let entry = s.wait_final(&key, admission.entry().clone(), s.inner.wait).await.map_err(refusal_of)?;
    let (code, v) = entry.status_json();
    Ok((code, Json(v)).into_response())
}

async fn get_record(
    State(s): State<WebhookStore>,
    axum::extract::Path((source_id, version)): axum::extract::Path<(String, u64)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = verify(&s.inner.suite, &s.inner.key, &headers, uri.path().as_bytes(), now_s()) {
        return Refusal(StatusCode::UNAUTHORIZED, e).into_response();
    }
    let key = RecordKey { source_id, version };
    match s.entry(&key).await {
        Ok(Some(e)) => (StatusCode::OK, Json(e.status_json().1)).into_response(),
        Ok(None) => Refusal(StatusCode::NOT_FOUND, format!("no record {key}")).into_response(),
        Err(e) => refusal_of(e).into_response(),
    }
}

impl Outbox for WebhookStore {
    async fn pending(&self, max: usize) -> Result<Vec<Pending>> {
        let ids: Vec<RecordId> = {
            let index = self.inner.index.lock().map_err(|_| AdapterError::Webhook("spool lock poisoned".into()))?;
            index.open.values().take(max).cloned().collect()
        };
        let me = self.clone();
        blocking(move || {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let entry = read_entry(&me.state_path(&id))?;
                if entry.is_final() {
                    continue;
                }
                let prepared = if entry.status == SpoolStatus::Prepared { entry.doc_hash } else { None };
                let record = Ok(entry.fields.to_record(DocumentSource::Path(me.doc_path(&id))));
                out.push(Pending { id, record, prepared });
            }
            Ok(out)
        })
        .await
    }

    async fn prepared(&self, id: &RecordId, doc_hash: &DocHash, salt: &Salt) -> Result<()> {
        let (doc_hash, salt) = (*doc_hash, hex::encode(salt.0));
        self.update(id, move |e| {
            if !matches!(e.status, SpoolStatus::Pending | SpoolStatus::Prepared) {
                return false;
            }
            e.status = SpoolStatus::Prepared;
            e.doc_hash = Some(doc_hash);
            e.salt = Some(salt);
            true
        })
        .await
    }

    async fn done(&self, id: &RecordId, a: &Anchored) -> Result<()> {
        let a = a.clone();
        let r = self
            .update(id, move |e| {
                e.status = SpoolStatus::Done;
                e.doc_hash = Some(a.doc_hash);
                e.salt = Some(hex::encode(a.salt.0));
                e.tx_id = Some(a.tx_id);
                e.height = Some(a.height);
                e.time_ms = Some(a.time_ms);
                e.error = None;
                true
            })
            .await;
        if r.is_ok() {
            info!(record = %id, "spooled record anchored");
        }
        r
    }

    async fn failed(&self, id: &RecordId, reason: &str) -> Result<()> {
        let reason = reason.to_string();
        self.update(id, move |e| {
            if e.status == SpoolStatus::Done {
                return false;
            }
            e.status = SpoolStatus::Failed;
            e.error = Some(reason);
            true
        })
        .await
    }
}

impl Inbox for WebhookStore {
    async fn checkpoint(&self) -> Result<Option<u64>> {
        let path = self.checkpoint_file();
        match tokio::fs::read_to_string(&path).await {
            Ok(t) => t.trim().parse().map(Some).map_err(|_| {
                AdapterError::Webhook(format!("checkpoint {} does not hold a height: {t:?}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AdapterError::Io { op: "read", path, source: e }),
        }
    }

    async fn deliver(&self, height: u64, events: &[InboxEvent]) -> Result<()> {
        if let Some(url) = &self.inner.event_url {
            for ev in events {
                self.push(url, ev).await?;
            }
        }
        let dir = self.inner.dir.clone();
        blocking(move || write_atomic(&dir, "inbox.height", height.to_string().as_bytes())).await
    }

    async fn deliver_findings(&self, events: &[InboxEvent]) -> Result<usize> {
        let dir = self.inner.dir.join("findings");
        let mut new = 0;
        for ev in events {
            let marker = self.finding_marker(&ev.event_id);
            if tokio::fs::try_exists(dir.join(&marker)).await.unwrap_or(false) {
                continue;
            }
            if let Some(url) = &self.inner.event_url {
                self.push(url, ev).await?;
            }
            let (dir, id) = (dir.clone(), ev.event_id.clone());
            blocking(move || write_atomic(&dir, &marker, id.as_bytes())).await?;
            new += 1;
        }
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::inbound::EventKind;
    use axum::http::HeaderValue;
    use custos_primitives::crypto::{Hash, SuiteId};
    use std::sync::atomic::AtomicUsize;

    fn suite() -> AnySuite {
        AnySuite::with_defaults(SuiteId::Sm)
    }

    fn config(dir: &Path, event_url: Option<String>) -> WebhookConfig {
        let secret_file = dir.join("webhook.secret");
        std::fs::write(&secret_file, "shared-secret\n").unwrap();
        WebhookConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            event_url,
            secret_file,
            wait_ms: 0,
            allowed_hosts: vec!["docs.court.local".into()],
            body_limit_mib: 700,
            fetch_max_mib: 512,
            fetch_timeout_s: 300,
        }
    }

    fn store(dir: &Path, event_url: Option<String>) -> WebhookStore {
        WebhookStore::open_with(dir, &config(dir, event_url), suite(), Metrics::new(), Duration::from_millis(10))
            .unwrap()
    }

    fn fields(source_id: &str) -> RecordFields {
        RecordFields {
            source_id: source_id.into(),
            version: 1,
            doc_type: "LETTER".into(),
            case_number: "（2026）测01刑初1号".into(),
            recipients: vec!["justice".into()],
            copies: vec![],
            dates: RecordDates::default(),
            subject_kind: None,
            eseal: None,
            file_name: Some("a.pdf".into()),
        }
    }

    fn signed(ts: i64, message: &[u8], key: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        let ts = ts.to_string();
        h.insert(TIMESTAMP_HEADER, HeaderValue::from_str(&ts).unwrap());
        h.insert(SIGNATURE_HEADER, HeaderValue::from_str(&sign(&suite(), key, &ts, message)).unwrap());
        h
    }

    #[test]
    fn signatures_are_checked() {
        let (s, key, body, now) = (suite(), b"shared-secret".as_slice(), b"{\"a\":1}".as_slice(), 1_800_000_000);
        assert!(verify(&s, key, &signed(now, body, key), body, now).is_ok());
        // A clock 299 s apart is fine; 301 s is not.
        assert!(verify(&s, key, &signed(now - 299, body, key), body, now).is_ok());
        assert!(verify(&s, key, &signed(now - 301, body, key), body, now).unwrap_err().contains("off"));
        assert!(verify(&s, key, &signed(now + 301, body, key), body, now).is_err());
        assert!(verify(&s, key, &signed(i64::MIN, body, key), body, now).is_err());
        // Another key, another body.
        assert_eq!(verify(&s, key, &signed(now, body, b"other"), body, now).unwrap_err(), "bad signature");
        assert_eq!(verify(&s, key, &signed(now, body, key), b"{\"a\":2}", now).unwrap_err(), "bad signature");
        // Missing or malformed headers.
        assert!(verify(&s, key, &HeaderMap::new(), body, now).unwrap_err().contains("missing"));
        let mut h = signed(now, body, key);
        h.remove(SIGNATURE_HEADER);
        assert!(verify(&s, key, &h, body, now).unwrap_err().contains("missing"));
        let mut h = signed(now, body, key);
        h.insert(SIGNATURE_HEADER, HeaderValue::from_static("zz"));
        assert!(verify(&s, key, &h, body, now).unwrap_err().contains("not hex"));
        let mut h = signed(now, body, key);
        h.insert(SIGNATURE_HEADER, HeaderValue::from_static("abcd"));
        assert_eq!(verify(&s, key, &h, body, now).unwrap_err(), "bad signature");
        // The MAC is the suite's HMAC over "timestamp.body".
        let ts = now.to_string();
        assert_eq!(sign(&s, key, &ts, body), s.hmac(key, format!("{ts}.{{\"a\":1}}").as_bytes()).to_hex());
        assert!(equal_ct(b"abc", b"abc") && !equal_ct(b"abc", b"abd") && !equal_ct(b"ab", b"abc"));
    }

    #[test]
    fn requests_need_exactly_one_document() {
        let base = r#"{"source_id":"r1","doc_type":"LETTER","case_number":"c","recipients":["justice"]"#;
        let parse = |extra: &str| serde_json::from_str::<RecordRequest>(&format!("{base}{extra}}}")).unwrap().split();
        let (f, d) = parse(r#","document_base64":"aGk=""#).unwrap();
        assert_eq!((f.version, f.copies.len()), (1, 0));
        assert_eq!(d, DocumentInput::Base64("aGk=".into()));
        assert!(parse("").unwrap_err().contains("no document"));
        assert!(parse(r#","document_base64":"aGk=","document_url":"http://x/""#).unwrap_err().contains("only one"));
        assert!(serde_json::from_str::<RecordRequest>(&format!("{base},\"bogus\":1}}")).is_err());
    }

    fn anchored() -> Anchored {
        Anchored {
            doc_hash: DocHash(Hash([7; 32])),
            salt: Salt([1; 32]),
            tx_id: TxId(Hash([9; 32])),
            height: 42,
            time_ms: 1000,
            case_ref: custos_primitives::types::CaseRef(Hash([3; 32])),
        }
    }

    #[tokio::test]
    async fn the_spool_takes_a_record_from_pending_to_done() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), None);
        let a = s.spool_bytes(fields("r1"), b"first".to_vec()).await.unwrap();
        assert!(matches!(a, Admission::New(_)));
        s.spool_bytes(fields("r2"), b"second".to_vec()).await.unwrap();
        let p = s.pending(10).await.unwrap();
        assert_eq!(p.len(), 2);
        let id = s.record_id(&RecordKey { source_id: "r1".into(), version: 1 });
        assert_eq!(p[0].id, id, "oldest first");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()) && id.len() == 64);
        let rec = p[0].record.as_ref().unwrap();
        let DocumentSource::Path(doc) = &rec.document else { panic!("a spooled document is a file") };
        assert_eq!(std::fs::read(doc).unwrap(), b"first");
        assert!(rec.check().is_ok());
        assert_eq!(p[0].prepared, None);

        let a = anchored();
        s.prepared(&id, &a.doc_hash, &a.salt).await.unwrap();
        s.prepared(&id, &a.doc_hash, &a.salt).await.unwrap();
        assert_eq!(s.pending(10).await.unwrap()[0].prepared, Some(a.doc_hash));
        s.done(&id, &a).await.unwrap();
        s.done(&id, &a).await.unwrap();
        // failed after done changes nothing.
        s.failed(&id, "late").await.unwrap();
        let p = s.pending(10).await.unwrap();
        assert_eq!(p.len(), 1);
        assert_ne!(p[0].id, id);
        let e = s.entry(&RecordKey { source_id: "r1".into(), version: 1 }).await.unwrap().unwrap();
        let (code, v) = e.status_json();
        assert_eq!(code, StatusCode::OK);
        assert_eq!(v["status"], "done");
        assert_eq!(v["height"], 42);
        assert_eq!(v["tx_id"], TxId(Hash([9; 32])).to_string());
        assert_eq!(v["doc_hash"], DocHash(Hash([7; 32])).to_string());

        // A failed record leaves the pending list; its status says why.
        s.failed(&p[0].id, "unknown recipient").await.unwrap();
        assert!(s.pending(10).await.unwrap().is_empty());
        let e = s.entry(&RecordKey { source_id: "r2".into(), version: 1 }).await.unwrap().unwrap();
        assert_eq!(e.status_json().0, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.status_json().1["error"], "unknown recipient");

        // A reopened spool continues the sequence and lists nothing finished.
        s.spool_bytes(fields("r3"), b"third".to_vec()).await.unwrap();
        drop(s);
        let s = store(dir.path(), None);
        let p = s.pending(10).await.unwrap();
        assert_eq!(p.len(), 1);
        let e4 = s.spool_bytes(fields("r4"), b"fourth".to_vec()).await.unwrap();
        assert_eq!(e4.entry().seq, 4);
    }

    #[tokio::test]
    async fn a_repeated_post_is_idempotent_and_changed_content_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), None);
        let first = s.spool_bytes(fields("r1"), b"doc".to_vec()).await.unwrap();
        let again = s.spool_bytes(fields("r1"), b"doc".to_vec()).await.unwrap();
        assert_eq!(again, Admission::Existing(first.entry().clone()));
        assert_eq!(s.pending(10).await.unwrap().len(), 1);
        // Other bytes, or other fields, under the same key.
        let e = s.spool_bytes(fields("r1"), b"DOC".to_vec()).await.unwrap_err();
        assert!(matches!(e, AdapterError::Conflict(_)), "{e}");
        let mut f = fields("r1");
        f.recipients = vec!["police".into()];
        assert!(matches!(s.spool_bytes(f, b"doc".to_vec()).await, Err(AdapterError::Conflict(_))));
        assert_eq!(refusal_of(AdapterError::Conflict("x".into())).0, StatusCode::CONFLICT);
        // A new version is a new record.
        let mut f = fields("r1");
        f.version = 2;
        assert!(matches!(s.spool_bytes(f, b"DOC".to_vec()).await.unwrap(), Admission::New(_)));
        // Temporary files do not linger.
        assert_eq!(std::fs::read_dir(dir.path().join("webhook/tmp")).unwrap().count(), 0);
        // After done, a re-POST answers done.
        let id = s.record_id(&RecordKey { source_id: "r1".into(), version: 1 });
        s.done(&id, &anchored()).await.unwrap();
        let again = s.spool_bytes(fields("r1"), b"doc".to_vec()).await.unwrap();
        assert_eq!(again.entry().status, SpoolStatus::Done);
    }

    async fn call(s: &WebhookStore, method: &str, url: &str, body: &[u8], signed_over: Option<&[u8]>) -> (u16, Value) {
        let mut req = hyper::Request::builder().method(method).uri(url);
        if let Some(m) = signed_over {
            let ts = now_s().to_string();
            req = req.header(TIMESTAMP_HEADER, &ts).header(SIGNATURE_HEADER, sign(&suite(), b"shared-secret", &ts, m));
        }
        let resp = s.inner.client.request(req.body(Full::new(Bytes::copy_from_slice(body))).unwrap()).await.unwrap();
        let code = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn the_intake_api_answers_by_its_contract() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), None);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = s.router();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let url = format!("http://{addr}/v1/records");
        let body = json!({"source_id": "r1", "doc_type": "LETTER", "case_number": "c1", "recipients": ["justice"],
                          "document_base64": base64::engine::general_purpose::STANDARD.encode(b"doc")})
        .to_string();
        let b = body.as_bytes();
        assert_eq!(call(&s, "POST", &url, b, None).await.0, 401);
        assert_eq!(call(&s, "POST", &url, b, Some(b"other")).await.0, 401);
        assert_eq!(call(&s, "POST", &url, b"{", Some(b"{")).await.0, 400);
        let (code, v) = call(&s, "POST", &url, b, Some(b)).await;
        assert_eq!((code, v["status"].as_str()), (202, Some("pending")));
        assert_eq!(call(&s, "POST", &url, b, Some(b)).await.0, 202);
        let changed = body.replace("c1", "c2");
        let (code, v) = call(&s, "POST", &url, changed.as_bytes(), Some(changed.as_bytes())).await;
        assert_eq!(code, 409);
        assert!(v["error"].as_str().unwrap().contains("other content"));
        let bad = body.replace("LETTER", "MEMO");
        let (code, v) = call(&s, "POST", &url, bad.as_bytes(), Some(bad.as_bytes())).await;
        assert_eq!(code, 422);
        assert!(v["error"].as_str().unwrap().contains("document type"));
        let fetch = body.replace("document_base64", "document_url").replace("\"ZG9j\"", "\"http://evil.example/x\"");
        let (code, v) = call(&s, "POST", &url, fetch.as_bytes(), Some(fetch.as_bytes())).await;
        assert_eq!(code, 422, "{v}");
        assert!(v["error"].as_str().unwrap().contains("allowed_hosts"));
        assert_eq!(s.pending(10).await.unwrap().len(), 1);

        let id = s.record_id(&RecordKey { source_id: "r1".into(), version: 1 });
        s.done(&id, &anchored()).await.unwrap();
        let (code, v) = call(&s, "POST", &url, b, Some(b)).await;
        assert_eq!((code, v["status"].as_str(), v["height"].as_u64()), (200, Some("done"), Some(42)));
        let path = "/v1/records/r1/1";
        let (code, v) = call(&s, "GET", &format!("http://{addr}{path}"), b"", Some(path.as_bytes())).await;
        assert_eq!((code, v["status"].as_str()), (200, Some("done")));
        assert_eq!(call(&s, "GET", &format!("http://{addr}{path}"), b"", None).await.0, 401);
        let path = "/v1/records/r9/1";
        assert_eq!(call(&s, "GET", &format!("http://{addr}{path}"), b"", Some(path.as_bytes())).await.0, 404);
        server.abort();
    }

    #[tokio::test]
    async fn a_waiting_post_sees_the_anchor() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), None);
        let a = s.spool_bytes(fields("r1"), b"doc".to_vec()).await.unwrap();
        let key = RecordKey { source_id: "r1".into(), version: 1 };
        let id = s.record_id(&key);
        let s2 = s.clone();
        let t = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            s2.done(&id, &anchored()).await.unwrap();
        });
        let started = std::time::Instant::now();
        let e = s.wait_final(&key, a.entry().clone(), Duration::from_secs(3)).await.unwrap();
        assert_eq!(e.status, SpoolStatus::Done);
        assert!(started.elapsed() < Duration::from_secs(2));
        t.await.unwrap();
        // Still pending when the wait ends.
        let b = s.spool_bytes(fields("r2"), b"doc".to_vec()).await.unwrap();
        let key = RecordKey { source_id: "r2".into(), version: 1 };
        let e = s.wait_final(&key, b.entry().clone(), Duration::from_millis(20)).await.unwrap();
        assert_eq!(e.status_json().0, StatusCode::ACCEPTED);
    }

    #[tokio::test]
    async fn document_urls_are_fetched_with_a_size_cap() {
        let app = axum::Router::new()
            .route("/small", axum::routing::get(|| async { "fetched document" }))
            .route("/big", axum::routing::get(|| async { vec![0u8; 1024 * 1024 + 1] }))
            .route("/gone", axum::routing::get(|| async { StatusCode::NOT_FOUND }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path(), None);
        c.allowed_hosts = vec!["127.0.0.1".into()];
        c.fetch_max_mib = 1;
        let s = WebhookStore::open(dir.path(), &c, suite(), Metrics::new()).unwrap();
        let (tmp, content, size) = s.fetch(&format!("http://{addr}/small")).await.unwrap();
        assert_eq!(std::fs::read(&tmp).unwrap(), b"fetched document");
        assert_eq!((content, size), (suite().hash(b"fetched document").to_hex(), 16));
        let a = s.admit(fields("r1"), tmp, suite().hash(b"fetched document").to_hex(), 16).await.unwrap();
        // The same bytes posted inline are the same record.
        assert!(matches!(a, Admission::New(_)));
        let again = s.spool_bytes(fields("r1"), b"fetched document".to_vec()).await.unwrap();
        assert!(matches!(again, Admission::Existing(_)));
        assert!(s.fetch(&format!("http://{addr}/big")).await.unwrap_err().contains("exceeds"));
        assert!(s.fetch(&format!("http://{addr}/gone")).await.unwrap_err().contains("404"));
        assert_eq!(std::fs::read_dir(dir.path().join("webhook/tmp")).unwrap().count(), 0);
        server.abort();
    }

    #[test]
    fn the_webhook_section_has_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.toml");
        std::fs::write(
            &f,
            "home = \"h\"\nstate_dir = \"s\"\n[webhook]\nlisten = \"127.0.0.1:8090\"\nsecret_file = \"k\"\n",
        )
        .unwrap();
        let c = crate::Config::load(&f).unwrap();
        let Ok(crate::config::Kind::Webhook(w)) = c.kind() else { panic!("a webhook adapter") };
        assert_eq!((w.wait_ms, w.body_limit_mib, w.fetch_max_mib, w.fetch_timeout_s), (30_000, 700, 512, 300));
        assert_eq!(w.secret_file, dir.path().join("k"));
        assert!(w.event_url.is_none() && w.allowed_hosts.is_empty());
    }

    #[tokio::test]
    async fn document_urls_must_be_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), None);
        assert!(s.check_url("http://docs.court.local/a.pdf").is_ok());
        assert!(s.check_url("http://DOCS.court.local:8080/a.pdf").is_ok());
        assert!(s.check_url("http://evil.example/a.pdf").unwrap_err().contains("allowed_hosts"));
        assert!(s.check_url("https://docs.court.local/a.pdf").unwrap_err().contains("http://"));
    }

    #[tokio::test]
    async fn the_checkpoint_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), None);
        assert_eq!(s.checkpoint().await.unwrap(), None);
        s.deliver(7, &[]).await.unwrap();
        assert_eq!(s.checkpoint().await.unwrap(), Some(7));
        s.deliver(8, &[event("document/x")]).await.unwrap();
        assert_eq!(s.checkpoint().await.unwrap(), Some(8));
        assert_eq!(store(dir.path(), None).checkpoint().await.unwrap(), Some(8));
    }

    fn event(id: &str) -> InboxEvent {
        InboxEvent {
            event_id: id.into(),
            kind: EventKind::Document,
            height: Some(5),
            tx_id: Some(TxId(Hash([2; 32]))),
            time_ms: Some(1),
            doc_hash: Some(DocHash(Hash([4; 32]))),
            doc_type: Some("LETTER".into()),
            from: None,
            case_ref: None,
            document: None,
            size: None,
            detail: Value::Null,
        }
    }

    #[derive(Clone, Default)]
    struct Receiver {
        attempts: Arc<AtomicUsize>,
        got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    }

    async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
        if r.attempts.fetch_add(1, Ordering::SeqCst) < 2 {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        r.got.lock().unwrap().push((headers, body));
        StatusCode::NO_CONTENT
    }

    #[tokio::test]
    async fn events_are_retried_until_acknowledged_then_the_checkpoint_moves() {
        let recv = Receiver::default();
        let app = axum::Router::new().route("/events", axum::routing::post(receive)).with_state(recv.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), Some(format!("http://{addr}/events")));
        let doc = dir.path().join("fetched");
        std::fs::write(&doc, b"the document").unwrap();
        let mut ev = event("document/abc");
        ev.document = Some(doc);
        ev.size = Some(12);
        tokio::time::timeout(Duration::from_secs(4), s.deliver(5, &[ev])).await.unwrap().unwrap();
        assert_eq!(recv.attempts.load(Ordering::SeqCst), 3);
        assert_eq!(s.checkpoint().await.unwrap(), Some(5));
        let got = recv.got.lock().unwrap().clone();
        assert_eq!(got.len(), 1);
        let (headers, body) = &got[0];
        assert_eq!(headers.get(EVENT_ID_HEADER).unwrap(), "document/abc");
        verify(&suite(), b"shared-secret", headers, body, now_s()).unwrap();
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["event_id"], "document/abc");
        assert_eq!(v["kind"], "document");
        assert_eq!(v["document_base64"], base64::engine::general_purpose::STANDARD.encode(b"the document"));

        // Findings: delivered once each.
        let f = InboxEvent { kind: EventKind::Finding, ..event("finding/r/ab/1/2") };
        assert_eq!(s.deliver_findings(std::slice::from_ref(&f)).await.unwrap(), 1);
        assert_eq!(s.deliver_findings(&[f, event("finding/other")]).await.unwrap(), 1);
        assert_eq!(recv.got.lock().unwrap().len(), 3);
        server.abort();
    }
}

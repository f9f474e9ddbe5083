//! The watched-folder adapter: for agency systems that can only write and read files.
//!
//! ```text
//! ROOT/outbox/NAME.json     metadata of a document to send (see [`Metadata`])
//! ROOT/outbox/<document>    the document it names (`"document": "letter.pdf"`)
//! ROOT/done/NAME.json, ROOT/done/<document>, ROOT/done/NAME.result.json   sent: doc hash, salt,
//!                           transaction id, height
//! ROOT/failed/NAME.json, ROOT/failed/<document>, ROOT/failed/NAME.reason.txt
//! ROOT/inbox/<height>-<kind>-<id>.json   events for the agency (documents, receipts, grants,
//!                           findings), each written whole (temporary name, then renamed)
//! ROOT/inbox/documents/<doc hash>        the documents addressed to the agency
//! ```
//!
//! A job is picked up only once its metadata parses and neither it nor the document has changed
//! size or modification time for `settle_ms`, and the document has the `size` the metadata gives
//! (if it gives one): a file still being written is never sent. Names starting with `.` or ending
//! in `.tmp`/`.part` are ignored. Metadata that stays unreadable past the settle time fails.
//!
//! The source's state (the document hash written ahead) lives in `state_dir/folder/`. Moving a
//! finished job writes its result first, then moves the document, then the metadata; a crash in
//! between is completed at the next poll. The inbox checkpoint is `state_dir/folder/inbox.height`,
//! written after the events of that height; events are files with fixed names, so writing them
//! again after a crash leaves one copy.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tracing::warn;

use custos_primitives::types::{DocHash, Salt};

use crate::error::{AdapterError, Result};
use crate::inbound::{Inbox, InboxEvent};
use crate::outbound::{Anchored, Outbox, Pending, RecordId};
use crate::reconcile::SourceEntry;
use crate::record::{DocumentSource, OutboundRecord, RecordDates, RecordKey};

/// Largest metadata file read.
const MAX_METADATA: u64 = 64 * 1024;

/// A job's metadata file (`ROOT/outbox/NAME.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// The record's id in the agency system.
    pub source_id: String,
    /// Its version (default 1).
    #[serde(default = "one")]
    pub version: u64,
    /// Document type code.
    pub doc_type: String,
    /// Case number (案号).
    pub case_number: String,
    /// Recipients.
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
    /// E-seal hash.
    #[serde(default)]
    pub eseal: Option<String>,
    /// The document's file name, in the outbox folder.
    pub document: String,
    /// Its size in bytes: when given, the job waits until the file has it.
    #[serde(default)]
    pub size: Option<u64>,
}

fn one() -> u64 {
    1
}

impl Metadata {
    /// The outbound record of this job, its document in `dir`.
    fn into_record(self, dir: &Path) -> OutboundRecord {
        OutboundRecord {
            key: RecordKey { source_id: self.source_id, version: self.version },
            document: DocumentSource::Path(dir.join(&self.document)),
            file_name: Some(self.document),
            doc_type: self.doc_type,
            case_number: self.case_number,
            recipients: self.recipients,
            copies: self.copies,
            dates: self.dates,
            subject_kind: self.subject_kind,
            eseal: self.eseal,
        }
    }
}

/// What the adapter remembers of a job (`state_dir/folder/jobs/NAME.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct JobState {
    doc_hash: Option<String>,
    salt: Option<String>,
}

impl JobState {
    /// The document hash written ahead, if any.
    fn prepared(&self) -> Option<DocHash> {
        let b = hex::decode(self.doc_hash.as_deref()?).ok()?;
        <[u8; 32]>::try_from(b).ok().map(|a| DocHash(custos_primitives::crypto::Hash(a)))
    }
}

/// A file's (size, mtime) when last seen changed, and since when it has stayed so.
type Seen = ((u64, SystemTime), SystemTime);

/// The watched folder, as source and sink.
#[derive(Clone, Debug)]
pub struct Folder {
    root: PathBuf,
    state: PathBuf,
    settle: Duration,
    /// Last seen (size, mtime) of each file, and since when.
    seen: Arc<Mutex<BTreeMap<PathBuf, Seen>>>,
}

fn ignored(name: &str) -> bool {
    name.starts_with('.') || name.ends_with(".tmp") || name.ends_with(".part")
}

/// Writes `bytes` to `path` whole: temporary file, fsync, rename, fsync of the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(AdapterError::io("create", &tmp))?;
    f.write_all(bytes).map_err(AdapterError::io("write", &tmp))?;
    f.sync_all().map_err(AdapterError::io("sync", &tmp))?;
    std::fs::rename(&tmp, path).map_err(AdapterError::io("rename", path))?;
    sync_dir(dir);
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Moves `from` into folder `to_dir` under its own name, or a free `name.N` if taken. A file
/// already moved away by someone else counts as moved.
fn move_into(from: &Path, to_dir: &Path) -> Result<PathBuf> {
    let name = from.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut target = to_dir.join(&name);
    let mut n = 1;
    while target.exists() {
        target = to_dir.join(format!("{name}.{n}"));
        n += 1;
    }
    match std::fs::rename(from, &target) {
        Ok(()) => {}
        // Moved meanwhile: a poll completing a finished job and the job's own task both move its
        // files; whichever comes second finds them gone.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !from.exists() => return Ok(target),
        Err(e) => return Err(AdapterError::Io { op: "move", path: from.to_path_buf(), source: e }),
    }
    sync_dir(to_dir);
    Ok(target)
}

impl Folder {
    /// Opens (creating its folders) the exchange folder `root`, with the adapter's state in
    /// `state_dir`.
    pub fn open(root: &Path, state_dir: &Path, settle: Duration) -> Result<Self> {
        let f = Folder { root: root.to_path_buf(), state: state_dir.join("folder"), settle, seen: Arc::default() };
        for d in [f.outbox(), f.root.join("done"), f.root.join("failed"), f.inbox(), f.inbox().join("documents")] {
            std::fs::create_dir_all(&d).map_err(AdapterError::io("create", &d))?;
        }
        let jobs = f.state.join("jobs");
        std::fs::create_dir_all(&jobs).map_err(AdapterError::io("create", &jobs))?;
        Ok(f)
    }

    fn outbox(&self) -> PathBuf {
        self.root.join("outbox")
    }

    fn inbox(&self) -> PathBuf {
        self.root.join("inbox")
    }

    fn job_state_path(&self, id: &str) -> PathBuf {
        self.state.join("jobs").join(format!("{id}.json"))
    }

    fn job_state(&self, id: &str) -> JobState {
        std::fs::read(self.job_state_path(id)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    /// Whether `path` has kept its size and mtime for the settle time (first sight counts as a
    /// change). Returns its size.
    fn settled(&self, path: &Path) -> Option<u64> {
        let m = std::fs::metadata(path).ok()?;
        let sig = (m.len(), m.modified().ok()?);
        if self.settle.is_zero() {
            return Some(sig.0);
        }
        let now = SystemTime::now();
        let mut seen = self.seen.lock().ok()?;
        match seen.get(path) {
            Some((s, since)) if *s == sig => {
                (now.duration_since(*since).unwrap_or_default() >= self.settle).then_some(sig.0)
            }
            _ => {
                seen.insert(path.to_path_buf(), (sig, now));
                None
            }
        }
    }

    fn forget(&self, paths: &[&Path]) {
        if let Ok(mut seen) = self.seen.lock() {
            for p in paths {
                seen.remove(*p);
            }
        }
    }

    /// Completes the moves of a job whose result was written before a crash. True if the job
    /// was finished that way.
    fn complete_moves(&self, id: &str, meta_path: &Path, document: Option<&Path>) -> Result<bool> {
        for (dir, marker) in [("done", format!("{id}.result.json")), ("failed", format!("{id}.reason.txt"))] {
            let dir = self.root.join(dir);
            if dir.join(&marker).exists() {
                if let Some(d) = document
                    && d.exists()
                {
                    move_into(d, &dir)?;
                }
                move_into(meta_path, &dir)?;
                let _ = std::fs::remove_file(self.job_state_path(id));
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn meta_path(&self, id: &str) -> PathBuf {
        self.outbox().join(format!("{id}.json"))
    }

    fn read_metadata(&self, id: &str) -> Result<Metadata> {
        let path = self.meta_path(id);
        let m = std::fs::metadata(&path).map_err(AdapterError::io("stat", &path))?;
        if m.len() > MAX_METADATA {
            return Err(AdapterError::Record(format!("metadata larger than {MAX_METADATA} bytes")));
        }
        let bytes = std::fs::read(&path).map_err(AdapterError::io("read", &path))?;
        serde_json::from_slice(&bytes).map_err(|e| AdapterError::Record(format!("metadata {}: {e}", path.display())))
    }

    fn finish(&self, id: &RecordId, dir: &str, marker: String, body: &[u8]) -> Result<()> {
        let target = self.root.join(dir);
        write_atomic(&target.join(marker), body)?;
        let meta_path = self.meta_path(id);
        let document = self.read_metadata(id).ok().map(|m| self.outbox().join(m.document));
        if meta_path.exists() {
            self.complete_moves(id, &meta_path, document.as_deref())?;
        }
        if let Some(d) = &document {
            self.forget(&[d, &meta_path]);
        }
        Ok(())
    }
}

impl Outbox for Folder {
    async fn pending(&self, max: usize) -> Result<Vec<Pending>> {
        let dir = self.outbox();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map_err(AdapterError::io("list", &dir))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !ignored(n) && n.ends_with(".json"))
            .collect();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            if out.len() >= max {
                break;
            }
            let id = name.trim_end_matches(".json").to_string();
            let meta_path = dir.join(&name);
            let Some(_) = self.settled(&meta_path) else { continue };
            let meta = match self.read_metadata(&id) {
                Ok(m) => m,
                Err(e) => {
                    if !self.complete_moves(&id, &meta_path, None)? {
                        out.push(Pending { id, record: Err(e.to_string()), prepared: None });
                    }
                    continue;
                }
            };
            let doc_name = meta.document.clone();
            if doc_name.is_empty() || doc_name.contains('/') || doc_name.starts_with('.') {
                out.push(Pending {
                    id,
                    record: Err(format!("document {doc_name:?} must be a plain file name in the outbox folder")),
                    prepared: None,
                });
                continue;
            }
            let doc_path = dir.join(&doc_name);
            if self.complete_moves(&id, &meta_path, Some(&doc_path))? {
                continue;
            }
            if doc_path.exists() {
                // Not yet complete: wait (the settle time, and the announced size).
                let Some(size) = self.settled(&doc_path) else { continue };
                if meta.size.is_some_and(|s| s != size) {
                    continue;
                }
            }
            // A document that does not exist once the metadata has settled fails in check().
            let prepared = self.job_state(&id).prepared();
            out.push(Pending { id, record: Ok(meta.into_record(&dir)), prepared });
        }
        Ok(out)
    }

    async fn prepared(&self, id: &RecordId, doc_hash: &DocHash, salt: &Salt) -> Result<()> {
        let s = JobState { doc_hash: Some(doc_hash.to_string()), salt: Some(hex::encode(salt.0)) };
        let body = serde_json::to_vec_pretty(&s).map_err(|e| AdapterError::Database(e.to_string()))?;
        write_atomic(&self.job_state_path(id), &body)
    }

    async fn done(&self, id: &RecordId, a: &Anchored) -> Result<()> {
        let result = serde_json::json!({
            "status": "done",
            "doc_hash": a.doc_hash.to_string(),
            "salt": hex::encode(a.salt.0),
            "tx_id": a.tx_id.to_string(),
            "height": a.height,
            "time_ms": a.time_ms,
        });
        let body = serde_json::to_vec_pretty(&result).map_err(|e| AdapterError::Database(e.to_string()))?;
        self.finish(id, "done", format!("{id}.result.json"), &body)
    }

    async fn failed(&self, id: &RecordId, reason: &str) -> Result<()> {
        self.finish(id, "failed", format!("{id}.reason.txt"), format!("{reason}\n").as_bytes())
    }
}

impl Folder {
    /// The jobs whose metadata was written on or after `since` (China Standard Time), in the
    /// outbox, `done/` and `failed/`, for reconciliation.
    pub fn entries(&self, since: custos_contracts::call::Date) -> Result<Vec<SourceEntry>> {
        let from = SystemTime::UNIX_EPOCH + Duration::from_millis(crate::reconcile::start_of_day_ms(since));
        let mut out = Vec::new();
        for dir in ["outbox", "done", "failed"] {
            let d = self.root.join(dir);
            let mut names: Vec<String> = std::fs::read_dir(&d)
                .map_err(AdapterError::io("list", &d))?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !ignored(n) && n.ends_with(".json") && !n.ends_with(".result.json"))
                .collect();
            names.sort();
            for name in names {
                let path = d.join(&name);
                if std::fs::metadata(&path).and_then(|m| m.modified()).map(|t| t < from).unwrap_or(true) {
                    continue;
                }
                let id = name.trim_end_matches(".json").to_string();
                let Ok(meta) = serde_json::from_slice::<Metadata>(&std::fs::read(&path).unwrap_or_default()) else {
                    // Unreadable metadata never reached the ledger: report it under its file name.
                    let error = std::fs::read_to_string(d.join(format!("{id}.reason.txt")))
                        .map(|e| e.trim().to_string())
                        .unwrap_or_else(|_| "the metadata is not valid JSON".into());
                    out.push(SourceEntry {
                        key: RecordKey { source_id: id.clone(), version: 0 },
                        id,
                        status: if dir == "failed" { "failed" } else { "pending" }.to_string(),
                        doc_hash: None,
                        tx_id: None,
                        error: Some(error),
                        record: None,
                    });
                    continue;
                };
                let result: Option<serde_json::Value> = (dir == "done")
                    .then(|| std::fs::read(d.join(format!("{id}.result.json"))).ok())
                    .flatten()
                    .and_then(|b| serde_json::from_slice(&b).ok());
                let hex32 = |v: Option<&serde_json::Value>| {
                    v.and_then(|v| v.as_str())
                        .and_then(|h| hex::decode(h).ok())
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                        .map(custos_primitives::crypto::Hash)
                };
                let (status, doc_hash, tx_id, error) = match dir {
                    "done" => (
                        "done",
                        hex32(result.as_ref().and_then(|r| r.get("doc_hash"))).map(DocHash),
                        hex32(result.as_ref().and_then(|r| r.get("tx_id"))).map(custos_primitives::types::TxId),
                        None,
                    ),
                    "failed" => {
                        ("failed", None, None, std::fs::read_to_string(d.join(format!("{id}.reason.txt"))).ok())
                    }
                    _ => {
                        let h = self.job_state(&id).prepared();
                        (if h.is_some() { "prepared" } else { "pending" }, h, None, None)
                    }
                };
                let record = meta.into_record(&d);
                out.push(SourceEntry {
                    id,
                    key: record.key.clone(),
                    status: status.to_string(),
                    doc_hash,
                    tx_id,
                    error: error.map(|e| e.trim().to_string()),
                    record: Some(record),
                });
            }
        }
        Ok(out)
    }
}

fn event_file_name(ev: &InboxEvent) -> String {
    let safe: String =
        ev.event_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    format!("{:012}-{safe}.json", ev.height.unwrap_or(0))
}

impl Folder {
    fn checkpoint_path(&self) -> PathBuf {
        self.state.join("inbox.height")
    }

    /// Writes one event (and its document) into the inbox folder; false if it was there.
    fn write_event(&self, ev: &InboxEvent) -> Result<bool> {
        let path = self.inbox().join(event_file_name(ev));
        if path.exists() {
            return Ok(false);
        }
        let mut ev = ev.clone();
        if let Some(src) = &ev.document {
            let name = src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let target = self.inbox().join("documents").join(&name);
            if !target.exists() {
                let tmp = self.inbox().join("documents").join(format!(".{name}.tmp"));
                std::fs::copy(src, &tmp).map_err(AdapterError::io("copy", src))?;
                std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(AdapterError::io("sync", &tmp))?;
                std::fs::rename(&tmp, &target).map_err(AdapterError::io("rename", &target))?;
            }
            ev.document = Some(target);
        }
        let body = serde_json::to_vec_pretty(&ev).map_err(|e| AdapterError::Database(e.to_string()))?;
        write_atomic(&path, &body)?;
        Ok(true)
    }
}

impl Inbox for Folder {
    async fn checkpoint(&self) -> Result<Option<u64>> {
        match std::fs::read_to_string(self.checkpoint_path()) {
            Ok(t) => {
                t.trim().parse().map(Some).map_err(|_| {
                    AdapterError::Database(format!("{} is not a height", self.checkpoint_path().display()))
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AdapterError::Io { op: "read", path: self.checkpoint_path(), source: e }),
        }
    }

    async fn deliver(&self, height: u64, events: &[InboxEvent]) -> Result<()> {
        for ev in events {
            self.write_event(ev)?;
        }
        write_atomic(&self.checkpoint_path(), height.to_string().as_bytes())
    }

    async fn deliver_findings(&self, events: &[InboxEvent]) -> Result<usize> {
        let mut new = 0;
        for ev in events {
            let mut ev = ev.clone();
            // Findings carry the query height; the file name must not change with it.
            ev.height = None;
            match self.write_event(&ev) {
                Ok(true) => new += 1,
                Ok(false) => {}
                Err(e) => warn!(error = %e, "cannot write a finding"),
            }
        }
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn meta(doc: &str) -> String {
        format!(
            r#"{{"source_id":"s-1","doc_type":"LETTER","case_number":"c-1","recipients":["justice"],"document":"{doc}","size":5}}"#
        )
    }

    #[tokio::test]
    async fn a_job_is_picked_up_only_once_settled_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let f = Folder::open(&dir.path().join("x"), &dir.path().join("state"), Duration::from_millis(150)).unwrap();
        let out = dir.path().join("x/outbox");
        std::fs::write(out.join("a.pdf"), b"abc").unwrap();
        std::fs::write(out.join("a.json"), meta("a.pdf")).unwrap();
        std::fs::write(out.join(".b.json.tmp"), "{").unwrap();
        assert!(f.pending(10).await.unwrap().is_empty(), "first sight is not settled");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(f.pending(10).await.unwrap().is_empty(), "3 of the announced 5 bytes");
        std::fs::write(out.join("a.pdf"), b"abcde").unwrap();
        assert!(f.pending(10).await.unwrap().is_empty(), "just changed");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let p = f.pending(10).await.unwrap();
        assert_eq!(p.len(), 1);
        let r = p[0].record.as_ref().unwrap();
        assert_eq!(r.key.source_id, "s-1");
        assert_eq!(r.key.version, 1);
        assert!(r.check().is_ok());
    }

    #[tokio::test]
    async fn done_and_failed_jobs_move_with_their_result() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("x");
        let f = Folder::open(&root, &dir.path().join("state"), Duration::ZERO).unwrap();
        std::fs::write(root.join("outbox/a.pdf"), b"abcde").unwrap();
        std::fs::write(root.join("outbox/a.json"), meta("a.pdf")).unwrap();
        std::fs::write(root.join("outbox/b.json"), "not json").unwrap();
        f.pending(10).await.unwrap();
        let p = f.pending(10).await.unwrap();
        assert_eq!(p.len(), 2);
        assert!(p[1].record.as_ref().unwrap_err().contains("metadata"));
        let h = DocHash(custos_primitives::crypto::Hash([7; 32]));
        f.prepared(&"a".to_string(), &h, &Salt([1; 32])).await.unwrap();
        assert_eq!(f.pending(10).await.unwrap()[0].prepared, Some(h));
        let a = Anchored {
            doc_hash: h,
            salt: Salt([1; 32]),
            tx_id: custos_primitives::types::TxId(custos_primitives::crypto::Hash([2; 32])),
            height: 9,
            time_ms: 1,
            case_ref: custos_primitives::types::CaseRef(custos_primitives::crypto::Hash([3; 32])),
        };
        f.done(&"a".to_string(), &a).await.unwrap();
        f.failed(&"b".to_string(), "metadata broken").await.unwrap();
        assert!(f.pending(10).await.unwrap().is_empty());
        assert!(root.join("done/a.pdf").exists() && root.join("done/a.json").exists());
        let result: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join("done/a.result.json")).unwrap()).unwrap();
        assert_eq!(result["height"], 9);
        assert!(std::fs::read_to_string(root.join("failed/b.reason.txt")).unwrap().contains("metadata broken"));
        assert!(root.join("failed/b.json").exists());
    }

    #[tokio::test]
    async fn a_crash_between_result_and_move_is_completed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("x");
        let f = Folder::open(&root, &dir.path().join("state"), Duration::ZERO).unwrap();
        std::fs::write(root.join("outbox/a.pdf"), b"abcde").unwrap();
        std::fs::write(root.join("outbox/a.json"), meta("a.pdf")).unwrap();
        std::fs::write(root.join("done/a.result.json"), "{}").unwrap();
        f.pending(10).await.unwrap();
        assert!(f.pending(10).await.unwrap().is_empty());
        assert!(root.join("done/a.pdf").exists() && root.join("done/a.json").exists());
    }

    #[tokio::test]
    async fn inbox_events_are_written_once_and_the_checkpoint_follows() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("x");
        let f = Folder::open(&root, &dir.path().join("state"), Duration::ZERO).unwrap();
        assert_eq!(f.checkpoint().await.unwrap(), None);
        let doc = dir.path().join("d");
        std::fs::write(&doc, b"hello").unwrap();
        let ev = InboxEvent {
            event_id: "document/ab".into(),
            kind: crate::inbound::EventKind::Document,
            height: Some(4),
            tx_id: None,
            time_ms: None,
            doc_hash: None,
            doc_type: Some("LETTER".into()),
            from: None,
            case_ref: None,
            document: Some(doc),
            size: Some(5),
            detail: serde_json::Value::Null,
        };
        f.deliver(4, std::slice::from_ref(&ev)).await.unwrap();
        f.deliver(4, std::slice::from_ref(&ev)).await.unwrap();
        assert_eq!(f.checkpoint().await.unwrap(), Some(4));
        let files: Vec<_> = std::fs::read_dir(root.join("inbox")).unwrap().filter_map(|e| e.ok()).collect();
        assert_eq!(files.len(), 2, "one event file and the documents folder");
        assert_eq!(std::fs::read(root.join("inbox/documents/d")).unwrap(), b"hello");
    }
}

//! The outbound stage: records of the agency system become e-dossiers anchored on the ledger,
//! each exactly once.
//!
//! A source ([`Outbox`]) lists pending records; for each, the engine
//!
//! 1. checks it (type, case, agencies, dates, document) — a malformed record is marked failed
//!    with its reason and the others go on;
//! 2. hashes the document with the salt derived from the record's key, and writes the hash
//!    ahead into the source (`prepared`) before anything reaches the ledger;
//! 3. asks the ledger whether that hash is anchored: if so (an earlier attempt committed before
//!    a crash), the record is done with that anchor's transaction;
//! 4. encrypts the document for its readers and uploads it (a manifest an earlier attempt left
//!    on the node is kept);
//! 5. submits the `Anchor` call and waits for its commit, then marks the record done with the
//!    transaction id and height.
//!
//! A crash anywhere leaves the record pending or prepared, and the next run repeats the steps:
//! the same key gives the same hash, which the ledger anchors at most once. Transient errors
//! (node down or busy) put the record off with a growing delay; records of one case go one at a
//! time, in the source's order, because the case workflow depends on their order.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use custos_contracts::call::{AnchorCall, Call};
use custos_dossier::{ChunkStore, DocTypeCode, EncryptParams, MediaType, encrypt};
use custos_primitives::crypto::EncryptionPublicKey;
use custos_primitives::types::{AgencyId, DocHash, DocHasher, Salt, TxId};

use crate::client::NodeClient;
use crate::error::{AdapterError, Result};
use crate::metrics::Metrics;
use crate::record::{CheckedRecord, DocumentSource, OutboundRecord, derive_salt};
use crate::submit::Submitter;

/// A record's id in its source (row id, file name): opaque to the engine.
pub type RecordId = String;

/// A record the source has not finished.
#[derive(Clone, Debug)]
pub struct Pending {
    /// Its id in the source.
    pub id: RecordId,
    /// The record, or why the source could not even read it (marked failed as is).
    pub record: std::result::Result<OutboundRecord, String>,
    /// The document hash written ahead by an earlier attempt.
    pub prepared: Option<DocHash>,
}

/// How a record ended on the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchored {
    /// The anchored document id.
    pub doc_hash: DocHash,
    /// Its salt.
    pub salt: Salt,
    /// The anchoring transaction.
    pub tx_id: TxId,
    /// Its height.
    pub height: u64,
    /// Its block time (ms since the epoch).
    pub time_ms: u64,
    /// The keyed reference of the record's case.
    pub case_ref: custos_primitives::types::CaseRef,
}

/// The agency system's side of the outbound stage. Every method is idempotent: the engine
/// may call `prepared` or `done` again for a record after a crash.
pub trait Outbox: Clone + Send + Sync + 'static {
    /// Up to `max` records neither done nor failed, oldest first.
    fn pending(&self, max: usize) -> impl Future<Output = Result<Vec<Pending>>> + Send;
    /// Writes the record's document hash and salt ahead, before its transaction is submitted.
    fn prepared(&self, id: &RecordId, doc_hash: &DocHash, salt: &Salt) -> impl Future<Output = Result<()>> + Send;
    /// The record is anchored.
    fn done(&self, id: &RecordId, anchored: &Anchored) -> impl Future<Output = Result<()>> + Send;
    /// The record can never be sent, for `reason`.
    fn failed(&self, id: &RecordId, reason: &str) -> impl Future<Output = Result<()>> + Send;
}

/// Settings of the outbound stage.
#[derive(Clone, Debug)]
pub struct OutboundSettings {
    /// Records worked on at once (and transactions in flight).
    pub window: usize,
    /// Pause between polls of an idle source.
    pub poll: Duration,
    /// Longest delay before a record is retried after a transient error.
    pub retry_max: Duration,
    /// Where documents are encrypted before upload (removed after each record).
    pub scratch: PathBuf,
}

/// What the stages share.
#[derive(Clone)]
pub struct Context {
    /// The node.
    pub node: NodeClient,
    /// The transaction submitter.
    pub submitter: Submitter,
    /// The adapter's salt secret.
    pub secret: Arc<Vec<u8>>,
    /// Metrics.
    pub metrics: Metrics,
    keys: Arc<Mutex<BTreeMap<AgencyId, EncryptionPublicKey>>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("node", &self.node).finish()
    }
}

impl Context {
    /// Bundles what the stages need.
    pub fn new(node: NodeClient, submitter: Submitter, secret: Vec<u8>, metrics: Metrics) -> Self {
        Context { node, submitter, secret: Arc::new(secret), metrics, keys: Arc::default() }
    }

    async fn key_of(&self, agency: &AgencyId) -> Result<EncryptionPublicKey> {
        if let Some(k) = self.keys.lock().ok().and_then(|m| m.get(agency).cloned()) {
            return Ok(k);
        }
        let k = self.node.encryption_key(agency).await?;
        if let Ok(mut m) = self.keys.lock() {
            m.insert(agency.clone(), k);
        }
        Ok(k)
    }

    /// The salt and document hash of a record.
    pub async fn hash_record(&self, record: &OutboundRecord) -> Result<(Salt, DocHash)> {
        let salt = derive_salt(self.node.suite(), &self.secret, self.node.agency(), &record.key);
        let suite = self.node.suite().clone();
        let doc = record.document.clone();
        let hash = tokio::task::spawn_blocking(move || -> Result<DocHash> {
            let mut h = DocHasher::new(&suite, &salt);
            match &doc {
                DocumentSource::Bytes(b) => h.update(b),
                DocumentSource::Path(p) => {
                    let mut f = std::fs::File::open(p)
                        .map_err(|e| AdapterError::Record(format!("cannot open the document {}: {e}", p.display())))?;
                    let mut buf = vec![0u8; 1 << 20];
                    loop {
                        let n = f.read(&mut buf).map_err(|e| {
                            AdapterError::Record(format!("cannot read the document {}: {e}", p.display()))
                        })?;
                        if n == 0 {
                            break;
                        }
                        h.update(&buf[..n]);
                    }
                }
            }
            Ok(h.finalize())
        })
        .await
        .map_err(|e| AdapterError::Database(format!("hashing task failed: {e}")))??;
        Ok((salt, hash))
    }
}

/// What became of one attempt.
enum Outcome {
    Done,
    Failed,
    Retry(AdapterError),
}

/// Runs the outbound stage until `stop` resolves.
pub async fn run<O: Outbox>(
    ctx: Context,
    outbox: O,
    settings: OutboundSettings,
    stop: impl Future<Output = ()> + Send,
) -> Result<()> {
    std::fs::create_dir_all(&settings.scratch).map_err(AdapterError::io("create", &settings.scratch))?;
    let window = settings.window.max(1);
    let mut tasks: JoinSet<(RecordId, Option<String>, Outcome)> = JoinSet::new();
    let mut busy_ids: BTreeSet<RecordId> = BTreeSet::new();
    // The case of each running record: one record per case at a time.
    let mut running_cases: BTreeSet<String> = BTreeSet::new();
    let mut retry: BTreeMap<RecordId, (Instant, u32)> = BTreeMap::new();
    let mut source_backoff = Duration::ZERO;
    tokio::pin!(stop);
    loop {
        if tasks.len() < window && source_backoff.is_zero() {
            let now = Instant::now();
            match outbox.pending(window * 2 + busy_ids.len() + retry.len()).await {
                Ok(rows) => {
                    ctx.metrics.set_pending(rows.len());
                    // Cases that wait, this poll: running, or an earlier record waits for a retry.
                    let mut busy_cases = running_cases.clone();
                    for row in rows {
                        if tasks.len() >= window {
                            break;
                        }
                        let case = row.record.as_ref().ok().map(|r| r.case_number.trim().to_string());
                        if busy_ids.contains(&row.id) {
                            continue;
                        }
                        if let Some(c) = &case
                            && busy_cases.contains(c)
                        {
                            continue;
                        }
                        if retry.get(&row.id).is_some_and(|(at, _)| *at > now) {
                            // Later records of its case wait for it.
                            if let Some(c) = case {
                                busy_cases.insert(c);
                            }
                            continue;
                        }
                        busy_ids.insert(row.id.clone());
                        if let Some(c) = &case {
                            busy_cases.insert(c.clone());
                            running_cases.insert(c.clone());
                        }
                        let (ctx, outbox, scratch) = (ctx.clone(), outbox.clone(), settings.scratch.clone());
                        tasks.spawn(async move {
                            let id = row.id.clone();
                            let outcome = attempt(&ctx, &outbox, row, &scratch).await;
                            (id, case, outcome)
                        });
                    }
                }
                Err(e) => {
                    warn!(error = %e, "cannot read the source; retrying");
                    source_backoff = Duration::from_secs(1);
                }
            }
        }
        let idle = tokio::time::sleep(if source_backoff.is_zero() { settings.poll } else { source_backoff });
        tokio::select! {
            _ = &mut stop => {
                info!(in_progress = tasks.len(), "stopping the outbound stage");
                tasks.shutdown().await;
                return Ok(());
            }
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                let Ok((id, case, outcome)) = joined else { continue };
                busy_ids.remove(&id);
                if let Some(c) = &case {
                    running_cases.remove(c);
                }
                match outcome {
                    Outcome::Done | Outcome::Failed => {
                        retry.remove(&id);
                    }
                    Outcome::Retry(e) => {
                        ctx.metrics.retry();
                        let n = retry.get(&id).map_or(0, |r| r.1) + 1;
                        let delay = (Duration::from_millis(250) * 2u32.saturating_pow(n.min(10))).min(settings.retry_max);
                        info!(record = %id, attempt = n, retry_in_ms = delay.as_millis() as u64, error = %e, "put off");
                        retry.insert(id, (Instant::now() + delay, n));
                    }
                }
            }
            _ = idle => {
                source_backoff = Duration::ZERO;
            }
        }
    }
}

async fn attempt<O: Outbox>(ctx: &Context, outbox: &O, row: Pending, scratch: &std::path::Path) -> Outcome {
    let id = row.id.clone();
    match send(ctx, outbox, row, scratch).await {
        Ok(()) => Outcome::Done,
        Err(e) if e.is_permanent() => {
            warn!(record = %id, reason = %e, "record failed");
            match outbox.failed(&id, &e.to_string()).await {
                Ok(()) => {
                    ctx.metrics.failed();
                    Outcome::Failed
                }
                Err(db) => Outcome::Retry(db),
            }
        }
        Err(e) => Outcome::Retry(e),
    }
}

async fn send<O: Outbox>(ctx: &Context, outbox: &O, row: Pending, scratch: &std::path::Path) -> Result<()> {
    let record = row.record.map_err(AdapterError::Record)?;
    let checked = record.check()?;
    let (salt, doc_hash) = ctx.hash_record(&record).await?;
    match row.prepared {
        Some(p) if p != doc_hash => {
            return Err(AdapterError::Record(format!(
                "the document changed after it was first prepared (hash {p}, now {doc_hash}): send the new \
                 content as a new version"
            )));
        }
        Some(_) => {}
        None => outbox.prepared(&row.id, &doc_hash, &salt).await?,
    }
    let case_ref = ctx.node.case_ref(&record.case_number);
    // An earlier attempt may have committed before a crash.
    if let Some(a) = ctx.node.anchor(&doc_hash).await? {
        return finish_existing(ctx, outbox, &row.id, a, salt).await;
    }
    let me = ctx.node.agency().clone();
    let mut readers: Vec<AgencyId> = checked.recipients.iter().chain(checked.copies.iter()).cloned().collect();
    readers.push(me.clone());
    readers.sort();
    readers.dedup();
    let mut keys = Vec::with_capacity(readers.len());
    for a in &readers {
        keys.push((a.clone(), ctx.key_of(a).await?));
    }
    upload(ctx, &record, &checked, salt, case_ref, keys, scratch, &doc_hash).await?;
    let call = Call::Anchor(AnchorCall {
        doc_hash,
        doc_type: checked.doc_type.clone(),
        case_ref,
        recipients: checked
            .recipients
            .clone()
            .try_into()
            .map_err(|_| AdapterError::Record("too many recipients".into()))?,
        copies: checked.copies.clone().try_into().map_err(|_| AdapterError::Record("too many copies".into()))?,
        dates: checked.dates,
        subject_kind: checked.subject_kind,
        eseal_ref: checked.eseal,
    });
    match ctx.submitter.submit(call).await {
        Ok(c) => {
            let a = Anchored { doc_hash, salt, tx_id: c.tx_id, height: c.height, time_ms: c.time_ms, case_ref };
            outbox.done(&row.id, &a).await?;
            ctx.metrics.anchored();
            info!(record = %row.id, key = %record.key, doc = %doc_hash, height = c.height, "anchored");
            Ok(())
        }
        Err(e) => {
            // Another attempt (a transaction left in the pool by a crashed run) may have won.
            if let Some(a) = ctx.node.anchor(&doc_hash).await? {
                return finish_existing(ctx, outbox, &row.id, a, salt).await;
            }
            Err(e)
        }
    }
}

async fn finish_existing<O: Outbox>(
    ctx: &Context,
    outbox: &O,
    id: &RecordId,
    a: custos_contracts::documents::AnchorRecord,
    salt: Salt,
) -> Result<()> {
    if &a.issuer != ctx.node.agency() {
        return Err(AdapterError::Record(format!(
            "document {} is anchored by {}, not by this agency",
            a.doc_hash, a.issuer
        )));
    }
    let anchored = Anchored {
        doc_hash: a.doc_hash,
        salt,
        tx_id: a.tx_id,
        height: a.height,
        time_ms: a.time_ms,
        case_ref: a.case_ref,
    };
    outbox.done(id, &anchored).await?;
    ctx.metrics.already_anchored();
    debug!(record = %id, doc = %a.doc_hash, height = a.height, "already anchored");
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn upload(
    ctx: &Context,
    record: &OutboundRecord,
    checked: &CheckedRecord,
    salt: Salt,
    case_ref: custos_primitives::types::CaseRef,
    keys: Vec<(AgencyId, EncryptionPublicKey)>,
    scratch: &std::path::Path,
    doc_hash: &DocHash,
) -> Result<()> {
    let bad = |e: custos_dossier::DossierError| AdapterError::Record(e.to_string());
    let mut params = EncryptParams::new(
        MediaType::new(record.media_type()).map_err(bad)?,
        DocTypeCode::new(checked.doc_type.as_str()).map_err(bad)?,
        case_ref,
        ctx.node.agency().clone(),
        ctx.node.signer.fingerprint,
        keys,
    )
    .map_err(bad)?;
    params.salt = salt;
    let dir = scratch.join(doc_hash.to_string());
    let suite = ctx.node.suite().clone();
    let doc = record.document.clone();
    let dir2 = dir.clone();
    let enc = tokio::task::spawn_blocking(move || -> Result<(ChunkStore, custos_dossier::Encrypted)> {
        let store =
            ChunkStore::open(&dir2, suite).map_err(|e| AdapterError::Database(format!("scratch store: {e}")))?;
        let enc = match &doc {
            DocumentSource::Bytes(b) => encrypt(&store, &params, b.as_slice(), b.len() as u64, &mut |_, _| {}),
            DocumentSource::Path(p) => custos_dossier::encrypt_file(&store, &params, p, &mut |_, _| {}),
        }
        .map_err(|e| AdapterError::Record(format!("cannot encrypt the document: {e}")))?;
        Ok((store, enc))
    })
    .await
    .map_err(|e| AdapterError::Database(format!("encryption task failed: {e}")))?;
    let result = match enc {
        Ok((store, enc)) => {
            if enc.manifest.doc_id != *doc_hash {
                Err(AdapterError::Record("the document changed while it was being sent".into()))
            } else {
                ctx.node.upload(&store, enc).await.map(|_| ())
            }
        }
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

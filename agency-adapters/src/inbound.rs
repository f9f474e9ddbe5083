//! The inbound stage: what the ledger addresses to the agency reaches its system, each event
//! once.
//!
//! The stage reads committed blocks from its checkpoint on. An event is: a document anchored
//! with the agency as recipient or copy (fetched, decrypted and written to the documents folder,
//! then acknowledged on the ledger with a receipt), a receipt another agency posted for a
//! document of this agency, an access grant to the agency (fetched too) or its revocation. The
//! events of one height and the checkpoint move to the sink together ([`Inbox::deliver`]), so
//! a crash repeats at most the work of one height and never delivers an event twice. The
//! receipt is posted before the delivery: after a crash the receipt exists, the delivery is
//! repeated, and the receipt is not posted again. Supervision findings against the agency are
//! polled and delivered by their identity, once each.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use tracing::{debug, info, warn};

use custos_contracts::call::{Call, ReceiptCall, SignedTx};
use custos_contracts::documents::{ReceiptRecord, receipt_key};
use custos_primitives::types::{AgencyId, CaseRef, DocHash, TxId};

use crate::error::{AdapterError, Result};
use crate::outbound::Context;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A document addressed to the agency (recipient or copy).
    Document,
    /// Another agency acknowledged a document of this agency.
    Receipt,
    /// The agency was given access to a document.
    Grant,
    /// A grant to the agency was revoked.
    GrantRevoked,
    /// A supervision finding against the agency.
    Finding,
}

impl EventKind {
    /// The name stored in sinks.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Document => "document",
            EventKind::Receipt => "receipt",
            EventKind::Grant => "grant",
            EventKind::GrantRevoked => "grant_revoked",
            EventKind::Finding => "finding",
        }
    }
}

/// One event for the agency system.
#[derive(Clone, Debug, Serialize)]
pub struct InboxEvent {
    /// Unique id (sinks refuse a second event with the same id).
    pub event_id: String,
    /// Kind.
    pub kind: EventKind,
    /// Height of the transaction.
    pub height: Option<u64>,
    /// The transaction.
    pub tx_id: Option<TxId>,
    /// Block time, ms since the epoch.
    pub time_ms: Option<u64>,
    /// The document concerned.
    pub doc_hash: Option<DocHash>,
    /// Its type.
    pub doc_type: Option<String>,
    /// The agency it came from (issuer, acknowledging agency, granting agency).
    pub from: Option<AgencyId>,
    /// The case (keyed reference).
    pub case_ref: Option<CaseRef>,
    /// The fetched document, in the documents folder.
    pub document: Option<PathBuf>,
    /// Its size.
    pub size: Option<u64>,
    /// Anything else (finding details, a fetch error).
    pub detail: serde_json::Value,
}

/// The agency system's side of the inbound stage.
pub trait Inbox: Clone + Send + Sync + 'static {
    /// The last height fully delivered (`None`: nothing yet).
    fn checkpoint(&self) -> impl Future<Output = Result<Option<u64>>> + Send;
    /// Delivers the events of `height` and moves the checkpoint to it, both or neither.
    fn deliver(&self, height: u64, events: &[InboxEvent]) -> impl Future<Output = Result<()>> + Send;
    /// Delivers findings not delivered before (by `event_id`); returns how many were new.
    fn deliver_findings(&self, events: &[InboxEvent]) -> impl Future<Output = Result<usize>> + Send;
}

/// Settings of the inbound stage.
#[derive(Clone, Debug)]
pub struct InboundSettings {
    /// Where fetched documents are written (`<doc hash>` file names).
    pub documents: PathBuf,
    /// Fetch documents addressed to the agency.
    pub fetch_documents: bool,
    /// Post the agency's receipt once a document is fetched.
    pub acknowledge: bool,
    /// The first height to read when there is no checkpoint.
    pub start_height: u64,
    /// Pause when caught up.
    pub poll: Duration,
    /// How often supervision findings are polled (zero: never).
    pub findings_every: Duration,
}

/// Runs the inbound stage until `stop` resolves.
pub async fn run<I: Inbox>(
    ctx: Context,
    inbox: I,
    settings: InboundSettings,
    stop: impl Future<Output = ()> + Send,
) -> Result<()> {
    std::fs::create_dir_all(&settings.documents).map_err(AdapterError::io("create", &settings.documents))?;
    tokio::pin!(stop);
    let mut backoff = Duration::from_millis(500);
    let mut next_findings = tokio::time::Instant::now();
    loop {
        let step = async {
            if !settings.findings_every.is_zero() && tokio::time::Instant::now() >= next_findings {
                next_findings = tokio::time::Instant::now() + settings.findings_every;
                poll_findings(&ctx, &inbox).await?;
            }
            catch_up(&ctx, &inbox, &settings).await
        };
        let pause = tokio::select! {
            _ = &mut stop => return Ok(()),
            r = step => match r {
                Ok(()) => {
                    backoff = Duration::from_millis(500);
                    settings.poll
                }
                Err(e) => {
                    warn!(error = %e, "inbound stage: retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    backoff
                }
            },
        };
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

async fn catch_up<I: Inbox>(ctx: &Context, inbox: &I, settings: &InboundSettings) -> Result<()> {
    let tip = ctx.node.height().await?;
    let mut next = match inbox.checkpoint().await? {
        Some(h) => h + 1,
        None => settings.start_height.max(1),
    };
    while next <= tip {
        let events = events_of(ctx, next, settings).await?;
        inbox.deliver(next, &events).await?;
        ctx.metrics.set_inbox_height(next);
        if !events.is_empty() {
            ctx.metrics.inbox_events(events.len());
            info!(height = next, events = events.len(), "delivered to the inbox");
        }
        next += 1;
    }
    Ok(())
}

/// The events of one height for the agency, documents fetched and acknowledged.
async fn events_of(ctx: &Context, height: u64, settings: &InboundSettings) -> Result<Vec<InboxEvent>> {
    let Some(block) = ctx.node.block(height).await? else {
        return Err(AdapterError::Node { addr: ctx.node.addr.clone(), reason: format!("block {height} is missing") });
    };
    let me = ctx.node.agency().clone();
    let suite = ctx.node.suite();
    let mut out = Vec::new();
    // Documents to fetch: (index of their event in `out`, document).
    let mut wanted: Vec<(usize, DocHash)> = Vec::new();
    for (bytes, id) in block.txs.iter().zip(block.tx_ids(suite)) {
        let Ok(tx) = SignedTx::decode_untrusted(bytes) else { continue };
        let relevant = match &tx.call {
            Call::Anchor(a) => a.recipients.contains(&me) || a.copies.contains(&me),
            Call::Receipt(_) => true,
            Call::GrantAccess(g) => g.agency == me,
            Call::RevokeAccess(g) => g.agency == me,
            _ => false,
        };
        if !relevant {
            continue;
        }
        let Some(outcome) = ctx.node.tx(&id).await? else { continue };
        if !outcome.ok {
            continue;
        }
        let base = |kind: EventKind, doc: DocHash| InboxEvent {
            event_id: format!("{}/{}", kind.as_str(), id),
            kind,
            height: Some(height),
            tx_id: Some(id),
            time_ms: Some(outcome.time_ms),
            doc_hash: Some(doc),
            doc_type: None,
            from: None,
            case_ref: None,
            document: None,
            size: None,
            detail: serde_json::Value::Null,
        };
        match &tx.call {
            Call::Anchor(a) => {
                let mut ev = base(EventKind::Document, a.doc_hash);
                ev.doc_type = Some(a.doc_type.to_string());
                ev.case_ref = Some(a.case_ref);
                ev.from = ctx.node.anchor_issuer(&a.doc_hash).await?;
                ev.detail = serde_json::json!({
                    "recipients": a.recipients.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
                    "copies": a.copies.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
                    "as": if a.recipients.contains(&me) { "recipient" } else { "copy" },
                });
                wanted.push((out.len(), a.doc_hash));
                out.push(ev);
            }
            Call::Receipt(r) => {
                if ctx.node.anchor_issuer(&r.doc_hash).await?.as_ref() != Some(&me) {
                    continue;
                }
                let mut ev = base(EventKind::Receipt, r.doc_hash);
                ev.from = ctx.node.member_agency(&tx.signer).await?;
                out.push(ev);
            }
            Call::GrantAccess(g) => {
                let mut ev = base(EventKind::Grant, g.doc_hash);
                ev.from = ctx.node.anchor_issuer(&g.doc_hash).await?;
                wanted.push((out.len(), g.doc_hash));
                out.push(ev);
            }
            Call::RevokeAccess(g) => {
                let mut ev = base(EventKind::GrantRevoked, g.doc_hash);
                ev.from = ctx.node.anchor_issuer(&g.doc_hash).await?;
                out.push(ev);
            }
            _ => {}
        }
    }
    let fetched = fetch_all(ctx, settings, &mut out, wanted).await?;
    if settings.acknowledge {
        acknowledge(ctx, fetched).await?;
    }
    Ok(out)
}

/// The path a fetched document is kept at.
pub fn document_path(dir: &Path, doc: &DocHash) -> PathBuf {
    dir.join(doc.to_string())
}

/// Fetches a document for an event; true when it is in the documents folder.
/// Documents fetched at once.
const FETCH_PARALLEL: usize = 4;

/// Fetches the documents of a height's events, a few at a time, into the documents folder, and
/// fills in their events. Returns the documents now in the folder. A document that can never
/// be fetched (e.g. its key is not wrapped for the agency) is delivered with `fetch_error`; a
/// transient failure fails the height, which is retried.
async fn fetch_all(
    ctx: &Context,
    settings: &InboundSettings,
    events: &mut [InboxEvent],
    wanted: Vec<(usize, DocHash)>,
) -> Result<Vec<DocHash>> {
    if !settings.fetch_documents {
        return Ok(Vec::new());
    }
    let mut tasks = tokio::task::JoinSet::new();
    let mut queue = wanted.into_iter();
    let mut fetched = Vec::new();
    let mut first_err = None;
    loop {
        while tasks.len() < FETCH_PARALLEL {
            let Some((i, doc)) = queue.next() else { break };
            let node = ctx.node.clone();
            let path = document_path(&settings.documents, &doc);
            tasks.spawn(async move {
                // A file at the path is complete: the fetch writes it by an atomic rename once it
                // hashes to the anchored id.
                let r = if path.exists() { Ok(0) } else { node.fetch(&doc, &path).await };
                (i, doc, path, r)
            });
        }
        let Some(joined) = tasks.join_next().await else { break };
        let (i, doc, path, r) = match joined {
            Ok(x) => x,
            Err(e) => {
                first_err.get_or_insert(AdapterError::Database(format!("fetch task failed: {e}")));
                continue;
            }
        };
        let Some(ev) = events.get_mut(i) else { continue };
        match r {
            Ok(_) => {
                ev.size = std::fs::metadata(&path).ok().map(|m| m.len());
                ev.document = Some(path);
                fetched.push(doc);
            }
            Err(e) if e.is_permanent() => {
                warn!(%doc, error = %e, "cannot fetch a document addressed to the agency");
                ev.detail["fetch_error"] = serde_json::Value::String(e.to_string());
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    first_err.map_or(Ok(fetched), Err)
}

/// Posts the agency's receipts for fetched documents it has not acknowledged yet, all at once
/// (the submitter pipelines them), and waits for their commits.
async fn acknowledge(ctx: &Context, docs: Vec<DocHash>) -> Result<()> {
    let me = ctx.node.agency();
    let mut tasks = tokio::task::JoinSet::new();
    for doc in docs {
        let existing: Option<ReceiptRecord> = ctx.node.read(receipt_key(&doc, me)).await?;
        if existing.is_some() {
            continue;
        }
        let submitter = ctx.submitter.clone();
        tasks.spawn(async move { (doc, submitter.submit(Call::Receipt(ReceiptCall { doc_hash: doc })).await) });
    }
    let mut first_err = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((doc, Ok(c))) => debug!(%doc, height = c.height, "receipt posted"),
            // Posted meanwhile (a crashed run's transaction committed).
            Ok((_, Err(AdapterError::Rejected(e)))) if e.contains("already") => {}
            Ok((_, Err(e))) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(AdapterError::Database(format!("receipt task failed: {e}")));
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

async fn poll_findings<I: Inbox>(ctx: &Context, inbox: &I) -> Result<()> {
    let r = ctx.node.findings().await?;
    if r.truncated {
        warn!(matched = r.matched, delivered = r.findings.len(), "more findings than one query returns");
    }
    let events: Vec<InboxEvent> = r
        .findings
        .iter()
        .map(|f| {
            let case = hex::encode(&f.case_ref);
            InboxEvent {
                event_id: format!("finding/{}/{case}/{}/{}", f.rule, f.start, f.deadline),
                kind: EventKind::Finding,
                height: Some(r.height),
                tx_id: None,
                time_ms: None,
                doc_hash: f
                    .proofs
                    .first()
                    .and_then(|p| <[u8; 32]>::try_from(p.doc.as_slice()).ok())
                    .map(|a| DocHash(custos_primitives::crypto::Hash(a))),
                doc_type: None,
                from: None,
                case_ref: <[u8; 32]>::try_from(f.case_ref.as_slice())
                    .ok()
                    .map(|a| CaseRef(custos_primitives::crypto::Hash(a))),
                document: None,
                size: None,
                detail: serde_json::json!({
                    "rule": f.rule, "title": f.title, "basis": f.basis, "duty": f.duty,
                    "start": f.start, "deadline": f.deadline, "done": f.done, "days_overdue": f.days_overdue,
                    "as_of": r.as_of,
                }),
            }
        })
        .collect();
    let new = inbox.deliver_findings(&events).await?;
    if new > 0 {
        ctx.metrics.inbox_events(new);
        info!(new, "supervision findings delivered");
    }
    Ok(())
}

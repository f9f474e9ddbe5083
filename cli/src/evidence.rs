//! `custos evidence export|absent`, `custos verify --bundle` (offline) and `custos history`.
//!
//! Export asks the node for a bundle and verifies it against the home's genesis before
//! writing it: a node that sends evidence that does not hold is reported, and nothing is
//! written. Verification needs no node and no network, only the genesis the auditor trusts.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use custos_api::pb::ExportEvidenceRequest;
use custos_contracts::evidence::{self, Bundle, Report, TimelineEntry, TrustAnchor, Verified};
use custos_contracts::runtime;
use custos_contracts::workflow::CaseRecord;
use custos_primitives::codec::decode_exact;
use custos_primitives::crypto::Hash;
use custos_primitives::genesis::Genesis;
use custos_primitives::types::{AgencyId, DocHash, MemberRole, Salt};
use custos_testnet::consortium;

use crate::cases::{doc_hash_arg, read_verified};
use crate::ledger::{Session, connect, hash_file, read_salt, status_err};

/// The genesis an offline verification trusts.
#[derive(Debug, Clone, Default)]
pub struct TrustArgs {
    /// A genesis file.
    pub genesis: Option<PathBuf>,
    /// A genesis hash (hex).
    pub genesis_hash: Option<String>,
    /// An agency home (its genesis.json).
    pub home: Option<PathBuf>,
}

impl TrustArgs {
    /// The trusted genesis hash and where it came from.
    pub fn anchor(&self) -> Result<(TrustAnchor, String)> {
        if let Some(h) = &self.genesis_hash {
            let bytes = hex::decode(h.trim()).map_err(|_| anyhow!("--genesis-hash: not hex"))?;
            let arr: [u8; 32] = bytes.try_into().map_err(|_| anyhow!("--genesis-hash: expected 64 hex digits"))?;
            return Ok((TrustAnchor(Hash(arr)), "--genesis-hash".into()));
        }
        if let Some(path) = &self.genesis {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let g = Genesis::from_json(&text)
                .and_then(|g| g.validate())
                .with_context(|| format!("{} is not a valid genesis", path.display()))?;
            return Ok((TrustAnchor(g.hash), path.display().to_string()));
        }
        if let Some(home) = &self.home {
            let g = consortium::load_genesis(home)?;
            return Ok((TrustAnchor(g.hash), format!("{}/genesis.json", home.display())));
        }
        bail!(
            "no trusted genesis: pass --genesis FILE (the consortium's genesis.json) or --genesis-hash HEX, \
             or --home DIR of an agency; a bundle is only as good as the genesis it is checked against"
        )
    }
}

pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    if path.exists() {
        bail!("{} exists; evidence export never overwrites a file", path.display());
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.partial",
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "bundle".into())
    ));
    let mut f = std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// The document named by a file (its salt from `FILE.anchor.json` or `--receipt`) or a hash.
fn target(s: &Session, arg: &str, receipt: Option<&Path>) -> Result<(DocHash, Option<Salt>)> {
    let path = Path::new(arg);
    if !path.is_file() {
        return Ok((doc_hash_arg(arg)?, None));
    }
    let salt = read_salt(path, receipt)?;
    Ok((hash_file(&s.suite, &salt, path)?, Some(salt)))
}

/// Asks the node for an evidence bundle.
pub async fn fetch_bundle(s: &mut Session, req: ExportEvidenceRequest) -> Result<Bundle> {
    let r = s.client.export_evidence(req).await.map_err(|e| status_err(&s.addr, e))?.into_inner();
    Bundle::from_bytes(&r.bundle).map_err(|e| anyhow!("the node's bundle: {e}"))
}

/// Verifies a freshly exported bundle against the home's genesis; a failure is the node's.
pub fn check_export(s: &Session, bundle: &Bundle) -> Result<Verified> {
    accept(s, export_report(s, bundle)?)
}

/// Verifies a bundle from the node against the home's genesis.
fn export_report(s: &Session, bundle: &Bundle) -> Result<Report> {
    let trust = TrustArgs { home: Some(s.home.clone()), ..TrustArgs::default() };
    let (anchor, _) = trust.anchor()?;
    Ok(evidence::verify(bundle, anchor))
}

/// What a verified bundle proves, or the node's failure.
fn accept(s: &Session, report: Report) -> Result<Verified> {
    match report.verified {
        Some(v) if report.failures.is_empty() => Ok(v),
        _ => {
            let lines: Vec<String> = report.failures.iter().map(|f| format!("  - {f}")).collect();
            bail!("the node {} sent evidence that does not verify; nothing written:\n{}", s.addr, lines.join("\n"))
        }
    }
}

/// `custos evidence export FILE|DOC_HASH -o BUNDLE`.
pub async fn export(
    home: &Path,
    node: Option<&str>,
    doc: &str,
    height: Option<u64>,
    receipt: Option<&Path>,
    out: &Path,
    json: bool,
) -> Result<()> {
    let mut s = connect(home, node, MemberRole::Clerk).await?;
    let (doc_hash, salt) = target(&s, doc, receipt)?;
    let mut bundle = fetch_bundle(
        &mut s,
        ExportEvidenceRequest { doc_hash: doc_hash.0.0.to_vec(), height, absent_receipt_from: None },
    )
    .await?;
    bundle.salt = salt;
    let v = check_export(&s, &bundle)?;
    let bytes = bundle.to_bytes();
    write_new(out, &bytes)?;
    summary(out, &bundle, &v, bytes.len(), json)
}

/// `custos evidence absent --doc D --receipt-from A [--at-height H] -o BUNDLE`.
pub async fn absent(
    home: &Path,
    node: Option<&str>,
    doc: &str,
    agency: &str,
    height: Option<u64>,
    out: &Path,
    json: bool,
) -> Result<()> {
    let agency = AgencyId::new(agency.trim()).map_err(|e| anyhow!("--receipt-from: {e}"))?;
    let mut s = connect(home, node, MemberRole::Clerk).await?;
    let doc_hash = doc_hash_arg(doc)?;
    let req = ExportEvidenceRequest {
        doc_hash: doc_hash.0.0.to_vec(),
        height,
        absent_receipt_from: Some(agency.to_string()),
    };
    let bundle = fetch_bundle(&mut s, req).await?;
    let report = export_report(&s, &bundle)?;
    if let Some(f) = report.failures.iter().find(|f| matches!(f, evidence::Failure::Subject { .. })) {
        bail!("cannot prove the absence: {f}");
    }
    let v = accept(&s, report)?;
    let bytes = bundle.to_bytes();
    write_new(out, &bytes)?;
    summary(out, &bundle, &v, bytes.len(), json)
}

#[derive(Serialize)]
struct ExportView<'a> {
    bundle: String,
    bytes: usize,
    #[serde(flatten)]
    verified: &'a Verified,
}

fn summary(out: &Path, bundle: &Bundle, v: &Verified, bytes: usize, json: bool) -> Result<()> {
    if json {
        let view = ExportView { bundle: out.display().to_string(), bytes, verified: v };
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(());
    }
    println!("wrote {} ({bytes} bytes), verified against this home's genesis", out.display());
    println!(
        "  {} headers, {} precommit signatures, {} state proofs, {} transactions, {} validator-set changes",
        v.headers,
        v.signatures,
        v.facts,
        bundle.txs.len(),
        v.validator_changes
    );
    if bundle.salt.is_none() && matches!(bundle.subject, evidence::Subject::Document { .. }) {
        println!("  no salt in the bundle (exported by hash): `verify FILE` will need --receipt FILE.anchor.json");
    }
    Ok(())
}

fn time(ms: Option<u64>) -> String {
    ms.map(|ms| custos_primitives::x509::format_unix((ms / 1000) as i64)).unwrap_or_else(|| "—".into())
}

fn print_timeline(entries: &[TimelineEntry]) {
    for e in entries {
        println!("  h{:<6} {:<20} {:<14} {}", e.height, time(e.time_ms), e.agency, e.what);
        if let Some(t) = &e.tx_id {
            println!("  {:<28}{:<14} tx {t}", "", "");
        }
    }
}

#[derive(Serialize)]
struct VerifyBundleView<'a> {
    ok: bool,
    trusted_genesis: String,
    file: Option<String>,
    #[serde(flatten)]
    report: &'a Report,
}

/// `custos verify [FILE] --bundle BUNDLE`: offline. Returns whether everything holds.
pub fn verify_offline(
    bundle_path: &Path,
    file: Option<&Path>,
    receipt: Option<&Path>,
    trust: &TrustArgs,
    json: bool,
) -> Result<bool> {
    let (anchor, source) = trust.anchor()?;
    let bytes = std::fs::read(bundle_path).with_context(|| format!("cannot read {}", bundle_path.display()))?;
    let bundle = Bundle::from_bytes(&bytes).with_context(|| format!("{}", bundle_path.display()))?;
    let mut report = evidence::verify(&bundle, anchor);
    if let Some(f) = file {
        let salt = match (bundle.salt, receipt) {
            (_, Some(r)) => read_salt(f, Some(r))?,
            (Some(s), None) => s,
            (None, None) => read_salt(f, None).context("the bundle carries no salt")?,
        };
        let suite = match std::str::from_utf8(&bundle.genesis).ok().and_then(|t| Genesis::from_json(t).ok()) {
            Some(g) => custos_primitives::crypto::AnySuite::new(g.suite, &g.sm2_distid)
                .map_err(|e| anyhow!("the bundle's genesis suite: {e}"))?,
            None => bail!("the bundle's genesis does not parse; cannot hash the file"),
        };
        let h = hash_file(&suite, &salt, f)?;
        evidence::check_document(&mut report, &bundle, &h);
    }
    let ok = report.ok();
    if json {
        let view = VerifyBundleView {
            ok,
            trusted_genesis: format!("{} ({source})", anchor.0),
            file: file.map(|f| f.display().to_string()),
            report: &report,
        };
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ok);
    }
    if !ok {
        println!("NOT VERIFIED: {} check(s) failed", report.failures.len());
        for f in &report.failures {
            println!("  - {f}");
        }
        if let Some(v) = &report.verified {
            println!("\nwhat the bundle claims (NOT proven):");
            print_verified(v, file);
        }
        println!("trusted genesis {} (from {source})", anchor.0);
        return Ok(false);
    }
    if let Some(v) = &report.verified {
        print_verified(v, file);
    }
    println!("trusted genesis {} (from {source})", anchor.0);
    {
        println!(
            "VERIFIED: {} headers ({} signatures), {} validator-set changes, {} state proofs — no node consulted",
            report.verified.as_ref().map_or(0, |v| v.headers),
            report.verified.as_ref().map_or(0, |v| v.signatures),
            report.verified.as_ref().map_or(0, |v| v.validator_changes),
            report.verified.as_ref().map_or(0, |v| v.facts),
        );
    }
    Ok(ok)
}

fn print_verified(v: &Verified, file: Option<&Path>) {
    match &v.absent_receipt_from {
        Some(a) => println!(
            "CLAIM: no receipt from {a} for document {} at height {} ({})",
            v.doc_hash,
            v.at_height,
            time(Some(v.at_time_ms))
        ),
        None => println!("document {}{}", v.doc_hash, file.map(|f| format!(" ({})", f.display())).unwrap_or_default()),
    }
    println!(
        "  type {}   issuer {}   case {}",
        v.doc_type.as_deref().unwrap_or("—"),
        v.issuer.as_deref().unwrap_or("—"),
        v.case_ref.as_deref().unwrap_or("—")
    );
    println!(
        "  chain {} ({} suite), history as of height {} ({})",
        v.chain_id,
        v.suite,
        v.at_height,
        time(Some(v.at_time_ms))
    );
    print_timeline(&v.timeline);
    if !v.not_received.is_empty() {
        println!("  no receipt yet (proven absent at height {}): {}", v.at_height, v.not_received.join(", "));
    }
}

#[derive(Serialize)]
struct HistoryView {
    subject: String,
    height: u64,
    verified: bool,
    events: Vec<TimelineEntry>,
}

/// `custos history --doc D`: the document's verified history.
pub async fn history_doc(home: &Path, node: Option<&str>, doc: &str, json: bool) -> Result<()> {
    let mut s = connect(home, node, MemberRole::Clerk).await?;
    let (doc_hash, _) = target(&s, doc, None)?;
    let bundle = fetch_bundle(
        &mut s,
        ExportEvidenceRequest { doc_hash: doc_hash.0.0.to_vec(), height: None, absent_receipt_from: None },
    )
    .await?;
    let v = check_export(&s, &bundle)?;
    let view = HistoryView {
        subject: format!("document {}", v.doc_hash),
        height: v.at_height,
        verified: true,
        events: v.timeline.clone(),
    };
    print_history(&view, json)
}

/// `custos history --case N`: every document of the case with its receipts, each verified.
pub async fn history_case(home: &Path, node: Option<&str>, case: &str, json: bool) -> Result<()> {
    let mut s = connect(home, node, MemberRole::Clerk).await?;
    let path = s.home.join("case.key");
    let key = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the consortium case key {}", path.display()))?;
    let case_ref = custos_primitives::types::CaseRef::derive(&s.suite, key.trim().as_bytes(), case);
    let first = read_verified(&mut s, runtime::case_key(&case_ref), None).await?;
    let Some(bytes) = &first.value else {
        bail!("no case {case} on the ledger at height {} (proven absent)", first.height);
    };
    let record: CaseRecord = decode_exact("case", bytes, 1 << 20).map_err(|e| anyhow!("{e}"))?;
    // The case's events name its documents; each document's bundle carries the whole case
    // history, so the first one gives every document to export.
    let mut docs = Vec::new();
    for n in 0..record.events {
        let a = read_verified(&mut s, runtime::case_event_key(&case_ref, n), Some(first.height)).await?;
        let ev: custos_contracts::documents::CaseEvent = match &a.value {
            Some(b) => decode_exact("case event", b, 1 << 20).map_err(|e| anyhow!("{e}"))?,
            None => bail!("event {n} of the case is missing"),
        };
        if !docs.contains(&ev.doc_hash) {
            docs.push(ev.doc_hash);
        }
    }
    let mut events: Vec<TimelineEntry> = Vec::new();
    for d in &docs {
        let bundle = fetch_bundle(
            &mut s,
            ExportEvidenceRequest { doc_hash: d.0.0.to_vec(), height: Some(first.height), absent_receipt_from: None },
        )
        .await?;
        let v = check_export(&s, &bundle)?;
        for e in v.timeline {
            // Case transitions of other documents come from every bundle: keep one of each.
            if !events.contains(&e) {
                events.push(e);
            }
        }
    }
    events.sort_by_key(|e| (e.height, e.kind));
    let view =
        HistoryView { subject: format!("case {case} ({})", case_ref.0), height: first.height, verified: true, events };
    print_history(&view, json)
}

fn print_history(view: &HistoryView, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(view)?);
        return Ok(());
    }
    println!("{} — as of height {}, every entry verified (commit certificates, proofs)", view.subject, view.height);
    print_timeline(&view.events);
    Ok(())
}

//! `custos supervise`: the findings of the supervision rules (检察监督), as the node's index
//! answers them for this home's member, and optionally their evidence bundles.
//!
//! The node filters by the caller's certificate: the procuratorate and auditors see findings
//! about every agency, any other agency only its own. With `--evidence DIR`, every finding's
//! evidence is exported through `ExportEvidence` at the height the query answered at and
//! verified against the home's genesis before it is written: the absence bundle of a missing
//! receipt, otherwise the document bundle of each document its proofs name.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use serde::Serialize;

use custos_api::pb::{self, ExportEvidenceRequest, SuperviseRequest, missing::Kind};
use custos_primitives::crypto::Hash;
use custos_primitives::types::MemberRole;

use crate::cases::case_ref_arg;
use crate::evidence::{check_export, fetch_bundle, write_new};
use crate::ledger::{Session, connect, status_err};

/// The question, as the command line asks it.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// Only this rule.
    pub rule: Option<String>,
    /// YYYY-MM-DD.
    pub as_of: Option<String>,
    /// Only findings against this agency.
    pub agency: Option<String>,
    /// A case number (hashed with the consortium case key) or a case reference (64 hex).
    pub case: Option<String>,
    /// Most findings.
    pub limit: Option<u32>,
    /// Ask as the home's auditor instead of its clerk.
    pub auditor: bool,
    /// Write evidence bundles here.
    pub evidence: Option<std::path::PathBuf>,
    /// The node.
    pub node: Option<String>,
    /// JSON output.
    pub json: bool,
}

/// A committed document a finding rests on.
#[derive(Serialize, Debug, Clone)]
pub struct ProofView {
    /// What the document shows.
    pub what: String,
    /// Document hash (hex).
    pub doc: String,
    /// Height of its anchor.
    pub height: u64,
    /// Transaction id of its anchor (hex).
    pub tx_id: String,
}

/// What a finding says is missing.
#[derive(Serialize, Debug, Clone)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MissingView {
    /// The agency's receipt of the document is proven absent.
    Receipt {
        /// Document hash (hex).
        doc: String,
        /// The agency.
        agency: String,
    },
    /// No document of these types from that agency.
    Document {
        /// Acceptable type codes.
        types: Vec<String>,
        /// The agency expected to send it.
        from: String,
    },
    /// The document was not addressed or copied to an agency of this role.
    Addressee {
        /// Document hash (hex).
        doc: String,
        /// The agency role missing.
        role: String,
    },
}

/// One finding of a supervision rule.
#[derive(Serialize, Debug, Clone)]
pub struct FindingView {
    /// Rule id (S01…).
    pub rule: String,
    /// Rule title.
    pub title: String,
    /// Its legal basis.
    pub basis: String,
    /// Case reference (hex).
    pub case_ref: String,
    /// Agency the finding is against.
    pub agency: String,
    /// The duty.
    pub duty: String,
    /// Start of the period.
    pub start: String,
    /// Deadline.
    pub deadline: String,
    /// When the duty was done, if late.
    pub done: Option<String>,
    /// Days overdue.
    pub days_overdue: u32,
    /// Committed documents it rests on.
    pub proofs: Vec<ProofView>,
    /// What is missing.
    pub missing: Option<MissingView>,
}

/// The answer to a supervision query.
#[derive(Serialize, Debug, Clone)]
pub struct View {
    /// The node asked.
    pub node: String,
    /// Height answered at.
    pub height: u64,
    /// Date asked about.
    pub as_of: String,
    /// Whether the caller sees findings about every agency.
    pub cross_agency: bool,
    /// Findings that matched before the limit.
    pub matched: u64,
    /// Whether the limit cut the answer.
    pub truncated: bool,
    /// Findings.
    pub findings: Vec<FindingView>,
    /// Evidence files written (`--evidence`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

fn hex(b: &[u8]) -> String {
    hex::encode(b)
}

fn view(f: pb::Finding) -> FindingView {
    FindingView {
        rule: f.rule,
        title: f.title,
        basis: f.basis,
        case_ref: hex(&f.case_ref),
        agency: f.agency,
        duty: f.duty,
        start: f.start,
        deadline: f.deadline,
        done: f.done,
        days_overdue: f.days_overdue,
        proofs: f
            .proofs
            .into_iter()
            .map(|p| ProofView { what: p.what, doc: hex(&p.doc), height: p.height, tx_id: hex(&p.tx_id) })
            .collect(),
        missing: f.missing.and_then(|m| m.kind).map(|k| match k {
            Kind::Receipt(r) => MissingView::Receipt { doc: hex(&r.doc), agency: r.agency },
            Kind::Document(d) => MissingView::Document { types: d.types, from: d.from },
            Kind::Addressee(a) => MissingView::Addressee { doc: hex(&a.doc), role: a.role },
        }),
    }
}

fn doc_bytes(hex_doc: &str) -> Result<Vec<u8>> {
    Hash::from_hex(hex_doc).map(|h| h.0.to_vec()).map_err(|e| anyhow!("document {hex_doc}: {e}"))
}

/// Exports and verifies the evidence of `findings` into `dir`; returns the files written.
async fn export_evidence(s: &mut Session, findings: &[FindingView], height: u64, dir: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // (document, agency whose receipt is proven absent)
    let mut wanted: BTreeSet<(String, Option<String>)> = BTreeSet::new();
    for f in findings {
        match &f.missing {
            Some(MissingView::Receipt { doc, agency }) => {
                wanted.insert((doc.clone(), Some(agency.clone())));
            }
            _ => wanted.extend(f.proofs.iter().map(|p| (p.doc.clone(), None))),
        }
    }
    let mut written = Vec::new();
    for (doc, absent) in wanted {
        let name = match &absent {
            Some(a) => format!("absent-{doc}-{a}.bundle"),
            None => format!("doc-{doc}.bundle"),
        };
        let path = dir.join(name);
        let req =
            ExportEvidenceRequest { doc_hash: doc_bytes(&doc)?, height: Some(height), absent_receipt_from: absent };
        let bundle = fetch_bundle(s, req).await.with_context(|| format!("evidence for {}", path.display()))?;
        check_export(s, &bundle)?;
        write_new(&path, &bundle.to_bytes())?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

/// Asks the node the supervision question of `a` (its `evidence`, `json`, `node` and `auditor`
/// are not used here).
pub async fn query(s: &mut Session, a: &Args) -> Result<View> {
    let case_ref = a.case.as_deref().map(|c| case_ref_arg(s, c).map(|r| r.0.0.to_vec())).transpose()?;
    let req = SuperviseRequest {
        as_of: a.as_of.clone(),
        rule: a.rule.clone(),
        agency: a.agency.clone(),
        case_ref,
        limit: a.limit,
    };
    let r = s.client.supervise(req).await.map_err(|e| status_err(&s.addr, e))?.into_inner();
    Ok(View {
        node: s.addr.clone(),
        height: r.height,
        as_of: r.as_of,
        cross_agency: r.cross_agency,
        matched: r.matched,
        truncated: r.truncated,
        findings: r.findings.into_iter().map(view).collect(),
        evidence: Vec::new(),
    })
}

/// `custos supervise`.
pub async fn supervise(home: &Path, a: &Args) -> Result<()> {
    let role = if a.auditor { MemberRole::Auditor } else { MemberRole::Clerk };
    let mut s = connect(home, a.node.as_deref(), role).await?;
    let mut v = query(&mut s, a).await?;
    if let Some(dir) = &a.evidence {
        v.evidence = export_evidence(&mut s, &v.findings, v.height, dir).await?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    print(&v);
    if v.truncated {
        println!("\n{} findings matched, {} shown: narrow the query or raise --limit", v.matched, v.findings.len());
    }
    Ok(())
}

fn print(v: &View) {
    let scope = if v.cross_agency { "every agency" } else { "this agency only" };
    println!(
        "supervision as of {} (height {}, node {}): {} finding(s), visible to you: {scope}",
        v.as_of,
        v.height,
        v.node,
        v.findings.len()
    );
    for f in &v.findings {
        println!();
        println!("{} {} [{}] — {}", f.rule, f.title, f.basis, f.agency);
        println!("  case     {}", f.case_ref);
        println!("  duty     {}", f.duty);
        let done = f.done.as_deref().map(|d| format!(", done {d}")).unwrap_or_default();
        println!("  deadline {} (from {}{done}), {} day(s) overdue", f.deadline, f.start, f.days_overdue);
        for p in &f.proofs {
            println!("  proof    h{} tx {} — {} (doc {})", p.height, p.tx_id, p.what, p.doc);
        }
        match &f.missing {
            Some(MissingView::Receipt { doc, agency }) => println!("  missing  receipt of {agency} for {doc}"),
            Some(MissingView::Document { types, from }) => {
                println!("  missing  {} from {from}", types.join(" or "))
            }
            Some(MissingView::Addressee { doc, role }) => println!("  missing  {role} as recipient or copy of {doc}"),
            None => {}
        }
    }
    for e in &v.evidence {
        println!("wrote {e} (verified against this home's genesis)");
    }
}

//! Procuratorial supervision (检察监督): the legal-supervision rules of domain.md §5 as pure,
//! deterministic functions of a case's ledger history, an "as of" date and the governance
//! parameters (deadline table and holiday calendar).
//!
//! A case is read once into a [`CaseDigest`] — its record, every document anchored on it with
//! recipients, copies, business dates, the day it was anchored and the receipts of its
//! recipients — which a node keeps as an index, so a query over every case never re-reads the
//! chain. [`evaluate`] runs every rule over a digest and returns [`Finding`]s: the rule, the
//! agency at fault, the duty, the deadline, the days overdue, the transactions that prove it and,
//! when the finding is that something is missing, what is missing (a receipt, provable by an
//! exclusion proof, or a document, provable by the complete case history).
//!
//! Dates: a document counts from the day it was anchored (its block's date, China Standard
//! Time) unless the rule names a business date (the day a decision took effect, the day a
//! subject reported). Documents anchored after the "as of" date are ignored, so a query about a
//! past date sees what was on the ledger then.
//!
//! S07 reads the CCA's LOST_CONTACT / CONTACT_RESTORED documents (the search and the notices
//! are their recipients); S16 reads a coercive-measure notice's effective date (the day of the
//! measure) against the day it was sent to the CCA.
#![warn(missing_docs)]

use std::collections::BTreeMap;

use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode};
use serde::Serialize;

use custos_primitives::codec::decode_exact;
use custos_primitives::types::{AgencyId, AgencyRole, CaseRef, DocHash, MAX_TX_BYTES, TxId};

use crate::calendar::{Calendar, Period};
use crate::call::{BusinessDates, Date, DocType, SubjectKind};
use crate::documents::{self, AnchorRecord, CaseEvent, ReceiptRecord};
use crate::governance::DeadlineParams;
use crate::runtime::StateRead;
use crate::workflow::{CaseRecord, CaseState};

/// A delivery receipt, as supervision needs it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct ReceiptDigest {
    /// The acknowledging agency.
    pub agency: AgencyId,
    /// The day of its block.
    pub date: Date,
    /// Height.
    pub height: u64,
    /// Transaction.
    pub tx_id: TxId,
}

/// One document of a case.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct DocDigest {
    /// The document.
    pub doc_hash: DocHash,
    /// Its type.
    pub doc_type: DocType,
    /// Issuer.
    pub issuer: AgencyId,
    /// Recipients (送达).
    pub recipients: Vec<AgencyId>,
    /// Copies (抄送).
    pub copies: Vec<AgencyId>,
    /// Business dates.
    pub dates: BusinessDates,
    /// The day of the anchoring block (China Standard Time).
    pub anchored: Date,
    /// Height.
    pub height: u64,
    /// The anchoring transaction.
    pub tx_id: TxId,
    /// Receipts of its recipients and copies.
    pub receipts: Vec<ReceiptDigest>,
}

impl DocDigest {
    fn is(&self, types: &[&str]) -> bool {
        types.contains(&self.doc_type.as_str())
    }
    fn addressed(&self, a: &AgencyId) -> bool {
        self.recipients.contains(a) || self.copies.contains(a)
    }
    fn receipt(&self, a: &AgencyId) -> Option<&ReceiptDigest> {
        self.receipts.iter().find(|r| &r.agency == a)
    }
}

/// Everything supervision reads about a case.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct CaseDigest {
    /// The case.
    pub case_ref: CaseRef,
    /// Its record.
    pub record: CaseRecord,
    /// Its documents, in the order of the case history.
    pub docs: Vec<DocDigest>,
}

/// Largest digest a node stores.
pub const MAX_DIGEST_BYTES: usize = 4 * 1024 * 1024;
const MAX_VALUE: usize = MAX_TX_BYTES * 4;

/// A record that does not decode while building a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("case {case}: {what} does not decode: {reason}")]
pub struct DigestError {
    /// The case.
    pub case: CaseRef,
    /// The record.
    pub what: String,
    /// Why.
    pub reason: String,
}

fn get<T: Decode>(state: &impl StateRead, case: &CaseRef, key: &[u8], what: &str) -> Result<Option<T>, DigestError> {
    match state.get(key) {
        None => Ok(None),
        Some(v) => decode_exact("state value", &v, MAX_VALUE).map(Some).map_err(|e| DigestError {
            case: *case,
            what: what.to_owned(),
            reason: e.to_string(),
        }),
    }
}

impl CaseDigest {
    /// Reads a case from state (`None` if there is no such case).
    pub fn read(state: &impl StateRead, case_ref: &CaseRef) -> Result<Option<CaseDigest>, DigestError> {
        let Some(record) = get::<CaseRecord>(state, case_ref, &documents::case_key(case_ref), "case record")? else {
            return Ok(None);
        };
        let mut docs: Vec<DocDigest> = Vec::new();
        for n in 0..record.events {
            let key = documents::case_event_key(case_ref, n);
            let Some(ev) = get::<CaseEvent>(state, case_ref, &key, "case event")? else { continue };
            if docs.iter().any(|d| d.doc_hash == ev.doc_hash) {
                continue;
            }
            let Some(a) = get::<AnchorRecord>(state, case_ref, &documents::doc_key(&ev.doc_hash), "anchor")? else {
                continue;
            };
            let mut receipts = Vec::new();
            for agency in a.recipients.iter().chain(a.copies.iter()) {
                let key = documents::receipt_key(&a.doc_hash, agency);
                if let Some(r) = get::<ReceiptRecord>(state, case_ref, &key, "receipt")? {
                    receipts.push(ReceiptDigest {
                        agency: r.agency,
                        date: day_of(r.time_ms),
                        height: r.height,
                        tx_id: r.tx_id,
                    });
                }
            }
            docs.push(DocDigest {
                doc_hash: a.doc_hash,
                doc_type: a.doc_type,
                issuer: a.issuer,
                recipients: a.recipients,
                copies: a.copies,
                dates: a.dates,
                anchored: day_of(a.time_ms),
                height: a.height,
                tx_id: a.tx_id,
                receipts,
            });
        }
        Ok(Some(CaseDigest { case_ref: *case_ref, record, docs }))
    }

    /// Decodes a stored digest.
    pub fn decode_stored(bytes: &[u8]) -> Result<CaseDigest, String> {
        decode_exact("case digest", bytes, MAX_DIGEST_BYTES).map_err(|e| e.to_string())
    }
}

/// The day (China Standard Time) of a block time in milliseconds.
pub fn day_of(time_ms: u64) -> Date {
    Date::from_unix_seconds_cst(i64::try_from(time_ms / 1000).unwrap_or(i64::MAX))
}

/// Whether a finding rests on a statutory period or on a configurable one ([K] or "立即/及时"
/// made a number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The period is the law's.
    Statutory,
    /// The period is a governance parameter not fixed by statute.
    Configurable,
}

/// What a finding says is missing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Missing {
    /// A receipt (provable by an exclusion proof of `receipt/<doc>/<agency>`).
    Receipt {
        /// The document.
        doc: DocHash,
        /// The agency.
        agency: String,
    },
    /// A document of one of these types from this agency (provable by the case's complete
    /// history).
    Document {
        /// Acceptable types.
        types: Vec<String>,
        /// From whom.
        from: String,
    },
    /// A copy or recipient that a document should have had.
    Addressee {
        /// The document.
        doc: DocHash,
        /// The kind of agency missing.
        role: String,
    },
}

/// A transaction a finding rests on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Proof {
    /// What it is.
    pub what: String,
    /// The document the transaction anchored or acknowledged: `custos evidence export` proves
    /// it.
    pub doc: DocHash,
    /// Height.
    pub height: u64,
    /// Transaction id.
    pub tx_id: TxId,
}

/// One missed legal duty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Rule id (`S01` …).
    pub rule: &'static str,
    /// Rule name.
    pub title: &'static str,
    /// Statutory or configurable.
    pub basis: Basis,
    /// The case (keyed hash).
    pub case_ref: CaseRef,
    /// The agency at fault.
    pub agency: String,
    /// The duty it missed.
    pub duty: String,
    /// The day the period started.
    pub start: Date,
    /// The last day the duty was met in time.
    pub deadline: Date,
    /// The day it was done, if done late.
    pub done: Option<Date>,
    /// Calendar days after the deadline (to the day done, or to the "as of" date).
    pub days_overdue: u32,
    /// The transactions that prove it.
    pub proofs: Vec<Proof>,
    /// What is missing, when the finding is an absence.
    pub missing: Option<Missing>,
}

/// What the rules read besides the case.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    /// The deadline table.
    pub params: &'a DeadlineParams,
    /// The holiday calendar.
    pub calendar: &'a Calendar,
    /// The kind of every agency of the registry.
    pub roles: &'a BTreeMap<AgencyId, AgencyRole>,
    /// The date the question is asked about.
    pub as_of: Date,
}

/// Rule ids, names and bases, for listings and `--rule` filters.
pub const RULES: &[(&str, &str)] = &[
    ("S01", "late notice to the CCA (交付通知超期)"),
    ("S02", "late delivery of legal documents (法律文书送达超期)"),
    ("S03", "copies not sent (文书未抄送)"),
    ("S04", "missed entry (漏管)"),
    ("S05", "late or missing receipt (回执超期)"),
    ("S06", "late investigation assessment (调查评估超期)"),
    ("S07", "lost control not acted on (脱管)"),
    ("S08", "unlawful leave approval (违法批准外出)"),
    ("S09", "overdue return from leave (外出逾期未归)"),
    ("S10", "sanction ladder not followed (未依法提请撤销)"),
    ("S11", "late ruling or decision (裁定/决定超期)"),
    ("S12", "late return to custody (收监执行不及时)"),
    ("S13", "release not done lawfully (未依法解除)"),
    ("S14", "electronic tag past its limit (电子定位超期)"),
    ("S15", "temporary-outside checks (暂外专项)"),
    ("S16", "late notice of a coercive measure (强制措施未通知)"),
    ("S17", "change of place of execution broken (变更执行地脱节)"),
    ("S18", "correction opinion not answered (纠正意见未回复)"),
];

fn title(rule: &str) -> &'static str {
    RULES.iter().find(|(id, _)| *id == rule).map(|(_, t)| *t).unwrap_or("")
}

struct Eval<'a, 'c> {
    ctx: &'a Context<'c>,
    case: &'a CaseDigest,
    docs: Vec<&'a DocDigest>,
    out: Vec<Finding>,
}

const DECISIONS: &[&str] = &["JUDGMENT", "RULING", "TEMPOUT_DECISION", "TEMPOUT_APPROVAL"];

fn proof(what: impl Into<String>, d: &DocDigest) -> Proof {
    Proof { what: what.into(), doc: d.doc_hash, height: d.height, tx_id: d.tx_id }
}

impl<'a> Eval<'a, '_> {
    fn role(&self, a: &AgencyId) -> Option<AgencyRole> {
        self.ctx.roles.get(a).copied()
    }

    fn deadline(&self, start: Date, p: &Period) -> Date {
        self.ctx.calendar.deadline(start, p)
    }

    fn overdue(&self, deadline: Date, done: Option<Date>) -> u32 {
        self.ctx.calendar.days_overdue(deadline, done.unwrap_or(self.ctx.as_of))
    }

    /// Records a finding when a duty whose period starts on `start` was done late (`done`) or
    /// is still missing after its deadline; `describe` gives its text, proofs and what is
    /// missing.
    #[allow(clippy::too_many_arguments)]
    fn duty(
        &mut self,
        rule: &'static str,
        basis: Basis,
        agency: &AgencyId,
        start: Date,
        period: &Period,
        done: Option<(&DocDigest, Date)>,
        describe: impl FnOnce() -> (String, Vec<Proof>, Missing),
    ) {
        let deadline = self.deadline(start, period);
        let late = match done {
            Some((_, day)) => day > deadline,
            None => self.ctx.as_of > deadline,
        };
        // The texts are built only for a finding: most duties are met.
        if late {
            let (duty, mut proofs, missing) = describe();
            let (done_day, missing) = match done {
                Some((d, day)) => {
                    proofs.push(proof(format!("{} anchored by {} (done {day})", d.doc_type, d.issuer), d));
                    (Some(day), None)
                }
                None => (None, Some(missing)),
            };
            let days_overdue = self.overdue(deadline, done_day);
            self.out.push(Finding {
                rule,
                title: title(rule),
                basis,
                case_ref: self.case.case_ref,
                agency: agency.to_string(),
                duty,
                start,
                deadline,
                done: done_day,
                days_overdue,
                proofs,
                missing,
            });
        }
    }

    /// A finding that is immediate (a document lacking an addressee, a limit exceeded).
    fn breach(&mut self, rule: &'static str, basis: Basis, d: &DocDigest, duty: String, missing: Option<Missing>) {
        self.out.push(Finding {
            rule,
            title: title(rule),
            basis,
            case_ref: self.case.case_ref,
            agency: d.issuer.to_string(),
            duty,
            start: d.anchored,
            deadline: d.anchored,
            done: None,
            days_overdue: self.ctx.calendar.days_overdue(d.anchored, self.ctx.as_of),
            proofs: vec![proof(format!("{} anchored by {}", d.doc_type, d.issuer), d)],
            missing,
        });
    }

    fn first_after(&self, from: &DocDigest, types: &[&str], issuer: Option<&AgencyId>) -> Option<&'a DocDigest> {
        self.docs.iter().copied().find(|d| {
            d.height >= from.height
                && d.doc_hash != from.doc_hash
                && d.is(types)
                && issuer.is_none_or(|i| &d.issuer == i)
        })
    }

    fn has_role(&self, d: &DocDigest, role: AgencyRole) -> bool {
        d.recipients.iter().chain(d.copies.iter()).any(|a| self.role(a) == Some(role))
    }

    /// S03-style: `d` must be addressed to an agency of each role in `roles`.
    fn must_copy(&mut self, rule: &'static str, basis: Basis, d: &DocDigest, roles: &[AgencyRole]) {
        for &role in roles {
            if !self.has_role(d, role) {
                self.breach(
                    rule,
                    basis,
                    d,
                    format!("send or copy {} ({}) to the {}", d.doc_type, short(&d.doc_hash), role.as_str()),
                    Some(Missing::Addressee { doc: d.doc_hash, role: role.as_str().to_owned() }),
                );
            }
        }
    }

    fn decision(&self) -> Option<&'a DocDigest> {
        self.docs.iter().copied().find(|d| d.is(DECISIONS))
    }
}

fn short(d: &DocHash) -> String {
    let s = d.0.to_string();
    s[..s.len().min(12)].to_owned()
}

/// Every finding about a case at `ctx.as_of`, in rule order.
pub fn evaluate(case: &CaseDigest, ctx: &Context<'_>) -> Vec<Finding> {
    let docs: Vec<&DocDigest> = case.docs.iter().filter(|d| d.anchored <= ctx.as_of).collect();
    let mut e = Eval { ctx, case, docs, out: Vec::new() };
    s01_s02_s03_delivery(&mut e);
    s04_missed_entry(&mut e);
    s05_receipts(&mut e);
    s06_assessment(&mut e);
    s07_lost_contact(&mut e);
    s08_s09_leave(&mut e);
    s10_sanctions(&mut e);
    s11_s12_decisions(&mut e);
    s13_release(&mut e);
    s14_etag(&mut e);
    s15_temp_outside(&mut e);
    s16_detention_notice(&mut e);
    s17_transfer(&mut e);
    s18_replies(&mut e);
    e.out.sort_by(|a, b| a.rule.cmp(b.rule).then(a.deadline.cmp(&b.deadline)));
    e.out
}

/// S01 notice to the CCA within NOTIFY_CCA of the decision taking effect; S02 the decision
/// and the execution notice delivered to it within DELIVER_DOCS; S03 both copied to the
/// procuratorate and the police (Law Art.20); proposals and rulings copied to the
/// procuratorate (Law Art.33, 46, 48, 49).
fn s01_s02_s03_delivery(e: &mut Eval<'_, '_>) {
    let r = &e.case.record;
    if let (Some(decision), Some(d_eff), Some(body), Some(cca)) =
        (e.decision(), r.decision_effective, r.deciding_body.clone(), r.cca.clone())
    {
        let p = e.ctx.params;
        let from_body: Vec<&DocDigest> =
            e.docs.iter().copied().filter(|d| d.issuer == body && d.recipients.contains(&cca)).collect();
        let notice = from_body.first().copied();
        let decision_proof = proof(format!("{} took effect {d_eff}", decision.doc_type), decision);
        e.duty("S01", Basis::Statutory, &body, d_eff, &p.notify_cca, notice.map(|n| (n, n.anchored)), || {
            (
                format!("notify the CCA ({cca}) of the decision"),
                vec![decision_proof.clone()],
                Missing::Document { types: vec!["CCA_NOTICE".into(), "EXEC_NOTICE".into()], from: body.to_string() },
            )
        });
        // The legal documents: the decision itself and, for a court judgment or ruling, the
        // execution notice, each addressed to the CCA.
        let mut required: Vec<&[&str]> = vec![DECISIONS];
        if decision.is(&["JUDGMENT", "RULING"]) {
            required.push(&["EXEC_NOTICE"]);
        }
        for types in required {
            let sent = from_body.iter().copied().find(|d| d.is(types));
            e.duty("S02", Basis::Statutory, &body, d_eff, &p.deliver_docs, sent.map(|d| (d, d.anchored)), || {
                (
                    format!("deliver the {} to the CCA ({cca})", types.join(" / ")),
                    vec![decision_proof.clone()],
                    Missing::Document { types: types.iter().map(|t| t.to_string()).collect(), from: body.to_string() },
                )
            });
        }
    }
    let docs = e.docs.clone();
    for d in docs {
        if d.is(DECISIONS) || d.is(&["EXEC_NOTICE"]) {
            e.must_copy("S03", Basis::Statutory, d, &[AgencyRole::Procuratorate, AgencyRole::Police]);
        } else if d.is(&[
            "REVOKE_PROPOSAL",
            "COMMIT_PROPOSAL",
            "REDUCTION_PROPOSAL",
            "REVOKE_RULING",
            "COMMIT_DECISION",
            "REDUCTION_RULING",
        ]) {
            e.must_copy("S03", Basis::Statutory, d, &[AgencyRole::Procuratorate]);
        }
    }
}

/// S04 漏管: the subject registered by the CCA (INTAKE, its `received` date) within
/// SUBJECT_REPORT of the decision (管制/缓刑/假释) or TEMP_OUT_TRANSFER (暂外) (Law Art.21).
fn s04_missed_entry(e: &mut Eval<'_, '_>) {
    let r = &e.case.record;
    let (Some(d_eff), Some(cca), Some(kind)) = (r.decision_effective, r.cca.clone(), r.kind) else { return };
    let Some(decision) = e.decision() else { return };
    let p = e.ctx.params;
    let period = if kind.is_temp_outside() { p.temp_out_transfer } else { p.subject_report };
    let intake = e.docs.iter().copied().find(|d| d.is(&["INTAKE"]) && d.issuer == cca);
    e.duty(
        "S04",
        Basis::Statutory,
        &cca,
        d_eff,
        &period,
        intake.map(|d| (d, d.dates.received.unwrap_or(d.anchored))),
        || {
            (
                "register the subject's intake (接收登记) or report the non-appearance".into(),
                vec![proof(format!("{} took effect {d_eff}", decision.doc_type), decision)],
                Missing::Document { types: vec!["INTAKE".into()], from: cca.to_string() },
            )
        },
    );
}

/// S05: the CCA acknowledges documents addressed to it within RECEIPT_BACK [K].
fn s05_receipts(e: &mut Eval<'_, '_>) {
    let p = e.ctx.params;
    let docs = e.docs.clone();
    for d in docs {
        let roles = e.ctx.roles;
        for r in d.recipients.iter().filter(|a| roles.get(*a) == Some(&AgencyRole::Justice)) {
            let receipt = d.receipt(r).filter(|x| x.date <= e.ctx.as_of);
            let deadline = e.deadline(d.anchored, &p.receipt_back);
            let late = match receipt {
                Some(x) => x.date > deadline,
                None => e.ctx.as_of > deadline,
            };
            if !late {
                continue;
            }
            let mut proofs = vec![proof(format!("{} sent to {r}", d.doc_type), d)];
            if let Some(x) = receipt {
                proofs.push(Proof {
                    what: format!("receipt of {r} ({})", x.date),
                    doc: d.doc_hash,
                    height: x.height,
                    tx_id: x.tx_id,
                });
            }
            e.out.push(Finding {
                rule: "S05",
                title: title("S05"),
                basis: Basis::Configurable,
                case_ref: e.case.case_ref,
                agency: r.to_string(),
                duty: format!("acknowledge {} ({})", d.doc_type, short(&d.doc_hash)),
                start: d.anchored,
                deadline,
                done: receipt.map(|x| x.date),
                days_overdue: e.overdue(deadline, receipt.map(|x| x.date)),
                proofs,
                missing: receipt.is_none().then(|| Missing::Receipt { doc: d.doc_hash, agency: r.to_string() }),
            });
        }
    }
}

/// S06: the assessment opinion within ASSESSMENT (working days) of the commission being
/// received, and copied to the procuratorate [K].
fn s06_assessment(e: &mut Eval<'_, '_>) {
    let p = e.ctx.params;
    let docs = e.docs.clone();
    for req in docs.iter().copied().filter(|d| d.is(&["ASSESS_REQ"])) {
        let roles = e.ctx.roles;
        for cca in req.recipients.iter().filter(|a| roles.get(*a) == Some(&AgencyRole::Justice)) {
            let received = req.receipt(cca).map(|r| r.date).unwrap_or(req.anchored);
            let opinion = e.first_after(req, &["ASSESS_OPINION"], Some(cca));
            e.duty("S06", Basis::Configurable, cca, received, &p.assessment, opinion.map(|o| (o, o.anchored)), || {
                (
                    "submit the investigation assessment opinion (调查评估意见书)".into(),
                    vec![proof("assessment commissioned", req)],
                    Missing::Document { types: vec!["ASSESS_OPINION".into()], from: cca.to_string() },
                )
            });
        }
    }
    for op in docs.iter().copied().filter(|d| d.is(&["ASSESS_OPINION"])) {
        e.must_copy("S06", Basis::Configurable, op, &[AgencyRole::Procuratorate]);
    }
}

/// S07 脱管 (Law Art.30; R Art.643(3)(4), 644(1)): a loss of contact is notified to the police
/// and the procuratorate when recorded; still open after WARNING_LOST_DAYS, a warning; for
/// 缓刑/假释 still open after REVOKE_LOST_DAYS, a revocation proposal [P/K].
fn s07_lost_contact(e: &mut Eval<'_, '_>) {
    let p = e.ctx.params;
    let docs = e.docs.clone();
    let revocable = matches!(e.case.record.kind, Some(SubjectKind::Probation | SubjectKind::Parole));
    for lost in docs.iter().copied().filter(|d| d.is(&["LOST_CONTACT"])) {
        e.must_copy("S07", Basis::Configurable, lost, &[AgencyRole::Police, AgencyRole::Procuratorate]);
        let since = lost.dates.effective.unwrap_or(lost.anchored);
        let restored = e
            .first_after(lost, &["CONTACT_RESTORED"], None)
            .map(|r| r.dates.effective.unwrap_or(r.anchored))
            .unwrap_or(e.ctx.as_of);
        let cca = lost.issuer.clone();
        // Escalations are due only while contact stays lost past their period.
        let escalations: [(&[&str], Period, &str, bool); 2] = [
            (&["WARNING"], p.lost_contact_warning, "warn the subject out of contact (警告)", true),
            (&["REVOKE_PROPOSAL"], p.lost_contact_revoke, "propose revocation (提请撤销)", revocable),
        ];
        for (types, period, duty, applies) in escalations {
            if !applies || restored <= e.deadline(since, &period) {
                continue;
            }
            let done = e.first_after(lost, types, Some(&cca));
            e.duty("S07", Basis::Configurable, &cca, since, &period, done.map(|d| (d, d.anchored)), || {
                (
                    format!("{duty}: out of contact since {since}"),
                    vec![proof(format!("contact lost {since}"), lost)],
                    Missing::Document { types: types.iter().map(|t| t.to_string()).collect(), from: cca.to_string() },
                )
            });
        }
    }
}

/// S16: a coercive measure (detention) notified to the CCA within DETENTION_NOTICE of the day
/// it was taken (Law Art.32 "及时"; 实施办法 [K]).
fn s16_detention_notice(e: &mut Eval<'_, '_>) {
    let p = e.ctx.params;
    let Some(cca) = e.case.record.cca.clone() else { return };
    let docs = e.docs.clone();
    for n in docs.iter().copied().filter(|d| d.is(&["COERCIVE_MEASURE_NOTICE"])) {
        let Some(taken) = n.dates.effective else { continue };
        let done = n.recipients.contains(&cca).then_some((n, n.anchored));
        e.duty("S16", Basis::Configurable, &n.issuer, taken, &p.detention_notice, done, || {
            (
                format!("notify the CCA ({cca}) of the coercive measure taken {taken}"),
                if done.is_some() { vec![] } else { vec![proof(format!("{} of {}", n.doc_type, n.issuer), n)] },
                Missing::Addressee { doc: n.doc_hash, role: "CCA as recipient".into() },
            )
        });
    }
}

/// S08: a leave longer than LEAVE_PER_APPROVAL_MAX, or more than LEAVE_2MONTH_CUM_MAX days in
/// a window [K]; S09: a leave ended with no return recorded [K].
fn s08_s09_leave(e: &mut Eval<'_, '_>) {
    let p = e.ctx.params;
    let leaves: Vec<(&DocDigest, Date, Date)> = e
        .docs
        .iter()
        .copied()
        .filter(|d| d.is(&["LEAVE_APPROVAL"]))
        .filter_map(|d| Some((d, d.dates.period_start?, d.dates.period_end?)))
        .collect();
    for (i, &(d, start, end)) in leaves.iter().enumerate() {
        let days = (end.0 - start.0 + 1).max(0) as u32;
        if days > p.leave_max_days {
            e.breach(
                "S08",
                Basis::Configurable,
                d,
                format!("approve at most {} days of leave at once (approved {days})", p.leave_max_days),
                None,
            );
        }
        // Leave days inside the window that ends with this leave.
        let window_start = end.0 - p.leave_window_days as i32 + 1;
        let total: i32 =
            leaves[..=i].iter().map(|&(_, s, t)| (t.0.min(end.0) - s.0.max(window_start) + 1).max(0)).sum();
        // (A single leave over the limit is reported once, above.)
        if days <= p.leave_max_days && total as u32 > p.leave_window_max_days {
            e.breach(
                "S08",
                Basis::Configurable,
                d,
                format!(
                    "approve at most {} days of leave in {} days (approved {total})",
                    p.leave_window_max_days, p.leave_window_days
                ),
                None,
            );
        }
        let returned = e.first_after(d, &["LEAVE_RETURN"], None);
        let cca = e.case.record.cca.clone().unwrap_or_else(|| d.issuer.clone());
        e.duty(
            "S09",
            Basis::Configurable,
            &cca,
            end,
            &Period::calendar_days(0).without_extension(),
            returned.map(|r| (r, r.dates.received.unwrap_or(r.anchored))),
            || {
                (
                    format!("record the return from leave ending {end} (or start the lost-contact procedure)"),
                    vec![proof("leave approved", d)],
                    Missing::Document { types: vec!["LEAVE_RETURN".into()], from: cca.to_string() },
                )
            },
        );
    }
}

/// S10: after WARNINGS_BEFORE_REVOKE warnings of a 缓刑/假释/暂外 subject, a revocation or
/// commitment proposal; a police-penalty request copied to the procuratorate.
fn s10_sanctions(e: &mut Eval<'_, '_>) {
    let p = e.ctx.params;
    // 缓刑, 假释, 暂外: a 管制 subject's sentence cannot be revoked.
    let revocable = e.case.record.kind.is_some_and(|k| k != SubjectKind::Control);
    let warnings: Vec<&DocDigest> = e.docs.iter().copied().filter(|d| d.is(&["WARNING"])).collect();
    if revocable && p.warnings_before_revoke > 0 && warnings.len() >= p.warnings_before_revoke as usize {
        let nth = warnings[p.warnings_before_revoke as usize - 1];
        let proposal = e.first_after(nth, &["REVOKE_PROPOSAL", "COMMIT_PROPOSAL"], None);
        let cca = e.case.record.cca.clone().unwrap_or_else(|| nth.issuer.clone());
        let proofs = warnings.iter().map(|w| proof("warning (警告)", w)).collect();
        e.duty(
            "S10",
            Basis::Configurable,
            &cca,
            nth.anchored,
            &p.sanction_proposal,
            proposal.map(|x| (x, x.anchored)),
            || {
                (
                    format!("propose revocation or commitment after {} warnings", p.warnings_before_revoke),
                    proofs,
                    Missing::Document {
                        types: vec!["REVOKE_PROPOSAL".into(), "COMMIT_PROPOSAL".into()],
                        from: cca.to_string(),
                    },
                )
            },
        );
    }
    let docs = e.docs.clone();
    for d in docs.into_iter().filter(|d| d.is(&["POLICE_PENALTY_REQ"])) {
        e.must_copy("S10", Basis::Statutory, d, &[AgencyRole::Procuratorate]);
    }
}

/// S11: rulings and decisions within their statutory periods of the proposal being received
/// (Law Art.33, 47, 48, 49); S12: the subject committed within COMMIT_PHYSICAL of a revocation
/// or commitment (config).
fn s11_s12_decisions(e: &mut Eval<'_, '_>) {
    let p = e.ctx.params;
    let pairs: [(&str, &[&str], Period, Basis); 4] = [
        ("REVOKE_PROPOSAL", &["REVOKE_RULING", "REVOKE_REJECTED"], p.revoke_ruling, Basis::Statutory),
        ("COMMIT_PROPOSAL", &["COMMIT_DECISION", "COMMIT_REJECTED"], p.commit_decision, Basis::Statutory),
        ("REDUCTION_PROPOSAL", &["REDUCTION_RULING"], p.reduction_ruling, Basis::Statutory),
        ("ARREST_REQ", &["ARREST_DECISION"], p.arrest_decision, Basis::Statutory),
    ];
    let docs = e.docs.clone();
    for (ask, answers, period, basis) in pairs {
        for req in docs.iter().copied().filter(|d| d.is(&[ask])) {
            for body in &req.recipients {
                let received = req.receipt(body).map(|r| r.date).unwrap_or(req.anchored);
                let answer = e.first_after(req, answers, Some(body));
                e.duty("S11", basis, body, received, &period, answer.map(|a| (a, a.anchored)), || {
                    (
                        format!("decide on the {ask} ({})", answers.join(" / ")),
                        vec![proof(format!("{ask} received {received}"), req)],
                        Missing::Document {
                            types: answers.iter().map(|t| t.to_string()).collect(),
                            from: body.to_string(),
                        },
                    )
                });
            }
        }
    }
    for order in docs.iter().copied().filter(|d| d.is(&["REVOKE_RULING", "COMMIT_DECISION"])) {
        let committed = e.first_after(order, &["COMMITTED"], None);
        let custodian = order
            .recipients
            .iter()
            .find(|a| matches!(e.role(a), Some(AgencyRole::Prison | AgencyRole::Police)))
            .cloned()
            .or_else(|| e.case.record.cca.clone())
            .unwrap_or_else(|| order.issuer.clone());
        e.duty(
            "S12",
            Basis::Configurable,
            &custodian,
            order.dates.effective.unwrap_or(order.anchored),
            &p.commit_physical,
            committed.map(|c| (c, c.dates.effective.or(c.dates.received).unwrap_or(c.anchored))),
            || {
                (
                    "take the subject into custody (收监执行)".into(),
                    vec![proof(format!("{} ordered", order.doc_type), order)],
                    Missing::Document { types: vec!["COMMITTED".into()], from: custodian.to_string() },
                )
            },
        );
    }
}

/// S13: released (RELEASE_CERT) by RELEASE_LAG after the correction period ends, not before
/// it, and notified to the deciding body, the procuratorate and the police (Law Art.44).
fn s13_release(e: &mut Eval<'_, '_>) {
    let p = e.ctx.params;
    let r = e.case.record.clone();
    let release = e.docs.iter().copied().find(|d| d.is(&["RELEASE_CERT"]));
    let blocked = matches!(
        r.state,
        CaseState::RevocationProposed | CaseState::ArrestRequested | CaseState::Committed | CaseState::Terminated(_)
    ) || e
        .docs
        .iter()
        .any(|d| d.is(&["REVOKE_PROPOSAL", "COMMIT_PROPOSAL", "DEATH_NOTICE", "TRANSFER_DECISION"]));
    if let (Some(end), Some(cca), false) = (r.correction_end, r.cca.clone(), blocked) {
        let decision = e.decision();
        e.duty(
            "S13",
            Basis::Configurable,
            &cca,
            end,
            &p.release_lag,
            release.map(|d| (d, d.dates.effective.unwrap_or(d.anchored))),
            || {
                (
                    format!("release the subject when the correction period ends ({end})"),
                    decision.map(|d| vec![proof("correction period set", d)]).unwrap_or_default(),
                    Missing::Document { types: vec!["RELEASE_CERT".into()], from: cca.to_string() },
                )
            },
        );
        if let Some(rel) = release
            && rel.dates.effective.unwrap_or(rel.anchored) < end
        {
            e.breach(
                "S13",
                Basis::Statutory,
                rel,
                format!("release no earlier than the end of the period ({end})"),
                None,
            );
        }
    }
    if let Some(rel) = release {
        if let Some(body) = &r.deciding_body
            && !rel.addressed(body)
        {
            e.breach(
                "S13",
                Basis::Statutory,
                rel,
                format!("notify the deciding body ({body}) of the release"),
                Some(Missing::Addressee { doc: rel.doc_hash, role: "deciding body".into() }),
            );
        }
        e.must_copy("S13", Basis::Statutory, rel, &[AgencyRole::Procuratorate, AgencyRole::Police]);
    }
}

/// S14: an electronic tag removed or re-approved within ETAG_MAX of its approval (Law Art.29).
fn s14_etag(e: &mut Eval<'_, '_>) {
    let p = e.ctx.params;
    let docs = e.docs.clone();
    for tag in docs.iter().copied().filter(|d| d.is(&["ETAG_APPROVAL"])) {
        let next = e.first_after(tag, &["ETAG_REMOVAL", "ETAG_APPROVAL"], None);
        let start = tag.dates.effective.unwrap_or(tag.anchored);
        e.duty(
            "S14",
            Basis::Statutory,
            &tag.issuer,
            start,
            &p.etag_max,
            next.map(|n| (n, n.dates.effective.unwrap_or(n.anchored))),
            || {
                (
                    "remove the electronic tag or approve an extension".into(),
                    vec![proof("electronic tag approved", tag)],
                    Missing::Document {
                        types: vec!["ETAG_REMOVAL".into(), "ETAG_APPROVAL".into()],
                        from: tag.issuer.to_string(),
                    },
                )
            },
        );
    }
}

/// S15 (暂外): medical reviews every MEDICAL_REVIEW_INTERVAL [K]; a 暂外 proposal copied to
/// the procuratorate (R Art.629(3)); a court's 暂外 decision preceded by the procuratorate's
/// opinion (R Art.629(6)).
fn s15_temp_outside(e: &mut Eval<'_, '_>) {
    let p = e.ctx.params;
    let r = e.case.record.clone();
    if r.kind.is_some_and(SubjectKind::is_temp_outside) && !r.state.is_closed() {
        let reviews: Vec<&DocDigest> = e.docs.iter().copied().filter(|d| d.is(&["TEMPOUT_REVIEW"])).collect();
        let base = reviews.last().copied().or_else(|| e.decision());
        if let (Some(base), Some(cca)) = (base, r.cca.clone()) {
            let start = base.dates.effective.unwrap_or(base.anchored);
            e.duty("S15", Basis::Configurable, &cca, start, &p.medical_review, None, || {
                (
                    "obtain the periodic medical review (病情复查)".into(),
                    vec![proof(format!("last {}", base.doc_type), base)],
                    Missing::Document { types: vec!["TEMPOUT_REVIEW".into()], from: cca.to_string() },
                )
            });
        }
    }
    let docs = e.docs.clone();
    for d in docs.iter().copied().filter(|d| d.is(&["TEMPOUT_PROPOSAL"])) {
        e.must_copy("S15", Basis::Statutory, d, &[AgencyRole::Procuratorate]);
    }
    for d in docs.iter().copied().filter(|d| d.is(&["TEMPOUT_DECISION"])) {
        let consulted = docs.iter().any(|o| o.is(&["PROC_OPINION"]) && o.height <= d.height);
        if !consulted {
            e.breach(
                "S15",
                Basis::Statutory,
                d,
                "hear the procuratorate's opinion before deciding 暂予监外执行".into(),
                Some(Missing::Document { types: vec!["PROC_OPINION".into()], from: "procuratorate".into() }),
            );
        }
    }
}

/// S17: after a transfer decision, the subject registered at the new CCA within
/// XFER_SUBJECT_REPORT, the decision copied to the procuratorate and the police [K].
fn s17_transfer(e: &mut Eval<'_, '_>) {
    let p = e.ctx.params;
    let docs = e.docs.clone();
    for t in docs.iter().copied().filter(|d| d.is(&["TRANSFER_DECISION"])) {
        let roles = e.ctx.roles;
        for new_cca in t.recipients.iter().filter(|a| roles.get(*a) == Some(&AgencyRole::Justice)) {
            let intake = e.first_after(t, &["TRANSFER_INTAKE"], Some(new_cca));
            let received = t.receipt(new_cca).map(|r| r.date).unwrap_or(t.anchored);
            e.duty(
                "S17",
                Basis::Configurable,
                new_cca,
                received,
                &p.transfer_report,
                intake.map(|i| (i, i.dates.received.unwrap_or(i.anchored))),
                || {
                    (
                        "register the transferred subject (TRANSFER_INTAKE)".into(),
                        vec![proof("transfer decided", t)],
                        Missing::Document { types: vec!["TRANSFER_INTAKE".into()], from: new_cca.to_string() },
                    )
                },
            );
        }
        e.must_copy("S17", Basis::Configurable, t, &[AgencyRole::Procuratorate, AgencyRole::Police]);
    }
}

/// S18: every agency a correction opinion or recommendation is addressed to replies within
/// the provincial period [P].
fn s18_replies(e: &mut Eval<'_, '_>) {
    let p = e.ctx.params;
    let docs = e.docs.clone();
    for op in docs.iter().copied().filter(|d| d.is(&["CORRECTION_OPINION", "PROCURATORIAL_RECOMMENDATION"])) {
        for to in &op.recipients {
            let reply = e.first_after(op, &["CORRECTION_REPLY"], Some(to));
            e.duty(
                "S18",
                Basis::Configurable,
                to,
                op.anchored,
                &p.correction_reply,
                reply.map(|r| (r, r.anchored)),
                || {
                    (
                        format!("reply to the {} ({})", op.doc_type, short(&op.doc_hash)),
                        vec![proof(format!("{} from {}", op.doc_type, op.issuer), op)],
                        Missing::Document { types: vec!["CORRECTION_REPLY".into()], from: to.to_string() },
                    )
                },
            );
        }
    }
}

//! The case workflow (domain.md §2–§3): which agency may anchor which document type, in which
//! case state, for which kind of subject, with which business dates — and how the document
//! moves the case.
//!
//! This module is a pure function, [`apply`], from the case as it stands and the document being
//! anchored to the case after it, or to a [`WorkflowError`] that says what was expected. The
//! rules are the law's (the [L] rows of domain.md); deadlines are not enforced here (a late
//! document is still a lawful document) but found by the supervision queries.
//!
//! Summary of the rules (issuer → transition):
//!
//! | Document | Issuer | From | To |
//! |---|---|---|---|
//! | `ASSESS_REQ` 调查评估委托函 | court, procuratorate, police, prison; to a CCA | no case | AssessmentRequested |
//! | `ASSESS_OPINION` 调查评估意见书 | the commissioned CCA | AssessmentRequested | AssessmentSubmitted |
//! | `PAROLE_PROPOSAL` 假释建议书 | prison | no case, assessment | Proposed |
//! | `TEMPOUT_PROPOSAL` 暂外书面意见 | prison, police (看守所) | no case, assessment | Proposed |
//! | `PROC_OPINION` | procuratorate | assessment, Proposed, Decided (objection) | — |
//! | `GUARANTOR_CHECK` | prison or police | Proposed, Decided, UnderSupervision | — |
//! | `JUDGMENT` 判决书 (管制, 缓刑) | court; to a CCA | no case, assessment, Proposed | Decided |
//! | `RULING` 假释裁定书 | court; to a CCA | same | Decided |
//! | `TEMPOUT_DECISION` 暂外决定书 | court; to a CCA | same | Decided |
//! | `TEMPOUT_APPROVAL` 暂外批准书 | prison administration or police; to a CCA | same | Decided |
//! | `EXEC_NOTICE`, `CCA_NOTICE` | the deciding agency | Decided | — |
//! | `PAROLE_CERT` 假释证明书 | court or prison (假释) | Decided | — |
//! | `HANDOVER` 交付接收 | prison (假释, prison-approved 暂外), police (other 暂外) | Decided | — (handed over) |
//! | `INTAKE` 接收登记 | the case's CCA (暂外: after the handover) | Decided | Received |
//! | `ANNOUNCE` 入矫宣告 | the case's CCA | Received | UnderSupervision |
//! | supervision documents (leave, warning, tag, review, reduction …) | the case's CCA, police, court as listed | UnderSupervision | — |
//! | `TRANSFER_DECISION` 变更执行地决定 | the case's CCA; to the new CCA | UnderSupervision | Transferred (the new CCA is the case's) |
//! | `TRANSFER_INTAKE` 变更后接收 | the new CCA | Transferred | UnderSupervision |
//! | `REVOKE_PROPOSAL` 撤销缓刑/假释建议书 | the case's CCA (缓刑, 假释) | UnderSupervision | RevocationProposed |
//! | `COMMIT_PROPOSAL` 收监执行建议书 | the case's CCA (暂外) | UnderSupervision | RevocationProposed |
//! | `ARREST_REQ` 提请逮捕 | the case's CCA (缓刑, 假释) | RevocationProposed | ArrestRequested |
//! | `ARREST_DECISION` 逮捕决定 | court | ArrestRequested | RevocationProposed |
//! | `REVOKE_RULING` / `REVOKE_REJECTED` | court (缓刑, 假释) | RevocationProposed, ArrestRequested | Committed / UnderSupervision |
//! | `COMMIT_DECISION` / `COMMIT_REJECTED` | the deciding body's kind (暂外) | RevocationProposed | Committed / UnderSupervision |
//! | `COMMITTED` 收监记录 | prison (prison-approved 暂外), else police | Committed | Terminated(revoked or committed) |
//! | `MANHUNT` 追逃 | police | Committed | — |
//! | `RELEASE_CERT` 解除证明书 | the case's CCA; prison or police for 暂外 | UnderSupervision | Released |
//! | `DEATH_NOTICE` 死亡通知 | the case's CCA | Decided … Committed | Terminated(death) |
//! | `CORRECTION_OPINION`, `PROCURATORIAL_RECOMMENDATION` | procuratorate | any | — |
//! | `CORRECTION_REPLY` | any agency but the procuratorate | any | — |
//! | `LETTER` 公函 (general correspondence) | any agency | any, or no case (then no case is opened) | — |

use core::fmt;

use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode};
use serde::Serialize;

use custos_primitives::types::{AgencyId, AgencyRole, CaseRef};

use crate::call::{BusinessDates, Date, DocType, SubjectKind};
use crate::governance::ChainParams;

/// Where a case stands (domain.md §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    /// 委托调查评估.
    #[codec(index = 0)]
    AssessmentRequested,
    /// 调查评估意见已提交.
    #[codec(index = 1)]
    AssessmentSubmitted,
    /// 假释 or 暂外 proposed (提请), awaiting the decision.
    #[codec(index = 2)]
    Proposed,
    /// Decision in force (判决/裁定/决定/批准 生效); documents go to the CCA.
    #[codec(index = 3)]
    Decided,
    /// Intake registered, file opened (接收登记、建档).
    #[codec(index = 4)]
    Received,
    /// Announced, under supervision (入矫宣告, 执行中).
    #[codec(index = 5)]
    UnderSupervision,
    /// Revocation of 缓刑/假释 or return to custody (收监) proposed.
    #[codec(index = 6)]
    RevocationProposed,
    /// Arrest requested from the court (48 h).
    #[codec(index = 7)]
    ArrestRequested,
    /// Revoked or return to custody decided; awaiting admission.
    #[codec(index = 8)]
    Committed,
    /// 解除 (release).
    #[codec(index = 9)]
    Released,
    /// 终止 (termination).
    #[codec(index = 10)]
    Terminated(TerminationReason),
    /// 变更执行地: the place of execution changes; the new CCA has not registered the subject
    /// yet. The case's `cca` is already the new CCA.
    #[codec(index = 11)]
    Transferred,
}

impl CaseState {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::AssessmentRequested => "assessment_requested",
            CaseState::AssessmentSubmitted => "assessment_submitted",
            CaseState::Proposed => "proposed",
            CaseState::Decided => "decided",
            CaseState::Received => "received",
            CaseState::UnderSupervision => "under_supervision",
            CaseState::RevocationProposed => "revocation_proposed",
            CaseState::ArrestRequested => "arrest_requested",
            CaseState::Committed => "committed",
            CaseState::Released => "released",
            CaseState::Terminated(TerminationReason::Revoked) => "terminated(revoked)",
            CaseState::Terminated(TerminationReason::Committed) => "terminated(committed)",
            CaseState::Terminated(TerminationReason::Death) => "terminated(death)",
            CaseState::Transferred => "transferred",
        }
    }

    /// Released or terminated.
    pub fn is_closed(self) -> bool {
        matches!(self, CaseState::Released | CaseState::Terminated(_))
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a case was terminated (终止, Law Art.45).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminationReason {
    /// 缓刑/假释 revoked.
    #[codec(index = 0)]
    Revoked,
    /// 暂外 ended by 收监执行.
    #[codec(index = 1)]
    Committed,
    /// The subject died.
    #[codec(index = 2)]
    Death,
}

/// A case as the ledger knows it: no personal data, only the pseudonymous reference, the kind,
/// the agencies and the dates the law's deadlines run from.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, Serialize)]
pub struct CaseRecord {
    /// Pseudonymous reference.
    pub case_ref: CaseRef,
    /// Kind of subject, once decided (or proposed).
    pub kind: Option<SubjectKind>,
    /// Where it stands.
    pub state: CaseState,
    /// The agency that commissioned the investigation assessment.
    pub commissioned_by: Option<AgencyId>,
    /// The deciding body (社区矫正决定机关).
    pub deciding_body: Option<AgencyId>,
    /// The CCA at the place of execution.
    pub cca: Option<AgencyId>,
    /// The day the decision took effect.
    pub decision_effective: Option<Date>,
    /// The end of the correction period (or of the sentence, for 暂外).
    pub correction_end: Option<Date>,
    /// 暂外 (or 假释): the custodial body has handed the subject over.
    pub handed_over: bool,
    /// Number of documents in the case's history.
    pub events: u32,
    /// Height of the first document.
    pub opened_at: u64,
    /// Height of the latest document.
    pub updated_at: u64,
}

/// Which business date a document lacks or gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DateField {
    /// `effective`.
    #[codec(index = 0)]
    Effective,
    /// `received`.
    #[codec(index = 1)]
    Received,
    /// `period_start`.
    #[codec(index = 2)]
    PeriodStart,
    /// `period_end`.
    #[codec(index = 3)]
    PeriodEnd,
}

impl fmt::Display for DateField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DateField::Effective => "effective date",
            DateField::Received => "received date",
            DateField::PeriodStart => "period start",
            DateField::PeriodEnd => "period end",
        })
    }
}

/// A state a document may be anchored in: `None` is "no case yet".
pub type Phase = Option<CaseState>;

/// Why a document may not be anchored now. Each says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, thiserror::Error)]
pub enum WorkflowError {
    /// Not a document type of the workflow.
    #[codec(index = 0)]
    #[error("unknown document type {0}: see `custos doc-types` for the codes")]
    UnknownDocType(DocType),
    /// The case is not in a state this document may be anchored in.
    #[codec(index = 1)]
    #[error("{doc_type} cannot be anchored when the case is {}: expected {}", phase(found), phases(expected))]
    WrongState {
        /// Document type.
        doc_type: DocType,
        /// Where the case stands.
        found: Phase,
        /// Where it would have to stand.
        expected: Vec<Phase>,
    },
    /// The issuing agency's kind may not issue this document.
    #[codec(index = 2)]
    #[error("{doc_type} must be issued by {}, not by a {found}", roles(expected))]
    WrongIssuer {
        /// Document type.
        doc_type: DocType,
        /// The issuer's kind.
        found: AgencyRole,
        /// Kinds that may issue it.
        expected: Vec<AgencyRole>,
    },
    /// Only a particular agency of the case may issue this document.
    #[codec(index = 3)]
    #[error("{doc_type} for this case must be issued by {expected} ({what}), not by {found}")]
    NotCaseAgency {
        /// Document type.
        doc_type: DocType,
        /// The agency that must issue it.
        expected: AgencyId,
        /// Its part in the case.
        what: String,
        /// The issuer.
        found: AgencyId,
    },
    /// The document does not apply to this kind of subject.
    #[codec(index = 4)]
    #[error("{doc_type} does not apply to a {} case: it applies to {}", kind_name(found), kinds(expected))]
    WrongKind {
        /// Document type.
        doc_type: DocType,
        /// The case's kind.
        found: Option<SubjectKind>,
        /// Kinds it applies to.
        expected: Vec<SubjectKind>,
    },
    /// A deciding document without the subject kind.
    #[codec(index = 5)]
    #[error("{doc_type} decides the case and must state the subject kind ({})", kinds(expected))]
    MissingKind {
        /// Document type.
        doc_type: DocType,
        /// Kinds it may decide.
        expected: Vec<SubjectKind>,
    },
    /// The document must be addressed to an agency of this kind.
    #[codec(index = 6)]
    #[error("{doc_type} must be addressed (送达) to a {role}")]
    MissingRecipient {
        /// Document type.
        doc_type: DocType,
        /// Kind of agency.
        role: AgencyRole,
    },
    /// A business date the document type needs is missing.
    #[codec(index = 7)]
    #[error("{doc_type} needs its {field}")]
    MissingDate {
        /// Document type.
        doc_type: DocType,
        /// The date.
        field: DateField,
    },
    /// A date of a past fact lies after the block's date plus the tolerance.
    #[codec(index = 8)]
    #[error("{field} {date} is later than {latest} (the block's date plus the tolerance)")]
    DateTooLate {
        /// The date.
        field: DateField,
        /// Its value.
        date: Date,
        /// Latest accepted.
        latest: Date,
    },
    /// A date lies too far in the past.
    #[codec(index = 9)]
    #[error("{field} {date} is earlier than {earliest} (the block's date minus the back-dating limit)")]
    DateTooEarly {
        /// The date.
        field: DateField,
        /// Its value.
        date: Date,
        /// Earliest accepted.
        earliest: Date,
    },
    /// A period that ends before it starts, or is longer than the law allows.
    #[codec(index = 10)]
    #[error("period {start} – {end} is invalid: {reason}")]
    BadPeriod {
        /// Start.
        start: Date,
        /// End.
        end: Date,
        /// Why.
        reason: String,
    },
    /// A date earlier than the decision it follows.
    #[codec(index = 11)]
    #[error("{field} {date} is before the decision took effect ({decided})")]
    BeforeDecision {
        /// The date.
        field: DateField,
        /// Its value.
        date: Date,
        /// The decision's effective date.
        decided: Date,
    },
    /// 暂外 intake before the custodial body handed the subject over.
    #[codec(index = 12)]
    #[error("intake of a {kind} case needs the HANDOVER by the {custodian} first")]
    HandoverMissing {
        /// The case's kind.
        kind: SubjectKind,
        /// Who must hand over.
        custodian: AgencyRole,
    },
}

/// A phase as text (`not yet opened` before the case exists).
pub fn phase(p: &Phase) -> String {
    match p {
        None => "not yet opened".into(),
        Some(s) => s.as_str().into(),
    }
}
fn phases(ps: &[Phase]) -> String {
    ps.iter().map(phase).collect::<Vec<_>>().join(" or ")
}
fn roles(rs: &[AgencyRole]) -> String {
    rs.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" or ")
}
fn kinds(ks: &[SubjectKind]) -> String {
    ks.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}
fn kind_name(k: &Option<SubjectKind>) -> &'static str {
    k.map(SubjectKind::as_str).unwrap_or("undecided")
}

/// The document being anchored, as the workflow sees it.
#[derive(Clone, Debug)]
pub struct Document<'a> {
    /// Type code.
    pub doc_type: &'a DocType,
    /// Case.
    pub case_ref: CaseRef,
    /// Issuing agency and its kind.
    pub issuer: (&'a AgencyId, AgencyRole),
    /// Recipients (送达) and their kinds.
    pub recipients: &'a [(AgencyId, AgencyRole)],
    /// Business dates.
    pub dates: &'a BusinessDates,
    /// Subject kind stated by the document.
    pub subject_kind: Option<SubjectKind>,
    /// Height it is anchored at.
    pub height: u64,
    /// The block's date (China Standard Time).
    pub today: Date,
}

use AgencyRole::{Court, Justice, Police, Prison, Procuratorate};
use CaseState::*;
use SubjectKind::*;

const PRE_DECISION: [Phase; 4] = [None, Some(AssessmentRequested), Some(AssessmentSubmitted), Some(Proposed)];
const BEFORE_PROPOSAL: [Phase; 3] = [None, Some(AssessmentRequested), Some(AssessmentSubmitted)];
const ACTIVE: [Phase; 5] =
    [Some(Received), Some(UnderSupervision), Some(RevocationProposed), Some(ArrestRequested), Some(Committed)];
const NON_CUSTODIAL: [SubjectKind; 3] = [Control, Probation, Parole];
const TEMP_OUTSIDE: [SubjectKind; 3] = [TempOutsideCourt, TempOutsidePrison, TempOutsidePolice];
const REVOCABLE: [SubjectKind; 2] = [Probation, Parole];

/// Every document type code the workflow knows, in a stable order.
pub const DOC_TYPES: &[&str] = &[
    "ASSESS_REQ",
    "ASSESS_OPINION",
    "PAROLE_PROPOSAL",
    "TEMPOUT_PROPOSAL",
    "PROC_OPINION",
    "GUARANTOR_CHECK",
    "JUDGMENT",
    "RULING",
    "TEMPOUT_DECISION",
    "TEMPOUT_APPROVAL",
    "EXEC_NOTICE",
    "CCA_NOTICE",
    "PAROLE_CERT",
    "HANDOVER",
    "INTAKE",
    "ANNOUNCE",
    "LEAVE_APPROVAL",
    "LEAVE_RETURN",
    "EXIT_CONTROL_FILING",
    "ADMONITION",
    "WARNING",
    "ETAG_APPROVAL",
    "ETAG_REMOVAL",
    "TEMPOUT_REVIEW",
    "TRANSFER_DECISION",
    "TRANSFER_INTAKE",
    "POLICE_PENALTY_REQ",
    "POLICE_PENALTY_DECISION",
    "COERCIVE_MEASURE_NOTICE",
    "REDUCTION_PROPOSAL",
    "REDUCTION_RULING",
    "REVOKE_PROPOSAL",
    "COMMIT_PROPOSAL",
    "ARREST_REQ",
    "ARREST_DECISION",
    "REVOKE_RULING",
    "REVOKE_REJECTED",
    "COMMIT_DECISION",
    "COMMIT_REJECTED",
    "COMMITTED",
    "MANHUNT",
    "RELEASE_CERT",
    "DEATH_NOTICE",
    "CORRECTION_OPINION",
    "PROCURATORIAL_RECOMMENDATION",
    "CORRECTION_REPLY",
    "LETTER",
    "LOST_CONTACT",
    "CONTACT_RESTORED",
];

/// Who must issue a document.
enum Issuer {
    /// Any agency of these kinds.
    Roles(&'static [AgencyRole]),
    /// Any agency but these kinds.
    NotRoles(&'static [AgencyRole]),
    /// The case's CCA.
    CaseCca,
    /// The case's deciding body.
    DecidingBody,
}

/// What a document does to the case.
enum Effect {
    /// Opens or moves the case to this state.
    To(CaseState),
    /// Records a decision (see [`decide`]).
    Decide,
    /// Records the handover.
    Handover,
    /// Registers intake (checks the handover and the received date).
    Intake,
    /// Hands the case to the CCA of the new place of execution (a recipient).
    Transfer,
    /// Leaves the state as it is.
    None,
}

struct Rule {
    issuer: Issuer,
    from: &'static [Phase],
    kinds: Option<&'static [SubjectKind]>,
    effect: Effect,
    needs: &'static [DateField],
}

fn rule(code: &str, case_kind: Option<SubjectKind>) -> Option<Rule> {
    use DateField::{Effective, PeriodEnd, PeriodStart, Received as ReceivedDate};
    use Issuer::*;
    let r = |issuer, from, kinds, effect, needs| Some(Rule { issuer, from, kinds, effect, needs });
    const UNDER: &[Phase] = &[Some(UnderSupervision)];
    match code {
        "ASSESS_REQ" => {
            r(Roles(&[Court, Procuratorate, Police, Prison]), &[None], None, Effect::To(AssessmentRequested), &[])
        }
        "ASSESS_OPINION" => r(CaseCca, &[Some(AssessmentRequested)], None, Effect::To(AssessmentSubmitted), &[]),
        "PAROLE_PROPOSAL" => r(Roles(&[Prison]), &BEFORE_PROPOSAL, None, Effect::To(Proposed), &[]),
        "TEMPOUT_PROPOSAL" => r(Roles(&[Prison, Police]), &BEFORE_PROPOSAL, None, Effect::To(Proposed), &[]),
        // Before the decision (R Art.630) and after it (the objection of R Art.632).
        "PROC_OPINION" => r(
            Roles(&[Procuratorate]),
            &[Some(AssessmentRequested), Some(AssessmentSubmitted), Some(Proposed), Some(Decided)],
            None,
            Effect::None,
            &[],
        ),
        "GUARANTOR_CHECK" => r(
            Roles(&[Prison, Police]),
            &[Some(Proposed), Some(Decided), Some(UnderSupervision)],
            None,
            Effect::None,
            &[],
        ),
        "JUDGMENT" | "RULING" | "TEMPOUT_DECISION" | "TEMPOUT_APPROVAL" => {
            let roles: &'static [AgencyRole] = if code == "TEMPOUT_APPROVAL" { &[Prison, Police] } else { &[Court] };
            // Without a kind the decision is refused for that (`MissingKind`), not for a
            // period it may not need.
            let needs: &'static [DateField] = match case_kind {
                Some(k) if !k.is_temp_outside() => &[Effective, PeriodStart, PeriodEnd],
                _ => &[Effective],
            };
            r(Roles(roles), &PRE_DECISION, None, Effect::Decide, needs)
        }
        "EXEC_NOTICE" | "CCA_NOTICE" => r(DecidingBody, &[Some(Decided)], None, Effect::None, &[]),
        "PAROLE_CERT" => r(Roles(&[Court, Prison]), &[Some(Decided)], Some(&[Parole]), Effect::None, &[]),
        "HANDOVER" => {
            let custodian: &'static [AgencyRole] = match case_kind {
                Some(Parole | TempOutsidePrison) => &[Prison],
                _ => &[Police],
            };
            r(
                Roles(custodian),
                &[Some(Decided)],
                Some(&[Parole, TempOutsideCourt, TempOutsidePrison, TempOutsidePolice]),
                Effect::Handover,
                &[],
            )
        }
        "INTAKE" => r(CaseCca, &[Some(Decided)], None, Effect::Intake, &[ReceivedDate]),
        "ANNOUNCE" => r(CaseCca, &[Some(Received)], None, Effect::To(UnderSupervision), &[]),
        "LEAVE_APPROVAL"
        | "LEAVE_RETURN"
        | "EXIT_CONTROL_FILING"
        | "ADMONITION"
        | "WARNING"
        | "ETAG_APPROVAL"
        | "ETAG_REMOVAL"
        | "POLICE_PENALTY_REQ"
        | "REDUCTION_PROPOSAL" => r(CaseCca, UNDER, None, Effect::None, &[]),
        "TEMPOUT_REVIEW" => r(CaseCca, UNDER, Some(&TEMP_OUTSIDE), Effect::None, &[]),
        // 变更执行地 (Law Art.27): the CCA decides and sends the file to the new CCA, which
        // registers the subject.
        "TRANSFER_DECISION" => r(CaseCca, UNDER, None, Effect::Transfer, &[Effective]),
        "TRANSFER_INTAKE" => r(CaseCca, &[Some(Transferred)], None, Effect::To(UnderSupervision), &[ReceivedDate]),
        "POLICE_PENALTY_DECISION" => r(Roles(&[Police]), UNDER, None, Effect::None, &[]),
        "COERCIVE_MEASURE_NOTICE" => r(Roles(&[Police, Court, Procuratorate]), &ACTIVE[..4], None, Effect::None, &[]),
        "REDUCTION_RULING" => r(Roles(&[Court]), UNDER, None, Effect::None, &[Effective]),
        "REVOKE_PROPOSAL" => r(CaseCca, UNDER, Some(&REVOCABLE), Effect::To(RevocationProposed), &[]),
        "COMMIT_PROPOSAL" => r(CaseCca, UNDER, Some(&TEMP_OUTSIDE), Effect::To(RevocationProposed), &[]),
        "ARREST_REQ" => r(CaseCca, &[Some(RevocationProposed)], Some(&REVOCABLE), Effect::To(ArrestRequested), &[]),
        "ARREST_DECISION" => {
            r(Roles(&[Court]), &[Some(ArrestRequested)], Some(&REVOCABLE), Effect::To(RevocationProposed), &[])
        }
        "REVOKE_RULING" | "REVOKE_REJECTED" => {
            let to = if code == "REVOKE_RULING" { Committed } else { UnderSupervision };
            r(
                Roles(&[Court]),
                &[Some(RevocationProposed), Some(ArrestRequested)],
                Some(&REVOCABLE),
                Effect::To(to),
                &[Effective],
            )
        }
        "COMMIT_DECISION" | "COMMIT_REJECTED" => {
            let to = if code == "COMMIT_DECISION" { Committed } else { UnderSupervision };
            let roles: &'static [AgencyRole] = match case_kind {
                Some(TempOutsidePrison) => &[Prison],
                Some(TempOutsidePolice) => &[Police],
                _ => &[Court],
            };
            r(Roles(roles), &[Some(RevocationProposed)], Some(&TEMP_OUTSIDE), Effect::To(to), &[Effective])
        }
        "COMMITTED" => {
            let reason = if case_kind.is_some_and(SubjectKind::is_temp_outside) {
                TerminationReason::Committed
            } else {
                TerminationReason::Revoked
            };
            // The prison takes back those whose 收监 the prison administration decided; the
            // police carry out every other revocation or 收监 (Law Art.48 para 3, 49 paras 3–4).
            let by: &'static [AgencyRole] = if case_kind == Some(TempOutsidePrison) { &[Prison] } else { &[Police] };
            r(Roles(by), &[Some(Committed)], None, Effect::To(Terminated(reason)), &[Effective])
        }
        "MANHUNT" => r(Roles(&[Police]), &[Some(Committed)], None, Effect::None, &[]),
        "RELEASE_CERT" => match case_kind {
            Some(k) if k.is_temp_outside() => {
                r(Roles(&[Prison, Police]), UNDER, None, Effect::To(Released), &[Effective])
            }
            _ => r(CaseCca, UNDER, Some(&NON_CUSTODIAL), Effect::To(Released), &[Effective]),
        },
        "DEATH_NOTICE" => r(
            CaseCca,
            &[
                Some(Decided),
                Some(Received),
                Some(UnderSupervision),
                Some(RevocationProposed),
                Some(ArrestRequested),
                Some(Committed),
            ],
            None,
            Effect::To(Terminated(TerminationReason::Death)),
            &[Effective],
        ),
        "CORRECTION_OPINION" | "PROCURATORIAL_RECOMMENDATION" => {
            r(Roles(&[Procuratorate]), ANY, None, Effect::None, &[])
        }
        "CORRECTION_REPLY" => r(NotRoles(&[Procuratorate]), ANY, None, Effect::None, &[]),
        "LETTER" => r(NotRoles(&[]), ANY_OR_NONE, None, Effect::None, &[]),
        // 脱管 (Law Art.30): the CCA records the day contact was lost and the day it was
        // restored; supervision (S07) checks the search, the notices and the escalation.
        "LOST_CONTACT" | "CONTACT_RESTORED" => r(CaseCca, UNDER, None, Effect::None, &[Effective]),
        _ => None,
    }
}

/// Every phase and no case at all.
const ANY_OR_NONE: &[Phase] = &[
    None,
    Some(AssessmentRequested),
    Some(AssessmentSubmitted),
    Some(Proposed),
    Some(Decided),
    Some(Received),
    Some(UnderSupervision),
    Some(RevocationProposed),
    Some(ArrestRequested),
    Some(Committed),
    Some(Released),
    Some(Terminated(TerminationReason::Revoked)),
    Some(Terminated(TerminationReason::Committed)),
    Some(Terminated(TerminationReason::Death)),
    Some(Transferred),
];

/// Every phase, for documents allowed at any time of an opened case.
const ANY: &[Phase] = ANY_OR_NONE.split_at(1).1;

/// The kinds a deciding document may decide, given its issuer.
fn decidable(code: &str, issuer: AgencyRole) -> &'static [SubjectKind] {
    match (code, issuer) {
        ("JUDGMENT", _) => &[Control, Probation],
        ("RULING", _) => &[Parole],
        ("TEMPOUT_DECISION", _) => &[TempOutsideCourt],
        ("TEMPOUT_APPROVAL", Prison) => &[TempOutsidePrison],
        ("TEMPOUT_APPROVAL", _) => &[TempOutsidePolice],
        _ => &[],
    }
}

/// Applies a document to its case: the case after it (`None` for a letter about a case not
/// opened yet), or why it may not be anchored now.
pub fn apply(
    case: Option<&CaseRecord>,
    doc: &Document<'_>,
    params: &ChainParams,
) -> Result<Option<CaseRecord>, WorkflowError> {
    let code = doc.doc_type.as_str();
    let (issuer, issuer_role) = doc.issuer;
    // A deciding document brings the kind; every other document uses the case's.
    let deciding = matches!(code, "JUDGMENT" | "RULING" | "TEMPOUT_DECISION" | "TEMPOUT_APPROVAL");
    let kind = if deciding { doc.subject_kind } else { case.and_then(|c| c.kind) };
    let rule = rule(code, kind).ok_or_else(|| WorkflowError::UnknownDocType(doc.doc_type.clone()))?;

    let found: Phase = case.map(|c| c.state);
    if !rule.from.contains(&found) {
        return Err(WorkflowError::WrongState { doc_type: doc.doc_type.clone(), found, expected: rule.from.to_vec() });
    }
    check_issuer(&rule.issuer, case, doc)?;
    if let Some(allowed) = rule.kinds
        && !kind.is_some_and(|k| allowed.contains(&k))
    {
        return Err(WorkflowError::WrongKind {
            doc_type: doc.doc_type.clone(),
            found: kind,
            expected: allowed.to_vec(),
        });
    }
    check_dates(doc, rule.needs, params)?;
    if case.is_none() && matches!(rule.effect, Effect::None) {
        return Ok(None);
    }

    let mut next = match case {
        Some(c) => c.clone(),
        None => CaseRecord {
            case_ref: doc.case_ref,
            kind: None,
            state: AssessmentRequested,
            commissioned_by: None,
            deciding_body: None,
            cca: None,
            decision_effective: None,
            correction_end: None,
            handed_over: false,
            events: 0,
            opened_at: doc.height,
            updated_at: doc.height,
        },
    };
    match rule.effect {
        Effect::To(state) => {
            if state == AssessmentRequested {
                next.commissioned_by = Some(issuer.clone());
                next.cca = Some(addressed_to(doc, Justice)?);
            }
            if state == Proposed {
                // The proposal names the kind the decision will take.
                next.kind = match (code, issuer_role) {
                    ("PAROLE_PROPOSAL", _) => Some(Parole),
                    (_, Prison) => Some(TempOutsidePrison),
                    _ => Some(TempOutsidePolice),
                };
            }
            next.state = state;
        }
        Effect::Decide => decide(&mut next, doc)?,
        Effect::Handover => next.handed_over = true,
        Effect::Transfer => {
            let new = doc
                .recipients
                .iter()
                .find(|(a, r)| *r == Justice && Some(a) != next.cca.as_ref())
                .map(|(a, _)| a.clone())
                .ok_or_else(|| WorkflowError::MissingRecipient { doc_type: doc.doc_type.clone(), role: Justice })?;
            next.cca = Some(new);
            next.state = Transferred;
        }
        Effect::Intake => {
            let k = next.kind.unwrap_or(Control);
            if k.is_temp_outside() && !next.handed_over {
                let custodian = if k == TempOutsidePrison { Prison } else { Police };
                return Err(WorkflowError::HandoverMissing { kind: k, custodian });
            }
            if let (Some(received), Some(decided)) = (doc.dates.received, next.decision_effective)
                && received < decided
            {
                return Err(WorkflowError::BeforeDecision { field: DateField::Received, date: received, decided });
            }
            next.state = Received;
        }
        Effect::None => {}
    }
    next.events = next.events.saturating_add(1);
    next.updated_at = doc.height;
    Ok(Some(next))
}

/// Records a deciding document: kind, deciding body, CCA, dates.
fn decide(next: &mut CaseRecord, doc: &Document<'_>) -> Result<(), WorkflowError> {
    let code = doc.doc_type.as_str();
    let allowed = decidable(code, doc.issuer.1);
    let kind = match doc.subject_kind {
        Some(k) if allowed.contains(&k) => k,
        Some(k) => {
            return Err(WorkflowError::WrongKind {
                doc_type: doc.doc_type.clone(),
                found: Some(k),
                expected: allowed.to_vec(),
            });
        }
        None => return Err(WorkflowError::MissingKind { doc_type: doc.doc_type.clone(), expected: allowed.to_vec() }),
    };
    // A proposal fixes the kind the decision must take: a prison's 假释 proposal is decided by
    // a court ruling, its 暂外 proposal by the prison administration, a 看守所's by the police.
    if next.state == Proposed
        && let Some(proposed) = next.kind
        && proposed != kind
    {
        return Err(WorkflowError::WrongKind {
            doc_type: doc.doc_type.clone(),
            found: Some(kind),
            expected: vec![proposed],
        });
    }
    next.kind = Some(kind);
    next.deciding_body = Some(doc.issuer.0.clone());
    next.cca = Some(addressed_to(doc, Justice)?);
    next.decision_effective = doc.dates.effective;
    next.correction_end = doc.dates.period_end;
    next.state = Decided;
    Ok(())
}

fn addressed_to(doc: &Document<'_>, role: AgencyRole) -> Result<AgencyId, WorkflowError> {
    doc.recipients
        .iter()
        .find(|(_, r)| *r == role)
        .map(|(a, _)| a.clone())
        .ok_or_else(|| WorkflowError::MissingRecipient { doc_type: doc.doc_type.clone(), role })
}

fn check_issuer(rule: &Issuer, case: Option<&CaseRecord>, doc: &Document<'_>) -> Result<(), WorkflowError> {
    let (issuer, role) = doc.issuer;
    let must_be = |expected: &Option<AgencyId>, what: &str, fallback: AgencyRole| match expected {
        Some(a) if a == issuer => Ok(()),
        Some(a) => Err(WorkflowError::NotCaseAgency {
            doc_type: doc.doc_type.clone(),
            expected: a.clone(),
            what: what.into(),
            found: issuer.clone(),
        }),
        None if role == fallback => Ok(()),
        None => {
            Err(WorkflowError::WrongIssuer { doc_type: doc.doc_type.clone(), found: role, expected: vec![fallback] })
        }
    };
    match rule {
        Issuer::Roles(roles) if roles.contains(&role) => Ok(()),
        Issuer::Roles(roles) => {
            Err(WorkflowError::WrongIssuer { doc_type: doc.doc_type.clone(), found: role, expected: roles.to_vec() })
        }
        Issuer::NotRoles(roles) if !roles.contains(&role) => Ok(()),
        Issuer::NotRoles(roles) => Err(WorkflowError::WrongIssuer {
            doc_type: doc.doc_type.clone(),
            found: role,
            expected: AgencyRole::ALL.into_iter().filter(|r| !roles.contains(r)).collect(),
        }),
        Issuer::CaseCca => must_be(&case.and_then(|c| c.cca.clone()), "the CCA at the place of execution", Justice),
        Issuer::DecidingBody => must_be(&case.and_then(|c| c.deciding_body.clone()), "the deciding body", Court),
    }
}

fn check_dates(doc: &Document<'_>, needs: &[DateField], params: &ChainParams) -> Result<(), WorkflowError> {
    let d = doc.dates;
    for field in needs {
        let present = match field {
            DateField::Effective => d.effective.is_some(),
            DateField::Received => d.received.is_some(),
            DateField::PeriodStart => d.period_start.is_some(),
            DateField::PeriodEnd => d.period_end.is_some(),
        };
        if !present {
            return Err(WorkflowError::MissingDate { doc_type: doc.doc_type.clone(), field: *field });
        }
    }
    let latest = doc.today.plus_days(params.future_tolerance_days as i32);
    let earliest = doc.today.plus_days(-(params.max_backdate_days as i32));
    // Past facts: not in the future (beyond the tolerance), not absurdly early.
    for (field, date) in [(DateField::Effective, d.effective), (DateField::Received, d.received)] {
        let Some(date) = date else { continue };
        if date > latest {
            return Err(WorkflowError::DateTooLate { field, date, latest });
        }
        if date < earliest {
            return Err(WorkflowError::DateTooEarly { field, date, earliest });
        }
    }
    if let Some(start) = d.period_start
        && start < earliest
    {
        return Err(WorkflowError::DateTooEarly { field: DateField::PeriodStart, date: start, earliest });
    }
    if let (Some(start), Some(end)) = (d.period_start, d.period_end) {
        if end <= start {
            return Err(WorkflowError::BadPeriod { start, end, reason: "it ends before it starts".into() });
        }
        if end.0 - start.0 > params.max_period_days as i32 {
            return Err(WorkflowError::BadPeriod {
                start,
                end,
                reason: format!("longer than {} days", params.max_period_days),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    fn id(s: &str) -> AgencyId {
        AgencyId::new(s).unwrap()
    }

    fn day(n: i32) -> Date {
        Date::parse("2026-06-01").unwrap().plus_days(n)
    }

    /// The agency of each kind, named after it.
    fn of(role: AgencyRole) -> AgencyId {
        id(role.as_str())
    }

    /// Applies `code` issued by the agency of `role` to `case`, addressed to the CCA and the
    /// court, dated today, stating `kind`.
    fn run(
        case: Option<&CaseRecord>,
        code: &str,
        role: AgencyRole,
        kind: Option<SubjectKind>,
        dates: BusinessDates,
    ) -> Result<Option<CaseRecord>, WorkflowError> {
        let doc_type = DocType::new(code).unwrap();
        let issuer = of(role);
        let recipients = [(of(Justice), Justice), (of(Court), Court)];
        let doc = Document {
            doc_type: &doc_type,
            case_ref: CaseRef::default(),
            issuer: (&issuer, role),
            recipients: &recipients,
            dates: &dates,
            subject_kind: kind,
            height: 10 + case.map_or(0, |c| u64::from(c.events)),
            today: day(0),
        };
        apply(case, &doc, &ChainParams::default())
    }

    /// `code` by `issuer` (a CCA) addressed to `recipients`.
    fn by_cca(
        case: &CaseRecord,
        code: &str,
        issuer: &AgencyId,
        recipients: &[(AgencyId, AgencyRole)],
    ) -> Result<Option<CaseRecord>, WorkflowError> {
        let doc_type = DocType::new(code).unwrap();
        let dates = dated();
        let doc = Document {
            doc_type: &doc_type,
            case_ref: CaseRef::default(),
            issuer: (issuer, Justice),
            recipients,
            dates: &dates,
            subject_kind: None,
            height: 20,
            today: day(0),
        };
        apply(Some(case), &doc, &ChainParams::default())
    }

    #[test]
    fn a_transfer_hands_the_case_to_the_new_cca_which_alone_registers_it() {
        let mut case = run(None, "JUDGMENT", Court, Some(SubjectKind::Probation), dated()).unwrap().unwrap();
        case.state = UnderSupervision;
        let (old, new) = (of(Justice), id("justice-2"));
        // Addressed only to the current CCA: no new place of execution.
        let err = by_cca(&case, "TRANSFER_DECISION", &old, &[(old.clone(), Justice)]).unwrap_err();
        assert!(matches!(err, WorkflowError::MissingRecipient { role: Justice, .. }), "{err}");
        let to_new = [(new.clone(), Justice)];
        let moved = by_cca(&case, "TRANSFER_DECISION", &old, &to_new).unwrap().unwrap();
        assert_eq!((moved.state, moved.cca.clone()), (Transferred, Some(new.clone())));
        // Only the new CCA registers the subject.
        let err = by_cca(&moved, "TRANSFER_INTAKE", &old, &to_new).unwrap_err();
        assert!(matches!(err, WorkflowError::NotCaseAgency { .. }), "{err}");
        let back = by_cca(&moved, "TRANSFER_INTAKE", &new, &to_new).unwrap().unwrap();
        assert_eq!(back.state, UnderSupervision);
    }

    fn dated() -> BusinessDates {
        BusinessDates {
            effective: Some(day(0)),
            received: Some(day(0)),
            period_start: Some(day(0)),
            period_end: Some(day(365)),
        }
    }

    /// Runs a sequence of lawful documents from no case; returns the case.
    fn case_after(steps: &[(&str, AgencyRole, Option<SubjectKind>)]) -> CaseRecord {
        let mut case = None;
        for (code, role, kind) in steps {
            case = Some(run(case.as_ref(), code, *role, *kind, dated()).unwrap().unwrap());
        }
        case.unwrap()
    }

    #[test]
    fn every_listed_doc_type_is_a_valid_code_with_a_rule() {
        let mut seen = std::collections::BTreeSet::new();
        for code in DOC_TYPES {
            assert!(DocType::new(code).is_ok(), "{code}");
            assert!(seen.insert(*code), "{code} listed twice");
            assert!(rule(code, None).is_some(), "{code} has no rule");
            for k in SubjectKind::ALL {
                assert!(rule(code, Some(k)).is_some(), "{code} has no rule for {k}");
            }
        }
        let err = run(None, "SUMMONS", Court, None, dated()).unwrap_err();
        assert!(matches!(err, WorkflowError::UnknownDocType(_)));
    }

    #[test]
    fn a_proposal_fixes_the_kind_of_the_decision() {
        let proposed = case_after(&[("PAROLE_PROPOSAL", Prison, None)]);
        assert_eq!((proposed.state, proposed.kind), (Proposed, Some(Parole)));
        let err = run(Some(&proposed), "JUDGMENT", Court, Some(Probation), dated()).unwrap_err();
        assert_eq!(
            err,
            WorkflowError::WrongKind {
                doc_type: DocType::new("JUDGMENT").unwrap(),
                found: Some(Probation),
                expected: vec![Parole]
            }
        );
        let decided = run(Some(&proposed), "RULING", Court, Some(Parole), dated()).unwrap().unwrap();
        assert_eq!((decided.state, decided.deciding_body), (Decided, Some(of(Court))));
    }

    #[test]
    fn a_missing_kind_is_reported_before_missing_period_dates() {
        let only_effective = BusinessDates { effective: Some(day(0)), ..BusinessDates::default() };
        for (code, role) in [("JUDGMENT", Court), ("TEMPOUT_APPROVAL", Prison), ("RULING", Court)] {
            let err = run(None, code, role, None, only_effective).unwrap_err();
            assert!(matches!(err, WorkflowError::MissingKind { .. }), "{code}: {err}");
        }
        // With the kind, a judgment still needs its period.
        let err = run(None, "JUDGMENT", Court, Some(Control), only_effective).unwrap_err();
        assert!(matches!(err, WorkflowError::MissingDate { field: DateField::PeriodStart, .. }), "{err}");
    }

    #[test]
    fn a_court_decided_temp_outside_case_is_handed_over_by_the_police() {
        let decided = case_after(&[("TEMPOUT_DECISION", Court, Some(TempOutsideCourt))]);
        let err = run(Some(&decided), "INTAKE", Justice, None, dated()).unwrap_err();
        assert_eq!(err, WorkflowError::HandoverMissing { kind: TempOutsideCourt, custodian: Police });
        let err = run(Some(&decided), "HANDOVER", Prison, None, dated()).unwrap_err();
        assert!(matches!(err, WorkflowError::WrongIssuer { found: Prison, .. }));
        let handed = run(Some(&decided), "HANDOVER", Police, None, dated()).unwrap().unwrap();
        assert!(handed.handed_over);
        assert_eq!(run(Some(&handed), "INTAKE", Justice, None, dated()).unwrap().unwrap().state, Received);
    }

    #[test]
    fn a_parolee_reports_without_a_handover_record() {
        let decided = case_after(&[("PAROLE_PROPOSAL", Prison, None), ("RULING", Court, Some(Parole))]);
        assert_eq!(run(Some(&decided), "INTAKE", Justice, None, dated()).unwrap().unwrap().state, Received);
    }

    #[test]
    fn a_temp_outside_release_is_issued_by_the_custodial_side_not_the_cca() {
        let supervised = case_after(&[
            ("TEMPOUT_APPROVAL", Police, Some(TempOutsidePolice)),
            ("HANDOVER", Police, None),
            ("INTAKE", Justice, None),
            ("ANNOUNCE", Justice, None),
        ]);
        let err = run(Some(&supervised), "RELEASE_CERT", Justice, None, dated()).unwrap_err();
        assert!(matches!(err, WorkflowError::WrongIssuer { found: Justice, .. }), "{err}");
        let released = run(Some(&supervised), "RELEASE_CERT", Police, None, dated()).unwrap().unwrap();
        assert_eq!(released.state, Released);
        // Its return to custody is decided by the police that approved it, not a court.
        let proposed = run(Some(&supervised), "COMMIT_PROPOSAL", Justice, None, dated()).unwrap().unwrap();
        let err = run(Some(&proposed), "COMMIT_DECISION", Court, None, dated()).unwrap_err();
        assert!(matches!(err, WorkflowError::WrongIssuer { found: Court, ref expected, .. } if expected == &[Police]));
    }

    #[test]
    fn death_terminates_an_active_case() {
        let supervised = case_after(&[("JUDGMENT", Court, Some(Probation)), ("INTAKE", Justice, None)]);
        let dead = run(Some(&supervised), "DEATH_NOTICE", Justice, None, dated()).unwrap().unwrap();
        assert_eq!(dead.state, Terminated(TerminationReason::Death));
        let err = run(Some(&dead), "DEATH_NOTICE", Justice, None, dated()).unwrap_err();
        assert!(matches!(err, WorkflowError::WrongState { .. }));
    }

    const ROLES: [AgencyRole; 5] = AgencyRole::ALL;

    fn step() -> impl Strategy<Value = (usize, usize, Option<usize>, i32)> {
        (0..DOC_TYPES.len(), 0..ROLES.len(), proptest::option::of(0..SubjectKind::ALL.len()), 0..3i32)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Whatever documents are tried in whatever order: each accepted document adds one
        /// event; a closed case stays closed; a decided case keeps its kind and deciding body;
        /// a case is only ever opened by a document about no case.
        #[test]
        fn accepted_documents_move_cases_consistently(steps in proptest::collection::vec(step(), 1..40)) {
            let mut case: Option<CaseRecord> = None;
            for (code, role, kind, offset) in steps {
                let code = DOC_TYPES[code];
                let kind = kind.map(|k| SubjectKind::ALL[k]);
                let dates = BusinessDates { received: Some(day(offset)), ..dated() };
                let Ok(next) = run(case.as_ref(), code, ROLES[role], kind, dates) else { continue };
                match (&case, next) {
                    (None, None) => {}
                    (None, Some(opened)) => {
                        prop_assert_eq!(opened.events, 1);
                        case = Some(opened);
                    }
                    (Some(_), None) => prop_assert!(false, "{} on an open case returned no case", code),
                    (Some(prev), Some(next)) => {
                        prop_assert_eq!(next.events, prev.events + 1);
                        prop_assert_eq!(next.opened_at, prev.opened_at);
                        if prev.state.is_closed() {
                            prop_assert_eq!(next.state, prev.state, "{} reopened a closed case", code);
                        }
                        if !matches!(prev.state, AssessmentRequested | AssessmentSubmitted | Proposed) {
                            prop_assert_eq!(next.kind, prev.kind);
                            prop_assert_eq!(&next.deciding_body, &prev.deciding_body);
                            prop_assert_eq!(&next.cca, &prev.cca);
                        }
                        if next.state == Received && prev.state != Received {
                            prop_assert!(next.decision_effective <= Some(day(offset)));
                        }
                        case = Some(next);
                    }
                }
            }
        }
    }
}

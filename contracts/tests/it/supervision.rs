//! The supervision rules on hand-built case digests with the 2026 holiday calendar: for each
//! rule a case that meets the duty exactly on the last day and one that misses it by one day,
//! deadlines moved past weekends and holiday blocks, and the subject kinds where rules differ.

use std::collections::BTreeMap;

use custos_contracts::calendar::{Calendar, Period, parse_holiday_file};
use custos_contracts::call::{BusinessDates, DocType, SubjectKind};
use custos_contracts::governance::DeadlineParams;
use custos_contracts::supervision::{Basis, CaseDigest, Context, DocDigest, Finding, Missing, ReceiptDigest, evaluate};
use custos_contracts::workflow::{CaseRecord, CaseState};
use custos_primitives::crypto::Hash;
use custos_primitives::types::{AgencyId, AgencyRole, CaseRef, DocHash, TxId};

use crate::support::{agency, date};

fn calendar() -> Calendar {
    Calendar::new(&parse_holiday_file(include_str!("../../calendars/cn-2026.txt")).unwrap())
}

fn roles() -> BTreeMap<AgencyId, AgencyRole> {
    [
        ("court", AgencyRole::Court),
        ("procuratorate", AgencyRole::Procuratorate),
        ("police", AgencyRole::Police),
        ("prison", AgencyRole::Prison),
        ("justice", AgencyRole::Justice),
        ("justice-2", AgencyRole::Justice),
    ]
    .into_iter()
    .map(|(a, r)| (agency(a), r))
    .collect()
}

/// A case under construction.
struct Case {
    digest: CaseDigest,
    next: u8,
}

/// Dates of a document: `(effective, received, period start, period end)`.
#[derive(Default, Clone, Copy)]
struct Dates {
    effective: Option<&'static str>,
    received: Option<&'static str>,
    start: Option<&'static str>,
    end: Option<&'static str>,
}

fn eff(d: &'static str) -> Dates {
    Dates { effective: Some(d), ..Dates::default() }
}
fn recv(d: &'static str) -> Dates {
    Dates { received: Some(d), ..Dates::default() }
}
fn period(s: &'static str, e: &'static str) -> Dates {
    Dates { start: Some(s), end: Some(e), ..Dates::default() }
}

fn list(xs: &[&str]) -> Vec<AgencyId> {
    xs.iter().map(|a| agency(a)).collect()
}

impl Case {
    /// A case decided by `body` (effective `effective`), supervised by `justice`.
    fn decided(kind: SubjectKind, effective: &str) -> Case {
        let case_ref = CaseRef(Hash([0xca; 32]));
        let temp = kind.is_temp_outside();
        Case {
            digest: CaseDigest {
                case_ref,
                record: CaseRecord {
                    case_ref,
                    kind: Some(kind),
                    state: CaseState::Decided,
                    commissioned_by: None,
                    deciding_body: Some(agency(if kind == SubjectKind::TempOutsidePrison {
                        "prison"
                    } else {
                        "court"
                    })),
                    cca: Some(agency("justice")),
                    decision_effective: Some(date(effective)),
                    correction_end: (!temp).then(|| date("2026-12-31")),
                    handed_over: false,
                    events: 0,
                    opened_at: 1,
                    updated_at: 1,
                },
                docs: Vec::new(),
            },
            next: 0,
        }
    }

    /// A case opened by a document that is not a decision.
    fn open() -> Case {
        let mut c = Case::decided(SubjectKind::Probation, "2026-01-05");
        c.digest.record.kind = None;
        c.digest.record.decision_effective = None;
        c.digest.record.correction_end = None;
        c.digest.record.state = CaseState::AssessmentRequested;
        c
    }

    fn doc(&mut self, doc_type: &str, issuer: &str, to: &[&str], copy: &[&str], anchored: &str, dates: Dates) -> usize {
        self.next += 1;
        let n = self.next;
        self.digest.docs.push(DocDigest {
            doc_hash: DocHash(Hash([n; 32])),
            doc_type: DocType::new(doc_type).unwrap(),
            issuer: agency(issuer),
            recipients: list(to),
            copies: list(copy),
            dates: BusinessDates {
                effective: dates.effective.map(date),
                received: dates.received.map(date),
                period_start: dates.start.map(date),
                period_end: dates.end.map(date),
            },
            anchored: date(anchored),
            height: u64::from(n) * 10,
            tx_id: TxId(Hash([0x70 + n; 32])),
            receipts: Vec::new(),
        });
        self.digest.record.events += 1;
        self.digest.docs.len() - 1
    }

    fn receipt(&mut self, doc: usize, by: &str, on: &str) {
        let height = self.digest.docs[doc].height + 1;
        self.digest.docs[doc].receipts.push(ReceiptDigest {
            agency: agency(by),
            date: date(on),
            height,
            tx_id: TxId(Hash([0xee; 32])),
        });
    }

    /// The probation judgment, properly addressed, anchored the day it took effect.
    fn judgment(&mut self, anchored: &str) -> usize {
        let effective = self.digest.record.decision_effective.unwrap().to_string();
        let effective: &'static str = Box::leak(effective.into_boxed_str());
        self.doc("JUDGMENT", "court", &["justice"], &["procuratorate", "police"], anchored, eff(effective))
    }

    fn findings(&self, as_of: &str) -> Vec<Finding> {
        self.with(&DeadlineParams::default(), as_of)
    }

    fn with(&self, params: &DeadlineParams, as_of: &str) -> Vec<Finding> {
        let cal = calendar();
        let roles = roles();
        evaluate(&self.digest, &Context { params, calendar: &cal, roles: &roles, as_of: date(as_of) })
    }

    fn rule(&self, rule: &str, as_of: &str) -> Vec<Finding> {
        self.findings(as_of).into_iter().filter(|f| f.rule == rule).collect()
    }
}

#[track_caller]
fn one(findings: &[Finding]) -> &Finding {
    assert_eq!(findings.len(), 1, "{findings:#?}");
    &findings[0]
}

#[test]
fn the_2026_calendar_moves_deadlines_past_weekends_and_holiday_blocks() {
    let cal = calendar();
    // Monday + 5 days = Saturday → Monday.
    assert_eq!(cal.deadline(date("2026-03-02"), &Period::calendar_days(5)), date("2026-03-09"));
    // Into National Day (10-01 … 10-07) → Thursday 10-08.
    assert_eq!(cal.deadline(date("2026-09-28"), &Period::calendar_days(5)), date("2026-10-08"));
    // Ten working days across Labour Day, counting the adjusted working Saturday 05-09.
    assert_eq!(cal.deadline(date("2026-04-28"), &Period::working_days(10)), date("2026-05-14"));
}

#[test]
fn s01_notice_to_the_cca_on_the_last_day_after_a_weekend_and_one_day_late() {
    // Effective Monday 03-02; five days end Saturday 03-07 → Monday 03-09.
    let mut c = Case::decided(SubjectKind::Probation, "2026-03-02");
    c.judgment("2026-03-09");
    assert!(c.rule("S01", "2026-03-20").is_empty(), "notified on the extended last day");
    let mut c = Case::decided(SubjectKind::Probation, "2026-03-02");
    c.judgment("2026-03-10");
    let f = c.rule("S01", "2026-03-20");
    let f = one(&f);
    assert_eq!((f.agency.as_str(), f.deadline, f.days_overdue), ("court", date("2026-03-09"), 1));
    assert_eq!(f.basis, Basis::Statutory);
    assert_eq!(f.done, Some(date("2026-03-10")));
}

#[test]
fn s01_deadline_inside_national_day_moves_to_the_first_working_day() {
    let mut c = Case::decided(SubjectKind::Probation, "2026-09-28");
    c.judgment("2026-10-08");
    assert!(c.rule("S01", "2026-10-20").is_empty());
    let mut c = Case::decided(SubjectKind::Probation, "2026-09-28");
    c.judgment("2026-10-09");
    assert_eq!(one(&c.rule("S01", "2026-10-20")).days_overdue, 1);
}

#[test]
fn s02_execution_notice_within_ten_days_exactly_and_late_and_missing() {
    // Effective Monday 03-02: ten days end Thursday 03-12.
    let mut c = Case::decided(SubjectKind::Probation, "2026-03-02");
    c.judgment("2026-03-02");
    c.doc("EXEC_NOTICE", "court", &["justice"], &["procuratorate", "police"], "2026-03-12", Dates::default());
    assert!(c.rule("S02", "2026-04-01").is_empty());

    let mut c = Case::decided(SubjectKind::Probation, "2026-03-02");
    c.judgment("2026-03-02");
    c.doc("EXEC_NOTICE", "court", &["justice"], &["procuratorate", "police"], "2026-03-13", Dates::default());
    let f = c.rule("S02", "2026-04-01");
    let f = one(&f);
    assert_eq!((f.deadline, f.days_overdue, f.done), (date("2026-03-12"), 1, Some(date("2026-03-13"))));
    assert!(f.duty.contains("EXEC_NOTICE"), "{}", f.duty);
    assert!(f.proofs.iter().any(|p| p.what.contains("took effect")), "the decision proves the start");

    // Not sent at all: nothing on the last day, a finding with what is missing the day after.
    let mut c = Case::decided(SubjectKind::Probation, "2026-03-02");
    c.judgment("2026-03-02");
    assert!(c.rule("S02", "2026-03-12").is_empty());
    let f = c.rule("S02", "2026-03-13");
    let f = one(&f);
    assert_eq!(f.done, None);
    assert!(
        matches!(&f.missing, Some(Missing::Document { types, from }) if types == &["EXEC_NOTICE"] && from == "court")
    );
}

#[test]
fn s02_a_temporary_outside_approval_needs_no_execution_notice() {
    let mut c = Case::decided(SubjectKind::TempOutsidePrison, "2026-03-02");
    c.doc("TEMPOUT_APPROVAL", "prison", &["justice"], &["procuratorate", "police"], "2026-03-02", eff("2026-03-02"));
    assert!(c.rule("S02", "2026-06-01").is_empty(), "{:#?}", c.rule("S02", "2026-06-01"));
}

#[test]
fn s03_the_police_not_copied_on_the_judgment_and_the_notice() {
    let mut c = Case::decided(SubjectKind::Probation, "2026-03-02");
    c.doc("JUDGMENT", "court", &["justice"], &["procuratorate"], "2026-03-02", eff("2026-03-02"));
    c.doc("EXEC_NOTICE", "court", &["justice"], &["procuratorate"], "2026-03-03", Dates::default());
    let f = c.rule("S03", "2026-03-05");
    assert_eq!(f.len(), 2, "{f:#?}");
    assert!(f.iter().all(|f| f.agency == "court"));
    assert!(matches!(&f[0].missing, Some(Missing::Addressee { role, .. }) if role == "police"));
    // Properly copied: nothing.
    let mut c = Case::decided(SubjectKind::Probation, "2026-03-02");
    c.judgment("2026-03-02");
    assert!(c.rule("S03", "2026-03-05").is_empty());
    // A revocation proposal must be copied to the procuratorate.
    let mut c = Case::decided(SubjectKind::Probation, "2026-03-02");
    c.judgment("2026-03-02");
    c.doc("REVOKE_PROPOSAL", "justice", &["court"], &[], "2026-05-04", Dates::default());
    let f = c.rule("S03", "2026-05-05");
    assert_eq!(one(&f).agency, "justice");
}

#[test]
fn s04_intake_within_ten_days_by_subject_kind() {
    // Probation: ten days from 03-02 = 03-12, by the intake's received date.
    let mut c = Case::decided(SubjectKind::Probation, "2026-03-02");
    c.judgment("2026-03-02");
    c.doc("INTAKE", "justice", &["court"], &["procuratorate"], "2026-03-20", recv("2026-03-12"));
    assert!(c.rule("S04", "2026-04-01").is_empty());
    let mut c = Case::decided(SubjectKind::Probation, "2026-03-02");
    c.judgment("2026-03-02");
    c.doc("INTAKE", "justice", &["court"], &["procuratorate"], "2026-03-20", recv("2026-03-13"));
    let f = c.rule("S04", "2026-04-01");
    assert_eq!((one(&f).agency.as_str(), one(&f).days_overdue), ("justice", 1));
    // 暂外 counts TEMP_OUT_TRANSFER instead: with 15 days, the same intake is in time.
    let params = DeadlineParams { temp_out_transfer: Period::calendar_days(15), ..DeadlineParams::default() };
    let mut c = Case::decided(SubjectKind::TempOutsideCourt, "2026-03-02");
    c.doc("TEMPOUT_DECISION", "court", &["justice"], &["procuratorate", "police"], "2026-03-02", eff("2026-03-02"));
    c.doc("INTAKE", "justice", &["court"], &["procuratorate"], "2026-03-20", recv("2026-03-13"));
    assert!(c.with(&params, "2026-04-01").iter().all(|f| f.rule != "S04"));
    // Never registered: a finding naming the missing intake.
    let mut c = Case::decided(SubjectKind::Parole, "2026-03-02");
    c.doc("RULING", "court", &["justice"], &["procuratorate", "police"], "2026-03-02", eff("2026-03-02"));
    let f = c.rule("S04", "2026-03-13");
    assert!(matches!(&one(&f).missing, Some(Missing::Document { types, .. }) if types == &["INTAKE"]));
}

#[test]
fn s05_receipt_within_five_days_after_a_weekend() {
    // Sent Monday 03-02: five days end Saturday → Monday 03-09.
    let mut c = Case::decided(SubjectKind::Probation, "2026-03-02");
    let j = c.judgment("2026-03-02");
    c.receipt(j, "justice", "2026-03-09");
    assert!(c.rule("S05", "2026-04-01").is_empty());
    let mut c = Case::decided(SubjectKind::Probation, "2026-03-02");
    let j = c.judgment("2026-03-02");
    c.receipt(j, "justice", "2026-03-10");
    let f = c.rule("S05", "2026-04-01");
    let f = one(&f);
    assert_eq!((f.agency.as_str(), f.days_overdue, f.basis), ("justice", 1, Basis::Configurable));
    assert_eq!(f.proofs.len(), 2, "the sending and the late receipt");
    // No receipt: provable by an exclusion proof of the receipt key.
    let mut c = Case::decided(SubjectKind::Probation, "2026-03-02");
    c.judgment("2026-03-02");
    assert!(c.rule("S05", "2026-03-09").is_empty());
    let f = c.rule("S05", "2026-03-10");
    assert!(matches!(&one(&f).missing, Some(Missing::Receipt { agency, .. }) if agency == "justice"));
}

#[test]
fn s06_assessment_in_ten_working_days_across_labour_day() {
    // Received Tuesday 04-28: the tenth working day is 05-14 (05-01…05-05 off, Saturday 05-09 worked).
    let mut c = Case::open();
    let req = c.doc("ASSESS_REQ", "court", &["justice"], &["procuratorate"], "2026-04-28", Dates::default());
    c.receipt(req, "justice", "2026-04-28");
    c.doc("ASSESS_OPINION", "justice", &["court"], &["procuratorate"], "2026-05-14", Dates::default());
    assert!(c.rule("S06", "2026-06-01").is_empty(), "{:#?}", c.rule("S06", "2026-06-01"));
    let mut c = Case::open();
    let req = c.doc("ASSESS_REQ", "court", &["justice"], &["procuratorate"], "2026-04-28", Dates::default());
    c.receipt(req, "justice", "2026-04-28");
    c.doc("ASSESS_OPINION", "justice", &["court"], &["procuratorate"], "2026-05-15", Dates::default());
    let f = c.rule("S06", "2026-06-01");
    assert_eq!((one(&f).deadline, one(&f).days_overdue), (date("2026-05-14"), 1));
    // The fast-track period is a parameter too.
    let fast = DeadlineParams { assessment: Period::working_days(5), ..DeadlineParams::default() };
    assert!(c.with(&fast, "2026-06-01").iter().any(|f| f.rule == "S06" && f.deadline == date("2026-05-08")));
    // An opinion not copied to the procuratorate.
    let mut c = Case::open();
    c.doc("ASSESS_REQ", "court", &["justice"], &[], "2026-04-28", Dates::default());
    c.doc("ASSESS_OPINION", "justice", &["court"], &[], "2026-04-30", Dates::default());
    let f = c.rule("S06", "2026-05-01");
    assert!(matches!(&one(&f).missing, Some(Missing::Addressee { role, .. }) if role == "procuratorate"));
}

#[test]
fn s08_leave_limits_per_approval_and_per_window() {
    let base = || {
        let mut c = Case::decided(SubjectKind::Probation, "2026-01-05");
        c.judgment("2026-01-05");
        c
    };
    let mut c = base();
    c.doc("LEAVE_APPROVAL", "justice", &[], &[], "2026-03-01", period("2026-03-02", "2026-03-31"));
    assert!(c.rule("S08", "2026-03-02").is_empty(), "30 days is the limit");
    let mut c = base();
    c.doc("LEAVE_APPROVAL", "justice", &[], &[], "2026-03-01", period("2026-03-02", "2026-04-01"));
    assert_eq!(one(&c.rule("S08", "2026-03-02")).agency, "justice", "31 days");
    // Two leaves within two months: 20 + 10 days is the limit, 20 + 11 one day over.
    let mut c = base();
    c.doc("LEAVE_APPROVAL", "justice", &[], &[], "2026-03-01", period("2026-03-02", "2026-03-21"));
    c.doc("LEAVE_APPROVAL", "justice", &[], &[], "2026-04-01", period("2026-04-02", "2026-04-11"));
    assert!(c.rule("S08", "2026-04-02").is_empty());
    let mut c = base();
    c.doc("LEAVE_APPROVAL", "justice", &[], &[], "2026-03-01", period("2026-03-02", "2026-03-21"));
    c.doc("LEAVE_APPROVAL", "justice", &[], &[], "2026-04-01", period("2026-04-02", "2026-04-12"));
    let f = c.rule("S08", "2026-04-02");
    assert!(one(&f).duty.contains("approved 31"), "{}", one(&f).duty);
}

#[test]
fn s09_return_from_leave_recorded_by_its_last_day() {
    let mut c = Case::decided(SubjectKind::Probation, "2026-01-05");
    c.judgment("2026-01-05");
    c.doc("LEAVE_APPROVAL", "justice", &[], &[], "2026-03-01", period("2026-03-02", "2026-03-10"));
    assert!(c.rule("S09", "2026-03-10").is_empty());
    let f = c.rule("S09", "2026-03-11");
    assert_eq!((one(&f).days_overdue, one(&f).deadline), (1, date("2026-03-10")));
    c.doc("LEAVE_RETURN", "justice", &[], &[], "2026-03-11", recv("2026-03-10"));
    assert!(c.rule("S09", "2026-03-12").is_empty());
}

#[test]
fn s10_two_warnings_need_a_revocation_proposal_except_for_control() {
    let warned = |kind| {
        let mut c = Case::decided(kind, "2026-01-05");
        c.judgment("2026-01-05");
        c.doc("WARNING", "justice", &[], &["procuratorate"], "2026-02-02", Dates::default());
        c.doc("WARNING", "justice", &[], &["procuratorate"], "2026-03-02", Dates::default());
        c
    };
    // Seven days from Monday 03-02 end Monday 03-09.
    let mut c = warned(SubjectKind::Probation);
    assert!(c.rule("S10", "2026-03-09").is_empty());
    assert_eq!(one(&c.rule("S10", "2026-03-10")).days_overdue, 1);
    c.doc("REVOKE_PROPOSAL", "justice", &["court"], &["procuratorate"], "2026-03-09", Dates::default());
    assert!(c.rule("S10", "2026-03-20").is_empty());
    let c = warned(SubjectKind::Control);
    assert!(c.rule("S10", "2026-06-01").is_empty(), "管制 cannot be revoked");
}

#[test]
fn s11_rulings_within_thirty_days_and_arrest_decisions_within_48_hours() {
    let mut c = Case::decided(SubjectKind::Probation, "2026-01-05");
    c.judgment("2026-01-05");
    let p = c.doc("REVOKE_PROPOSAL", "justice", &["court"], &["procuratorate"], "2026-03-02", Dates::default());
    c.receipt(p, "court", "2026-03-02");
    // Thirty days from Monday 03-02: Wednesday 04-01.
    assert!(c.rule("S11", "2026-04-01").is_empty());
    let f = c.rule("S11", "2026-04-02");
    assert_eq!((one(&f).agency.as_str(), one(&f).basis), ("court", Basis::Statutory));
    c.doc("REVOKE_RULING", "court", &["justice", "police"], &["procuratorate"], "2026-04-01", eff("2026-04-01"));
    assert!(c.rule("S11", "2026-04-10").is_empty());

    let mut c = Case::decided(SubjectKind::Probation, "2026-01-05");
    c.judgment("2026-01-05");
    c.doc("ARREST_REQ", "justice", &["court"], &["procuratorate"], "2026-03-02", Dates::default());
    c.doc("ARREST_DECISION", "court", &["justice"], &["procuratorate"], "2026-03-04", Dates::default());
    assert!(c.rule("S11", "2026-03-10").is_empty(), "48 hours: two days");
    let mut c = Case::decided(SubjectKind::Probation, "2026-01-05");
    c.judgment("2026-01-05");
    c.doc("ARREST_REQ", "justice", &["court"], &["procuratorate"], "2026-03-02", Dates::default());
    c.doc("ARREST_DECISION", "court", &["justice"], &["procuratorate"], "2026-03-05", Dates::default());
    assert_eq!(one(&c.rule("S11", "2026-03-10")).days_overdue, 1);
}

#[test]
fn s12_custody_within_the_configured_days_of_a_revocation() {
    let mut c = Case::decided(SubjectKind::Probation, "2026-01-05");
    c.judgment("2026-01-05");
    c.doc("REVOKE_RULING", "court", &["justice", "police"], &["procuratorate"], "2026-03-02", eff("2026-03-02"));
    // Three days from Monday 03-02: Thursday 03-05.
    assert!(c.rule("S12", "2026-03-05").is_empty());
    let f = c.rule("S12", "2026-03-06");
    assert_eq!((one(&f).agency.as_str(), one(&f).basis), ("police", Basis::Configurable));
    c.doc("COMMITTED", "police", &["court"], &["justice", "procuratorate"], "2026-03-06", eff("2026-03-05"));
    assert!(c.rule("S12", "2026-03-10").is_empty(), "taken in on the last day (recorded the next)");
}

#[test]
fn s13_release_at_the_end_of_the_period_notified_to_all() {
    // The period ends Wednesday 2026-12-30.
    let mut c = Case::decided(SubjectKind::Probation, "2026-01-05");
    c.digest.record.correction_end = Some(date("2026-12-30"));
    c.judgment("2026-01-05");
    assert!(c.rule("S13", "2026-12-30").is_empty());
    let f = c.rule("S13", "2026-12-31");
    assert_eq!((one(&f).agency.as_str(), one(&f).days_overdue), ("justice", 1));
    c.doc("RELEASE_CERT", "justice", &["court"], &["procuratorate", "police"], "2026-12-30", eff("2026-12-30"));
    assert!(c.rule("S13", "2027-01-04").is_empty());
    // Released a day early, and without telling the police.
    let mut c = Case::decided(SubjectKind::Probation, "2026-01-05");
    c.digest.record.correction_end = Some(date("2026-12-30"));
    c.judgment("2026-01-05");
    c.doc("RELEASE_CERT", "justice", &["court"], &["procuratorate"], "2026-12-29", eff("2026-12-29"));
    let f = c.rule("S13", "2026-12-31");
    assert_eq!(f.len(), 2, "{f:#?}");
    assert!(f.iter().any(|f| f.duty.contains("no earlier")));
    assert!(f.iter().any(|f| matches!(&f.missing, Some(Missing::Addressee { role, .. }) if role == "police")));
    // A pending revocation suspends the release duty.
    let mut c = Case::decided(SubjectKind::Probation, "2026-01-05");
    c.digest.record.correction_end = Some(date("2026-12-30"));
    c.judgment("2026-01-05");
    c.doc("REVOKE_PROPOSAL", "justice", &["court"], &["procuratorate"], "2026-12-01", Dates::default());
    assert!(c.rule("S13", "2027-01-15").is_empty());
}

#[test]
fn s14_electronic_tag_three_months_into_qingming() {
    // 01-05 + 3 months = Sunday 04-05, inside Qingming (04-04 … 04-06) → Tuesday 04-07.
    let mut c = Case::decided(SubjectKind::Probation, "2026-01-05");
    c.judgment("2026-01-05");
    c.doc("ETAG_APPROVAL", "justice", &[], &["procuratorate"], "2026-01-05", eff("2026-01-05"));
    assert!(c.rule("S14", "2026-04-07").is_empty());
    let f = c.rule("S14", "2026-04-08");
    assert_eq!((one(&f).deadline, one(&f).days_overdue), (date("2026-04-07"), 1));
    c.doc("ETAG_REMOVAL", "justice", &[], &["procuratorate"], "2026-04-07", eff("2026-04-07"));
    assert!(c.rule("S14", "2026-05-01").is_empty());
}

#[test]
fn s15_temporary_outside_reviews_proposals_and_opinions() {
    let mut c = Case::decided(SubjectKind::TempOutsideCourt, "2026-01-05");
    c.doc("TEMPOUT_PROPOSAL", "prison", &["court"], &[], "2025-12-20", Dates::default());
    c.doc("TEMPOUT_DECISION", "court", &["justice"], &["procuratorate", "police"], "2026-01-05", eff("2026-01-05"));
    let f = c.rule("S15", "2026-04-07");
    // The proposal lacks the procuratorate's copy; the decision had no prior opinion.
    assert_eq!(f.len(), 2, "{f:#?}");
    assert!(f.iter().any(|f| f.agency == "prison"));
    assert!(f.iter().any(|f| f.agency == "court" && f.duty.contains("opinion")));
    // The medical review: due three months after the decision (→ 04-07), one day late on 04-08.
    let review = c.rule("S15", "2026-04-08").into_iter().filter(|f| f.agency == "justice").collect::<Vec<_>>();
    assert_eq!(one(&review).days_overdue, 1);
    c.doc("TEMPOUT_REVIEW", "justice", &["court"], &["procuratorate"], "2026-04-07", eff("2026-04-07"));
    assert!(c.rule("S15", "2026-04-08").iter().all(|f| f.agency != "justice"));
    // A probation case has no medical reviews.
    let mut c = Case::decided(SubjectKind::Probation, "2026-01-05");
    c.judgment("2026-01-05");
    assert!(c.rule("S15", "2026-12-01").is_empty());
}

#[test]
fn s17_transfer_registered_at_the_new_cca_within_seven_days() {
    let mut c = Case::decided(SubjectKind::Probation, "2026-01-05");
    c.judgment("2026-01-05");
    c.doc("TRANSFER_DECISION", "justice", &["justice-2"], &["procuratorate", "police"], "2026-03-02", Dates::default());
    // Seven days from Monday 03-02: Monday 03-09.
    assert!(c.rule("S17", "2026-03-09").is_empty());
    assert_eq!(one(&c.rule("S17", "2026-03-10")).agency, "justice-2");
    c.doc("TRANSFER_INTAKE", "justice-2", &["justice"], &["procuratorate"], "2026-03-10", recv("2026-03-09"));
    assert!(c.rule("S17", "2026-03-20").is_empty());
}

#[test]
fn s18_correction_opinion_answered_within_seven_days() {
    let mut c = Case::decided(SubjectKind::Probation, "2026-01-05");
    c.judgment("2026-01-05");
    c.doc("CORRECTION_OPINION", "procuratorate", &["court"], &[], "2026-03-02", Dates::default());
    assert!(c.rule("S18", "2026-03-09").is_empty());
    let f = c.rule("S18", "2026-03-10");
    assert_eq!((one(&f).agency.as_str(), one(&f).days_overdue), ("court", 1));
    c.doc("CORRECTION_REPLY", "court", &["procuratorate"], &[], "2026-03-09", Dates::default());
    assert!(c.rule("S18", "2026-03-20").is_empty());
}

#[test]
fn documents_anchored_after_the_as_of_date_are_not_seen() {
    let mut c = Case::decided(SubjectKind::Probation, "2026-03-02");
    c.judgment("2026-03-02");
    c.doc("EXEC_NOTICE", "court", &["justice"], &["procuratorate", "police"], "2026-03-20", Dates::default());
    // On 03-15 the notice was not yet sent: missing, 3 days overdue.
    let f = c.rule("S02", "2026-03-15");
    assert_eq!((one(&f).done, one(&f).days_overdue), (None, 3));
    // Later it is a late delivery, done on 03-20.
    assert_eq!(one(&c.rule("S02", "2026-04-01")).done, Some(date("2026-03-20")));
}

#[test]
fn a_well_run_case_has_no_findings() {
    let mut c = Case::decided(SubjectKind::Probation, "2026-03-02");
    c.digest.record.correction_end = Some(date("2026-09-30"));
    let j = c.judgment("2026-03-02");
    c.receipt(j, "justice", "2026-03-03");
    let n = c.doc("EXEC_NOTICE", "court", &["justice"], &["procuratorate", "police"], "2026-03-03", Dates::default());
    c.receipt(n, "justice", "2026-03-03");
    c.doc("INTAKE", "justice", &["court"], &["procuratorate"], "2026-03-06", recv("2026-03-06"));
    c.doc("RELEASE_CERT", "justice", &["court"], &["procuratorate", "police"], "2026-09-30", eff("2026-09-30"));
    assert_eq!(c.findings("2026-12-01"), vec![]);
}

#[test]
fn s07_lost_contact_notified_and_escalated_in_time() {
    let lost = |kind| {
        let mut c = Case::decided(kind, "2026-01-05");
        c.judgment("2026-01-05");
        c.doc("LOST_CONTACT", "justice", &["police"], &["procuratorate"], "2026-03-02", eff("2026-03-02"));
        c
    };
    // Ten days from Monday 03-02: Thursday 03-12; a warning is due only while contact stays lost.
    let c = lost(SubjectKind::Probation);
    assert!(c.rule("S07", "2026-03-12").is_empty());
    let f = c.rule("S07", "2026-03-13");
    assert_eq!((one(&f).agency.as_str(), one(&f).days_overdue), ("justice", 1));
    assert!(matches!(&one(&f).missing, Some(Missing::Document { types, .. }) if types == &["WARNING"]));
    let mut warned = lost(SubjectKind::Probation);
    warned.doc("WARNING", "justice", &[], &["procuratorate"], "2026-03-12", Dates::default());
    assert!(warned.rule("S07", "2026-03-20").is_empty());
    // A month later (04-02) the probation is to be revoked; not so for 管制.
    let f = warned.rule("S07", "2026-04-03");
    assert!(matches!(&one(&f).missing, Some(Missing::Document { types, .. }) if types == &["REVOKE_PROPOSAL"]));
    let mut control = lost(SubjectKind::Control);
    control.doc("WARNING", "justice", &[], &["procuratorate"], "2026-03-12", Dates::default());
    assert!(control.rule("S07", "2026-06-01").is_empty());
    // Contact restored within the ten days: nothing is due.
    let mut back = lost(SubjectKind::Probation);
    back.doc("CONTACT_RESTORED", "justice", &["police"], &["procuratorate"], "2026-03-10", eff("2026-03-10"));
    assert!(back.rule("S07", "2026-06-01").is_empty());
    // Not notified to the police.
    let mut c = Case::decided(SubjectKind::Probation, "2026-01-05");
    c.judgment("2026-01-05");
    c.doc("LOST_CONTACT", "justice", &[], &["procuratorate"], "2026-03-02", eff("2026-03-02"));
    let f = c.rule("S07", "2026-03-03");
    assert!(matches!(&one(&f).missing, Some(Missing::Addressee { role, .. }) if role == "police"));
}

#[test]
fn s16_coercive_measure_notified_to_the_cca_within_three_days() {
    let notice = |anchored: &'static str, to: &[&str]| {
        let mut c = Case::decided(SubjectKind::Probation, "2026-01-05");
        c.judgment("2026-01-05");
        c.doc("COERCIVE_MEASURE_NOTICE", "police", to, &["procuratorate"], anchored, eff("2026-03-02"));
        c
    };
    // Detained Monday 03-02: three days end Thursday 03-05.
    assert!(notice("2026-03-05", &["justice"]).rule("S16", "2026-03-20").is_empty());
    let f = notice("2026-03-06", &["justice"]).rule("S16", "2026-03-20");
    assert_eq!((one(&f).agency.as_str(), one(&f).days_overdue), ("police", 1));
    let f = notice("2026-03-03", &["court"]).rule("S16", "2026-03-20");
    assert!(matches!(&one(&f).missing, Some(Missing::Addressee { .. })), "{f:#?}");
}

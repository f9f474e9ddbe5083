//! The case lifecycle through the runtime: complete lawful cases, each illegal transition
//! refused with an error that says what was expected, and which documents may open a case.

use custos_contracts::call::{Date, SubjectKind};
use custos_contracts::runtime::{CallError, Event, Runtime};
use custos_contracts::workflow::{self, CaseState, DateField, TerminationReason, WorkflowError};
use custos_primitives::crypto::SuiteId;
use custos_primitives::types::{AgencyRole, CaseRef, MemberRole};

use crate::support::{AGENCIES, Doc, Five, Member, World, agency, date, today};

use CaseState::*;

fn setup(suite: SuiteId) -> (World, Five) {
    let mut w = World::new(suite);
    let clerks = w.five(MemberRole::Clerk);
    (w, clerks)
}

/// Anchors `doc` as `m`, which must fail in the workflow; returns the workflow error.
fn refused(w: &mut World, m: &mut Member, doc: &Doc) -> WorkflowError {
    match w.expect_call_failure(m, doc.call()) {
        CallError::Workflow(e) => e,
        other => panic!("expected a workflow error, got {other}"),
    }
}

/// Asserts that `err`'s message contains `text`.
fn says(err: &WorkflowError, text: &str) {
    assert!(err.to_string().contains(text), "{err:?} displays {:?}, which lacks {text:?}", err.to_string());
}

/// The steps of a case's history: document type, from, to.
fn history(w: &World, case: &CaseRef) -> Vec<(String, Option<CaseState>, CaseState)> {
    Runtime::case_history(&w.state, case).into_iter().map(|e| (e.doc_type.as_str().to_string(), e.from, e.to)).collect()
}

fn step(doc: &str, from: Option<CaseState>, to: CaseState) -> (String, Option<CaseState>, CaseState) {
    (doc.to_string(), from, to)
}

/// A 缓刑 judgment by the court, addressed to the CCA, taking effect today.
fn probation_judgment(w: &mut World, case: CaseRef) -> Doc {
    w.doc("JUDGMENT", case)
        .to(&["justice"])
        .copy(&["procuratorate", "police"])
        .kind(SubjectKind::Probation)
        .effective(today())
        .period(today(), date("2027-05-31"))
}

/// A case decided by a court judgment of `kind` (管制 or 缓刑) today.
fn decided(w: &mut World, c: &mut Five, number: &str, kind: SubjectKind) -> CaseRef {
    let case = w.case(number);
    let judgment = probation_judgment(w, case).kind(kind);
    w.anchor(&mut c.court, &judgment);
    case
}

/// A case decided today and taken in and announced by the CCA.
fn supervised(w: &mut World, c: &mut Five, number: &str, kind: SubjectKind) -> CaseRef {
    let case = decided(w, c, number, kind);
    let intake = w.doc("INTAKE", case).received(today());
    w.anchor(&mut c.justice, &intake);
    let announce = w.doc("ANNOUNCE", case);
    w.anchor(&mut c.justice, &announce);
    case
}

fn probation_lifecycle(suite: SuiteId) {
    let (mut w, mut c) = setup(suite);
    let case = w.case("(2026)黑0103刑初101号");

    // T1–T2: the court commissions an investigation assessment; the CCA answers.
    let req = w.doc("ASSESS_REQ", case).to(&["justice"]);
    let events = w.anchor(&mut c.court, &req);
    assert_eq!(events[1], Event::CaseMoved { case_ref: case, from: None, to: AssessmentRequested });
    let opinion = w.doc("ASSESS_OPINION", case).to(&["court"]).copy(&["procuratorate"]);
    w.anchor(&mut c.justice, &opinion);

    // T3–T5: judgment (缓刑), execution notice, delivery acknowledged by the CCA.
    let d = w.set_day(1);
    let judgment = w
        .doc("JUDGMENT", case)
        .to(&["justice"])
        .copy(&["procuratorate", "police"])
        .kind(SubjectKind::Probation)
        .effective(d)
        .period(d, date("2027-06-01"));
    w.anchor(&mut c.court, &judgment);
    w.set_day(3);
    let notice = w.doc("EXEC_NOTICE", case).to(&["justice"]).copy(&["procuratorate", "police"]);
    w.anchor(&mut c.court, &notice);
    let receipt =
        custos_contracts::call::Call::Receipt(custos_contracts::call::ReceiptCall { doc_hash: judgment.hash() });
    w.call(&mut c.justice, receipt);

    // T7a, T8: the subject reports; intake and announcement.
    let reported = w.set_day(6);
    let intake = w.doc("INTAKE", case).received(reported);
    w.anchor(&mut c.justice, &intake);
    let announce = w.doc("ANNOUNCE", case);
    w.anchor(&mut c.justice, &announce);

    // T14: a warning during supervision; T27: release at the end of the period.
    w.set_day(120);
    let warning = w.doc("WARNING", case).copy(&["procuratorate"]);
    w.anchor(&mut c.justice, &warning);
    let end = w.set_day(365);
    assert_eq!(end, date("2027-06-01"));
    let release = w.doc("RELEASE_CERT", case).to(&["court", "procuratorate", "police"]).effective(end);
    let events = w.anchor(&mut c.justice, &release);
    assert_eq!(events[1], Event::CaseMoved { case_ref: case, from: Some(UnderSupervision), to: Released });

    assert_eq!(
        history(&w, &case),
        vec![
            step("ASSESS_REQ", None, AssessmentRequested),
            step("ASSESS_OPINION", Some(AssessmentRequested), AssessmentSubmitted),
            step("JUDGMENT", Some(AssessmentSubmitted), Decided),
            step("EXEC_NOTICE", Some(Decided), Decided),
            step("INTAKE", Some(Decided), Received),
            step("ANNOUNCE", Some(Received), UnderSupervision),
            step("WARNING", Some(UnderSupervision), UnderSupervision),
            step("RELEASE_CERT", Some(UnderSupervision), Released),
        ]
    );
    let issuers: Vec<_> = Runtime::case_history(&w.state, &case).into_iter().map(|e| e.issuer).collect();
    assert_eq!(issuers[2], agency("court"));
    assert_eq!(issuers[7], agency("justice"));
    let rec = Runtime::case(&w.state, &case).unwrap();
    assert_eq!(rec.state, Released);
    assert!(rec.state.is_closed());
    assert_eq!(rec.kind, Some(SubjectKind::Probation));
    assert_eq!(rec.commissioned_by, Some(agency("court")));
    assert_eq!(rec.deciding_body, Some(agency("court")));
    assert_eq!(rec.cca, Some(agency("justice")));
    assert_eq!((rec.decision_effective, rec.correction_end), (Some(d), Some(date("2027-06-01"))));
    assert_eq!((rec.events, rec.handed_over, rec.opened_at, rec.updated_at), (8, false, 3, w.height));
    assert!(Runtime::receipt(&w.state, &judgment.hash(), &agency("justice")).is_some());
    // A closed case still takes correspondence, but no further step.
    let late = w.doc("WARNING", case);
    let err = refused(&mut w, &mut c.justice, &late);
    assert!(matches!(err, WorkflowError::WrongState { found: Some(Released), .. }));
}

#[test]
fn probation_case_runs_from_assessment_to_release_sm() {
    probation_lifecycle(SuiteId::Sm);
}

#[test]
fn probation_case_runs_from_assessment_to_release_intl() {
    probation_lifecycle(SuiteId::Intl);
}

#[test]
fn medical_parole_approved_by_the_prison_runs_to_commitment() {
    let (mut w, mut c) = setup(SuiteId::Sm);
    let case = w.case("(2026)黑监暂字第8号");
    let proposal = w.doc("TEMPOUT_PROPOSAL", case).to(&["prison"]).copy(&["procuratorate"]);
    w.anchor(&mut c.prison, &proposal);
    assert_eq!(Runtime::case(&w.state, &case).unwrap().kind, Some(SubjectKind::TempOutsidePrison));
    let opinion = w.doc("PROC_OPINION", case).to(&["prison"]);
    w.anchor(&mut c.procuratorate, &opinion);
    let guarantor = w.doc("GUARANTOR_CHECK", case);
    w.anchor(&mut c.prison, &guarantor);
    let approval = w
        .doc("TEMPOUT_APPROVAL", case)
        .to(&["justice"])
        .copy(&["procuratorate", "police"])
        .kind(SubjectKind::TempOutsidePrison)
        .effective(today());
    w.anchor(&mut c.prison, &approval);

    // Law Art.21 para 3: the prison transfers the subject; the CCA cannot take in before.
    let early = w.doc("INTAKE", case).received(today());
    let err = refused(&mut w, &mut c.justice, &early);
    assert_eq!(
        err,
        WorkflowError::HandoverMissing { kind: SubjectKind::TempOutsidePrison, custodian: AgencyRole::Prison }
    );
    says(&err, "needs the HANDOVER by the prison first");
    let handover = w.doc("HANDOVER", case).to(&["justice"]);
    w.anchor(&mut c.prison, &handover);
    assert!(Runtime::case(&w.state, &case).unwrap().handed_over);
    let intake = w.doc("INTAKE", case).received(w.set_day(2));
    w.anchor(&mut c.justice, &intake);
    let announce = w.doc("ANNOUNCE", case);
    w.anchor(&mut c.justice, &announce);
    w.set_day(90);
    let review = w.doc("TEMPOUT_REVIEW", case);
    w.anchor(&mut c.justice, &review);
    let proposal = w.doc("COMMIT_PROPOSAL", case).to(&["prison"]).copy(&["procuratorate"]);
    w.anchor(&mut c.justice, &proposal);
    let decision =
        w.doc("COMMIT_DECISION", case).to(&["justice", "police"]).copy(&["procuratorate"]).effective(w.set_day(100));
    w.anchor(&mut c.prison, &decision);
    let committed = w.doc("COMMITTED", case).to(&["justice"]).effective(w.set_day(101));
    w.anchor(&mut c.prison, &committed);

    assert_eq!(
        history(&w, &case),
        vec![
            step("TEMPOUT_PROPOSAL", None, Proposed),
            step("PROC_OPINION", Some(Proposed), Proposed),
            step("GUARANTOR_CHECK", Some(Proposed), Proposed),
            step("TEMPOUT_APPROVAL", Some(Proposed), Decided),
            step("HANDOVER", Some(Decided), Decided),
            step("INTAKE", Some(Decided), Received),
            step("ANNOUNCE", Some(Received), UnderSupervision),
            step("TEMPOUT_REVIEW", Some(UnderSupervision), UnderSupervision),
            step("COMMIT_PROPOSAL", Some(UnderSupervision), RevocationProposed),
            step("COMMIT_DECISION", Some(RevocationProposed), Committed),
            step("COMMITTED", Some(Committed), Terminated(TerminationReason::Committed)),
        ]
    );
    let rec = Runtime::case(&w.state, &case).unwrap();
    assert_eq!(rec.state, Terminated(TerminationReason::Committed));
    assert_eq!((rec.deciding_body, rec.cca), (Some(agency("prison")), Some(agency("justice"))));
}

#[test]
fn probation_revoked_after_an_arrest_ends_terminated_revoked() {
    let (mut w, mut c) = setup(SuiteId::Intl);
    let case = supervised(&mut w, &mut c, "(2026)黑0103刑初102号", SubjectKind::Probation);
    // T20–T22, T25: revocation proposal, arrest request and decision, ruling, admission.
    for (doc, m, to) in [
        ("REVOKE_PROPOSAL", "justice", RevocationProposed),
        ("ARREST_REQ", "justice", ArrestRequested),
        ("ARREST_DECISION", "court", RevocationProposed),
        ("REVOKE_RULING", "court", Committed),
        ("COMMITTED", "police", Terminated(TerminationReason::Revoked)),
    ] {
        let d = w.doc(doc, case).to(&["justice"]).effective(today());
        let d = if m == "justice" { d.to(&["court"]) } else { d };
        w.anchor(c.of(m), &d);
        assert_eq!(Runtime::case(&w.state, &case).unwrap().state, to, "after {doc}");
    }
}

#[test]
fn a_judgment_by_the_police_is_refused() {
    let (mut w, mut c) = setup(SuiteId::Sm);
    let case = w.case("(2026)黑0103刑初201号");
    let judgment = probation_judgment(&mut w, case);
    let err = refused(&mut w, &mut c.police, &judgment);
    assert!(
        matches!(&err, WorkflowError::WrongIssuer { found: AgencyRole::Police, expected, .. } if expected == &[AgencyRole::Court])
    );
    says(&err, "JUDGMENT must be issued by court, not by a police");
}

#[test]
fn a_judgment_granting_parole_is_refused() {
    let (mut w, mut c) = setup(SuiteId::Sm);
    let case = w.case("(2026)黑0103刑初202号");
    let judgment = probation_judgment(&mut w, case).kind(SubjectKind::Parole);
    let err = refused(&mut w, &mut c.court, &judgment);
    assert!(matches!(&err, WorkflowError::WrongKind { found: Some(SubjectKind::Parole), .. }));
    says(&err, "JUDGMENT does not apply to a parole case: it applies to control, probation");
}

#[test]
fn a_tempout_approval_by_a_court_is_refused() {
    let (mut w, mut c) = setup(SuiteId::Sm);
    let case = w.case("(2026)黑0103刑初203号");
    let approval =
        w.doc("TEMPOUT_APPROVAL", case).to(&["justice"]).kind(SubjectKind::TempOutsideCourt).effective(today());
    let err = refused(&mut w, &mut c.court, &approval);
    assert!(matches!(&err, WorkflowError::WrongIssuer { found: AgencyRole::Court, .. }));
    says(&err, "TEMPOUT_APPROVAL must be issued by prison or police, not by a court");
}

#[test]
fn intake_by_another_agency_than_the_cases_cca_is_refused() {
    let (mut w, mut c) = setup(SuiteId::Sm);
    let case = decided(&mut w, &mut c, "(2026)黑0103刑初204号", SubjectKind::Probation);
    for who in ["police", "court"] {
        let intake = w.doc("INTAKE", case).received(today());
        let err = refused(&mut w, c.of(who), &intake);
        assert_eq!(
            err,
            WorkflowError::NotCaseAgency {
                doc_type: intake.0.doc_type.clone(),
                expected: agency("justice"),
                what: "the CCA at the place of execution".into(),
                found: agency(who),
            }
        );
        says(
            &err,
            &format!(
                "INTAKE for this case must be issued by justice (the CCA at the place of execution), not by {who}"
            ),
        );
    }
}

#[test]
fn a_correction_opinion_by_the_police_is_refused() {
    let (mut w, mut c) = setup(SuiteId::Sm);
    let case = decided(&mut w, &mut c, "(2026)黑0103刑初205号", SubjectKind::Probation);
    let opinion = w.doc("CORRECTION_OPINION", case).to(&["court"]);
    let err = refused(&mut w, &mut c.police, &opinion);
    assert!(matches!(&err, WorkflowError::WrongIssuer { expected, .. } if expected == &[AgencyRole::Procuratorate]));
    says(&err, "must be issued by procuratorate, not by a police");
    w.anchor(&mut c.procuratorate, &opinion);
}

#[test]
fn announcement_before_intake_is_refused() {
    let (mut w, mut c) = setup(SuiteId::Sm);
    let case = decided(&mut w, &mut c, "(2026)黑0103刑初206号", SubjectKind::Probation);
    let announce = w.doc("ANNOUNCE", case);
    let err = refused(&mut w, &mut c.justice, &announce);
    assert_eq!(
        err,
        WorkflowError::WrongState {
            doc_type: announce.0.doc_type.clone(),
            found: Some(Decided),
            expected: vec![Some(Received)]
        }
    );
    says(&err, "ANNOUNCE cannot be anchored when the case is decided: expected received");
}

#[test]
fn a_revocation_proposal_on_a_control_case_is_refused() {
    let (mut w, mut c) = setup(SuiteId::Sm);
    let case = supervised(&mut w, &mut c, "(2026)黑0103刑初207号", SubjectKind::Control);
    let proposal = w.doc("REVOKE_PROPOSAL", case).to(&["court"]);
    let err = refused(&mut w, &mut c.justice, &proposal);
    assert!(matches!(&err, WorkflowError::WrongKind { found: Some(SubjectKind::Control), .. }));
    says(&err, "REVOKE_PROPOSAL does not apply to a control case: it applies to probation, parole");
}

#[test]
fn a_decision_without_subject_kind_is_refused() {
    let (mut w, mut c) = setup(SuiteId::Sm);
    let case = w.case("(2026)黑0103刑初208号");
    let mut judgment = probation_judgment(&mut w, case);
    judgment.0.subject_kind = None;
    let err = refused(&mut w, &mut c.court, &judgment);
    assert!(matches!(&err, WorkflowError::MissingKind { .. }));
    says(&err, "JUDGMENT decides the case and must state the subject kind (control, probation)");
    // A 暂外 approval needs no period, so the missing kind is what it reports.
    let approval = w.doc("TEMPOUT_APPROVAL", case).to(&["justice"]).effective(today());
    let err = refused(&mut w, &mut c.prison, &approval);
    says(&err, "TEMPOUT_APPROVAL decides the case and must state the subject kind (temp_outside_prison)");
}

#[test]
fn a_judgment_not_addressed_to_a_cca_is_refused() {
    let (mut w, mut c) = setup(SuiteId::Sm);
    let case = w.case("(2026)黑0103刑初209号");
    // A copy (抄送) to the CCA is not delivery (送达).
    let judgment = probation_judgment(&mut w, case).to(&["police"]).copy(&["justice"]);
    let err = refused(&mut w, &mut c.court, &judgment);
    assert_eq!(
        err,
        WorkflowError::MissingRecipient { doc_type: judgment.0.doc_type.clone(), role: AgencyRole::Justice }
    );
    says(&err, "JUDGMENT must be addressed (送达) to a justice");
}

#[test]
fn an_effective_date_after_the_tolerance_is_refused() {
    let (mut w, mut c) = setup(SuiteId::Sm);
    let case = w.case("(2026)黑0103刑初210号");
    let tomorrow = today().plus_days(1);
    let too_late = today().plus_days(2);
    let judgment = probation_judgment(&mut w, case).effective(too_late);
    let err = refused(&mut w, &mut c.court, &judgment);
    assert_eq!(err, WorkflowError::DateTooLate { field: DateField::Effective, date: too_late, latest: tomorrow });
    says(&err, "effective date 2026-06-03 is later than 2026-06-02 (the block's date plus the tolerance)");
    // One day ahead is within the tolerance.
    let judgment = probation_judgment(&mut w, case).effective(tomorrow);
    w.anchor(&mut c.court, &judgment);
}

#[test]
fn an_effective_date_before_the_backdating_limit_is_refused() {
    let (mut w, mut c) = setup(SuiteId::Sm);
    let case = w.case("(2026)黑0103刑初211号");
    let limit = w.runtime.chain_params(&w.state).max_backdate_days as i32;
    let earliest = today().plus_days(-limit);
    let judgment = probation_judgment(&mut w, case).effective(earliest.plus_days(-1));
    let err = refused(&mut w, &mut c.court, &judgment);
    assert_eq!(
        err,
        WorkflowError::DateTooEarly { field: DateField::Effective, date: earliest.plus_days(-1), earliest }
    );
    says(&err, &format!("is earlier than {earliest} (the block's date minus the back-dating limit)"));
    let judgment = probation_judgment(&mut w, case).effective(earliest);
    w.anchor(&mut c.court, &judgment);
}

#[test]
fn a_period_ending_before_it_starts_is_refused() {
    let (mut w, mut c) = setup(SuiteId::Sm);
    let case = w.case("(2026)黑0103刑初212号");
    let judgment = probation_judgment(&mut w, case).period(today(), today().plus_days(-1));
    let err = refused(&mut w, &mut c.court, &judgment);
    assert!(matches!(&err, WorkflowError::BadPeriod { .. }));
    says(&err, "period 2026-06-01 – 2026-05-31 is invalid: it ends before it starts");
    let too_long = probation_judgment(&mut w, case).period(today(), today().plus_days(366 * 11 + 1));
    says(&refused(&mut w, &mut c.court, &too_long), "longer than 4026 days");
}

#[test]
fn an_intake_dated_before_the_decision_is_refused() {
    let (mut w, mut c) = setup(SuiteId::Sm);
    let case = decided(&mut w, &mut c, "(2026)黑0103刑初213号", SubjectKind::Probation);
    let yesterday = today().plus_days(-1);
    let intake = w.doc("INTAKE", case).received(yesterday);
    let err = refused(&mut w, &mut c.justice, &intake);
    assert_eq!(err, WorkflowError::BeforeDecision { field: DateField::Received, date: yesterday, decided: today() });
    says(&err, "received date 2026-05-31 is before the decision took effect (2026-06-01)");
    // And an intake without its received date.
    let undated = w.doc("INTAKE", case);
    let err = refused(&mut w, &mut c.justice, &undated);
    assert!(matches!(err, WorkflowError::MissingDate { field: DateField::Received, .. }));
}

/// What the document `code` issued by an agency of `role` does to a case not opened yet, if
/// it is lawful: `Some(None)` for a letter (no case opened), `Some(Some(state))` for a
/// document that opens the case, `None` if it must be refused.
fn on_fresh_case(code: &str, role: AgencyRole) -> Option<Option<CaseState>> {
    use AgencyRole::*;
    match (code, role) {
        ("ASSESS_REQ", Court | Procuratorate | Police | Prison) => Some(Some(AssessmentRequested)),
        ("PAROLE_PROPOSAL", Prison) | ("TEMPOUT_PROPOSAL", Prison | Police) => Some(Some(Proposed)),
        ("JUDGMENT" | "RULING" | "TEMPOUT_DECISION", Court) | ("TEMPOUT_APPROVAL", Prison | Police) => {
            Some(Some(Decided))
        }
        ("LETTER", _) => Some(None),
        _ => None,
    }
}

/// The lawful kind a deciding document of `role` states.
fn decided_kind(code: &str, role: AgencyRole) -> Option<SubjectKind> {
    match code {
        "JUDGMENT" => Some(SubjectKind::Probation),
        "RULING" => Some(SubjectKind::Parole),
        "TEMPOUT_DECISION" => Some(SubjectKind::TempOutsideCourt),
        "TEMPOUT_APPROVAL" if role == AgencyRole::Police => Some(SubjectKind::TempOutsidePolice),
        "TEMPOUT_APPROVAL" => Some(SubjectKind::TempOutsidePrison),
        _ => None,
    }
}

#[test]
fn only_opening_documents_by_their_lawful_issuer_succeed_on_a_fresh_case() {
    let (mut w, mut c) = setup(SuiteId::Sm);
    let day: Date = today();
    let mut n = 0;
    for code in workflow::DOC_TYPES {
        for (a, role) in AGENCIES.iter().zip(AgencyRole::ALL) {
            n += 1;
            let case = w.case(&format!("(2026)黑0103刑初{n}号"));
            let mut doc =
                w.doc(code, case).to(&["justice"]).effective(day).received(day).period(day, day.plus_days(365));
            doc.0.subject_kind = decided_kind(code, role);
            match on_fresh_case(code, role) {
                Some(expected) => {
                    let events = w.anchor(c.of(a), &doc);
                    assert_eq!(Runtime::case(&w.state, &case).map(|r| r.state), expected, "{code} by {a}");
                    assert_eq!(events.len(), if expected.is_some() { 2 } else { 1 }, "{code} by {a}: {events:?}");
                }
                None => {
                    let err = w.expect_call_failure(c.of(a), doc.call());
                    assert!(matches!(err, CallError::Workflow(_)), "{code} by {a}: {err}");
                    assert!(Runtime::case(&w.state, &case).is_none(), "{code} by {a} opened a case");
                }
            }
        }
    }
    assert_eq!(n, workflow::DOC_TYPES.len() * 5);
}

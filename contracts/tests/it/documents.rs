//! Anchors and delivery receipts.

use custos_contracts::call::{Call, ReceiptCall, SubjectKind};
use custos_contracts::documents::DocumentError;
use custos_contracts::runtime::{CallError, Event, Runtime};
use custos_contracts::workflow::CaseState;
use custos_primitives::crypto::{Hash, SuiteId};
use custos_primitives::types::MemberRole;

use crate::support::{NOW_MS, World, agency, date, today};

fn receipt(doc: &crate::support::Doc) -> Call {
    Call::Receipt(ReceiptCall { doc_hash: doc.hash() })
}

#[test]
fn the_same_hash_anchored_twice_is_refused_and_the_first_anchor_stands() {
    let mut w = World::new(SuiteId::Sm);
    let mut clerks = w.five(MemberRole::Clerk);
    let case = w.case("(2026)黑0103刑初1号");
    let doc = w.doc("ASSESS_REQ", case).to(&["justice"]);
    w.anchor(&mut clerks.court, &doc);
    // The same hash again, even from another agency and as another type.
    let mut again = doc.clone();
    again.0.doc_type = custos_contracts::call::DocType::new("LETTER").unwrap();
    let err = w.expect_call_failure(&mut clerks.police, again.call());
    assert_eq!(err, CallError::Document(DocumentError::AlreadyAnchored(doc.hash())));
    assert!(err.to_string().contains("already anchored"));
    let rec = Runtime::anchor_record(&w.state, &doc.hash()).unwrap();
    assert_eq!((rec.issuer.as_str(), rec.doc_type.as_str()), ("court", "ASSESS_REQ"));
}

#[test]
fn unknown_and_duplicate_parties_are_refused() {
    let mut w = World::new(SuiteId::Sm);
    let mut clerks = w.five(MemberRole::Clerk);
    let case = w.case("(2026)黑0103刑初2号");
    let unknown = w.doc("LETTER", case).to(&["justice"]).copy(&["tax-office"]);
    let err = w.expect_call_failure(&mut clerks.court, unknown.call());
    assert_eq!(err, CallError::Document(DocumentError::UnknownParty(agency("tax-office"))));
    let twice = w.doc("LETTER", case).to(&["justice"]).copy(&["procuratorate", "justice"]);
    let err = w.expect_call_failure(&mut clerks.court, twice.call());
    assert_eq!(err, CallError::Document(DocumentError::DuplicateParty(agency("justice"))));
    let twice = w.doc("LETTER", case).to(&["police", "police"]);
    let err = w.expect_call_failure(&mut clerks.court, twice.call());
    assert_eq!(err, CallError::Document(DocumentError::DuplicateParty(agency("police"))));
    assert!(err.to_string().contains("listed twice"));
}

#[test]
fn receipts_only_from_addressed_agencies_and_once() {
    let mut w = World::new(SuiteId::Sm);
    let mut clerks = w.five(MemberRole::Clerk);
    let case = w.case("(2026)黑0103刑初3号");
    let doc = w.doc("ASSESS_REQ", case).to(&["justice"]).copy(&["procuratorate"]);
    w.anchor(&mut clerks.court, &doc);
    // The recipient and the copy acknowledge; the police, neither, may not.
    let j = w.tx(&mut clerks.justice, receipt(&doc));
    let p = w.tx(&mut clerks.procuratorate, receipt(&doc));
    let results = w.block(vec![j, p]);
    assert_eq!(results[0], Ok(vec![Event::Received { doc: doc.hash(), agency: agency("justice") }]));
    assert_eq!(results[1], Ok(vec![Event::Received { doc: doc.hash(), agency: agency("procuratorate") }]));
    let err = w.expect_call_failure(&mut clerks.police, receipt(&doc));
    assert_eq!(err, CallError::Document(DocumentError::NotAddressed { doc: doc.hash(), agency: agency("police") }));
    // The issuer is not addressed either (it did not send the document to itself).
    let err = w.expect_call_failure(&mut clerks.court, receipt(&doc));
    assert!(matches!(err, CallError::Document(DocumentError::NotAddressed { .. })));
    // Once per agency.
    let err = w.expect_call_failure(&mut clerks.justice, receipt(&doc));
    assert_eq!(err, CallError::Document(DocumentError::AlreadyReceived { doc: doc.hash(), agency: agency("justice") }));
    // Not for a document that is not anchored.
    let missing = w.doc("LETTER", case);
    let err = w.expect_call_failure(&mut clerks.justice, receipt(&missing));
    assert_eq!(err, CallError::Document(DocumentError::NotAnchored(missing.hash())));
    let r = Runtime::receipt(&w.state, &doc.hash(), &agency("justice")).unwrap();
    assert_eq!((r.agency.as_str(), r.signer, r.height), ("justice", clerks.justice.signer, 4));
    assert!(Runtime::receipt(&w.state, &doc.hash(), &agency("police")).is_none());
}

#[test]
fn document_history_returns_the_anchor_and_its_receipts() {
    let mut w = World::new(SuiteId::Intl);
    let mut clerks = w.five(MemberRole::Clerk);
    let case = w.case("(2026)黑0103刑初4号");
    let doc = w.doc("LETTER", case).to(&["justice", "police"]).copy(&["procuratorate"]);
    w.anchor(&mut clerks.court, &doc);
    let (anchor, receipts) = Runtime::document_history(&w.state, &doc.hash()).unwrap();
    assert_eq!(anchor.doc_hash, doc.hash());
    assert!(receipts.is_empty());
    w.call(&mut clerks.procuratorate, receipt(&doc));
    w.call(&mut clerks.justice, receipt(&doc));
    let (_, receipts) = Runtime::document_history(&w.state, &doc.hash()).unwrap();
    // In the order of the document's recipients, then copies.
    let who: Vec<_> = receipts.iter().map(|r| (r.agency.as_str().to_string(), r.signer, r.height)).collect();
    assert_eq!(
        who,
        vec![
            ("justice".to_string(), clerks.justice.signer, w.height),
            ("procuratorate".to_string(), clerks.procuratorate.signer, w.height - 1),
        ]
    );
    let missing = w.doc_hash();
    assert!(Runtime::document_history(&w.state, &missing).is_none());
}

#[test]
fn eseal_reference_dates_and_addressees_are_recorded() {
    let mut w = World::new(SuiteId::Sm);
    let mut clerks = w.five(MemberRole::Clerk);
    let case = w.case("(2026)黑0103刑初5号");
    let d = today();
    let judgment = w
        .doc("JUDGMENT", case)
        .to(&["justice"])
        .copy(&["procuratorate", "police"])
        .kind(SubjectKind::Probation)
        .effective(d)
        .period(d, date("2027-05-31"))
        .eseal(Hash([0xE5; 32]));
    w.time_ms = NOW_MS + 1234;
    w.anchor(&mut clerks.court, &judgment);
    let rec = Runtime::anchor_record(&w.state, &judgment.hash()).unwrap();
    let call = &judgment.0;
    assert_eq!(rec.eseal_ref, Some(Hash([0xE5; 32])));
    assert_eq!(rec.dates, call.dates);
    assert_eq!(rec.dates.period_end, Some(date("2027-05-31")));
    assert_eq!(rec.recipients, call.recipients.to_vec());
    assert_eq!(rec.copies, call.copies.to_vec());
    assert_eq!(rec.subject_kind, Some(SubjectKind::Probation));
    assert_eq!(rec.case_ref, case);
    assert_eq!(rec.case_state, Some(CaseState::Decided));
    assert_eq!((rec.issuer.as_str(), rec.signer), ("court", clerks.court.signer));
    assert_eq!((rec.height, rec.time_ms), (w.height, NOW_MS + 1234));
    let (tx_id, _) = &w.last.as_ref().unwrap().outcomes[0];
    assert_eq!(rec.tx_id, *tx_id);
    // The case keeps the dates the deadlines run from.
    let c = Runtime::case(&w.state, &case).unwrap();
    assert_eq!((c.decision_effective, c.correction_end), (Some(d), Some(date("2027-05-31"))));
}

#[test]
fn a_letter_about_no_case_opens_no_case() {
    let mut w = World::new(SuiteId::Sm);
    let mut clerks = w.five(MemberRole::Clerk);
    let case = w.case("(2026)黑0103刑初6号");
    let letter = w.doc("LETTER", case).to(&["court"]);
    let events = w.anchor(&mut clerks.justice, &letter);
    assert_eq!(events.len(), 1, "anchored, no case moved: {events:?}");
    assert!(Runtime::case(&w.state, &case).is_none());
    assert!(Runtime::case_history(&w.state, &case).is_empty());
    assert_eq!(Runtime::anchor_record(&w.state, &letter.hash()).unwrap().case_state, None);
}

#[test]
fn the_invariants_catch_a_corrupted_state() {
    use parity_scale_codec::Encode;

    use crate::support::check_invariants;
    let mut w = World::new(SuiteId::Sm);
    let mut clerks = w.five(MemberRole::Clerk);
    let case = w.case("(2026)黑0103刑初9号");
    let doc = w.doc("ASSESS_REQ", case).to(&["justice"]);
    w.anchor(&mut clerks.court, &doc);
    w.call(&mut clerks.justice, receipt(&doc));
    let fails = |state: &crate::support::State| {
        std::panic::catch_unwind(|| check_invariants(state, &w.runtime, &w.block_txs, w.height)).is_err()
    };
    assert!(!fails(&w.state));
    // A receipt by an agency the document was not addressed to.
    let mut bad = w.state.clone();
    let mut r = Runtime::receipt(&w.state, &doc.hash(), &agency("justice")).unwrap();
    r.agency = agency("police");
    bad.insert(custos_contracts::documents::receipt_key(&doc.hash(), &agency("police")), r.encode());
    assert!(fails(&bad));
    // A case whose event count disagrees with its history.
    let mut bad = w.state.clone();
    let mut c = Runtime::case(&w.state, &case).unwrap();
    c.events += 1;
    bad.insert(custos_contracts::documents::case_key(&case), c.encode());
    assert!(fails(&bad));
    // An empty validator set.
    let mut bad = w.state.clone();
    bad.insert(custos_contracts::registry::VALIDATORS_KEY.to_vec(), Vec::<u8>::new().encode());
    assert!(fails(&bad));
}

#[test]
fn the_issuer_grants_and_revokes_access_and_only_readers_acknowledge() {
    use custos_contracts::call::{GrantAccessCall, RevokeAccessCall};
    let mut w = World::new(SuiteId::Sm);
    let mut clerks = w.five(MemberRole::Clerk);
    let case = w.case("(2026)黑0103刑初9号");
    let doc = w.doc("ASSESS_REQ", case).to(&["justice"]);
    w.anchor(&mut clerks.court, &doc);
    let grant = |a: &str| Call::GrantAccess(GrantAccessCall { doc_hash: doc.hash(), agency: agency(a) });
    let revoke = |a: &str| Call::RevokeAccess(RevokeAccessCall { doc_hash: doc.hash(), agency: agency(a) });
    assert!(Runtime::may_read(&w.state, &doc.hash(), &agency("justice")));
    assert!(!Runtime::may_read(&w.state, &doc.hash(), &agency("procuratorate")));
    // Only the issuing agency grants.
    let err = w.expect_call_failure(&mut clerks.justice, grant("procuratorate"));
    assert_eq!(err, CallError::Document(DocumentError::NotIssuer { doc: doc.hash(), issuer: agency("court") }));
    // A recipient needs no grant; an unknown agency gets none.
    let err = w.expect_call_failure(&mut clerks.court, grant("justice"));
    assert!(matches!(err, CallError::Document(DocumentError::AlreadyReadable { .. })), "{err}");
    let err = w.expect_call_failure(&mut clerks.court, grant("tax-office"));
    assert_eq!(err, CallError::Document(DocumentError::UnknownParty(agency("tax-office"))));
    let events = w.call(&mut clerks.court, grant("procuratorate"));
    assert_eq!(events, vec![Event::AccessGranted { doc: doc.hash(), agency: agency("procuratorate") }]);
    assert!(Runtime::may_read(&w.state, &doc.hash(), &agency("procuratorate")));
    // Granted twice: refused. The grantee may acknowledge.
    let err = w.expect_call_failure(&mut clerks.court, grant("procuratorate"));
    assert!(matches!(err, CallError::Document(DocumentError::AlreadyReadable { .. })), "{err}");
    w.call(&mut clerks.procuratorate, receipt(&doc));
    // Revoked: no longer readable; revoking again is refused.
    let events = w.call(&mut clerks.court, revoke("procuratorate"));
    assert_eq!(events, vec![Event::AccessRevoked { doc: doc.hash(), agency: agency("procuratorate") }]);
    assert!(!Runtime::may_read(&w.state, &doc.hash(), &agency("procuratorate")));
    let err = w.expect_call_failure(&mut clerks.court, revoke("procuratorate"));
    assert_eq!(err, CallError::Document(DocumentError::NoGrant { doc: doc.hash(), agency: agency("procuratorate") }));
    // The police, never granted, may not acknowledge.
    let err = w.expect_call_failure(&mut clerks.police, receipt(&doc));
    assert!(matches!(err, CallError::Document(DocumentError::NotAddressed { .. })), "{err}");
}

#[test]
fn an_agency_admin_sets_its_encryption_key_of_the_networks_suite() {
    use custos_contracts::call::SetEncryptionKeyCall;
    use custos_contracts::registry::RegistryError;
    use custos_primitives::crypto::{AnySuite, Suite};
    for suite in [SuiteId::Sm, SuiteId::Intl] {
        let mut w = World::new(suite);
        let mut admins = w.five(MemberRole::Admin);
        let mut clerks = w.five(MemberRole::Clerk);
        let key = w.suite.generate_decryption_key().unwrap().public_key();
        let set = |k| Call::SetEncryptionKey(SetEncryptionKeyCall { key: k });
        // A clerk may not; a key of the other suite is refused.
        let err = w.expect_call_failure(&mut clerks.court, set(key));
        assert!(matches!(err, CallError::Registry(RegistryError::RoleNotAllowed { .. })), "{err}");
        let other = if suite == SuiteId::Sm { SuiteId::Intl } else { SuiteId::Sm };
        let foreign = AnySuite::with_defaults(other).generate_decryption_key().unwrap().public_key();
        let err = w.expect_call_failure(&mut admins.court, set(foreign));
        assert!(matches!(err, CallError::Registry(RegistryError::WrongKeySuite { .. })), "{err}");
        assert_eq!(w.call(&mut admins.court, set(key)), vec![Event::EncryptionKeySet { agency: agency("court") }]);
        assert_eq!(w.runtime.agency(&w.state, &agency("court")).unwrap().encryption_key, Some(key));
        // The others keep the key genesis gave them.
        let police = w.runtime.agency(&w.state, &agency("police")).unwrap().encryption_key;
        assert!(police.is_some_and(|k| k != key), "{police:?}");
    }
}

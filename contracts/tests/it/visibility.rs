//! The parties to cases and documents (decision 0017), read from the state real blocks left:
//! they grow with the history, refused documents add nobody, a letter before the case opened
//! counts for the letter only, a grant opens a document's records and not its case, and a
//! transferred case keeps its former CCA.

use std::collections::BTreeSet;

use custos_contracts::call::{Call, GrantAccessCall, RevokeAccessCall, SubjectKind};
use custos_contracts::documents;
use custos_contracts::governance::GovAction;
use custos_contracts::runtime::Runtime;
use custos_contracts::visibility::{self, Standing, case_parties, classify, document_parties, standing};
use custos_primitives::crypto::SuiteId;
use custos_primitives::types::{AgencyId, AgencyLevel, AgencyRole, CaseRef, DocHash, MemberRole};
use custos_primitives::x509::{self, Certificate};
use custos_testnet::home;

use crate::support::{Doc, INIT, NOW, World, agency, date, issue_from, today};

fn set(ids: &[&str]) -> BTreeSet<AgencyId> {
    ids.iter().map(|s| agency(s)).collect()
}

fn case_standing(w: &World, case: &CaseRef, who: &str) -> Standing {
    standing(&w.state, &classify(&documents::case_key(case)), &agency(who))
}

fn doc_standing(w: &World, doc: &DocHash, who: &str) -> Standing {
    standing(&w.state, &classify(&documents::doc_key(doc)), &agency(who))
}

fn judgment(w: &mut World, case: CaseRef, copies: &[&str]) -> Doc {
    w.doc("JUDGMENT", case)
        .to(&["justice"])
        .copy(copies)
        .kind(SubjectKind::Probation)
        .effective(today())
        .period(today(), date("2027-05-31"))
}

#[test]
fn parties_grow_with_the_history_and_refused_documents_add_nobody() {
    let mut w = World::new(SuiteId::Sm);
    let mut c = w.five(MemberRole::Clerk);
    let case = w.case("(2026)黑0103刑初901号");
    assert!(case_parties(&w.state, &case).is_empty(), "no case, no parties");

    let req = w.doc("ASSESS_REQ", case).to(&["justice"]).copy(&["procuratorate"]);
    w.anchor(&mut c.court, &req);
    assert_eq!(case_parties(&w.state, &case), set(&["court", "justice", "procuratorate"]));

    // The police's judgment is refused by the workflow: the police do not join the case.
    let bogus = w.doc("JUDGMENT", case).to(&["justice"]).kind(SubjectKind::Probation).effective(today());
    w.expect_call_failure(&mut c.police, bogus.call());
    assert_eq!(case_standing(&w, &case, "police"), Standing::NotParty);

    // The court's judgment copied to the police: they are a party from now on.
    let j = judgment(&mut w, case, &["procuratorate", "police"]);
    w.anchor(&mut c.court, &j);
    assert_eq!(case_parties(&w.state, &case), set(&["court", "justice", "procuratorate", "police"]));
    assert_eq!(case_standing(&w, &case, "police"), Standing::Party);
    assert_eq!(case_standing(&w, &case, "prison"), Standing::NotParty);
    // Each document of the case has the case's parties, whatever its own addressees.
    assert_eq!(document_parties(&w.state, &req.hash()).unwrap().parties, case_parties(&w.state, &case));
    assert_eq!(doc_standing(&w, &req.hash(), "police"), Standing::Party);
    assert_eq!(doc_standing(&w, &req.hash(), "prison"), Standing::NotParty);

    // A letter about an opened case joins its history, and its issuer the parties: anchoring it
    // is itself on the record the parties read.
    let letter = w.doc("LETTER", case).to(&["justice"]);
    w.anchor(&mut c.prison, &letter);
    assert_eq!(Runtime::case_history(&w.state, &case).len(), 3);
    assert_eq!(case_standing(&w, &case, "prison"), Standing::Party);
}

#[test]
fn a_letter_before_the_case_opened_makes_its_addressees_parties_to_the_letter_only() {
    let mut w = World::new(SuiteId::Sm);
    let mut c = w.five(MemberRole::Clerk);
    let case = w.case("(2026)黑0103刑初902号");
    let letter = w.doc("LETTER", case).to(&["police"]);
    w.anchor(&mut c.prison, &letter);
    assert!(Runtime::case(&w.state, &case).is_none());
    assert!(case_parties(&w.state, &case).is_empty());
    let p = document_parties(&w.state, &letter.hash()).unwrap();
    assert_eq!((p.case_ref, p.parties), (case, set(&["prison", "police"])));
    assert_eq!(doc_standing(&w, &letter.hash(), "police"), Standing::Party);
    assert_eq!(case_standing(&w, &case, "police"), Standing::NotParty);

    // The court opens the case: its parties see the earlier letter; the letter's addressees
    // still do not see the case.
    let j = judgment(&mut w, case, &[]);
    w.anchor(&mut c.court, &j);
    assert_eq!(case_parties(&w.state, &case), set(&["court", "justice"]));
    assert_eq!(
        document_parties(&w.state, &letter.hash()).unwrap().parties,
        set(&["court", "justice", "prison", "police"])
    );
    assert_eq!(case_standing(&w, &case, "prison"), Standing::NotParty);
    assert_eq!(doc_standing(&w, &j.hash(), "prison"), Standing::NotParty);
}

#[test]
fn a_grant_opens_the_documents_records_and_not_its_case() {
    let mut w = World::new(SuiteId::Sm);
    let mut c = w.five(MemberRole::Clerk);
    let case = w.case("(2026)黑0103刑初903号");
    let j = judgment(&mut w, case, &["procuratorate"]);
    w.anchor(&mut c.court, &j);
    let prison = agency("prison");
    let receipt = classify(&documents::receipt_key(&j.hash(), &agency("justice")));
    assert_eq!(doc_standing(&w, &j.hash(), "prison"), Standing::NotParty);

    w.call(&mut c.court, Call::GrantAccess(GrantAccessCall { doc_hash: j.hash(), agency: prison.clone() }));
    assert!(visibility::holds_active_grant(&w.state, &j.hash(), &prison));
    assert_eq!(doc_standing(&w, &j.hash(), "prison"), Standing::Grantee);
    assert_eq!(standing(&w.state, &receipt, &prison), Standing::Grantee);
    assert_eq!(case_standing(&w, &case, "prison"), Standing::NotParty);
    assert!(!case_parties(&w.state, &case).contains(&prison));

    w.call(&mut c.court, Call::RevokeAccess(RevokeAccessCall { doc_hash: j.hash(), agency: prison.clone() }));
    assert!(!visibility::holds_active_grant(&w.state, &j.hash(), &prison));
    assert_eq!(doc_standing(&w, &j.hash(), "prison"), Standing::NotParty);
}

#[test]
fn a_transferred_case_keeps_its_former_cca_among_the_parties() {
    let mut w = World::new(SuiteId::Sm);
    let mut c = w.five(MemberRole::Clerk);
    let mut a = w.five(MemberRole::Admin);
    // A second CCA joins the consortium (three approvals of five) and registers a clerk.
    let id = agency("justice-2");
    let key = home::generate_key(&w.suite).unwrap();
    let der = x509::issue_ca(&key, &id, "justice-2 CA", INIT, INIT + 3650 * 86_400).unwrap();
    let ca = Certificate::from_der(&der).unwrap();
    let mut clerk2 = issue_from(&w.suite, &ca, &key, MemberRole::Clerk, "justice-2-clerk-1", NOW + 365 * 86_400);
    let action = GovAction::AddAgency {
        id,
        role: AgencyRole::Justice,
        level: AgencyLevel::County,
        area_code: *b"230102",
        ca_cert: der.try_into().unwrap(),
    };
    let p = w.propose(&mut a.court, action);
    w.vote(&mut a.procuratorate, p, true);
    w.vote(&mut a.police, p, true);
    w.register(&mut clerk2);

    let case = w.case("(2026)黑0103刑初904号");
    let j = judgment(&mut w, case, &["procuratorate"]);
    w.anchor(&mut c.court, &j);
    let intake = w.doc("INTAKE", case).to(&["court"]).received(today());
    w.anchor(&mut c.justice, &intake);
    let announce = w.doc("ANNOUNCE", case).to(&["procuratorate"]);
    w.anchor(&mut c.justice, &announce);
    assert_eq!(case_standing(&w, &case, "justice-2"), Standing::NotParty);

    let transfer = w.doc("TRANSFER_DECISION", case).to(&["justice-2"]).effective(today());
    w.anchor(&mut c.justice, &transfer);
    let taken = w.doc("TRANSFER_INTAKE", case).to(&["justice"]).received(today());
    w.anchor(&mut clerk2, &taken);
    assert_eq!(Runtime::case(&w.state, &case).unwrap().cca, Some(agency("justice-2")));
    assert_eq!(case_parties(&w.state, &case), set(&["court", "justice", "justice-2", "procuratorate"]));
    // The new CCA reads the documents issued before it joined.
    assert_eq!(doc_standing(&w, &j.hash(), "justice-2"), Standing::Party);
}

//! Members: registration, roles, revocation, certificate expiry; and the envelope checks that
//! make a block invalid.

use std::collections::BTreeMap;

use custos_contracts::call::{Call, ProposeCall, RevokeCertificateCall, RevokeMemberCall};
use custos_contracts::governance::GovAction;
use custos_contracts::registry::RegistryError;
use custos_contracts::runtime::{CallError, Event, Runtime, TxError};
use custos_primitives::crypto::SuiteId;
use custos_primitives::types::{CertFingerprint, ChainId, MemberRole};

use crate::support::{AGENCIES, Doc, NOW_MS, World, agency, sign};

fn letter(w: &mut World) -> Doc {
    let case = w.case("(2026)黑0103刑初1号");
    w.doc("LETTER", case).to(&["justice"])
}

fn revoke(m: &crate::support::Member) -> Call {
    Call::RevokeMember(RevokeMemberCall { member: m.signer })
}

fn revoke_cert(der: &[u8]) -> Call {
    Call::RevokeCertificate(RevokeCertificateCall { certificate: der.to_vec().try_into().unwrap() })
}

#[test]
fn admin_revokes_a_transport_certificate_of_its_agency_once() {
    for suite in [SuiteId::Sm, SuiteId::Intl] {
        let mut w = World::new(suite);
        let mut clerks = w.five(MemberRole::Clerk);
        let mut admins = w.five(MemberRole::Admin);
        let tls = w.transport_der("court", MemberRole::Clerk);
        let fp = CertFingerprint::of_der(&w.suite, &tls);
        assert!(Runtime::certificate_revoked(&w.state, &fp).is_none());

        // A clerk may not revoke; another agency's admin may not either.
        let err = w.expect_call_failure(&mut clerks.court, revoke_cert(&tls));
        assert!(
            matches!(&err, CallError::Registry(RegistryError::RoleNotAllowed { call, .. }) if call == "revoke_certificate"),
            "{err}"
        );
        let err = w.expect_call_failure(&mut admins.police, revoke_cert(&tls));
        assert_eq!(err, CallError::Registry(RegistryError::OtherAgency { member: fp, agency: agency("court") }));
        assert!(Runtime::certificate_revoked(&w.state, &fp).is_none());

        let events = w.call(&mut admins.court, revoke_cert(&tls));
        assert_eq!(events, vec![Event::CertificateRevoked { certificate: fp, by: admins.court.signer }]);
        let r = Runtime::certificate_revoked(&w.state, &fp).unwrap();
        assert_eq!((r.height, r.by), (w.height, admins.court.signer));
        let err = w.expect_call_failure(&mut admins.court, revoke_cert(&tls));
        assert_eq!(err, CallError::Registry(RegistryError::AlreadyRevoked(fp)));
        // Not a certificate at all.
        let err = w.expect_call_failure(&mut admins.court, revoke_cert(&[0x30, 0x03, 1, 2, 3]));
        assert!(matches!(err, CallError::Registry(RegistryError::Certificate(_))), "{err}");
        // The court clerk's member certificate is untouched: it still anchors.
        let doc = letter(&mut w);
        w.anchor(&mut clerks.court, &doc);
    }
}

#[test]
fn a_revoked_member_certificate_cannot_sign_nor_register() {
    let mut w = World::new(SuiteId::Sm);
    let mut clerks = w.five(MemberRole::Clerk);
    let mut admins = w.five(MemberRole::Admin);
    // Registered: revoked as a member too, so its next transaction is refused.
    let events = w.call(&mut admins.police, revoke_cert(&clerks.police.cert));
    assert_eq!(
        events,
        vec![
            Event::MemberRevoked { member: clerks.police.signer, by: admins.police.signer },
            Event::CertificateRevoked { certificate: clerks.police.signer, by: admins.police.signer },
        ]
    );
    let doc = letter(&mut w);
    let err = w.expect_refused(&mut clerks.police, doc.call());
    assert_eq!(err, TxError::Revoked { signer: clerks.police.signer, height: w.height });
    // Not yet registered: it can no longer be.
    let mut second = w.issue("police", MemberRole::Clerk, "police-clerk-2", crate::support::NOW + 86_400 * 30);
    w.call(&mut admins.police, revoke_cert(&second.cert));
    let call = second.registration();
    let err = w.expect_refused(&mut second, call);
    assert!(matches!(&err, TxError::Certificate(m) if m.contains("revoked at height")), "{err}");
}

#[test]
fn clerk_and_admin_of_every_agency_register_in_both_suites() {
    for suite in [SuiteId::Sm, SuiteId::Intl] {
        let mut w = World::new(suite);
        let clerks = w.five(MemberRole::Clerk);
        let mut admins = w.five(MemberRole::Admin);
        for (a, m) in AGENCIES.iter().zip(admins.all()) {
            let rec = Runtime::member(&w.state, &m.signer).unwrap();
            assert_eq!((rec.agency.as_str(), rec.role, rec.revoked.clone()), (*a, MemberRole::Admin, None));
            assert_eq!(rec.registered_at, 3);
            assert_eq!(rec.not_after, m.not_after());
            assert_eq!(Runtime::next_nonce(&w.state, &m.signer), 1);
        }
        assert_eq!(Runtime::member(&w.state, &clerks.justice.signer).unwrap().role, MemberRole::Clerk);
        // Registering the same certificate again is a failed call.
        let call = admins.court.registration();
        let err = w.expect_call_failure(&mut admins.court, call);
        assert_eq!(err, CallError::Registry(RegistryError::AlreadyRegistered(admins.court.signer)));
    }
}

#[test]
fn node_and_ca_certificates_cannot_register_as_members() {
    let mut w = World::new(SuiteId::Sm);
    // A node certificate passes the certificate checks but may not become a member.
    let mut node = w.member("court", MemberRole::Node);
    let call = node.registration();
    let err = w.expect_call_failure(&mut node, call);
    assert!(matches!(&err, CallError::Registry(RegistryError::RoleNotAllowed { role: MemberRole::Node, .. })));
    assert!(err.to_string().contains("it needs clerk, adapter, auditor or admin"), "{err}");
    assert!(Runtime::member(&w.state, &node.signer).is_none());
    // A CA certificate is not a member certificate at all: refused at the envelope.
    let mut ca = w.member("court", MemberRole::Ca);
    let call = ca.registration();
    let err = w.expect_refused(&mut ca, call);
    assert!(matches!(&err, TxError::Certificate(m) if m.contains("CA certificate")), "{err}");
}

#[test]
fn admin_revokes_a_clerk_of_its_agency_whose_next_transaction_is_refused() {
    let mut w = World::new(SuiteId::Sm);
    let mut clerks = w.five(MemberRole::Clerk);
    let mut admins = w.five(MemberRole::Admin);
    let mut second = w.issue("court", MemberRole::Clerk, "court-clerk-2", crate::support::NOW + 86_400 * 30);
    w.register(&mut second);
    let doc = letter(&mut w);
    w.anchor(&mut second, &doc);

    let events = w.call(&mut admins.court, revoke(&second));
    assert_eq!(events, vec![Event::MemberRevoked { member: second.signer, by: admins.court.signer }]);
    let rec = Runtime::member(&w.state, &second.signer).unwrap();
    let revocation = rec.revoked.unwrap();
    assert_eq!((revocation.height, revocation.by), (w.height, admins.court.signer));

    let doc = letter(&mut w);
    let err = w.expect_refused(&mut second, doc.call());
    assert_eq!(err, TxError::Revoked { signer: second.signer, height: w.height });
    // Revoking twice is a failed call; the agency's other clerk is unaffected.
    let err = w.expect_call_failure(&mut admins.court, revoke(&second));
    assert_eq!(err, CallError::Registry(RegistryError::AlreadyRevoked(second.signer)));
    w.anchor(&mut clerks.court, &doc);
}

#[test]
fn an_admin_cannot_revoke_another_agencys_member() {
    let mut w = World::new(SuiteId::Intl);
    let clerks = w.five(MemberRole::Clerk);
    let mut admins = w.five(MemberRole::Admin);
    let err = w.expect_call_failure(&mut admins.court, revoke(&clerks.police));
    assert_eq!(
        err,
        CallError::Registry(RegistryError::OtherAgency { member: clerks.police.signer, agency: agency("police") })
    );
    assert!(err.to_string().contains("only its own agency's admin may revoke it"), "{err}");
    // Nor an unknown member.
    let stranger = w.member("police", MemberRole::Node);
    let err = w.expect_call_failure(&mut admins.police, revoke(&stranger));
    assert_eq!(err, CallError::Registry(RegistryError::UnknownMember(stranger.signer)));
}

#[test]
fn a_clerk_cannot_revoke() {
    let mut w = World::new(SuiteId::Sm);
    let mut clerks = w.five(MemberRole::Clerk);
    let mut target = w.member("court", MemberRole::Admin);
    w.register(&mut target);
    let err = w.expect_call_failure(&mut clerks.court, revoke(&target));
    assert!(
        matches!(&err, CallError::Registry(RegistryError::RoleNotAllowed { role: MemberRole::Clerk, call, needed })
            if call == "revoke_member" && needed == "admin"),
        "{err}"
    );
    assert!(Runtime::member(&w.state, &target.signer).unwrap().revoked.is_none());
}

#[test]
fn an_expired_member_certificate_is_refused_at_the_envelope() {
    let mut w = World::new(SuiteId::Sm);
    let mut clerks = w.five(MemberRole::Clerk);
    // The testnet issues member certificates valid `member_days` from its generation.
    let not_after = crate::support::INIT + i64::from(w.opts.member_days) * 86_400;
    assert_eq!(clerks.court.not_after(), not_after);
    assert_eq!(Runtime::member(&w.state, &clerks.court.signer).unwrap().not_after, not_after);
    // Still valid during its last second.
    w.time_ms = not_after as u64 * 1000 + 999;
    let doc = letter(&mut w);
    w.anchor(&mut clerks.court, &doc);
    // Then refused.
    w.time_ms = (not_after as u64 + 1) * 1000;
    let doc = letter(&mut w);
    let err = w.expect_refused(&mut clerks.court, doc.call());
    assert_eq!(err, TxError::CertificateExpired { signer: clerks.court.signer, not_after, now: not_after + 1 });
    // An expired certificate cannot register either.
    let mut admin = w.member("court", MemberRole::Admin);
    let call = admin.registration();
    assert!(matches!(w.expect_refused(&mut admin, call), TxError::Certificate(_)));
}

#[test]
fn an_unknown_signer_is_refused_at_the_envelope() {
    let mut w = World::new(SuiteId::Intl);
    let mut clerk = w.member("police", MemberRole::Clerk);
    let doc = letter(&mut w);
    let err = w.expect_refused(&mut clerk, doc.call());
    assert_eq!(err, TxError::UnknownSigner(clerk.signer));
    assert!(err.to_string().contains("register the member certificate first"));
}

#[test]
fn a_clerk_may_not_propose() {
    let mut w = World::new(SuiteId::Sm);
    let mut clerks = w.five(MemberRole::Clerk);
    let call = Call::Propose(ProposeCall { action: GovAction::SetCaseKeyVersion(2) });
    let err = w.expect_call_failure(&mut clerks.prison, call);
    assert!(
        matches!(&err, CallError::Registry(RegistryError::RoleNotAllowed { role: MemberRole::Clerk, call, needed })
            if call == "propose" && needed == "admin"),
        "{err}"
    );
    assert_eq!(err.to_string(), "a member with role clerk may not call propose: it needs admin");
}

#[test]
fn an_admin_may_not_anchor() {
    let mut w = World::new(SuiteId::Sm);
    let mut admins = w.five(MemberRole::Admin);
    let doc = letter(&mut w);
    let err = w.expect_call_failure(&mut admins.court, doc.call());
    assert!(
        matches!(&err, CallError::Registry(RegistryError::RoleNotAllowed { role: MemberRole::Admin, needed, .. })
            if needed == "clerk or adapter"),
        "{err}"
    );
    assert!(Runtime::anchor_record(&w.state, &doc.hash()).is_none());
}

#[test]
fn envelope_failures_make_the_whole_block_invalid_and_change_nothing() {
    let mut w = World::new(SuiteId::Intl);
    let mut clerks = w.five(MemberRole::Clerk);
    let doc = letter(&mut w);
    // A valid transaction followed by a replay of nonce 0: the block is refused at index 1.
    let good = w.tx(&mut clerks.court, doc.call());
    let replay = sign(&w.chain, clerks.court.signer, 0, 1000, doc.call(), &clerks.court.key);
    let err = w.expect_block_refused(vec![good.clone(), replay], 1);
    assert_eq!(err, TxError::BadNonce { signer: clerks.court.signer, expected: 2, found: 0 });
    // A nonce gap.
    let gap = sign(&w.chain, clerks.court.signer, 5, 1000, doc.call(), &clerks.court.key);
    assert!(matches!(w.expect_block_refused(vec![gap], 0), TxError::BadNonce { expected: 1, found: 5, .. }));
    // Another chain.
    let other = ChainId::new("elsewhere").unwrap();
    let wrong = sign(&other, clerks.court.signer, 1, 1000, doc.call(), &clerks.court.key);
    assert!(matches!(w.expect_block_refused(vec![wrong], 0), TxError::WrongChain { .. }));
    // Signed by another member's key.
    let forged = sign(&w.chain, clerks.court.signer, 1, 1000, doc.call(), &clerks.police.key);
    assert!(matches!(w.expect_block_refused(vec![forged], 0), TxError::BadSignature(_)));
    // Past its `valid_until`.
    let stale = sign(&w.chain, clerks.court.signer, 1, w.height, doc.call(), &clerks.court.key);
    assert!(matches!(w.expect_block_refused(vec![stale], 0), TxError::Expired { .. }));
    // Not a transaction.
    assert!(matches!(w.expect_block_refused(vec![vec![1, 2, 3]], 0), TxError::Malformed(_)));
    // The first transaction, alone, is fine.
    assert_eq!(w.block(vec![good]).len(), 1);
    assert_eq!(Runtime::next_nonce(&w.state, &clerks.court.signer), 2);
}

#[test]
fn registering_on_another_consortium_is_refused() {
    let mut w = World::new(SuiteId::Intl);
    let other = World::new(SuiteId::Intl);
    let mut stranger = other.member("court", MemberRole::Clerk);
    let call = stranger.registration();
    assert!(matches!(w.expect_refused(&mut stranger, call), TxError::Certificate(_)));
}

#[test]
fn execution_is_deterministic() {
    let mut w = World::new(SuiteId::Sm);
    let mut clerks = w.five(MemberRole::Clerk);
    let case = w.case("(2026)黑0103刑初7号");
    let mut txs = Vec::new();
    for m in clerks.all() {
        let h = w.doc_hash();
        txs.push(w.tx(m, Doc::new("LETTER", case, h).to(&["justice"]).call()));
    }
    // The same block on the same state, twice (with and without signature checks): identical.
    let h = w.height + 1;
    let a = w.runtime.execute_block(&w.state, h, NOW_MS, &txs, &|_| false).unwrap();
    let b = w.runtime.execute_block(&w.state, h, NOW_MS, &txs, &|_| true).unwrap();
    assert_eq!(a.writes, b.writes);
    assert_eq!(w.root_of(&a, h), w.root_of(&b, h));
    assert_eq!(a.outcomes, b.outcomes);
    // Another order is another block with another root.
    let mut reversed = txs.clone();
    reversed.reverse();
    let c = w.runtime.execute_block(&w.state, h, NOW_MS, &reversed, &|_| false).unwrap();
    assert_ne!(w.root_of(&c, h), w.root_of(&a, h));
    let expected = w.root_of(&a, h);
    assert_eq!(w.block(txs).len(), 5);
    assert_eq!(w.root, expected);
}

#[test]
fn candidates_leave_out_invalid_transactions_in_one_pass() {
    let mut w = World::new(SuiteId::Sm);
    let mut clerks = w.five(MemberRole::Clerk);
    let mut stranger = w.member("court", MemberRole::Admin);
    let (d1, d2) = (letter(&mut w), letter(&mut w));
    let good1 = w.tx(&mut clerks.court, d1.call());
    let bad = w.tx(&mut stranger, d2.call());
    let good2 = w.tx(&mut clerks.police, d2.call());
    let h = w.height + 1;
    let candidates = vec![good1.clone(), bad, good2.clone()];
    let (outcome, left_out) = w.runtime.execute_candidates(&w.state, h, NOW_MS, &candidates, &|_| false);
    assert_eq!(left_out.len(), 1);
    assert_eq!(left_out[0], (1, TxError::UnknownSigner(stranger.signer)));
    let kept = w.runtime.execute_block(&w.state, h, NOW_MS, &[good1.clone(), good2.clone()], &|_| false);
    let kept = kept.unwrap();
    assert_eq!(outcome.writes, kept.writes);
    assert_eq!(w.root_of(&outcome, h), w.root_of(&kept, h));
    assert_eq!(outcome.outcomes, kept.outcomes);
    w.block(vec![good1, good2]);
}

#[test]
fn queries_see_the_genesis_registry_before_the_first_block() {
    let w = World::new(SuiteId::Sm);
    let empty = BTreeMap::new();
    let before: Vec<_> = w.runtime.agencies(&empty).into_iter().map(|a| a.id).collect();
    let after: Vec<_> = w.runtime.agencies(&w.state).into_iter().map(|a| a.id).collect();
    let mut expected: Vec<_> = AGENCIES.iter().map(|a| agency(a)).collect();
    expected.sort();
    assert_eq!(before, expected);
    assert_eq!(after, expected);
    assert_eq!(w.runtime.validators(&empty), w.validators());
    assert_eq!(w.validators().len(), 5);
    assert_eq!(w.runtime.chain_params(&empty), w.runtime.chain_params(&w.state));
    assert_eq!(w.runtime.agency(&empty, &agency("prison")).unwrap().area_code(), "230000");
    assert_ne!(w.root, custos_contracts::state::EMPTY_ROOT, "the first block wrote the genesis registry");
}

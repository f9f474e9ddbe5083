//! Governance: k-of-n agency approval of registry and parameter changes.

use custos_contracts::call::{Call, SubjectKind, VoteCall};
use custos_contracts::governance::{ChainParams, DeadlineParams, GovAction, GovernanceError, ProposalStatus};
use custos_contracts::runtime::{CallError, Event, Runtime, TxError};
use custos_contracts::workflow::WorkflowError;
use custos_primitives::crypto::SuiteId;
use custos_primitives::types::{AgencyLevel, AgencyRole, MemberRole, NodeId};
use custos_primitives::x509::{self, Certificate};
use custos_testnet::home;

use crate::support::{Five, INIT, Member, NOW, World, agency, issue_from, today};

fn setup(suite: SuiteId) -> (World, Five, Five) {
    let mut w = World::new(suite);
    let clerks = w.five(MemberRole::Clerk);
    let admins = w.five(MemberRole::Admin);
    (w, clerks, admins)
}

/// Proposes `action` as the court and has the procuratorate and the police approve it: the
/// third approval of five carries it out. Returns the proposal id.
fn pass(w: &mut World, a: &mut Five, action: GovAction) -> u64 {
    let id = w.propose(&mut a.court, action);
    let events = w.vote(&mut a.procuratorate, id, true);
    assert_eq!(events, vec![Event::Voted { id, agency: agency("procuratorate"), approve: true }]);
    let events = w.vote(&mut a.police, id, true);
    assert_eq!(events.last(), Some(&Event::ProposalDecided { id, status: ProposalStatus::Approved(w.height) }));
    id
}

/// Proposes `action`, which the third approval cannot carry out: returns the reason.
fn pass_fails(w: &mut World, a: &mut Five, action: GovAction) -> String {
    let id = w.propose(&mut a.court, action.clone());
    w.vote(&mut a.procuratorate, id, true);
    let err = w.expect_call_failure(&mut a.police, Call::Vote(VoteCall { proposal: id, approve: true }));
    let p = Runtime::proposal(&w.state, id).unwrap();
    assert_eq!((p.status, p.approvals.len()), (ProposalStatus::Open, 2), "the failed vote was not counted");
    match err {
        CallError::Governance(GovernanceError::Invalid { action: name, reason }) => {
            assert_eq!(name, action.name());
            reason
        }
        other => panic!("expected an invalid action, got {other}"),
    }
}

/// A new county CCA, `justice-2`, with its CA and one clerk.
fn new_cca(w: &World) -> (GovAction, Member) {
    let id = agency("justice-2");
    let key = home::generate_key(&w.suite).unwrap();
    let der = x509::issue_ca(&key, &id, "justice-2 CA", INIT, INIT + 3650 * 86_400).unwrap();
    let ca = Certificate::from_der(&der).unwrap();
    let clerk = issue_from(&w.suite, &ca, &key, MemberRole::Clerk, "justice-2-clerk-1", NOW + 365 * 86_400);
    let action = GovAction::AddAgency {
        id,
        role: AgencyRole::Justice,
        level: AgencyLevel::County,
        area_code: *b"230102",
        ca_cert: der.try_into().unwrap(),
    };
    (action, clerk)
}

fn vote(proposal: u64, approve: bool) -> Call {
    Call::Vote(VoteCall { proposal, approve })
}

#[test]
fn an_agency_is_added_by_the_third_approval_of_five_and_its_clerk_can_then_register() {
    let (mut w, mut c, mut a) = setup(SuiteId::Sm);
    let (action, mut clerk) = new_cca(&w);
    let id = w.propose(&mut a.court, action);
    let p = Runtime::proposal(&w.state, id).unwrap();
    assert_eq!(
        (p.proposer.as_str(), p.approvals.clone(), p.status),
        ("court", vec![agency("court")], ProposalStatus::Open)
    );
    assert_eq!(p.expires_at, p.opened_at + ChainParams::default().proposal_ttl);
    // Not a member yet: its CA is not in the registry.
    let call = clerk.registration();
    assert!(matches!(w.expect_refused(&mut clerk, call), TxError::Certificate(m) if m.contains("not in the registry")));

    // Two approvals of five are not enough.
    w.vote(&mut a.procuratorate, id, true);
    assert_eq!(Runtime::proposal(&w.state, id).unwrap().status, ProposalStatus::Open);
    assert!(w.runtime.agency(&w.state, &agency("justice-2")).is_none());
    // An agency votes once, the proposer included.
    for m in [&mut a.procuratorate, &mut a.court] {
        let err = w.expect_call_failure(m, vote(id, false));
        assert_eq!(err, CallError::Governance(GovernanceError::AlreadyVoted { id, agency: m.agency.clone() }));
    }
    // The third carries it out.
    let events = w.vote(&mut a.police, id, true);
    let h = w.height;
    assert_eq!(
        events,
        vec![
            Event::Voted { id, agency: agency("police"), approve: true },
            Event::ProposalDecided { id, status: ProposalStatus::Approved(h) },
        ]
    );
    let rec = w.runtime.agency(&w.state, &agency("justice-2")).unwrap();
    assert_eq!((rec.role, rec.area_code(), rec.active, rec.added_at), (AgencyRole::Justice, "230102", true, h));
    assert_eq!(w.runtime.agencies(&w.state).len(), 6);
    // Voting on a decided proposal, or on none.
    let err = w.expect_call_failure(&mut a.prison, vote(id, true));
    assert_eq!(err, CallError::Governance(GovernanceError::Decided { id, status: ProposalStatus::Approved(h) }));
    let err = w.expect_call_failure(&mut a.prison, vote(99, true));
    assert_eq!(err, CallError::Governance(GovernanceError::UnknownProposal(99)));

    // Its clerk registers, and it can be the CCA of a case.
    w.register(&mut clerk);
    let case = w.case("(2026)黑0102刑初1号");
    let judgment = w
        .doc("JUDGMENT", case)
        .to(&["justice-2"])
        .kind(SubjectKind::Probation)
        .effective(today())
        .period(today(), today().plus_days(365));
    w.anchor(&mut c.court, &judgment);
    let intake = w.doc("INTAKE", case).received(today());
    let err = w.expect_call_failure(&mut c.justice, intake.call());
    assert!(
        matches!(err, CallError::Workflow(WorkflowError::NotCaseAgency { expected, .. }) if expected == agency("justice-2"))
    );
    w.anchor(&mut clerk, &intake);
    // Six agencies: a majority is now four.
    let id = w.propose(&mut a.court, GovAction::SetCaseKeyVersion(2));
    w.vote(&mut a.procuratorate, id, true);
    w.vote(&mut a.police, id, true);
    assert_eq!(Runtime::proposal(&w.state, id).unwrap().status, ProposalStatus::Open);
    w.vote(&mut a.prison, id, true);
    assert_eq!(Runtime::proposal(&w.state, id).unwrap().status, ProposalStatus::Approved(w.height));
}

#[test]
fn an_agency_whose_ca_names_another_agency_is_not_added() {
    let (mut w, _, mut a) = setup(SuiteId::Intl);
    let (action, _) = new_cca(&w);
    let GovAction::AddAgency { role, level, area_code, ca_cert, .. } = action else { unreachable!() };
    let wrong = GovAction::AddAgency { id: agency("justice-3"), role, level, area_code, ca_cert: ca_cert.clone() };
    assert!(pass_fails(&mut w, &mut a, wrong).contains("names agency justice-2, not justice-3"));
    let existing = GovAction::AddAgency { id: agency("justice"), role, level, area_code, ca_cert };
    assert!(pass_fails(&mut w, &mut a, existing).contains("already exists"));
}

#[test]
fn a_vote_after_the_proposal_expired_is_refused() {
    let (mut w, _, mut a) = setup(SuiteId::Sm);
    let params = ChainParams { proposal_ttl: 2, ..ChainParams::default() };
    pass(&mut w, &mut a, GovAction::SetChainParams(params.clone()));
    assert_eq!(w.runtime.chain_params(&w.state), params);
    let id = w.propose(&mut a.court, GovAction::SetCaseKeyVersion(2));
    let expires_at = w.height + 2;
    assert_eq!(Runtime::proposal(&w.state, id).unwrap().expires_at, expires_at);
    w.vote(&mut a.procuratorate, id, true);
    // Votes are accepted up to and including `expires_at`.
    w.vote(&mut a.prison, id, false);
    assert_eq!(w.height, expires_at);
    let err = w.expect_call_failure(&mut a.police, vote(id, true));
    assert_eq!(err, CallError::Governance(GovernanceError::Expired { id, expires_at }));
    assert!(err.to_string().contains(&format!("expired at height {expires_at}")));
    assert_eq!(Runtime::proposal(&w.state, id).unwrap().status, ProposalStatus::Open);
}

#[test]
fn a_proposal_is_rejected_once_three_agencies_of_five_reject() {
    let (mut w, _, mut a) = setup(SuiteId::Sm);
    let deadlines = DeadlineParams {
        notify_cca: custos_contracts::calendar::Period::calendar_days(3),
        ..DeadlineParams::default()
    };
    let id = w.propose(&mut a.court, GovAction::SetDeadlines(deadlines));
    w.vote(&mut a.police, id, false);
    w.vote(&mut a.prison, id, false);
    assert_eq!(Runtime::proposal(&w.state, id).unwrap().status, ProposalStatus::Open, "three may still approve");
    let events = w.vote(&mut a.justice, id, false);
    assert_eq!(events.last(), Some(&Event::ProposalDecided { id, status: ProposalStatus::Rejected(w.height) }));
    let p = Runtime::proposal(&w.state, id).unwrap();
    assert_eq!(p.rejections, vec![agency("justice"), agency("police"), agency("prison")]);
    assert_eq!(w.runtime.deadlines(&w.state), DeadlineParams::default(), "not carried out");
    let err = w.expect_call_failure(&mut a.procuratorate, vote(id, true));
    assert!(matches!(err, CallError::Governance(GovernanceError::Decided { status: ProposalStatus::Rejected(_), .. })));
}

#[test]
fn a_validator_set_to_power_zero_leaves_the_next_validator_set_in_that_block_only() {
    let (mut w, _, mut a) = setup(SuiteId::Intl);
    let prison = w.validator_of("prison").node_id;
    let id = w.propose(&mut a.court, GovAction::SetValidatorPower { node: prison, power: 0 });
    assert_eq!(w.last.as_ref().unwrap().next_validators, None);
    w.vote(&mut a.procuratorate, id, true);
    assert_eq!(w.last.as_ref().unwrap().next_validators, None);
    let events = w.vote(&mut a.police, id, true);
    assert!(events.contains(&Event::ValidatorSetChanged { validators: 4 }), "{events:?}");
    let next = w.last.as_ref().unwrap().next_validators.clone().expect("the block changed the set");
    assert_eq!(next.len(), 4);
    assert!(next.iter().all(|v| v.node_id != prison));
    assert_eq!(next, w.validators());
    // The node stays, as an observer.
    let node: custos_contracts::registry::NodeRecord =
        crate::support::decode(&w.state[&custos_contracts::registry::node_key(&prison)]);
    assert_eq!(node.power, 0);
    // Later blocks do not change it.
    w.block(vec![]);
    assert_eq!(w.last.as_ref().unwrap().next_validators, None);
    // Setting it to 0 again changes nothing either.
    pass(&mut w, &mut a, GovAction::SetValidatorPower { node: prison, power: 0 });
    assert_eq!(w.last.as_ref().unwrap().next_validators, None);
    // Back to power 2: it returns.
    pass(&mut w, &mut a, GovAction::SetValidatorPower { node: prison, power: 2 });
    let next = w.last.as_ref().unwrap().next_validators.clone().unwrap();
    assert_eq!(next.iter().find(|v| v.node_id == prison).map(|v| v.power), Some(2));
}

#[test]
fn removing_the_last_validators_is_refused() {
    let (mut w, _, mut a) = setup(SuiteId::Sm);
    let nodes: Vec<NodeId> = ["court", "procuratorate", "police", "prison"].map(|x| w.validator_of(x).node_id).to_vec();
    let last = w.validator_of("justice").node_id;
    // Four proposals in one block, approved together two blocks later.
    let txs: Vec<_> = nodes
        .iter()
        .map(|n| {
            let call = Call::Propose(custos_contracts::call::ProposeCall {
                action: GovAction::SetValidatorPower { node: *n, power: 0 },
            });
            w.tx(&mut a.court, call)
        })
        .collect();
    assert!(w.block(txs).iter().all(Result::is_ok));
    for m in [&mut a.procuratorate, &mut a.police] {
        let txs: Vec<_> = (0..4).map(|id| w.tx(m, vote(id, true))).collect();
        assert!(w.block(txs).iter().all(Result::is_ok));
    }
    let next = w.last.as_ref().unwrap().next_validators.clone().unwrap();
    assert_eq!(next.iter().map(|v| v.node_id).collect::<Vec<_>>(), vec![last]);
    // The last one can neither be set to 0 nor removed.
    let reason = pass_fails(&mut w, &mut a, GovAction::SetValidatorPower { node: last, power: 0 });
    assert_eq!(reason, "the validator set would be empty");
    let reason = pass_fails(&mut w, &mut a, GovAction::RemoveNode { node: last });
    assert_eq!(reason, "the validator set would be empty");
    assert_eq!(w.validators().len(), 1);
    // An observer can be removed without touching the set.
    pass(&mut w, &mut a, GovAction::RemoveNode { node: nodes[0] });
    assert_eq!(w.last.as_ref().unwrap().next_validators, None);
    assert!(!w.state.contains_key(&custos_contracts::registry::node_key(&nodes[0])));
}

#[test]
fn an_agency_running_a_validator_is_removed_only_after_its_node_and_then_its_members_are_refused() {
    let (mut w, mut c, mut a) = setup(SuiteId::Sm);
    let reason = pass_fails(&mut w, &mut a, GovAction::RemoveAgency { id: agency("prison") });
    assert_eq!(reason, "prison still runs a validator: remove its nodes first");
    let node = w.validator_of("prison").node_id;
    pass(&mut w, &mut a, GovAction::SetValidatorPower { node, power: 0 });
    pass(&mut w, &mut a, GovAction::RemoveNode { node });
    pass(&mut w, &mut a, GovAction::RemoveAgency { id: agency("prison") });
    let rec = w.runtime.agency(&w.state, &agency("prison")).unwrap();
    assert!(!rec.active);
    assert_eq!(w.runtime.agencies(&w.state).len(), 5, "removed agencies stay listed");

    // Its members can no longer transact.
    let case = w.case("(2026)黑监假字第1号");
    let proposal = w.doc("PAROLE_PROPOSAL", case).to(&["court"]);
    let err = w.expect_refused(&mut c.prison, proposal.call());
    assert_eq!(err, TxError::AgencyRemoved { signer: c.prison.signer, agency: agency("prison") });
    let err = w.expect_refused(&mut a.prison, vote(0, true));
    assert!(matches!(err, TxError::AgencyRemoved { .. }));
    // Nor be sent documents.
    let letter = w.doc("LETTER", case).to(&["prison"]);
    let err = w.expect_call_failure(&mut c.court, letter.call());
    assert_eq!(err, CallError::Document(custos_contracts::documents::DocumentError::UnknownParty(agency("prison"))));
    // Four agencies remain: three approvals are still a majority.
    pass(&mut w, &mut a, GovAction::SetCaseKeyVersion(2));
    // Removing it twice is refused.
    assert_eq!(
        pass_fails(&mut w, &mut a, GovAction::RemoveAgency { id: agency("prison") }),
        "prison is not an active agency"
    );
}

#[test]
fn set_deadlines_changes_the_deadline_table() {
    let (mut w, _, mut a) = setup(SuiteId::Sm);
    assert_eq!(w.runtime.deadlines(&w.state), DeadlineParams::default());
    let table = DeadlineParams {
        receipt_back: custos_contracts::calendar::Period::working_days(3),
        correction_reply: custos_contracts::calendar::Period::calendar_days(15),
        ..DeadlineParams::default()
    };
    pass(&mut w, &mut a, GovAction::SetDeadlines(table.clone()));
    assert_eq!(w.runtime.deadlines(&w.state), table);
}

#[test]
fn the_case_key_version_only_grows() {
    let (mut w, _, mut a) = setup(SuiteId::Sm);
    pass(&mut w, &mut a, GovAction::SetCaseKeyVersion(3));
    assert_eq!(pass_fails(&mut w, &mut a, GovAction::SetCaseKeyVersion(3)), "the version must grow (now 3)");
}

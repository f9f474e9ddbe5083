//! Golden vectors: the SCALE encoding of every call, every governance action and the main
//! stored records, from fixed inputs. They freeze the wire and storage format: a change here
//! is a breaking change of the protocol and must be deliberate (a new index, never a reused one).

use core::fmt::Debug;

use parity_scale_codec::{Decode, Encode};

use custos_contracts::call::{
    AnchorCall, BusinessDates, Call, Date, DocType, GrantAccessCall, ProposeCall, ReceiptCall, RegisterMemberCall,
    RevokeAccessCall, RevokeCertificateCall, RevokeMemberCall, SetEncryptionKeyCall, SubjectKind, VoteCall,
};
use custos_contracts::documents::AnchorRecord;
use custos_contracts::governance::{ChainParams, DeadlineParams, GovAction, HolidayYear, Threshold};
use custos_contracts::runtime::{CallError, TxOutcome};
use custos_contracts::workflow::{CaseRecord, CaseState, TerminationReason, WorkflowError};
use custos_primitives::crypto::{EncryptionPublicKey, Hash};
use custos_primitives::types::{AgencyId, AgencyLevel, AgencyRole, CaseRef, CertFingerprint, DocHash, NodeId, TxId};

fn agency(s: &str) -> AgencyId {
    AgencyId::new(s).unwrap()
}

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

/// Checks that `value` encodes to `hex` and that `hex` decodes to `value`.
fn golden<T: Encode + Decode + PartialEq + Debug>(name: &str, value: &T, hex: &str) {
    let encoded = hex::encode(value.encode());
    assert_eq!(encoded, hex, "the encoding of {name} changed:\n{encoded}");
    let bytes = hex::decode(hex).unwrap();
    let mut input = bytes.as_slice();
    let decoded = T::decode(&mut input).unwrap();
    assert!(input.is_empty(), "{name}: trailing bytes");
    assert_eq!(&decoded, value, "{name} does not decode back");
}

fn anchor_call() -> AnchorCall {
    AnchorCall {
        doc_hash: DocHash(Hash([0x11; 32])),
        doc_type: DocType::new("JUDGMENT").unwrap(),
        case_ref: CaseRef(Hash([0x22; 32])),
        recipients: vec![agency("justice")].try_into().unwrap(),
        copies: vec![agency("procuratorate"), agency("police")].try_into().unwrap(),
        dates: BusinessDates {
            effective: Some(d("2026-06-01")),
            received: None,
            period_start: Some(d("2026-06-01")),
            period_end: Some(d("2027-05-31")),
        },
        subject_kind: Some(SubjectKind::Probation),
        eseal_ref: Some(Hash([0x33; 32])),
    }
}

/// One value of every call, in index order.
fn calls() -> Vec<(&'static str, Call)> {
    vec![
        (
            "RegisterMember",
            Call::RegisterMember(RegisterMemberCall { certificate: vec![0x30, 0x03, 1, 2, 3].try_into().unwrap() }),
        ),
        ("Anchor", Call::Anchor(anchor_call())),
        ("Receipt", Call::Receipt(ReceiptCall { doc_hash: DocHash(Hash([0x11; 32])) })),
        ("RevokeMember", Call::RevokeMember(RevokeMemberCall { member: CertFingerprint(Hash([0x44; 32])) })),
        ("Propose", Call::Propose(ProposeCall { action: GovAction::SetCaseKeyVersion(2) })),
        ("Vote", Call::Vote(VoteCall { proposal: 7, approve: true })),
        (
            "SetEncryptionKey",
            Call::SetEncryptionKey(SetEncryptionKeyCall { key: EncryptionPublicKey::X25519([0x66; 32]) }),
        ),
        (
            "GrantAccess",
            Call::GrantAccess(GrantAccessCall { doc_hash: DocHash(Hash([0x11; 32])), agency: agency("procuratorate") }),
        ),
        (
            "RevokeAccess",
            Call::RevokeAccess(RevokeAccessCall {
                doc_hash: DocHash(Hash([0x11; 32])),
                agency: agency("procuratorate"),
            }),
        ),
        (
            "RevokeCertificate",
            Call::RevokeCertificate(RevokeCertificateCall {
                certificate: vec![0x30, 0x03, 1, 2, 3].try_into().unwrap(),
            }),
        ),
    ]
}

/// One value of every governance action, in index order.
fn actions() -> Vec<(&'static str, GovAction)> {
    let node = NodeId(Hash([0x55; 32]));
    vec![
        (
            "AddAgency",
            GovAction::AddAgency {
                id: agency("justice-2"),
                role: AgencyRole::Justice,
                level: AgencyLevel::County,
                area_code: *b"230102",
                ca_cert: vec![0x30, 0x02, 0xCA, 0xFE].try_into().unwrap(),
            },
        ),
        ("RemoveAgency", GovAction::RemoveAgency { id: agency("prison") }),
        (
            "AddNode",
            GovAction::AddNode {
                certificate: vec![0x30, 0x01, 0x00].try_into().unwrap(),
                p2p_key: [0x66; 32],
                power: 1,
            },
        ),
        ("RemoveNode", GovAction::RemoveNode { node }),
        ("SetValidatorPower", GovAction::SetValidatorPower { node, power: 3 }),
        (
            "RotateNodeKey",
            GovAction::RotateNodeKey {
                node,
                certificate: vec![0x30, 0x01, 0x01].try_into().unwrap(),
                p2p_key: [0x77; 32],
            },
        ),
        ("SetDeadlines", GovAction::SetDeadlines(DeadlineParams::default())),
        (
            "SetHolidays",
            GovAction::SetHolidays(HolidayYear {
                year: 2026,
                holidays: vec![d("2026-10-01"), d("2026-10-02")].try_into().unwrap(),
                workdays: vec![d("2026-10-10")].try_into().unwrap(),
            }),
        ),
        ("SetCaseKeyVersion", GovAction::SetCaseKeyVersion(2)),
        (
            "SetChainParams",
            GovAction::SetChainParams(ChainParams { threshold: Threshold::AtLeast(4), ..ChainParams::default() }),
        ),
    ]
}

fn anchor_record() -> AnchorRecord {
    let a = anchor_call();
    AnchorRecord {
        doc_hash: a.doc_hash,
        doc_type: a.doc_type,
        case_ref: a.case_ref,
        issuer: agency("court"),
        signer: CertFingerprint(Hash([0x44; 32])),
        recipients: a.recipients.to_vec(),
        copies: a.copies.to_vec(),
        dates: a.dates,
        subject_kind: a.subject_kind,
        eseal_ref: a.eseal_ref,
        case_state: Some(CaseState::Decided),
        height: 42,
        time_ms: 1_780_279_200_000,
        tx_id: TxId(Hash([0x88; 32])),
    }
}

fn case_record() -> CaseRecord {
    CaseRecord {
        case_ref: CaseRef(Hash([0x22; 32])),
        kind: Some(SubjectKind::TempOutsidePrison),
        state: CaseState::Terminated(TerminationReason::Committed),
        commissioned_by: None,
        deciding_body: Some(agency("prison")),
        cca: Some(agency("justice")),
        decision_effective: Some(d("2026-06-01")),
        correction_end: Some(d("2027-12-31")),
        handed_over: true,
        events: 11,
        opened_at: 3,
        updated_at: 14,
    }
}

fn failed_outcome() -> TxOutcome {
    TxOutcome {
        height: 9,
        index: 1,
        result: Err(CallError::Workflow(WorkflowError::WrongIssuer {
            doc_type: DocType::new("JUDGMENT").unwrap(),
            found: AgencyRole::Police,
            expected: vec![AgencyRole::Court],
        })),
    }
}

const CALLS: [&str; 10] = [
    // RegisterMember
    "00143003010203",
    // Anchor
    concat!(
        "011111111111111111111111111111111111111111111111111111111111111111204a5544474d454e54222222222222",
        "2222222222222222222222222222222222222222222222222222041c6a757374696365083470726f63757261746f7261",
        "746518706f6c696365017d50000000017d50000001e95100000101013333333333333333333333333333333333333333",
        "333333333333333333333333",
    ),
    // Receipt
    "021111111111111111111111111111111111111111111111111111111111111111",
    // RevokeMember
    "034444444444444444444444444444444444444444444444444444444444444444",
    // Propose
    "040802000000",
    // Vote
    "05070000000000000001",
    // SetEncryptionKey
    "06016666666666666666666666666666666666666666666666666666666666666666",
    // GrantAccess
    "0711111111111111111111111111111111111111111111111111111111111111113470726f63757261746f72617465",
    // RevokeAccess
    "0811111111111111111111111111111111111111111111111111111111111111113470726f63757261746f72617465",
    // RevokeCertificate: index 9, compact(5) = 0x14, the five DER bytes
    "09143003010203",
];
const ACTIONS: [&str; 10] = [
    // AddAgency
    "00246a7573746963652d320402323330313032103002cafe",
    // RemoveAgency
    "0118707269736f6e",
    // AddNode
    "020c30010066666666666666666666666666666666666666666666666666666666666666660100000000000000",
    // RemoveNode
    "035555555555555555555555555555555555555555555555555555555555555555",
    // SetValidatorPower
    "0455555555555555555555555555555555555555555555555555555555555555550300000000000000",
    // RotateNodeKey
    concat!(
        "0555555555555555555555555555555555555555555555555555555555555555550c3001017777777777777777777777",
        "777777777777777777777777777777777777777777",
    ),
    // SetDeadlines (issue 7: every deadline a Period {amount, unit, start_excluded, extension})
    concat!(
        "06050000000001010a000000000101050000000001010a0000000001010a0000000001010a0000000101010500000001",
        "0101300000000301011e0000000001011e0000000001011e000000000101030000000001010000000000010103000000",
        "00010103000000020101030000000201010500000000010107000000000101070000000001010a000000000101010000",
        "00020101070000000001011e0000001e0000003d00000002000000",
    ),
    // SetHolidays
    "07ea0708f7500000f85000000400510000",
    // SetCaseKeyVersion
    "0802000000",
    // SetChainParams
    "090104000000803a090000000000010000004a040000ba0f0000",
];
const ANCHOR_RECORD: &str = concat!(
    "1111111111111111111111111111111111111111111111111111111111111111204a5544474d454e5422222222222222",
    "2222222222222222222222222222222222222222222222222214636f7572744444444444444444444444444444444444",
    "444444444444444444444444444444041c6a757374696365083470726f63757261746f7261746518706f6c696365017d",
    "50000000017d50000001e951000001010133333333333333333333333333333333333333333333333333333333333333",
    "3301032a0000000000000000c9e8809e0100008888888888888888888888888888888888888888888888888888888888",
    "888888",
);
const CASE_RECORD: &str = concat!(
    "222222222222222222222222222222222222222222222222222222222222222201040a01000118707269736f6e011c6a",
    "757374696365017d50000001bf520000010b00000003000000000000000e00000000000000",
);
const FAILED_OUTCOME: &str = "090000000000000001000000010202204a5544474d454e54020400";

#[test]
fn every_call_variant_has_a_frozen_encoding() {
    let calls = calls();
    assert_eq!(calls.len(), CALLS.len());
    for (i, ((name, call), hex)) in calls.iter().zip(CALLS).enumerate() {
        assert_eq!(call.encode()[0] as usize, i, "{name} keeps index {i}");
        golden(name, call, hex);
    }
}

#[test]
fn every_governance_action_has_a_frozen_encoding() {
    let actions = actions();
    assert_eq!(actions.len(), ACTIONS.len());
    for (i, ((name, action), hex)) in actions.iter().zip(ACTIONS).enumerate() {
        assert_eq!(action.encode()[0] as usize, i, "{name} keeps index {i}");
        golden(name, action, hex);
    }
}

#[test]
fn stored_records_have_a_frozen_encoding() {
    golden("AnchorRecord", &anchor_record(), ANCHOR_RECORD);
    golden("CaseRecord", &case_record(), CASE_RECORD);
    golden("TxOutcome with an error", &failed_outcome(), FAILED_OUTCOME);
}

/// An evidence bundle with one of each part (synthetic content: the format, not a proof).
fn bundle() -> custos_contracts::evidence::Bundle {
    use custos_contracts::evidence::{
        BUNDLE_MAGIC, BUNDLE_VERSION, Bundle, CertifiedHeader, Fact, IncludedTx, Subject,
    };
    use custos_contracts::state::{ProofLeaf, ProofNode, StateProof};
    use custos_primitives::crypto::{Signature, SuiteId};
    use custos_primitives::merkle::MerkleProof;
    use custos_primitives::types::{BlockHash, BlockHeader, ChainId, CommitCertificate, CommitSignature, Salt};
    let h = |b: u8| Hash([b; 32]);
    let header = BlockHeader {
        chain_id: ChainId::new("custos-test").unwrap(),
        height: 7,
        parent: BlockHash(h(1)),
        time_ms: 1_780_279_200_000,
        proposer: NodeId(h(2)),
        tx_root: h(3),
        state_root: h(4),
        validator_set_hash: h(5),
    };
    let certificate = CommitCertificate {
        height: 7,
        round: 1,
        block: BlockHash(h(6)),
        signatures: vec![CommitSignature {
            validator: NodeId(h(2)),
            signature: Signature { suite: SuiteId::Sm, bytes: [7; 64] },
        }]
        .try_into()
        .unwrap(),
    };
    Bundle {
        magic: BUNDLE_MAGIC,
        version: BUNDLE_VERSION,
        genesis: b"{}".to_vec(),
        subject: Subject::ReceiptAbsent { doc: DocHash(h(8)), agency: agency("police"), at: 7 },
        salt: Some(Salt([9; 32])),
        headers: vec![CertifiedHeader { header, certificate }],
        validator_changes: vec![3],
        txs: vec![IncludedTx {
            height: 7,
            tx: vec![1, 2, 3],
            path: MerkleProof { leaf_index: 1, tree_size: 2, path: vec![h(10)].try_into().unwrap() },
        }],
        facts: vec![Fact {
            height: 7,
            key: b"k".to_vec(),
            value: None,
            proof: StateProof {
                leaf: Some(ProofLeaf { key_hash: h(11), value_hash: h(12) }),
                siblings: vec![ProofNode::Null, ProofNode::Internal { left: h(13), right: h(14) }].try_into().unwrap(),
            },
        }],
    }
}

const BUNDLE: &str = concat!(
    "435553544f53455601087b7d01080808080808080808080808080808080808080808080808080808080808080818706f",
    "6c6963650700000000000000010909090909090909090909090909090909090909090909090909090909090909042c63",
    "7573746f732d746573740700000000000000010101010101010101010101010101010101010101010101010101010101",
    "010100c9e8809e0100000202020202020202020202020202020202020202020202020202020202020202030303030303",
    "030303030303030303030303030303030303030303030303030304040404040404040404040404040404040404040404",
    "040404040404040404040505050505050505050505050505050505050505050505050505050505050505070000000000",
    "000001000000060606060606060606060606060606060606060606060606060606060606060604020202020202020202",
    "020202020202020202020202020202020202020202020200070707070707070707070707070707070707070707070707",
    "070707070707070707070707070707070707070707070707070707070707070707070707070707070403000000000000",
    "000407000000000000000c01020301000000000000000200000000000000040a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a",
    "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a040700000000000000046b00010b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
    "0b0b0b0b0b0b0b0b0b0b0b0b0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0800010d",
    "0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e",
    "0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e",
);

#[test]
fn the_evidence_bundle_has_a_frozen_encoding() {
    golden("Bundle", &bundle(), BUNDLE);
}

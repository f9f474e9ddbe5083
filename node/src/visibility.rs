//! Who may read case and document state through the API (decision 0017).
//!
//! `GetStateProof` answers a key of a case (`case/`, `casehist/`) or of a document (`doc/`,
//! `receipt/`, `grant/`) only to a caller whose agency is a party to it
//! ([`custos_contracts::visibility`]); an agency holding an active grant to a document may read
//! the document's own keys too. `ExportEvidence` exports a document's bundle only to a party to
//! it (a bundle carries the case's whole history). Every other key is public to every member.
//!
//! A caller who is not a party may still read when its member role is `node` (validators'
//! tooling: their operators hold the whole database anyway) or `auditor`, or when its agency
//! has the registry role `procuratorate` (legal supervision). Each such read is written to the
//! node's audit log (op `read_case`) before it is answered, as are refusals.
//!
//! The parties are read from the latest committed state, whatever height is asked: parties only
//! grow, so an agency that became a party later reads the case's earlier heights as well.
//!
//! # Absent cases and documents
//!
//! A case key is refused to a caller without privilege whether or not the case exists: case
//! references are derived from case numbers with the consortium key every agency holds, so an
//! answer "absent" next to a refusal "exists" would let any agency test case numbers. A
//! document key of a document that is not anchored is answered (absent, with its proof) to
//! every member: document hashes are salted, so only a holder of the document (or of its hash)
//! can ask, and issuers and adapters check their own documents before anchoring them.

use custos_contracts::runtime::{Runtime, StateRead};
use custos_contracts::visibility::{self, KeyKind, KeyScope, Standing};
use custos_primitives::types::{AgencyId, AgencyRole, CaseRef, DocHash, MemberRole};

/// Why a caller that is not a party may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Privilege {
    /// Member role `node`.
    Node,
    /// Member role `auditor`.
    Auditor,
    /// An active agency with registry role `procuratorate`.
    Procuratorate,
}

impl Privilege {
    /// Name in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::Node => "node",
            Privilege::Auditor => "auditor",
            Privilege::Procuratorate => "procuratorate",
        }
    }
}

/// The caller of a read, as the rules see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reader {
    /// Its agency (from its certificate).
    pub agency: AgencyId,
    /// Its member role (from its certificate).
    pub role: MemberRole,
    /// Its agency's registry role, if the agency is active in the registry.
    pub agency_role: Option<AgencyRole>,
}

impl Reader {
    /// The reader of `agency` and `role`, its agency's registry role read from `state`.
    pub fn new(runtime: &Runtime, state: &impl StateRead, agency: &AgencyId, role: MemberRole) -> Reader {
        let agency_role = runtime.agency(state, agency).filter(|a| a.active).map(|a| a.role);
        Reader { agency: agency.clone(), role, agency_role }
    }

    /// Whether (and why) it may read cases it is not a party to. The member role is named
    /// first: an auditor of the procuratorate reads as an auditor.
    pub fn privilege(&self) -> Option<Privilege> {
        match self.role {
            MemberRole::Node => Some(Privilege::Node),
            MemberRole::Auditor => Some(Privilege::Auditor),
            _ if self.agency_role == Some(AgencyRole::Procuratorate) => Some(Privilege::Procuratorate),
            _ => None,
        }
    }
}

/// What a read is about, for the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subject {
    /// The key's kind, or `evidence` for an evidence export.
    pub kind: &'static str,
    /// The case, when known (a document's case is read from its anchor record).
    pub case_ref: Option<CaseRef>,
    /// The document, for a document's key or an evidence export.
    pub doc: Option<DocHash>,
}

impl Subject {
    /// The subject's fields of an audit line.
    pub fn fields(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("key_kind".into(), self.kind.into());
        m.insert("case_ref".into(), self.case_ref.map(|c| c.to_string()).into());
        m.insert("doc".into(), self.doc.map(|d| d.to_string()).into());
        m
    }
}

/// Why a read is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The gRPC code.
    pub code: tonic::Code,
    /// The error kind (`x-custos-error` metadata).
    pub kind: &'static str,
    /// What the caller is told.
    pub message: String,
    /// What was asked.
    pub subject: Subject,
}

/// The decision on one read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Answer without an audit line: a public key, a party, a grantee of the document, or a
    /// document that is not anchored.
    Answer,
    /// Answer after an audit line: a caller with a privilege that is not a party.
    Audited {
        /// Its privilege.
        privilege: Privilege,
        /// What it read.
        subject: Subject,
    },
    /// Refuse, after an audit line.
    Refuse(Refusal),
}

fn key_subject(state: &impl StateRead, scope: &KeyScope) -> Subject {
    match *scope {
        KeyScope::Case { kind, case } => Subject { kind: kind.as_str(), case_ref: Some(case), doc: None },
        KeyScope::Document { kind, doc } => Subject {
            kind: kind.as_str(),
            case_ref: Runtime::anchor_record(state, &doc).map(|a| a.case_ref),
            doc: Some(doc),
        },
        KeyScope::Malformed { kind } => Subject { kind: kind.as_str(), case_ref: None, doc: None },
        KeyScope::Public => Subject { kind: "public", case_ref: None, doc: None },
    }
}

fn layout(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Case => "case/<case ref, 32 bytes>",
        KeyKind::CaseEvent => "casehist/<case ref, 32 bytes>/<n, 4 bytes>",
        KeyKind::Document => "doc/<document hash, 32 bytes>",
        KeyKind::Receipt => "receipt/<document hash, 32 bytes>/<agency>",
        KeyKind::Grant => "grant/<document hash, 32 bytes>/<agency>",
    }
}

/// The decision on `reader`'s `GetStateProof` of `key`, against `state` (the latest committed).
pub fn decide_key(state: &impl StateRead, reader: &Reader, key: &[u8]) -> Verdict {
    let scope = visibility::classify(key);
    match visibility::standing(state, &scope, &reader.agency) {
        Standing::Public | Standing::Party | Standing::Grantee | Standing::NoSuchDocument => Verdict::Answer,
        Standing::Malformed => {
            let kind = match scope {
                KeyScope::Malformed { kind } => kind,
                _ => KeyKind::Case,
            };
            Verdict::Refuse(Refusal {
                code: tonic::Code::InvalidArgument,
                kind: "malformed_key",
                message: format!("the key starts like a {kind} key but is not one: {kind} keys are {}", layout(kind)),
                subject: key_subject(state, &scope),
            })
        }
        Standing::NotParty => {
            let subject = key_subject(state, &scope);
            if let Some(privilege) = reader.privilege() {
                return Verdict::Audited { privilege, subject };
            }
            let message = match scope {
                KeyScope::Case { case, .. } => format!(
                    "agency {} is not a party to case {case}; only the case's parties (the issuers, recipients \
                     and copies of its documents, its CCA and its deciding body), the procuratorate and \
                     auditors may read it",
                    reader.agency
                ),
                KeyScope::Document { doc, .. } => format!(
                    "agency {} is not a party to the case of document {doc}; only the case's parties, agencies \
                     granted access to the document, the procuratorate and auditors may read it",
                    reader.agency
                ),
                KeyScope::Public | KeyScope::Malformed { .. } => {
                    format!("agency {} may not read this key", reader.agency)
                }
            };
            Verdict::Refuse(Refusal { code: tonic::Code::PermissionDenied, kind: "not_a_party", message, subject })
        }
    }
}

/// The decision on `reader`'s `ExportEvidence` of `doc` (its bundle, or the proof of a missing
/// receipt), against `state` (the latest committed). A grant is not enough: the bundle carries
/// the history of the document's case.
pub fn decide_evidence(state: &impl StateRead, reader: &Reader, doc: &DocHash) -> Verdict {
    let Some(p) = visibility::document_parties(state, doc) else { return Verdict::Answer };
    if p.parties.contains(&reader.agency) {
        return Verdict::Answer;
    }
    let subject = Subject { kind: "evidence", case_ref: Some(p.case_ref), doc: Some(*doc) };
    if let Some(privilege) = reader.privilege() {
        return Verdict::Audited { privilege, subject };
    }
    let grant = if visibility::holds_active_grant(state, doc, &reader.agency) {
        " (its grant of access covers the document, not the evidence of its case)"
    } else {
        ""
    };
    Verdict::Refuse(Refusal {
        code: tonic::Code::PermissionDenied,
        kind: "not_a_party",
        message: format!(
            "agency {} is not a party to the case of document {doc}{grant}; only the case's parties, the \
             procuratorate and auditors may export its evidence, which carries the case's whole history",
            reader.agency
        ),
        subject,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::BTreeMap;

    use parity_scale_codec::Encode;

    use custos_contracts::call::{BusinessDates, DocType, SubjectKind};
    use custos_contracts::documents::{self, AnchorRecord, CaseEvent, GrantRecord};
    use custos_contracts::registry;
    use custos_contracts::workflow::{CaseRecord, CaseState};
    use custos_primitives::crypto::Hash;
    use custos_primitives::types::{CertFingerprint, TxId};

    use super::*;

    fn agency(s: &str) -> AgencyId {
        AgencyId::new(s).unwrap()
    }
    fn case() -> CaseRef {
        CaseRef(Hash([7; 32]))
    }
    fn doc() -> DocHash {
        DocHash(Hash([9; 32]))
    }

    fn reader(a: &str, role: MemberRole, agency_role: AgencyRole) -> Reader {
        Reader { agency: agency(a), role, agency_role: Some(agency_role) }
    }
    fn clerk(a: &str, agency_role: AgencyRole) -> Reader {
        reader(a, MemberRole::Clerk, agency_role)
    }

    /// The court's probation judgment to justice, copied to the procuratorate.
    fn state() -> BTreeMap<Vec<u8>, Vec<u8>> {
        let record = CaseRecord {
            case_ref: case(),
            kind: Some(SubjectKind::Probation),
            state: CaseState::Decided,
            commissioned_by: None,
            deciding_body: Some(agency("court")),
            cca: Some(agency("justice")),
            decision_effective: None,
            correction_end: None,
            handed_over: false,
            events: 1,
            opened_at: 1,
            updated_at: 1,
        };
        let anchor = AnchorRecord {
            doc_hash: doc(),
            doc_type: DocType::new("JUDGMENT").unwrap(),
            case_ref: case(),
            issuer: agency("court"),
            signer: CertFingerprint(Hash([1; 32])),
            recipients: vec![agency("justice")],
            copies: vec![agency("procuratorate")],
            dates: BusinessDates::default(),
            subject_kind: Some(SubjectKind::Probation),
            eseal_ref: None,
            case_state: Some(CaseState::Decided),
            height: 1,
            time_ms: 0,
            tx_id: TxId(Hash([2; 32])),
        };
        let ev = CaseEvent {
            doc_hash: doc(),
            doc_type: DocType::new("JUDGMENT").unwrap(),
            issuer: agency("court"),
            from: None,
            to: CaseState::Decided,
            height: 1,
        };
        BTreeMap::from([
            (documents::case_key(&case()), record.encode()),
            (documents::doc_key(&doc()), anchor.encode()),
            (documents::case_event_key(&case(), 0), ev.encode()),
        ])
    }

    fn refusal(v: Verdict) -> Refusal {
        match v {
            Verdict::Refuse(r) => r,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn parties_read_others_are_refused_with_a_clear_message() {
        let s = state();
        let keys = [
            documents::case_key(&case()),
            documents::case_event_key(&case(), 0),
            documents::doc_key(&doc()),
            documents::receipt_key(&doc(), &agency("justice")),
            documents::grant_key(&doc(), &agency("police")),
        ];
        for key in &keys {
            for (a, r) in [("court", AgencyRole::Court), ("justice", AgencyRole::Justice)] {
                assert_eq!(decide_key(&s, &clerk(a, r), key), Verdict::Answer);
            }
            let r = refusal(decide_key(&s, &clerk("prison", AgencyRole::Prison), key));
            assert_eq!((r.code, r.kind), (tonic::Code::PermissionDenied, "not_a_party"));
            assert!(r.message.starts_with("agency prison is not a party to "), "{}", r.message);
            assert!(r.message.contains("only the case's parties"), "{}", r.message);
            assert_eq!(r.subject.case_ref, Some(case()));
        }
        let r = refusal(decide_key(&s, &clerk("police", AgencyRole::Police), &keys[0]));
        assert!(r.message.contains(&format!("not a party to case {}", case())), "{}", r.message);
        // A document's refusal does not name its case (the caller did not).
        let r = refusal(decide_key(&s, &clerk("police", AgencyRole::Police), &keys[2]));
        assert!(!r.message.contains(&case().to_string()), "{}", r.message);
        assert!(r.message.contains(&format!("the case of document {}", doc())), "{}", r.message);
    }

    #[test]
    fn registry_keys_stay_public_and_absent_documents_are_answered() {
        let s = state();
        let prison = clerk("prison", AgencyRole::Prison);
        for key in [registry::AGENCIES_KEY.to_vec(), registry::agency_key(&agency("court")), b"unknown/key".to_vec()] {
            assert_eq!(decide_key(&s, &prison, &key), Verdict::Answer);
        }
        let other = DocHash(Hash([10; 32]));
        assert_eq!(decide_key(&s, &prison, &documents::doc_key(&other)), Verdict::Answer);
        assert_eq!(decide_key(&s, &prison, &documents::receipt_key(&other, &agency("prison"))), Verdict::Answer);
        assert_eq!(decide_evidence(&s, &prison, &other), Verdict::Answer);
    }

    #[test]
    fn an_absent_case_is_refused_like_an_existing_one() {
        let s = state();
        let prison = clerk("prison", AgencyRole::Prison);
        let absent = CaseRef(Hash([8; 32]));
        let here = refusal(decide_key(&s, &prison, &documents::case_key(&case())));
        let gone = refusal(decide_key(&s, &prison, &documents::case_key(&absent)));
        assert_eq!((here.code, here.kind), (gone.code, gone.kind));
        assert_eq!(here.message.replace(&case().to_string(), "X"), gone.message.replace(&absent.to_string(), "X"));
        // Even the court, party to nothing there, is refused an absent case.
        let court = clerk("court", AgencyRole::Court);
        assert!(matches!(decide_key(&s, &court, &documents::case_event_key(&absent, 0)), Verdict::Refuse(_)));
        // The procuratorate reads it (absent), with an audit line.
        let proc = clerk("procuratorate", AgencyRole::Procuratorate);
        assert_eq!(
            decide_key(&s, &proc, &documents::case_key(&absent)),
            Verdict::Audited {
                privilege: Privilege::Procuratorate,
                subject: Subject { kind: "case", case_ref: Some(absent), doc: None }
            }
        );
    }

    #[test]
    fn procuratorate_auditors_and_nodes_read_every_case_with_an_audit_line_unless_party() {
        let s = state();
        let key = documents::receipt_key(&doc(), &agency("justice"));
        // The procuratorate is copied on the judgment: a party, no audit line.
        assert_eq!(decide_key(&s, &clerk("procuratorate", AgencyRole::Procuratorate), &key), Verdict::Answer);
        // An auditor and a node of the prison, not a party: answered with an audit line.
        for (role, privilege) in [(MemberRole::Auditor, Privilege::Auditor), (MemberRole::Node, Privilege::Node)] {
            let r = reader("prison", role, AgencyRole::Prison);
            let subject = Subject { kind: "receipt", case_ref: Some(case()), doc: Some(doc()) };
            assert_eq!(decide_key(&s, &r, &key), Verdict::Audited { privilege, subject });
            assert_eq!(
                decide_evidence(&s, &r, &doc()),
                Verdict::Audited { privilege, subject: Subject { kind: "evidence", ..subject } }
            );
        }
        // Other member roles of the prison have no privilege; nor has a removed procuratorate.
        for role in [MemberRole::Clerk, MemberRole::Admin, MemberRole::Adapter] {
            assert!(matches!(decide_key(&s, &reader("prison", role, AgencyRole::Prison), &key), Verdict::Refuse(_)));
        }
        let removed = Reader { agency: agency("proc-2"), role: MemberRole::Clerk, agency_role: None };
        assert_eq!(removed.privilege(), None);
        // An auditor of the procuratorate reads as an auditor.
        assert_eq!(
            reader("proc-2", MemberRole::Auditor, AgencyRole::Procuratorate).privilege(),
            Some(Privilege::Auditor)
        );
    }

    #[test]
    fn a_grantee_reads_the_documents_records_but_not_its_case_or_evidence() {
        let mut s = state();
        let grant = GrantRecord { by: CertFingerprint(Hash([1; 32])), height: 2, revoked_at: None };
        s.insert(documents::grant_key(&doc(), &agency("prison")), grant.encode());
        let prison = clerk("prison", AgencyRole::Prison);
        assert_eq!(decide_key(&s, &prison, &documents::doc_key(&doc())), Verdict::Answer);
        assert_eq!(decide_key(&s, &prison, &documents::receipt_key(&doc(), &agency("prison"))), Verdict::Answer);
        assert!(matches!(decide_key(&s, &prison, &documents::case_key(&case())), Verdict::Refuse(_)));
        let r = refusal(decide_evidence(&s, &prison, &doc()));
        assert!(r.message.contains("grant of access covers the document"), "{}", r.message);
        assert_eq!(r.subject, Subject { kind: "evidence", case_ref: Some(case()), doc: Some(doc()) });
        // Parties export.
        assert_eq!(decide_evidence(&s, &clerk("justice", AgencyRole::Justice), &doc()), Verdict::Answer);
    }

    #[test]
    fn a_malformed_case_or_document_key_is_refused_to_everyone() {
        let s = state();
        for r in [clerk("court", AgencyRole::Court), reader("court", MemberRole::Node, AgencyRole::Court)] {
            let refused = refusal(decide_key(&s, &r, b"casehist/short"));
            assert_eq!((refused.code, refused.kind), (tonic::Code::InvalidArgument, "malformed_key"));
            assert!(refused.message.contains("casehist/<case ref, 32 bytes>/<n, 4 bytes>"), "{}", refused.message);
        }
    }
}

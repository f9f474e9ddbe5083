//! Who is a party to a case or a document, and which state keys hold a case's or a document's
//! state. Nodes answer those keys only to the parties (decision 0017); this module is the one
//! place that says who the parties are, read from committed state. It only reads.
//!
//! # Parties
//!
//! The parties to a case are the agencies its record names — its CCA, its deciding body, the
//! agency that commissioned the investigation assessment — and the issuer, every recipient and
//! every copy of every document of its history (`casehist/<case>/<n>`). The parties to a
//! document are the parties to its case and the document's own issuer, recipients and copies:
//! a letter anchored while no case of its reference was open is in no case's history, and its
//! addressees are parties to it without being parties to the case.
//!
//! Parties only grow: a history only gets longer and an anchor never changes. A transfer makes
//! another CCA the case's, and the former one stays a party as the issuer of the transfer
//! decision.
//!
//! An agency granted access to a document (`grant/<doc>/<agency>`, not revoked) is not a party:
//! it may read the document's own records (anchor, receipts, grants), not its case.
//!
//! # Keys
//!
//! [`classify`] sorts a raw state key by the prefixes of [`crate::documents`]:
//!
//! | Prefix | Layout | Scope |
//! |---|---|---|
//! | `case/` | `case/<case ref, 32 bytes>` | the case |
//! | `casehist/` | `casehist/<case ref>/<n, 4 bytes>` | the case |
//! | `doc/` | `doc/<doc hash, 32 bytes>` | the document |
//! | `receipt/` | `receipt/<doc hash>/<agency>` | the document |
//! | `grant/` | `grant/<doc hash>/<agency>` | the document |
//! | anything else | | public to every member |
//!
//! A key under one of these prefixes that does not have its layout is never written by the
//! runtime; it is [`KeyScope::Malformed`], not public.

use std::collections::BTreeSet;

use custos_primitives::crypto::Hash;
use custos_primitives::types::{AgencyId, CaseRef, DocHash};

use crate::documents::{self, AnchorRecord, CaseEvent, GrantRecord};
use crate::runtime::{Runtime, StateRead, read};

/// The kinds of case and document keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyKind {
    /// `case/<case ref>`: the case record.
    Case,
    /// `casehist/<case ref>/<n>`: one document of the case's history.
    CaseEvent,
    /// `doc/<doc hash>`: a document's anchor record.
    Document,
    /// `receipt/<doc hash>/<agency>`: an agency's delivery receipt of a document.
    Receipt,
    /// `grant/<doc hash>/<agency>`: an agency's grant of access to a document.
    Grant,
}

impl KeyKind {
    /// Every kind, in the order [`classify`] tries their prefixes (no prefix is a prefix of
    /// another: `case/` and `casehist/` differ at their fifth byte).
    pub const ALL: [KeyKind; 5] =
        [KeyKind::Case, KeyKind::CaseEvent, KeyKind::Document, KeyKind::Receipt, KeyKind::Grant];

    /// Name for logs and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Case => "case",
            KeyKind::CaseEvent => "case_event",
            KeyKind::Document => "document",
            KeyKind::Receipt => "receipt",
            KeyKind::Grant => "grant",
        }
    }

    /// The state-key prefix of this kind.
    pub fn prefix(self) -> &'static [u8] {
        match self {
            KeyKind::Case => documents::CASE_PREFIX,
            KeyKind::CaseEvent => documents::CASE_EVENT_PREFIX,
            KeyKind::Document => documents::DOC_PREFIX,
            KeyKind::Receipt => documents::RECEIPT_PREFIX,
            KeyKind::Grant => documents::GRANT_PREFIX,
        }
    }
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whose state a key holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyScope {
    /// Neither a case's nor a document's: the registry, parameters, governance, nonces,
    /// transaction outcomes, the genesis marker, and keys the runtime does not use.
    Public,
    /// A key of a case (record or history).
    Case {
        /// Which.
        kind: KeyKind,
        /// The case.
        case: CaseRef,
    },
    /// A key of a document (anchor, receipt, grant).
    Document {
        /// Which.
        kind: KeyKind,
        /// The document.
        doc: DocHash,
    },
    /// Under a case or document prefix without its layout (never written by the runtime).
    Malformed {
        /// The prefix's kind.
        kind: KeyKind,
    },
}

/// The scope of a raw state key, by its prefix and layout.
pub fn classify(key: &[u8]) -> KeyScope {
    for kind in KeyKind::ALL {
        if let Some(rest) = key.strip_prefix(kind.prefix()) {
            return parse(kind, rest).unwrap_or(KeyScope::Malformed { kind });
        }
    }
    KeyScope::Public
}

fn hash32(bytes: &[u8]) -> Option<Hash> {
    <[u8; 32]>::try_from(bytes).ok().map(Hash)
}

/// The scope of the key `prefix(kind) ‖ rest`, if `rest` has the kind's layout.
fn parse(kind: KeyKind, rest: &[u8]) -> Option<KeyScope> {
    match kind {
        KeyKind::Case => hash32(rest).map(|h| KeyScope::Case { kind, case: CaseRef(h) }),
        KeyKind::CaseEvent => {
            let (case, tail) = rest.split_at_checked(32)?;
            let n = tail.strip_prefix(b"/")?;
            (n.len() == 4).then_some(())?;
            hash32(case).map(|h| KeyScope::Case { kind, case: CaseRef(h) })
        }
        KeyKind::Document => hash32(rest).map(|h| KeyScope::Document { kind, doc: DocHash(h) }),
        KeyKind::Receipt | KeyKind::Grant => {
            let (doc, tail) = rest.split_at_checked(32)?;
            let agency = std::str::from_utf8(tail.strip_prefix(b"/")?).ok()?;
            AgencyId::new(agency).ok()?;
            hash32(doc).map(|h| KeyScope::Document { kind, doc: DocHash(h) })
        }
    }
}

fn add_document(parties: &mut BTreeSet<AgencyId>, a: &AnchorRecord) {
    parties.insert(a.issuer.clone());
    parties.extend(a.recipients.iter().cloned());
    parties.extend(a.copies.iter().cloned());
}

/// The parties to a case in `state` (empty when there is no such case): the agencies its record
/// names (CCA, deciding body, commissioning agency) and the issuers, recipients and copies of
/// the documents of its history. A history entry or anchor that is missing or does not decode
/// adds nobody.
pub fn case_parties(state: &impl StateRead, case: &CaseRef) -> BTreeSet<AgencyId> {
    let mut parties = BTreeSet::new();
    let Some(record) = Runtime::case(state, case) else { return parties };
    parties.extend([record.cca, record.deciding_body, record.commissioned_by].into_iter().flatten());
    for n in 0..record.events {
        let Some(ev) = read::<CaseEvent>(state, &documents::case_event_key(case, n)) else { continue };
        if let Some(a) = Runtime::anchor_record(state, &ev.doc_hash) {
            add_document(&mut parties, &a);
        }
        parties.insert(ev.issuer);
    }
    parties
}

/// The parties to an anchored document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentParties {
    /// The document's case.
    pub case_ref: CaseRef,
    /// The parties to the case, and the document's issuer, recipients and copies.
    pub parties: BTreeSet<AgencyId>,
}

/// The parties to a document in `state`; `None` when it is not anchored.
pub fn document_parties(state: &impl StateRead, doc: &DocHash) -> Option<DocumentParties> {
    let a = Runtime::anchor_record(state, doc)?;
    let mut parties = case_parties(state, &a.case_ref);
    add_document(&mut parties, &a);
    Some(DocumentParties { case_ref: a.case_ref, parties })
}

/// Whether `agency` holds a grant of access to `doc` that is not revoked.
pub fn holds_active_grant(state: &impl StateRead, doc: &DocHash, agency: &AgencyId) -> bool {
    read::<GrantRecord>(state, &documents::grant_key(doc, agency)).is_some_and(|g| g.revoked_at.is_none())
}

/// How an agency stands to the case or document a key belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Not a case's or a document's key.
    Public,
    /// A party to the key's case, or (a document's key) to the document.
    Party,
    /// A document's key, and the agency holds an active grant to the document without being a
    /// party to it.
    Grantee,
    /// A document's key, and the document is not anchored: it has no parties.
    NoSuchDocument,
    /// Not a party (and, for a document's key, no grantee). Deliberately says nothing on whether
    /// the case exists.
    NotParty,
    /// Under a case or document prefix without its layout.
    Malformed,
}

/// How `agency` stands, in `state`, to the case or document of a key of scope `scope`.
pub fn standing(state: &impl StateRead, scope: &KeyScope, agency: &AgencyId) -> Standing {
    match scope {
        KeyScope::Public => Standing::Public,
        KeyScope::Malformed { .. } => Standing::Malformed,
        KeyScope::Case { case, .. } => {
            if case_parties(state, case).contains(agency) {
                Standing::Party
            } else {
                Standing::NotParty
            }
        }
        KeyScope::Document { doc, .. } => match document_parties(state, doc) {
            None => Standing::NoSuchDocument,
            Some(p) if p.parties.contains(agency) => Standing::Party,
            Some(_) if holds_active_grant(state, doc, agency) => Standing::Grantee,
            Some(_) => Standing::NotParty,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::BTreeMap;

    use parity_scale_codec::Encode;

    use super::*;
    use crate::call::{BusinessDates, DocType, SubjectKind};
    use crate::workflow::{CaseRecord, CaseState};
    use crate::{governance, registry, runtime};
    use custos_primitives::types::{CertFingerprint, TxId};

    fn agency(s: &str) -> AgencyId {
        AgencyId::new(s).unwrap()
    }
    fn set(ids: &[&str]) -> BTreeSet<AgencyId> {
        ids.iter().map(|s| agency(s)).collect()
    }
    fn case() -> CaseRef {
        CaseRef(Hash([7; 32]))
    }
    fn doc(n: u8) -> DocHash {
        DocHash(Hash([n; 32]))
    }

    fn anchor(d: DocHash, c: CaseRef, issuer: &str, to: &[&str], copy: &[&str]) -> AnchorRecord {
        AnchorRecord {
            doc_hash: d,
            doc_type: DocType::new("JUDGMENT").unwrap(),
            case_ref: c,
            issuer: agency(issuer),
            signer: CertFingerprint(Hash([1; 32])),
            recipients: to.iter().map(|a| agency(a)).collect(),
            copies: copy.iter().map(|a| agency(a)).collect(),
            dates: BusinessDates::default(),
            subject_kind: Some(SubjectKind::Probation),
            eseal_ref: None,
            case_state: Some(CaseState::Decided),
            height: 1,
            time_ms: 0,
            tx_id: TxId(Hash([2; 32])),
        }
    }

    /// A decided probation case: the court's judgment to justice copied to the procuratorate,
    /// and a letter by the prison to the police about the same case reference anchored before
    /// the case was opened (so in no history).
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
        let ev = CaseEvent {
            doc_hash: doc(9),
            doc_type: DocType::new("JUDGMENT").unwrap(),
            issuer: agency("court"),
            from: None,
            to: CaseState::Decided,
            height: 1,
        };
        let mut letter = anchor(doc(10), case(), "prison", &["police"], &[]);
        letter.case_state = None;
        BTreeMap::from([
            (documents::case_key(&case()), record.encode()),
            (documents::case_event_key(&case(), 0), ev.encode()),
            (documents::doc_key(&doc(9)), anchor(doc(9), case(), "court", &["justice"], &["procuratorate"]).encode()),
            (documents::doc_key(&doc(10)), letter.encode()),
        ])
    }

    #[test]
    fn keys_of_cases_and_documents_are_classified_by_prefix_and_layout() {
        let a = agency("justice");
        assert_eq!(classify(&documents::case_key(&case())), KeyScope::Case { kind: KeyKind::Case, case: case() });
        assert_eq!(
            classify(&documents::case_event_key(&case(), 3)),
            KeyScope::Case { kind: KeyKind::CaseEvent, case: case() }
        );
        assert_eq!(classify(&documents::doc_key(&doc(9))), KeyScope::Document { kind: KeyKind::Document, doc: doc(9) });
        assert_eq!(
            classify(&documents::receipt_key(&doc(9), &a)),
            KeyScope::Document { kind: KeyKind::Receipt, doc: doc(9) }
        );
        assert_eq!(
            classify(&documents::grant_key(&doc(9), &a)),
            KeyScope::Document { kind: KeyKind::Grant, doc: doc(9) }
        );
        // The runtime's other keys are public.
        for key in [
            registry::agency_key(&a),
            registry::member_key(&CertFingerprint(Hash([3; 32]))),
            registry::AGENCIES_KEY.to_vec(),
            registry::VALIDATORS_KEY.to_vec(),
            governance::CHAIN_PARAMS_KEY.to_vec(),
            governance::CASE_KEY_VERSION_KEY.to_vec(),
            governance::holidays_key(2026),
            governance::proposal_key(1),
            runtime::nonce_key(&CertFingerprint(Hash([3; 32]))),
            runtime::txres_key(&TxId(Hash([4; 32]))),
            runtime::GENESIS_KEY.to_vec(),
            b"cases".to_vec(),
            b"documents/x".to_vec(),
            b"c".to_vec(),
        ] {
            assert_eq!(classify(&key), KeyScope::Public, "{}", String::from_utf8_lossy(&key));
        }
    }

    #[test]
    fn malformed_keys_under_a_case_or_document_prefix_are_not_public() {
        let mut long_case = documents::case_key(&case());
        long_case.push(0);
        let mut bad_event = documents::case_event_key(&case(), 1);
        bad_event.pop();
        let mut no_slash = documents::case_event_key(&case(), 1);
        no_slash[9 + 32] = b'x';
        for (key, kind) in [
            (b"case/".to_vec(), KeyKind::Case),
            (b"case/short".to_vec(), KeyKind::Case),
            (long_case, KeyKind::Case),
            (bad_event, KeyKind::CaseEvent),
            (no_slash, KeyKind::CaseEvent),
            (b"doc/".to_vec(), KeyKind::Document),
            ([b"doc/".as_slice(), &[5; 33]].concat(), KeyKind::Document),
            ([b"receipt/".as_slice(), &[5; 32]].concat(), KeyKind::Receipt),
            ([b"receipt/".as_slice(), &[5; 32], b"/"].concat(), KeyKind::Receipt),
            ([b"receipt/".as_slice(), &[5; 32], b"/Not An Agency"].concat(), KeyKind::Receipt),
            ([b"grant/".as_slice(), &[5; 32], b"/\xff"].concat(), KeyKind::Grant),
        ] {
            assert_eq!(classify(&key), KeyScope::Malformed { kind }, "{key:?}");
        }
    }

    #[test]
    fn case_parties_are_the_record_and_every_documents_addressees() {
        let s = state();
        assert_eq!(case_parties(&s, &case()), set(&["court", "justice", "procuratorate"]));
        // No such case: nobody.
        assert!(case_parties(&s, &CaseRef(Hash([8; 32]))).is_empty());
        // The letter anchored before the case opened: its addressees are parties to it, not to
        // the case.
        let letter = document_parties(&s, &doc(10)).unwrap();
        assert_eq!(letter.case_ref, case());
        assert_eq!(letter.parties, set(&["court", "justice", "procuratorate", "prison", "police"]));
        let judgment = document_parties(&s, &doc(9)).unwrap();
        assert_eq!(judgment.parties, set(&["court", "justice", "procuratorate"]));
        assert_eq!(document_parties(&s, &doc(11)), None);
    }

    #[test]
    fn standing_of_parties_grantees_and_others() {
        let mut s = state();
        let police = agency("police");
        let case_scope = classify(&documents::case_key(&case()));
        let doc_scope = classify(&documents::receipt_key(&doc(9), &police));
        assert_eq!(standing(&s, &case_scope, &agency("justice")), Standing::Party);
        assert_eq!(standing(&s, &case_scope, &police), Standing::NotParty);
        assert_eq!(standing(&s, &doc_scope, &agency("procuratorate")), Standing::Party);
        assert_eq!(standing(&s, &doc_scope, &police), Standing::NotParty);
        // A case that does not exist: nobody is a party (the same answer as for an existing one).
        let none = classify(&documents::case_key(&CaseRef(Hash([8; 32]))));
        assert_eq!(standing(&s, &none, &agency("court")), Standing::NotParty);
        // A document that is not anchored has no parties.
        let absent = classify(&documents::doc_key(&doc(11)));
        assert_eq!(standing(&s, &absent, &police), Standing::NoSuchDocument);
        // An active grant lets the police read the judgment's records, not the case.
        let grant = GrantRecord { by: CertFingerprint(Hash([1; 32])), height: 2, revoked_at: None };
        s.insert(documents::grant_key(&doc(9), &police), grant.encode());
        assert_eq!(standing(&s, &doc_scope, &police), Standing::Grantee);
        assert_eq!(standing(&s, &case_scope, &police), Standing::NotParty);
        // Revoked: nothing left.
        let revoked = GrantRecord { revoked_at: Some(3), ..grant };
        s.insert(documents::grant_key(&doc(9), &police), revoked.encode());
        assert_eq!(standing(&s, &doc_scope, &police), Standing::NotParty);
        // Public and malformed keys.
        assert_eq!(standing(&s, &classify(registry::AGENCIES_KEY), &police), Standing::Public);
        assert_eq!(standing(&s, &classify(b"case/x"), &police), Standing::Malformed);
    }
}

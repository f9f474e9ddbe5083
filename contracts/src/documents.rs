//! Document anchors, delivery receipts and the history of documents and cases.
//!
//! Storage:
//! - `doc/<doc hash>` → [`AnchorRecord`]
//! - `receipt/<doc hash>/<agency>` → [`ReceiptRecord`]
//! - `grant/<doc hash>/<agency>` → [`GrantRecord`] (access for an agency not addressed)
//! - `case/<case ref>` → [`crate::workflow::CaseRecord`]
//! - `casehist/<case ref>/<n, 4 bytes big-endian>` → [`CaseEvent`], n = 0, 1, … (the case's
//!   `events` counts them)

use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode};
use serde::Serialize;

use custos_primitives::crypto::Hash;
use custos_primitives::types::{AgencyId, CaseRef, CertFingerprint, DocHash, TxId};

use crate::call::{BusinessDates, DocType, SubjectKind};
use crate::workflow::{CaseState, Phase};

/// An anchored document.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct AnchorRecord {
    /// Document hash.
    pub doc_hash: DocHash,
    /// Type code.
    pub doc_type: DocType,
    /// Case.
    pub case_ref: CaseRef,
    /// Issuing agency.
    pub issuer: AgencyId,
    /// Signing member.
    pub signer: CertFingerprint,
    /// Recipients (送达).
    pub recipients: Vec<AgencyId>,
    /// Copies (抄送).
    pub copies: Vec<AgencyId>,
    /// Business dates.
    pub dates: BusinessDates,
    /// Subject kind stated by the document.
    pub subject_kind: Option<SubjectKind>,
    /// E-seal reference.
    pub eseal_ref: Option<Hash>,
    /// The case's state after this document (`None`: a letter about a case not opened).
    pub case_state: Option<CaseState>,
    /// Height.
    pub height: u64,
    /// Block time (ms since the epoch).
    pub time_ms: u64,
    /// Anchoring transaction.
    pub tx_id: TxId,
}

/// A delivery receipt.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct ReceiptRecord {
    /// The acknowledging agency.
    pub agency: AgencyId,
    /// The signing member.
    pub signer: CertFingerprint,
    /// Height.
    pub height: u64,
    /// Block time (ms).
    pub time_ms: u64,
    /// The receipt transaction.
    pub tx_id: TxId,
}

/// One document in a case's history.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, Serialize)]
pub struct CaseEvent {
    /// The document.
    pub doc_hash: DocHash,
    /// Its type.
    pub doc_type: DocType,
    /// Issuer.
    pub issuer: AgencyId,
    /// State before.
    pub from: Phase,
    /// State after.
    pub to: CaseState,
    /// Height.
    pub height: u64,
}

/// A grant of access to a document.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct GrantRecord {
    /// The member who granted it.
    pub by: CertFingerprint,
    /// Height of the grant.
    pub height: u64,
    /// Height of its revocation, if revoked.
    pub revoked_at: Option<u64>,
}

/// Why an anchor or receipt failed.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, thiserror::Error)]
pub enum DocumentError {
    /// The document hash is already anchored.
    #[codec(index = 0)]
    #[error("document {0} is already anchored")]
    AlreadyAnchored(DocHash),
    /// A recipient or copy agency is not an active agency of the registry.
    #[codec(index = 1)]
    #[error("recipient or copy {0} is not an active agency of the registry")]
    UnknownParty(AgencyId),
    /// The same agency listed twice.
    #[codec(index = 2)]
    #[error("agency {0} is listed twice among recipients and copies")]
    DuplicateParty(AgencyId),
    /// A receipt for a document that is not anchored.
    #[codec(index = 3)]
    #[error("document {0} is not anchored")]
    NotAnchored(DocHash),
    /// A receipt from an agency the document was not sent or copied to.
    #[codec(index = 4)]
    #[error("agency {agency} is neither a recipient nor a copy of document {doc}")]
    NotAddressed {
        /// The document.
        doc: DocHash,
        /// The signer's agency.
        agency: AgencyId,
    },
    /// The agency already acknowledged the document.
    #[codec(index = 5)]
    #[error("agency {agency} already acknowledged document {doc}")]
    AlreadyReceived {
        /// The document.
        doc: DocHash,
        /// The agency.
        agency: AgencyId,
    },
    /// Only the issuing agency grants or revokes access.
    #[codec(index = 6)]
    #[error("only the issuing agency {issuer} may grant or revoke access to document {doc}")]
    NotIssuer {
        /// The document.
        doc: DocHash,
        /// Its issuer.
        issuer: AgencyId,
    },
    /// The agency can read the document already (addressed, copied or granted).
    #[codec(index = 7)]
    #[error("agency {agency} can already read document {doc}")]
    AlreadyReadable {
        /// The document.
        doc: DocHash,
        /// The agency.
        agency: AgencyId,
    },
    /// No active grant to revoke.
    #[codec(index = 8)]
    #[error("agency {agency} holds no active grant for document {doc}")]
    NoGrant {
        /// The document.
        doc: DocHash,
        /// The agency.
        agency: AgencyId,
    },
}

/// Prefix of [`doc_key`].
pub const DOC_PREFIX: &[u8] = b"doc/";
/// Prefix of [`receipt_key`].
pub const RECEIPT_PREFIX: &[u8] = b"receipt/";
/// Prefix of [`grant_key`].
pub const GRANT_PREFIX: &[u8] = b"grant/";
/// Prefix of [`case_key`].
pub const CASE_PREFIX: &[u8] = b"case/";
/// Prefix of [`case_event_key`].
pub const CASE_EVENT_PREFIX: &[u8] = b"casehist/";

/// State key of an anchored document.
pub fn doc_key(d: &DocHash) -> Vec<u8> {
    [DOC_PREFIX, d.0.as_bytes()].concat()
}
/// State key of an agency's receipt of a document.
pub fn receipt_key(d: &DocHash, agency: &AgencyId) -> Vec<u8> {
    [RECEIPT_PREFIX, d.0.as_bytes(), b"/", agency.as_str().as_bytes()].concat()
}
/// State key of an agency's grant of access to a document.
pub fn grant_key(d: &DocHash, agency: &AgencyId) -> Vec<u8> {
    [GRANT_PREFIX, d.0.as_bytes(), b"/", agency.as_str().as_bytes()].concat()
}
/// State key of a case.
pub fn case_key(c: &CaseRef) -> Vec<u8> {
    [CASE_PREFIX, c.0.as_bytes()].concat()
}
/// State key of the `n`-th document of a case's history.
pub fn case_event_key(c: &CaseRef, n: u32) -> Vec<u8> {
    [CASE_EVENT_PREFIX, c.0.as_bytes(), b"/", &n.to_be_bytes()].concat()
}

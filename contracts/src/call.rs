//! Contract calls: what a transaction asks the ledger to do. Call indices are stable: a new
//! call gets a new index, an old index is never reused.

use core::fmt;

use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode, Input};
use serde::Serialize;

use custos_primitives::codec::{BoundedVec, ConstU32};
use custos_primitives::types::{AgencyId, CaseRef, DocHash, Transaction};

/// Most recipients or copies of one document.
pub const MAX_PARTIES: u32 = 16;
/// Largest certificate carried by a `RegisterMember` call.
pub const MAX_CERT_DER: u32 = 8 * 1024;

/// A document type code (domain.md §6.3), e.g. `JUDGMENT`, `EXEC_NOTICE`, `RECEIPT_ACK`:
/// 1–32 characters of `A-Z`, `0-9`, `_`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Encode)]
pub struct DocType(BoundedVec<u8, ConstU32<32>>);

impl DocType {
    /// Validates a code.
    pub fn new(code: &str) -> Result<Self, String> {
        validate_doc_type(code)?;
        BoundedVec::try_from(code.as_bytes().to_vec())
            .map(DocType)
            .map_err(|_| format!("document type {code:?} is longer than 32 characters"))
    }
    /// The code.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("")
    }
}

fn validate_doc_type(code: &str) -> Result<(), String> {
    if code.is_empty() || code.len() > 32 {
        return Err(format!("document type {code:?} must be 1-32 characters"));
    }
    if !code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
        return Err(format!("document type {code:?} may contain only A-Z, 0-9 and '_' (e.g. JUDGMENT)"));
    }
    Ok(())
}

impl Decode for DocType {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let v = BoundedVec::<u8, ConstU32<32>>::decode(input)?;
        let s = core::str::from_utf8(&v).map_err(|_| parity_scale_codec::Error::from("document type: not UTF-8"))?;
        validate_doc_type(s).map_err(|_| parity_scale_codec::Error::from("document type: invalid code"))?;
        Ok(DocType(v))
    }
}

impl DecodeWithMemTracking for DocType {}

impl fmt::Display for DocType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for DocType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocType({})", self.as_str())
    }
}

impl Serialize for DocType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Anchor a document: its salted hash, type, case, and the agencies it is sent to.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct AnchorCall {
    /// `H(tag ‖ salt ‖ document)`.
    pub doc_hash: DocHash,
    /// Document type code.
    pub doc_type: DocType,
    /// Pseudonymous case reference.
    pub case_ref: CaseRef,
    /// Agencies the document is addressed to (送达).
    pub recipients: BoundedVec<AgencyId, ConstU32<MAX_PARTIES>>,
    /// Agencies that receive a copy (抄送).
    pub copies: BoundedVec<AgencyId, ConstU32<MAX_PARTIES>>,
}

/// Register the signer's own member certificate. The transaction's `signer` must be the
/// fingerprint of this certificate and its signature must verify with the certificate's key;
/// the certificate must chain to an agency CA in the registry at the block's time.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct RegisterMemberCall {
    /// The member certificate (DER).
    pub certificate: BoundedVec<u8, ConstU32<MAX_CERT_DER>>,
}

/// Acknowledge delivery of an anchored document (送达回执) on behalf of the signer's agency,
/// which must be one of its recipients or copies.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct ReceiptCall {
    /// The anchored document.
    pub doc_hash: DocHash,
}

/// Every call, with its stable index.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub enum Call {
    /// Register a member certificate.
    #[codec(index = 0)]
    RegisterMember(RegisterMemberCall),
    /// Anchor a document.
    #[codec(index = 1)]
    Anchor(AnchorCall),
    /// Acknowledge receipt of a document.
    #[codec(index = 2)]
    Receipt(ReceiptCall),
}

impl Call {
    /// Short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Call::RegisterMember(_) => "register_member",
            Call::Anchor(_) => "anchor",
            Call::Receipt(_) => "receipt",
        }
    }
}

/// A signed Custos transaction.
pub type SignedTx = Transaction<Call>;

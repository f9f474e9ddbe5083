//! Contract calls: what a transaction asks the ledger to do. Call indices are stable: a new
//! call gets a new index, an old index is never reused.

use core::fmt;

use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode, Input};
use serde::Serialize;

use custos_primitives::codec::{BoundedVec, ConstU32};
use custos_primitives::crypto::{EncryptionPublicKey, Hash};
use custos_primitives::types::{AgencyId, CaseRef, CertFingerprint, DocHash, Transaction};

use crate::governance::GovAction;

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

/// A calendar date (a business fact such as the day a judgment took effect), as days since
/// 1970-01-01. Dates are signed facts of the issuing agency, not block times.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, DecodeWithMemTracking)]
pub struct Date(pub i32);

impl Date {
    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("date {s:?} is not a valid YYYY-MM-DD date");
        let mut parts = s.split('-');
        let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let y: i32 = y.parse().map_err(|_| bad())?;
        let m: u8 = m.parse().map_err(|_| bad())?;
        let d: u8 = d.parse().map_err(|_| bad())?;
        let month = time::Month::try_from(m).map_err(|_| bad())?;
        let date = time::Date::from_calendar_date(y, month, d).map_err(|_| bad())?;
        Ok(Date(date.to_julian_day() - EPOCH_JULIAN_DAY))
    }

    /// The day a Unix time (seconds) falls on, in China Standard Time (UTC+8), the legal
    /// calendar of the network.
    pub fn from_unix_seconds_cst(secs: i64) -> Self {
        let days = (secs + 8 * 3600).div_euclid(86_400);
        Date(i32::try_from(days).unwrap_or(if days < 0 { i32::MIN } else { i32::MAX }))
    }

    /// `self + days`, saturating.
    pub fn plus_days(self, days: i32) -> Self {
        Date(self.0.saturating_add(days))
    }

    /// Day of the week: 0 = Monday … 5 = Saturday, 6 = Sunday (1970-01-01, day 0, was a
    /// Thursday). Defined for every value, without the calendar's year range.
    pub fn weekday(self) -> u8 {
        // rem_euclid(7) lies in 0..7, so the cast is lossless.
        (i64::from(self.0) + 3).rem_euclid(7) as u8
    }

    /// Saturday or Sunday.
    pub fn is_weekend(self) -> bool {
        self.weekday() >= 5
    }

    /// Year, month (1–12) and day of the month; `None` outside the years −9999..=9999.
    pub fn year_month_day(self) -> Option<(i32, u8, u8)> {
        let d = self.calendar()?;
        Some((d.year(), u8::from(d.month()), d.day()))
    }

    /// The date of a year, month (1–12) and day; `None` if there is no such day (or it lies
    /// outside the years −9999..=9999).
    pub fn from_year_month_day(year: i32, month: u8, day: u8) -> Option<Self> {
        let month = time::Month::try_from(month).ok()?;
        let date = time::Date::from_calendar_date(year, month, day).ok()?;
        Some(Date(date.to_julian_day() - EPOCH_JULIAN_DAY))
    }

    fn calendar(self) -> Option<time::Date> {
        time::Date::from_julian_day(self.0.checked_add(EPOCH_JULIAN_DAY)?).ok()
    }
}

/// Julian day number of 1970-01-01.
const EPOCH_JULIAN_DAY: i32 = 2_440_588;

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.calendar() {
            Some(d) => write!(f, "{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
            None => write!(f, "day {}", self.0),
        }
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The business dates a document carries; which ones are required depends on its type
/// (see [`crate::workflow`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, Serialize)]
pub struct BusinessDates {
    /// The day the decision or document takes effect (生效日), or the day it was issued.
    pub effective: Option<Date>,
    /// The day something was received (e.g. the subject reported, 报到/接收).
    pub received: Option<Date>,
    /// Start of a period (e.g. the correction period).
    pub period_start: Option<Date>,
    /// End of a period (e.g. the end of the correction period, `correction_end`).
    pub period_end: Option<Date>,
}

/// Kind of subject of community correction (domain.md §2). Carried by the deciding document.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, DecodeWithMemTracking, Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// 管制, by a court judgment.
    #[codec(index = 0)]
    Control,
    /// 缓刑, by a court judgment.
    #[codec(index = 1)]
    Probation,
    /// 假释, by a court ruling.
    #[codec(index = 2)]
    Parole,
    /// 暂予监外执行 decided by a court.
    #[codec(index = 3)]
    TempOutsideCourt,
    /// 暂予监外执行 approved by the prison administration.
    #[codec(index = 4)]
    TempOutsidePrison,
    /// 暂予监外执行 approved by the police (看守所 inmates).
    #[codec(index = 5)]
    TempOutsidePolice,
}

impl SubjectKind {
    /// All kinds.
    pub const ALL: [SubjectKind; 6] = [
        SubjectKind::Control,
        SubjectKind::Probation,
        SubjectKind::Parole,
        SubjectKind::TempOutsideCourt,
        SubjectKind::TempOutsidePrison,
        SubjectKind::TempOutsidePolice,
    ];

    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Control => "control",
            SubjectKind::Probation => "probation",
            SubjectKind::Parole => "parole",
            SubjectKind::TempOutsideCourt => "temp_outside_court",
            SubjectKind::TempOutsidePrison => "temp_outside_prison",
            SubjectKind::TempOutsidePolice => "temp_outside_police",
        }
    }

    /// 暂予监外执行, of any deciding body.
    pub fn is_temp_outside(self) -> bool {
        matches!(self, SubjectKind::TempOutsideCourt | SubjectKind::TempOutsidePrison | SubjectKind::TempOutsidePolice)
    }
}

impl fmt::Display for SubjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::str::FromStr for SubjectKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        SubjectKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            format!(
                "unknown subject kind {s:?}: expected control, probation, parole, temp_outside_court, \
                 temp_outside_prison or temp_outside_police"
            )
        })
    }
}

/// Anchor a document: its salted hash, type, case, the agencies it is sent to, its business
/// dates and e-seal reference. The document type decides how the case moves (see
/// [`crate::workflow`]).
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
    /// Business dates.
    pub dates: BusinessDates,
    /// Kind of subject; required on a deciding document (judgment, ruling, decision, approval).
    pub subject_kind: Option<SubjectKind>,
    /// Hash of the e-seal / e-signature value on the document (电子签章), not the seal image.
    pub eseal_ref: Option<Hash>,
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

/// Revoke a member certificate of the signer's own agency (the signer must be its admin).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct RevokeMemberCall {
    /// The member to revoke.
    pub member: CertFingerprint,
}

/// Revoke any certificate the signer's agency CA issued, by its DER: a TLS transport
/// certificate (nodes then refuse API connections and calls made with it) or a member
/// certificate (which can then no longer sign or be registered). The signer must be the
/// agency's admin.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct RevokeCertificateCall {
    /// The certificate (DER).
    pub certificate: BoundedVec<u8, ConstU32<MAX_CERT_DER>>,
}

/// Open a governance proposal; the proposer's agency counts as its first approval.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct ProposeCall {
    /// What to do once approved.
    pub action: GovAction,
}

/// Approve or reject an open proposal on behalf of the signer's agency.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct VoteCall {
    /// The proposal.
    pub proposal: u64,
    /// Approve (`true`) or reject.
    pub approve: bool,
}

/// Set the signer's agency's encryption key (the key e-dossier content keys are wrapped to),
/// as that agency's admin. Dossiers sent later are readable only with the matching private key.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct SetEncryptionKeyCall {
    /// The new public key (of the network's suite).
    pub key: EncryptionPublicKey,
}

/// Grant an agency access to an anchored document it was not addressed or copied to (e.g. the
/// procuratorate asks for a document), as a clerk or admin of the issuing agency.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct GrantAccessCall {
    /// The document.
    pub doc_hash: DocHash,
    /// The agency given access.
    pub agency: AgencyId,
}

/// Revoke a grant made with [`GrantAccessCall`], as a clerk or admin of the issuing agency.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct RevokeAccessCall {
    /// The document.
    pub doc_hash: DocHash,
    /// The agency whose grant ends.
    pub agency: AgencyId,
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
    /// Revoke a member certificate.
    #[codec(index = 3)]
    RevokeMember(RevokeMemberCall),
    /// Open a governance proposal.
    #[codec(index = 4)]
    Propose(ProposeCall),
    /// Vote on a governance proposal.
    #[codec(index = 5)]
    Vote(VoteCall),
    /// Set the agency's encryption key.
    #[codec(index = 6)]
    SetEncryptionKey(SetEncryptionKeyCall),
    /// Grant an agency access to a document.
    #[codec(index = 7)]
    GrantAccess(GrantAccessCall),
    /// Revoke such a grant.
    #[codec(index = 8)]
    RevokeAccess(RevokeAccessCall),
    /// Revoke a certificate (transport or member) of the signer's agency.
    #[codec(index = 9)]
    RevokeCertificate(RevokeCertificateCall),
}

impl Call {
    /// Short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Call::RegisterMember(_) => "register_member",
            Call::Anchor(_) => "anchor",
            Call::Receipt(_) => "receipt",
            Call::RevokeMember(_) => "revoke_member",
            Call::Propose(_) => "propose",
            Call::Vote(_) => "vote",
            Call::SetEncryptionKey(_) => "set_encryption_key",
            Call::GrantAccess(_) => "grant_access",
            Call::RevokeAccess(_) => "revoke_access",
            Call::RevokeCertificate(_) => "revoke_certificate",
        }
    }
}

/// A signed Custos transaction.
pub type SignedTx = Transaction<Call>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn weekday_of_known_dates() {
        assert_eq!(Date(0).weekday(), 3, "1970-01-01 was a Thursday");
        assert_eq!(Date(-1).weekday(), 2, "1969-12-31 was a Wednesday");
        assert_eq!(Date(4).weekday(), 0, "1970-01-05 was a Monday");
        assert_eq!(Date::parse("2026-01-01").unwrap().weekday(), 3, "Thursday");
        assert_eq!(Date::parse("2026-10-03").unwrap().weekday(), 5, "Saturday");
        assert_eq!(Date::parse("2026-10-04").unwrap().weekday(), 6, "Sunday");
        assert_eq!(Date::parse("2000-02-29").unwrap().weekday(), 1, "Tuesday");
        assert!(Date::parse("2026-02-14").unwrap().is_weekend());
        assert!(!Date::parse("2026-02-16").unwrap().is_weekend());
        // Defined at the extremes, where the calendar is not.
        assert!(Date(i32::MAX).weekday() < 7 && Date(i32::MIN).weekday() < 7);
        // Seven consecutive days are each weekday once.
        let mut seen: Vec<u8> = (0..7).map(|i| Date(100 + i).weekday()).collect();
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn year_month_day_round_trips() {
        let d = Date::parse("2024-02-29").unwrap();
        assert_eq!(d.year_month_day(), Some((2024, 2, 29)));
        assert_eq!(Date::from_year_month_day(2024, 2, 29), Some(d));
        assert_eq!(Date::from_year_month_day(2026, 2, 29), None);
        assert_eq!(Date::from_year_month_day(2026, 13, 1), None);
        assert_eq!(Date(i32::MAX).year_month_day(), None);
    }
}

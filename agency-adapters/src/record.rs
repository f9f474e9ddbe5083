//! A source record (one document the agency system wants sent) and its idempotency key.
//!
//! The key is `(agency, source id, version)`. The document's salt is derived from it with the
//! adapter's secret (`HMAC(secret, "custos/adapter-salt/v1" ‖ agency ‖ source id ‖ version)`), so
//! the same record always hashes to the same document id, and the ledger, which never anchors a
//! document id twice, holds at most one anchor per record — whatever crashes, retries or a lost
//! checkpoint did. The salt stays as unguessable as a random one while the secret is kept.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use custos_contracts::call::{BusinessDates, Date, DocType, SubjectKind};
use custos_contracts::workflow::DOC_TYPES;
use custos_primitives::crypto::{AnySuite, Hash, Suite};
use custos_primitives::types::{AgencyId, Salt};

use crate::error::{AdapterError, Result};

/// Longest source id.
pub const MAX_SOURCE_ID: usize = 128;
/// Most recipients, and most copies, of one document (the ledger's limit).
pub const MAX_ADDRESSEES: usize = 16;

/// What identifies a record in the agency's system: its id there and its version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordKey {
    /// The record's id in the agency system (printable, at most [`MAX_SOURCE_ID`] bytes).
    pub source_id: String,
    /// Its version: a corrected document is a new version, anchored as a new document.
    pub version: u64,
}

impl RecordKey {
    /// Checks the id is usable as a key.
    pub fn check(&self) -> Result<()> {
        let id = &self.source_id;
        if id.is_empty() || id.len() > MAX_SOURCE_ID || id.chars().any(char::is_control) {
            return Err(AdapterError::Record(format!(
                "source id {id:?} must be 1 to {MAX_SOURCE_ID} bytes without control characters"
            )));
        }
        Ok(())
    }
}

impl std::fmt::Display for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@v{}", self.source_id, self.version)
    }
}

/// Where a record's document is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocumentSource {
    /// A file the adapter can read.
    Path(PathBuf),
    /// The bytes themselves.
    Bytes(Vec<u8>),
}

/// One document the agency system wants sent, as the source gave it (unchecked strings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundRecord {
    /// The idempotency key (with the agency).
    pub key: RecordKey,
    /// The document.
    pub document: DocumentSource,
    /// The document's file name, for its media type (optional).
    pub file_name: Option<String>,
    /// Document type code, e.g. `JUDGMENT`.
    pub doc_type: String,
    /// The court case number (案号); only its keyed hash leaves the adapter.
    pub case_number: String,
    /// Recipient agencies (送达).
    pub recipients: Vec<String>,
    /// Copies (抄送).
    pub copies: Vec<String>,
    /// Business dates, `YYYY-MM-DD`.
    pub dates: RecordDates,
    /// Kind of subject (deciding documents): `probation`, `parole`, …
    pub subject_kind: Option<String>,
    /// Hash of the document's e-seal value (64 hex digits).
    pub eseal: Option<String>,
}

/// Business dates of a record, as text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordDates {
    /// 生效日.
    #[serde(default)]
    pub effective: Option<String>,
    /// Day something was received.
    #[serde(default)]
    pub received: Option<String>,
    /// Start of a period.
    #[serde(default)]
    pub period_start: Option<String>,
    /// End of a period.
    #[serde(default)]
    pub period_end: Option<String>,
}

/// A record that passed the checks that need no node.
#[derive(Clone, Debug)]
pub struct CheckedRecord {
    /// The document type.
    pub doc_type: DocType,
    /// Recipients, in the order given.
    pub recipients: Vec<AgencyId>,
    /// Copies.
    pub copies: Vec<AgencyId>,
    /// Business dates.
    pub dates: BusinessDates,
    /// Kind of subject.
    pub subject_kind: Option<SubjectKind>,
    /// E-seal reference.
    pub eseal: Option<Hash>,
}

fn date(field: &str, v: &Option<String>) -> Result<Option<Date>> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => Date::parse(s).map(Some).map_err(|e| AdapterError::Record(format!("{field} {s:?}: {e}"))),
    }
}

fn agencies(field: &str, list: &[String]) -> Result<Vec<AgencyId>> {
    let mut out = Vec::new();
    for a in list.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let id = AgencyId::new(a).map_err(|e| AdapterError::Record(format!("{field}: bad agency {a:?}: {e}")))?;
        if out.contains(&id) {
            return Err(AdapterError::Record(format!("{field}: {a} is named twice")));
        }
        out.push(id);
    }
    if out.len() > MAX_ADDRESSEES {
        return Err(AdapterError::Record(format!("{field}: at most {MAX_ADDRESSEES} agencies")));
    }
    Ok(out)
}

fn subject_kind(s: &str) -> Result<SubjectKind> {
    Ok(match s.trim() {
        "control" => SubjectKind::Control,
        "probation" => SubjectKind::Probation,
        "parole" => SubjectKind::Parole,
        "temp_outside_court" => SubjectKind::TempOutsideCourt,
        "temp_outside_prison" => SubjectKind::TempOutsidePrison,
        "temp_outside_police" => SubjectKind::TempOutsidePolice,
        other => {
            return Err(AdapterError::Record(format!(
                "unknown subject kind {other:?} (control, probation, parole, temp_outside_court, \
                 temp_outside_prison, temp_outside_police)"
            )));
        }
    })
}

impl OutboundRecord {
    /// The checks that need no node: key, known document type, case number, agencies, dates.
    /// Whether the recipients exist and may receive is asked of the ledger later.
    pub fn check(&self) -> Result<CheckedRecord> {
        self.key.check()?;
        let code = self.doc_type.trim();
        if !DOC_TYPES.contains(&code) {
            return Err(AdapterError::Record(format!(
                "unknown document type {code:?} (`custos doc types` lists the known ones)"
            )));
        }
        let doc_type = DocType::new(code).map_err(|e| AdapterError::Record(format!("document type: {e}")))?;
        if self.case_number.trim().is_empty() {
            return Err(AdapterError::Record("the case number is empty".into()));
        }
        let recipients = agencies("recipients", &self.recipients)?;
        if recipients.is_empty() {
            return Err(AdapterError::Record("no recipient: an e-dossier needs at least one".into()));
        }
        let copies = agencies("copies", &self.copies)?;
        if let Some(both) = copies.iter().find(|c| recipients.contains(c)) {
            return Err(AdapterError::Record(format!("{both} is both a recipient and a copy")));
        }
        let dates = BusinessDates {
            effective: date("effective date", &self.dates.effective)?,
            received: date("received date", &self.dates.received)?,
            period_start: date("period start", &self.dates.period_start)?,
            period_end: date("period end", &self.dates.period_end)?,
        };
        let subject_kind =
            self.subject_kind.as_deref().filter(|s| !s.trim().is_empty()).map(subject_kind).transpose()?;
        let eseal = match self.eseal.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(h) => {
                let bytes = hex::decode(h).map_err(|_| AdapterError::Record(format!("e-seal {h:?} is not hex")))?;
                let arr: [u8; 32] =
                    bytes.try_into().map_err(|_| AdapterError::Record("an e-seal hash has 64 hex digits".into()))?;
                Some(Hash(arr))
            }
        };
        if let DocumentSource::Path(p) = &self.document
            && !p.is_file()
        {
            return Err(AdapterError::Record(format!("document file {} does not exist", p.display())));
        }
        Ok(CheckedRecord { doc_type, recipients, copies, dates, subject_kind, eseal })
    }

    /// The media type, from the file name's extension.
    pub fn media_type(&self) -> &'static str {
        let name = match (&self.file_name, &self.document) {
            (Some(n), _) => n.as_str(),
            (None, DocumentSource::Path(p)) => p.to_str().unwrap_or(""),
            (None, DocumentSource::Bytes(_)) => "",
        };
        custos_dossier::media_type_of_name(name)
    }
}

/// The salt of a record's document: keyed by the adapter's secret, fixed by the record's key.
pub fn derive_salt(suite: &AnySuite, secret: &[u8], agency: &AgencyId, key: &RecordKey) -> Salt {
    let mut msg = b"custos/adapter-salt/v1\0".to_vec();
    msg.extend_from_slice(agency.as_str().as_bytes());
    msg.push(0);
    msg.extend_from_slice(key.source_id.as_bytes());
    msg.push(0);
    msg.extend_from_slice(&key.version.to_be_bytes());
    Salt(suite.hmac(secret, &msg).0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use custos_primitives::crypto::SuiteId;

    fn record() -> OutboundRecord {
        OutboundRecord {
            key: RecordKey { source_id: "row-1".into(), version: 1 },
            document: DocumentSource::Bytes(b"letter".to_vec()),
            file_name: Some("a.PDF".into()),
            doc_type: "LETTER".into(),
            case_number: "（2026）测01刑初1号".into(),
            recipients: vec!["justice".into()],
            copies: vec!["procuratorate".into()],
            dates: RecordDates { effective: Some("2026-03-01".into()), ..Default::default() },
            subject_kind: None,
            eseal: None,
        }
    }

    #[test]
    fn a_good_record_passes() {
        let r = record();
        let c = r.check().unwrap();
        assert_eq!(c.recipients.len(), 1);
        assert_eq!(c.dates.effective.unwrap().to_string(), "2026-03-01");
        assert_eq!(r.media_type(), "application/pdf");
    }

    #[test]
    fn malformed_records_name_their_fault() {
        type Change = Box<dyn Fn(&mut OutboundRecord)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|r| r.doc_type = "MEMO".into()), "unknown document type"),
            (Box::new(|r| r.recipients = vec![]), "no recipient"),
            (Box::new(|r| r.recipients = vec!["Bad Agency".into()]), "bad agency"),
            (Box::new(|r| r.copies = vec!["justice".into()]), "both a recipient and a copy"),
            (Box::new(|r| r.dates.effective = Some("2026-02-30".into())), "effective date"),
            (Box::new(|r| r.document = DocumentSource::Path("/nonexistent/x.pdf".into())), "does not exist"),
            (Box::new(|r| r.case_number = " ".into()), "case number"),
            (Box::new(|r| r.key.source_id = String::new()), "source id"),
            (Box::new(|r| r.subject_kind = Some("exile".into())), "subject kind"),
            (Box::new(|r| r.eseal = Some("12".into())), "e-seal"),
        ];
        for (change, want) in cases {
            let mut r = record();
            change(&mut r);
            let e = r.check().unwrap_err();
            assert!(e.is_permanent());
            assert!(e.to_string().contains(want), "{e} should mention {want}");
        }
    }

    #[test]
    fn the_salt_is_fixed_by_the_key_and_secret() {
        let suite = AnySuite::with_defaults(SuiteId::Sm);
        let agency = AgencyId::new("court").unwrap();
        let k = RecordKey { source_id: "row-1".into(), version: 1 };
        let a = derive_salt(&suite, b"secret", &agency, &k);
        assert_eq!(a, derive_salt(&suite, b"secret", &agency, &k));
        assert_ne!(a, derive_salt(&suite, b"other", &agency, &k));
        assert_ne!(a, derive_salt(&suite, b"secret", &AgencyId::new("police").unwrap(), &k));
        assert_ne!(a, derive_salt(&suite, b"secret", &agency, &RecordKey { version: 2, ..k.clone() }));
        // The separator keeps ("row-1", …) and ("row-", "1…") apart.
        assert_ne!(a, derive_salt(&suite, b"secret", &agency, &RecordKey { source_id: "row-".into(), version: 1 }));
    }
}

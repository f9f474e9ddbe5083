//! The dossier manifest: what a document is, how it was cut into chunks, who may read it,
//! signed by the issuing clerk. The format is described in the crate documentation and
//! frozen by the golden vectors in `tests/it/golden.rs`.

use core::fmt;

use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode, Input, MaxEncodedLen};

use custos_primitives::codec::{BoundedVec, ConstU32, decode_exact};
use custos_primitives::crypto::SuiteId;
use custos_primitives::crypto::{
    AEAD_TAG_LEN, AeadKey, DecryptionKey, EncryptionPublicKey, Hash, PublicKey, Signature, SigningKey, Suite,
};
use custos_primitives::types::{AgencyId, CaseRef, CertFingerprint, DocHash, Salt};

use crate::{DossierError, Result};

/// The manifest format version this build writes and reads.
pub const MANIFEST_VERSION: u8 = 1;
/// Domain tag of manifest signatures.
pub const MANIFEST_SIGNING_TAG: &[u8] = b"custos/dossier-manifest/v1";
/// Default plaintext bytes per chunk (1 MiB).
pub const DEFAULT_CHUNK_SIZE: u32 = 1 << 20;
/// Smallest chunk size accepted (4 KiB).
pub const MIN_CHUNK_SIZE: u32 = 4 << 10;
/// Largest chunk size accepted (16 MiB): bounds the memory a chunk may take.
pub const MAX_CHUNK_SIZE: u32 = 16 << 20;
/// Most chunks in one document (16 GiB at the default chunk size).
pub const MAX_CHUNKS: u32 = 16_384;
/// Most recipient agencies of one document.
pub const MAX_RECIPIENTS: u32 = 32;
/// Longest wrapped content key (SM2 C1C3C2 of a 16-byte key is 113 bytes; X25519 is 80).
pub const MAX_WRAPPED_KEY_LEN: u32 = 256;
/// Longest media type.
pub const MAX_MEDIA_TYPE_LEN: u32 = 127;
/// Longest document type code.
pub const MAX_DOC_TYPE_LEN: u32 = 32;

/// Defines a bounded ASCII string checked by `$validate` on construction and on decode.
macro_rules! bounded_text {
    ($(#[$m:meta])* $name:ident, $max:expr, $what:expr, $validate:path) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Encode, MaxEncodedLen)]
        pub struct $name(BoundedVec<u8, ConstU32<{ $max }>>);

        impl $name {
            /// Maximum length in bytes.
            pub const MAX_LEN: usize = $max as usize;

            /// Validates and wraps `s`.
            pub fn new(s: &str) -> Result<Self> {
                let invalid = |reason: String| DossierError::InvalidText {
                    what: $what,
                    value: s.chars().take(80).collect(),
                    reason,
                };
                $validate(s).map_err(invalid)?;
                let v = BoundedVec::try_from(s.as_bytes().to_vec())
                    .map_err(|_| invalid(format!("longer than {} bytes", $max)))?;
                Ok(Self(v))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                // Validated as ASCII on construction and decode.
                core::str::from_utf8(&self.0).unwrap_or("")
            }
        }

        impl Decode for $name {
            fn decode<I: Input>(input: &mut I) -> core::result::Result<Self, parity_scale_codec::Error> {
                let v = BoundedVec::<u8, ConstU32<{ $max }>>::decode(input)?;
                let s = core::str::from_utf8(&v).map_err(|_| parity_scale_codec::Error::from(concat!($what, ": not UTF-8")))?;
                $validate(s).map_err(|_| parity_scale_codec::Error::from(concat!($what, ": invalid")))?;
                Ok(Self(v))
            }
        }

        impl DecodeWithMemTracking for $name {}

        impl core::hash::Hash for $name {
            fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
                self.0.as_slice().hash(state)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.as_str())
            }
        }

        impl core::str::FromStr for $name {
            type Err = DossierError;
            fn from_str(s: &str) -> Result<Self> {
                Self::new(s)
            }
        }
    };
}

bounded_text!(
    /// A document type code (domain.md §6.3), e.g. `JUDGMENT`: 1–32 characters of `A-Z`,
    /// `0-9`, `_`. Encoded exactly like `custos_contracts::call::DocType`.
    DocTypeCode,
    MAX_DOC_TYPE_LEN,
    "document type",
    validate_doc_type
);

bounded_text!(
    /// A media type such as `application/pdf`: lower-case `type/subtype` (RFC 6838 restricted
    /// names, no parameters), at most 127 bytes.
    MediaType,
    MAX_MEDIA_TYPE_LEN,
    "media type",
    validate_media_type
);

fn validate_doc_type(s: &str) -> core::result::Result<(), String> {
    if s.is_empty() || s.len() > MAX_DOC_TYPE_LEN as usize {
        return Err(format!("must be 1-{MAX_DOC_TYPE_LEN} characters"));
    }
    if !s.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_') {
        return Err("only A-Z, 0-9 and '_' are allowed (e.g. JUDGMENT)".into());
    }
    Ok(())
}

fn validate_media_type(s: &str) -> core::result::Result<(), String> {
    if s.len() > MAX_MEDIA_TYPE_LEN as usize {
        return Err(format!("longer than {MAX_MEDIA_TYPE_LEN} bytes"));
    }
    let Some((ty, sub)) = s.split_once('/') else {
        return Err("expected type/subtype, e.g. application/pdf".into());
    };
    for part in [ty, sub] {
        let mut bytes = part.bytes();
        if !bytes.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return Err("type and subtype must start with a lower-case letter or digit".into());
        }
        if !bytes.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"!#$&-^_.+".contains(&c)) {
            return Err("only lower-case a-z, 0-9 and !#$&-^_.+ are allowed, no parameters".into());
        }
    }
    Ok(())
}

/// The content key wrapped to one recipient agency's encryption key.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen)]
pub struct Recipient {
    /// The recipient agency.
    pub agency: AgencyId,
    /// The content key, wrapped with the suite's key wrapping to the agency's key.
    pub wrapped_key: BoundedVec<u8, ConstU32<MAX_WRAPPED_KEY_LEN>>,
}

/// The description of one encrypted document (format version 1). Build it with
/// [`crate::encrypt`]; decode untrusted bytes only with [`Manifest::decode_untrusted`] or
/// [`SignedManifest::decode_untrusted`], which check the invariants listed on
/// [`Manifest::validate`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen)]
pub struct Manifest {
    /// Format version, [`MANIFEST_VERSION`].
    pub version: u8,
    /// The crypto suite of every hash and of the AEAD.
    pub suite: SuiteId,
    /// The document id: `H("custos/doc/v1" ‖ salt ‖ plaintext)`, the hash anchored on chain.
    pub doc_id: DocHash,
    /// The salt of the document hash (random per document).
    pub salt: Salt,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Plaintext bytes per chunk (the last chunk may be shorter).
    pub chunk_size: u32,
    /// Media type of the plaintext.
    pub media_type: MediaType,
    /// Document type code.
    pub doc_type: DocTypeCode,
    /// Pseudonymous case reference.
    pub case_ref: CaseRef,
    /// The issuing agency.
    pub issuer: AgencyId,
    /// Fingerprint of the issuing clerk's certificate (whose key signs the manifest).
    pub clerk: CertFingerprint,
    /// Ciphertext hash of every chunk, in order ([`crate::ChunkStore::chunk_hash`]).
    pub chunks: BoundedVec<Hash, ConstU32<MAX_CHUNKS>>,
    /// The content key wrapped per recipient agency, sorted by agency, no duplicates.
    pub recipients: BoundedVec<Recipient, ConstU32<MAX_RECIPIENTS>>,
}

/// Number of chunks of a `size`-byte document: `max(1, ⌈size / chunk_size⌉)`.
pub fn chunk_count(size: u64, chunk_size: u32) -> u64 {
    if size == 0 || chunk_size == 0 { 1 } else { size.div_ceil(u64::from(chunk_size)) }
}

/// Checks that `chunk_size` is within [`MIN_CHUNK_SIZE`]`..=`[`MAX_CHUNK_SIZE`].
pub fn check_chunk_size(chunk_size: u32) -> Result<()> {
    if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
        return Err(DossierError::ChunkSize { chunk_size, min: MIN_CHUNK_SIZE, max: MAX_CHUNK_SIZE });
    }
    Ok(())
}

/// Checks a recipient list: 1..=[`MAX_RECIPIENTS`] entries, strictly sorted by agency.
pub(crate) fn check_recipient_order<'a>(agencies: impl ExactSizeIterator<Item = &'a AgencyId>) -> Result<()> {
    let n = agencies.len();
    if n == 0 {
        return Err(DossierError::Recipients { reason: "no recipient: nobody could read the document".into() });
    }
    if n > MAX_RECIPIENTS as usize {
        return Err(DossierError::Recipients { reason: format!("{n} recipients, at most {MAX_RECIPIENTS}") });
    }
    let mut prev: Option<&AgencyId> = None;
    for a in agencies {
        if let Some(p) = prev {
            if p == a {
                return Err(DossierError::Recipients { reason: format!("agency {a} is listed twice") });
            }
            if p > a {
                return Err(DossierError::Recipients { reason: format!("agency {a} is listed after {p}: not sorted") });
            }
        }
        prev = Some(a);
    }
    Ok(())
}

impl Manifest {
    /// Largest encoding of a manifest.
    pub fn max_encoded_bytes() -> usize {
        Self::max_encoded_len()
    }

    /// Number of chunks.
    pub fn chunk_count(&self) -> u32 {
        // Bounded by MAX_CHUNKS.
        u32::try_from(self.chunks.len()).unwrap_or(u32::MAX)
    }

    /// Plaintext length of chunk `index`, or `None` past the end.
    pub fn chunk_plain_len(&self, index: u32) -> Option<u64> {
        let n = self.chunk_count();
        if index >= n {
            return None;
        }
        let cs = u64::from(self.chunk_size);
        let start = u64::from(index) * cs;
        Some(if index + 1 == n { self.size.saturating_sub(start) } else { cs })
    }

    /// Ciphertext length of chunk `index` (plaintext plus the AEAD tag), or `None` past the end.
    pub fn chunk_cipher_len(&self, index: u32) -> Option<u64> {
        self.chunk_plain_len(index).map(|l| l + AEAD_TAG_LEN as u64)
    }

    /// Checks the invariants every manifest must hold: the version, a chunk size in range,
    /// a chunk count consistent with the size and chunk size, and 1..=[`MAX_RECIPIENTS`]
    /// recipients strictly sorted by agency with non-empty wrapped keys. (The text fields
    /// and bounds are checked by decoding itself.)
    pub fn validate(&self) -> Result<()> {
        if self.version != MANIFEST_VERSION {
            return Err(DossierError::UnsupportedVersion { found: self.version, supported: MANIFEST_VERSION });
        }
        check_chunk_size(self.chunk_size)?;
        let expected = chunk_count(self.size, self.chunk_size);
        if expected > u64::from(MAX_CHUNKS) {
            return Err(DossierError::TooLarge {
                max: u64::from(MAX_CHUNKS) * u64::from(self.chunk_size),
                max_chunks: MAX_CHUNKS,
                chunk_size: self.chunk_size,
            });
        }
        if self.chunks.len() as u64 != expected {
            return Err(DossierError::ChunkCount {
                size: self.size,
                chunk_size: self.chunk_size,
                expected,
                found: self.chunks.len(),
            });
        }
        check_recipient_order(self.recipients.iter().map(|r| &r.agency))?;
        if let Some(r) = self.recipients.iter().find(|r| r.wrapped_key.is_empty()) {
            return Err(DossierError::Recipients { reason: format!("empty wrapped key for {}", r.agency) });
        }
        Ok(())
    }

    /// The bytes the clerk signs: `MANIFEST_SIGNING_TAG ‖ SCALE(self)`.
    pub fn signing_payload(&self) -> Vec<u8> {
        let mut out = MANIFEST_SIGNING_TAG.to_vec();
        self.encode_to(&mut out);
        out
    }

    /// Signs the manifest with the clerk's key.
    pub fn sign(self, key: &SigningKey) -> Result<SignedManifest> {
        if key.suite() != self.suite {
            return Err(DossierError::WrongSuite { what: "signing key", expected: self.suite, found: key.suite() });
        }
        self.validate()?;
        let signature = key
            .sign(&self.signing_payload())
            .map_err(|source| DossierError::Crypto { what: "signing the manifest", source })?;
        Ok(SignedManifest { manifest: self, signature })
    }

    /// The recipient entry of `agency`.
    pub fn recipient(&self, agency: &AgencyId) -> Option<&Recipient> {
        self.recipients.binary_search_by(|r| r.agency.cmp(agency)).ok().and_then(|i| self.recipients.get(i))
    }

    /// Unwraps the content key for `agency` with its decryption key. Fails with
    /// [`DossierError::NotARecipient`] if the agency is not addressed, and with
    /// [`DossierError::Unwrap`] if the key is not the one the content key was wrapped to.
    pub fn unwrap_content_key(&self, suite: &impl Suite, agency: &AgencyId, key: &DecryptionKey) -> Result<AeadKey> {
        if suite.id() != self.suite {
            return Err(DossierError::WrongSuite { what: "manifest", expected: suite.id(), found: self.suite });
        }
        let r = self
            .recipient(agency)
            .ok_or_else(|| DossierError::NotARecipient { agency: agency.clone(), doc_id: self.doc_id })?;
        suite.unwrap_key(key, &r.wrapped_key).map_err(|source| DossierError::Unwrap {
            agency: agency.clone(),
            doc_id: self.doc_id,
            source,
        })
    }

    /// Checks that `self` is an *extension* of `older`: the same document (every field equal
    /// except the signing clerk, who may be another clerk of the same issuer) whose recipient
    /// list is a strict superset of `older`'s, every existing `(agency, wrapped_key)` entry kept
    /// byte-identical. This is how an issuer gives a granted agency the content key without
    /// touching the chunks. Fails with [`DossierError::NotAnExtension`] naming what differs.
    pub fn extends(&self, older: &Manifest) -> Result<()> {
        let differs = |what: &str| DossierError::NotAnExtension {
            doc_id: older.doc_id,
            reason: format!("its {what} differs from the stored manifest's"),
        };
        if self.version != older.version {
            return Err(differs("format version"));
        }
        if self.suite != older.suite {
            return Err(differs("crypto suite"));
        }
        if self.doc_id != older.doc_id {
            return Err(differs("document id"));
        }
        if self.salt != older.salt {
            return Err(differs("salt"));
        }
        if self.size != older.size {
            return Err(differs("size"));
        }
        if self.chunk_size != older.chunk_size {
            return Err(differs("chunk size"));
        }
        if self.media_type != older.media_type {
            return Err(differs("media type"));
        }
        if self.doc_type != older.doc_type {
            return Err(differs("document type"));
        }
        if self.case_ref != older.case_ref {
            return Err(differs("case reference"));
        }
        if self.issuer != older.issuer {
            return Err(differs("issuer"));
        }
        if self.chunks != older.chunks {
            return Err(differs("chunk list"));
        }
        self.validate()?;
        for r in older.recipients.iter() {
            match self.recipient(&r.agency) {
                None => {
                    return Err(DossierError::NotAnExtension {
                        doc_id: older.doc_id,
                        reason: format!("recipient {} was removed", r.agency),
                    });
                }
                Some(n) if n.wrapped_key != r.wrapped_key => {
                    return Err(DossierError::NotAnExtension {
                        doc_id: older.doc_id,
                        reason: format!("the wrapped key of recipient {} was changed", r.agency),
                    });
                }
                Some(_) => {}
            }
        }
        if self.recipients.len() == older.recipients.len() {
            return Err(DossierError::NotAnExtension { doc_id: older.doc_id, reason: "it adds no recipient".into() });
        }
        Ok(())
    }

    /// Adds `agency` as a recipient: wraps `content_key` (unwrapped by the issuer from its own
    /// entry) to the agency's encryption key `to` and inserts the entry in order. The result,
    /// signed again, [extends](Self::extends) the manifest it came from.
    pub fn add_recipient(
        &mut self,
        suite: &impl Suite,
        agency: AgencyId,
        to: &EncryptionPublicKey,
        content_key: &AeadKey,
    ) -> Result<()> {
        if suite.id() != self.suite {
            return Err(DossierError::WrongSuite { what: "manifest", expected: suite.id(), found: self.suite });
        }
        let pos = match self.recipients.binary_search_by(|r| r.agency.cmp(&agency)) {
            Ok(_) => {
                return Err(DossierError::Recipients {
                    reason: format!("agency {agency} is already a recipient of document {}", self.doc_id),
                });
            }
            Err(pos) => pos,
        };
        let wrapped =
            suite.wrap_key(to, content_key).map_err(|source| DossierError::Wrap { agency: agency.clone(), source })?;
        let wrapped_key = BoundedVec::try_from(wrapped).map_err(|_| DossierError::Recipients {
            reason: format!("the wrapped key for {agency} is longer than {MAX_WRAPPED_KEY_LEN} bytes"),
        })?;
        let mut list = self.recipients.to_vec();
        list.insert(pos, Recipient { agency, wrapped_key });
        self.recipients = BoundedVec::try_from(list)
            .map_err(|_| DossierError::Recipients { reason: format!("more than {MAX_RECIPIENTS} recipients") })?;
        Ok(())
    }

    /// Decodes a manifest from untrusted bytes: the version is checked first, the input is
    /// bounded and must be consumed completely, and [`Manifest::validate`] must pass.
    pub fn decode_untrusted(bytes: &[u8]) -> Result<Self> {
        check_version(bytes)?;
        let m: Manifest = decode_exact("dossier manifest", bytes, Self::max_encoded_bytes())?;
        m.validate()?;
        Ok(m)
    }
}

fn check_version(bytes: &[u8]) -> Result<()> {
    match bytes.first() {
        Some(&MANIFEST_VERSION) | None => Ok(()),
        Some(&found) => Err(DossierError::UnsupportedVersion { found, supported: MANIFEST_VERSION }),
    }
}

/// A manifest with the issuing clerk's signature over [`Manifest::signing_payload`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen)]
pub struct SignedManifest {
    /// The manifest.
    pub manifest: Manifest,
    /// The clerk's signature.
    pub signature: Signature,
}

impl SignedManifest {
    /// Largest encoding of a signed manifest (the read bound of [`Self::decode_untrusted`]).
    pub fn max_encoded_bytes() -> usize {
        Self::max_encoded_len()
    }

    /// The document id.
    pub fn doc_id(&self) -> DocHash {
        self.manifest.doc_id
    }

    /// Verifies the signature with the clerk's public key (looked up by the caller from the
    /// registry by [`Manifest::clerk`]) under the network's `suite`.
    pub fn verify(&self, suite: &impl Suite, clerk_key: &PublicKey) -> Result<()> {
        if suite.id() != self.manifest.suite {
            return Err(DossierError::WrongSuite {
                what: "manifest",
                expected: suite.id(),
                found: self.manifest.suite,
            });
        }
        suite
            .verify(clerk_key, &self.manifest.signing_payload(), &self.signature)
            .map_err(|source| DossierError::BadSignature { doc_id: self.manifest.doc_id, source })
    }

    /// Decodes a signed manifest from untrusted bytes (bounded, fully consumed, validated).
    /// The signature is not checked here: call [`Self::verify`].
    pub fn decode_untrusted(bytes: &[u8]) -> Result<Self> {
        check_version(bytes)?;
        let m: SignedManifest = decode_exact("signed dossier manifest", bytes, Self::max_encoded_bytes())?;
        m.manifest.validate()?;
        if m.signature.suite != m.manifest.suite {
            return Err(DossierError::WrongSuite {
                what: "manifest signature",
                expected: m.manifest.suite,
                found: m.signature.suite,
            });
        }
        Ok(m)
    }
}

/// The media type of a document from its file name's extension (`application/octet-stream`
/// when unknown): PDF, OFD (the national e-document format), images, text, XML, JSON, ZIP.
pub fn media_type_of_name(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("pdf") => "application/pdf",
        Some("ofd") => "application/ofd",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("tif" | "tiff") => "image/tiff",
        Some("txt") => "text/plain",
        Some("xml") => "application/xml",
        Some("json") => "application/json",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn text_fields_validate() {
        assert!(DocTypeCode::new("JUDGMENT").is_ok());
        assert!(DocTypeCode::new("EXEC_NOTICE_2").is_ok());
        for bad in ["", "judgment", "A B", "甲", &"A".repeat(33)] {
            assert!(DocTypeCode::new(bad).is_err(), "{bad:?}");
        }
        assert!(MediaType::new("application/pdf").is_ok());
        assert!(MediaType::new("application/vnd.openxmlformats-officedocument.wordprocessingml.document").is_ok());
        for bad in ["", "pdf", "application/", "/pdf", "Application/PDF", "text/plain; charset=utf-8", "a/b/c"] {
            assert!(MediaType::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn text_fields_validate_on_decode() {
        let mut bytes = parity_scale_codec::Compact(3u32).encode();
        bytes.extend_from_slice(b"a b");
        assert!(decode_exact::<DocTypeCode>("t", &bytes, 64).is_err());
        assert!(decode_exact::<MediaType>("t", &bytes, 64).is_err());
        let ok = DocTypeCode::new("JUDGMENT").unwrap().encode();
        assert_eq!(decode_exact::<DocTypeCode>("t", &ok, 64).unwrap().as_str(), "JUDGMENT");
    }

    #[test]
    fn chunk_counts() {
        let c = DEFAULT_CHUNK_SIZE;
        let cu = u64::from(c);
        assert_eq!(chunk_count(0, c), 1);
        assert_eq!(chunk_count(1, c), 1);
        assert_eq!(chunk_count(cu - 1, c), 1);
        assert_eq!(chunk_count(cu, c), 1);
        assert_eq!(chunk_count(cu + 1, c), 2);
        assert_eq!(chunk_count(2 << 30, c), 2048);
    }

    #[test]
    fn recipient_order() {
        let a = AgencyId::new("court-1").unwrap();
        let b = AgencyId::new("justice-1").unwrap();
        assert!(check_recipient_order([&a, &b].into_iter()).is_ok());
        assert!(check_recipient_order([&b, &a].into_iter()).is_err());
        assert!(check_recipient_order([&a, &a].into_iter()).is_err());
        assert!(check_recipient_order(core::iter::empty::<&AgencyId>()).is_err());
    }

    #[test]
    fn signed_manifest_bound_is_about_half_a_megabyte() {
        let n = SignedManifest::max_encoded_bytes();
        assert!(n > (MAX_CHUNKS as usize) * 32 && n < 1 << 20, "{n}");
    }
}

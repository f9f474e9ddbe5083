//! X.509 identities: agency CAs and the certificates they issue to nodes and members.
//!
//! Certificate profile (see docs/decisions/0002-certificate-profile.md):
//! - subject `O=<agency id>, OU=<role>, CN=<label>`; the role is one of
//!   [`MemberRole`](crate::types::MemberRole) (`ca`, `node`, `clerk`, `adapter`, `auditor`,
//!   `admin`), so certificates made with the `openssl` CLI carry it too (`-subj`);
//! - CA: `basicConstraints CA:TRUE, pathlen:0` (critical), `keyUsage keyCertSign, cRLSign,
//!   digitalSignature`; members: `basicConstraints CA:FALSE`, `keyUsage digitalSignature,
//!   nonRepudiation`; SKI and AKI on all;
//! - TLS transport certificates ([`issue_transport`], [`verify_transport`]): issued by the
//!   agency CA like members, same subject profile, but the subject key is always ed25519 (rustls
//!   has no SM2), `keyUsage digitalSignature` and `extendedKeyUsage` `clientAuth` (plus
//!   `serverAuth` for role `node`). The extended key usage is what tells a transport certificate
//!   from a member certificate, so a TLS key can never act as a member key and vice versa;
//! - SM2 certificates are signed with SM2-with-SM3 (1.2.156.10197.1.501), DER `(r, s)`,
//!   over the ZA digest with the network's distinguishing ID (OpenSSL: `-sigopt distid:…`,
//!   `openssl verify -vfyopt distid:…`); ed25519 certificates with 1.3.101.112.
//!
//! Parsing uses `x509-parser`; signature verification is ours for both suites (x509-parser
//! cannot verify SM2). Validity is always judged at a time the caller gives, never the clock.

use core::fmt;
use std::str::FromStr;
use std::time::Duration;

use der::{Decode as _, Encode as _};
use x509_cert::builder::{Builder, CertificateBuilder, profile::BuilderProfile};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};

use crate::crypto::{CryptoError, PublicKey, SigningKey, Suite, SuiteId, oids};
use crate::types::{AgencyId, CertFingerprint, MemberRole};

/// Largest certificate accepted (DER).
pub const MAX_CERT_BYTES: usize = 16 * 1024;

/// Errors about certificates. Each names the certificate (its subject) and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum X509Error {
    /// Not a parsable DER/PEM certificate.
    #[error("not a valid X.509 certificate: {0}")]
    Malformed(String),
    /// Larger than [`MAX_CERT_BYTES`].
    #[error("certificate of {0} bytes exceeds the {MAX_CERT_BYTES}-byte limit")]
    TooLarge(usize),
    /// A signature or key algorithm Custos does not accept.
    #[error("certificate {subject}: unsupported algorithm {oid} (expected SM2-with-SM3 or ed25519)")]
    UnsupportedAlgorithm {
        /// Certificate subject.
        subject: String,
        /// Offending OID.
        oid: String,
    },
    /// The certificate's key or signature is of the other suite.
    #[error("certificate {subject}: {source}")]
    Suite {
        /// Certificate subject.
        subject: String,
        /// The mismatch.
        source: CryptoError,
    },
    /// The issuer named in the certificate is not the CA presented.
    #[error("certificate {subject} was issued by {issuer}, not by the CA {ca}")]
    IssuerMismatch {
        /// Certificate subject.
        subject: String,
        /// Issuer it names.
        issuer: String,
        /// The CA it was checked against.
        ca: String,
    },
    /// The issuer's signature on the certificate does not verify.
    #[error("certificate {subject}: signature does not verify with the key of {issuer}")]
    BadSignature {
        /// Certificate subject.
        subject: String,
        /// Issuer whose key was used.
        issuer: String,
    },
    /// Not yet valid at the time checked.
    #[error("certificate {subject} is not valid before {not_before} (checked at {at})")]
    NotYetValid {
        /// Certificate subject.
        subject: String,
        /// Start of validity.
        not_before: String,
        /// Time checked.
        at: String,
    },
    /// Expired at the time checked.
    #[error("certificate {subject} expired at {not_after} (checked at {at})")]
    Expired {
        /// Certificate subject.
        subject: String,
        /// End of validity.
        not_after: String,
        /// Time checked.
        at: String,
    },
    /// The issuer is not a CA (basicConstraints or keyUsage).
    #[error("certificate {subject} cannot issue certificates: {reason}")]
    NotACa {
        /// Subject of the would-be CA.
        subject: String,
        /// What is missing.
        reason: String,
    },
    /// A member certificate that claims to be a CA, or lacks digitalSignature.
    #[error("certificate {subject} is not a member certificate: {reason}")]
    NotAMember {
        /// Certificate subject.
        subject: String,
        /// What is wrong.
        reason: String,
    },
    /// No or an unknown role in the subject's OU.
    #[error("certificate {subject} carries no valid role (OU): {reason}")]
    MissingRole {
        /// Certificate subject.
        subject: String,
        /// What was found.
        reason: String,
    },
    /// The role is not the one required.
    #[error("certificate {subject} has role {found}, but {expected} is required")]
    WrongRole {
        /// Certificate subject.
        subject: String,
        /// Role required.
        expected: MemberRole,
        /// Role found.
        found: MemberRole,
    },
    /// No or an invalid agency id in the subject's O.
    #[error("certificate {subject} carries no valid agency id (O): {reason}")]
    MissingAgency {
        /// Certificate subject.
        subject: String,
        /// What was found.
        reason: String,
    },
    /// The member and its CA name different agencies.
    #[error("certificate {subject} belongs to agency {member}, but its CA belongs to {ca}")]
    AgencyMismatch {
        /// Certificate subject.
        subject: String,
        /// Agency of the member.
        member: String,
        /// Agency of the CA.
        ca: String,
    },
    /// A certificate used for TLS that is not a transport certificate (no TLS extended key usage).
    #[error("certificate {subject} is not a TLS transport certificate: {reason}")]
    NotATransport {
        /// Certificate subject.
        subject: String,
        /// What is wrong.
        reason: String,
    },
    /// Building a certificate failed.
    #[error("cannot build certificate: {0}")]
    Build(String),
}

/// Key usages Custos checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyUsageBits {
    /// digitalSignature.
    pub digital_signature: bool,
    /// nonRepudiation / contentCommitment.
    pub non_repudiation: bool,
    /// keyCertSign.
    pub key_cert_sign: bool,
}

/// The TLS extended key usages (RFC 5280 §4.2.1.12) Custos checks. Their presence marks a
/// transport certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtKeyUsageBits {
    /// id-kp-serverAuth: may authenticate a TLS server.
    pub server_auth: bool,
    /// id-kp-clientAuth: may authenticate a TLS client.
    pub client_auth: bool,
}

impl ExtKeyUsageBits {
    /// Whether any TLS purpose is present (a transport certificate).
    pub fn is_tls(self) -> bool {
        self.server_auth || self.client_auth
    }
}

/// id-kp-serverAuth.
const KP_SERVER_AUTH: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
/// id-kp-clientAuth.
const KP_CLIENT_AUTH: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");

/// A parsed certificate, owning its DER.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    subject: String,
    issuer: String,
    subject_raw: Vec<u8>,
    issuer_raw: Vec<u8>,
    common_name: Option<String>,
    agency: Result<AgencyId, String>,
    role: Result<MemberRole, String>,
    not_before: i64,
    not_after: i64,
    is_ca: bool,
    key_usage: Option<KeyUsageBits>,
    ext_key_usage: Option<ExtKeyUsageBits>,
    public_key: PublicKey,
    signature_oid: String,
    tbs: Vec<u8>,
    signature: Vec<u8>,
    serial_hex: String,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("serial", &self.serial_hex)
            .finish_non_exhaustive()
    }
}

/// Formats Unix seconds as RFC 3339 UTC.
pub fn format_unix(secs: i64) -> String {
    match u64::try_from(secs).ok().and_then(|s| der::DateTime::from_unix_duration(Duration::from_secs(s)).ok()) {
        Some(dt) => dt.to_string(),
        None => format!("unix:{secs}"),
    }
}

impl Certificate {
    /// Parses one DER certificate; the whole input must be the certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, X509Error> {
        if der.len() > MAX_CERT_BYTES {
            return Err(X509Error::TooLarge(der.len()));
        }
        let (rest, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| X509Error::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(X509Error::Malformed(format!("{} trailing bytes after the certificate", rest.len())));
        }
        // x509-parser is lenient outside the signed TBS (tag classes, the OID tag, the
        // signature's unused-bits count), so one signed certificate could be presented in
        // many encodings, each with its own fingerprint. Accept only its canonical DER.
        let strict =
            x509_cert::Certificate::from_der(der).map_err(|e| X509Error::Malformed(format!("not DER: {e}")))?;
        if strict.to_der().ok().as_deref() != Some(der) || cert.signature_value.unused_bits != 0 {
            return Err(X509Error::Malformed("not in canonical DER form".into()));
        }
        let subject = cert.subject().to_string();
        let issuer = cert.issuer().to_string();
        let outer_alg = cert.signature_algorithm.algorithm.to_id_string();
        let inner_alg = cert.tbs_certificate.signature.algorithm.to_id_string();
        if outer_alg != inner_alg {
            return Err(X509Error::Malformed(format!(
                "signature algorithm {outer_alg} differs from the one inside the signed part ({inner_alg})"
            )));
        }
        let public_key = PublicKey::from_spki_der(cert.public_key().raw).map_err(|e| match e {
            CryptoError::InvalidPublicKey { reason, .. } => {
                X509Error::UnsupportedAlgorithm { subject: subject.clone(), oid: reason }
            }
            other => X509Error::Suite { subject: subject.clone(), source: other },
        })?;
        let common_name = cert.subject().iter_common_name().next().and_then(|a| a.as_str().ok()).map(str::to_string);
        let single = |mut it: Box<dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>> + '_>,
                      what: &str|
         -> Result<String, String> {
            let first = it.next().ok_or_else(|| format!("no {what} attribute"))?;
            if it.next().is_some() {
                return Err(format!("more than one {what} attribute"));
            }
            first.as_str().map(str::to_string).map_err(|e| format!("{what} is not a string: {e}"))
        };
        let agency = single(Box::new(cert.subject().iter_organization()), "O")
            .and_then(|s| AgencyId::new(&s).map_err(|e| e.to_string()));
        let role =
            single(Box::new(cert.subject().iter_organizational_unit()), "OU").and_then(|s| MemberRole::from_str(&s));
        let bc = cert.basic_constraints().map_err(|e| X509Error::Malformed(format!("basicConstraints: {e}")))?;
        let ku = cert.key_usage().map_err(|e| X509Error::Malformed(format!("keyUsage: {e}")))?;
        let eku = cert.extended_key_usage().map_err(|e| X509Error::Malformed(format!("extendedKeyUsage: {e}")))?;
        Ok(Certificate {
            der: der.to_vec(),
            subject_raw: cert.subject().as_raw().to_vec(),
            issuer_raw: cert.issuer().as_raw().to_vec(),
            subject,
            issuer,
            common_name,
            agency,
            role,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            is_ca: bc.map(|b| b.value.ca).unwrap_or(false),
            key_usage: ku.map(|k| KeyUsageBits {
                digital_signature: k.value.digital_signature(),
                non_repudiation: k.value.non_repudiation(),
                key_cert_sign: k.value.key_cert_sign(),
            }),
            ext_key_usage: eku
                .map(|e| ExtKeyUsageBits { server_auth: e.value.server_auth, client_auth: e.value.client_auth }),
            public_key,
            signature_oid: outer_alg,
            tbs: cert.tbs_certificate.as_ref().to_vec(),
            signature: cert.signature_value.data.to_vec(),
            serial_hex: cert.raw_serial_as_string(),
        })
    }

    /// Parses a PEM certificate (`-----BEGIN CERTIFICATE-----`).
    pub fn from_pem(pem: &str) -> Result<Self, X509Error> {
        let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| X509Error::Malformed(format!("not a PEM block: {e}")))?;
        if label != "CERTIFICATE" {
            return Err(X509Error::Malformed(format!("expected a CERTIFICATE PEM block, found {label:?}")));
        }
        Self::from_der(&der)
    }

    /// Parses all certificates in a PEM bundle, in order.
    pub fn all_from_pem(pem: &str) -> Result<Vec<Self>, X509Error> {
        let mut out = Vec::new();
        let mut rest = pem;
        while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
            let after = &rest[start..];
            let end_marker = "-----END CERTIFICATE-----";
            let end = after.find(end_marker).ok_or_else(|| X509Error::Malformed("unterminated PEM block".into()))?;
            out.push(Self::from_pem(&after[..end + end_marker.len()])?);
            rest = &after[end + end_marker.len()..];
        }
        if out.is_empty() {
            return Err(X509Error::Malformed("no CERTIFICATE PEM block found".into()));
        }
        Ok(out)
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// PEM encoding.
    pub fn to_pem(&self) -> String {
        der_to_pem(&self.der)
    }
    /// Subject as text (RFC 4514 style).
    pub fn subject(&self) -> &str {
        &self.subject
    }
    /// Subject as DER (the `Name`), e.g. for TLS CA hints.
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_raw
    }
    /// Issuer as text.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// The CN, if any.
    pub fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }
    /// The agency id from `O`.
    pub fn agency(&self) -> Result<&AgencyId, X509Error> {
        self.agency
            .as_ref()
            .map_err(|reason| X509Error::MissingAgency { subject: self.subject.clone(), reason: reason.clone() })
    }
    /// The role from `OU`.
    pub fn role(&self) -> Result<MemberRole, X509Error> {
        self.role.clone().map_err(|reason| X509Error::MissingRole { subject: self.subject.clone(), reason })
    }
    /// Start of validity (Unix seconds).
    pub fn not_before(&self) -> i64 {
        self.not_before
    }
    /// End of validity (Unix seconds).
    pub fn not_after(&self) -> i64 {
        self.not_after
    }
    /// basicConstraints CA flag.
    pub fn is_ca(&self) -> bool {
        self.is_ca
    }
    /// The keyUsage extension, if present.
    pub fn key_usage(&self) -> Option<KeyUsageBits> {
        self.key_usage
    }
    /// The TLS purposes of the extendedKeyUsage extension, if present.
    pub fn ext_key_usage(&self) -> Option<ExtKeyUsageBits> {
        self.ext_key_usage
    }
    /// Whether this is a TLS transport certificate (extendedKeyUsage serverAuth or clientAuth).
    pub fn is_transport(&self) -> bool {
        self.ext_key_usage.is_some_and(ExtKeyUsageBits::is_tls)
    }
    /// The subject's public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }
    /// The suite of the subject's key.
    pub fn suite(&self) -> SuiteId {
        self.public_key.suite()
    }
    /// Serial number as hex.
    pub fn serial_hex(&self) -> &str {
        &self.serial_hex
    }
    /// The fingerprint (suite hash of the DER).
    pub fn fingerprint(&self, suite: &impl Suite) -> CertFingerprint {
        CertFingerprint::of_der(suite, &self.der)
    }

    /// Checks validity at `at` (Unix seconds).
    pub fn check_validity(&self, at: i64) -> Result<(), X509Error> {
        if at < self.not_before {
            return Err(X509Error::NotYetValid {
                subject: self.subject.clone(),
                not_before: format_unix(self.not_before),
                at: format_unix(at),
            });
        }
        if at > self.not_after {
            return Err(X509Error::Expired {
                subject: self.subject.clone(),
                not_after: format_unix(self.not_after),
                at: format_unix(at),
            });
        }
        Ok(())
    }

    /// Verifies that `issuer`'s key signed this certificate, under the network's suite.
    pub fn verify_signed_by(&self, suite: &impl Suite, issuer: &Certificate) -> Result<(), X509Error> {
        if self.issuer_raw != issuer.subject_raw {
            return Err(X509Error::IssuerMismatch {
                subject: self.subject.clone(),
                issuer: self.issuer.clone(),
                ca: issuer.subject.clone(),
            });
        }
        let expected_oid = match suite.id() {
            SuiteId::Sm => oids::SM2_WITH_SM3.to_string(),
            SuiteId::Intl => oids::ED25519.to_string(),
        };
        if self.signature_oid != expected_oid {
            let found = if self.signature_oid == oids::SM2_WITH_SM3.to_string() {
                Some(SuiteId::Sm)
            } else if self.signature_oid == oids::ED25519.to_string() {
                Some(SuiteId::Intl)
            } else {
                None
            };
            return Err(match found {
                Some(found) => X509Error::Suite {
                    subject: self.subject.clone(),
                    source: CryptoError::WrongSuite { what: "certificate signature", expected: suite.id(), found },
                },
                None => {
                    X509Error::UnsupportedAlgorithm { subject: self.subject.clone(), oid: self.signature_oid.clone() }
                }
            });
        }
        let bad = || X509Error::BadSignature { subject: self.subject.clone(), issuer: issuer.subject.clone() };
        let sig = match suite.id() {
            SuiteId::Sm => {
                let s = sm2::dsa::Signature::from_der(&self.signature).map_err(|_| bad())?;
                let mut bytes = [0u8; 64];
                bytes.copy_from_slice(&s.to_bytes());
                crate::crypto::Signature { suite: SuiteId::Sm, bytes }
            }
            SuiteId::Intl => {
                let bytes: [u8; 64] = self.signature.as_slice().try_into().map_err(|_| bad())?;
                crate::crypto::Signature { suite: SuiteId::Intl, bytes }
            }
        };
        suite.verify(&issuer.public_key, &self.tbs, &sig).map_err(|e| match e {
            CryptoError::BadSignature { .. } => bad(),
            other => X509Error::Suite { subject: issuer.subject.clone(), source: other },
        })
    }

    /// Checks that this is a usable agency CA at `at`: self-signed under `suite`, CA flag,
    /// keyCertSign, valid, with an agency id.
    pub fn verify_as_ca(&self, suite: &impl Suite, at: i64) -> Result<&AgencyId, X509Error> {
        if self.public_key.suite() != suite.id() {
            return Err(X509Error::Suite {
                subject: self.subject.clone(),
                source: CryptoError::WrongSuite {
                    what: "CA key",
                    expected: suite.id(),
                    found: self.public_key.suite(),
                },
            });
        }
        if !self.is_ca {
            return Err(X509Error::NotACa {
                subject: self.subject.clone(),
                reason: "basicConstraints CA is not set".into(),
            });
        }
        if let Some(ku) = self.key_usage
            && !ku.key_cert_sign
        {
            return Err(X509Error::NotACa {
                subject: self.subject.clone(),
                reason: "keyUsage lacks keyCertSign".into(),
            });
        }
        self.verify_signed_by(suite, self)?;
        self.check_validity(at)?;
        self.agency()
    }
}

/// A member certificate that passed [`verify_member`], or a transport certificate that passed
/// [`verify_transport`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedMember {
    /// The agency it belongs to.
    pub agency: AgencyId,
    /// Its role.
    pub role: MemberRole,
    /// Its public key (always ed25519 for a transport certificate).
    pub public_key: PublicKey,
    /// Its fingerprint (under the network's suite hash).
    pub fingerprint: CertFingerprint,
    /// Its CN.
    pub common_name: Option<String>,
    /// End of validity (Unix seconds).
    pub not_after: i64,
}

/// What a certificate issued by an agency CA is for. Members and transport certificates differ
/// only in their key (the network's suite vs. always ed25519) and their usages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Usage {
    /// Signs transactions, votes, receipts: key of the network's suite, no TLS purpose.
    Member,
    /// Authenticates a TLS connection: ed25519 key, extendedKeyUsage clientAuth (+ serverAuth).
    Transport,
}

/// Verifies a member (node, clerk, adapter, auditor, admin) certificate against its agency
/// CA at time `at` (Unix seconds): issuer and signature, validity of both, CA constraints,
/// key usage, agency and — when `expected_role` is given — role. The key must be of the
/// network's suite, and the certificate must not be a TLS transport certificate.
pub fn verify_member(
    suite: &impl Suite,
    member: &Certificate,
    ca: &Certificate,
    at: i64,
    expected_role: Option<MemberRole>,
) -> Result<VerifiedMember, X509Error> {
    verify_issued(suite, member, ca, at, expected_role, Usage::Member)
}

/// Verifies a TLS transport certificate (see [`issue_transport`]) against its agency CA at time
/// `at` (Unix seconds): the checks of [`verify_member`], except that the subject key must be
/// ed25519 whatever the network's suite (the CA's signature is still under the network's
/// suite), and that the certificate must carry the TLS extended key usage (clientAuth or
/// serverAuth) — a member certificate is not a transport certificate. Which TLS purpose is
/// needed (client or server) is the caller's to check with [`Certificate::ext_key_usage`].
pub fn verify_transport(
    suite: &impl Suite,
    cert: &Certificate,
    ca: &Certificate,
    at: i64,
    expected_role: Option<MemberRole>,
) -> Result<VerifiedMember, X509Error> {
    verify_issued(suite, cert, ca, at, expected_role, Usage::Transport)
}

fn verify_issued(
    suite: &impl Suite,
    member: &Certificate,
    ca: &Certificate,
    at: i64,
    expected_role: Option<MemberRole>,
    usage: Usage,
) -> Result<VerifiedMember, X509Error> {
    let ca_agency = ca.verify_as_ca(suite, at)?;
    match usage {
        Usage::Member if member.public_key.suite() != suite.id() => {
            return Err(X509Error::Suite {
                subject: member.subject.clone(),
                source: CryptoError::WrongSuite {
                    what: "certificate key",
                    expected: suite.id(),
                    found: member.public_key.suite(),
                },
            });
        }
        Usage::Transport if !matches!(member.public_key, PublicKey::Ed25519(_)) => {
            return Err(X509Error::NotATransport {
                subject: member.subject.clone(),
                reason: "its key is SM2, but transport (TLS) keys are always ed25519".into(),
            });
        }
        Usage::Member | Usage::Transport => {}
    }
    member.verify_signed_by(suite, ca)?;
    member.check_validity(at)?;
    if member.is_ca {
        return Err(X509Error::NotAMember { subject: member.subject.clone(), reason: "it is a CA certificate".into() });
    }
    if let Some(ku) = member.key_usage
        && !ku.digital_signature
    {
        return Err(X509Error::NotAMember {
            subject: member.subject.clone(),
            reason: "keyUsage lacks digitalSignature".into(),
        });
    }
    match usage {
        Usage::Member if member.is_transport() => {
            return Err(X509Error::NotAMember {
                subject: member.subject.clone(),
                reason: "it is a TLS transport certificate (extendedKeyUsage serverAuth/clientAuth)".into(),
            });
        }
        Usage::Transport if !member.is_transport() => {
            return Err(X509Error::NotATransport {
                subject: member.subject.clone(),
                reason: "no extendedKeyUsage clientAuth or serverAuth (a member certificate?)".into(),
            });
        }
        Usage::Member | Usage::Transport => {}
    }
    let agency = member.agency()?;
    if agency != ca_agency {
        return Err(X509Error::AgencyMismatch {
            subject: member.subject.clone(),
            member: agency.to_string(),
            ca: ca_agency.to_string(),
        });
    }
    let role = member.role()?;
    if role == MemberRole::Ca {
        return Err(X509Error::NotAMember { subject: member.subject.clone(), reason: "its role is ca".into() });
    }
    if let Some(expected) = expected_role
        && role != expected
    {
        return Err(X509Error::WrongRole { subject: member.subject.clone(), expected, found: role });
    }
    Ok(VerifiedMember {
        agency: agency.clone(),
        role,
        public_key: member.public_key,
        fingerprint: member.fingerprint(suite),
        common_name: member.common_name.clone(),
        not_after: member.not_after,
    })
}

/// PEM-encodes a DER certificate.
pub fn der_to_pem(der: &[u8]) -> String {
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der).unwrap_or_default()
}

/// What to put in a new certificate.
#[derive(Clone, Debug)]
pub struct CertParams<'a> {
    /// The agency (`O`).
    pub agency: &'a AgencyId,
    /// The role (`OU`).
    pub role: MemberRole,
    /// A label (`CN`), e.g. `court-clerk-1`. Printable ASCII.
    pub common_name: &'a str,
    /// Start of validity (Unix seconds).
    pub not_before: i64,
    /// End of validity (Unix seconds).
    pub not_after: i64,
}

fn build_name(p: &CertParams<'_>) -> Result<Name, X509Error> {
    for (what, v) in [("CN", p.common_name)] {
        if v.is_empty()
            || v.len() > 64
            || !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '))
        {
            return Err(X509Error::Build(format!(
                "{what} {v:?} must be 1-64 characters of A-Z, a-z, 0-9, '-', '_', '.', ' '"
            )));
        }
    }
    Name::from_str(&format!("CN={},OU={},O={}", p.common_name, p.role.as_str(), p.agency.as_str()))
        .map_err(|e| X509Error::Build(format!("subject name: {e}")))
}

fn validity(p: &CertParams<'_>) -> Result<Validity, X509Error> {
    if p.not_after <= p.not_before {
        return Err(X509Error::Build("not_after must be later than not_before".into()));
    }
    let t = |secs: i64| -> Result<Time, X509Error> {
        let d = Duration::from_secs(u64::try_from(secs).map_err(|_| X509Error::Build("validity before 1970".into()))?);
        let gt = der::asn1::GeneralizedTime::from_unix_duration(d)
            .map_err(|e| X509Error::Build(format!("validity time: {e}")))?;
        Ok(Time::GeneralTime(gt))
    };
    Ok(Validity::new(t(p.not_before)?, t(p.not_after)?))
}

fn serial() -> Result<SerialNumber, X509Error> {
    let mut b = *crate::crypto::random_bytes::<16>().map_err(|e| X509Error::Build(e.to_string()))?;
    b[0] &= 0x7f;
    b[0] |= 0x01; // positive and exactly 16 bytes
    SerialNumber::new(&b).map_err(|e| X509Error::Build(format!("serial: {e}")))
}

/// The kind of certificate being built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A self-signed agency CA.
    Ca,
    /// A member or transport certificate, issued by the CA.
    Issued(Usage),
}

struct CustosProfile {
    subject: Name,
    issuer: Option<Name>,
    kind: Kind,
    /// TLS server purpose too (transport certificates of nodes).
    server_auth: bool,
    issuer_ski: Option<Vec<u8>>,
}

impl BuilderProfile for CustosProfile {
    fn get_issuer(&self, subject: &Name) -> Name {
        self.issuer.clone().unwrap_or_else(|| subject.clone())
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: spki::SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: spki::SubjectPublicKeyInfoRef<'_>,
        tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut ext: Vec<Extension> = Vec::new();
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        let aki_id = match &self.issuer_ski {
            Some(id) => der::asn1::OctetString::new(id.clone())?,
            None => ski.0.clone(),
        };
        let ca = self.kind == Kind::Ca;
        ext.push(BasicConstraints { ca, path_len_constraint: ca.then_some(0) }.to_extension(tbs.subject(), &ext)?);
        let usage = match self.kind {
            Kind::Ca => KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature,
            Kind::Issued(Usage::Member) => KeyUsages::DigitalSignature | KeyUsages::NonRepudiation,
            // TLS handshake signatures are not commitments: no nonRepudiation.
            Kind::Issued(Usage::Transport) => KeyUsages::DigitalSignature.into(),
        };
        ext.push(KeyUsage(usage).to_extension(tbs.subject(), &ext)?);
        if self.kind == Kind::Issued(Usage::Transport) {
            let mut purposes = Vec::new();
            if self.server_auth {
                purposes.push(KP_SERVER_AUTH);
            }
            purposes.push(KP_CLIENT_AUTH);
            ext.push(ExtendedKeyUsage(purposes).to_extension(tbs.subject(), &ext)?);
        }
        ext.push(ski.to_extension(tbs.subject(), &ext)?);
        ext.push(
            AuthorityKeyIdentifier { key_identifier: Some(aki_id), ..Default::default() }
                .to_extension(tbs.subject(), &ext)?,
        );
        Ok(ext)
    }
}

/// Signs X.509 structures with an SM2 key, producing DER `(r, s)` signatures as X.509 needs
/// (the `sm2` crate's own bit-string encoding is raw `r ‖ s`).
struct Sm2DerSigner<'a>(&'a sm2::dsa::SigningKey);

impl signature::Keypair for Sm2DerSigner<'_> {
    type VerifyingKey = sm2::dsa::VerifyingKey;
    fn verifying_key(&self) -> Self::VerifyingKey {
        self.0.verifying_key().clone()
    }
}

impl signature::Signer<sm2::dsa::DerSignature> for Sm2DerSigner<'_> {
    fn try_sign(&self, msg: &[u8]) -> Result<sm2::dsa::DerSignature, signature::Error> {
        let sig: sm2::dsa::Signature = signature::Signer::try_sign(self.0, msg)?;
        Ok(sig.to_der())
    }
}

impl spki::SignatureAlgorithmIdentifier for Sm2DerSigner<'_> {
    type Params = der::AnyRef<'static>;
    const SIGNATURE_ALGORITHM_IDENTIFIER: spki::AlgorithmIdentifier<Self::Params> =
        <sm2::dsa::SigningKey as spki::SignatureAlgorithmIdentifier>::SIGNATURE_ALGORITHM_IDENTIFIER;
}

fn build(
    profile: CustosProfile,
    params: &CertParams<'_>,
    subject_key: &PublicKey,
    signer: &SigningKey,
) -> Result<Vec<u8>, X509Error> {
    let spki_der = subject_key.to_spki_der().map_err(|e| X509Error::Build(e.to_string()))?;
    let spki = SubjectPublicKeyInfoOwned::try_from(spki_der.as_slice())
        .map_err(|e| X509Error::Build(format!("public key: {e}")))?;
    let builder = CertificateBuilder::new(profile, serial()?, validity(params)?, spki)
        .map_err(|e| X509Error::Build(e.to_string()))?;
    let cert = match signer {
        SigningKey::Sm2(k, _) => builder.build::<_, sm2::dsa::DerSignature>(&Sm2DerSigner(k)),
        SigningKey::Ed25519(k) => builder.build::<_, ed25519_dalek::Signature>(k),
    }
    .map_err(|e| X509Error::Build(e.to_string()))?;
    cert.to_der().map_err(|e| X509Error::Build(e.to_string()))
}

/// Creates a self-signed agency CA certificate (`OU=ca`). Returns DER.
pub fn issue_ca(
    key: &SigningKey,
    agency: &AgencyId,
    common_name: &str,
    not_before: i64,
    not_after: i64,
) -> Result<Vec<u8>, X509Error> {
    let params = CertParams { agency, role: MemberRole::Ca, common_name, not_before, not_after };
    let profile = CustosProfile {
        subject: build_name(&params)?,
        issuer: None,
        kind: Kind::Ca,
        server_auth: false,
        issuer_ski: None,
    };
    build(profile, &params, &key.public_key(), key)
}

/// Issues a member certificate for `subject_key`, signed by the agency CA. Returns DER.
/// The CA key must match the CA certificate, the member's key must be of the CA's suite, and
/// the member's agency must be the CA's.
pub fn issue_member(
    ca_cert: &Certificate,
    ca_key: &SigningKey,
    subject_key: &PublicKey,
    params: &CertParams<'_>,
) -> Result<Vec<u8>, X509Error> {
    issue(ca_cert, ca_key, subject_key, params, Usage::Member)
}

/// Issues a TLS transport certificate for the ed25519 `transport_key`, signed by the agency CA
/// (SM2-with-SM3 for an SM2 CA, ed25519 for an ed25519 CA). Returns DER. Same subject profile
/// as members (`params.role` is `node` for a node's server certificate, the member's role for
/// a client; never `ca`), `keyUsage digitalSignature`, `extendedKeyUsage clientAuth` — and
/// `serverAuth` for role `node`. Verify with [`verify_transport`].
pub fn issue_transport(
    ca_cert: &Certificate,
    ca_key: &SigningKey,
    transport_key: &PublicKey,
    params: &CertParams<'_>,
) -> Result<Vec<u8>, X509Error> {
    issue(ca_cert, ca_key, transport_key, params, Usage::Transport)
}

fn issue(
    ca_cert: &Certificate,
    ca_key: &SigningKey,
    subject_key: &PublicKey,
    params: &CertParams<'_>,
    usage: Usage,
) -> Result<Vec<u8>, X509Error> {
    if params.role == MemberRole::Ca {
        return Err(X509Error::Build("use issue_ca for CA certificates".into()));
    }
    if &ca_key.public_key() != ca_cert.public_key() {
        return Err(X509Error::Build(format!("the CA key does not match the CA certificate {}", ca_cert.subject())));
    }
    match usage {
        Usage::Member if subject_key.suite() != ca_key.suite() => {
            return Err(X509Error::Build(format!(
                "member key is {} but the CA is {}",
                subject_key.suite(),
                ca_key.suite()
            )));
        }
        Usage::Transport if !matches!(subject_key, PublicKey::Ed25519(_)) => {
            return Err(X509Error::Build(format!(
                "a transport (TLS) key must be ed25519, not {} (rustls has no SM2)",
                subject_key.suite()
            )));
        }
        Usage::Member | Usage::Transport => {}
    }
    let ca_agency = ca_cert.agency()?;
    if ca_agency != params.agency {
        return Err(X509Error::AgencyMismatch {
            subject: params.common_name.to_string(),
            member: params.agency.to_string(),
            ca: ca_agency.to_string(),
        });
    }
    let issuer = Name::from_der(&ca_cert.subject_raw).map_err(|e| X509Error::Build(format!("CA subject: {e}")))?;
    let issuer_ski = ca_ski(ca_cert)?;
    let profile = CustosProfile {
        subject: build_name(params)?,
        issuer: Some(issuer),
        kind: Kind::Issued(usage),
        server_auth: usage == Usage::Transport && params.role == MemberRole::Node,
        issuer_ski: Some(issuer_ski),
    };
    build(profile, params, subject_key, ca_key)
}

const SKI_OID: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("2.5.29.14");

fn ca_ski(ca: &Certificate) -> Result<Vec<u8>, X509Error> {
    let cert = x509_cert::Certificate::from_der(ca.der()).map_err(|e| X509Error::Malformed(e.to_string()))?;
    for e in cert.tbs_certificate().extensions().into_iter().flatten() {
        if e.extn_id == SKI_OID {
            let ski = SubjectKeyIdentifier::from_der(e.extn_value.as_bytes())
                .map_err(|e| X509Error::Malformed(format!("CA subjectKeyIdentifier: {e}")))?;
            return Ok(ski.0.as_bytes().to_vec());
        }
    }
    // No SKI on the CA (e.g. a minimal OpenSSL CA): derive one the RFC 5280 way.
    let spki_der = ca.public_key().to_spki_der().map_err(|e| X509Error::Malformed(e.to_string()))?;
    let spki = spki::SubjectPublicKeyInfoRef::try_from(spki_der.as_slice())
        .map_err(|e| X509Error::Malformed(e.to_string()))?;
    let ski = SubjectKeyIdentifier::try_from(spki).map_err(|e| X509Error::Build(e.to_string()))?;
    Ok(ski.0.as_bytes().to_vec())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::crypto::AnySuite;

    const T0: i64 = 1_780_000_000; // 2026-05-28
    const YEAR: i64 = 365 * 86_400;

    struct Ca {
        cert: Certificate,
        key: SigningKey,
        agency: AgencyId,
    }

    fn ca(suite: &AnySuite, agency: &str) -> Ca {
        let key = suite.generate_signing_key().unwrap();
        let agency = AgencyId::new(agency).unwrap();
        let der = issue_ca(&key, &agency, &format!("{agency} CA"), T0, T0 + 10 * YEAR).unwrap();
        Ca { cert: Certificate::from_der(&der).unwrap(), key, agency }
    }

    fn ed25519_key() -> SigningKey {
        AnySuite::with_defaults(SuiteId::Intl).generate_signing_key().unwrap()
    }

    fn params<'a>(ca: &'a Ca, role: MemberRole, cn: &'a str) -> CertParams<'a> {
        CertParams { agency: &ca.agency, role, common_name: cn, not_before: T0, not_after: T0 + 2 * YEAR }
    }

    fn transport(ca: &Ca, role: MemberRole, key: &PublicKey) -> Certificate {
        let der = issue_transport(&ca.cert, &ca.key, key, &params(ca, role, "court-tls-1")).unwrap();
        Certificate::from_der(&der).unwrap()
    }

    fn suites() -> [AnySuite; 2] {
        [AnySuite::with_defaults(SuiteId::Sm), AnySuite::with_defaults(SuiteId::Intl)]
    }

    #[test]
    fn ca_of_either_suite_issues_a_verifying_ed25519_transport_certificate() {
        for suite in suites() {
            let court = ca(&suite, "court");
            let key = ed25519_key();
            for role in [MemberRole::Node, MemberRole::Clerk, MemberRole::Adapter] {
                let cert = transport(&court, role, &key.public_key());
                // The CA's signature is under the network's suite; the subject key is ed25519.
                let expected_sig = match suite.id() {
                    SuiteId::Sm => oids::SM2_WITH_SM3,
                    SuiteId::Intl => oids::ED25519,
                };
                assert_eq!(cert.signature_oid, expected_sig.to_string());
                assert_eq!(cert.suite(), SuiteId::Intl);
                let eku = cert.ext_key_usage().unwrap();
                assert!(eku.client_auth);
                assert_eq!(eku.server_auth, role == MemberRole::Node, "{role}");
                let ku = cert.key_usage().unwrap();
                assert!(ku.digital_signature && !ku.non_repudiation && !ku.key_cert_sign);
                assert!(!cert.is_ca());

                let v = verify_transport(&suite, &cert, &court.cert, T0 + 1, Some(role)).unwrap();
                assert_eq!(v.agency.as_str(), "court");
                assert_eq!(v.role, role);
                assert_eq!(v.public_key, key.public_key());
                assert_eq!(v.fingerprint, cert.fingerprint(&suite));
                assert_eq!(v.common_name.as_deref(), Some("court-tls-1"));
                assert_eq!(verify_transport(&suite, &cert, &court.cert, T0, None).unwrap().role, role);
            }
        }
    }

    #[test]
    fn member_certificate_is_not_a_transport_certificate() {
        for suite in suites() {
            let court = ca(&suite, "court");
            let key = suite.generate_signing_key().unwrap();
            let der = issue_member(&court.cert, &court.key, &key.public_key(), &params(&court, MemberRole::Clerk, "c"))
                .unwrap();
            let member = Certificate::from_der(&der).unwrap();
            assert!(!member.is_transport());
            verify_member(&suite, &member, &court.cert, T0, Some(MemberRole::Clerk)).unwrap();
            let err = verify_transport(&suite, &member, &court.cert, T0, Some(MemberRole::Clerk)).unwrap_err();
            match suite.id() {
                // SM2 key: refused for its key type.
                SuiteId::Sm => assert!(
                    matches!(&err, X509Error::NotATransport { reason, .. } if reason.contains("always ed25519")),
                    "{err}"
                ),
                // ed25519 key, but no TLS extended key usage.
                SuiteId::Intl => assert!(matches!(&err, X509Error::NotATransport { .. }), "{err}"),
            }
        }
    }

    #[test]
    fn transport_certificate_is_not_a_member_certificate() {
        for suite in suites() {
            let court = ca(&suite, "court");
            let cert = transport(&court, MemberRole::Clerk, &ed25519_key().public_key());
            let err = verify_member(&suite, &cert, &court.cert, T0, Some(MemberRole::Clerk)).unwrap_err();
            match suite.id() {
                SuiteId::Sm => assert!(matches!(&err, X509Error::Suite { .. }), "{err}"),
                SuiteId::Intl => assert!(matches!(&err, X509Error::NotAMember { .. }), "{err}"),
            }
        }
    }

    #[test]
    fn issue_transport_refuses_an_sm2_key_and_the_ca_role() {
        let sm = AnySuite::with_defaults(SuiteId::Sm);
        let court = ca(&sm, "court");
        let sm2_key = sm.generate_signing_key().unwrap();
        let err =
            issue_transport(&court.cert, &court.key, &sm2_key.public_key(), &params(&court, MemberRole::Node, "n"))
                .unwrap_err();
        assert!(matches!(&err, X509Error::Build(m) if m.contains("ed25519")), "{err}");
        let err = issue_transport(
            &court.cert,
            &court.key,
            &ed25519_key().public_key(),
            &params(&court, MemberRole::Ca, "ca"),
        )
        .unwrap_err();
        assert!(matches!(&err, X509Error::Build(m) if m.contains("issue_ca")), "{err}");
        // issue_member still requires the CA's suite.
        let err =
            issue_member(&court.cert, &court.key, &ed25519_key().public_key(), &params(&court, MemberRole::Node, "n"))
                .unwrap_err();
        assert!(matches!(&err, X509Error::Build(m) if m.contains("member key is intl")), "{err}");
    }

    #[test]
    fn expired_and_not_yet_valid_transport_certificates_are_refused() {
        for suite in suites() {
            let court = ca(&suite, "court");
            let cert = transport(&court, MemberRole::Clerk, &ed25519_key().public_key());
            let err = verify_transport(&suite, &cert, &court.cert, T0 + 2 * YEAR + 1, None).unwrap_err();
            assert!(matches!(&err, X509Error::Expired { .. }), "{err}");
            let err = verify_transport(&suite, &cert, &court.cert, T0 - 1, None).unwrap_err();
            // The CA is checked first, and it is not yet valid either.
            assert!(matches!(&err, X509Error::NotYetValid { .. }), "{err}");
        }
    }

    #[test]
    fn wrong_agency_and_wrong_role_are_refused() {
        for suite in suites() {
            let court = ca(&suite, "court");
            let police = ca(&suite, "police");
            let cert = transport(&court, MemberRole::Clerk, &ed25519_key().public_key());
            // Checked against another agency's CA.
            let err = verify_transport(&suite, &cert, &police.cert, T0, None).unwrap_err();
            assert!(matches!(&err, X509Error::IssuerMismatch { .. }), "{err}");
            // A CA with the court's name but another key (not the genesis CA).
            let rogue = ca(&suite, "court");
            let err = verify_transport(&suite, &cert, &rogue.cert, T0, None).unwrap_err();
            assert!(matches!(&err, X509Error::BadSignature { .. }), "{err}");
            // The court CA will not issue for the police.
            let p = CertParams { agency: &police.agency, ..params(&court, MemberRole::Clerk, "x") };
            let err = issue_transport(&court.cert, &court.key, &ed25519_key().public_key(), &p).unwrap_err();
            assert!(matches!(&err, X509Error::AgencyMismatch { .. }), "{err}");
            // A clerk is not a node.
            let err = verify_transport(&suite, &cert, &court.cert, T0, Some(MemberRole::Node)).unwrap_err();
            assert!(
                matches!(&err, X509Error::WrongRole { expected: MemberRole::Node, found: MemberRole::Clerk, .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn transport_certificate_of_the_other_signature_suite_is_refused() {
        // An ed25519 CA's transport certificate does not verify on an sm network.
        let intl = AnySuite::with_defaults(SuiteId::Intl);
        let court = ca(&intl, "court");
        let cert = transport(&court, MemberRole::Node, &ed25519_key().public_key());
        let sm = AnySuite::with_defaults(SuiteId::Sm);
        let err = verify_transport(&sm, &cert, &court.cert, T0, None).unwrap_err();
        assert!(matches!(&err, X509Error::Suite { .. }), "{err}");
    }
}

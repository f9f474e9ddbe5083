//! Mutual TLS for the node API with agency certificates.
//!
//! rustls has no SM2 (RFC 8998), so TLS always runs on **ed25519 transport keys**, in
//! transport certificates issued by the agency CA (`x509::issue_transport`): the CA's
//! signature on the certificate is under the network's suite (SM2-with-SM3 or ed25519), the
//! subject key is ed25519 whatever the suite. Subject `O=<agency>, OU=<role>, CN=<label>`:
//! role `node` for a node's server certificate, the member's role for clients.
//!
//! Chain verification is ours, in custom rustls verifiers ([`ClientVerifier`],
//! [`ServerVerifier`]): webpki cannot verify SM2 signatures. The certificate is checked with
//! `x509::verify_transport` against the CA that genesis lists for the agency named in its `O`
//! ([`TrustedCas`]), at the current time — the one place the wall clock is used (this is I/O
//! code; protocol code judges certificates at block time). Intermediates the peer sends are
//! ignored: every transport certificate is issued directly by its agency CA. The handshake
//! signature itself is ed25519, verified by the rustls ring provider.
//!
//! Both sides: TLS 1.3 only, ed25519 signatures only, ALPN `h2`, no session resumption (every
//! connection's certificate is checked against the current trust and time).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use custos_primitives::crypto::{AnySuite, PublicKey};
use custos_primitives::genesis::ValidatedGenesis;
use custos_primitives::types::{AgencyId, CertFingerprint, MemberRole};
use custos_primitives::x509::{self, Certificate, X509Error};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme};

/// The ALPN protocol both sides offer (gRPC runs on HTTP/2).
pub const ALPN_H2: &[u8] = b"h2";

/// Errors of TLS set-up and peer authentication. Each names the certificate or key concerned.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// No certificate given (or presented by the peer).
    #[error("{0}: the certificate chain is empty (expected the transport certificate, then the agency CA)")]
    EmptyChain(&'static str),
    /// A certificate does not parse or does not verify.
    #[error("{context}: {source}")]
    Certificate {
        /// Which certificate, and what was being done.
        context: String,
        /// The certificate problem.
        source: X509Error,
    },
    /// The certificate names an agency that has no CA in genesis.
    #[error("certificate {subject} names agency {agency}, which has no CA in genesis")]
    UnknownAgency {
        /// Certificate subject.
        subject: String,
        /// The agency in its `O`.
        agency: AgencyId,
    },
    /// The transport certificate is not for this TLS purpose.
    #[error("certificate {subject} may not authenticate a TLS {side}: its extendedKeyUsage lacks {usage}")]
    WrongPurpose {
        /// Certificate subject.
        subject: String,
        /// `client` or `server`.
        side: &'static str,
        /// The missing extended key usage.
        usage: &'static str,
    },
    /// Our own certificate's key is not ed25519.
    #[error(
        "{context}: certificate {subject} has a {found} key, but TLS keys are ed25519 \
         (use the transport certificate, e.g. node/tls.crt.pem, not the member certificate)"
    )]
    NotEd25519 {
        /// Which configuration.
        context: &'static str,
        /// Certificate subject.
        subject: String,
        /// Suite of the key found.
        found: String,
    },
    /// The private key cannot be loaded by rustls.
    #[error(
        "{context}: the private key is unusable for TLS (expected an ed25519 PKCS#8 transport key, \
         e.g. node/tls.key.pem; SM2 keys cannot be used): {source}"
    )]
    Key {
        /// Which configuration.
        context: &'static str,
        /// What rustls said.
        source: rustls::Error,
    },
    /// The private key does not belong to the certificate.
    #[error("{context}: the private key does not match certificate {subject}")]
    KeyMismatch {
        /// Which configuration.
        context: &'static str,
        /// Certificate subject.
        subject: String,
    },
    /// rustls refused the configuration.
    #[error("{context}: {source}")]
    Rustls {
        /// What was being done.
        context: &'static str,
        /// What rustls said.
        source: rustls::Error,
    },
}

/// The agency CAs a connection's peer may chain to, with the network's suite: built from a
/// validated genesis (`suite`, `cas`).
#[derive(Clone, Debug)]
pub struct TrustedCas {
    suite: AnySuite,
    cas: BTreeMap<AgencyId, Certificate>,
}

impl TrustedCas {
    /// Trust `cas` (agency id → CA certificate) under `suite`. The CAs are checked on every
    /// use (`x509::verify_transport` verifies the CA too).
    pub fn new(suite: AnySuite, cas: BTreeMap<AgencyId, Certificate>) -> Self {
        TrustedCas { suite, cas }
    }

    /// The CAs and suite of a validated genesis.
    pub fn from_genesis(genesis: &ValidatedGenesis) -> Self {
        Self::new(genesis.suite.clone(), genesis.cas.clone())
    }

    /// The network's suite.
    pub fn suite(&self) -> &AnySuite {
        &self.suite
    }

    /// The CA of `agency`, if genesis has one.
    pub fn ca(&self, agency: &AgencyId) -> Option<&Certificate> {
        self.cas.get(agency)
    }

    /// Verifies a peer's transport certificate (DER) at `at` (Unix seconds) against the CA of
    /// the agency in its `O`, with `role` if given.
    fn verify(&self, end_entity_der: &[u8], at: i64, role: Option<MemberRole>) -> Result<Verified, TlsError> {
        let cert = Certificate::from_der(end_entity_der)
            .map_err(|source| TlsError::Certificate { context: "peer certificate".into(), source })?;
        let agency =
            cert.agency().map_err(|source| TlsError::Certificate { context: "peer certificate".into(), source })?;
        let ca = self
            .cas
            .get(agency)
            .ok_or_else(|| TlsError::UnknownAgency { subject: cert.subject().to_string(), agency: agency.clone() })?;
        let member = x509::verify_transport(&self.suite, &cert, ca, at, role).map_err(|source| {
            TlsError::Certificate { context: format!("transport certificate of agency {agency}"), source }
        })?;
        Ok(Verified { cert, member })
    }

    fn root_hints(&self) -> Vec<DistinguishedName> {
        self.cas.values().map(|ca| DistinguishedName::from(ca.subject_der().to_vec())).collect()
    }
}

struct Verified {
    cert: Certificate,
    member: x509::VerifiedMember,
}

/// Who is on the other end of an authenticated connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The agency (certificate `O`).
    pub agency: AgencyId,
    /// The role (certificate `OU`); never `ca`.
    pub role: MemberRole,
    /// Fingerprint of the transport certificate (network suite hash of its DER). This is the
    /// transport certificate's, not the member certificate's.
    pub fingerprint: CertFingerprint,
    /// The certificate's CN.
    pub common_name: Option<String>,
}

/// The identity of an authenticated peer, from its end-entity certificate (e.g.
/// `connection.peer_certificates()[0]` after the handshake). Re-checks that the certificate is
/// a transport certificate issued by the CA genesis lists for its agency (signature, profile,
/// ed25519 key, role not `ca`), but not its validity period: that was checked at the handshake,
/// and this function does not read the clock. Do not use it on certificates that did not go
/// through [`ClientVerifier`] or [`ServerVerifier`].
pub fn peer_identity(trust: &TrustedCas, end_entity_der: &[u8]) -> Result<PeerIdentity, TlsError> {
    let cert = Certificate::from_der(end_entity_der)
        .map_err(|source| TlsError::Certificate { context: "peer certificate".into(), source })?;
    // A time at which the certificate and its CA are both meant to be valid; if there is none,
    // verification fails, as it should.
    let at = match cert.agency().ok().and_then(|a| trust.ca(a)) {
        Some(ca) => cert.not_before().max(ca.not_before()),
        None => cert.not_before(),
    };
    let v = trust.verify(end_entity_der, at, None)?;
    Ok(PeerIdentity {
        agency: v.member.agency,
        role: v.member.role,
        fingerprint: v.member.fingerprint,
        common_name: v.cert.common_name().map(str::to_string),
    })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Only ed25519 handshake signatures are accepted (transport keys are ed25519).
const SCHEMES: [SignatureScheme; 1] = [SignatureScheme::ED25519];

fn check_scheme(dss: &DigitallySignedStruct) -> Result<(), rustls::Error> {
    if SCHEMES.contains(&dss.scheme) {
        Ok(())
    } else {
        Err(rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into())
    }
}

/// A refused peer certificate, as rustls carries it. rustls formats `CertificateError::Other`
/// with `Debug`, so this prints the message itself; the [`TlsError`] is its `source()`.
struct Refusal(TlsError);

impl fmt::Debug for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Refusal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn rejected(e: TlsError) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Refusal(e)))))
}

fn unix_secs(now: UnixTime) -> i64 {
    i64::try_from(now.as_secs()).unwrap_or(i64::MAX)
}

/// The server's verifier of client certificates: a client certificate is required, and must
/// be a transport certificate (`extendedKeyUsage clientAuth`) of a genesis agency, valid now,
/// of any member role (not `ca`).
#[derive(Debug)]
pub struct ClientVerifier {
    trust: Arc<TrustedCas>,
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientVerifier {
    /// A verifier trusting `trust`.
    pub fn new(trust: Arc<TrustedCas>) -> Self {
        let hints = trust.root_hints();
        ClientVerifier {
            trust,
            hints,
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let v = self.trust.verify(end_entity.as_ref(), unix_secs(now), None).map_err(rejected)?;
        if !v.cert.ext_key_usage().is_some_and(|u| u.client_auth) {
            return Err(rejected(TlsError::WrongPurpose {
                subject: v.cert.subject().to_string(),
                side: "client",
                usage: "clientAuth",
            }));
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        check_scheme(dss)?;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        check_scheme(dss)?;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        SCHEMES.to_vec()
    }
}

/// The client's verifier of server certificates: the server must present a transport
/// certificate (`extendedKeyUsage serverAuth`) of role `node` of a genesis agency, valid now.
/// The server name is ignored: nodes are identified by certificate, and clients may connect by
/// IP address.
#[derive(Debug)]
pub struct ServerVerifier {
    trust: Arc<TrustedCas>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerVerifier {
    /// A verifier trusting `trust`.
    pub fn new(trust: Arc<TrustedCas>) -> Self {
        ServerVerifier { trust, algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms }
    }
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let v = self.trust.verify(end_entity.as_ref(), unix_secs(now), Some(MemberRole::Node)).map_err(rejected)?;
        if !v.cert.ext_key_usage().is_some_and(|u| u.server_auth) {
            return Err(rejected(TlsError::WrongPurpose {
                subject: v.cert.subject().to_string(),
                side: "server",
                usage: "serverAuth",
            }));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        check_scheme(dss)?;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        check_scheme(dss)?;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        SCHEMES.to_vec()
    }
}

/// Checks our own chain and key, and pairs them for rustls.
fn certified_key(
    context: &'static str,
    provider: &CryptoProvider,
    cert_chain_der: Vec<Vec<u8>>,
    key_pkcs8_der: Vec<u8>,
) -> Result<CertifiedKey, TlsError> {
    let leaf = cert_chain_der.first().ok_or(TlsError::EmptyChain(context))?;
    let cert = Certificate::from_der(leaf)
        .map_err(|source| TlsError::Certificate { context: format!("{context}: own certificate"), source })?;
    if !matches!(cert.public_key(), PublicKey::Ed25519(_)) {
        return Err(TlsError::NotEd25519 {
            context,
            subject: cert.subject().to_string(),
            found: cert.suite().to_string(),
        });
    }
    let key = provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8_der)))
        .map_err(|source| TlsError::Key { context, source })?;
    let chain = cert_chain_der.into_iter().map(CertificateDer::from).collect();
    let ck = CertifiedKey::new(chain, key);
    ck.keys_match().map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch { context, subject: cert.subject().to_string() },
        source => TlsError::Rustls { context, source },
    })?;
    Ok(ck)
}

/// The node's server configuration: presents `cert_chain_der` (its transport certificate of
/// role `node`, then its agency CA certificate) with the ed25519 PKCS#8 key `key_pkcs8_der`,
/// and requires every client to present a transport certificate of a genesis agency
/// ([`ClientVerifier`]). The server's own certificate is not checked against `trust` here
/// (clients do that); its key must be ed25519 and match it.
pub fn server_config(
    trust: Arc<TrustedCas>,
    cert_chain_der: Vec<Vec<u8>>,
    key_pkcs8_der: Vec<u8>,
) -> Result<rustls::ServerConfig, TlsError> {
    const CONTEXT: &str = "TLS server configuration";
    let provider = provider();
    let ck = certified_key(CONTEXT, &provider, cert_chain_der, key_pkcs8_der)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|source| TlsError::Rustls { context: CONTEXT, source })?
        .with_client_cert_verifier(Arc::new(ClientVerifier::new(trust)))
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(ck)));
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    // No resumption: a resumed session would skip the client certificate check.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// A client configuration: authenticates with `cert_chain_der` (the member's transport
/// certificate, then its agency CA certificate) and the ed25519 PKCS#8 key `key_pkcs8_der`,
/// and accepts only a server presenting a transport certificate of role `node` of a genesis
/// agency ([`ServerVerifier`]); the server name used to connect is ignored.
pub fn client_config(
    trust: Arc<TrustedCas>,
    cert_chain_der: Vec<Vec<u8>>,
    key_pkcs8_der: Vec<u8>,
) -> Result<rustls::ClientConfig, TlsError> {
    const CONTEXT: &str = "TLS client configuration";
    let provider = provider();
    let ck = certified_key(CONTEXT, &provider, cert_chain_der, key_pkcs8_der)?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|source| TlsError::Rustls { context: CONTEXT, source })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ServerVerifier::new(trust)))
        .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(ck)));
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

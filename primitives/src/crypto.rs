//! Crypto suites: one abstraction, two implementations chosen per network at genesis.
//!
//! | suite  | signatures                  | hash    | AEAD        | key wrapping                      |
//! |--------|-----------------------------|---------|-------------|-----------------------------------|
//! | `sm`   | SM2 over SM3 with the ZA digest and a distinguishing ID | SM3 | SM4-GCM | SM2 public-key encryption (C1C3C2) |
//! | `intl` | ed25519, strict verification | SHA-256 | AES-256-GCM | X25519 + HKDF-SHA256 + AES-256-GCM |
//!
//! Code that must work on either network is written against the [`Suite`] trait
//! (or holds an [`AnySuite`], the run-time choice). Keys, signatures and public keys
//! carry the suite they belong to, so a key or signature from the other suite is
//! rejected with [`CryptoError::WrongSuite`] rather than failing as a bad signature.

use core::fmt;
use std::str::FromStr;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use zeroize::Zeroizing;

/// The SM2 distinguishing identifier used when none is configured (GB/T 35276).
pub const DEFAULT_SM2_DISTID: &str = "1234567812345678";

/// Largest distinguishing ID accepted (ENTL is a 16-bit bit length).
pub const MAX_SM2_DISTID_LEN: usize = 64;

/// Nonce length of both AEADs (96 bits).
pub const AEAD_NONCE_LEN: usize = 12;

/// Authentication tag length of both AEADs.
pub const AEAD_TAG_LEN: usize = 16;

/// SM4-GCM as specified by RFC 8998 (SM4 block cipher in GCM mode, 96-bit nonce).
pub type Sm4Gcm = aes_gcm::AesGcm<sm4::Sm4, aes_gcm::aead::consts::U12>;

/// Errors of the crypto layer. Every variant names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A key or signature of one suite was used on a network of the other.
    #[error("{what} belongs to the {found} suite, but this network uses the {expected} suite")]
    WrongSuite {
        /// What was presented (e.g. "signature", "public key").
        what: &'static str,
        /// The network's suite.
        expected: SuiteId,
        /// The suite of the presented object.
        found: SuiteId,
    },
    /// The signature does not verify under the given key and message.
    #[error("{suite} signature verification failed")]
    BadSignature {
        /// Suite used for verification.
        suite: SuiteId,
    },
    /// A public key could not be decoded or is not a valid curve point.
    #[error("invalid {suite} public key: {reason}")]
    InvalidPublicKey {
        /// Suite of the key.
        suite: SuiteId,
        /// Why it was rejected.
        reason: String,
    },
    /// A private key could not be decoded or used.
    #[error("invalid private key: {0}")]
    InvalidSecretKey(String),
    /// Signing failed (only possible with a broken key).
    #[error("{suite} signing failed: {reason}")]
    Signing {
        /// Suite of the key.
        suite: SuiteId,
        /// Why it failed.
        reason: String,
    },
    /// AEAD key of the wrong length for the suite.
    #[error("{suite} AEAD key must be {expected} bytes, got {found}")]
    AeadKeyLength {
        /// Suite of the AEAD.
        suite: SuiteId,
        /// Expected length.
        expected: usize,
        /// Length presented.
        found: usize,
    },
    /// Authenticated decryption failed: wrong key, nonce or associated data, or tampered ciphertext.
    #[error("{suite} AEAD decryption failed: wrong key or tampered ciphertext")]
    AeadOpen {
        /// Suite of the AEAD.
        suite: SuiteId,
    },
    /// AEAD encryption failed (message too long).
    #[error("{suite} AEAD encryption failed: message too long")]
    AeadSeal {
        /// Suite of the AEAD.
        suite: SuiteId,
    },
    /// Key wrapping or unwrapping failed.
    #[error("{suite} key {op} failed: {reason}")]
    KeyWrap {
        /// Suite used.
        suite: SuiteId,
        /// "wrap" or "unwrap".
        op: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// The SM2 distinguishing identifier is unusable.
    #[error("invalid SM2 distinguishing ID: {0}")]
    DistId(String),
    /// The operating system's random number generator failed.
    #[error("system random number generator failed: {0}")]
    Rng(String),
}

/// Which crypto suite a network uses. Fixed at genesis.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Encode,
    Decode,
    DecodeWithMemTracking,
    MaxEncodedLen,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SuiteId {
    /// Chinese national cryptography: SM2, SM3, SM4.
    #[codec(index = 0)]
    Sm,
    /// International: ed25519, SHA-256, AES-256-GCM, X25519.
    #[codec(index = 1)]
    Intl,
}

impl SuiteId {
    /// The lower-case name used in configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            SuiteId::Sm => "sm",
            SuiteId::Intl => "intl",
        }
    }
}

impl fmt::Display for SuiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SuiteId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sm" => Ok(SuiteId::Sm),
            "intl" => Ok(SuiteId::Intl),
            other => Err(format!("unknown crypto suite {other:?}: expected \"sm\" or \"intl\"")),
        }
    }
}

/// A 32-byte digest of the network's hash function (SM3 or SHA-256).
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen,
)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash (e.g. the parent of the first block).
    pub const ZERO: Hash = Hash([0u8; 32]);

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Result<Self, String> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out)
            .map_err(|e| format!("expected 64 hex digits for a 32-byte hash: {e}"))?;
        Ok(Hash(out))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Hash::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// A signature tagged with its suite. Both SM2 (raw `r ‖ s`) and ed25519 signatures are 64 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen)]
pub struct Signature {
    /// The suite that made the signature.
    pub suite: SuiteId,
    /// SM2: big-endian `r ‖ s`; ed25519: `R ‖ s`.
    pub bytes: [u8; 64],
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}, {})", self.suite, hex::encode(self.bytes))
    }
}

/// A public signing key tagged with its suite.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen)]
pub enum PublicKey {
    /// SM2 point, SEC1 uncompressed (`04 ‖ x ‖ y`).
    #[codec(index = 0)]
    Sm2([u8; 65]),
    /// ed25519 point, compressed Edwards y.
    #[codec(index = 1)]
    Ed25519([u8; 32]),
}

impl PublicKey {
    /// The suite this key belongs to.
    pub fn suite(&self) -> SuiteId {
        match self {
            PublicKey::Sm2(_) => SuiteId::Sm,
            PublicKey::Ed25519(_) => SuiteId::Intl,
        }
    }

    /// The raw key bytes (SEC1 point or ed25519 point).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            PublicKey::Sm2(b) => b,
            PublicKey::Ed25519(b) => b,
        }
    }

    /// Builds an SM2 key from SEC1 bytes (compressed or uncompressed), validating the point.
    pub fn sm2_from_sec1(bytes: &[u8]) -> Result<Self, CryptoError> {
        let pk = sm2::PublicKey::from_sec1_bytes(bytes).map_err(|_| CryptoError::InvalidPublicKey {
            suite: SuiteId::Sm,
            reason: format!("{} bytes are not a point on the SM2 curve", bytes.len()),
        })?;
        Ok(PublicKey::Sm2(sm2_uncompressed(&pk)?))
    }

    /// Builds an ed25519 key from its 32 bytes, validating the point.
    pub fn ed25519_from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::InvalidPublicKey {
            suite: SuiteId::Intl,
            reason: format!("expected 32 bytes, got {}", bytes.len()),
        })?;
        ed25519_dalek::VerifyingKey::from_bytes(&arr)
            .map_err(|e| CryptoError::InvalidPublicKey { suite: SuiteId::Intl, reason: e.to_string() })?;
        Ok(PublicKey::Ed25519(arr))
    }

    /// Encodes the key as a DER SubjectPublicKeyInfo (the form inside certificates).
    pub fn to_spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        use spki::EncodePublicKey;
        let doc = match self {
            PublicKey::Sm2(b) => sm2::PublicKey::from_sec1_bytes(b)
                .map_err(|_| invalid_pk(SuiteId::Sm, "not a point on the SM2 curve"))?
                .to_public_key_der(),
            PublicKey::Ed25519(b) => ed25519_dalek::VerifyingKey::from_bytes(b)
                .map_err(|e| invalid_pk(SuiteId::Intl, &e.to_string()))?
                .to_public_key_der(),
        }
        .map_err(|e| invalid_pk(self.suite(), &e.to_string()))?;
        Ok(doc.as_bytes().to_vec())
    }

    /// Decodes a DER SubjectPublicKeyInfo holding an SM2 or ed25519 key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, CryptoError> {
        let spki = spki::SubjectPublicKeyInfoRef::try_from(der)
            .map_err(|e| CryptoError::InvalidPublicKey { suite: SuiteId::Sm, reason: format!("bad SPKI: {e}") })?;
        let key = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| invalid_pk(SuiteId::Sm, "SPKI bit string has unused bits"))?;
        match spki.algorithm.oid {
            oid if oid == oids::ED25519 => PublicKey::ed25519_from_bytes(key),
            oid if oid == oids::EC_PUBLIC_KEY || oid == oids::SM2_CURVE => {
                let params = spki
                    .algorithm
                    .parameters_oid()
                    .map_err(|_| invalid_pk(SuiteId::Sm, "EC key without a named curve"))?;
                if params != oids::SM2_CURVE {
                    return Err(invalid_pk(
                        SuiteId::Sm,
                        &format!("EC curve {params} is not SM2 (1.2.156.10197.1.301)"),
                    ));
                }
                PublicKey::sm2_from_sec1(key)
            }
            other => Err(invalid_pk(SuiteId::Sm, &format!("key algorithm {other} is neither SM2 nor ed25519"))),
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, {})", self.suite(), hex::encode(self.as_bytes()))
    }
}

fn invalid_pk(suite: SuiteId, reason: &str) -> CryptoError {
    CryptoError::InvalidPublicKey { suite, reason: reason.to_string() }
}

fn sm2_uncompressed(pk: &sm2::PublicKey) -> Result<[u8; 65], CryptoError> {
    use sm2::elliptic_curve::sec1::ToSec1Point;
    let point = pk.to_sec1_point(false);
    point.as_bytes().try_into().map_err(|_| invalid_pk(SuiteId::Sm, "unexpected SEC1 length"))
}

/// Object identifiers used by the suites and certificates.
pub mod oids {
    use spki::ObjectIdentifier;

    /// id-ecPublicKey (RFC 5480).
    pub const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    /// The SM2 curve (GM/T 0006).
    pub const SM2_CURVE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.301");
    /// SM2 signature with SM3 (GM/T 0006).
    pub const SM2_WITH_SM3: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.501");
    /// ed25519 (RFC 8410).
    pub const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
    /// X25519 (RFC 8410).
    pub const X25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.110");
}

/// A private signing key, ready to sign (for SM2 the distinguishing ID is bound in).
pub enum SigningKey {
    /// SM2 key with its distinguishing ID, and its public key (SEC1 uncompressed).
    Sm2(sm2::dsa::SigningKey, [u8; 65]),
    /// ed25519 key.
    Ed25519(ed25519_dalek::SigningKey),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, public {:?})", self.suite(), self.public_key())
    }
}

impl SigningKey {
    /// The suite of this key.
    pub fn suite(&self) -> SuiteId {
        match self {
            SigningKey::Sm2(..) => SuiteId::Sm,
            SigningKey::Ed25519(_) => SuiteId::Intl,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            SigningKey::Sm2(_, public) => PublicKey::Sm2(*public),
            SigningKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key().to_bytes()),
        }
    }

    /// Signs `msg`. SM2 signs `SM3(ZA ‖ msg)` with a deterministic (RFC 6979 style) nonce.
    pub fn sign(&self, msg: &[u8]) -> Result<Signature, CryptoError> {
        use signature::Signer;
        match self {
            SigningKey::Sm2(k, _) => {
                let sig: sm2::dsa::Signature =
                    k.try_sign(msg).map_err(|e| CryptoError::Signing { suite: SuiteId::Sm, reason: e.to_string() })?;
                let mut bytes = [0u8; 64];
                bytes.copy_from_slice(&sig.to_bytes());
                Ok(Signature { suite: SuiteId::Sm, bytes })
            }
            SigningKey::Ed25519(k) => {
                let sig = k.sign(msg);
                Ok(Signature { suite: SuiteId::Intl, bytes: sig.to_bytes() })
            }
        }
    }

    /// PKCS#8 PEM of the private key (`-----BEGIN PRIVATE KEY-----`), as OpenSSL 3 writes it.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, CryptoError> {
        use pkcs8::{EncodePrivateKey, LineEnding};
        let pem = match self {
            SigningKey::Sm2(k, _) => {
                let sk = sm2::SecretKey::from_bytes(&k.to_bytes())
                    .map_err(|_| CryptoError::InvalidSecretKey("SM2 scalar out of range".into()))?;
                sk.to_pkcs8_pem(LineEnding::LF)
            }
            SigningKey::Ed25519(k) => k.to_pkcs8_pem(LineEnding::LF),
        }
        .map_err(|e| CryptoError::InvalidSecretKey(format!("PKCS#8 encoding failed: {e}")))?;
        Ok(Zeroizing::new(pem.to_string()))
    }

    /// Reads a PKCS#8 PEM private key (SM2 or ed25519). `distid` applies to SM2 keys.
    pub fn from_pkcs8_pem(pem: &str, distid: &str) -> Result<Self, CryptoError> {
        use pkcs8::DecodePrivateKey;
        let der = pkcs8_private_key_der(pem)?;
        let info = pkcs8::PrivateKeyInfoRef::try_from(der.as_slice())
            .map_err(|e| CryptoError::InvalidSecretKey(format!("bad PKCS#8 structure: {e}")))?;
        let oid = info.algorithm.oid;
        if oid == oids::ED25519 {
            let k = ed25519_dalek::SigningKey::from_pkcs8_der(&der)
                .map_err(|e| CryptoError::InvalidSecretKey(format!("bad ed25519 key: {e}")))?;
            Ok(SigningKey::Ed25519(k))
        } else if oid == oids::EC_PUBLIC_KEY || oid == oids::SM2_CURVE {
            let sk = sm2_secret_from_pkcs8(&info, &der)?;
            Self::sm2_from_secret(&sk, distid)
        } else {
            Err(CryptoError::InvalidSecretKey(format!("private key algorithm {oid} is neither SM2 nor ed25519")))
        }
    }

    fn sm2_from_secret(sk: &sm2::SecretKey, distid: &str) -> Result<Self, CryptoError> {
        check_distid(distid)?;
        let k = sm2::dsa::SigningKey::new(distid, sk)
            .map_err(|_| CryptoError::InvalidSecretKey("SM2 key rejected".into()))?;
        let public = sm2_uncompressed(&k.verifying_key().into())?;
        Ok(SigningKey::Sm2(k, public))
    }

    /// The SM2 signing key, for X.509 signing (None for ed25519).
    pub fn as_sm2(&self) -> Option<&sm2::dsa::SigningKey> {
        match self {
            SigningKey::Sm2(k, _) => Some(k),
            SigningKey::Ed25519(_) => None,
        }
    }
}

/// Decodes one RFC 7468 PEM block into (label, DER).
pub fn pem_rfc7468_decode(pem: &str) -> Result<(String, Zeroizing<Vec<u8>>), CryptoError> {
    let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
        .map_err(|e| CryptoError::InvalidSecretKey(format!("not a PEM block: {e}")))?;
    Ok((label.to_string(), Zeroizing::new(der)))
}

fn check_distid(distid: &str) -> Result<(), CryptoError> {
    if distid.is_empty() {
        return Err(CryptoError::DistId("must not be empty".into()));
    }
    if distid.len() > MAX_SM2_DISTID_LEN {
        return Err(CryptoError::DistId(format!(
            "{} bytes is longer than the {MAX_SM2_DISTID_LEN}-byte limit",
            distid.len()
        )));
    }
    Ok(())
}

/// The DER of a PKCS#8 `PRIVATE KEY` PEM block.
fn pkcs8_private_key_der(pem: &str) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (label, der) = pem_rfc7468_decode(pem)?;
    if label != "PRIVATE KEY" {
        return Err(CryptoError::InvalidSecretKey(format!(
            "expected a PKCS#8 \"PRIVATE KEY\" PEM block, found \"{label}\""
        )));
    }
    Ok(der)
}

/// The SM2 secret of a PKCS#8 key whose algorithm is id-ecPublicKey or the SM2 curve: an EC key
/// on any other curve is refused.
fn sm2_secret_from_pkcs8(info: &pkcs8::PrivateKeyInfoRef<'_>, der: &[u8]) -> Result<sm2::SecretKey, CryptoError> {
    use pkcs8::DecodePrivateKey;
    let curve = info.algorithm.parameters_oid().ok();
    if info.algorithm.oid == oids::EC_PUBLIC_KEY && curve != Some(oids::SM2_CURVE) {
        return Err(CryptoError::InvalidSecretKey(format!(
            "EC private key on curve {curve:?}, expected SM2 (1.2.156.10197.1.301)"
        )));
    }
    sm2::SecretKey::from_pkcs8_der(der).map_err(|e| CryptoError::InvalidSecretKey(format!("bad SM2 key: {e}")))
}

/// A public key that content keys are wrapped to (an agency's encryption key).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen)]
pub enum EncryptionPublicKey {
    /// SM2 point, SEC1 uncompressed.
    #[codec(index = 0)]
    Sm2([u8; 65]),
    /// X25519 Montgomery u-coordinate.
    #[codec(index = 1)]
    X25519([u8; 32]),
}

impl EncryptionPublicKey {
    /// The suite of this key.
    pub fn suite(&self) -> SuiteId {
        match self {
            EncryptionPublicKey::Sm2(_) => SuiteId::Sm,
            EncryptionPublicKey::X25519(_) => SuiteId::Intl,
        }
    }
}

impl fmt::Debug for EncryptionPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncryptionPublicKey::Sm2(b) => write!(f, "EncryptionPublicKey(sm2, {})", hex::encode(b)),
            EncryptionPublicKey::X25519(b) => {
                write!(f, "EncryptionPublicKey(x25519, {})", hex::encode(b))
            }
        }
    }
}

/// The private half of an [`EncryptionPublicKey`].
pub enum DecryptionKey {
    /// SM2 decryption key.
    Sm2(sm2::pke::DecryptingKey),
    /// X25519 static secret.
    X25519(x25519_dalek::StaticSecret),
}

impl fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DecryptionKey({:?})", self.public_key())
    }
}

impl DecryptionKey {
    /// The matching public key.
    pub fn public_key(&self) -> EncryptionPublicKey {
        match self {
            DecryptionKey::Sm2(k) => {
                let pk = sm2::PublicKey::from_affine(*k.encrypting_key().as_affine());
                match pk.ok().and_then(|pk| sm2_uncompressed(&pk).ok()) {
                    Some(b) => EncryptionPublicKey::Sm2(b),
                    None => EncryptionPublicKey::Sm2([0u8; 65]),
                }
            }
            DecryptionKey::X25519(s) => EncryptionPublicKey::X25519(x25519_dalek::PublicKey::from(s).to_bytes()),
        }
    }
}

impl DecryptionKey {
    /// PKCS#8 PEM of the private key (`-----BEGIN PRIVATE KEY-----`), as OpenSSL 3 writes it:
    /// SM2 as an EC private key on the SM2 curve (the same form as an SM2 signing key), X25519
    /// as RFC 8410 (algorithm 1.3.101.110, no parameters, the key an OCTET STRING inside the
    /// `privateKey` OCTET STRING).
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, CryptoError> {
        use pkcs8::{EncodePrivateKey, LineEnding};
        let encode_err = |e: pkcs8::Error| CryptoError::InvalidSecretKey(format!("PKCS#8 encoding failed: {e}"));
        match self {
            DecryptionKey::Sm2(k) => sm2::SecretKey::from(k.as_nonzero_scalar()).to_pkcs8_pem(LineEnding::LF),
            DecryptionKey::X25519(s) => {
                // CurvePrivateKey ::= OCTET STRING (32 bytes): 2 bytes of header + 32.
                let mut inner = Zeroizing::new([0u8; 34]);
                let curve_private_key = der::asn1::OctetStringRef::new(s.as_bytes())
                    .and_then(|os| der::Encode::encode_to_slice(&os, inner.as_mut()).map(<[u8]>::len))
                    .map_err(|e| CryptoError::InvalidSecretKey(format!("X25519 key encoding failed: {e}")))?;
                let private_key = der::asn1::OctetStringRef::new(&inner[..curve_private_key])
                    .map_err(|e| CryptoError::InvalidSecretKey(format!("X25519 key encoding failed: {e}")))?;
                let algorithm = pkcs8::AlgorithmIdentifierRef { oid: oids::X25519, parameters: None };
                pkcs8::PrivateKeyInfoRef::new(algorithm, private_key).to_pkcs8_pem(LineEnding::LF)
            }
        }
        .map_err(encode_err)
    }

    /// Reads a PKCS#8 PEM private key: SM2 (EC key on the SM2 curve) or X25519 (RFC 8410).
    /// Any other algorithm (an ed25519 signing key, an EC key on another curve, ...) and
    /// malformed input are refused with [`CryptoError::InvalidSecretKey`].
    pub fn from_pkcs8_pem(pem: &str) -> Result<DecryptionKey, CryptoError> {
        let der = pkcs8_private_key_der(pem)?;
        let info = pkcs8::PrivateKeyInfoRef::try_from(der.as_slice())
            .map_err(|e| CryptoError::InvalidSecretKey(format!("bad PKCS#8 structure: {e}")))?;
        let oid = info.algorithm.oid;
        if oid == oids::X25519 {
            if info.algorithm.parameters.is_some() {
                return Err(CryptoError::InvalidSecretKey(
                    "X25519 key with algorithm parameters (RFC 8410 requires them absent)".into(),
                ));
            }
            let inner: &der::asn1::OctetStringRef = info.private_key.decode_into().map_err(|e| {
                CryptoError::InvalidSecretKey(format!("bad X25519 key: privateKey is not a CurvePrivateKey: {e}"))
            })?;
            if inner.as_bytes().len() != 32 {
                return Err(CryptoError::InvalidSecretKey(format!(
                    "bad X25519 key: {} bytes, expected 32",
                    inner.as_bytes().len()
                )));
            }
            let mut bytes = Zeroizing::new([0u8; 32]);
            bytes.copy_from_slice(inner.as_bytes());
            let secret = x25519_dalek::StaticSecret::from(*bytes);
            if let Some(public) = &info.public_key {
                let derived = x25519_dalek::PublicKey::from(&secret);
                if public.as_bytes() != Some(derived.as_bytes().as_slice()) {
                    return Err(CryptoError::InvalidSecretKey(
                        "X25519 key: the embedded public key does not match the private key".into(),
                    ));
                }
            }
            Ok(DecryptionKey::X25519(secret))
        } else if oid == oids::EC_PUBLIC_KEY || oid == oids::SM2_CURVE {
            let sk = sm2_secret_from_pkcs8(&info, &der)?;
            Ok(DecryptionKey::Sm2(sm2::pke::DecryptingKey::new(sk)))
        } else if oid == oids::ED25519 {
            Err(CryptoError::InvalidSecretKey(
                "an ed25519 key is a signing key, not an encryption key (expected SM2 or X25519)".into(),
            ))
        } else {
            Err(CryptoError::InvalidSecretKey(format!("private key algorithm {oid} is neither SM2 nor X25519")))
        }
    }
}

impl EncryptionPublicKey {
    /// Text form for configuration and genesis files: `sm2:` and the 130 lower-case hex
    /// digits of the SEC1 uncompressed point, or `x25519:` and 64 hex digits.
    pub fn to_text(&self) -> String {
        match self {
            EncryptionPublicKey::Sm2(b) => format!("sm2:{}", hex::encode(b)),
            EncryptionPublicKey::X25519(b) => format!("x25519:{}", hex::encode(b)),
        }
    }

    /// Parses the [`to_text`](Self::to_text) form (surrounding whitespace is ignored, hex
    /// digits may be either case). An SM2 key must be an uncompressed point on the SM2
    /// curve; an X25519 key must not be a low-order point (no key could be wrapped to it).
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        if let Some(h) = text.strip_prefix("sm2:") {
            let mut b = [0u8; 65];
            hex::decode_to_slice(h, &mut b).map_err(|e| {
                invalid_pk(
                    SuiteId::Sm,
                    &format!("expected 130 hex digits (SEC1 uncompressed point) after \"sm2:\": {e}"),
                )
            })?;
            if b[0] != 0x04 {
                return Err(invalid_pk(SuiteId::Sm, "not a SEC1 uncompressed point (must start with 04)"));
            }
            sm2::PublicKey::from_sec1_bytes(&b).map_err(|_| invalid_pk(SuiteId::Sm, "not a point on the SM2 curve"))?;
            Ok(EncryptionPublicKey::Sm2(b))
        } else if let Some(h) = text.strip_prefix("x25519:") {
            let mut b = [0u8; 32];
            hex::decode_to_slice(h, &mut b)
                .map_err(|e| invalid_pk(SuiteId::Intl, &format!("expected 64 hex digits after \"x25519:\": {e}")))?;
            // A clamped scalar is a multiple of the cofactor, so the shared secret is all
            // zeros exactly when the point is of low order (on the curve or its twist).
            let probe = x25519_dalek::StaticSecret::from([0x5au8; 32]);
            if !probe.diffie_hellman(&x25519_dalek::PublicKey::from(b)).was_contributory() {
                return Err(invalid_pk(SuiteId::Intl, "x25519 key is a low-order point"));
            }
            Ok(EncryptionPublicKey::X25519(b))
        } else {
            // The error names a suite; guess it from the length of the hex part.
            let hex_len = text.rsplit(':').next().map_or(0, str::len);
            let suite = if hex_len == 64 { SuiteId::Intl } else { SuiteId::Sm };
            let mut shown: String = text.chars().take(24).collect();
            if shown.len() < text.len() {
                shown.push('…');
            }
            Err(invalid_pk(suite, &format!("encryption key must start with \"sm2:\" or \"x25519:\", found {shown:?}")))
        }
    }
}

impl fmt::Display for EncryptionPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// A symmetric content key of the suite's AEAD (16 bytes for SM4, 32 for AES-256), wiped on drop.
#[derive(Clone)]
pub struct AeadKey(Zeroizing<Vec<u8>>);

impl AeadKey {
    /// Wraps raw key bytes (length checked when used).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        AeadKey(Zeroizing::new(bytes.to_vec()))
    }
    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AeadKey({} bytes, redacted)", self.0.len())
    }
}

/// Incremental hashing with the suite's hash function.
#[derive(Clone, Debug)]
pub enum Hasher {
    /// SM3 (GB/T 32905).
    Sm3(sm3::Sm3),
    /// SHA-256 (FIPS 180-4).
    Sha256(sha2::Sha256),
}

impl Hasher {
    /// A fresh hasher for `suite`.
    pub fn new(suite: SuiteId) -> Self {
        match suite {
            SuiteId::Sm => Hasher::Sm3(sm3::Sm3::new()),
            SuiteId::Intl => Hasher::Sha256(sha2::Sha256::new()),
        }
    }
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sm3(h) => sm3::Digest::update(h, data),
            Hasher::Sha256(h) => h.update(data),
        }
    }
    /// The digest.
    pub fn finalize(self) -> Hash {
        let mut out = [0u8; 32];
        match self {
            Hasher::Sm3(h) => out.copy_from_slice(&sm3::Digest::finalize(h)),
            Hasher::Sha256(h) => out.copy_from_slice(&h.finalize()),
        }
        Hash(out)
    }
}

/// Fills a buffer from the operating system's random number generator.
pub fn random_bytes<const N: usize>() -> Result<Zeroizing<[u8; N]>, CryptoError> {
    let mut buf = Zeroizing::new([0u8; N]);
    getrandom::fill(buf.as_mut()).map_err(|e| CryptoError::Rng(e.to_string()))?;
    Ok(buf)
}

/// The operations every crypto suite provides. Implemented by [`SmSuite`], [`IntlSuite`]
/// and, for a suite chosen at run time, [`AnySuite`].
pub trait Suite: Send + Sync + fmt::Debug {
    /// Which suite this is.
    fn id(&self) -> SuiteId;

    /// One-shot hash.
    fn hash(&self, data: &[u8]) -> Hash {
        let mut h = self.hasher();
        h.update(data);
        h.finalize()
    }

    /// Hash of the concatenation of `parts` (no length framing: callers frame their input).
    fn hash_parts(&self, parts: &[&[u8]]) -> Hash {
        let mut h = self.hasher();
        for p in parts {
            h.update(p);
        }
        h.finalize()
    }

    /// Incremental hasher.
    fn hasher(&self) -> Hasher {
        Hasher::new(self.id())
    }

    /// HMAC with the suite's hash (HMAC-SM3 or HMAC-SHA256).
    fn hmac(&self, key: &[u8], data: &[u8]) -> Hash {
        use hmac::{KeyInit as _, Mac};
        let mut out = [0u8; 32];
        match self.id() {
            SuiteId::Sm => {
                // SimpleHmac accepts keys of any length.
                if let Ok(mut m) = hmac::SimpleHmac::<sm3::Sm3>::new_from_slice(key) {
                    m.update(data);
                    out.copy_from_slice(&m.finalize().into_bytes());
                }
            }
            SuiteId::Intl => {
                if let Ok(mut m) = hmac::SimpleHmac::<sha2::Sha256>::new_from_slice(key) {
                    m.update(data);
                    out.copy_from_slice(&m.finalize().into_bytes());
                }
            }
        }
        Hash(out)
    }

    /// Generates a fresh signing key from the system RNG.
    fn generate_signing_key(&self) -> Result<SigningKey, CryptoError>;

    /// Reads a PKCS#8 PEM signing key and checks it belongs to this suite.
    fn signing_key_from_pem(&self, pem: &str) -> Result<SigningKey, CryptoError>;

    /// Verifies `sig` over `msg` under `key`.
    fn verify(&self, key: &PublicKey, msg: &[u8], sig: &Signature) -> Result<(), CryptoError>;

    /// Length of the AEAD key.
    fn aead_key_len(&self) -> usize {
        match self.id() {
            SuiteId::Sm => 16,
            SuiteId::Intl => 32,
        }
    }

    /// A fresh random AEAD key.
    fn generate_aead_key(&self) -> Result<AeadKey, CryptoError> {
        let k = random_bytes::<32>()?;
        Ok(AeadKey::from_bytes(&k[..self.aead_key_len()]))
    }

    /// AEAD encryption: returns `ciphertext ‖ tag`. The caller guarantees that a nonce is
    /// never used twice under one key.
    fn seal(
        &self,
        key: &AeadKey,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        aead_seal(self.id(), key, nonce, aad, plaintext)
    }

    /// AEAD decryption of `ciphertext ‖ tag`.
    fn open(
        &self,
        key: &AeadKey,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        aead_open(self.id(), key, nonce, aad, ciphertext)
    }

    /// Generates an encryption key pair for key wrapping.
    fn generate_decryption_key(&self) -> Result<DecryptionKey, CryptoError> {
        match self.id() {
            SuiteId::Sm => {
                let sk = generate_sm2_secret()?;
                Ok(DecryptionKey::Sm2(sm2::pke::DecryptingKey::new(sk)))
            }
            SuiteId::Intl => {
                let b = random_bytes::<32>()?;
                Ok(DecryptionKey::X25519(x25519_dalek::StaticSecret::from(*b)))
            }
        }
    }

    /// Wraps (encrypts) a content key to a recipient's encryption key.
    fn wrap_key(&self, recipient: &EncryptionPublicKey, content_key: &AeadKey) -> Result<Vec<u8>, CryptoError> {
        let suite = self.id();
        if recipient.suite() != suite {
            return Err(CryptoError::WrongSuite {
                what: "recipient encryption key",
                expected: suite,
                found: recipient.suite(),
            });
        }
        let wrap_err = |reason: &str| CryptoError::KeyWrap { suite, op: "wrap", reason: reason.into() };
        match recipient {
            EncryptionPublicKey::Sm2(pk) => {
                let ek = sm2::pke::EncryptingKey::from_sec1_bytes(pk)
                    .map_err(|_| wrap_err("recipient key is not an SM2 point"))?;
                ek.encrypt(&mut getrandom::SysRng, content_key.as_bytes())
                    .map_err(|_| wrap_err("SM2 encryption failed"))
            }
            EncryptionPublicKey::X25519(pk) => {
                let eph = random_bytes::<32>()?;
                let eph = x25519_dalek::StaticSecret::from(*eph);
                let eph_pub = x25519_dalek::PublicKey::from(&eph);
                let shared = eph.diffie_hellman(&x25519_dalek::PublicKey::from(*pk));
                if !shared.was_contributory() {
                    return Err(wrap_err("recipient key is a low-order point"));
                }
                let kek = x25519_kek(shared.as_bytes(), eph_pub.as_bytes(), pk)?;
                let ct = aes_gcm_256(&kek)?
                    .encrypt(&[0u8; AEAD_NONCE_LEN].into(), content_key.as_bytes())
                    .map_err(|_| wrap_err("AES-GCM failed"))?;
                let mut out = Vec::with_capacity(32 + ct.len());
                out.extend_from_slice(eph_pub.as_bytes());
                out.extend_from_slice(&ct);
                Ok(out)
            }
        }
    }

    /// Unwraps a content key with the recipient's decryption key.
    fn unwrap_key(&self, key: &DecryptionKey, wrapped: &[u8]) -> Result<AeadKey, CryptoError> {
        let suite = self.id();
        let err = |reason: &str| CryptoError::KeyWrap { suite, op: "unwrap", reason: reason.into() };
        let raw = match (suite, key) {
            (SuiteId::Sm, DecryptionKey::Sm2(k)) => {
                Zeroizing::new(k.decrypt(wrapped).map_err(|_| err("SM2 decryption failed (wrong key or tampered)"))?)
            }
            (SuiteId::Intl, DecryptionKey::X25519(sk)) => {
                if wrapped.len() < 32 + AEAD_TAG_LEN {
                    return Err(err("wrapped key too short"));
                }
                let (eph, ct) = wrapped.split_at(32);
                let mut eph_arr = [0u8; 32];
                eph_arr.copy_from_slice(eph);
                let shared = sk.diffie_hellman(&x25519_dalek::PublicKey::from(eph_arr));
                if !shared.was_contributory() {
                    return Err(err("ephemeral key is a low-order point"));
                }
                let my_pub = x25519_dalek::PublicKey::from(sk);
                let kek = x25519_kek(shared.as_bytes(), &eph_arr, my_pub.as_bytes())?;
                Zeroizing::new(
                    aes_gcm_256(&kek)?
                        .decrypt(&[0u8; AEAD_NONCE_LEN].into(), ct)
                        .map_err(|_| err("AES-GCM authentication failed (wrong key or tampered)"))?,
                )
            }
            (expected, other) => {
                return Err(CryptoError::WrongSuite {
                    what: "decryption key",
                    expected,
                    found: other.public_key().suite(),
                });
            }
        };
        if raw.len() != self.aead_key_len() {
            return Err(err(&format!("unwrapped key is {} bytes, expected {}", raw.len(), self.aead_key_len())));
        }
        Ok(AeadKey(raw))
    }
}

fn x25519_kek(shared: &[u8; 32], eph_pub: &[u8; 32], recipient: &[u8; 32]) -> Result<AeadKey, CryptoError> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(eph_pub);
    salt[32..].copy_from_slice(recipient);
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(&salt), shared);
    let mut okm = Zeroizing::new([0u8; 32]);
    hk.expand(b"custos/key-wrap/x25519/v1", okm.as_mut()).map_err(|_| CryptoError::KeyWrap {
        suite: SuiteId::Intl,
        op: "derive",
        reason: "HKDF".into(),
    })?;
    Ok(AeadKey::from_bytes(okm.as_ref()))
}

// The AEAD bodies of `Suite::seal` and `Suite::open` live in these non-generic functions so that
// they are compiled (and optimised) in this crate: a default trait method is instantiated in
// the crate that calls it, which in the dev profile means unoptimised SM4/AES-GCM at ~1 MB/s.
fn aead_seal(
    suite: SuiteId,
    key: &AeadKey,
    nonce: &[u8; AEAD_NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let payload = Payload { msg: plaintext, aad };
    let n = nonce.into();
    match suite {
        SuiteId::Sm => sm4_gcm(key)?.encrypt(n, payload),
        SuiteId::Intl => aes_gcm_256(key)?.encrypt(n, payload),
    }
    .map_err(|_| CryptoError::AeadSeal { suite })
}

fn aead_open(
    suite: SuiteId,
    key: &AeadKey,
    nonce: &[u8; AEAD_NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let payload = Payload { msg: ciphertext, aad };
    let n = nonce.into();
    match suite {
        SuiteId::Sm => sm4_gcm(key)?.decrypt(n, payload),
        SuiteId::Intl => aes_gcm_256(key)?.decrypt(n, payload),
    }
    .map_err(|_| CryptoError::AeadOpen { suite })
}

fn sm4_gcm(key: &AeadKey) -> Result<Sm4Gcm, CryptoError> {
    Sm4Gcm::new_from_slice(key.as_bytes()).map_err(|_| CryptoError::AeadKeyLength {
        suite: SuiteId::Sm,
        expected: 16,
        found: key.as_bytes().len(),
    })
}

fn aes_gcm_256(key: &AeadKey) -> Result<aes_gcm::Aes256Gcm, CryptoError> {
    aes_gcm::Aes256Gcm::new_from_slice(key.as_bytes()).map_err(|_| CryptoError::AeadKeyLength {
        suite: SuiteId::Intl,
        expected: 32,
        found: key.as_bytes().len(),
    })
}

fn generate_sm2_secret() -> Result<sm2::SecretKey, CryptoError> {
    // The SM2 order is just below 2^256: a uniformly random 32-byte string is out of range
    // with probability about 2^-32, so rejection sampling ends at once in practice.
    for _ in 0..64 {
        let b = random_bytes::<32>()?;
        if let Ok(sk) = sm2::SecretKey::from_slice(b.as_ref()) {
            return Ok(sk);
        }
    }
    Err(CryptoError::Rng("could not draw an SM2 scalar in 64 attempts".into()))
}

/// The `sm` suite: SM2 (with a distinguishing ID), SM3, SM4-GCM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmSuite {
    distid: String,
}

impl SmSuite {
    /// A suite using `distid` for the SM2 ZA digest.
    pub fn new(distid: &str) -> Result<Self, CryptoError> {
        check_distid(distid)?;
        Ok(SmSuite { distid: distid.to_string() })
    }
    /// The configured distinguishing ID.
    pub fn distid(&self) -> &str {
        &self.distid
    }
}

impl Default for SmSuite {
    fn default() -> Self {
        SmSuite { distid: DEFAULT_SM2_DISTID.to_string() }
    }
}

impl Suite for SmSuite {
    fn id(&self) -> SuiteId {
        SuiteId::Sm
    }

    fn generate_signing_key(&self) -> Result<SigningKey, CryptoError> {
        SigningKey::sm2_from_secret(&generate_sm2_secret()?, &self.distid)
    }

    fn signing_key_from_pem(&self, pem: &str) -> Result<SigningKey, CryptoError> {
        let k = SigningKey::from_pkcs8_pem(pem, &self.distid)?;
        expect_suite("private key", SuiteId::Sm, k.suite())?;
        Ok(k)
    }

    fn verify(&self, key: &PublicKey, msg: &[u8], sig: &Signature) -> Result<(), CryptoError> {
        use signature::Verifier;
        expect_suite("signature", SuiteId::Sm, sig.suite)?;
        let PublicKey::Sm2(pk) = key else {
            return Err(CryptoError::WrongSuite { what: "public key", expected: SuiteId::Sm, found: key.suite() });
        };
        let vk = sm2::dsa::VerifyingKey::from_sec1_bytes(&self.distid, pk)
            .map_err(|_| invalid_pk(SuiteId::Sm, "not a point on the SM2 curve"))?;
        let s = sm2::dsa::Signature::from_slice(&sig.bytes)
            .map_err(|_| CryptoError::BadSignature { suite: SuiteId::Sm })?;
        vk.verify(msg, &s).map_err(|_| CryptoError::BadSignature { suite: SuiteId::Sm })
    }
}

/// The `intl` suite: ed25519 (strict), SHA-256, AES-256-GCM, X25519.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IntlSuite;

impl Suite for IntlSuite {
    fn id(&self) -> SuiteId {
        SuiteId::Intl
    }

    fn generate_signing_key(&self) -> Result<SigningKey, CryptoError> {
        let b = random_bytes::<32>()?;
        Ok(SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&b)))
    }

    fn signing_key_from_pem(&self, pem: &str) -> Result<SigningKey, CryptoError> {
        let k = SigningKey::from_pkcs8_pem(pem, DEFAULT_SM2_DISTID)?;
        expect_suite("private key", SuiteId::Intl, k.suite())?;
        Ok(k)
    }

    fn verify(&self, key: &PublicKey, msg: &[u8], sig: &Signature) -> Result<(), CryptoError> {
        expect_suite("signature", SuiteId::Intl, sig.suite)?;
        let PublicKey::Ed25519(pk) = key else {
            return Err(CryptoError::WrongSuite { what: "public key", expected: SuiteId::Intl, found: key.suite() });
        };
        let vk = ed25519_dalek::VerifyingKey::from_bytes(pk).map_err(|e| invalid_pk(SuiteId::Intl, &e.to_string()))?;
        let s = ed25519_dalek::Signature::from_bytes(&sig.bytes);
        vk.verify_strict(msg, &s).map_err(|_| CryptoError::BadSignature { suite: SuiteId::Intl })
    }
}

fn expect_suite(what: &'static str, expected: SuiteId, found: SuiteId) -> Result<(), CryptoError> {
    if expected == found { Ok(()) } else { Err(CryptoError::WrongSuite { what, expected, found }) }
}

/// A suite chosen at run time (from genesis or the command line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnySuite {
    /// The `sm` suite.
    Sm(SmSuite),
    /// The `intl` suite.
    Intl(IntlSuite),
}

impl AnySuite {
    /// The suite `id`, with `distid` for SM2 (ignored by `intl`).
    pub fn new(id: SuiteId, distid: &str) -> Result<Self, CryptoError> {
        Ok(match id {
            SuiteId::Sm => AnySuite::Sm(SmSuite::new(distid)?),
            SuiteId::Intl => AnySuite::Intl(IntlSuite),
        })
    }

    /// The suite `id` with default parameters.
    pub fn with_defaults(id: SuiteId) -> Self {
        match id {
            SuiteId::Sm => AnySuite::Sm(SmSuite::default()),
            SuiteId::Intl => AnySuite::Intl(IntlSuite),
        }
    }

    /// The SM2 distinguishing ID (the default for `intl`, where it is unused).
    pub fn distid(&self) -> &str {
        match self {
            AnySuite::Sm(s) => s.distid(),
            AnySuite::Intl(_) => DEFAULT_SM2_DISTID,
        }
    }
}

impl Suite for AnySuite {
    fn id(&self) -> SuiteId {
        match self {
            AnySuite::Sm(s) => s.id(),
            AnySuite::Intl(s) => s.id(),
        }
    }
    fn generate_signing_key(&self) -> Result<SigningKey, CryptoError> {
        match self {
            AnySuite::Sm(s) => s.generate_signing_key(),
            AnySuite::Intl(s) => s.generate_signing_key(),
        }
    }
    fn signing_key_from_pem(&self, pem: &str) -> Result<SigningKey, CryptoError> {
        match self {
            AnySuite::Sm(s) => s.signing_key_from_pem(pem),
            AnySuite::Intl(s) => s.signing_key_from_pem(pem),
        }
    }
    fn verify(&self, key: &PublicKey, msg: &[u8], sig: &Signature) -> Result<(), CryptoError> {
        match self {
            AnySuite::Sm(s) => s.verify(key, msg, sig),
            AnySuite::Intl(s) => s.verify(key, msg, sig),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn suites() -> Vec<AnySuite> {
        vec![AnySuite::with_defaults(SuiteId::Sm), AnySuite::with_defaults(SuiteId::Intl)]
    }

    #[test]
    fn sm3_gbt32905_vectors() {
        let s = SmSuite::default();
        assert_eq!(s.hash(b"abc").to_hex(), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
        let msg = b"abcd".repeat(16);
        assert_eq!(s.hash(&msg).to_hex(), "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
        // Incremental hashing gives the same digest.
        let mut h = s.hasher();
        for chunk in msg.chunks(7) {
            h.update(chunk);
        }
        assert_eq!(h.finalize(), s.hash(&msg));
    }

    #[test]
    fn sha256_fips_vector() {
        assert_eq!(IntlSuite.hash(b"abc").to_hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn sm4_gbt32907_block_vector() {
        use sm4::cipher::{BlockCipherEncrypt, KeyInit as _};
        let key = hex::decode("0123456789abcdeffedcba9876543210").unwrap();
        let cipher = sm4::Sm4::new_from_slice(&key).unwrap();
        let mut block = sm4::cipher::Array::try_from(key.as_slice()).unwrap();
        cipher.encrypt_block(&mut block);
        assert_eq!(hex::encode(block), "681edf34d206965e86b3e94f536e4246");
        // GB/T 32907 Appendix A.2: one million encryptions.
        let mut block = sm4::cipher::Array::try_from(key.as_slice()).unwrap();
        for _ in 0..1_000_000 {
            cipher.encrypt_block(&mut block);
        }
        assert_eq!(hex::encode(block), "595298c7c6fd271f0402f804c33d3f66");
    }

    #[test]
    fn sign_verify_both_suites_and_cross_suite_rejection() {
        let sm = AnySuite::with_defaults(SuiteId::Sm);
        let intl = AnySuite::with_defaults(SuiteId::Intl);
        let ksm = sm.generate_signing_key().unwrap();
        let kin = intl.generate_signing_key().unwrap();
        let m = b"custos";
        let ssm = ksm.sign(m).unwrap();
        let sin = kin.sign(m).unwrap();
        sm.verify(&ksm.public_key(), m, &ssm).unwrap();
        intl.verify(&kin.public_key(), m, &sin).unwrap();
        assert_eq!(sm.verify(&ksm.public_key(), b"other", &ssm), Err(CryptoError::BadSignature { suite: SuiteId::Sm }));
        assert_eq!(
            intl.verify(&kin.public_key(), b"other", &sin),
            Err(CryptoError::BadSignature { suite: SuiteId::Intl })
        );
        assert!(matches!(
            sm.verify(&ksm.public_key(), m, &sin),
            Err(CryptoError::WrongSuite { what: "signature", .. })
        ));
        assert!(matches!(
            intl.verify(&ksm.public_key(), m, &sin),
            Err(CryptoError::WrongSuite { what: "public key", .. })
        ));
    }

    #[test]
    fn sm2_distid_is_bound_into_signatures() {
        let a = SmSuite::new("1234567812345678").unwrap();
        let b = SmSuite::new("custos-test-id").unwrap();
        let k = a.generate_signing_key().unwrap();
        let sig = k.sign(b"m").unwrap();
        a.verify(&k.public_key(), b"m", &sig).unwrap();
        assert!(b.verify(&k.public_key(), b"m", &sig).is_err());
        assert!(SmSuite::new("").is_err());
    }

    #[test]
    fn pkcs8_round_trip() {
        for s in suites() {
            let k = s.generate_signing_key().unwrap();
            let pem = k.to_pkcs8_pem().unwrap();
            let k2 = s.signing_key_from_pem(&pem).unwrap();
            assert_eq!(k.public_key(), k2.public_key());
        }
        let sm_pem = SmSuite::default().generate_signing_key().unwrap().to_pkcs8_pem().unwrap();
        assert!(matches!(IntlSuite.signing_key_from_pem(&sm_pem), Err(CryptoError::WrongSuite { .. })));
        assert!(SmSuite::default().signing_key_from_pem("garbage").is_err());
    }

    #[test]
    fn spki_round_trip() {
        for s in suites() {
            let pk = s.generate_signing_key().unwrap().public_key();
            let der = pk.to_spki_der().unwrap();
            assert_eq!(PublicKey::from_spki_der(&der).unwrap(), pk);
        }
    }

    #[test]
    fn aead_round_trip_and_tamper() {
        for s in suites() {
            let key = s.generate_aead_key().unwrap();
            assert_eq!(key.as_bytes().len(), s.aead_key_len());
            let nonce = [7u8; 12];
            let ct = s.seal(&key, &nonce, b"aad", b"hello").unwrap();
            assert_eq!(ct.len(), 5 + AEAD_TAG_LEN);
            assert_eq!(s.open(&key, &nonce, b"aad", &ct).unwrap(), b"hello");
            let mut bad = ct.clone();
            bad[0] ^= 1;
            assert_eq!(s.open(&key, &nonce, b"aad", &bad), Err(CryptoError::AeadOpen { suite: s.id() }));
            assert!(s.open(&key, &nonce, b"other", &ct).is_err());
            let wrong = AeadKey::from_bytes(&[0u8; 5]);
            assert!(matches!(s.seal(&wrong, &nonce, b"", b""), Err(CryptoError::AeadKeyLength { .. })));
        }
    }

    #[test]
    fn sm4_gcm_rfc8998_vector() {
        // RFC 8998 Appendix A.1 (SM4-GCM test vector).
        let key = AeadKey::from_bytes(&hex::decode("0123456789ABCDEFFEDCBA9876543210").unwrap());
        let nonce: [u8; 12] = hex::decode("00001234567800000000ABCD").unwrap().try_into().unwrap();
        let aad = hex::decode("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2").unwrap();
        let pt = hex::decode(
            "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDDEEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
        )
        .unwrap();
        let ct = SmSuite::default().seal(&key, &nonce, &aad, &pt).unwrap();
        assert_eq!(
            hex::encode_upper(&ct),
            "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D83DE3541E4C2B58177E065A9BF7B62EC"
        );
    }

    #[test]
    fn key_wrap_round_trip() {
        for s in suites() {
            let dk = s.generate_decryption_key().unwrap();
            let ck = s.generate_aead_key().unwrap();
            let w = s.wrap_key(&dk.public_key(), &ck).unwrap();
            assert_eq!(s.unwrap_key(&dk, &w).unwrap().as_bytes(), ck.as_bytes());
            let other = s.generate_decryption_key().unwrap();
            assert!(s.unwrap_key(&other, &w).is_err());
            let mut bad = w.clone();
            let last = bad.len() - 1;
            bad[last] ^= 0x80;
            assert!(s.unwrap_key(&dk, &bad).is_err());
        }
        let sm = AnySuite::with_defaults(SuiteId::Sm);
        let x = IntlSuite.generate_decryption_key().unwrap();
        let ck = sm.generate_aead_key().unwrap();
        assert!(matches!(sm.wrap_key(&x.public_key(), &ck), Err(CryptoError::WrongSuite { .. })));
    }

    /// RFC 8410 §10.3 example X25519 private key.
    const RFC8410_X25519_PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
        MC4CAQAwBQYDK2VuBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
        -----END PRIVATE KEY-----\n";

    fn pem_of(der: &[u8]) -> String {
        der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, der).unwrap()
    }

    #[allow(clippy::panic)]
    fn secret_err(r: Result<DecryptionKey, CryptoError>) -> String {
        match r {
            Err(CryptoError::InvalidSecretKey(m)) => m,
            other => panic!("expected InvalidSecretKey, got {other:?}"),
        }
    }

    #[test]
    fn decryption_key_pkcs8_round_trip_both_suites() {
        for s in suites() {
            let dk = s.generate_decryption_key().unwrap();
            let pem = dk.to_pkcs8_pem().unwrap();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{}", pem.as_str());
            let reloaded = DecryptionKey::from_pkcs8_pem(&pem).unwrap();
            assert_eq!(reloaded.public_key(), dk.public_key());
            assert_eq!(reloaded.public_key().suite(), s.id());
            // The encoding is deterministic.
            assert_eq!(reloaded.to_pkcs8_pem().unwrap().as_str(), pem.as_str());
            // Wrapped to the public key, unwrapped with the reloaded key.
            let ck = s.generate_aead_key().unwrap();
            let w = s.wrap_key(&dk.public_key(), &ck).unwrap();
            assert_eq!(s.unwrap_key(&reloaded, &w).unwrap().as_bytes(), ck.as_bytes());
            // And through the text form of the public key.
            let pk = EncryptionPublicKey::parse(&dk.public_key().to_text()).unwrap();
            let w = s.wrap_key(&pk, &ck).unwrap();
            assert_eq!(s.unwrap_key(&reloaded, &w).unwrap().as_bytes(), ck.as_bytes());
        }
    }

    #[allow(clippy::panic)]
    #[test]
    fn x25519_pkcs8_matches_rfc8410_example() {
        let dk = DecryptionKey::from_pkcs8_pem(RFC8410_X25519_PEM).unwrap();
        // Public key as computed by OpenSSL 3 (`openssl pkey -text`).
        assert_eq!(
            dk.public_key().to_text(),
            "x25519:226ad8f8f62b7b2637247e6b21ffb5723d6330c4d5dd5a8d11e7e7de65c1c501"
        );
        let DecryptionKey::X25519(s) = &dk else { panic!("expected an X25519 key") };
        assert_eq!(hex::encode(s.as_bytes()), "d4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44755842");
        // Our encoding is byte-identical to the RFC's.
        assert_eq!(dk.to_pkcs8_pem().unwrap().as_str(), RFC8410_X25519_PEM);
    }

    #[allow(clippy::panic)]
    #[test]
    fn x25519_pkcs8_v2_public_key_is_checked() {
        let dk = IntlSuite.generate_decryption_key().unwrap();
        let DecryptionKey::X25519(s) = &dk else { panic!("expected an X25519 key") };
        let EncryptionPublicKey::X25519(public) = dk.public_key() else { panic!("expected an X25519 key") };
        let mut inner = vec![0x04, 0x20];
        inner.extend_from_slice(s.as_bytes());
        let encode = |pk: &[u8; 32]| {
            let mut info = pkcs8::PrivateKeyInfoRef::new(
                pkcs8::AlgorithmIdentifierRef { oid: oids::X25519, parameters: None },
                der::asn1::OctetStringRef::new(&inner).unwrap(),
            );
            info.public_key = Some(der::asn1::BitStringRef::from_bytes(pk).unwrap());
            pem_of(&der::Encode::to_der(&info).unwrap())
        };
        let ok = DecryptionKey::from_pkcs8_pem(&encode(&public)).unwrap();
        assert_eq!(ok.public_key(), dk.public_key());
        let mut wrong = public;
        wrong[0] ^= 1;
        let m = secret_err(DecryptionKey::from_pkcs8_pem(&encode(&wrong)));
        assert!(m.contains("does not match"), "{m}");
    }

    #[allow(clippy::panic)]
    #[test]
    fn sm2_signing_key_pem_is_readable_as_decryption_key() {
        // Same PKCS#8 form for both uses of an SM2 key.
        let sk = SmSuite::default().generate_signing_key().unwrap();
        let dk = DecryptionKey::from_pkcs8_pem(&sk.to_pkcs8_pem().unwrap()).unwrap();
        let PublicKey::Sm2(b) = sk.public_key() else { panic!("expected an SM2 key") };
        assert_eq!(dk.public_key(), EncryptionPublicKey::Sm2(b));
        let dk2 = SmSuite::default().generate_decryption_key().unwrap();
        let sk2 = SigningKey::from_pkcs8_pem(&dk2.to_pkcs8_pem().unwrap(), DEFAULT_SM2_DISTID).unwrap();
        let EncryptionPublicKey::Sm2(b2) = dk2.public_key() else { panic!("expected an SM2 key") };
        assert_eq!(sk2.public_key(), PublicKey::Sm2(b2));
    }

    #[test]
    fn decryption_key_pem_refuses_other_algorithms_and_garbage() {
        // An ed25519 signing key.
        let ed = IntlSuite.generate_signing_key().unwrap().to_pkcs8_pem().unwrap();
        let m = secret_err(DecryptionKey::from_pkcs8_pem(&ed));
        assert!(m.contains("ed25519") && m.contains("signing key"), "{m}");
        // Garbage, empty, other PEM labels.
        assert!(secret_err(DecryptionKey::from_pkcs8_pem("garbage")).contains("not a PEM block"));
        assert!(secret_err(DecryptionKey::from_pkcs8_pem("")).contains("not a PEM block"));
        let m = secret_err(DecryptionKey::from_pkcs8_pem(
            &der::pem::encode_string("PUBLIC KEY", der::pem::LineEnding::LF, &[0x30, 0x00]).unwrap(),
        ));
        assert!(m.contains("\"PUBLIC KEY\""), "{m}");
        assert!(secret_err(DecryptionKey::from_pkcs8_pem(&pem_of(b"not DER at all"))).contains("bad PKCS#8"));

        // An EC key on P-256 instead of SM2 (curve OID swapped in an SM2 key: same length).
        let sm2_der =
            pem_rfc7468_decode(&SmSuite::default().generate_decryption_key().unwrap().to_pkcs8_pem().unwrap())
                .unwrap()
                .1;
        let sm2_curve = [0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];
        let p256_curve = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        let at = sm2_der.windows(sm2_curve.len()).position(|w| w == sm2_curve).unwrap();
        let mut p256 = sm2_der.to_vec();
        p256[at..at + p256_curve.len()].copy_from_slice(&p256_curve);
        let m = secret_err(DecryptionKey::from_pkcs8_pem(&pem_of(&p256)));
        assert!(m.contains("expected SM2"), "{m}");

        // X25519 with a 31-byte key, with parameters, or with a bare (not wrapped) key.
        let x_der = pem_rfc7468_decode(RFC8410_X25519_PEM).unwrap().1.to_vec();
        assert_eq!(
            &x_der[..16],
            &[0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]
        );
        let key = &x_der[16..];
        let mut short =
            vec![0x30, 0x2d, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x21, 0x04, 0x1f];
        short.extend_from_slice(&key[..31]);
        assert!(secret_err(DecryptionKey::from_pkcs8_pem(&pem_of(&short))).contains("31 bytes"));
        let mut params = vec![
            0x30, 0x30, 0x02, 0x01, 0x00, 0x30, 0x07, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x05, 0x00, 0x04, 0x22, 0x04, 0x20,
        ];
        params.extend_from_slice(key);
        assert!(secret_err(DecryptionKey::from_pkcs8_pem(&pem_of(&params))).contains("parameters"));
        let mut bare = vec![0x30, 0x2c, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x20];
        bare.extend_from_slice(key);
        assert!(secret_err(DecryptionKey::from_pkcs8_pem(&pem_of(&bare))).contains("CurvePrivateKey"));

        // Every truncation is refused and no corruption panics.
        for s in suites() {
            let der = pem_rfc7468_decode(&s.generate_decryption_key().unwrap().to_pkcs8_pem().unwrap()).unwrap().1;
            for n in 0..der.len() {
                secret_err(DecryptionKey::from_pkcs8_pem(&pem_of(&der[..n])));
            }
            for i in 0..der.len() {
                for bit in [0x01u8, 0x80] {
                    let mut bad = der.to_vec();
                    bad[i] ^= bit;
                    let _ = DecryptionKey::from_pkcs8_pem(&pem_of(&bad));
                }
            }
        }
    }

    #[test]
    fn encryption_public_key_text_round_trip() {
        for s in suites() {
            let pk = s.generate_decryption_key().unwrap().public_key();
            let text = pk.to_text();
            match pk {
                EncryptionPublicKey::Sm2(_) => assert!(text.starts_with("sm2:04") && text.len() == 4 + 130, "{text}"),
                EncryptionPublicKey::X25519(_) => {
                    assert!(text.starts_with("x25519:") && text.len() == 7 + 64, "{text}")
                }
            }
            assert_eq!(pk.to_string(), text);
            assert_eq!(EncryptionPublicKey::parse(&text).unwrap(), pk);
            assert_eq!(EncryptionPublicKey::parse(&format!("  {}\n", text)).unwrap(), pk);
            let (prefix, digits) = text.split_once(':').unwrap();
            assert_eq!(EncryptionPublicKey::parse(&format!("{prefix}:{}", digits.to_uppercase())).unwrap(), pk);
        }
    }

    #[allow(clippy::panic)]
    #[test]
    fn encryption_public_key_parse_refusals() {
        // The SM2 generator (GB/T 32918.5) is a valid point.
        let gx = "32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7";
        let gy = "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0";
        let g = format!("sm2:04{gx}{gy}");
        assert!(matches!(EncryptionPublicKey::parse(&g), Ok(EncryptionPublicKey::Sm2(_))));
        let off_curve = format!("sm2:04{gx}{}1", &gy[..63]);
        let bad = |t: &str, suite: SuiteId, needle: &str| match EncryptionPublicKey::parse(t) {
            Err(CryptoError::InvalidPublicKey { suite: s, reason }) => {
                assert_eq!(s, suite, "{t}: {reason}");
                assert!(reason.contains(needle), "{t}: {reason}");
            }
            other => panic!("{t}: expected InvalidPublicKey, got {other:?}"),
        };
        bad(&off_curve, SuiteId::Sm, "not a point on the SM2 curve");
        bad(&format!("sm2:02{gx}{gy}"), SuiteId::Sm, "uncompressed");
        bad(&format!("sm2:02{gx}"), SuiteId::Sm, "130 hex digits");
        bad(&format!("sm2:04{gx}{}", &gy[..62]), SuiteId::Sm, "130 hex digits");
        bad(&format!("sm2:04{gx}{}zz", &gy[..62]), SuiteId::Sm, "130 hex digits");
        bad(&format!("sm2:04{gx}{gy}00"), SuiteId::Sm, "130 hex digits");
        bad(&format!("sm2:{}", "0".repeat(130)), SuiteId::Sm, "uncompressed");
        let x = "x25519:226ad8f8f62b7b2637247e6b21ffb5723d6330c4d5dd5a8d11e7e7de65c1c501";
        assert!(matches!(EncryptionPublicKey::parse(x), Ok(EncryptionPublicKey::X25519(_))));
        bad(&x[..x.len() - 2], SuiteId::Intl, "64 hex digits");
        bad(&format!("{x}00"), SuiteId::Intl, "64 hex digits");
        bad(&format!("x25519:{}", "0".repeat(64)), SuiteId::Intl, "low-order");
        bad(&format!("x25519:01{}", "0".repeat(62)), SuiteId::Intl, "low-order");
        // Prefix: missing, wrong case, other algorithm, or swapped.
        bad(&x[7..], SuiteId::Intl, "must start with");
        bad(&format!("X25519:{}", &x[7..]), SuiteId::Intl, "must start with");
        bad(&format!("ed25519:{}", &x[7..]), SuiteId::Intl, "must start with");
        bad(&g.replace("sm2:", "SM2:"), SuiteId::Sm, "must start with");
        bad(&g.replace("sm2:", "x25519:"), SuiteId::Intl, "64 hex digits");
        bad(&x.replace("x25519:", "sm2:"), SuiteId::Sm, "130 hex digits");
        bad("", SuiteId::Sm, "must start with");
        bad("sm2", SuiteId::Sm, "must start with");
    }

    #[test]
    fn hmac_known_answer() {
        // RFC 4231 test case 2.
        let h = IntlSuite.hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(h.to_hex(), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        // HMAC-SM3 differs from HMAC-SHA256 and is keyed.
        let sm = SmSuite::default();
        assert_ne!(sm.hmac(b"k1", b"x"), sm.hmac(b"k2", b"x"));
    }

    #[test]
    fn suite_names() {
        assert_eq!("sm".parse::<SuiteId>().unwrap(), SuiteId::Sm);
        assert_eq!("intl".parse::<SuiteId>().unwrap(), SuiteId::Intl);
        assert!("rsa".parse::<SuiteId>().is_err());
    }
}

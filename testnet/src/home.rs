//! An agency "home": the folder a clerk, node or auditor points Custos at (`--home DIR`
//! or `CUSTOS_HOME`). Layout:
//!
//! ```text
//! DIR/profile.toml        who this home is: agency, chain, suite, paths below
//! DIR/genesis.json        the consortium's genesis (a copy)
//! DIR/ca/ca.crt.pem       the agency CA certificate
//! DIR/ca/ca.key.pem       the agency CA key (0600; in production kept offline)
//! DIR/node/node.{crt,key}.pem
//! DIR/node/tls.{crt,key}.pem    the node's TLS transport certificate and ed25519 key (0600)
//! DIR/clerk/clerk.{crt,key}.pem
//! DIR/clerk/tls.{crt,key}.pem   the clerk's TLS transport certificate and ed25519 key (0600)
//! DIR/admin/…, DIR/adapter/…    the same for the agency's admin and its adapter (custos-adapter)
//! ```
//!
//! TLS (the node's gRPC API) always uses ed25519 transport keys, in transport certificates
//! issued by the agency CA (`x509::issue_transport`): rustls has no SM2.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use custos_primitives::crypto::{AnySuite, DecryptionKey, SigningKey, Suite, SuiteId};
use custos_primitives::types::{AgencyId, AgencyRole, ChainId, MemberRole};
use custos_primitives::x509::Certificate;
use serde::{Deserialize, Serialize};

use crate::TestnetError;

/// File name of the profile inside a home.
pub const PROFILE_FILE: &str = "profile.toml";
/// File name of the genesis inside a home and a consortium folder.
pub const GENESIS_FILE: &str = "genesis.json";

/// `profile.toml`: who a home belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The agency.
    pub agency: AgencyId,
    /// Its kind.
    pub role: AgencyRole,
    /// Display name.
    pub name: String,
    /// The network.
    pub chain_id: ChainId,
    /// The network's suite.
    pub suite: SuiteId,
    /// SM2 distinguishing ID.
    pub sm2_distid: String,
    /// Identities in this home, by role, as paths relative to the home.
    pub identities: Vec<IdentityPaths>,
    /// The agency's e-dossier decryption key (PKCS#8 PEM, 0600), relative to the home.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<PathBuf>,
}

/// Where one identity's certificate and key live, relative to the home.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityPaths {
    /// Role of the certificate.
    pub role: MemberRole,
    /// Certificate (PEM).
    pub cert: PathBuf,
    /// Private key (PKCS#8 PEM, 0600).
    pub key: PathBuf,
    /// TLS transport certificate (PEM; ed25519 key, issued by the agency CA), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// TLS transport key (PKCS#8 PEM, ed25519, 0600), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
}

/// A loaded identity: certificate plus signing key.
#[derive(Debug)]
pub struct Identity {
    /// The certificate.
    pub cert: Certificate,
    /// The private key.
    pub key: SigningKey,
}

impl Profile {
    /// Reads `DIR/profile.toml`.
    pub fn load(home: &Path) -> Result<Self, TestnetError> {
        let path = home.join(PROFILE_FILE);
        let text = fs::read_to_string(&path).map_err(|e| TestnetError::io(&path, e))?;
        toml::from_str(&text).map_err(|e| TestnetError::Format { path, reason: e.to_string() })
    }

    /// Writes `DIR/profile.toml` atomically.
    pub fn save(&self, home: &Path) -> Result<(), TestnetError> {
        let text = toml::to_string_pretty(self)
            .map_err(|e| TestnetError::Format { path: home.join(PROFILE_FILE), reason: e.to_string() })?;
        write_atomic(&home.join(PROFILE_FILE), text.as_bytes(), 0o644)
    }

    /// The suite of this home's network.
    pub fn suite(&self) -> Result<AnySuite, TestnetError> {
        AnySuite::new(self.suite, &self.sm2_distid)
            .map_err(|e| TestnetError::Crypto { context: "profile suite".into(), source: e })
    }

    /// Loads the agency's e-dossier decryption key from the home.
    pub fn decryption_key(&self, home: &Path) -> Result<DecryptionKey, TestnetError> {
        let rel = self.encryption_key.as_ref().ok_or_else(|| {
            TestnetError::Invalid(format!(
                "{} has no encryption key (profile.toml has no `encryption_key`): the agency cannot read e-dossiers",
                home.display()
            ))
        })?;
        let path = home.join(rel);
        let pem = fs::read_to_string(&path).map_err(|e| TestnetError::io(&path, e))?;
        DecryptionKey::from_pkcs8_pem(&pem)
            .map_err(|e| TestnetError::Crypto { context: format!("key file {}", path.display()), source: e })
    }

    /// Loads the identity of `role` from the home.
    pub fn identity(&self, home: &Path, role: MemberRole) -> Result<Identity, TestnetError> {
        let paths = self
            .identities
            .iter()
            .find(|i| i.role == role)
            .ok_or_else(|| TestnetError::NoIdentity { home: home.to_path_buf(), role })?;
        let cert = read_cert(&home.join(&paths.cert))?;
        let key = read_key(&home.join(&paths.key), &self.suite()?)?;
        if &key.public_key() != cert.public_key() {
            return Err(TestnetError::KeyMismatch { cert: home.join(&paths.cert), key: home.join(&paths.key) });
        }
        Ok(Identity { cert, key })
    }

    /// Loads the TLS transport identity of `role` from the home: its transport certificate
    /// and ed25519 key (checked to match). The certificate's chain is not verified here (see
    /// `x509::verify_transport`).
    pub fn transport(&self, home: &Path, role: MemberRole) -> Result<Identity, TestnetError> {
        let paths = self
            .identities
            .iter()
            .find(|i| i.role == role)
            .ok_or_else(|| TestnetError::NoIdentity { home: home.to_path_buf(), role })?;
        let (Some(cert_rel), Some(key_rel)) = (&paths.tls_cert, &paths.tls_key) else {
            return Err(TestnetError::Invalid(format!(
                "{}: the {role} identity has no TLS transport certificate and key (tls_cert, tls_key in {PROFILE_FILE})",
                home.display()
            )));
        };
        let (cert_path, key_path) = (home.join(cert_rel), home.join(key_rel));
        let cert = read_cert(&cert_path)?;
        // Transport keys are ed25519 whatever the network's suite.
        let key = read_key(&key_path, &AnySuite::with_defaults(SuiteId::Intl))?;
        if &key.public_key() != cert.public_key() {
            return Err(TestnetError::KeyMismatch { cert: cert_path, key: key_path });
        }
        Ok(Identity { cert, key })
    }
}

/// Reads a PEM certificate file.
pub fn read_cert(path: &Path) -> Result<Certificate, TestnetError> {
    let text = fs::read_to_string(path).map_err(|e| TestnetError::io(path, e))?;
    Certificate::from_pem(&text).map_err(|e| TestnetError::Certificate { path: path.to_path_buf(), source: e })
}

/// Reads a PKCS#8 PEM private key file for `suite`.
pub fn read_key(path: &Path, suite: &AnySuite) -> Result<SigningKey, TestnetError> {
    let text = zeroize::Zeroizing::new(fs::read_to_string(path).map_err(|e| TestnetError::io(path, e))?);
    suite
        .signing_key_from_pem(&text)
        .map_err(|e| TestnetError::Crypto { context: format!("key file {}", path.display()), source: e })
}

/// Writes a private key as PKCS#8 PEM with mode 0600, refusing to overwrite.
pub fn write_key(path: &Path, key: &SigningKey) -> Result<(), TestnetError> {
    if path.exists() {
        return Err(TestnetError::Exists(path.to_path_buf()));
    }
    let pem = key
        .to_pkcs8_pem()
        .map_err(|e| TestnetError::Crypto { context: format!("encoding {}", path.display()), source: e })?;
    write_atomic(path, pem.as_bytes(), 0o600)
}

/// Writes a decryption key as PKCS#8 PEM with mode 0600, refusing to overwrite.
pub fn write_decryption_key(path: &Path, key: &DecryptionKey) -> Result<(), TestnetError> {
    if path.exists() {
        return Err(TestnetError::Exists(path.to_path_buf()));
    }
    let pem = key
        .to_pkcs8_pem()
        .map_err(|e| TestnetError::Crypto { context: format!("encoding {}", path.display()), source: e })?;
    write_atomic(path, pem.as_bytes(), 0o600)
}

/// Writes a certificate as PEM (0644), refusing to overwrite.
pub fn write_cert(path: &Path, der: &[u8]) -> Result<(), TestnetError> {
    if path.exists() {
        return Err(TestnetError::Exists(path.to_path_buf()));
    }
    write_atomic(path, custos_primitives::x509::der_to_pem(der).as_bytes(), 0o644)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, created with
/// `mode`, fsynced, renamed over `path`, then the folder fsynced.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TestnetError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| TestnetError::io(dir, e))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| TestnetError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| TestnetError::io(&tmp, e))?;
    f.sync_all().map_err(|e| TestnetError::io(&tmp, e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| TestnetError::io(path, e))?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| TestnetError::io(dir, e))?;
    Ok(())
}

/// Generates a key for `suite`.
pub fn generate_key(suite: &AnySuite) -> Result<SigningKey, TestnetError> {
    suite.generate_signing_key().map_err(|e| TestnetError::Crypto { context: "key generation".into(), source: e })
}

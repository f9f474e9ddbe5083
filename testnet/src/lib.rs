//! Local multi-agency Custos networks.
//!
//! - [`consortium`]: generates a five-agency consortium (CAs, node and clerk identities,
//!   genesis) and describes an existing one.
//! - [`home`]: an agency home folder (`--home`): profile, identities, key files (0600,
//!   written atomically).
//!
//! - [`net`]: node processes (start, stop, crash).
//! - [`links`]: TCP proxies between the nodes that tests cut and heal (partitions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![warn(missing_docs)]

use std::path::{Path, PathBuf};

use custos_primitives::crypto::CryptoError;
use custos_primitives::genesis::GenesisError;
use custos_primitives::types::MemberRole;
use custos_primitives::x509::X509Error;

pub mod consortium;
pub mod home;
pub mod links;
pub mod net;

/// Errors of consortium generation and home handling. Each names the file or identity.
#[derive(Debug, thiserror::Error)]
pub enum TestnetError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file exists and would be overwritten.
    #[error("{0} already exists; refusing to overwrite it")]
    Exists(PathBuf),
    /// The consortium folder is not empty.
    #[error("{0} is not empty: choose a new folder or remove it first")]
    NotEmpty(PathBuf),
    /// A file's contents are not in the expected format.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A certificate file is unusable.
    #[error("{path}: {source}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// The certificate problem.
        source: X509Error,
    },
    /// A certificate operation failed.
    #[error("{context}: {source}")]
    X509 {
        /// What was being done.
        context: String,
        /// The certificate problem.
        source: X509Error,
    },
    /// A crypto operation failed.
    #[error("{context}: {source}")]
    Crypto {
        /// What was being done.
        context: String,
        /// The crypto problem.
        source: CryptoError,
    },
    /// The genesis is invalid.
    #[error("{path}: {source}")]
    Genesis {
        /// The genesis file.
        path: PathBuf,
        /// The problem.
        source: Box<GenesisError>,
    },
    /// The home has no identity of this role.
    #[error("{home} has no {role} identity (see its profile.toml)")]
    NoIdentity {
        /// The home.
        home: PathBuf,
        /// Role asked for.
        role: MemberRole,
    },
    /// A key file does not belong to its certificate.
    #[error("private key {key} does not match certificate {cert}")]
    KeyMismatch {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
    },
    /// Anything else that is invalid, with its explanation.
    #[error("{0}")]
    Invalid(String),
}

impl TestnetError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        TestnetError::Io { path: path.to_path_buf(), source }
    }
}

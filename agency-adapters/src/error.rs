//! What can go wrong in an adapter, split by what the engine does about it: a record that can
//! never be sent is marked failed with the reason ([`AdapterError::is_permanent`]); anything
//! else (the node is down or busy, the database is unreachable) is retried later.

use std::path::PathBuf;

/// An adapter error.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The configuration file is missing, unreadable or wrong.
    #[error("configuration {path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The agency home (identity, keys, genesis) cannot be used.
    #[error("agency home {home}: {reason}")]
    Home {
        /// The home folder.
        home: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A source record is malformed (unknown type, missing file, bad recipient…): it is marked
    /// failed and never retried.
    #[error("{0}")]
    Record(String),
    /// The ledger refused or failed the record's transaction for good (e.g. the contracts
    /// do not allow this agency to anchor this document type).
    #[error("the ledger refused it: {0}")]
    Rejected(String),
    /// The node cannot be reached or refused for a reason that may pass (busy, unavailable).
    #[error("node {addr}: {reason}")]
    Node {
        /// The node's address.
        addr: String,
        /// What happened.
        reason: String,
    },
    /// A node's answer does not verify or decode.
    #[error("node {addr} answered something invalid: {reason}")]
    BadAnswer {
        /// The node's address.
        addr: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The agency system's database.
    #[error("database: {0}")]
    Database(String),
    /// A local file operation failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Another adapter already works on this state (folder or database).
    #[error("another adapter is running on {0}: stop it first (one adapter per agency system)")]
    Locked(String),
    /// A record with the same key but different content is already spooled (webhook).
    #[error("conflict: {0}")]
    Conflict(String),
    /// An HTTP exchange of the webhook adapter failed (event delivery, document fetch).
    #[error("webhook: {0}")]
    Webhook(String),
    /// The adapter is shutting down.
    #[error("shutting down")]
    Shutdown,
}

impl AdapterError {
    /// Whether retrying cannot help: the record is marked failed with this error as reason.
    pub fn is_permanent(&self) -> bool {
        matches!(self, AdapterError::Record(_) | AdapterError::Rejected(_))
    }

    /// An `Io` error constructor for `map_err`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> AdapterError {
        let path = path.into();
        move |source| AdapterError::Io { op, path, source }
    }
}

impl From<tokio_postgres::Error> for AdapterError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The driver's Display hides the server's message ("db error"); show it.
        match e.as_db_error() {
            Some(db) => AdapterError::Database(format!("{} ({})", db.message(), db.code().code())),
            None => AdapterError::Database(e.to_string()),
        }
    }
}

/// Result with [`AdapterError`].
pub type Result<T, E = AdapterError> = std::result::Result<T, E>;

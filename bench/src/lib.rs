//! Benchmarks of a Custos network, each against a ceiling measured on the same machine in the
//! same run (issue 9). The `custos-bench` binary runs them and writes a JSON result and the
//! Markdown table of `docs/benchmarks.md`.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![warn(missing_docs)]

use std::path::PathBuf;

/// Why a benchmark could not run. Each names what failed and where.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file operation failed.
    #[error("{path}: {reason}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A process could not be started or failed.
    #[error("{what}: {reason}")]
    Process {
        /// The program.
        what: String,
        /// Why.
        reason: String,
    },
    /// The network did not do what the benchmark needs in time.
    #[error("{0}")]
    Network(String),
    /// Anything else, with its explanation.
    #[error("{0}")]
    Other(String),
}

/// Result alias of this crate.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

pub mod engine;

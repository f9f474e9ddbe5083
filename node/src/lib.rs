//! The Custos node daemon: configuration, RocksDB storage, the mempool, the consensus engine
//! (Malachite, through `custos-consensus`), the app loop that builds, validates and commits
//! blocks, and Prometheus metrics.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![warn(missing_docs)]

pub mod api;
pub mod app;
#[cfg(feature = "byzantine")]
pub mod byzantine;
pub mod checks;
pub mod config;
pub mod dossier;
pub mod evidence;
pub mod gossip;
pub mod grpc;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod store;
pub mod supervise;
pub mod synthetic;
pub mod visibility;

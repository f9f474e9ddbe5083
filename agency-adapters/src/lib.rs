//! Agency adapters: checkpointed, idempotent sync between an agency's own case system and its
//! Custos node (architecture.md §2).
//!
//! An adapter is one long-running process (`custos-adapter run --config FILE`) with two
//! stages. The **outbound** stage ([`outbound`]) turns the agency system's records into
//! e-dossiers anchored on the ledger, exactly once per record key (agency, source id, version),
//! across crashes and retries. The **inbound** stage ([`inbound`]) delivers what the ledger
//! addresses to the agency (documents, receipts, grants, supervision findings) into the agency
//! system, once each, from a checkpoint. Sources and sinks: a PostgreSQL outbox/inbox
//! ([`postgres`]), a watched folder ([`folder`]) and an HTTP webhook ([`webhook`]).
//! [`reconcile`] compares a source with the ledger.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![warn(missing_docs)]

pub mod client;
pub mod config;
pub mod error;
pub mod folder;
pub mod inbound;
pub mod metrics;
pub mod outbound;
pub mod postgres;
pub mod reconcile;
pub mod record;
pub mod run;
pub mod submit;
pub mod webhook;

pub use config::Config;
pub use error::{AdapterError, Result};

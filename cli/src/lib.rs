//! The `custos` command's library: sessions with a node over mutual TLS and the verified read
//! views (status, case, document, supervision, evidence) as data. The `custos` binary prints
//! them as text or JSON; the web console (`custos-console`) renders the same views as HTML, so
//! both show the same proof-checked state.
//!
//! Errors are `anyhow` with context: every caller of this library is a binary that shows the
//! message to a person.

pub mod cases;
pub mod dossier;
pub mod evidence;
pub mod ledger;
pub mod sign_in;
pub mod supervise;

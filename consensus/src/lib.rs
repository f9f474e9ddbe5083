//! BFT integration: the Custos [`context::CustosContext`] for the Malachite engine, consensus
//! signing for both suites (SM2 with SM3-ZA, ed25519), and the SCALE codec for every message
//! the engine sends, syncs or writes to its WAL.
//!
//! Nothing outside this crate names a Malachite type.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![warn(missing_docs)]

pub mod block;
pub mod codec;
pub mod context;
pub mod engine;
pub mod misbehaviour;
pub mod signing;

pub use context::{Address, BlockId, CustosContext, Height, Proposal, ProposalPart, Validator, ValidatorSet, Vote};

//! Custos primitives: what every other crate stands on.
//!
//! - [`crypto`]: the two crypto suites (`sm`: SM2/SM3/SM4; `intl`: ed25519/SHA-256/AES-256-GCM)
//!   behind one [`crypto::Suite`] trait.
//! - [`codec`]: bounded, fully-consuming SCALE decoding of untrusted bytes.
//! - [`types`]: ids, document hashes, case references, transactions, block headers, commit
//!   certificates (SCALE, frozen by golden vectors).
//! - [`merkle`]: a domain-separated binary Merkle tree with inclusion proofs.
//! - [`x509`]: agency CAs and member certificates (SM2 and ed25519), chain verification.
//! - [`genesis`]: the consortium's genesis description and its canonical hash.
//!
//! Nothing here does I/O; callers read and write files.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![warn(missing_docs)]

pub mod block;
pub mod codec;
pub mod crypto;
pub mod genesis;
pub mod merkle;
pub mod types;
pub mod x509;

pub use crypto::{AnySuite, Hash, PublicKey, Signature, SigningKey, Suite, SuiteId};

//! The deterministic state machine ("runtime") every node runs on each block.
//!
//! This first version carries what the node needs to run: member registration (a member
//! certificate chained to an agency CA of the registry), document anchors and delivery receipts, with envelope
//! checks (chain, expiry, signer, signature, nonce). The full registry with revocation, receipts,
//! the case workflow, supervision and governance, and the authenticated state (a Jellyfish
//! Merkle tree with inclusion and exclusion proofs) come with the contracts issue; until then
//! the state commitment is a hash chain over each block's ordered write set.
//!
//! No I/O, no clock, no randomness: the same block on the same state gives the same result on
//! every node.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![warn(missing_docs)]

pub mod call;
pub mod runtime;
pub mod state;

pub use call::{AnchorCall, Call, DocType, ReceiptCall, RegisterMemberCall, SignedTx};
pub use runtime::{BlockOutcome, CallError, Runtime, StateRead, TxError};
pub use state::{StateError, StateProof};

//! The deterministic state machine ("runtime") every node runs on each block.
//!
//! Organised like FRAME pallets, in plain Rust with SCALE: per module its storage, a documented
//! error enum and its calls (stable indices in [`call::Call`]):
//! - [`registry`]: agencies, nodes, members, revocation;
//! - [`documents`]: anchors, delivery receipts, the history of documents and cases;
//! - [`workflow`]: the case lifecycle and who may anchor which document when;
//! - [`governance`]: k-of-n agency approval of registry and parameter changes;
//! - [`calendar`]: the holiday calendar and deadline counting (start day excluded, rest-day
//!   extension, working days);
//! - [`runtime`]: envelope checks, dispatch, block execution, queries;
//! - [`visibility`]: which agencies are parties to a case or a document, and which state keys
//!   are a case's or a document's (for the node's read rules).
//!
//! No I/O, no clock, no randomness: the same block on the same state gives the same result on
//! every node.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![warn(missing_docs)]

pub mod calendar;
pub mod call;
pub mod documents;
pub mod evidence;
pub mod governance;
pub mod registry;
pub mod runtime;
pub mod state;
pub mod supervision;
pub mod visibility;
pub mod workflow;

pub use call::{
    AnchorCall, BusinessDates, Call, Date, DocType, ReceiptCall, RegisterMemberCall, SignedTx, SubjectKind,
};
pub use runtime::{BlockOutcome, CallError, Event, Runtime, StateRead, TxError};
pub use state::{StateError, StateProof};

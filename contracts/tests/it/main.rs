//! The runtime on a generated five-agency consortium: registry, documents, the case workflow,
//! governance and the frozen wire format. Every block of every test is followed by the state
//! invariant checks of [`support::check_invariants`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod documents;
mod evidence;
mod golden;
mod governance;
mod registry;
mod supervision;
mod support;
mod visibility;
mod workflow;

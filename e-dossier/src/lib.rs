//! Off-chain encrypted document store and node-to-node exchange.
//!
//! This crate is a shell: later issues fill it (see docs/ARCHITECTURE.md).

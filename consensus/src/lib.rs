//! BFT integration: the Custos Context for Malachite, SM2/ed25519 signing schemes, the app loop.
//!
//! This crate is a shell: later issues fill it (see docs/ARCHITECTURE.md).

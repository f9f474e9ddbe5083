//! The Custos node daemon: storage, mempool, networking, consensus, gRPC API, metrics.
//!
//! This crate is a shell: later issues fill it (see docs/ARCHITECTURE.md).

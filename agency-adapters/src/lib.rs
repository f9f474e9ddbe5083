//! Checkpointed, idempotent sync between agency systems and their node.
//!
//! This crate is a shell: later issues fill it (see docs/ARCHITECTURE.md).

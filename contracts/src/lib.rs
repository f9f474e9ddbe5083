//! The deterministic state machine: registry, anchors, case workflow, supervision, governance.
//!
//! This crate is a shell: later issues fill it (see docs/ARCHITECTURE.md).

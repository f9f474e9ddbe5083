//! Integration tests of `custos-dossier` (one test binary).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod golden;
mod large;
mod manifest_sig;
mod proptests;
mod recipients;
mod resume;
mod roundtrip;
mod support;
mod tamper;

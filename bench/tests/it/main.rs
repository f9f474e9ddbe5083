//! Integration tests of the benchmark harness: a CI-sized run of every benchmark on real
//! five-node networks of the real binaries (the harness cannot rot), asserting what was done,
//! never how fast.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

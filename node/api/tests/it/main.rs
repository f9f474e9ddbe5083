//! Integration tests of `custos-api`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
mod tls;

//! Integration tests of `custos-primitives`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod codec_bad;
mod golden;
mod openssl;
mod proptests;
mod support;
mod x509_bad;

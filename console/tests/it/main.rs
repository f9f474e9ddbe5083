//! The console on a five-node network, driven in headless Chromium (Debian's `chromium` and
//! `chromium-driver`, installed by scripts/install-deps.sh; a missing browser fails loudly).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;
mod support;

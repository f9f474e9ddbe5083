//! The fuzz targets on stable Rust, without cargo-fuzz: the committed corpus and the
//! regression inputs replayed through every entry point, a short seeded mutation loop per
//! target, and the generators of the fixture and the seed corpus (ignored; run by hand).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod generate;
mod mutation;
mod replay;
mod support;

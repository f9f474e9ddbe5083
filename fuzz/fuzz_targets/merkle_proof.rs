#![no_main]
//! `cargo fuzz run merkle_proof`: see `custos_fuzz_targets::merkle_proof`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| custos_fuzz_targets::merkle_proof(data));

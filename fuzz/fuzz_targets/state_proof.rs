#![no_main]
//! `cargo fuzz run state_proof`: see `custos_fuzz_targets::state_proof`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| custos_fuzz_targets::state_proof(data));

#![no_main]
//! `cargo fuzz run manifest`: see `custos_fuzz_targets::manifest`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| custos_fuzz_targets::manifest(data));

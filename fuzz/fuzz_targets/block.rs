#![no_main]
//! `cargo fuzz run block`: see `custos_fuzz_targets::block`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| custos_fuzz_targets::block(data));

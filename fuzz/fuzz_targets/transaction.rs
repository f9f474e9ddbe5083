#![no_main]
//! `cargo fuzz run transaction`: see `custos_fuzz_targets::transaction`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| custos_fuzz_targets::transaction(data));

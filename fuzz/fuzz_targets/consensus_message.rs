#![no_main]
//! `cargo fuzz run consensus_message`: see `custos_fuzz_targets::consensus_message`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| custos_fuzz_targets::consensus_message(data));

#![no_main]
//! `cargo fuzz run evidence_bundle`: see `custos_fuzz_targets::evidence_bundle`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| custos_fuzz_targets::evidence_bundle(data));

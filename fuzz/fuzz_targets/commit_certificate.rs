#![no_main]
//! `cargo fuzz run commit_certificate`: see `custos_fuzz_targets::commit_certificate`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| custos_fuzz_targets::commit_certificate(data));

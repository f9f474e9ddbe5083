#![no_main]
//! `cargo fuzz run x509_certificate`: see `custos_fuzz_targets::x509_certificate`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| custos_fuzz_targets::x509_certificate(data));

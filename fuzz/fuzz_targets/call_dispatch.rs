#![no_main]
//! `cargo fuzz run call_dispatch`: see `custos_fuzz_targets::call_dispatch`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| custos_fuzz_targets::call_dispatch(data));

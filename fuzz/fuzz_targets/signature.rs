//! libFuzzer entry of `hookline_fuzz::signature` (see `fuzz/README.md`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hookline_fuzz::signature::run(data));

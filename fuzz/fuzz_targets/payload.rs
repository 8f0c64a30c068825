//! libFuzzer entry of `hookline_fuzz::payload` (see `fuzz/README.md`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hookline_fuzz::payload::run(data));

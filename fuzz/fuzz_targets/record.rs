//! libFuzzer entry of `hookline_fuzz::record` (see `fuzz/README.md`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hookline_fuzz::record::run(data));

//! libFuzzer entry of `hookline_fuzz::timestamp` (see `fuzz/README.md`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hookline_fuzz::timestamp::run(data));

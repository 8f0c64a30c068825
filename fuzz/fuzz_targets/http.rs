//! libFuzzer entry of `hookline_fuzz::http` (see `fuzz/README.md`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hookline_fuzz::http::run(data));

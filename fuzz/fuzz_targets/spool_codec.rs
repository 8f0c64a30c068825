//! libFuzzer entry of `hookline_fuzz::spool_codec` (see `fuzz/README.md`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hookline_fuzz::spool_codec::run(data));

//! cargo-fuzz target `toml`: [`havip::fuzzing::toml`] on the fuzzer's bytes (docs/fuzzing.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| havip::fuzzing::toml(data));

//! cargo-fuzz target `cli`: [`havip::fuzzing::cli`] on the fuzzer's bytes (docs/fuzzing.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| havip::fuzzing::cli(data));

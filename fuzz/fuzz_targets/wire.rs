//! cargo-fuzz target `wire`: [`havip::fuzzing::wire`] on the fuzzer's bytes (docs/fuzzing.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| havip::fuzzing::wire(data));

//! cargo-fuzz target `keepalived_conf`: [`havip::fuzzing::keepalived_conf`] on the fuzzer's bytes (docs/fuzzing.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| havip::fuzzing::keepalived_conf(data));

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rectify_server::fuzzing::wire_decode(data));

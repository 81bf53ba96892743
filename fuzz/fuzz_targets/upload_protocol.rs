#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rectify_server::fuzzing::upload_protocol(data));

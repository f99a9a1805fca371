//! Fuzz target: see tlsautopsy::fuzzing::capture_reader for the input format and the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlsautopsy::fuzzing::capture_reader(data));

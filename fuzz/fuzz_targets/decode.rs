//! Fuzz target: see tlsautopsy::fuzzing::decode for the input format and the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlsautopsy::fuzzing::decode(data));

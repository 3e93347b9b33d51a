//! Every service parser on the same input.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    _core::services::fuzzing::all(data);
});

//! The "x509" parser family of src/services (see services::fuzzing::TARGETS).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assert!(_core::services::fuzzing::run("x509", data));
});

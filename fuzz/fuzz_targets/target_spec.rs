//! Target, exclusion and scope parsing (see targets::fuzzing): first byte the options, then the
//! include, exclude and scope lists, one per line, items separated by tabs.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    _core::targets::fuzzing::target_spec(data);
});

//! Port specification parsing (see ports::fuzzing): the spec, then the exclude list on the
//! next line, for TCP, UDP and both.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    _core::ports::fuzzing::port_spec(data);
});

//! SMB/NetBIOS and RDP/X.224 replies.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assert!(_core::services::fuzzing::run("smb", data));
    assert!(_core::services::fuzzing::run("rdp", data));
});

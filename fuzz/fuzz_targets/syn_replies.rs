//! The SYN receiver's parsers (probe::syn::packet), fed what a raw socket may deliver: any bytes,
//! read as an IPv4 packet (TCP or ICMP inside), an IPv6 TCP segment and an ICMPv6 message, as
//! `Shared::on_tcp`/`on_icmp` chain them. None may panic, and what they accept is well formed.
#![no_main]
use _core::probe::syn::packet::{icmp4, icmp6, ipv4, tcp};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let check = |seg: &[u8]| {
        if tcp(seg).is_some() {
            let offset = usize::from(seg[12] >> 4) * 4;
            assert!((20..=seg.len()).contains(&offset), "a TCP header must fit its data offset");
        }
    };
    check(data);
    let _ = icmp6(data);
    if let Some((_, proto, payload)) = ipv4(data) {
        let ihl = usize::from(data[0] & 0x0f) * 4;
        assert!(ihl >= 20 && payload.len() == data.len() - ihl);
        match proto {
            6 => check(payload),
            1 => {
                let _ = icmp4(payload);
            }
            _ => {}
        }
    }
});

//! STUN (RFC 5389): a Binding request; the success response echoes the magic cookie.
use super::registry::{Protocol, UdpProbe};

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "stun",
    names: &["stun"],
    udp: Some(UdpProbe {
        ports: &[3478],
        request: |_| binding(),
        parse: |_, d, _| d.len() >= 20 && d[..2] == [0x01, 0x01] && d[4..8] == [0x21, 0x12, 0xa4, 0x42],
        also: None,
        followup: None,
    }),
    ..Protocol::EMPTY
};

fn binding() -> Vec<u8> {
    let mut p = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    p.extend_from_slice(b"portlensprob");
    p
}

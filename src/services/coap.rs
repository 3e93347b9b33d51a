//! CoAP (RFC 7252): a confirmable GET of /.well-known/core; the reply is an ACK with our message id.
use super::registry::{Protocol, UdpProbe};

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "coap",
    names: &["coap"],
    udp: Some(UdpProbe {
        ports: &[5683],
        request: |_| {
            vec![
                0x40, 0x01, 0x7d, 0x34, 0xbb, b'.', b'w', b'e', b'l', b'l', b'-', b'k', b'n', b'o', b'w', b'n', 0x04,
                b'c', b'o', b'r', b'e',
            ]
        },
        parse: |_, d, _| d.len() >= 4 && d[0] >> 6 == 1 && d[2..4] == [0x7d, 0x34],
        also: None,
        followup: None,
    }),
    ..Protocol::EMPTY
};

//! NAT-PMP (RFC 6886): an external address request; the reply is opcode 128.
use super::registry::{Protocol, UdpProbe};

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "natpmp",
    names: &["nat-pmp"],
    udp: Some(UdpProbe {
        ports: &[5351],
        request: |_| vec![0x00, 0x00],
        parse: |_, d, _| d.len() >= 8 && d[..2] == [0, 128],
        also: None,
        followup: None,
    }),
    ..Protocol::EMPTY
};

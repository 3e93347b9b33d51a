//! Ubiquiti device discovery (v1): a four-byte request; devices answer with a TLV list.
use super::registry::{Protocol, UdpProbe};

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "ubiquiti",
    names: &["ubiquiti"],
    udp: Some(UdpProbe {
        ports: &[10001],
        request: |_| vec![0x01, 0x00, 0x00, 0x00],
        parse: |_, d, _| d.len() >= 4 && d[0] == 0x01 && d[1] == 0x00,
        also: None,
        followup: None,
    }),
    ..Protocol::EMPTY
};

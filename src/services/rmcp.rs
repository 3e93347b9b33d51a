//! RMCP / ASF (IPMI's transport, DSP0136): a presence ping; BMCs answer a presence pong.
use super::registry::{Protocol, UdpProbe};

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "rmcp",
    names: &["asf-rmcp"],
    udp: Some(UdpProbe {
        ports: &[623],
        request: |_| vec![0x06, 0x00, 0xff, 0x06, 0x00, 0x00, 0x11, 0xbe, 0x80, 0x00, 0x00, 0x00],
        parse: |_, d, _| d.len() >= 12 && d[0] == 0x06 && d[8] == 0x40,
        also: None,
        followup: None,
    }),
    ..Protocol::EMPTY
};

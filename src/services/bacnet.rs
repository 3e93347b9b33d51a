//! BACnet/IP (ASHRAE 135 Annex J): a Who-Is broadcast; devices answer I-Am in a BVLC frame.
use super::registry::{Protocol, UdpProbe};

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "bacnet",
    names: &["bacnet"],
    udp: Some(UdpProbe {
        ports: &[47808],
        request: |_| vec![0x81, 0x0b, 0x00, 0x0c, 0x01, 0x20, 0xff, 0xff, 0x00, 0xff, 0x10, 0x08],
        parse: |_, d, _| d.first() == Some(&0x81) && d.len() >= 4,
        also: None,
        followup: None,
    }),
    ..Protocol::EMPTY
};

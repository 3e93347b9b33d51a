//! The simple services (echo, daytime, qotd, chargen, time: RFC 862-868): any datagram is answered.
use super::registry::{Protocol, UdpProbe};

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "simple",
    udp: Some(UdpProbe {
        ports: &[7, 13, 17, 19, 37],
        request: |_| b"\r\n".to_vec(),
        // a reply names nothing by itself: only the port does
        parse: |_, _, _| false,
        also: None,
        followup: None,
    }),
    ..Protocol::EMPTY
};

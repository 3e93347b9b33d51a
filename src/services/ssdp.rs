//! SSDP (UPnP discovery): an M-SEARCH for everything; the Server header names the device.
use super::registry::{Protocol, UdpProbe};
use super::udp::header;

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "ssdp",
    names: &["ssdp"],
    udp: Some(UdpProbe {
        ports: &[1900],
        request: |_| {
            b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n"
                .to_vec()
        },
        parse: |_, d, info| {
            info.product = header(d, "server");
            d.starts_with(b"HTTP/1.1 200")
        },
        also: None,
        followup: None,
    }),
    ..Protocol::EMPTY
};

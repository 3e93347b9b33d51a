//! SIP (RFC 3261): OPTIONS; the Server or User-Agent header names the product.
use super::registry::{Protocol, UdpProbe};
use super::udp::header;

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "sip",
    names: &["sip"],
    udp: Some(UdpProbe {
        ports: &[5060],
        request: |_| options(),
        parse: |_, d, info| {
            if !d.starts_with(b"SIP/2.0") {
                return false;
            }
            info.product = header(d, "server").or_else(|| header(d, "user-agent"));
            true
        },
        also: None,
        followup: None,
    }),
    ..Protocol::EMPTY
};

fn options() -> Vec<u8> {
    b"OPTIONS sip:portlens@scan SIP/2.0\r\nVia: SIP/2.0/UDP scan:5060;branch=z9hG4bK-portlens\r\nMax-Forwards: 70\r\n\
      To: <sip:portlens@scan>\r\nFrom: <sip:portlens@scan>;tag=portlens\r\nCall-ID: portlens-probe\r\nCSeq: 1 OPTIONS\r\n\
      Accept: application/sdp\r\nContent-Length: 0\r\n\r\n"
        .to_vec()
}

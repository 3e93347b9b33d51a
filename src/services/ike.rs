//! IKEv1 (RFC 2409): a Main Mode SA proposal; NAT-T (4500) puts a non-ESP marker first.
use super::registry::{Protocol, UdpProbe};

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "ike",
    names: &["isakmp"],
    udp: Some(UdpProbe {
        ports: &[500, 4500],
        request: |port| main_mode(port == 4500),
        // the responder echoes our initiator cookie
        parse: |_, d, _| d.windows(COOKIE.len()).take(5).any(|w| w == COOKIE),
        also: None,
        followup: None,
    }),
    ..Protocol::EMPTY
};

const COOKIE: [u8; 8] = [0x70, 0x6f, 0x72, 0x74, 0x6c, 0x65, 0x6e, 0x73];

fn be16(v: u16) -> [u8; 2] {
    v.to_be_bytes()
}

fn main_mode(nat_t: bool) -> Vec<u8> {
    let attrs: [u8; 28] = [
        0x80, 0x01, 0x00, 0x05, // encryption 3DES
        0x80, 0x02, 0x00, 0x02, // hash SHA1
        0x80, 0x03, 0x00, 0x01, // pre-shared key
        0x80, 0x04, 0x00, 0x02, // MODP 1024
        0x80, 0x0b, 0x00, 0x01, // life type seconds
        0x00, 0x0c, 0x00, 0x04, // life duration, 4 bytes:
        0x00, 0x00, 0x70, 0x80,
    ];
    let mut transform = vec![0, 0];
    transform.extend_from_slice(&be16((8 + attrs.len()) as u16));
    transform.extend_from_slice(&[1, 1, 0, 0]);
    transform.extend_from_slice(&attrs);
    let mut proposal = vec![0, 0];
    proposal.extend_from_slice(&be16((8 + transform.len()) as u16));
    proposal.extend_from_slice(&[1, 1, 0, 1]);
    proposal.extend_from_slice(&transform);
    let mut sa = vec![0, 0];
    sa.extend_from_slice(&be16((12 + proposal.len()) as u16));
    sa.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
    sa.extend_from_slice(&proposal);
    let mut p = Vec::new();
    if nat_t {
        p.extend_from_slice(&[0, 0, 0, 0]); // non-ESP marker
    }
    p.extend_from_slice(&COOKIE); // initiator cookie
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(&[1, 0x10, 2, 0, 0, 0, 0, 0]);
    p.extend_from_slice(&(28 + sa.len() as u32).to_be_bytes());
    p.extend_from_slice(&sa);
    p
}

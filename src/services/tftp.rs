//! TFTP (RFC 1350): a read request for a file that should not exist; a server answers DATA or an
//! ERROR packet (from another port, by design).
use super::registry::{Protocol, UdpProbe};
use super::udp::printable;
use super::ServiceInfo;

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "tftp",
    names: &["tftp"],
    udp: Some(UdpProbe { ports: &[69], request: |_| read_request(), parse: |_, d, info| reply(d, info), also: None, followup: None }),
    ..Protocol::EMPTY
};

fn read_request() -> Vec<u8> {
    let mut p = vec![0, 1];
    p.extend_from_slice(b"portlens-probe.txt\0octet\0");
    p
}

fn reply(data: &[u8], info: &mut ServiceInfo) -> bool {
    info.name = Some("tftp".into());
    let opcode = data.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    info.extrainfo = match opcode {
        Some(3) => Some("read request answered with data".into()),
        Some(5) => {
            Some(format!("error: {}", printable(data.get(4..).unwrap_or_default(), 64).trim_end_matches("\\x00")))
        }
        _ => None,
    };
    info.extrainfo.is_some()
}

//! DNP3 (IEEE 1815) link layer: "request link status"; an outstation answers with a link
//! status frame whose header CRC checks out.
use super::{Hit, Probe};
use super::registry::Protocol;

pub const PROBE: Probe =
    Probe { name: "dnp3", ports: &[(20000, 20000)], request: |_| request(), done: |d| d.len() >= 10, parse };

/// CRC-16/DNP (polynomial 0x3D65, reflected, inverted).
pub fn crc(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xa6bc } else { crc >> 1 };
        }
    }
    !crc
}

pub fn request() -> Vec<u8> {
    // start, length 5, control: DIR|PRM|request link status, destination 1, source 1024
    let mut f = vec![0x05, 0x64, 5, 0xc9, 1, 0, 0x00, 0x04];
    let c = crc(&f);
    f.extend_from_slice(&c.to_le_bytes());
    f
}

fn parse(d: &[u8]) -> Option<Hit> {
    let head = d.get(..8)?;
    if head[0] != 0x05 || head[1] != 0x64 || head[2] < 5 {
        return None;
    }
    (d.get(8..10)? == crc(head).to_le_bytes()).then(|| Hit::new("dnp3", 10))
}

pub(crate) const PROTOCOL: Protocol = Protocol { name: "dnp3", names: &["dnp3"], probes: &[PROBE], ..Protocol::EMPTY };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_dnp() {
        // check value of CRC-16/DNP over "123456789"
        assert_eq!(crc(b"123456789"), 0xea82);
        assert!(parse(&request()).is_some());
    }
}

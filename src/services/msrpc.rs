//! Microsoft RPC (DCE/RPC 1.1 connection-oriented): a bind to the endpoint mapper interface.
use super::text;
use super::{Hit, Probe};
use super::registry::Protocol;

pub const PROBE: Probe = Probe { name: "msrpc", ports: &[(135, 135), (593, 593)], request: |_| bind(), done, parse };

/// Endpoint mapper e1af8308-5d1f-11c9-91a4-08002b14a0fa v3.0, NDR 8a885d04-1ceb-11c9-9fe8-08002b104860 v2.
const EPM: [u8; 16] = [0x08, 0x83, 0xaf, 0xe1, 0x1f, 0x5d, 0xc9, 0x11, 0x91, 0xa4, 0x08, 0x00, 0x2b, 0x14, 0xa0, 0xfa];
const NDR: [u8; 16] = [0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60];

pub fn bind() -> Vec<u8> {
    let mut p = vec![5, 0, 11, 3, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
    p.extend_from_slice(&4280u16.to_le_bytes());
    p.extend_from_slice(&4280u16.to_le_bytes());
    p.extend_from_slice(&0u32.to_le_bytes());
    p.extend_from_slice(&[1, 0, 0, 0]); // one context item
    p.extend_from_slice(&[0, 0, 1, 0]); // context id 0, one transfer syntax
    p.extend_from_slice(&EPM);
    p.extend_from_slice(&[3, 0, 0, 0]);
    p.extend_from_slice(&NDR);
    p.extend_from_slice(&[2, 0, 0, 0]);
    let len = p.len() as u16;
    p[8..10].copy_from_slice(&len.to_le_bytes());
    p
}

fn done(d: &[u8]) -> bool {
    text::le16(d, 8).is_some_and(|n| d.len() >= usize::from(n))
}

fn parse(d: &[u8]) -> Option<Hit> {
    let frag = usize::from(text::le16(d, 8)?);
    if d.first() != Some(&5)
        || d.get(1) != Some(&0)
        || !matches!(d.get(2), Some(12 | 13))
        || frag < 16
        || frag > d.len()
    {
        return None;
    }
    (text::le32(d, 12)? == 1).then(|| Hit::new("msrpc", 10))
}

pub(crate) const PROTOCOL: Protocol = Protocol { name: "msrpc", names: &["msrpc"], probes: &[PROBE], ..Protocol::EMPTY };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_ack() {
        let b = bind();
        assert!(done(&b));
        let mut ack = b.clone();
        ack[2] = 12;
        assert!(parse(&ack).is_some());
        assert!(parse(&b).is_none());
    }
}

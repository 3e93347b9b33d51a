//! Industrial protocols, read-only requests: Modbus/TCP "Read Device Identification"
//! (function 43/14) and Siemens S7 ISO-on-TCP connection request (COTP CR with TSAPs).
use super::text;
use super::{Hit, Probe};
use super::registry::Protocol;

pub const MODBUS_PROBE: Probe = Probe {
    name: "modbus",
    ports: &[(502, 502)],
    request: |_| MODBUS_REQUEST.to_vec(),
    done: modbus_done,
    parse: parse_modbus,
};

pub const S7_PROBE: Probe = Probe {
    name: "s7",
    ports: &[(102, 102)],
    request: |_| S7_REQUEST.to_vec(),
    done: super::rdp::tpkt_done,
    parse: parse_s7,
};

const MODBUS_REQUEST: [u8; 11] = [0x13, 0x37, 0, 0, 0, 5, 0, 0x2b, 0x0e, 0x01, 0x00];

const S7_REQUEST: [u8; 22] = [3, 0, 0, 22, 17, 0xe0, 0, 0, 0, 1, 0, 0xc0, 1, 0x0a, 0xc1, 2, 1, 0, 0xc2, 2, 1, 2];

fn modbus_done(d: &[u8]) -> bool {
    text::be16(d, 4).is_some_and(|n| d.len() >= 6 + usize::from(n))
}

/// (vendor, product code, revision) when the device reported them, else empty strings.
pub fn modbus_reply(d: &[u8]) -> Option<Vec<(u8, String)>> {
    if text::be16(d, 0)? != 0x1337 || text::be16(d, 2)? != 0 {
        return None;
    }
    let len = usize::from(text::be16(d, 4)?);
    if !(3..=253).contains(&len) || d.len() < 6 + len {
        return None;
    }
    let pdu = &d[7..6 + len];
    match *pdu.first()? {
        0xab => Some(Vec::new()),
        0x2b if *pdu.get(1)? == 0x0e => {
            let count = usize::from(*pdu.get(6)?);
            let mut at = 7;
            let mut objs = Vec::new();
            for _ in 0..count.min(16) {
                let id = *pdu.get(at)?;
                let n = usize::from(*pdu.get(at + 1)?);
                objs.push((id, text::lossy(pdu.get(at + 2..at + 2 + n)?, 100)));
                at += 2 + n;
            }
            Some(objs)
        }
        _ => None,
    }
}

fn parse_modbus(d: &[u8]) -> Option<Hit> {
    let objs = modbus_reply(d)?;
    let get = |i: u8| objs.iter().find(|(id, _)| *id == i).map(|(_, v)| v.clone());
    let hit = Hit::new("modbus", 10);
    Some(match (get(0), get(1)) {
        (Some(v), p) => {
            let mut h = hit.product(v, get(2));
            h.extrainfo = p.map(|p| format!("product code {p}"));
            h
        }
        _ => hit,
    })
}

/// A COTP Connection Confirm that carries TSAP parameters (what an S7 PLC sends back).
fn parse_s7(d: &[u8]) -> Option<Hit> {
    let len = usize::from(text::be16(d, 2)?);
    if d.first() != Some(&3) || len < 11 || len > d.len() || *d.get(5)? & 0xf0 != 0xd0 {
        return None;
    }
    let params = &d[11..len];
    let mut at = 0;
    let mut tsap = false;
    while let (Some(&code), Some(&n)) = (params.get(at), params.get(at + 1)) {
        tsap |= matches!(code, 0xc1 | 0xc2);
        at += 2 + usize::from(n);
    }
    tsap.then(|| Hit::new("s7", 7))
}

pub(crate) const PROTOCOL: Protocol =
    Protocol { name: "s7modbus", names: &["modbus", "s7"], probes: &[MODBUS_PROBE, S7_PROBE], ..Protocol::EMPTY };

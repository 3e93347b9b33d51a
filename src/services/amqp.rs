//! AMQP 0-9-1: the protocol header; the broker answers Connection.Start with its properties, or
//! its own protocol header when it speaks another version.
use super::text;
use super::{Hit, Probe};
use super::registry::Protocol;

pub const PROBE: Probe =
    Probe { name: "amqp", ports: &[(5671, 5672)], request: |_| b"AMQP\x00\x00\x09\x01".to_vec(), done, parse };

fn done(d: &[u8]) -> bool {
    d.starts_with(b"AMQP") && d.len() >= 8 || text::be32(d, 3).is_some_and(|n| d.len() >= 8 + n as usize || n > 1 << 20)
}

/// Connection.Start server properties ("product", "version", ...).
pub fn start_properties(d: &[u8]) -> Option<Vec<(String, String)>> {
    if *d.first()? != 1 || text::be16(d, 1)? != 0 {
        return None;
    }
    let size = text::be32(d, 3)? as usize;
    let payload = d.get(7..7 + size)?;
    if *d.get(7 + size)? != 0xce || text::be16(payload, 0)? != 10 || text::be16(payload, 2)? != 10 {
        return None;
    }
    let tlen = text::be32(payload, 6)? as usize;
    let table = payload.get(10..10 + tlen)?;
    let mut out = Vec::new();
    let mut at = 0;
    while at < table.len() && out.len() < 64 {
        let klen = usize::from(*table.get(at)?);
        let key = text::lossy(table.get(at + 1..at + 1 + klen)?, 64);
        at += 1 + klen;
        let kind = *table.get(at)?;
        at += 1;
        match kind {
            b'S' | b'x' | b'F' | b'A' => {
                let n = text::be32(table, at)? as usize;
                let v = table.get(at + 4..at + 4 + n)?;
                if kind == b'S' {
                    out.push((key, text::lossy(v, 100)));
                }
                at += 4 + n;
            }
            b't' | b'b' | b'B' => at += 1,
            b's' | b'u' => at += 2,
            b'I' | b'i' | b'f' => at += 4,
            b'l' | b'L' | b'd' | b'T' => at += 8,
            b'D' => at += 5,
            b'V' => {}
            _ => break,
        }
    }
    Some(out)
}

fn parse(d: &[u8]) -> Option<Hit> {
    if let Some(v) = d.strip_prefix(b"AMQP") {
        let v = v.get(..4)?;
        let mut hit = Hit::new("amqp", 9);
        hit.extrainfo = Some(format!("protocol {}-{}-{}", v[1], v[2], v[3]));
        return Some(hit);
    }
    let props = start_properties(d)?;
    let get = |k: &str| props.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let hit = Hit::new("amqp", 10);
    Some(match get("product") {
        Some(p) => hit.product(p, get("version")),
        None => hit,
    })
}

pub(crate) const PROTOCOL: Protocol = Protocol { name: "amqp", names: &["amqp"], probes: &[PROBE], ..Protocol::EMPTY };

//! Microsoft SQL Server (MS-TDS 2.2.6.5): a PRELOGIN packet; the reply carries the version.
use super::text;
use super::{Hit, Probe};
use super::registry::{Protocol, UdpProbe};

pub const PROBE: Probe = Probe { name: "mssql", ports: &[(1433, 1434)], request: |_| prelogin(), done, parse };

pub fn prelogin() -> Vec<u8> {
    // (token, data): VERSION, ENCRYPTION (off), INSTOPT, THREADID, MARS
    let opts: [(u8, &[u8]); 5] = [(0, &[0, 0, 0, 0, 0, 0]), (1, &[0]), (2, &[0]), (3, &[0, 0, 0, 0]), (4, &[0])];
    let mut head = Vec::new();
    let mut data = Vec::new();
    let base = opts.len() * 5 + 1;
    for (token, d) in opts {
        head.push(token);
        head.extend_from_slice(&((base + data.len()) as u16).to_be_bytes());
        head.extend_from_slice(&(d.len() as u16).to_be_bytes());
        data.extend_from_slice(d);
    }
    head.push(0xff);
    head.extend_from_slice(&data);
    let mut out = vec![0x12, 0x01];
    out.extend_from_slice(&((head.len() + 8) as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&head);
    out
}

fn done(d: &[u8]) -> bool {
    text::be16(d, 2).is_some_and(|n| d.len() >= usize::from(n))
}

/// (major, minor, build, encryption) from a PRELOGIN response.
pub fn response(d: &[u8]) -> Option<(u8, u8, u16, Option<u8>)> {
    if *d.first()? != 0x04 {
        return None;
    }
    let len = usize::from(text::be16(d, 2)?);
    if len < 9 || len > d.len() {
        return None;
    }
    let p = &d[8..len];
    let mut at = 0;
    let (mut version, mut enc) = (None, None);
    for _ in 0..16 {
        let token = *p.get(at)?;
        if token == 0xff {
            break;
        }
        let off = usize::from(text::be16(p, at + 1)?);
        let n = usize::from(text::be16(p, at + 3)?);
        let data = p.get(off..off + n)?;
        match (token, n) {
            (0, 6) => version = Some((data[0], data[1], u16::from_be_bytes([data[2], data[3]]))),
            (1, 1) => enc = Some(data[0]),
            (0, _) => return None,
            _ => {}
        }
        at += 5;
    }
    let (a, b, c) = version?;
    Some((a, b, c, enc))
}

fn parse(d: &[u8]) -> Option<Hit> {
    let (major, minor, build, enc) = response(d)?;
    let mut hit = Hit::new("mssql", 10).product("Microsoft SQL Server", Some(format!("{major}.{minor}.{build}")));
    hit.extrainfo = enc.map(|e| {
        format!(
            "encryption: {}",
            match e {
                0 => "off",
                1 => "on",
                2 => "not supported",
                3 => "required",
                _ => "other",
            }
        )
    });
    Some(hit)
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "mssql",
    names: &["mssql"],
    probes: &[PROBE],
    // SQL Server Resolution Protocol: CLNT_BCAST_EX
    udp: Some(UdpProbe { ports: &[1434], request: |_| vec![0x02], parse: |_, d, _| d.first() == Some(&0x05), also: None, followup: None }),
    ..Protocol::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let mut r = prelogin();
        r[0] = 0x04;
        r[8 + 26..8 + 32].copy_from_slice(&[15, 0, 0x07, 0xd0, 0, 0]);
        assert_eq!(response(&r), Some((15, 0, 2000, Some(0))));
        assert_eq!(parse(&r).unwrap().version.as_deref(), Some("15.0.2000"));
    }
}

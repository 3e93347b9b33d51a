//! MySQL / MariaDB: the server-first handshake packet (protocol 10) or an error packet.
use super::text;
use super::Hit;
use super::registry::Protocol;

/// Total length of the first packet once its 4-byte header is in.
pub fn handshake_len(d: &[u8]) -> Option<usize> {
    let len = usize::from(*d.first()?) | usize::from(*d.get(1)?) << 8 | usize::from(*d.get(2)?) << 16;
    (*d.get(3)? == 0 && (8..=1024).contains(&len)).then_some(4 + len)
}

pub fn parse_handshake(d: &[u8]) -> Option<Hit> {
    let end = handshake_len(d)?;
    let payload = d.get(4..end)?;
    match payload.first()? {
        0x0a => {
            let nul = payload.iter().position(|&b| b == 0)?;
            let version = payload.get(1..nul)?;
            // thread id (4), auth seed (8), filler (1), capabilities (2) must follow
            if version.is_empty() || version.len() > 80 || !text::is_text(version) || payload.len() < nul + 16 {
                return None;
            }
            if *payload.get(nul + 13)? != 0 {
                return None;
            }
            let v = String::from_utf8_lossy(version).into_owned();
            Some(Hit::new("mysql", 10).field("version", v))
        }
        0xff => {
            let code = text::le16(payload, 1)?;
            let msg = payload.get(3..)?;
            let msg = msg.strip_prefix(b"#").map_or(msg, |m| m.get(5..).unwrap_or_default());
            if !(1000..5000).contains(&code) || msg.len() < 8 || !text::is_text(msg) {
                return None;
            }
            let m = String::from_utf8_lossy(msg).into_owned();
            let product = if m.contains("MariaDB") { "MariaDB" } else { "MySQL" };
            let mut hit = Hit::new("mysql", 8).product(product, None);
            hit.extrainfo = Some(format!("error {code}: {m}"));
            Some(hit)
        }
        _ => None,
    }
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "mysql",
    names: &["mysql"],
    banners: &[parse_handshake],
    banner_done: Some(|d| handshake_len(d).is_some_and(|n| d.len() >= n)),
    banner_ports: &[3306],
    ..Protocol::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake() {
        let mut p = vec![0x0a];
        p.extend_from_slice(b"5.5.5-10.11.6-MariaDB-0+deb12u1\0");
        p.extend_from_slice(&[1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0xff, 0xf7, 8, 2, 0]);
        let mut d = vec![p.len() as u8, 0, 0, 0];
        d.extend_from_slice(&p);
        let h = parse_handshake(&d).unwrap();
        assert_eq!(h.fields[0].1, "5.5.5-10.11.6-MariaDB-0+deb12u1");
        let e = b"\x45\x00\x00\x00\xff\x6a\x04Host '198.18.12.1' is not allowed to connect to this MariaDB server";
        assert_eq!(parse_handshake(e).unwrap().product.as_deref(), Some("MariaDB"));
    }
}

//! SSH (RFC 4253): the identification string, then the server's KEXINIT algorithm lists.
use super::conn::{Conn, CAP};
use super::text;
use super::{Check, Ctx, Hit};
use super::registry::Protocol;

const CLIENT_IDENT: &[u8] = b"SSH-2.0-portlens\r\n";
const MSG_KEXINIT: u8 = 20;

/// The identification line ("SSH-2.0-OpenSSH_9.2p1 Debian-2"); servers may send other lines first.
pub fn ident_line(data: &[u8]) -> Option<(&[u8], usize)> {
    let mut at = 0;
    for _ in 0..8 {
        let rest = data.get(at..)?;
        let end = rest.iter().position(|&b| b == b'\n')?;
        let line = &rest[..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b"SSH-") {
            return Some((line, at + end + 1));
        }
        at += end + 1;
    }
    None
}

pub fn parse_banner(data: &[u8]) -> Option<Hit> {
    let (line, _) = ident_line(data)?;
    if line.len() > 255 || !text::is_text(line) {
        return None;
    }
    let s = String::from_utf8_lossy(line).into_owned();
    let mut parts = s.splitn(3, '-');
    let (_, proto, software) = (parts.next()?, parts.next()?, parts.next()?);
    if !matches!(proto, "1.5" | "1.99" | "2.0") || software.is_empty() {
        return None;
    }
    let (product, version) = match software.split_once(' ').map_or(software, |(a, _)| a).split_once('_') {
        Some((p, v)) => (p.to_string(), Some(v.to_string())),
        None => (software.split(' ').next().unwrap_or(software).to_string(), None),
    };
    let mut hit = Hit::new("ssh", 10)
        .product(product, version)
        .field("banner", s.clone())
        .field("software", software.to_string());
    hit.extrainfo = Some(format!("protocol {proto}"));
    Some(hit)
}

/// The server's algorithm lists.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct KexInit {
    pub kex: Vec<String>,
    pub hostkey: Vec<String>,
    pub ciphers: Vec<String>,
    pub macs: Vec<String>,
    pub compression: Vec<String>,
}

/// Total length of the first binary packet after the identification line, once its header is in.
pub fn packet_end(data: &[u8]) -> Option<usize> {
    let (_, start) = ident_line(data)?;
    let len = text::be32(data, start)? as usize;
    Some(start + 4 + len.min(1 << 20))
}

/// Parse the KEXINIT packet that follows the identification line.
pub fn parse_kexinit(data: &[u8]) -> Option<KexInit> {
    let (_, start) = ident_line(data)?;
    parse_kexinit_packet(data.get(start..)?)
}

pub fn parse_kexinit_packet(pkt: &[u8]) -> Option<KexInit> {
    let len = text::be32(pkt, 0)? as usize;
    if !(16..=35_000).contains(&len) {
        return None;
    }
    let body = pkt.get(4..4 + len)?;
    let pad = usize::from(*body.first()?);
    let payload = body.get(1..len.checked_sub(pad)?)?;
    if *payload.first()? != MSG_KEXINIT {
        return None;
    }
    let mut at = 17; // message id + 16-byte cookie
    let mut lists = Vec::with_capacity(10);
    for _ in 0..10 {
        let n = text::be32(payload, at)? as usize;
        let raw = payload.get(at + 4..at + 4 + n)?;
        if !text::is_text(raw) {
            return None;
        }
        lists.push(
            String::from_utf8_lossy(raw).split(',').filter(|s| !s.is_empty()).map(str::to_string).collect::<Vec<_>>(),
        );
        at += 4 + n;
    }
    let mut it = lists.into_iter();
    let kex = it.next()?;
    let hostkey = it.next()?;
    let (c1, c2, m1, m2, z1) = (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
    Some(KexInit { kex, hostkey, ciphers: union(c1, c2), macs: union(m1, m2), compression: z1 })
}

fn union(mut a: Vec<String>, b: Vec<String>) -> Vec<String> {
    for x in b {
        if !a.contains(&x) {
            a.push(x);
        }
    }
    a
}

pub fn weak_kex(k: &str) -> bool {
    matches!(k, "diffie-hellman-group1-sha1" | "diffie-hellman-group-exchange-sha1" | "diffie-hellman-group14-sha1")
        || k.starts_with("gss-group1-sha1")
        || k == "rsa1024-sha1"
}

pub fn weak_cipher(c: &str) -> bool {
    c.contains("-cbc")
        || c.starts_with("arcfour")
        || c.starts_with("3des")
        || c.starts_with("blowfish")
        || c.starts_with("cast128")
        || c.starts_with("des")
        || c == "none"
}

pub fn weak_mac(m: &str) -> bool {
    m.starts_with("hmac-md5") || m.contains("-96") || m.starts_with("umac-32") || m == "none"
}

pub fn weak_hostkey(h: &str) -> bool {
    h == "ssh-dss"
}

/// The weak algorithms offered, by list.
pub fn weaknesses(k: &KexInit) -> Vec<(&'static str, Vec<String>)> {
    let pick = |v: &[String], f: fn(&str) -> bool| v.iter().filter(|a| f(a)).cloned().collect::<Vec<_>>();
    [
        ("kex", pick(&k.kex, weak_kex)),
        ("ciphers", pick(&k.ciphers, weak_cipher)),
        ("macs", pick(&k.macs, weak_mac)),
        ("hostkey", pick(&k.hostkey, weak_hostkey)),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .collect()
}

pub async fn followup(ctx: &Ctx<'_>, mut conn: Conn) {
    const ID: &str = "ssh-weak-algorithms";
    const TITLE: &str = "SSH server offers weak key exchange, cipher, MAC or host key algorithms";
    if !conn.send(CLIENT_IDENT).await {
        ctx.check(Check::new(ID, None, TITLE).with("reason", "connection closed before KEXINIT"));
        return;
    }
    let data = conn.read_framed(ctx.check_wait(), CAP * 4, packet_end).await;
    let Some(k) = parse_kexinit(data) else {
        ctx.check(Check::new(ID, None, TITLE).with("reason", "no KEXINIT received"));
        return;
    };
    let weak = weaknesses(&k);
    let mut check = Check::new(ID, Some(!weak.is_empty()), TITLE);
    for (list, algs) in &weak {
        check = check.with(list, algs.join(","));
    }
    check = check.with("offered_kex", k.kex.join(",")).with("offered_ciphers", k.ciphers.join(","));
    check = check.with("offered_macs", k.macs.join(",")).with("offered_hostkey", k.hostkey.join(","));
    ctx.check(check);
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "ssh",
    names: &["ssh"],
    banners: &[parse_banner],
    banner_ports: &[22, 2222],
    followup: Some(|ctx, _, conn| Box::pin(followup(ctx, conn))),
    ..Protocol::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    pub fn kexinit(lists: [&str; 10]) -> Vec<u8> {
        let mut payload = vec![MSG_KEXINIT];
        payload.extend_from_slice(&[7u8; 16]);
        for l in lists {
            payload.extend_from_slice(&(l.len() as u32).to_be_bytes());
            payload.extend_from_slice(l.as_bytes());
        }
        payload.extend_from_slice(&[0, 0, 0, 0, 0]);
        let pad = 8 - (payload.len() + 5) % 8 + 4;
        let mut pkt = ((payload.len() + pad + 1) as u32).to_be_bytes().to_vec();
        pkt.push(pad as u8);
        pkt.extend_from_slice(&payload);
        pkt.extend(std::iter::repeat_n(0u8, pad));
        pkt
    }

    #[test]
    fn banner_and_kexinit() {
        let mut data = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".to_vec();
        let h = parse_banner(&data).unwrap();
        assert_eq!((h.name, h.product.as_deref(), h.version.as_deref()), ("ssh", Some("OpenSSH"), Some("9.2p1")));
        data.extend(kexinit([
            "curve25519-sha256,diffie-hellman-group1-sha1",
            "ssh-ed25519",
            "aes128-ctr,aes128-cbc",
            "aes128-ctr",
            "hmac-sha2-256,hmac-md5",
            "hmac-sha2-256",
            "none",
            "none",
            "",
            "",
        ]));
        assert_eq!(packet_end(&data), Some(data.len()));
        let k = parse_kexinit(&data).unwrap();
        let w = weaknesses(&k);
        assert_eq!(w[0], ("kex", vec!["diffie-hellman-group1-sha1".to_string()]));
        assert_eq!(w[1], ("ciphers", vec!["aes128-cbc".to_string()]));
        assert_eq!(w[2], ("macs", vec!["hmac-md5".to_string()]));
        assert!(parse_banner(b"SSH-2.0-").is_none());
        assert!(parse_banner(b"SSH-3.0-x\r\n").is_none());
    }
}

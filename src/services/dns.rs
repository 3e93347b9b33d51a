//! DNS (RFC 1035): a `version.bind` CHAOS TXT query with recursion desired. Most servers answer it
//! locally (BIND and dnsmasq with their version), and the reply's RA flag says whether the server
//! recurses for us. mDNS (5353) gets the one-shot service list query.
use super::registry::{Protocol, UdpProbe};
use super::text;
use super::udp::{check, printable};
use super::{Hit, Probe, ServiceInfo};

/// The same query over TCP (RFC 7766), behind its two-byte length.
pub const TCP_PROBE: Probe = Probe {
    name: "domain",
    ports: &[(53, 53)],
    request: |_| {
        let q = query(false);
        [&(q.len() as u16).to_be_bytes()[..], &q].concat()
    },
    done: |d| text::be16(d, 0).is_some_and(|n| d.len() >= 2 + usize::from(n)),
    parse: parse_tcp,
};

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "dns",
    names: &["domain"],
    probes: &[TCP_PROBE],
    udp: Some(UdpProbe {
        ports: &[53, 5353],
        request: |port| query(port == 5353),
        // mDNS replies are named by their port only
        parse: |port, d, info| port == 5353 || reply(d, info),
        also: None,
        followup: None,
    }),
    ..Protocol::EMPTY
};

/// The query id of our requests.
const ID: [u8; 2] = [0x70, 0x6c];

pub(crate) fn query(mdns: bool) -> Vec<u8> {
    let mut q = Vec::with_capacity(40);
    if mdns {
        // one-shot mDNS query for the service list, PTR _services._dns-sd._udp.local
        q.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        for label in ["_services", "_dns-sd", "_udp", "local"] {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 12, 0, 1]);
    } else {
        // version.bind CH TXT with recursion desired
        q.extend_from_slice(&[ID[0], ID[1], 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        for label in ["version", "bind"] {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 16, 0, 3]);
    }
    q
}

/// Fill `info` from a reply to [`query`]; true when it is a DNS response to it.
pub(crate) fn reply(data: &[u8], info: &mut ServiceInfo) -> bool {
    info.name = Some("domain".into());
    if data.len() < 12 || data[2] & 0x80 == 0 {
        info.conf = 5;
        return false;
    }
    let ra = data[3] & 0x80 != 0;
    let rcode = data[3] & 0x0f;
    info.extrainfo = Some(format!("rcode {rcode}{}", if ra { ", recursion available" } else { "" }));
    // version.bind TXT answer, when given
    if let Some(txt) = first_txt(data) {
        let (product, version, extrainfo) = product_version(&printable(&txt, 64));
        info.product = product.map(str::to_string);
        info.version = Some(version);
        if let Some(e) = extrainfo {
            info.extrainfo = Some(format!("{e}; {}", info.extrainfo.take().unwrap_or_default()));
        }
    }
    info.checks.push(check(
        "dns-open-resolver",
        ra && rcode != 5,
        "DNS server offers recursion (open resolver: amplification, cache poisoning)",
        &[("recursion_available", ra.to_string()), ("rcode", rcode.to_string())],
    ));
    data[..2] == ID
}

/// A reply over TCP to our query: same id, a response, opcode QUERY.
fn parse_tcp(d: &[u8]) -> Option<Hit> {
    let n = usize::from(text::be16(d, 0)?);
    let m = d.get(2..2 + n)?;
    if m.len() < 12 || m[..2] != ID || m[2] & 0xf8 != 0x80 || text::be16(m, 4)? > 1 {
        return None;
    }
    let mut hit = Hit::new("domain", 10);
    if let Some(txt) = first_txt(m) {
        let (product, version, extrainfo) = product_version(&printable(&txt, 64));
        hit.product = product.map(str::to_string);
        hit.version = Some(version);
        hit.extrainfo = extrainfo.map(str::to_string);
    }
    Some(hit)
}

/// Product, version and extra info from a `version.bind` text: "dnsmasq-2.90" is dnsmasq 2.90,
/// "9.18.49-1~deb12u3-Debian" ISC BIND 9.18.49-1~deb12u3 on Debian, "unbound 1.17.1" Unbound.
pub(crate) fn product_version(txt: &str) -> (Option<&'static str>, String, Option<&'static str>) {
    if let Some(v) = txt.strip_prefix("dnsmasq-") {
        return (Some("dnsmasq"), v.to_string(), None);
    }
    if let Some(v) = txt.strip_prefix("unbound ") {
        return (Some("Unbound"), v.to_string(), None);
    }
    // BIND 9 says its version, with the distribution's suffix when built by one.
    let bind = txt.strip_prefix("9.").is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()));
    if bind {
        for (suffix, os) in [("-Debian", "Debian Linux"), ("-Ubuntu", "Ubuntu Linux"), ("-RedHat", "Red Hat Linux")] {
            if let Some(v) = txt.strip_suffix(suffix) {
                return (Some("ISC BIND"), v.to_string(), Some(os));
            }
        }
        return (Some("ISC BIND"), txt.to_string(), None);
    }
    (None, txt.to_string(), None)
}

fn skip_name(data: &[u8], mut i: usize) -> Option<usize> {
    for _ in 0..128 {
        let len = *data.get(i)? as usize;
        if len == 0 {
            return Some(i + 1);
        }
        if len & 0xc0 == 0xc0 {
            return Some(i + 2);
        }
        i += 1 + len;
    }
    None
}

pub(crate) fn first_txt(data: &[u8]) -> Option<Vec<u8>> {
    let ancount = u16::from_be_bytes([*data.get(6)?, *data.get(7)?]);
    if ancount == 0 {
        return None;
    }
    let mut i = skip_name(data, 12)? + 4; // question name, type, class
    i = skip_name(data, i)?;
    let rtype = u16::from_be_bytes([*data.get(i)?, *data.get(i + 1)?]);
    let rdlen = u16::from_be_bytes([*data.get(i + 8)?, *data.get(i + 9)?]) as usize;
    let rdata = data.get(i + 10..i + 10 + rdlen)?;
    if rtype != 16 {
        return None;
    }
    let n = *rdata.first()? as usize;
    rdata.get(1..1 + n).map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_bind_texts() {
        assert_eq!(product_version("dnsmasq-2.90"), (Some("dnsmasq"), "2.90".into(), None));
        assert_eq!(
            product_version("9.18.49-1~deb12u3-Debian"),
            (Some("ISC BIND"), "9.18.49-1~deb12u3".into(), Some("Debian Linux"))
        );
        assert_eq!(product_version("unbound 1.17.1"), (Some("Unbound"), "1.17.1".into(), None));
        assert_eq!(product_version("none of your business"), (None, "none of your business".into(), None));
    }

    #[test]
    fn tcp_reply() {
        // the query turned into an answer: QR, one TXT record "dnsmasq-2.90" pointing at the question
        let mut m = query(false);
        m[2] = 0x85;
        m[7] = 1;
        m.extend_from_slice(&[0xc0, 12, 0, 16, 0, 3, 0, 0, 0, 0, 0, 13, 12]);
        m.extend_from_slice(b"dnsmasq-2.90");
        let framed = [&(m.len() as u16).to_be_bytes()[..], &m].concat();
        assert!((TCP_PROBE.done)(&framed));
        let hit = parse_tcp(&framed).unwrap();
        assert_eq!((hit.name, hit.product.as_deref(), hit.version.as_deref()), ("domain", Some("dnsmasq"), Some("2.90")));
        assert!(parse_tcp(&framed[..framed.len() - 1]).is_none());
        assert!(parse_tcp(&[&[0u8, 30][..], &query(false)].concat()).is_none()); // a query, not an answer
    }
}

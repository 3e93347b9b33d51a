//! DNS (RFC 1035): a `version.bind` CHAOS TXT query with recursion desired. Most servers answer it
//! locally (BIND and dnsmasq with their version), and the reply's RA flag says whether the server
//! recurses for us. mDNS (5353) gets the one-shot service list query.
use super::registry::{Protocol, UdpProbe};
use super::udp::{check, printable};
use super::ServiceInfo;

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "dns",
    names: &["domain"],
    udp: Some(UdpProbe {
        ports: &[53, 5353],
        request: |port| query(port == 5353),
        // mDNS replies are named by their port only
        parse: |port, d, info| port == 5353 || reply(d, info),
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
        info.version = Some(printable(&txt, 64));
    }
    info.checks.push(check(
        "dns-open-resolver",
        ra && rcode != 5,
        "DNS server offers recursion (open resolver: amplification, cache poisoning)",
        &[("recursion_available", ra.to_string()), ("rcode", rcode.to_string())],
    ));
    data[..2] == ID
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

//! UDP payloads, written from the protocol specifications (never from nmap's payload file), and
//! the parsers that turn replies into service facts. Parsers take untrusted bytes: every read is
//! bounds-checked and nothing panics.
use crate::services::{Check, ServiceInfo};
use std::collections::BTreeMap;

/// The datagram to send to a UDP port: the service's own request where we know one, else empty
/// (a closed port still answers with ICMP; an open one may stay silent).
pub fn payload(port: u16) -> Vec<u8> {
    match port {
        53 | 5353 => dns_query(port == 5353),
        123 => ntp_client(),
        161 => snmp_get_sysdescr(b"public"),
        137 => netbios_nbstat(),
        1900 => b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n".to_vec(),
        11211 => memcached_stats(),
        69 => tftp_read_request(),
        500 | 4500 => ike_main_mode(port == 4500),
        5060 => sip_options(),
        389 => cldap_rootdse(),
        47808 => vec![0x81, 0x0b, 0x00, 0x0c, 0x01, 0x20, 0xff, 0xff, 0x00, 0xff, 0x10, 0x08], // BACnet Who-Is
        111 => rpc_null_call(100_000, 2),
        2049 => rpc_null_call(100_003, 3),
        1434 => vec![0x02], // SQL Server Resolution Protocol: CLNT_BCAST_EX
        5351 => vec![0x00, 0x00], // NAT-PMP external address request
        3478 => stun_binding(),
        5683 => vec![0x40, 0x01, 0x7d, 0x34, 0xbb, b'.', b'w', b'e', b'l', b'l', b'-', b'k', b'n', b'o', b'w', b'n', 0x04, b'c', b'o', b'r', b'e'],
        10001 => vec![0x01, 0x00, 0x00, 0x00], // Ubiquiti discovery
        623 => vec![0x06, 0x00, 0xff, 0x06, 0x00, 0x00, 0x11, 0xbe, 0x80, 0x00, 0x00, 0x00], // RMCP presence ping
        7 | 13 | 17 | 19 | 37 => b"\r\n".to_vec(),
        _ => Vec::new(),
    }
}

fn be16(v: u16) -> [u8; 2] {
    v.to_be_bytes()
}

fn dns_query(mdns: bool) -> Vec<u8> {
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
        // version.bind CH TXT with recursion desired: answered locally by most servers, and the
        // reply's RA flag says whether the server recurses for us.
        q.extend_from_slice(&[0x70, 0x6c, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        for label in ["version", "bind"] {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 16, 0, 3]);
    }
    q
}

fn ntp_client() -> Vec<u8> {
    let mut p = vec![0u8; 48];
    p[0] = 0x23; // LI 0, version 4, mode 3 (client)
    p
}

/// NTP mode 7 MON_GETLIST_1 (implementation 3, request 42): the amplification check.
pub fn ntp_monlist() -> Vec<u8> {
    let mut p = vec![0u8; 48];
    p[0] = 0x17; // response 0, more 0, version 2, mode 7
    p[2] = 0x03; // implementation XNTPD
    p[3] = 0x2a; // request code MON_GETLIST_1
    p
}

fn ber(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[0x81, n as u8]);
    } else {
        out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

const SYS_DESCR: [u8; 8] = [0x2b, 6, 1, 2, 1, 1, 1, 0]; // 1.3.6.1.2.1.1.1.0

fn snmp_get_sysdescr(community: &[u8]) -> Vec<u8> {
    let varbind = ber(0x30, &[ber(0x06, &SYS_DESCR), vec![0x05, 0x00]].concat());
    let pdu = ber(0xa0, &[ber(0x02, &[0x50, 0x4c]), ber(0x02, &[0]), ber(0x02, &[0]), ber(0x30, &varbind)].concat());
    ber(0x30, &[ber(0x02, &[1]), ber(0x04, community), pdu].concat()) // version 1 = v2c
}

fn netbios_nbstat() -> Vec<u8> {
    let mut p = vec![0x50, 0x4c, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x20];
    // "*" padded with NULs, first-level encoded: 'C' 'K' then "AA" pairs
    p.extend_from_slice(b"CK");
    p.extend(std::iter::repeat_n(b'A', 30));
    p.extend_from_slice(&[0, 0, 0x21, 0, 1]);
    p
}

fn memcached_stats() -> Vec<u8> {
    // UDP frame header: request id, sequence 0, 1 datagram, reserved
    let mut p = vec![0x50, 0x4c, 0, 0, 0, 1, 0, 0];
    p.extend_from_slice(b"stats\r\n");
    p
}

fn tftp_read_request() -> Vec<u8> {
    // RRQ for a file that should not exist: a server answers DATA or an ERROR packet.
    let mut p = vec![0, 1];
    p.extend_from_slice(b"portlens-probe.txt\0octet\0");
    p
}

fn ike_main_mode(nat_t: bool) -> Vec<u8> {
    let attrs: [u8; 28] = [
        0x80, 0x01, 0x00, 0x05, // encryption 3DES
        0x80, 0x02, 0x00, 0x02, // hash SHA1
        0x80, 0x03, 0x00, 0x01, // pre-shared key
        0x80, 0x04, 0x00, 0x02, // MODP 1024
        0x80, 0x0b, 0x00, 0x01, // life type seconds
        0x00, 0x0c, 0x00, 0x04, // life duration, 4 bytes:
        0x00, 0x00, 0x70, 0x80,
    ];
    let mut transform = vec![0, 0];
    transform.extend_from_slice(&be16((8 + attrs.len()) as u16));
    transform.extend_from_slice(&[1, 1, 0, 0]);
    transform.extend_from_slice(&attrs);
    let mut proposal = vec![0, 0];
    proposal.extend_from_slice(&be16((8 + transform.len()) as u16));
    proposal.extend_from_slice(&[1, 1, 0, 1]);
    proposal.extend_from_slice(&transform);
    let mut sa = vec![0, 0];
    sa.extend_from_slice(&be16((12 + proposal.len()) as u16));
    sa.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
    sa.extend_from_slice(&proposal);
    let mut p = Vec::new();
    if nat_t {
        p.extend_from_slice(&[0, 0, 0, 0]); // non-ESP marker
    }
    p.extend_from_slice(&[0x70, 0x6f, 0x72, 0x74, 0x6c, 0x65, 0x6e, 0x73]); // initiator cookie
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(&[1, 0x10, 2, 0, 0, 0, 0, 0]);
    p.extend_from_slice(&(28 + sa.len() as u32).to_be_bytes());
    p.extend_from_slice(&sa);
    p
}

fn sip_options() -> Vec<u8> {
    b"OPTIONS sip:portlens@scan SIP/2.0\r\nVia: SIP/2.0/UDP scan:5060;branch=z9hG4bK-portlens\r\nMax-Forwards: 70\r\n\
      To: <sip:portlens@scan>\r\nFrom: <sip:portlens@scan>;tag=portlens\r\nCall-ID: portlens-probe\r\nCSeq: 1 OPTIONS\r\n\
      Accept: application/sdp\r\nContent-Length: 0\r\n\r\n"
        .to_vec()
}

fn cldap_rootdse() -> Vec<u8> {
    let filter = ber(0x87, b"objectClass"); // present filter
    let search = ber(
        0x63,
        &[
            ber(0x04, b""),
            ber(0x0a, &[0]),
            ber(0x0a, &[0]),
            ber(0x02, &[0]),
            ber(0x02, &[0]),
            ber(0x01, &[0]),
            filter,
            ber(0x30, &[]),
        ]
        .concat(),
    );
    ber(0x30, &[ber(0x02, &[1]), search].concat())
}

fn rpc_null_call(program: u32, version: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(40);
    for w in [0x706c_0001u32, 0, 2, program, version, 0, 0, 0, 0, 0] {
        p.extend_from_slice(&w.to_be_bytes());
    }
    p
}

fn stun_binding() -> Vec<u8> {
    let mut p = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    p.extend_from_slice(b"portlensprob");
    p
}

// ------------------------------------------------------------------------------------------------
// Replies

fn printable(data: &[u8], cap: usize) -> String {
    let mut s = String::new();
    for &b in data.iter().take(cap) {
        if (0x20..0x7f).contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

fn check(id: &str, vulnerable: bool, title: &str, evidence: &[(&str, String)]) -> Check {
    Check {
        id: id.into(),
        outcome: if vulnerable { "vulnerable" } else { "ok" }.into(),
        title: title.into(),
        evidence: evidence.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
    }
}

/// What a reply to our payload on `port` tells: the service and its facts.
pub fn parse_reply(port: u16, data: &[u8]) -> ServiceInfo {
    let mut info = ServiceInfo {
        name: crate::ports::udp_service_name(port).map(str::to_string),
        method: "probe".into(),
        conf: 8,
        status: "identified".into(),
        banner: Some(printable(data, 256)),
        ..Default::default()
    };
    match port {
        53 => dns(data, &mut info),
        123 => ntp(data, &mut info),
        161 => snmp(data, &mut info),
        11211 => memcached(data, &mut info),
        69 => tftp(data, &mut info),
        5060 if data.starts_with(b"SIP/2.0") => {
            info.product = header(data, "server").or_else(|| header(data, "user-agent"));
        }
        1900 => info.product = header(data, "server"),
        _ => {}
    }
    info
}

fn header(data: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(&data[..data.len().min(2048)]);
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| printable(v.trim().as_bytes(), 128))
    })
}

fn dns(data: &[u8], info: &mut ServiceInfo) {
    info.name = Some("domain".into());
    if data.len() < 12 || data[2] & 0x80 == 0 {
        info.conf = 5;
        return;
    }
    let ra = data[3] & 0x80 != 0;
    let rcode = data[3] & 0x0f;
    info.extrainfo = Some(format!("rcode {rcode}{}", if ra { ", recursion available" } else { "" }));
    // version.bind TXT answer, when given
    if let Some(txt) = dns_first_txt(data) {
        info.version = Some(printable(&txt, 64));
    }
    info.checks.push(check(
        "dns-open-resolver",
        ra && rcode != 5,
        "DNS server offers recursion (open resolver: amplification, cache poisoning)",
        &[("recursion_available", ra.to_string()), ("rcode", rcode.to_string())],
    ));
}

fn dns_skip_name(data: &[u8], mut i: usize) -> Option<usize> {
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

fn dns_first_txt(data: &[u8]) -> Option<Vec<u8>> {
    let ancount = u16::from_be_bytes([*data.get(6)?, *data.get(7)?]);
    if ancount == 0 {
        return None;
    }
    let mut i = dns_skip_name(data, 12)? + 4; // question name, type, class
    i = dns_skip_name(data, i)?;
    let rtype = u16::from_be_bytes([*data.get(i)?, *data.get(i + 1)?]);
    let rdlen = u16::from_be_bytes([*data.get(i + 8)?, *data.get(i + 9)?]) as usize;
    let rdata = data.get(i + 10..i + 10 + rdlen)?;
    if rtype != 16 {
        return None;
    }
    let n = *rdata.first()? as usize;
    rdata.get(1..1 + n).map(<[u8]>::to_vec)
}

fn ntp(data: &[u8], info: &mut ServiceInfo) {
    info.name = Some("ntp".into());
    if let Some(&first) = data.first() {
        let version = (first >> 3) & 7;
        let mode = first & 7;
        let stratum = data.get(1).copied().unwrap_or(0);
        info.version = Some(format!("v{version}"));
        info.extrainfo = Some(format!("mode {mode}, stratum {stratum}"));
    }
}

/// Apply the mode 7 check: `answer` is the reply to `ntp_monlist`, if any.
pub fn ntp_mode7_check(info: &mut ServiceInfo, answer: Option<&[u8]>) {
    let answered = answer.is_some_and(|a| a.first().is_some_and(|b| b & 7 == 7));
    info.checks.push(check(
        "ntp-monlist",
        answered,
        "NTP answers mode 7 (monlist) requests: a large amplification factor",
        &[("mode7_answered", answered.to_string()), ("reply_bytes", answer.map_or(0, <[u8]>::len).to_string())],
    ));
}

/// A BER length and the offset after it.
fn ber_len(data: &[u8], i: usize) -> Option<(usize, usize)> {
    let first = *data.get(i)? as usize;
    if first < 0x80 {
        return Some((first, i + 1));
    }
    let n = first & 0x7f;
    if n == 0 || n > 3 {
        return None;
    }
    let mut len = 0usize;
    for k in 0..n {
        len = (len << 8) | *data.get(i + 1 + k)? as usize;
    }
    Some((len, i + 1 + n))
}

fn snmp(data: &[u8], info: &mut ServiceInfo) {
    info.name = Some("snmp".into());
    // The value after the sysDescr OID is an OCTET STRING: find the OID, skip it, read the string.
    let descr = data.windows(SYS_DESCR.len()).position(|w| w == SYS_DESCR).and_then(|at| {
        let i = at + SYS_DESCR.len();
        if *data.get(i)? != 0x04 {
            return None;
        }
        let (len, start) = ber_len(data, i + 1)?;
        data.get(start..start + len).map(|v| printable(v, 256))
    });
    let community_ok = data.first() == Some(&0x30) && descr.is_some();
    if let Some(d) = &descr {
        info.extrainfo = Some(d.clone());
    }
    info.checks.push(check(
        "snmp-default-community",
        community_ok,
        "SNMP answers the default community 'public'",
        &[("community", "public".into()), ("sysDescr", descr.unwrap_or_default())],
    ));
}

fn memcached(data: &[u8], info: &mut ServiceInfo) {
    info.name = Some("memcache".into());
    let body = data.get(8..).unwrap_or_default();
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    info.version =
        text.lines().find_map(|l| l.strip_prefix("STAT version ").map(|v| printable(v.trim().as_bytes(), 32)));
    info.product = Some("memcached".into());
    let stats = text.contains("STAT ");
    info.checks.push(check(
        "memcached-udp",
        stats,
        "memcached answers over UDP without authentication (huge amplification)",
        &[("stats_answered", stats.to_string()), ("version", info.version.clone().unwrap_or_default())],
    ));
}

fn tftp(data: &[u8], info: &mut ServiceInfo) {
    info.name = Some("tftp".into());
    let opcode = data.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    info.extrainfo = match opcode {
        Some(3) => Some("read request answered with data".into()),
        Some(5) => {
            Some(format!("error: {}", printable(data.get(4..).unwrap_or_default(), 64).trim_end_matches("\\x00")))
        }
        _ => None,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_well_formed() {
        let snmp = payload(161);
        assert_eq!(snmp[0], 0x30);
        assert_eq!(snmp[1] as usize, snmp.len() - 2);
        let ike = payload(500);
        assert_eq!(u32::from_be_bytes(ike[24..28].try_into().unwrap()) as usize, ike.len());
        let dns = payload(53);
        assert_eq!(&dns[4..6], &[0, 1]);
        assert_eq!(payload(69)[..2], [0, 1]);
        assert_eq!(payload(11211)[8..], *b"stats\r\n");
        assert!(payload(40000).is_empty());
    }

    #[test]
    fn snmp_reply_yields_sysdescr() {
        // a GetResponse carrying sysDescr = "Linux lab"
        let vb = ber(0x30, &[ber(0x06, &SYS_DESCR), ber(0x04, b"Linux lab")].concat());
        let pdu = ber(0xa2, &[ber(0x02, &[1]), ber(0x02, &[0]), ber(0x02, &[0]), ber(0x30, &vb)].concat());
        let msg = ber(0x30, &[ber(0x02, &[1]), ber(0x04, b"public"), pdu].concat());
        let info = parse_reply(161, &msg);
        assert_eq!(info.checks[0].id, "snmp-default-community");
        assert_eq!(info.checks[0].outcome, "vulnerable");
        assert_eq!(info.checks[0].evidence["sysDescr"], "Linux lab");
    }

    #[test]
    fn dns_recursion_flag() {
        let mut reply = payload(53);
        reply[2] = 0x81; // response, RD
        reply[3] = 0x80; // RA, rcode 0
        assert_eq!(parse_reply(53, &reply).checks[0].outcome, "vulnerable");
        reply[3] = 0x05; // no RA, REFUSED
        assert_eq!(parse_reply(53, &reply).checks[0].outcome, "ok");
    }

    #[test]
    fn parsers_never_panic() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let ports = [53u16, 123, 161, 11211, 69, 5060, 1900, 137];
        for _ in 0..50_000 {
            let len = (next() % 300) as usize;
            let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let port = ports[(next() % ports.len() as u64) as usize];
            if next() % 2 == 0 {
                // mutate a real payload instead of pure noise
                data = payload(port);
                for _ in 0..4 {
                    if !data.is_empty() {
                        let i = (next() as usize) % data.len();
                        data[i] = next() as u8;
                    }
                }
                data.truncate((next() as usize) % (data.len() + 1));
            }
            let _ = parse_reply(port, &data);
            let mut info = ServiceInfo::default();
            ntp_mode7_check(&mut info, Some(&data));
        }
    }
}

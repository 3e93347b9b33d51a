//! UDP service detection, read from the registry: the datagram for a port, what a reply tells, the
//! protocol's second datagram, and (for `services=True`) every protocol's datagram tried on a port
//! that stayed silent. Payloads are written from the protocol specifications (never from nmap's
//! payload file). Parsers take untrusted bytes: every read is bounds-checked and nothing panics.
use super::registry::{udp_on, udp_protocols, UdpFollowUp};
use super::{Check, ServiceInfo};
use std::collections::BTreeMap;

/// The datagram to send to a UDP port: the service's own request where we know one, else empty
/// (a closed port still answers with ICMP; an open one may stay silent).
pub fn payload(port: u16) -> Vec<u8> {
    udp_on(port).map(|u| (u.request)(port)).unwrap_or_default()
}

/// Every datagram to send to a UDP port at once: [`payload`] and the protocol's companion, if any.
pub fn payloads(port: u16) -> Vec<Vec<u8>> {
    let Some(u) = udp_on(port) else { return vec![Vec::new()] };
    let mut out = vec![(u.request)(port)];
    out.extend(u.also.map(|also| also(port)));
    out
}

/// What a reply to our payload on `port` tells: the service and its facts.
pub fn parse_reply(port: u16, data: &[u8]) -> ServiceInfo {
    let mut info = base(port, data);
    if let Some(u) = udp_on(port) {
        (u.parse)(port, data, &mut info);
    }
    info
}

/// The second datagram of the protocol on `port`, if it has one (NTP's mode 7 check).
pub(crate) fn followup(port: u16) -> Option<&'static UdpFollowUp> {
    udp_on(port).and_then(|u| u.followup.as_ref())
}

fn base(port: u16, data: &[u8]) -> ServiceInfo {
    ServiceInfo {
        name: crate::ports::udp_service_name(port).map(str::to_string),
        method: "probe".into(),
        conf: 8,
        status: "identified".into(),
        banner: Some(printable(data, 256)),
        ..Default::default()
    }
}

/// The datagrams to try on a port that stayed silent to its own one (`nmap -sUV`): every other
/// protocol's (and its companion's), each with the protocol's name, in registry order.
pub fn other_payloads(port: u16) -> Vec<(&'static str, Vec<u8>)> {
    let own = udp_on(port).map(|u| u as *const _);
    let mut out = Vec::new();
    for (p, u) in udp_protocols().filter(|(_, u)| Some(*u as *const _) != own) {
        let at = u.ports.first().copied().unwrap_or(port);
        out.push((p.name, (u.request)(at)));
        // the companion too (SNMPv3 discovery: an agent on an odd port that ignores `public`)
        out.extend(u.also.map(|also| (p.name, also(at))));
    }
    out
}

/// What a reply to protocol `name`'s datagram on an unexpected `port` tells, if it is that
/// protocol's reply (None: something answered, but not as that protocol would).
pub fn parse_other(name: &str, port: u16, data: &[u8]) -> Option<ServiceInfo> {
    let (_, u) = udp_protocols().find(|(p, _)| p.name == name)?;
    let mut info = base(port, data);
    info.name = None;
    let own_port = u.ports.first().copied().unwrap_or(port);
    if !(u.parse)(own_port, data, &mut info) {
        return None;
    }
    if info.name.is_none() {
        info.name = crate::ports::udp_service_name(own_port).map(str::to_string);
    }
    Some(info)
}

/// Ports of one host tried at once by [`identify_silent`] (each sends every protocol's datagram
/// from its own socket: about 20 sockets per port).
pub const SILENT_PORTS_AT_ONCE: usize = 4;

/// [`identify_silent`] on each of `ports` of `ip`, [`SILENT_PORTS_AT_ONCE`] at a time: what was
/// found, by port.
pub async fn identify_silent_ports(
    ip: std::net::IpAddr,
    ports: &[u16],
    wait: std::time::Duration,
    cancel: &tokio_util::sync::CancellationToken,
) -> std::collections::HashMap<u16, (ServiceInfo, std::time::Duration)> {
    let mut found = std::collections::HashMap::new();
    for chunk in ports.chunks(SILENT_PORTS_AT_ONCE) {
        let mut set = tokio::task::JoinSet::new();
        for &port in chunk {
            let cancel = cancel.clone();
            set.spawn(async move { (port, identify_silent(std::net::SocketAddr::new(ip, port), wait, &cancel).await) });
        }
        found.extend(set.join_all().await.into_iter().filter_map(|(port, f)| f.map(|f| (port, f))));
        if cancel.is_cancelled() {
            break;
        }
    }
    found
}

/// `nmap -sUV` for a port that stayed silent to its own datagram: every other protocol's datagram
/// at once, each from its own socket, waiting `wait`; the first reply that its protocol's parser
/// recognises (in registry order) names the port. None when nothing recognisable answered.
pub async fn identify_silent(
    addr: std::net::SocketAddr,
    wait: std::time::Duration,
    cancel: &tokio_util::sync::CancellationToken,
) -> Option<(ServiceInfo, std::time::Duration)> {
    use crate::probe::udp::{probe, UdpAttempt};
    let started = tokio::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (i, (name, payload)) in other_payloads(addr.port()).into_iter().enumerate() {
        let cancel = cancel.clone();
        set.spawn(async move {
            let rto = move || (wait, true);
            let UdpAttempt::Reply { data, rtt } = probe(addr, &payload, &rto, &cancel).await else { return None };
            let mut info = parse_other(name, addr.port(), &data)?;
            // the protocol's second datagram, as on its own port
            if let Some(second) = udp_protocols().find(|(p, _)| p.name == name).and_then(|(_, u)| u.followup.as_ref()) {
                let answer = match probe(addr, &(second.request)(&info), &rto, &cancel).await {
                    UdpAttempt::Reply { data, .. } => Some(data),
                    _ => None,
                };
                (second.apply)(&mut info, answer.as_deref());
            }
            Some((i, info, rtt))
        });
    }
    let mut found: Vec<(usize, ServiceInfo, std::time::Duration)> =
        set.join_all().await.into_iter().flatten().collect();
    found.sort_by_key(|(i, _, _)| *i);
    found.into_iter().next().map(|(_, mut info, rtt)| {
        info.elapsed = started.elapsed().as_secs_f64();
        (info, rtt)
    })
}

pub(crate) fn ber(tag: u8, content: &[u8]) -> Vec<u8> {
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

/// A BER length and the offset after it.
pub(crate) fn ber_len(data: &[u8], i: usize) -> Option<(usize, usize)> {
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

pub(crate) fn printable(data: &[u8], cap: usize) -> String {
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

pub(crate) fn check(id: &str, vulnerable: bool, title: &str, evidence: &[(&str, String)]) -> Check {
    Check {
        id: id.into(),
        outcome: if vulnerable { "vulnerable" } else { "ok" }.into(),
        title: title.into(),
        evidence: evidence.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
    }
}

/// A header of a text reply (SIP, SSDP).
pub(crate) fn header(data: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(&data[..data.len().min(2048)]);
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| printable(v.trim().as_bytes(), 128))
    })
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
        let sys_descr = [0x2b, 6, 1, 2, 1, 1, 1, 0];
        let vb = ber(0x30, &[ber(0x06, &sys_descr), ber(0x04, b"Linux lab")].concat());
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
            (followup(123).unwrap().apply)(&mut info, Some(&data));
            (followup(161).unwrap().apply)(&mut info, Some(&data));
        }
    }
}

//! NTP (RFC 5905): a client request; then a mode 7 MON_GETLIST_1, the amplification check.
use super::registry::{Protocol, UdpFollowUp, UdpProbe};
use super::udp::check;
use super::ServiceInfo;

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "ntp",
    names: &["ntp"],
    udp: Some(UdpProbe {
        ports: &[123],
        request: |_| client(),
        parse: |_, d, info| reply(d, info),
        also: None,
        followup: Some(UdpFollowUp { request: |_| monlist(), apply: mode7_check }),
    }),
    ..Protocol::EMPTY
};

fn client() -> Vec<u8> {
    let mut p = vec![0u8; 48];
    p[0] = 0x23; // LI 0, version 4, mode 3 (client)
    p
}

/// NTP mode 7 MON_GETLIST_1 (implementation 3, request 42).
fn monlist() -> Vec<u8> {
    let mut p = vec![0u8; 48];
    p[0] = 0x17; // response 0, more 0, version 2, mode 7
    p[2] = 0x03; // implementation XNTPD
    p[3] = 0x2a; // request code MON_GETLIST_1
    p
}

/// True when the reply is a server (mode 4) answer of at least a header's length.
fn reply(data: &[u8], info: &mut ServiceInfo) -> bool {
    info.name = Some("ntp".into());
    let Some(&first) = data.first() else { return false };
    let version = (first >> 3) & 7;
    let mode = first & 7;
    let stratum = data.get(1).copied().unwrap_or(0);
    info.version = Some(format!("v{version}"));
    info.extrainfo = Some(format!("mode {mode}, stratum {stratum}"));
    mode == 4 && data.len() >= 48
}

/// Apply the mode 7 check: `answer` is the reply to [`monlist`], if any.
fn mode7_check(info: &mut ServiceInfo, answer: Option<&[u8]>) {
    let answered = answer.is_some_and(|a| a.first().is_some_and(|b| b & 7 == 7));
    info.checks.push(check(
        "ntp-monlist",
        answered,
        "NTP answers mode 7 (monlist) requests: a large amplification factor",
        &[("mode7_answered", answered.to_string()), ("reply_bytes", answer.map_or(0, <[u8]>::len).to_string())],
    ));
}

//! SNMP: a v2c GetRequest for sysDescr with the community `public` (RFC 3416), sent together with
//! an SNMPv3 engine discovery (RFC 3414 4): any v3 agent answers the discovery with a Report
//! carrying its engine ID, boots and time, whatever its communities. The second datagram asks
//! what the first reply left open: the community check after a Report, the engine after a v2c
//! answer.
use super::ldap::tlv;
use super::registry::{Protocol, UdpFollowUp, UdpProbe};
use super::udp::{ber, ber_len, check, printable};
use super::ServiceInfo;

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "snmp",
    names: &["snmp"],
    udp: Some(UdpProbe {
        ports: &[161],
        request: |_| get_sysdescr(b"public"),
        also: Some(|_| discovery()),
        parse: |_, d, info| reply(d, info),
        followup: Some(UdpFollowUp { request: second, apply: apply_second }),
    }),
    ..Protocol::EMPTY
};

const SYS_DESCR: [u8; 8] = [0x2b, 6, 1, 2, 1, 1, 1, 0]; // 1.3.6.1.2.1.1.1.0
const COMMUNITY_CHECK: &str = "snmp-default-community";
const COMMUNITY_TITLE: &str = "SNMP answers the default community 'public'";

fn get_sysdescr(community: &[u8]) -> Vec<u8> {
    let varbind = ber(0x30, &[ber(0x06, &SYS_DESCR), vec![0x05, 0x00]].concat());
    let pdu = ber(0xa0, &[ber(0x02, &[0x50, 0x4c]), ber(0x02, &[0]), ber(0x02, &[0]), ber(0x30, &varbind)].concat());
    ber(0x30, &[ber(0x02, &[1]), ber(0x04, community), pdu].concat()) // version 1 = v2c
}

/// An SNMPv3 GetRequest with no user and an empty engine ID, reportable: the agent answers with a
/// Report (usmStatsUnknownEngineIDs) that carries its authoritative engine ID, boots and time.
pub(crate) fn discovery() -> Vec<u8> {
    let global = ber(
        0x30,
        &[ber(0x02, &[0x50, 0x4c, 0x33]), ber(0x02, &[0x00, 0xff, 0xe3]), ber(0x04, &[0x04]), ber(0x02, &[3])].concat(),
    );
    let usm = ber(
        0x30,
        &[ber(0x04, &[]), ber(0x02, &[0]), ber(0x02, &[0]), ber(0x04, &[]), ber(0x04, &[]), ber(0x04, &[])].concat(),
    );
    let pdu = ber(0xa0, &[ber(0x02, &[0x50, 0x4c, 0x33]), ber(0x02, &[0]), ber(0x02, &[0]), ber(0x30, &[])].concat());
    let scoped = ber(0x30, &[ber(0x04, &[]), ber(0x04, &[]), pdu].concat());
    ber(0x30, &[ber(0x02, &[3]), global, ber(0x04, &usm), scoped].concat())
}

/// What an SNMPv3 Report says about the agent's engine.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Engine {
    pub id: Vec<u8>,
    pub boots: u64,
    pub time: u64,
}

impl Engine {
    /// The IANA enterprise number of a RFC 3411 engine ID (its first bit set).
    pub fn enterprise(&self) -> Option<u32> {
        let head: [u8; 4] = self.id.get(..4)?.try_into().ok()?;
        let n = u32::from_be_bytes(head);
        (n & 0x8000_0000 != 0).then_some(n & 0x7fff_ffff)
    }
}

fn uint(d: &[u8]) -> Option<u64> {
    (d.len() <= 8).then(|| d.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b)))
}

/// The engine of an SNMPv3 message (a Report to [`discovery`]).
pub(crate) fn engine(d: &[u8]) -> Option<Engine> {
    let (tag, msg, _) = tlv(d)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, version, n) = tlv(msg)?;
    if tag != 0x02 || version != [3] {
        return None;
    }
    let rest = msg.get(n..)?;
    let (tag, _, n) = tlv(rest)?; // msgGlobalData
    if tag != 0x30 {
        return None;
    }
    let (tag, params, _) = tlv(rest.get(n..)?)?;
    if tag != 0x04 {
        return None;
    }
    let (tag, usm, _) = tlv(params)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, id, n) = tlv(usm)?;
    let usm = usm.get(n..)?;
    let (tag2, boots, n) = tlv(usm)?;
    let (tag3, time, _) = tlv(usm.get(n..)?)?;
    if (tag, tag2, tag3) != (0x04, 0x02, 0x02) || id.is_empty() || id.len() > 32 {
        return None;
    }
    Some(Engine { id: id.to_vec(), boots: uint(boots)?, time: uint(time)? })
}

/// The agent software an enterprise number usually means.
fn enterprise_product(n: u32) -> Option<&'static str> {
    Some(match n {
        8072 => "net-snmp",
        9 => "Cisco SNMP service",
        311 => "Microsoft Windows SNMP",
        2636 => "Juniper SNMP",
        2011 => "Huawei SNMP",
        6876 => "VMware SNMP",
        _ => return None,
    })
}

fn reply(data: &[u8], info: &mut ServiceInfo) -> bool {
    info.name = Some("snmp".into());
    if let Some(e) = engine(data) {
        apply_engine(info, &e);
        return true;
    }
    community_reply(data, info)
}

fn apply_engine(info: &mut ServiceInfo, e: &Engine) {
    let hex: String = e.id.iter().map(|b| format!("{b:02x}")).collect();
    let mut facts = format!("SNMPv3 engine {hex}, boots {}, time {}s", e.boots, e.time);
    if let Some(n) = e.enterprise() {
        facts.push_str(&format!(", enterprise {n}"));
        if info.product.is_none() {
            info.product = enterprise_product(n).map(str::to_string);
        }
    }
    info.extrainfo = Some(match info.extrainfo.take() {
        Some(d) => format!("{d}; {facts}"),
        None => facts,
    });
}

/// A v2c answer to the `public` GetRequest: the community check, and sysDescr.
fn community_reply(data: &[u8], info: &mut ServiceInfo) -> bool {
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
        info.extrainfo = Some(match info.extrainfo.take() {
            Some(e) => format!("{d}; {e}"),
            None => d.clone(),
        });
    }
    info.checks.retain(|c| c.id != COMMUNITY_CHECK);
    info.checks.push(check(
        COMMUNITY_CHECK,
        community_ok,
        COMMUNITY_TITLE,
        &[("community", "public".into()), ("sysDescr", descr.unwrap_or_default())],
    ));
    community_ok
}

/// After a Report the community is still unknown: ask with `public` alone; after a v2c answer,
/// ask for the engine.
fn second(info: &ServiceInfo) -> Vec<u8> {
    if info.checks.iter().any(|c| c.id == COMMUNITY_CHECK) {
        discovery()
    } else {
        get_sysdescr(b"public")
    }
}

fn apply_second(info: &mut ServiceInfo, answer: Option<&[u8]>) {
    let asked_community = !info.checks.iter().any(|c| c.id == COMMUNITY_CHECK);
    match answer {
        Some(d) if asked_community => {
            if let Some(e) = engine(d) {
                apply_engine(info, &e);
            } else {
                community_reply(d, info);
            }
        }
        Some(d) => {
            if let Some(e) = engine(d) {
                apply_engine(info, &e);
            }
        }
        None => {}
    }
    if !info.checks.iter().any(|c| c.id == COMMUNITY_CHECK) {
        // silence to `public` from an agent that answers SNMPv3: the community is not accepted
        info.checks.push(check(
            COMMUNITY_CHECK,
            false,
            COMMUNITY_TITLE,
            &[("community", "public".into()), ("sysDescr", String::new())],
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Report as net-snmp sends it (engine ID 80001f8880..., boots 3, time 1234).
    fn report() -> Vec<u8> {
        let id = [0x80, 0x00, 0x1f, 0x88, 0x80, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
        let usm = ber(
            0x30,
            &[ber(0x04, &id), ber(0x02, &[3]), ber(0x02, &[0x04, 0xd2]), ber(0x04, &[]), ber(0x04, &[]), ber(0x04, &[])]
                .concat(),
        );
        let global = ber(0x30, &[ber(0x02, &[1]), ber(0x02, &[0x05, 0xdc]), ber(0x04, &[0]), ber(0x02, &[3])].concat());
        let pdu = ber(0xa8, &[ber(0x02, &[1]), ber(0x02, &[0]), ber(0x02, &[0]), ber(0x30, &[])].concat());
        let scoped = ber(0x30, &[ber(0x04, &id), ber(0x04, &[]), pdu].concat());
        ber(0x30, &[ber(0x02, &[3]), global, ber(0x04, &usm), scoped].concat())
    }

    #[test]
    fn discovery_is_a_v3_message_and_a_report_names_the_engine() {
        let d = discovery();
        assert_eq!(d[0], 0x30);
        assert_eq!(d[1] as usize, d.len() - 2);
        assert_eq!(engine(&d), None); // empty engine ID: not an agent's
        let e = engine(&report()).unwrap();
        assert_eq!((e.boots, e.time, e.enterprise()), (3, 1234, Some(8072)));
        let mut info = ServiceInfo::default();
        assert!(reply(&report(), &mut info));
        assert_eq!(info.product.as_deref(), Some("net-snmp"));
        assert!(info.extrainfo.as_deref().unwrap().contains("boots 3"), "{info:?}");
        // the community is asked next, and silence decides it
        assert_eq!(second(&info), get_sysdescr(b"public"));
        apply_second(&mut info, None);
        assert_eq!(info.checks[0].outcome, "ok");
    }
}

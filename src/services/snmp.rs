//! SNMP (RFC 3416): a v2c GetRequest for sysDescr with the community `public`.
use super::registry::{Protocol, UdpProbe};
use super::udp::{ber, ber_len, check, printable};
use super::ServiceInfo;

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "snmp",
    names: &["snmp"],
    udp: Some(UdpProbe { ports: &[161], request: |_| get_sysdescr(b"public"), parse: |_, d, info| reply(d, info), followup: None }),
    ..Protocol::EMPTY
};

const SYS_DESCR: [u8; 8] = [0x2b, 6, 1, 2, 1, 1, 1, 0]; // 1.3.6.1.2.1.1.1.0

fn get_sysdescr(community: &[u8]) -> Vec<u8> {
    let varbind = ber(0x30, &[ber(0x06, &SYS_DESCR), vec![0x05, 0x00]].concat());
    let pdu = ber(0xa0, &[ber(0x02, &[0x50, 0x4c]), ber(0x02, &[0]), ber(0x02, &[0]), ber(0x30, &varbind)].concat());
    ber(0x30, &[ber(0x02, &[1]), ber(0x04, community), pdu].concat()) // version 1 = v2c
}

fn reply(data: &[u8], info: &mut ServiceInfo) -> bool {
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
    community_ok
}

//! LDAP (RFC 4511): an anonymous search of the root DSE (read-only), with a small BER codec.
use super::text;
use super::{Hit, Probe};
use super::registry::{Protocol, UdpProbe};

pub const PROBE: Probe =
    Probe { name: "ldap", ports: &[(389, 389), (3268, 3268)], request: |_| root_dse_search(), done, parse };

/// (tag, content, total length) of the BER element at the start of `d`.
pub fn tlv(d: &[u8]) -> Option<(u8, &[u8], usize)> {
    let tag = *d.first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let first = *d.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*d.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let content = d.get(hdr..hdr.checked_add(len)?)?;
    Some((tag, content, hdr + len))
}

pub fn ber(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    if content.len() < 0x80 {
        out.push(content.len() as u8);
    } else {
        out.push(0x82);
        out.extend_from_slice(&(content.len() as u16).to_be_bytes());
    }
    out.extend_from_slice(content);
    out
}

/// The rootDSE search over CLDAP (RFC 1798): the same request without a TCP session.
fn cldap_rootdse() -> Vec<u8> {
    use super::udp::ber;
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

pub fn root_dse_search() -> Vec<u8> {
    let attrs: Vec<u8> = ["namingContexts", "supportedLDAPVersion", "vendorName", "vendorVersion"]
        .iter()
        .flat_map(|a| ber(0x04, a.as_bytes()))
        .collect();
    let mut req = Vec::new();
    req.extend(ber(0x04, b"")); // base object: the root DSE
    req.extend(ber(0x0a, &[0])); // scope: base
    req.extend(ber(0x0a, &[0])); // never dereference aliases
    req.extend(ber(0x02, &[0])); // size limit
    req.extend(ber(0x02, &[0])); // time limit
    req.extend(ber(0x01, &[0])); // types only: false
    req.extend(ber(0x87, b"objectClass")); // (objectClass=*)
    req.extend(ber(0x30, &attrs));
    let mut msg = ber(0x02, &[1]);
    msg.extend(ber(0x63, &req));
    ber(0x30, &msg)
}

fn done(d: &[u8]) -> bool {
    tlv(d).is_some()
}

/// The protocol operation tag of the reply to message 1, and the root DSE's attributes.
/// (attribute, values) of an entry.
pub type Attrs = Vec<(String, Vec<String>)>;

pub fn reply(d: &[u8]) -> Option<(u8, Attrs)> {
    let (tag, msg, _) = tlv(d)?;
    if tag != 0x30 {
        return None;
    }
    let (itag, id, used) = tlv(msg)?;
    if itag != 0x02 || id != [1] && id != [0] {
        return None;
    }
    let (op, body, _) = tlv(&msg[used..])?;
    if !matches!(op, 0x64 | 0x65 | 0x78) {
        return None;
    }
    let mut attrs = Vec::new();
    if op == 0x64 {
        let (_, _, dn_len) = tlv(body)?;
        let (_, list, _) = tlv(&body[dn_len..])?;
        let mut at = 0;
        while let Some((_, attr, n)) = tlv(&list[at..]) {
            if let Some((_, name, k)) = tlv(attr) {
                let mut vals = Vec::new();
                if let Some((_, set, _)) = tlv(&attr[k..]) {
                    let mut j = 0;
                    while let Some((_, v, m)) = tlv(&set[j..]) {
                        vals.push(text::lossy(v, 200));
                        j += m;
                    }
                }
                attrs.push((text::lossy(name, 100), vals));
            }
            at += n;
        }
    }
    Some((op, attrs))
}

fn parse(d: &[u8]) -> Option<Hit> {
    let (_, attrs) = reply(d)?;
    let get = |k: &str| attrs.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).and_then(|(_, v)| v.first().cloned());
    let mut hit = Hit::new("ldap", 10);
    if let Some(vendor) = get("vendorName") {
        hit = hit.product(vendor, get("vendorVersion"));
    }
    hit.extrainfo = get("namingContexts").map(|c| format!("namingContexts: {c}"));
    Some(hit)
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "ldap",
    names: &["ldap"],
    probes: &[PROBE],
    // CLDAP: the same rootDSE search over UDP
    udp: Some(UdpProbe { ports: &[389], request: |_| cldap_rootdse(), parse: |_, d, _| d.first() == Some(&0x30), also: None, followup: None }),
    ..Protocol::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ber_roundtrip() {
        let req = root_dse_search();
        assert!(done(&req));
        let val = ber(0x31, &ber(0x04, b"OpenLDAP"));
        let attr = ber(0x30, &[ber(0x04, b"vendorName"), val].concat());
        let entry = ber(0x64, &[ber(0x04, b""), ber(0x30, &attr)].concat());
        let msg = ber(0x30, &[ber(0x02, &[1]), entry].concat());
        assert_eq!(parse(&msg).unwrap().product.as_deref(), Some("OpenLDAP"));
        assert!(tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
    }
}

//! Kerberos 5 over TCP (RFC 4120 7.2.2): an AS-REQ for a principal of a realm that cannot exist;
//! a KDC answers with KRB-ERROR (read-only: no ticket is issued).
use super::ldap::{ber, tlv};
use super::text;
use super::{Hit, Probe};
use super::registry::Protocol;

pub const PROBE: Probe = Probe { name: "kerberos", ports: &[(88, 88)], request: |_| as_req(), done, parse };

const REALM: &[u8] = b"PORTLENS.INVALID";

fn principal(kind: u8, names: &[&[u8]]) -> Vec<u8> {
    let strings: Vec<u8> = names.iter().flat_map(|n| ber(0x1b, n)).collect();
    ber(0x30, &[ber(0xa0, &ber(0x02, &[kind])), ber(0xa1, &ber(0x30, &strings))].concat())
}

pub fn as_req() -> Vec<u8> {
    let body = ber(
        0x30,
        &[
            ber(0xa0, &ber(0x03, &[0, 0x40, 0x81, 0, 0x10])), // forwardable, renewable, canonicalize, renewable-ok
            ber(0xa1, &principal(1, &[b"portlens"])),
            ber(0xa2, &ber(0x1b, REALM)),
            ber(0xa3, &principal(2, &[b"krbtgt", REALM])),
            ber(0xa5, &ber(0x18, b"20370913024805Z")),
            ber(0xa7, &ber(0x02, &[0x12, 0x34, 0x56, 0x78])),
            ber(0xa8, &ber(0x30, &[ber(0x02, &[18]), ber(0x02, &[17]), ber(0x02, &[23])].concat())),
        ]
        .concat(),
    );
    let req =
        ber(0x6a, &ber(0x30, &[ber(0xa1, &ber(0x02, &[5])), ber(0xa2, &ber(0x02, &[10])), ber(0xa4, &body)].concat()));
    let mut out = (req.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&req);
    out
}

fn done(d: &[u8]) -> bool {
    text::be32(d, 0).is_some_and(|n| n as usize <= d.len().saturating_sub(4) || n > 1 << 20)
}

/// The KRB-ERROR code, or 0 for an AS-REP.
pub fn reply(d: &[u8]) -> Option<u32> {
    let n = text::be32(d, 0)? as usize;
    let msg = d.get(4..4 + n)?;
    let (tag, body, _) = tlv(msg)?;
    let (seq, fields, _) = tlv(body)?;
    if seq != 0x30 {
        return None;
    }
    match tag {
        0x6b => Some(0),
        0x7e => {
            let mut at = 0;
            while let Some((t, v, used)) = tlv(&fields[at..]) {
                if t == 0xa6 {
                    let (_, code, _) = tlv(v)?;
                    return Some(code.iter().fold(0u32, |a, &b| a.wrapping_shl(8) | u32::from(b)));
                }
                at += used;
            }
            None
        }
        _ => None,
    }
}

fn parse(d: &[u8]) -> Option<Hit> {
    let code = reply(d)?;
    let mut hit = Hit::new("kerberos", 10);
    hit.extrainfo = Some(format!("KRB-ERROR {code}"));
    Some(hit)
}

pub(crate) const PROTOCOL: Protocol =
    Protocol { name: "kerberos", names: &["kerberos"], probes: &[PROBE], ..Protocol::EMPTY };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn krb_error() {
        assert!(done(&as_req()));
        let err = ber(0x7e, &ber(0x30, &[ber(0xa0, &ber(0x02, &[5])), ber(0xa6, &ber(0x02, &[68]))].concat()));
        let mut d = (err.len() as u32).to_be_bytes().to_vec();
        d.extend_from_slice(&err);
        assert_eq!(reply(&d), Some(68));
    }
}

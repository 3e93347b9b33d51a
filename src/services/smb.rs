//! SMB (MS-SMB 2.2.4.5, MS-SMB2 2.2.3/2.2.4) over TCP 445 or a NetBIOS session (139): which
//! dialects the server speaks and whether it requires signing.
use super::conn::{self, Conn, CAP};
use super::text;
use super::{Check, Ctx, Hit, Probe};
use super::registry::{Protocol, UdpProbe};

pub const PROBE: Probe = Probe {
    name: "smb",
    ports: &[(445, 445)],
    request: |_| smb1_negotiate(&["NT LM 0.12", "SMB 2.002", "SMB 2.???"]),
    done: frame_done,
    parse,
};

pub const NETBIOS_PROBE: Probe = Probe {
    name: "netbios-ssn",
    ports: &[(139, 139)],
    request: |_| session_request(),
    done: frame_done,
    parse: parse_session,
};

const SMB2_DIALECTS: [u16; 4] = [0x0202, 0x0210, 0x0300, 0x0302];

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(payload);
    out
}

/// An SMB1 NEGOTIATE offering `dialects`, NetBIOS-framed.
pub fn smb1_negotiate(dialects: &[&str]) -> Vec<u8> {
    let mut p = b"\xffSMB".to_vec();
    p.push(0x72);
    p.extend_from_slice(&[0; 4]); // status
    p.push(0x18); // flags: canonical paths, case-insensitive
    p.extend_from_slice(&0xc801u16.to_le_bytes()); // flags2: unicode, NT status, extended security, long names
    p.extend_from_slice(&[0; 12]); // pid high, signature, reserved
    p.extend_from_slice(&[0, 0, 0xff, 0xfe, 0, 0, 0, 0]); // tid, pid, uid, mid
    p.push(0); // word count
    let mut bytes = Vec::new();
    for d in dialects {
        bytes.push(2);
        bytes.extend_from_slice(d.as_bytes());
        bytes.push(0);
    }
    p.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    p.extend_from_slice(&bytes);
    frame(&p)
}

/// An SMB2 NEGOTIATE offering 2.0.2 to 3.0.2 with signing enabled (not required).
pub fn smb2_negotiate() -> Vec<u8> {
    let mut p = b"\xfeSMB".to_vec();
    p.extend_from_slice(&64u16.to_le_bytes());
    p.extend_from_slice(&[0; 2]); // credit charge
    p.extend_from_slice(&[0; 4]); // status
    p.extend_from_slice(&0u16.to_le_bytes()); // NEGOTIATE
    p.extend_from_slice(&1u16.to_le_bytes()); // credits
    p.extend_from_slice(&[0; 4]); // flags
    p.extend_from_slice(&[0; 4]); // next command
    p.extend_from_slice(&[0; 8]); // message id
    p.extend_from_slice(&0xfeffu32.to_le_bytes()); // process id
    p.extend_from_slice(&[0; 4]); // tree id
    p.extend_from_slice(&[0; 8]); // session id
    p.extend_from_slice(&[0; 16]); // signature
    p.extend_from_slice(&36u16.to_le_bytes());
    p.extend_from_slice(&(SMB2_DIALECTS.len() as u16).to_le_bytes());
    p.extend_from_slice(&1u16.to_le_bytes()); // security mode: signing enabled
    p.extend_from_slice(&[0; 2]);
    p.extend_from_slice(&[0; 4]); // capabilities
    p.extend_from_slice(b"portlens-client!"); // client GUID
    p.extend_from_slice(&[0; 8]); // client start time
    for d in SMB2_DIALECTS {
        p.extend_from_slice(&d.to_le_bytes());
    }
    frame(&p)
}

/// A NetBIOS name service node status request for "*" (RFC 1002 4.2.17).
fn netbios_nbstat() -> Vec<u8> {
    let mut p = vec![0x50, 0x4c, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x20];
    // "*" padded with NULs, first-level encoded: 'C' 'K' then "AA" pairs
    p.extend_from_slice(b"CK");
    p.extend(std::iter::repeat_n(b'A', 30));
    p.extend_from_slice(&[0, 0, 0x21, 0, 1]);
    p
}

fn encode_name(name: &str, suffix: u8) -> Vec<u8> {
    let mut raw = [b' '; 16];
    for (i, b) in name.bytes().take(15).enumerate() {
        raw[i] = b.to_ascii_uppercase();
    }
    raw[15] = suffix;
    let mut out = vec![32];
    for b in raw {
        out.push(b'A' + (b >> 4));
        out.push(b'A' + (b & 0x0f));
    }
    out.push(0);
    out
}

/// A NetBIOS session request (RFC 1002 4.3.2) to "*SMBSERVER".
pub fn session_request() -> Vec<u8> {
    let mut body = encode_name("*SMBSERVER", 0x20);
    body.extend_from_slice(&encode_name("PORTLENS", 0x00));
    let mut out = vec![0x81, 0];
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

pub fn frame_done(d: &[u8]) -> bool {
    text::be24(d, 1).is_some_and(|n| d.len() >= 4 + n)
}

/// The payload of the first NetBIOS session message.
pub fn payload(d: &[u8]) -> Option<&[u8]> {
    if *d.first()? != 0 {
        return None;
    }
    let n = text::be24(d, 1)?;
    d.get(4..4 + n)
}

#[derive(Debug, Clone, PartialEq)]
pub enum Negotiated {
    /// SMB1: (status, dialect index, security mode).
    Smb1 { status: u32, dialect: u16, security_mode: u8 },
    /// SMB2: (status, dialect revision, security mode).
    Smb2 { status: u32, dialect: u16, security_mode: u16 },
}

pub fn negotiate_reply(d: &[u8]) -> Option<Negotiated> {
    let p = payload(d)?;
    if p.starts_with(b"\xffSMB") && *p.get(4)? == 0x72 {
        let status = text::le32(p, 5)?;
        let words = *p.get(32)?;
        let dialect = if words >= 1 { text::le16(p, 33)? } else { 0xffff };
        let security_mode = if words >= 13 { *p.get(35)? } else { 0 };
        return Some(Negotiated::Smb1 { status, dialect, security_mode });
    }
    if p.starts_with(b"\xfeSMB") && text::le16(p, 4)? == 64 && text::le16(p, 12)? == 0 {
        let status = text::le32(p, 8)?;
        if status != 0 {
            return Some(Negotiated::Smb2 { status, dialect: 0, security_mode: 0 });
        }
        if text::le16(p, 64)? != 65 {
            return None;
        }
        return Some(Negotiated::Smb2 { status, dialect: text::le16(p, 68)?, security_mode: text::le16(p, 66)? });
    }
    None
}

fn parse(d: &[u8]) -> Option<Hit> {
    negotiate_reply(d)?;
    Some(Hit::new("smb", 10))
}

/// A NetBIOS positive (0x82) or negative (0x83) session response.
pub fn session_reply(d: &[u8]) -> Option<bool> {
    let n = usize::from(text::be16(d, 2)?);
    if d.len() < 4 + n {
        return None; // a refusal carries its error code: too short to decide without it
    }
    match (*d.first()?, *d.get(1)?, n) {
        (0x82, 0, 0) => Some(true),
        (0x83, 0, 1) => Some(false),
        _ => None,
    }
}

fn parse_session(d: &[u8]) -> Option<Hit> {
    let positive = session_reply(d)?;
    let mut hit = Hit::new("netbios-ssn", 10);
    hit.extrainfo = Some(if positive { "session accepted".into() } else { "session refused".into() });
    Some(hit)
}

pub fn dialect_name(d: u16) -> String {
    match d {
        0x0202 => "2.0.2".into(),
        0x0210 => "2.1".into(),
        0x0300 => "3.0".into(),
        0x0302 => "3.0.2".into(),
        0x0311 => "3.1.1".into(),
        0x02ff => "2.???".into(),
        other => format!("0x{other:04x}"),
    }
}

async fn open(ctx: &Ctx<'_>, netbios: bool) -> Option<Conn> {
    let mut c = conn::connect(ctx.addr, ctx.deadline, std::time::Duration::from_secs(2)).await?;
    if netbios {
        if !c.send(&session_request()).await {
            return None;
        }
        let ok = session_reply(c.read(ctx.check_wait(), 64, |b| b.len() >= 4 && frame_done(b)).await);
        if ok != Some(true) {
            return None;
        }
        c.clear();
    }
    Some(c)
}

async fn negotiate(ctx: &Ctx<'_>, netbios: bool, request: &[u8]) -> Option<Option<Negotiated>> {
    let mut c = open(ctx, netbios).await?;
    if !c.send(request).await {
        return Some(None);
    }
    Some(negotiate_reply(c.read(ctx.check_wait(), CAP, frame_done).await))
}

pub async fn followup(ctx: &Ctx<'_>, netbios: bool) {
    let (only_nt_lm, smb2) = (smb1_negotiate(&["NT LM 0.12"]), smb2_negotiate());
    let (v1, v2) = tokio::join!(negotiate(ctx, netbios, &only_nt_lm), negotiate(ctx, netbios, &smb2));
    let t1 = "SMBv1 (NT LM 0.12) is accepted";
    let smb1 = match &v1 {
        Some(Some(Negotiated::Smb1 { status: 0, dialect: 0, security_mode })) => {
            ctx.check(
                Check::new("smbv1", Some(true), t1)
                    .with("dialect", "NT LM 0.12")
                    .with("security_mode", format!("0x{security_mode:02x}")),
            );
            Some(*security_mode)
        }
        Some(Some(other)) => {
            ctx.check(Check::new("smbv1", Some(false), t1).with("reply", format!("{other:?}")));
            None
        }
        Some(None) => {
            ctx.check(Check::new("smbv1", Some(false), t1).with("reply", "connection closed or no SMB1 reply"));
            None
        }
        None => {
            ctx.check(Check::new("smbv1", None, t1).with("reason", "could not connect"));
            None
        }
    };
    let t2 = "SMB signing is not required";
    let id = "smb-signing-not-required";
    match (&v2, smb1) {
        (Some(Some(Negotiated::Smb2 { status: 0, dialect, security_mode })), _) => {
            let required = security_mode & 0x02 != 0;
            ctx.refine(None, None, Some(format!("SMB {} dialect", dialect_name(*dialect))));
            ctx.check(
                Check::new(id, Some(!required), t2)
                    .with("dialect", dialect_name(*dialect))
                    .with("security_mode", format!("0x{security_mode:04x}"))
                    .with(
                        "signing",
                        if required {
                            "required"
                        } else if security_mode & 1 != 0 {
                            "enabled"
                        } else {
                            "disabled"
                        },
                    ),
            );
        }
        (_, Some(mode)) => {
            let required = mode & 0x08 != 0;
            ctx.check(
                Check::new(id, Some(!required), t2)
                    .with("dialect", "NT LM 0.12")
                    .with("security_mode", format!("0x{mode:02x}")),
            );
        }
        _ => ctx.check(Check::new(id, None, t2).with("reason", "no negotiate reply")),
    }
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "smb",
    names: &["smb", "netbios-ssn"],
    probes: &[PROBE, NETBIOS_PROBE],
    followup: Some(|ctx, name, _| Box::pin(followup(ctx, name == "netbios-ssn"))),
    // NetBIOS name service: a node status request for "*"
    udp: Some(UdpProbe { ports: &[137], request: |_| netbios_nbstat(), parse: |_, _, _| true, followup: None }),
    ..Protocol::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let n = smb1_negotiate(&["NT LM 0.12"]);
        assert!(frame_done(&n));
        assert_eq!(&payload(&n).unwrap()[..5], b"\xffSMB\x72");
        assert_eq!(session_request().len(), 4 + 68);
        assert_eq!(session_reply(&[0x82, 0, 0, 0]), Some(true));
        let mut p = b"\xfeSMB".to_vec();
        p.extend_from_slice(&64u16.to_le_bytes());
        p.resize(64, 0);
        p.extend_from_slice(&65u16.to_le_bytes());
        p.extend_from_slice(&1u16.to_le_bytes());
        p.extend_from_slice(&0x0302u16.to_le_bytes());
        p.resize(130, 0);
        assert_eq!(
            negotiate_reply(&frame(&p)),
            Some(Negotiated::Smb2 { status: 0, dialect: 0x0302, security_mode: 1 })
        );
    }
}

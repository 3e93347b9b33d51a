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

/// 2.0.2 to 3.1.1: a server whose minimum is SMB 3 ("SMB3" in smb.conf means 3.1.1) still answers.
const SMB2_DIALECTS: [u16; 5] = [0x0202, 0x0210, 0x0300, 0x0302, 0x0311];

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

/// An SMB2 header for `command` with `message_id`.
fn smb2_header(command: u16, message_id: u64) -> Vec<u8> {
    let mut p = b"\xfeSMB".to_vec();
    p.extend_from_slice(&64u16.to_le_bytes());
    p.extend_from_slice(&[0; 2]); // credit charge
    p.extend_from_slice(&[0; 4]); // status
    p.extend_from_slice(&command.to_le_bytes());
    p.extend_from_slice(&1u16.to_le_bytes()); // credits
    p.extend_from_slice(&[0; 4]); // flags
    p.extend_from_slice(&[0; 4]); // next command
    p.extend_from_slice(&message_id.to_le_bytes());
    p.extend_from_slice(&0xfeffu32.to_le_bytes()); // process id
    p.extend_from_slice(&[0; 4]); // tree id
    p.extend_from_slice(&[0; 8]); // session id
    p.extend_from_slice(&[0; 16]); // signature
    p
}

/// An SMB2 NEGOTIATE offering 2.0.2 to 3.1.1 with signing enabled (not required); 3.1.1 needs
/// the preauth-integrity (SHA-512) and encryption (AES-128-GCM/CCM) negotiate contexts.
pub fn smb2_negotiate() -> Vec<u8> {
    let mut p = smb2_header(0, 0);
    p.extend_from_slice(&36u16.to_le_bytes());
    p.extend_from_slice(&(SMB2_DIALECTS.len() as u16).to_le_bytes());
    p.extend_from_slice(&1u16.to_le_bytes()); // security mode: signing enabled
    p.extend_from_slice(&[0; 2]);
    p.extend_from_slice(&[0; 4]); // capabilities
    p.extend_from_slice(b"portlens-client!"); // client GUID
    let context_offset_at = p.len();
    p.extend_from_slice(&[0; 8]); // negotiate context offset (4), count (2), reserved (2)
    for d in SMB2_DIALECTS {
        p.extend_from_slice(&d.to_le_bytes());
    }
    let contexts: [(u16, Vec<u8>); 2] = [
        // hash algorithm count 1, salt length 32, SHA-512, salt
        (1, [&[1u8, 0, 32, 0, 1, 0][..], b"portlens-preauth-salt-0123456789"].concat()),
        // cipher count 2: AES-128-GCM, AES-128-CCM
        (2, vec![2, 0, 2, 0, 1, 0]),
    ];
    while !p.len().is_multiple_of(8) {
        p.push(0);
    }
    let offset = p.len() as u32;
    for (i, (kind, data)) in contexts.iter().enumerate() {
        if i > 0 {
            while !p.len().is_multiple_of(8) {
                p.push(0);
            }
        }
        p.extend_from_slice(&kind.to_le_bytes());
        p.extend_from_slice(&(data.len() as u16).to_le_bytes());
        p.extend_from_slice(&[0; 4]);
        p.extend_from_slice(data);
    }
    p[context_offset_at..context_offset_at + 4].copy_from_slice(&offset.to_le_bytes());
    p[context_offset_at + 4..context_offset_at + 6].copy_from_slice(&(contexts.len() as u16).to_le_bytes());
    frame(&p)
}

/// NTLMSSP NEGOTIATE (MS-NLMP 2.2.1.1): unicode, request target, NTLM, extended session security,
/// target info, version, 128/56-bit.
fn ntlmssp_negotiate() -> Vec<u8> {
    let mut m = b"NTLMSSP\0".to_vec();
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(&0xe208_8297u32.to_le_bytes());
    m.extend_from_slice(&[0; 16]); // domain and workstation fields: empty
    m.extend_from_slice(&[10, 0, 0x61, 0x4a, 0, 0, 0, 15]); // version 10.0.19041, NTLMSSP revision 15
    m
}

/// The NTLMSSP NEGOTIATE inside a SPNEGO NegTokenInit (RFC 4178).
fn spnego_negotiate() -> Vec<u8> {
    use super::udp::ber;
    const NTLMSSP_OID: [u8; 10] = [0x2b, 6, 1, 4, 1, 0x82, 0x37, 2, 2, 10];
    const SPNEGO_OID: [u8; 6] = [0x2b, 6, 1, 5, 5, 2];
    let mech_types = ber(0xa0, &ber(0x30, &ber(0x06, &NTLMSSP_OID)));
    let token = ber(0xa2, &ber(0x04, &ntlmssp_negotiate()));
    let init = ber(0xa0, &ber(0x30, &[mech_types, token].concat()));
    ber(0x60, &[ber(0x06, &SPNEGO_OID), init].concat())
}

/// An SMB2 SESSION_SETUP carrying the NTLMSSP NEGOTIATE: the server answers with its CHALLENGE.
pub fn smb2_session_setup() -> Vec<u8> {
    let blob = spnego_negotiate();
    let mut p = smb2_header(1, 1);
    p.extend_from_slice(&25u16.to_le_bytes());
    p.push(0); // flags
    p.push(1); // security mode: signing enabled
    p.extend_from_slice(&[0; 4]); // capabilities
    p.extend_from_slice(&[0; 4]); // channel
    p.extend_from_slice(&(64u16 + 24).to_le_bytes()); // security buffer offset
    p.extend_from_slice(&(blob.len() as u16).to_le_bytes());
    p.extend_from_slice(&[0; 8]); // previous session id
    p.extend_from_slice(&blob);
    frame(&p)
}

/// What a server's NTLMSSP CHALLENGE (MS-NLMP 2.2.1.2) says about it: names from the target info
/// and the OS version, as nmap's `smb-os-discovery` and `rdp-ntlm-info` read them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NtlmInfo {
    pub target: Option<String>,
    pub netbios_computer: Option<String>,
    pub netbios_domain: Option<String>,
    pub dns_computer: Option<String>,
    pub dns_domain: Option<String>,
    pub dns_tree: Option<String>,
    /// (major, minor, build) of the NEGOTIATE_VERSION field.
    pub os_version: Option<(u8, u8, u16)>,
}

impl NtlmInfo {
    /// "NetBIOS name X, domain Y, DNS name Z, OS build 10.0.17763".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut add = |k: &str, v: &Option<String>| {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                parts.push(format!("{k} {v}"));
            }
        };
        add("NetBIOS name", &self.netbios_computer);
        add("domain", &self.netbios_domain);
        add("DNS name", &self.dns_computer);
        add("DNS domain", &self.dns_domain);
        if let Some((a, b, c)) = self.os_version {
            parts.push(format!("OS build {a}.{b}.{c}"));
        }
        parts.join(", ")
    }
}

fn utf16(d: &[u8]) -> String {
    let units: Vec<u16> = d.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take(256).collect();
    let s = String::from_utf16_lossy(&units);
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// The NTLMSSP CHALLENGE found anywhere in `d` (an SMB2 SESSION_SETUP reply, a CredSSP TSRequest).
pub fn ntlm_challenge(d: &[u8]) -> Option<NtlmInfo> {
    let at = text::find(d, b"NTLMSSP\0")?;
    let m = d.get(at..)?;
    if text::le32(m, 8)? != 2 {
        return None;
    }
    let field = |off: usize| -> Option<&[u8]> {
        let len = usize::from(text::le16(m, off)?);
        let start = text::le32(m, off + 4)? as usize;
        m.get(start..start.checked_add(len)?)
    };
    let flags = text::le32(m, 20)?;
    let mut info = NtlmInfo { target: field(12).map(utf16), ..Default::default() };
    if flags & 0x0200_0000 != 0 {
        if let (Some(&major), Some(&minor), Some(build)) = (m.get(48), m.get(49), text::le16(m, 50)) {
            info.os_version = Some((major, minor, build));
        }
    }
    if let Some(mut av) = field(40) {
        for _ in 0..32 {
            let (Some(id), Some(len)) = (text::le16(av, 0), text::le16(av, 2)) else { break };
            let Some(value) = av.get(4..4 + usize::from(len)) else { break };
            let text = Some(utf16(value));
            match id {
                0 => break,
                1 => info.netbios_computer = text,
                2 => info.netbios_domain = text,
                3 => info.dns_computer = text,
                4 => info.dns_domain = text,
                5 => info.dns_tree = text,
                _ => {}
            }
            av = &av[4 + usize::from(len)..];
        }
    }
    Some(info)
}

/// Samba's SPNEGO NegTokenInit carries this negHints principal (Windows dropped it after 2003).
const SAMBA_HINT: &[u8] = b"not_defined_in_RFC4178@please_ignore";

/// Samba or Windows, from the SMB2 NEGOTIATE reply's security blob and the NTLMSSP version.
pub fn product(negotiate: &[u8], ntlm: Option<&NtlmInfo>) -> Option<&'static str> {
    if text::find(negotiate, SAMBA_HINT).is_some() {
        return Some("Samba smbd");
    }
    // Windows reports its real build; Samba reports 6.1.0 (or nothing).
    ntlm.and_then(|n| n.os_version).filter(|&(_, _, build)| build != 0).map(|_| "Microsoft Windows")
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

/// A node status response to [`netbios_nbstat`]: our id, a response, one answer of type NBSTAT
/// (a DNS server answers the same bytes with an error and no answer).
fn nbstat_reply(d: &[u8]) -> bool {
    d.len() > 56 && d[..2] == [0x50, 0x4c] && d[2] & 0x80 != 0 && text::be16(d, 6) >= Some(1) && text::be16(d, 46) == Some(0x21)
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

/// What the SMB2 NEGOTIATE and the NTLMSSP SESSION_SETUP after it (same connection) tell.
struct Smb2Facts {
    negotiated: Option<Negotiated>,
    product: Option<&'static str>,
    ntlm: Option<NtlmInfo>,
}

async fn negotiate2(ctx: &Ctx<'_>, netbios: bool) -> Option<Smb2Facts> {
    let mut c = open(ctx, netbios).await?;
    let mut facts = Smb2Facts { negotiated: None, product: None, ntlm: None };
    if !c.send(&smb2_negotiate()).await {
        return Some(facts);
    }
    let reply = c.read(ctx.check_wait(), CAP, frame_done).await.to_vec();
    facts.negotiated = negotiate_reply(&reply);
    if matches!(facts.negotiated, Some(Negotiated::Smb2 { status: 0, .. })) {
        c.clear();
        if c.send(&smb2_session_setup()).await {
            facts.ntlm = ntlm_challenge(c.read(ctx.check_wait(), CAP, frame_done).await);
        }
    }
    facts.product = product(&reply, facts.ntlm.as_ref());
    Some(facts)
}

pub async fn followup(ctx: &Ctx<'_>, netbios: bool) {
    let only_nt_lm = smb1_negotiate(&["NT LM 0.12"]);
    let (v1, facts) = tokio::join!(negotiate(ctx, netbios, &only_nt_lm), negotiate2(ctx, netbios));
    let v2 = facts.as_ref().map(|f| f.negotiated.clone());
    if let Some(f) = &facts {
        let names = f.ntlm.as_ref().map(NtlmInfo::describe).filter(|d| !d.is_empty());
        if f.product.is_some() || names.is_some() {
            ctx.refine(f.product.map(str::to_string), None, names);
        }
    }
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
            let names = facts.as_ref().and_then(|f| f.ntlm.as_ref()).map(NtlmInfo::describe).filter(|d| !d.is_empty());
            let extrainfo = match names {
                Some(n) => format!("SMB {} dialect; {n}", dialect_name(*dialect)),
                None => format!("SMB {} dialect", dialect_name(*dialect)),
            };
            ctx.refine(None, None, Some(extrainfo));
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
    udp: Some(UdpProbe { ports: &[137], request: |_| netbios_nbstat(), parse: |_, d, _| nbstat_reply(d), also: None, followup: None }),
    ..Protocol::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    /// A CHALLENGE as Windows Server 2019 sends it (names, version 10.0.17763).
    fn challenge() -> Vec<u8> {
        let u = |s: &str| s.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>();
        let mut av = Vec::new();
        for (id, v) in [(2u16, "LAB"), (1, "DC01"), (4, "lab.example"), (3, "dc01.lab.example")] {
            av.extend_from_slice(&id.to_le_bytes());
            av.extend_from_slice(&(u(v).len() as u16).to_le_bytes());
            av.extend_from_slice(&u(v));
        }
        av.extend_from_slice(&[0, 0, 0, 0]);
        let target = u("LAB");
        let mut m = b"NTLMSSP\0".to_vec();
        m.extend_from_slice(&2u32.to_le_bytes());
        m.extend_from_slice(&(target.len() as u16).to_le_bytes());
        m.extend_from_slice(&(target.len() as u16).to_le_bytes());
        m.extend_from_slice(&56u32.to_le_bytes());
        m.extend_from_slice(&0xe28a_8215u32.to_le_bytes());
        m.extend_from_slice(&[7; 8]); // challenge
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&(av.len() as u16).to_le_bytes());
        m.extend_from_slice(&(av.len() as u16).to_le_bytes());
        m.extend_from_slice(&((56 + target.len()) as u32).to_le_bytes());
        m.extend_from_slice(&[10, 0, 0x63, 0x45, 0, 0, 0, 15]); // 10.0.17763
        m.extend_from_slice(&target);
        m.extend_from_slice(&av);
        m
    }

    #[test]
    fn ntlm_challenge_names_the_host() {
        let mut reply = vec![0xa1, 0x81, 0x00]; // some SPNEGO wrapping before it
        reply.extend_from_slice(&challenge());
        let n = ntlm_challenge(&reply).unwrap();
        assert_eq!(n.netbios_computer.as_deref(), Some("DC01"));
        assert_eq!(n.dns_domain.as_deref(), Some("lab.example"));
        assert_eq!(n.os_version, Some((10, 0, 17763)));
        assert_eq!(n.describe(), "NetBIOS name DC01, domain LAB, DNS name dc01.lab.example, DNS domain lab.example, OS build 10.0.17763");
        assert_eq!(product(b"", Some(&n)), Some("Microsoft Windows"));
        assert_eq!(product(b"..not_defined_in_RFC4178@please_ignore..", Some(&n)), Some("Samba smbd"));
        // every truncation is refused or read without a panic
        for cut in 0..reply.len() {
            let _ = ntlm_challenge(&reply[..cut]);
        }
        let neg = smb2_negotiate();
        assert!(frame_done(&neg));
        assert_eq!(text::le16(payload(&neg).unwrap(), 66), Some(SMB2_DIALECTS.len() as u16));
        assert!(text::find(&smb2_session_setup(), b"NTLMSSP\0\x01").is_some());
    }

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

//! RDP (MS-RDPBCGR 2.2.1.1/2.2.1.2): X.224 Connection Request with RDP_NEG_REQ; the Connection
//! Confirm says which security protocol the server picks, or why it refuses.
use super::conn::{self, CAP};
use super::text;
use super::{Check, Ctx, Hit, Probe};
use super::registry::Protocol;

pub const PROBE: Probe = Probe {
    name: "rdp",
    ports: &[(3389, 3389)],
    request: |_| request(PROTO_TLS | PROTO_HYBRID),
    done: tpkt_done,
    parse,
};

pub const PROTO_RDP: u32 = 0;
pub const PROTO_TLS: u32 = 1;
pub const PROTO_HYBRID: u32 = 2;

pub fn request(protocols: u32) -> Vec<u8> {
    let mut x224 = vec![0, 0xe0, 0, 0, 0, 0, 0];
    x224.extend_from_slice(b"Cookie: mstshash=portlens\r\n");
    x224.extend_from_slice(&[1, 0, 8, 0]);
    x224.extend_from_slice(&protocols.to_le_bytes());
    x224[0] = (x224.len() - 1) as u8;
    let mut out = vec![3, 0];
    out.extend_from_slice(&((x224.len() + 4) as u16).to_be_bytes());
    out.extend_from_slice(&x224);
    out
}

pub fn tpkt_done(d: &[u8]) -> bool {
    text::be16(d, 2).is_some_and(|n| d.first() == Some(&3) && d.len() >= usize::from(n))
}

/// The negotiation outcome of a Connection Confirm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Neg {
    /// RDP_NEG_RSP: the protocol the server selected.
    Selected(u32),
    /// RDP_NEG_FAILURE: the failure code (5 = HYBRID_REQUIRED_BY_SERVER).
    Failure(u32),
    /// A Connection Confirm without negotiation data (a legacy server: standard RDP security).
    Legacy,
}

pub fn confirm(d: &[u8]) -> Option<Neg> {
    if *d.first()? != 3 || *d.get(1)? != 0 {
        return None;
    }
    let len = usize::from(text::be16(d, 2)?);
    let li = usize::from(*d.get(4)?);
    if len < 11 || len > d.len() || li + 5 > len || *d.get(5)? & 0xf0 != 0xd0 {
        return None;
    }
    if len < 19 {
        return Some(Neg::Legacy);
    }
    let (kind, nlen, value) = (*d.get(11)?, text::le16(d, 13)?, text::le32(d, 15)?);
    if nlen != 8 {
        return None;
    }
    match kind {
        2 => Some(Neg::Selected(value)),
        3 => Some(Neg::Failure(value)),
        _ => None,
    }
}

fn parse(d: &[u8]) -> Option<Hit> {
    match confirm(d)? {
        // S7 PLCs confirm ISO transport connections too; without RDP negotiation data it is not RDP.
        Neg::Legacy => None,
        neg => {
            let hit = Hit::new("rdp", 10);
            Some(match product(neg, *d.get(12)?) {
                Some(p) => hit.product(p, None),
                None => hit,
            })
        }
    }
}

/// The server behind a Connection Confirm to [`PROBE`] (TLS or CredSSP offered), from the
/// RDP_NEG_RSP flags (MS-RDPBCGR 2.2.1.2.1). Windows 8 / Server 2012 and later set flags beyond
/// EXTENDED_CLIENT_DATA_SUPPORTED (0x01): restricted admin (0x08) and redirected authentication
/// (0x10) are Windows features. xrdp sets 0x01 alone and, having no CredSSP, picks TLS although
/// CredSSP was offered (a Windows 7 / 2008 R2 restricted to TLS would look the same: those are out
/// of support).
pub fn product(neg: Neg, flags: u8) -> Option<&'static str> {
    match neg {
        Neg::Selected(_) if flags & 0x18 != 0 => Some("Microsoft Terminal Services"),
        Neg::Selected(PROTO_TLS) if flags == 0x01 => Some("xrdp"),
        _ => None,
    }
}

pub fn protocol_name(p: u32) -> &'static str {
    match p {
        0 => "rdp",
        1 => "tls",
        2 => "credssp",
        4 => "rdstls",
        8 => "credssp-early-auth",
        _ => "other",
    }
}

pub fn failure_name(code: u32) -> &'static str {
    match code {
        1 => "SSL_REQUIRED_BY_SERVER",
        2 => "SSL_NOT_ALLOWED_BY_SERVER",
        3 => "SSL_CERT_NOT_ON_SERVER",
        4 => "INCONSISTENT_FLAGS",
        5 => "HYBRID_REQUIRED_BY_SERVER",
        6 => "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER",
        _ => "unknown",
    }
}

async fn ask(ctx: &Ctx<'_>, protocols: u32) -> Option<Neg> {
    let mut c = conn::connect(ctx.addr, ctx.deadline, std::time::Duration::from_secs(2)).await?;
    if !c.send(&request(protocols)).await {
        return None;
    }
    confirm(c.read(ctx.check_wait(), CAP, tpkt_done).await)
}

fn describe(n: Option<Neg>) -> String {
    match n {
        Some(Neg::Selected(p)) => format!("accepted ({})", protocol_name(p)),
        Some(Neg::Legacy) => "accepted (legacy, no negotiation)".into(),
        Some(Neg::Failure(c)) => format!("refused ({})", failure_name(c)),
        None => "no answer".into(),
    }
}

pub async fn followup(ctx: &Ctx<'_>) {
    let title = "RDP accepts connections without Network Level Authentication";
    let (std, tls, hybrid) = tokio::join!(ask(ctx, PROTO_RDP), ask(ctx, PROTO_TLS), ask(ctx, PROTO_TLS | PROTO_HYBRID));
    let accepted = |n: Option<Neg>, want: u32| match n {
        Some(Neg::Selected(p)) => p == want,
        Some(Neg::Legacy) => want == PROTO_RDP,
        _ => false,
    };
    let mut offered = Vec::new();
    if accepted(std, PROTO_RDP) {
        offered.push("rdp");
    }
    if accepted(tls, PROTO_TLS) {
        offered.push("tls");
    }
    if let Some(Neg::Selected(p)) = hybrid {
        if p & (PROTO_HYBRID | 8) != 0 {
            offered.push("credssp");
        }
    }
    let refused_hybrid = |n: Option<Neg>| matches!(n, Some(Neg::Failure(5 | 6)));
    let outcome = if offered.contains(&"rdp") || offered.contains(&"tls") {
        Some(true)
    } else if refused_hybrid(std) && refused_hybrid(tls) {
        Some(false)
    } else {
        None
    };
    ctx.refine(
        None,
        None,
        Some(format!("security protocols: {}", if offered.is_empty() { "none".into() } else { offered.join(",") })),
    );
    ctx.check(
        Check::new("rdp-nla-not-enforced", outcome, title)
            .with("offered", offered.join(","))
            .with("standard_rdp", describe(std))
            .with("tls_only", describe(tls))
            .with("credssp", describe(hybrid)),
    );
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "rdp",
    names: &["rdp"],
    probes: &[PROBE],
    followup: Some(|ctx, _, _| Box::pin(followup(ctx))),
    ..Protocol::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products() {
        // xrdp 0.9 picks TLS over the offered CredSSP, flags 0x01 (captured from Debian's xrdp)
        let xrdp = [3, 0, 0, 19, 14, 0xd0, 0, 0, 0x12, 0x34, 0, 2, 0x01, 8, 0, 1, 0, 0, 0];
        assert_eq!(parse(&xrdp).unwrap().product.as_deref(), Some("xrdp"));
        let windows = [3, 0, 0, 19, 14, 0xd0, 0, 0, 0x12, 0x34, 0, 2, 0x1f, 8, 0, 2, 0, 0, 0];
        assert_eq!(parse(&windows).unwrap().product.as_deref(), Some("Microsoft Terminal Services"));
        let refused = [3, 0, 0, 19, 14, 0xd0, 0, 0, 0x12, 0x34, 0, 3, 0, 8, 0, 5, 0, 0, 0];
        assert_eq!(parse(&refused).unwrap().product, None);
    }

    #[test]
    fn confirm_parsing() {
        assert!(tpkt_done(&request(3)));
        let rsp = [3, 0, 0, 19, 14, 0xd0, 0, 0, 0x12, 0x34, 0, 2, 0x1f, 8, 0, 1, 0, 0, 0];
        assert_eq!(confirm(&rsp), Some(Neg::Selected(1)));
        let fail = [3, 0, 0, 19, 14, 0xd0, 0, 0, 0x12, 0x34, 0, 3, 0, 8, 0, 5, 0, 0, 0];
        assert_eq!(confirm(&fail), Some(Neg::Failure(5)));
        assert_eq!(confirm(&[3, 0, 0, 11, 6, 0xd0, 0, 0, 0, 0, 0]), Some(Neg::Legacy));
        assert!(parse(&[3, 0, 0, 11, 6, 0xd0, 0, 0, 0, 0, 0]).is_none());
    }
}

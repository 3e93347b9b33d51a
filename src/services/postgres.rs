//! PostgreSQL (frontend/backend protocol 3.0): a StartupMessage, answered by an authentication
//! request or an error. (The one-byte answer to an SSLRequest, `S` or `N`, decides nothing: it is
//! also the first byte of an SSH banner, or of any reply dripped a byte at a time.)
use super::conn::{self, CAP};
use super::text;
use super::{Ctx, Hit, Probe};
use super::registry::Protocol;

pub const PROBE: Probe = Probe { name: "postgresql", ports: &[(5432, 5433)], request: |_| startup(), done, parse };

/// The reply is complete (an authentication request or an error is in), or is not PostgreSQL's.
fn done(d: &[u8]) -> bool {
    match d.first() {
        None => false,
        Some(b'R' | b'E') => parse_startup(d).is_some() || text::be32(d, 1).is_some_and(|n| n > 65_536),
        Some(_) => true,
    }
}

fn parse(d: &[u8]) -> Option<Hit> {
    let s = parse_startup(d)?;
    let hit = Hit::new("postgresql", 10).product("PostgreSQL", None);
    Some(match (s.auth, &s.error) {
        (Some(a), _) => hit.field("auth", auth_name(a)),
        (None, Some(e)) => hit.field("error", e.clone()),
        _ => hit,
    })
}

pub fn startup() -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for kv in ["user", "portlens", "database", "portlens", "application_name", "portlens"] {
        body.extend_from_slice(kv.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// What the server answered to a StartupMessage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Startup {
    pub auth: Option<u32>,
    pub error: Option<String>,
    pub server_version: Option<String>,
}

/// Backend messages: 'R' authentication, 'E' error, 'S' parameter status, ...
pub fn parse_startup(d: &[u8]) -> Option<Startup> {
    let mut s = Startup::default();
    let mut at = 0;
    let mut seen = 0;
    while let (Some(&kind), Some(len)) = (d.get(at), text::be32(d, at + 1)) {
        let len = len as usize;
        if !(4..=65_536).contains(&len) {
            break;
        }
        let Some(body) = d.get(at + 5..at + 1 + len) else { break };
        match kind {
            // AuthenticationOk (0) to AuthenticationSASLFinal (12)
            b'R' => s.auth = Some(text::be32(body, 0).filter(|&code| code <= 12)?),
            b'E' => {
                // ErrorResponse: typed fields (severity, code, message...), each ended by a NUL
                let fields: Vec<&[u8]> = body.split(|&b| b == 0).filter(|f| !f.is_empty()).collect();
                if fields.is_empty() || !fields.iter().all(|f| b"SVCMDHPpqWstcdnFLR".contains(&f[0])) {
                    return None;
                }
                let msg = fields.iter().find(|f| f[0] == b'M').map(|f| text::lossy(&f[1..], 300));
                s.error = Some(msg?);
            }
            b'S' => {
                let mut kv = body.split(|&b| b == 0);
                if kv.next() == Some(b"server_version") {
                    s.server_version = kv.next().map(|v| text::lossy(v, 60));
                }
            }
            b'K' | b'Z' | b'N' => {}
            _ => {
                if seen == 0 {
                    return None;
                }
                break;
            }
        }
        seen += 1;
        at += 1 + len;
    }
    (seen > 0 && (s.auth.is_some() || s.error.is_some())).then_some(s)
}

fn auth_name(code: u32) -> String {
    match code {
        0 => "none (trust)".into(),
        3 => "cleartext password".into(),
        5 => "MD5".into(),
        7 => "GSSAPI".into(),
        9 => "SSPI".into(),
        10 => "SASL (SCRAM-SHA-256)".into(),
        c => format!("method {c}"),
    }
}

pub async fn followup(ctx: &Ctx<'_>) {
    let Some(mut c) = conn::connect(ctx.addr, ctx.deadline, std::time::Duration::from_secs(2)).await else { return };
    if !c.send(&startup()).await {
        return;
    }
    let d = c
        .read(ctx.check_wait(), CAP, |d| {
            parse_startup(d).is_some_and(|s| s.error.is_some() || s.auth != Some(0) || s.server_version.is_some())
        })
        .await;
    let Some(s) = parse_startup(d) else { return };
    let _ = c.send(&[b'X', 0, 0, 0, 4]).await;
    let extra = match (&s.auth, &s.error) {
        (Some(a), _) => format!("authentication: {}", auth_name(*a)),
        (None, Some(e)) => format!("startup refused: {e}"),
        _ => String::new(),
    };
    ctx.rename("postgresql", 10);
    ctx.refine(Some("PostgreSQL".into()), s.server_version.clone(), Some(extra));
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "postgresql",
    names: &["postgresql"],
    probes: &[PROBE],
    followup: Some(|ctx, _, _| Box::pin(followup(ctx))),
    ..Protocol::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_replies() {
        let r = [b'R', 0, 0, 0, 8, 0, 0, 0, 10];
        assert_eq!(parse_startup(&r).unwrap().auth, Some(10));
        let mut e = vec![b'E'];
        let body = b"SFATAL\0C28000\0Mno pg_hba.conf entry\0\0";
        e.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        e.extend_from_slice(body);
        assert_eq!(parse_startup(&e).unwrap().error.as_deref(), Some("no pg_hba.conf entry"));
        assert_eq!(parse(&r).unwrap().name, "postgresql");
        assert!(parse(b"N").is_none() && parse(b"S").is_none());
        assert!(parse(&r[..8]).is_none());
        assert!(parse_startup(b"HTTP/1.1 400").is_none());
    }
}

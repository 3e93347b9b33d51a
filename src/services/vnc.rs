//! VNC / RFB (RFC 6143): the version banner, then the security types the server offers.
use super::conn::{Conn, CAP};
use super::text;
use super::{Check, Ctx, Hit};
use super::registry::Protocol;

/// "RFB 003.008\n" -> (3, 8).
pub fn version(d: &[u8]) -> Option<(u16, u16)> {
    let b = d.get(..12)?;
    if &b[..4] != b"RFB " || b[7] != b'.' || b[11] != b'\n' {
        return None;
    }
    let num = |s: &[u8]| -> Option<u16> {
        s.iter().all(u8::is_ascii_digit).then(|| std::str::from_utf8(s).ok()?.parse().ok())?
    };
    Some((num(&b[4..7])?, num(&b[8..11])?))
}

pub fn parse_banner(d: &[u8]) -> Option<Hit> {
    let (major, minor) = version(d)?;
    let mut hit = Hit::new("vnc", 10).field("banner", format!("RFB {major:03}.{minor:03}"));
    hit.extrainfo = Some(format!("protocol {major}.{minor}"));
    Some(hit)
}

/// The security types: RFB 3.3 sends one u32, 3.7+ a counted list (0 = failure with a reason).
pub fn security_types(d: &[u8], legacy: bool) -> Option<Result<Vec<u8>, String>> {
    if legacy {
        let t = text::be32(d, 0)?;
        return match t {
            0 => Some(Err(reason(d.get(4..)?)?)),
            t if t < 256 => Some(Ok(vec![t as u8])),
            _ => None,
        };
    }
    let n = usize::from(*d.first()?);
    if n == 0 {
        return Some(Err(reason(d.get(1..)?)?));
    }
    Some(Ok(d.get(1..1 + n)?.to_vec()))
}

fn reason(d: &[u8]) -> Option<String> {
    let n = text::be32(d, 0)? as usize;
    Some(text::lossy(d.get(4..4 + n.min(1024))?, 1024))
}

pub fn type_name(t: u8) -> &'static str {
    match t {
        1 => "None",
        2 => "VNC Authentication",
        5 => "RA2",
        16 => "Tight",
        18 => "TLS",
        19 => "VeNCrypt",
        22 => "XVP",
        30 => "Apple ARD",
        _ => "other",
    }
}

pub async fn followup(ctx: &Ctx<'_>, mut conn: Conn) {
    const ID: &str = "vnc-no-auth";
    const TITLE: &str = "VNC server accepts clients without authentication (security type None)";
    let Some((major, minor)) = version(&conn.buf) else { return };
    let legacy = major == 3 && minor < 7;
    let reply: &[u8] = if legacy { b"RFB 003.003\n" } else { b"RFB 003.008\n" };
    conn.clear();
    if !conn.send(reply).await {
        ctx.check(Check::new(ID, None, TITLE).with("reason", "connection closed"));
        return;
    }
    let data = conn.read(ctx.check_wait(), CAP, |b| security_types(b, legacy).is_some()).await;
    let check = match security_types(data, legacy) {
        Some(Ok(types)) => {
            let names: Vec<String> = types.iter().map(|&t| format!("{t} ({})", type_name(t))).collect();
            Check::new(ID, Some(types.contains(&1)), TITLE).with("security_types", names.join(", "))
        }
        Some(Err(reason)) => Check::new(ID, Some(false), TITLE).with("refused", reason),
        None => Check::new(ID, None, TITLE).with("reason", "no security types received"),
    };
    ctx.check(check);
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "vnc",
    names: &["vnc"],
    banners: &[parse_banner],
    banner_ports: &[5900, 5901, 5902, 5903],
    followup: Some(|ctx, _, conn| Box::pin(followup(ctx, conn))),
    ..Protocol::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfb() {
        assert_eq!(version(b"RFB 003.008\n"), Some((3, 8)));
        assert!(version(b"RFB 003.00x\n").is_none());
        assert_eq!(security_types(&[2, 1, 2], false), Some(Ok(vec![1, 2])));
        assert_eq!(security_types(&[0, 0, 0, 2], true), Some(Ok(vec![2])));
        assert_eq!(security_types(&[0, 0, 0, 0, 2, b'n', b'o'], false), Some(Err("no".into())));
    }
}

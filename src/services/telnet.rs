//! Telnet (RFC 854): the server opens with IAC option negotiation.
use super::conn::Conn;
use super::text;
use super::{Check, Ctx, Hit};
use super::registry::Protocol;

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;

/// The negotiation commands at the start of `d` (("DO", option), ...) and where they end.
pub fn negotiation(d: &[u8]) -> (Vec<(&'static str, u8)>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while d.get(at) == Some(&IAC) && out.len() < 64 {
        let verb = match d.get(at + 1) {
            Some(251) => "WILL",
            Some(252) => "WONT",
            Some(253) => "DO",
            Some(254) => "DONT",
            Some(&SB) => {
                // IAC SB option ... IAC SE
                let Some(opt) = d.get(at + 2) else { break };
                let Some(end) = d.get(at + 3..).and_then(|r| r.windows(2).position(|w| w == [IAC, SE])) else { break };
                out.push(("SB", *opt));
                at += 3 + end + 2;
                continue;
            }
            _ => break,
        };
        let Some(&opt) = d.get(at + 2) else { break };
        if opt > 49 && opt != 255 {
            break;
        }
        out.push((verb, opt));
        at += 3;
    }
    (out, at)
}

pub fn parse(d: &[u8]) -> Option<Hit> {
    let (cmds, end) = negotiation(d);
    let rest = &d[end..];
    let then_text = !rest.is_empty()
        && text::is_text(
            rest.iter().copied().filter(|&b| b != b'\r' && b != b'\n' && b != 0).collect::<Vec<_>>().as_slice(),
        );
    if cmds.len() >= 2 || (cmds.len() == 1 && then_text) {
        let opts: Vec<String> = cmds.iter().map(|(v, o)| format!("{v} {o}")).collect();
        return Some(Hit::new("telnet", if cmds.len() >= 2 { 9 } else { 7 }).field("negotiation", opts.join(",")));
    }
    None
}

pub fn followup(ctx: &Ctx<'_>, conn: &Conn) {
    let (cmds, _) = negotiation(&conn.buf);
    let opts: Vec<String> = cmds.iter().map(|(v, o)| format!("{v} {o}")).collect();
    ctx.check(
        Check::new("telnet-cleartext", Some(true), "Telnet service: logins and sessions travel in clear text")
            .with("negotiation", opts.join(", ")),
    );
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "telnet",
    names: &["telnet"],
    banners: &[parse],
    banner_done: Some(|d| parse(d).is_some()),
    banner_ports: &[23, 2323],
    followup: Some(|ctx, _, conn| {
        followup(ctx, &conn);
        Box::pin(async {})
    }),
    ..Protocol::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iac() {
        assert!(parse(&[255, 253, 24, 255, 253, 32]).is_some());
        assert!(parse(&[255, 251, 1, b'l', b'o', b'g', b'i', b'n', b':']).is_some());
        assert!(parse(&[255, 253, 24]).is_none());
        assert!(parse(b"hello").is_none());
        assert!(parse(&[255, 250, 24, 1, 255, 240, 255, 253, 1]).is_some());
    }
}

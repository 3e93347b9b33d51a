//! X11: a connection setup without authorization; Success means anyone may open windows and
//! read keystrokes.
use super::conn::Conn;
use super::text;
use super::{Check, Ctx, Hit, Probe};
use super::registry::Protocol;

pub const PROBE: Probe = Probe { name: "x11", ports: &[(6000, 6063)], request, done, parse };

fn request(_: &Ctx) -> Vec<u8> {
    // byte order 'l' (LSB first), protocol 11.0, no authorization protocol
    vec![b'l', 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0]
}

fn done(d: &[u8]) -> bool {
    text::le16(d, 6).is_some_and(|n| d.len() >= 8 + 4 * usize::from(n))
}

/// (status, detail): status 0 Failed, 1 Success, 2 Authenticate; detail is the reason or vendor.
pub fn setup_reply(d: &[u8]) -> Option<(u8, String)> {
    let status = *d.first()?;
    if status > 2 || text::le16(d, 2)? != 11 {
        return None;
    }
    let extra = 4 * usize::from(text::le16(d, 6)?);
    let body = d.get(8..8 + extra)?;
    match status {
        0 => {
            let n = usize::from(d[1]);
            Some((0, text::lossy(body.get(..n)?, 200)))
        }
        1 => {
            let vlen = usize::from(text::le16(d, 24)?);
            Some((1, text::lossy(d.get(40..40 + vlen)?, 200)))
        }
        _ => Some((2, text::lossy(body, 200))),
    }
}

fn parse(d: &[u8]) -> Option<Hit> {
    let (status, detail) = setup_reply(d)?;
    let hit = Hit::new("x11", 10);
    Some(if status == 1 { hit.product(detail, None) } else { hit })
}

pub fn followup(ctx: &Ctx<'_>, conn: &Conn) {
    let title = "X11 server accepts connections without authorization";
    let check = match setup_reply(&conn.buf) {
        Some((1, vendor)) => Check::new("x11-no-auth", Some(true), title).with("vendor", vendor),
        Some((s, reason)) => Check::new("x11-no-auth", Some(false), title)
            .with("status", if s == 0 { "failed" } else { "authenticate" })
            .with("reason", reason.trim()),
        None => return,
    };
    ctx.check(check);
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "x11",
    names: &["x11"],
    probes: &[PROBE],
    followup: Some(|ctx, _, conn| {
        followup(ctx, &conn);
        Box::pin(async {})
    }),
    ..Protocol::EMPTY
};

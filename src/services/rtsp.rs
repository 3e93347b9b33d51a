//! RTSP (RFC 2326): OPTIONS identifies; DESCRIBE answered 200 without credentials means the
//! stream is open to anyone.
use super::conn::{Conn, CAP};
use super::http::{complete, parse_response};
use super::{Check, Ctx, Hit, Probe};
use super::registry::Protocol;

pub const PROBE: Probe =
    Probe { name: "rtsp", ports: &[(554, 554), (8554, 8554)], request: options, done: complete, parse };

fn url(ctx: &Ctx) -> String {
    match ctx.addr {
        std::net::SocketAddr::V4(a) => format!("rtsp://{}:{}/", a.ip(), a.port()),
        std::net::SocketAddr::V6(a) => format!("rtsp://[{}]:{}/", a.ip(), a.port()),
    }
}

fn options(ctx: &Ctx) -> Vec<u8> {
    format!("OPTIONS {} RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: portlens\r\n\r\n", url(ctx)).into_bytes()
}

fn parse(d: &[u8]) -> Option<Hit> {
    let r = parse_response(d)?;
    if r.protocol != "RTSP/1.0" {
        return None;
    }
    let hit = Hit::new("rtsp", 10);
    Some(match r.header("server") {
        Some(s) => hit.field("server", s.to_string()),
        None => hit,
    })
}

pub async fn followup(ctx: &Ctx<'_>, conn: Conn) {
    drop(conn);
    let title = "RTSP server describes streams without authentication";
    let Some(mut c) = ctx.connect().await else { return };
    let req =
        format!("DESCRIBE {} RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\nUser-Agent: portlens\r\n\r\n", url(ctx));
    if !c.send(req.as_bytes()).await {
        return;
    }
    let check = match parse_response(c.read(ctx.check_wait(), CAP, complete).await) {
        Some(r) => {
            let outcome = match r.status {
                200 => Some(true),
                401 | 403 => Some(false),
                _ => None,
            };
            let mut ch = Check::new("rtsp-no-auth", outcome, title)
                .with("request", "DESCRIBE /")
                .with("status", r.status.to_string());
            if let Some(a) = r.header("www-authenticate") {
                ch = ch.with("www_authenticate", a.split(' ').next().unwrap_or_default());
            }
            if r.status == 200 {
                ch = ch
                    .with("media", r.body.split(|&b| b == b'\n').filter(|l| l.starts_with(b"m=")).count().to_string());
            }
            ch
        }
        None => Check::new("rtsp-no-auth", None, title).with("reason", "no RTSP reply to DESCRIBE"),
    };
    ctx.check(check);
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "rtsp",
    names: &["rtsp"],
    probes: &[PROBE],
    followup: Some(|ctx, _, conn| Box::pin(followup(ctx, conn))),
    ..Protocol::EMPTY
};

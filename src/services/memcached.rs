//! memcached text protocol: `version`, then `stats` answered without authentication.
use super::conn::{Conn, CAP};
use super::text;
use super::{Check, Ctx, Hit, Probe, ServiceInfo};
use super::registry::{Protocol, UdpProbe};

pub const PROBE: Probe = Probe {
    name: "memcached",
    ports: &[(11211, 11211)],
    request: |_| b"version\r\n".to_vec(),
    done: text::has_line,
    parse,
};

fn parse(d: &[u8]) -> Option<Hit> {
    let line = text::first_line(d)?;
    let v = line.strip_prefix(b"VERSION ")?;
    if v.is_empty() || v.len() > 40 || !text::is_text(v) {
        return None;
    }
    let v = String::from_utf8_lossy(v).into_owned();
    Some(Hit::new("memcached", 10).product("memcached", Some(v.clone())).field("version", v))
}

/// memcached answers every line it cannot parse (another protocol's request) with `ERROR`.
/// `stats` over UDP, behind the UDP frame header (request id, sequence 0, 1 datagram, reserved).
fn udp_stats() -> Vec<u8> {
    let mut p = vec![0x50, 0x4c, 0, 0, 0, 1, 0, 0];
    p.extend_from_slice(b"stats\r\n");
    p
}

/// A UDP reply to `stats`: the version, and the amplification check.
pub(crate) fn udp_reply(data: &[u8], info: &mut ServiceInfo) -> bool {
    use super::udp::{check, printable};
    info.name = Some("memcache".into());
    let body = data.get(8..).unwrap_or_default();
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    info.version =
        text.lines().find_map(|l| l.strip_prefix("STAT version ").map(|v| printable(v.trim().as_bytes(), 32)));
    info.product = Some("memcached".into());
    let stats = text.contains("STAT ");
    info.checks.push(check(
        "memcached-udp",
        stats,
        "memcached answers over UDP without authentication (huge amplification)",
        &[("stats_answered", stats.to_string()), ("version", info.version.clone().unwrap_or_default())],
    ));
    stats
}

pub fn parse_errors(d: &[u8]) -> Option<Hit> {
    const E: &[u8] = b"ERROR\r\n";
    let all = d.starts_with(E) && d.chunks(E.len()).all(|c| c == E || E.starts_with(c));
    all.then(|| Hit::new("memcached", 5))
}

pub fn stats(d: &[u8]) -> Vec<(String, String)> {
    text::lines(d)
        .filter_map(|l| {
            let s = std::str::from_utf8(l.strip_prefix(b"STAT ")?).ok()?;
            let (k, v) = s.split_once(' ')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

pub async fn followup(ctx: &Ctx<'_>, mut conn: Conn) {
    let title = "memcached answers without authentication";
    if !conn.buf.starts_with(b"VERSION ") {
        // Guessed from another probe's reply: confirm with `version` on a fresh connection.
        conn = match ctx.connect().await {
            Some(c) => c,
            None => return,
        };
        if !conn.send(b"version\r\n").await {
            return;
        }
        let Some(hit) = (PROBE.parse)(conn.read(ctx.check_wait(), CAP, text::has_line).await) else { return };
        ctx.rename("memcached", hit.conf);
        ctx.refine(hit.product, hit.version, None);
    }
    conn.clear();
    if !conn.send(b"stats\r\n").await {
        return;
    }
    let d = conn
        .read(ctx.check_wait(), CAP, |b| {
            b.ends_with(b"END\r\n") || b.starts_with(b"ERROR") || b.starts_with(b"CLIENT_ERROR")
        })
        .await;
    let s = stats(d);
    let check = if s.is_empty() {
        let refused = d.starts_with(b"CLIENT_ERROR") || d.starts_with(b"SERVER_ERROR");
        Check::new("memcached-no-auth", if refused { Some(false) } else { None }, title)
            .with("reply", text::lossy(d, 100))
    } else {
        let mut c = Check::new("memcached-no-auth", Some(true), title).with("command", "stats");
        for (k, v) in
            s.iter().filter(|(k, _)| matches!(k.as_str(), "version" | "uptime" | "curr_items" | "curr_connections"))
        {
            c = c.with(k, v.clone());
        }
        c
    };
    let _ = conn.send(b"quit\r\n").await;
    ctx.check(check);
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "memcached",
    names: &["memcached"],
    probes: &[PROBE],
    banners: &[parse_errors],
    followup: Some(|ctx, _, conn| Box::pin(followup(ctx, conn))),
    udp: Some(UdpProbe { ports: &[11211], request: |_| udp_stats(), parse: |_, d, info| udp_reply(d, info), also: None, followup: None }),
    ..Protocol::EMPTY
};

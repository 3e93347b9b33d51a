//! memcached text protocol: `version`, then `stats` answered without authentication.
use super::conn::{Conn, CAP};
use super::text;
use super::{Check, Ctx, Hit, Probe};

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

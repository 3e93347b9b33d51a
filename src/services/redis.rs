//! Redis (RESP): `INFO` answered with `redis_version` means no authentication.
use super::conn::{Conn, CAP};
use super::text;
use super::{Check, Ctx, Hit, Probe};
use super::registry::Protocol;

pub const PROBE: Probe = Probe {
    name: "redis",
    ports: &[(6379, 6380), (16379, 16379), (26379, 26379)],
    request: |_| INFO.to_vec(),
    done,
    parse,
};

const INFO: &[u8] = b"*1\r\n$4\r\nINFO\r\n";

/// A RESP reply is complete: an error/status line, or a bulk string with all its bytes.
pub fn done(d: &[u8]) -> bool {
    match d.first() {
        Some(b'-' | b'+' | b':') => text::has_line(d),
        Some(b'$') => bulk(d).is_some() || text::first_line(d).is_some_and(|l| l == b"$-1"),
        _ => false,
    }
}

/// The payload of a complete bulk string reply.
pub fn bulk(d: &[u8]) -> Option<&[u8]> {
    let line = text::first_line(d)?;
    let n: usize = std::str::from_utf8(line.strip_prefix(b"$")?).ok()?.parse().ok()?;
    let start = line.len() + 3;
    d.get(start..start.checked_add(n)?)
}

/// `INFO` fields ("redis_version" -> "7.0.15").
pub fn info_field<'a>(info: &'a [u8], key: &str) -> Option<&'a str> {
    text::lines(info).find_map(|l| {
        let s = std::str::from_utf8(l).ok()?;
        s.strip_prefix(key)?.strip_prefix(':')
    })
}

pub fn parse(d: &[u8]) -> Option<Hit> {
    if let Some(info) = bulk(d) {
        let v = info_field(info, "redis_version")?;
        return Some(Hit::new("redis", 10).product("Redis", Some(v.to_string())).field("version", v.to_string()));
    }
    let line = text::first_line(d)?;
    if line.starts_with(b"-NOAUTH")
        || line.starts_with(b"-DENIED Redis")
        || line.starts_with(b"-ERR operation not permitted")
    {
        return Some(Hit::new("redis", 9).product("Redis", None));
    }
    None
}

pub async fn followup(ctx: &Ctx<'_>, mut conn: Conn) {
    let title = "Redis answers without authentication";
    if bulk(&conn.buf).is_none() && text::first_line(&conn.buf).is_none_or(|l| !l.starts_with(b"-NOAUTH")) {
        // Identified from another probe's reply: ask INFO on a fresh connection.
        match ctx.connect().await {
            Some(c) => conn = c,
            None => return,
        }
        if !conn.send(INFO).await {
            return;
        }
        conn.read(ctx.check_wait(), CAP * 2, done).await;
    }
    let d = &conn.buf;
    let check = if let Some(info) = bulk(d).filter(|i| info_field(i, "redis_version").is_some()) {
        let v = info_field(info, "redis_version").unwrap_or_default();
        ctx.refine(
            Some("Redis".into()),
            Some(v.to_string()),
            info_field(info, "redis_mode").map(|m| format!("mode: {m}")),
        );
        let mut c = Check::new("redis-no-auth", Some(true), title).with("command", "INFO").with("redis_version", v);
        for key in ["os", "redis_mode", "role", "connected_clients"] {
            if let Some(x) = info_field(info, key) {
                c = c.with(key, x);
            }
        }
        c
    } else if let Some(line) = text::first_line(d).filter(|l| l.starts_with(b"-")) {
        let vulnerable = if line.starts_with(b"-NOAUTH")
            || line.starts_with(b"-DENIED")
            || line.starts_with(b"-ERR operation not permitted")
        {
            Some(false)
        } else {
            None
        };
        Check::new("redis-no-auth", vulnerable, title).with("command", "INFO").with("reply", text::lossy(line, 200))
    } else {
        Check::new("redis-no-auth", None, title).with("reason", "no RESP reply to INFO")
    };
    let _ = conn.send(b"*1\r\n$4\r\nQUIT\r\n").await;
    ctx.check(check);
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "redis",
    names: &["redis"],
    probes: &[PROBE],
    followup: Some(|ctx, _, conn| Box::pin(followup(ctx, conn))),
    ..Protocol::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp() {
        let info = b"# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n";
        let mut d = format!("${}\r\n", info.len()).into_bytes();
        d.extend_from_slice(info);
        d.extend_from_slice(b"\r\n");
        assert!(done(&d));
        assert_eq!(parse(&d).unwrap().version.as_deref(), Some("7.0.15"));
        assert_eq!(parse(b"-NOAUTH Authentication required.\r\n").unwrap().conf, 9);
        assert!(parse(b"-ERR nope\r\n").is_none());
        assert!(!done(&d[..10]));
    }
}

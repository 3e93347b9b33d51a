//! SMTP (RFC 5321), POP3 (RFC 1939) and IMAP (RFC 9051): greetings, then capabilities.
use super::conn::{Conn, CAP};
use super::text;
use super::{Check, Ctx, Hit};
use super::registry::Protocol;

pub fn parse_banner(data: &[u8]) -> Option<Hit> {
    let line = text::first_line(data)?;
    if !text::is_text(line) || line.len() > 1024 {
        return None;
    }
    let s = String::from_utf8_lossy(line).into_owned();
    if (line.starts_with(b"220 ") || line.starts_with(b"220-"))
        && (text::find_ci(line, b"smtp").is_some() || text::find_ci(line, b" mail").is_some())
    {
        let text = s.get(4..).unwrap_or_default().to_string();
        return Some(Hit::new("smtp", 10).field("banner", s).field("text", text));
    }
    if line.starts_with(b"+OK") {
        let conf =
            if text::find_ci(line, b"pop").is_some() || text::find_ci(line, b"ready").is_some() { 10 } else { 7 };
        let text = s.get(4..).unwrap_or_default().trim_start().to_string();
        return Some(Hit::new("pop3", conf).field("banner", s).field("text", text));
    }
    if line.starts_with(b"* OK") || line.starts_with(b"* PREAUTH") {
        let text = s.get(5..).unwrap_or_default().trim_start().to_string();
        return Some(Hit::new("imap", 10).field("banner", s).field("text", text));
    }
    None
}

/// Ask for the capabilities (no login, no mail): EHLO, CAPA or CAPABILITY.
pub async fn followup(ctx: &Ctx<'_>, name: &str, mut conn: Conn) {
    let (request, done): (&[u8], super::Done) = match name {
        "smtp" => (b"EHLO portlens.invalid\r\n", |b| super::ftp::reply_code(b).is_some()),
        "pop3" => (b"CAPA\r\n", |b| b.ends_with(b"\r\n.\r\n") || b.starts_with(b"-ERR") && text::has_line(b)),
        _ => (b"a1 CAPABILITY\r\n", |b| text::lines(b).any(|l| l.starts_with(b"a1 "))),
    };
    conn.clear();
    if !conn.send(request).await {
        return;
    }
    let reply = conn.read(ctx.wait, CAP, done).await;
    let caps: Vec<String> = text::lines(reply)
        .filter(|l| text::is_text(l))
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .filter(|l| !l.starts_with("a1 ") && l != ".")
        .map(|l| {
            l.trim_start_matches("250-").trim_start_matches("250 ").trim_start_matches("* CAPABILITY ").to_string()
        })
        .take(40)
        .collect();
    if caps.is_empty() {
        return;
    }
    let starttls = caps.iter().any(|c| {
        let c = c.to_ascii_uppercase();
        c.contains("STARTTLS") || c == "STLS"
    });
    let quit: &[u8] = if name == "imap" { b"a2 LOGOUT\r\n" } else { b"QUIT\r\n" };
    let _ = conn.send(quit).await;
    ctx.refine(None, None, Some(format!("capabilities: {}", caps.join(" "))));
    if !ctx.over_tls {
        let title = "Mail service offers no STARTTLS: logins travel in clear";
        ctx.check(Check::new("cleartext-no-starttls", Some(!starttls), title).with("capabilities", caps.join(" ")));
    }
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "mail",
    names: &["smtp", "pop3", "imap"],
    banners: &[parse_banner],
    banner_ports: &[25, 110, 143, 220, 587],
    followup: Some(|ctx, name, conn| Box::pin(followup(ctx, name, conn))),
    ..Protocol::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings() {
        assert_eq!(parse_banner(b"220 mx.example ESMTP Postfix\r\n").unwrap().name, "smtp");
        assert_eq!(parse_banner(b"+OK Dovecot ready.\r\n").unwrap().name, "pop3");
        assert_eq!(parse_banner(b"* OK [CAPABILITY IMAP4rev1] ready\r\n").unwrap().name, "imap");
        assert!(parse_banner(b"220 (vsFTPd 3.0.3)\r\n").is_none());
    }
}

//! FTP (RFC 959): the 220 greeting, and whether `USER anonymous` logs in.
use super::conn::{Conn, CAP};
use super::text;
use super::{Check, Ctx, Hit};
use super::registry::Protocol;

/// The code of a complete reply: its last line is "NNN text" (multi-line replies use "NNN-").
pub fn reply_code(data: &[u8]) -> Option<u16> {
    let last = text::lines(data).last()?;
    let code = last.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) || !matches!(last.get(3), None | Some(b' ')) {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// A 220 greeting that is not SMTP's (which says SMTP or mail: the mail parser's).
pub fn parse_banner(data: &[u8]) -> Option<Hit> {
    let line = text::first_line(data)?;
    if !(line.starts_with(b"220 ") || line.starts_with(b"220-")) || !text::is_text(line) || line.len() > 512 {
        return None;
    }
    if super::mail::parse_banner(data).is_some() {
        return None;
    }
    let s = String::from_utf8_lossy(line).into_owned();
    let conf = if text::find_ci(line, b"ftp").is_some() { 10 } else { 6 };
    let text = s.get(4..).unwrap_or_default().to_string();
    Some(Hit::new("ftp", conf).field("banner", s).field("text", text))
}

pub async fn followup(ctx: &Ctx<'_>, mut conn: Conn) {
    const ID: &str = "ftp-anonymous";
    const TITLE: &str = "FTP server allows anonymous login";
    let wait = ctx.check_wait();
    // The whole greeting first (it may span several lines).
    if reply_code(&conn.buf).is_none() {
        conn.read(wait, CAP, |b| reply_code(b).is_some()).await;
    }
    conn.clear();
    if !conn.send(b"USER anonymous\r\n").await {
        ctx.check(Check::new(ID, None, TITLE).with("reason", "connection closed"));
        return;
    }
    let user = reply_code(conn.read(wait, CAP, |b| reply_code(b).is_some()).await);
    let user_line = text::lossy(&conn.buf, 200);
    let (outcome, pass_line) = match user {
        Some(230) => (Some(true), None),
        Some(331) => {
            conn.clear();
            if conn.send(b"PASS portlens@example.com\r\n").await {
                let code = reply_code(conn.read(wait, CAP, |b| reply_code(b).is_some()).await);
                let line = text::lossy(&conn.buf, 200);
                match code {
                    Some(c) if (200..300).contains(&c) => (Some(true), Some(line)),
                    // 530 "not logged in", 421 closing: the login was refused. Anything else
                    // (a 500 server error...) decides nothing.
                    Some(530 | 421) => (Some(false), Some(line)),
                    _ => (None, Some(line)),
                }
            } else {
                (None, None)
            }
        }
        Some(530 | 421) => (Some(false), None),
        _ => (None, None),
    };
    let _ = conn.send(b"QUIT\r\n").await;
    let mut check = Check::new(ID, outcome, TITLE).with("user_reply", user_line.trim());
    if let Some(p) = pass_line {
        check = check.with("pass_reply", p.trim());
    }
    ctx.check(check);
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "ftp",
    names: &["ftp"],
    banners: &[parse_banner],
    banner_ports: &[21, 2121],
    followup: Some(|ctx, _, conn| Box::pin(followup(ctx, conn))),
    ..Protocol::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_and_codes() {
        assert_eq!(parse_banner(b"220 (vsFTPd 3.0.3)\r\n").unwrap().conf, 10);
        assert!(parse_banner(b"220 (vsFTPd 3.0.3)").is_none());
        assert!(parse_banner(b"220 mx.example ESMTP Postfix\r\n").is_none());
        assert_eq!(reply_code(b"230-Welcome\r\n230 Login ok\r\n"), Some(230));
        assert_eq!(reply_code(b"230-Welcome\r\n"), None);
        assert_eq!(reply_code(b"331 Please specify the password.\r\n"), Some(331));
    }
}

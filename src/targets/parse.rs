//! Parsing of target items: splitting input strings, addresses, CIDRs, ranges, hostnames,
//! `!` exclusions and `@file` lists. No I/O other than reading `@file`s.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::{Ipv4Net, Ipv6Net};

use super::set::{Family, Iv};
use crate::error::{self, Error, InputSpan};
use crate::Result;

/// Largest `@file` that will be read.
const MAX_FILE_BYTES: u64 = 64 << 20;
/// Longest item or input text copied into an error message.
const CLIP_ITEM: usize = 256;
const CLIP_INPUT: usize = 512;

/// Which list an input string belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    Include,
    Exclude,
    Scope,
}

/// Where an item came from, for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// The whole input string (for file items: `@path line N: <line>`).
    pub input: Arc<str>,
    /// The item as the user wrote it.
    pub item: String,
    /// Character offset of the item in `input`.
    pub offset: usize,
    /// `@path line N` for items read from a file.
    pub file: Option<Arc<str>>,
}

impl Origin {
    pub(crate) fn error(&self, reason: impl Into<String>) -> Error {
        let (input, item) = self.clipped();
        Error::target(&input, &item, self.offset, reason)
    }

    pub(crate) fn span(&self) -> InputSpan {
        let (input, item) = self.clipped();
        error::span(&input, &item, self.offset)
    }

    /// Input and item shortened for messages (an input that is just the item stays equal to it).
    fn clipped(&self) -> (Cow<'_, str>, Cow<'_, str>) {
        let item = clip(&self.item, CLIP_ITEM);
        let input = if *self.input == *self.item { item.clone() } else { clip(&self.input, CLIP_INPUT) };
        (input, item)
    }

    /// The item text for messages, with the file it came from.
    pub(crate) fn label(&self) -> String {
        match &self.file {
            Some(f) => format!("{} (from {f})", clip(&self.item, CLIP_ITEM)),
            None => clip(&self.item, CLIP_ITEM).into_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Addresses `iv` of family `fam`.
    Net { fam: Family, iv: Iv },
    /// A hostname, still to be resolved.
    Host(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub origin: Origin,
    /// Excluded (`!item` in the include list, or any item of the exclude list).
    pub negated: bool,
    pub kind: Kind,
}

/// Shortens `s` to at most `max` characters for messages.
pub(crate) fn clip(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((cut, _)) => Cow::Owned(format!("{}… ({} characters)", &s[..cut], s.chars().count())),
    }
}

/// Splits `s` into items separated by commas and/or whitespace, with their character offsets.
/// An empty item (between two commas, before a leading or after a trailing comma, or a blank
/// string) is returned as `""` so that the caller can refuse or skip it.
pub(crate) fn tokenize(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (byte, char) of the current item
    let mut seen_item = false; // an item since the last comma
    let mut any_comma = false;
    let mut chars = 0;
    for (ci, (bi, c)) in s.char_indices().enumerate() {
        chars = ci + 1;
        if c == ',' || c.is_whitespace() {
            if let Some((b, cc)) = start.take() {
                out.push((cc, &s[b..bi]));
                seen_item = true;
            }
            if c == ',' {
                if !seen_item {
                    out.push((ci, ""));
                }
                seen_item = false;
                any_comma = true;
            }
        } else if start.is_none() {
            start = Some((bi, ci));
        }
    }
    if let Some((b, cc)) = start {
        out.push((cc, &s[b..]));
        seen_item = true;
    }
    if !seen_item && (any_comma || out.is_empty()) {
        out.push((if any_comma { chars } else { 0 }, ""));
    }
    out
}

/// Removes a `#` comment.
fn strip_comment(s: &str) -> &str {
    s.split_once('#').map_or(s, |(code, _)| code)
}

/// Where the text being tokenized sits.
struct Source {
    input: Arc<str>,
    /// Character offset of the tokenized text inside `input`.
    base: usize,
    file: Option<Arc<str>>,
}

/// Parses every string of `inputs` as a list of `ctx` items, appending them to `out`.
pub(crate) fn parse_inputs(inputs: &[String], ctx: Context, out: &mut Vec<Item>) -> Result<()> {
    for input in inputs {
        let text = if ctx == Context::Scope { strip_comment(input) } else { input.as_str() };
        let src = Source { input: Arc::from(input.as_str()), base: 0, file: None };
        parse_text(text, &src, ctx, false, out)?;
    }
    Ok(())
}

fn parse_text(text: &str, src: &Source, ctx: Context, file_negated: bool, out: &mut Vec<Item>) -> Result<()> {
    let blank = text.trim().is_empty();
    for (off, tok) in tokenize(text) {
        let origin = Origin {
            input: src.input.clone(),
            item: tok.to_string(),
            offset: src.base.saturating_add(off),
            file: src.file.clone(),
        };
        if tok.is_empty() {
            if ctx == Context::Scope {
                continue;
            }
            let reason = if blank { "empty item (no target given)" } else { "empty item (an extra comma?)" };
            return Err(origin.error(reason));
        }
        let (bang, body) = match tok.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, tok),
        };
        if bang {
            match ctx {
                Context::Scope => return Err(origin.error("'!' exclusions are not allowed in a scope")),
                Context::Exclude => {
                    return Err(
                        origin.error("'!' is not allowed in the exclude list (its items are already exclusions)")
                    )
                }
                Context::Include if file_negated => {
                    return Err(origin.error("'!' inside a file that is already excluded with '!@file'"))
                }
                Context::Include => {}
            }
            if body.is_empty() {
                return Err(origin.error("'!' must be followed by a target to exclude"));
            }
            if body.starts_with('!') {
                return Err(origin.error("double '!'"));
            }
        }
        let negated = bang || file_negated || ctx == Context::Exclude;
        if let Some(path) = body.strip_prefix('@') {
            if ctx == Context::Scope {
                return Err(origin.error("'@file' is not supported in a scope; pass the file's lines as scope items"));
            }
            if src.file.is_some() {
                return Err(origin.error("nested @file: a target file cannot include another file"));
            }
            if path.is_empty() {
                return Err(origin.error("missing file name after '@'"));
            }
            read_file(path, &origin, ctx, bang, out)?;
            continue;
        }
        let kind = parse_item(body).map_err(|reason| origin.error(reason))?;
        if ctx == Context::Scope && matches!(kind, Kind::Host(_)) {
            return Err(origin.error("a scope lists IP addresses, networks or ranges, not hostnames"));
        }
        out.push(Item { origin, negated, kind });
    }
    Ok(())
}

fn read_file(path: &str, origin: &Origin, ctx: Context, negated: bool, out: &mut Vec<Item>) -> Result<()> {
    let shown = clip(path, CLIP_ITEM);
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(origin.error(format!("file not found: {shown}")));
        }
        Err(e) => return Err(origin.error(format!("cannot read file {shown}: {e}"))),
        Ok(m) if m.is_dir() => return Err(origin.error(format!("{shown} is a directory, not a file"))),
        Ok(m) if m.len() > MAX_FILE_BYTES => {
            return Err(origin.error(format!("file {shown} is larger than {} MiB", MAX_FILE_BYTES >> 20)));
        }
        Ok(_) => {}
    }
    let content = match std::fs::read_to_string(path) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(origin.error(format!("file {shown} is not UTF-8 text")));
        }
        Err(e) => return Err(origin.error(format!("cannot read file {shown}: {e}"))),
    };
    let content = content.strip_prefix('\u{feff}').unwrap_or(&content);
    for (n, line) in content.lines().enumerate() {
        let code = strip_comment(line);
        if code.trim().is_empty() {
            continue;
        }
        let label = format!("@{shown} line {}", n.saturating_add(1));
        let prefix = format!("{label}: ");
        let src = Source {
            input: Arc::from(format!("{prefix}{line}")),
            base: prefix.chars().count(),
            file: Some(Arc::from(label)),
        };
        parse_text(code, &src, ctx, negated, out)?;
    }
    Ok(())
}

fn is_v4_char(b: u8) -> bool {
    b.is_ascii_digit() || b == b'.'
}

/// Parses one item (without `!` or `@`).
pub(crate) fn parse_item(s: &str) -> std::result::Result<Kind, String> {
    if let Some((addr, len)) = s.split_once('/') {
        return parse_cidr(addr, len);
    }
    let v6ish = s.contains(':') || s.starts_with('[');
    if let Some((left, right)) = s.split_once('-') {
        let v4_start = !left.is_empty() && left.contains('.') && left.bytes().all(is_v4_char);
        if v6ish || v4_start || s.bytes().all(|b| is_v4_char(b) || b == b'-') {
            return parse_range(left, right);
        }
    }
    if v6ish || s.contains(']') || s.bytes().all(is_v4_char) {
        let (fam, v) = parse_addr(s)?;
        return Ok(Kind::Net { fam, iv: Iv::new(v, v) });
    }
    check_hostname(s)?;
    Ok(Kind::Host(s.to_string()))
}

fn parse_cidr(addr: &str, len: &str) -> std::result::Result<Kind, String> {
    if addr.is_empty() {
        return Err("missing address before '/'".into());
    }
    if len.is_empty() {
        return Err("missing prefix length after '/'".into());
    }
    if len.contains('/') {
        return Err("more than one '/'".into());
    }
    if addr.contains('-') {
        return Err("a range cannot have a prefix length".into());
    }
    let (fam, a) = parse_addr(addr)?;
    if !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("prefix length {:?} is not a number", clip(len, 20)));
    }
    let (name, max) = match fam {
        Family::V4 => ("IPv4", 32u32),
        Family::V6 => ("IPv6", 128u32),
    };
    let n = if len.len() > 3 { None } else { len.parse::<u32>().ok() };
    let n = match n {
        Some(n) if n <= max => n as u8,
        _ => return Err(format!("prefix length {} is too long for {name} (max {max})", clip(len, 20))),
    };
    let iv = match fam {
        Family::V4 => {
            let a = u32::try_from(a).map_err(|_| "invalid IPv4 address".to_string())?;
            let net = Ipv4Net::new(Ipv4Addr::from(a), n).map_err(|e| e.to_string())?.trunc();
            Iv::new(u128::from(u32::from(net.network())), u128::from(u32::from(net.broadcast())))
        }
        Family::V6 => {
            let net = Ipv6Net::new(Ipv6Addr::from(a), n).map_err(|e| e.to_string())?.trunc();
            Iv::new(u128::from(net.network()), u128::from(net.broadcast()))
        }
    };
    Ok(Kind::Net { fam, iv })
}

fn parse_range(left: &str, right: &str) -> std::result::Result<Kind, String> {
    if left.is_empty() {
        return Err("range is missing its start address".into());
    }
    if right.is_empty() {
        return Err("range is missing its end".into());
    }
    if right.contains('-') {
        return Err("a range has exactly one '-'".into());
    }
    if left.ends_with('.') && right.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("octet -{} is out of range 0-255", clip(right, 12)));
    }
    let (fam, lo) = parse_addr(left).map_err(|r| format!("range start: {r}"))?;
    let right_v6 = right.contains(':') || right.starts_with('[');
    let right_v4 = right.contains('.');
    let hi = match fam {
        Family::V4 if right_v6 => return Err("mixed address families in a range (IPv4 start, IPv6 end)".into()),
        Family::V6 if right_v4 && !right_v6 => {
            return Err("mixed address families in a range (IPv6 start, IPv4 end)".into())
        }
        Family::V4 if right_v4 => u128::from(parse_v4(right).map_err(|r| format!("range end: {r}"))?),
        Family::V6 if right_v6 => match parse_addr(right).map_err(|r| format!("range end: {r}"))? {
            (Family::V6, v) => v,
            (Family::V4, _) => return Err("mixed address families in a range (IPv6 start, IPv4 end)".into()),
        },
        Family::V4 => {
            if !right.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "range end {:?} is neither a last octet (0-255) nor an IPv4 address",
                    clip(right, 40)
                ));
            }
            let octet = parse_octet(right).map_err(|r| format!("range end: {r}"))?;
            (lo & !0xff) | u128::from(octet)
        }
        Family::V6 => {
            if right.is_empty() || right.len() > 4 || !right.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "range end {:?} is neither a last group (1-4 hex digits) nor an IPv6 address",
                    clip(right, 40)
                ));
            }
            let group = u16::from_str_radix(right, 16).map_err(|e| e.to_string())?;
            (lo & !0xffff) | u128::from(group)
        }
    };
    if hi < lo {
        return Err(format!("range end {} is before its start {}", fam.ip(hi), fam.ip(lo)));
    }
    Ok(Kind::Net { fam, iv: Iv::new(lo, hi) })
}

/// Parses an IPv4 or IPv6 address (`[v6]` brackets allowed).
pub(crate) fn parse_addr(s: &str) -> std::result::Result<(Family, u128), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let Some(inner) = rest.strip_suffix(']') else {
            return Err("missing closing ']'".into());
        };
        if inner.contains('[') || inner.contains(']') {
            return Err("unbalanced brackets".into());
        }
        if !inner.contains(':') {
            return Err("brackets are only used around IPv6 addresses".into());
        }
        return Ok((Family::V6, parse_v6(inner)?));
    }
    if s.contains(']') {
        return Err("']' without a matching '['".into());
    }
    if s.contains(':') {
        Ok((Family::V6, parse_v6(s)?))
    } else {
        Ok((Family::V4, u128::from(parse_v4(s)?)))
    }
}

fn parse_octet(p: &str) -> std::result::Result<u8, String> {
    if p.is_empty() {
        return Err("empty octet".into());
    }
    if let Some(c) = p.chars().find(|c| !c.is_ascii_digit()) {
        return Err(format!("invalid character {c:?} in octet"));
    }
    let v = if p.len() > 3 { None } else { p.parse::<u16>().ok().and_then(|v| u8::try_from(v).ok()) };
    let Some(v) = v else {
        return Err(format!("octet {} is out of range 0-255", clip(p, 12)));
    };
    if p.len() > 1 && p.starts_with('0') {
        return Err(format!("octet {p} has a leading zero, which some tools read as octal; write {v}"));
    }
    Ok(v)
}

pub(crate) fn parse_v4(s: &str) -> std::result::Result<u32, String> {
    if s.is_empty() {
        return Err("empty IPv4 address".into());
    }
    if let Some(c) = s.chars().find(|&c| !(c.is_ascii_digit() || c == '.')) {
        return Err(format!("invalid character {c:?} in IPv4 address"));
    }
    let n = s.bytes().filter(|&b| b == b'.').count().saturating_add(1);
    if n != 4 {
        return Err(format!("IPv4 address {} has {n} octet{}, expected 4", clip(s, 40), if n == 1 { "" } else { "s" }));
    }
    let mut v: u32 = 0;
    for p in s.split('.') {
        let o = parse_octet(p).map_err(|r| format!("{r} in IPv4 address {s}"))?;
        v = (v << 8) | u32::from(o);
    }
    Ok(v)
}

pub(crate) fn parse_v6(s: &str) -> std::result::Result<u128, String> {
    if s.is_empty() {
        return Err("empty IPv6 address".into());
    }
    if s.contains('%') {
        return Err("IPv6 zone indexes ('%…') are not supported".into());
    }
    if let Some(c) = s.chars().find(|&c| !(c.is_ascii_hexdigit() || c == ':' || c == '.')) {
        return Err(format!("invalid character {c:?} in IPv6 address"));
    }
    if s.contains(":::") {
        return Err("':::' is not valid in an IPv6 address".into());
    }
    if s.matches("::").count() > 1 {
        return Err("'::' may appear only once in an IPv6 address".into());
    }
    match s.parse::<Ipv6Addr>() {
        Ok(a) => Ok(u128::from(a)),
        Err(_) => {
            if let Some(g) = s.split(':').find(|g| g.len() > 4 && !g.contains('.')) {
                return Err(format!("IPv6 group {} has more than 4 hex digits", clip(g, 12)));
            }
            Err(format!(
                "malformed IPv6 address {} (expected 8 groups of 1-4 hex digits, '::' once for a run of zeros)",
                clip(s, 60)
            ))
        }
    }
}

/// RFC 1123 hostname syntax: letters, digits and hyphens in dot-separated labels of 1-63
/// characters not starting or ending with a hyphen, 253 characters at most, one trailing dot.
pub(crate) fn check_hostname(s: &str) -> std::result::Result<(), String> {
    if let Some(c) = s.chars().find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '.')) {
        let hint =
            if c.is_ascii() { "" } else { " (only ASCII is accepted; write internationalised names in punycode)" };
        return Err(format!("invalid character {c:?} in hostname{hint}"));
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() {
        return Err("empty hostname".into());
    }
    if name.len() > 253 {
        return Err(format!("hostname is {} characters long (max 253)", name.len()));
    }
    let mut last = "";
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label in hostname (two dots in a row, or a leading dot)".into());
        }
        if label.len() > 63 {
            return Err(format!("hostname label longer than 63 characters ({} characters)", label.len()));
        }
        if label.starts_with('-') {
            return Err(format!("hostname label {label:?} starts with a hyphen"));
        }
        if label.ends_with('-') {
            return Err(format!("hostname label {label:?} ends with a hyphen"));
        }
        last = label;
    }
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "the last label {last:?} is all digits, so this is neither a hostname nor an IPv4 address"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenize_offsets_and_empties() {
        assert_eq!(tokenize("a, b\tc,d"), vec![(0, "a"), (3, "b"), (5, "c"), (7, "d")]);
        assert_eq!(tokenize(""), vec![(0, "")]);
        assert_eq!(tokenize("   "), vec![(0, "")]);
        assert_eq!(tokenize(","), vec![(0, ""), (1, "")]);
        assert_eq!(tokenize("a,,b"), vec![(0, "a"), (2, ""), (3, "b")]);
        assert_eq!(tokenize("a ,"), vec![(0, "a"), (3, "")]);
        // Offsets count characters, not bytes.
        assert_eq!(tokenize("é x"), vec![(0, "é"), (2, "x")]);
    }

    #[test]
    fn item_kinds() {
        let net = |fam, lo, hi| Kind::Net { fam, iv: Iv::new(lo, hi) };
        assert_eq!(parse_item("198.18.1.7/24"), Ok(net(Family::V4, 0xC612_0100, 0xC612_01FF)));
        assert_eq!(parse_item("198.18.1.10-50"), Ok(net(Family::V4, 0xC612_010A, 0xC612_0132)));
        assert_eq!(parse_item("[2001:db8::1]"), Ok(net(Family::V6, 0x2001_0db8 << 96 | 1, 0x2001_0db8 << 96 | 1)));
        assert_eq!(parse_item("2001:db8::1-ff"), Ok(net(Family::V6, 0x2001_0db8 << 96 | 1, 0x2001_0db8 << 96 | 0xff)));
        assert_eq!(parse_item("my-host.example.com."), Ok(Kind::Host("my-host.example.com.".into())));
        assert_eq!(parse_item("1-2-3-4.nip.io"), Ok(Kind::Host("1-2-3-4.nip.io".into())));
        assert_eq!(parse_item("123-abc.example"), Ok(Kind::Host("123-abc.example".into())));
        assert!(parse_item("a.1").is_err());
        assert!(parse_item("010.1.1.1").unwrap_err().contains("leading zero"));
        assert_eq!(clip("abcdef", 3), "abc… (6 characters)");
        assert_eq!(clip("abc", 3), "abc");
    }
}

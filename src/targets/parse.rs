//! Parsing of target items: splitting input strings, addresses, CIDRs, ranges, hostnames,
//! `!` exclusions and `@file` lists. No I/O other than reading `@file`s (through
//! [`crate::files`]: regular files only, capped while reading).
//!
//! Hostile input is refused with a typed error in time and memory linear in its length: items are
//! split lazily, an item is a range of its input (no copy), and every message clips what it quotes.
//! Two rules keep addresses unambiguous:
//! - **Only dotted decimal IPv4** (`a.b.c.d`, no leading zeros). The shorthand forms the C library
//!   accepts (`0xC6120502`, `3323068674`, `198.18.1`, octal `0300.0022.01.02`) are refused with what
//!   libc would make of them, and no item that libc would read as a number is ever given to the
//!   resolver as a hostname.
//! - **IPv4-mapped IPv6 is IPv4**: an address, range or network that lies inside `::ffff:0:0/96` is
//!   that IPv4 item, in targets, exclusions and scopes alike (the kernel sends to `::ffff:a.b.c.d`
//!   over IPv4, so it must meet the IPv4 exclusions and scope). A wider IPv6 network that covers the
//!   block (`::fffe:0:0/95`) is refused as a target (see `Plan::finish`); as an exclusion or a scope entry it
//!   covers IPv6 addresses only, so `exclude=["::/0"]` still means "no IPv6".

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::{Ipv4Net, Ipv6Net};

use super::set::{Family, Iv};
use crate::error::{self, Error, InputSpan};
use crate::Result;

/// Largest `@file` that will be read (as `portlens.files.LIMITS["targets file"]`).
const MAX_FILE_BYTES: u64 = 64 << 20;
/// Most items (targets and exclusions together): about 110 bytes each are held until the
/// addresses are merged, so this bounds memory at a few hundred MB whatever the input.
pub(crate) const MAX_ITEMS: usize = 1 << 21;
/// Longest item or input text copied into an error message.
const CLIP_ITEM: usize = 256;
const CLIP_INPUT: usize = 512;

/// `::ffff:0.0.0.0`, the first IPv4-mapped IPv6 address, and `::ffff:255.255.255.255`.
pub(crate) const MAPPED_LO: u128 = 0xffff_0000_0000;
pub(crate) const MAPPED_HI: u128 = 0xffff_ffff_ffff;

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
    /// The whole input string (for file items: the line, which messages never quote).
    pub input: Arc<str>,
    /// Byte range of the item in `input`.
    start: usize,
    end: usize,
    /// Character offset of the item in `input`.
    pub offset: usize,
    /// `@path line N` for items read from a file: messages then give this and the column
    /// instead of the item, and leave out of the reason anything taken from the line.
    pub file: Option<Arc<str>>,
}

impl Origin {
    /// The item as the user wrote it.
    pub(crate) fn item(&self) -> &str {
        self.input.get(self.start..self.end).unwrap_or_default()
    }

    pub(crate) fn error(&self, reason: impl Into<String>) -> Error {
        let reason = reason.into();
        match &self.file {
            Some(_) => {
                let at = self.position();
                Error::target(&at, &at, self.offset, scrub(&reason, self.item()))
            }
            None => {
                let (input, item) = self.clipped();
                Error::target(&input, &item, self.offset, reason)
            }
        }
    }

    pub(crate) fn span(&self) -> InputSpan {
        if self.file.is_some() {
            let at = self.position();
            return error::span(&at, &at, self.offset);
        }
        let (input, item) = self.clipped();
        error::span(&input, &item, self.offset)
    }

    /// `@path line N, column C` of a file item.
    fn position(&self) -> String {
        format!("{}, column {}", self.file.as_deref().unwrap_or_default(), self.offset.saturating_add(1))
    }

    /// Input and item shortened for messages (an input that is just the item stays equal to it).
    fn clipped(&self) -> (Cow<'_, str>, Cow<'_, str>) {
        let item = clip(self.item(), CLIP_ITEM);
        let input = if *self.input == *self.item() { item.clone() } else { clip(&self.input, CLIP_INPUT) };
        (input, item)
    }

    /// The item text for messages, with the file it came from; a file item is shown as `shown`
    /// (the item as portlens parsed it, e.g. a network, never the line's text).
    pub(crate) fn label(&self, shown: impl FnOnce() -> String) -> String {
        match &self.file {
            Some(f) => format!("{} (from {f})", shown()),
            None => clip(self.item(), CLIP_ITEM).into_owned(),
        }
    }

    /// Whether the item came from an `@file`.
    pub(crate) fn is_file_item(&self) -> bool {
        self.file.is_some()
    }
}

/// `reason` with every word that quotes `item` (or looks like an address derived from it)
/// replaced by "…": messages about a file's line say what is wrong, never what the line holds.
pub(crate) fn scrub(reason: &str, item: &str) -> String {
    let words: Vec<&str> = reason
        .split(' ')
        .map(|w| {
            let core = w.trim_matches(|c: char| "'\"(),:;".contains(c));
            let quoted = w.contains('"');
            let from_item = core.chars().count() >= 2 && item.contains(core);
            let address = core.contains(['.', ':']) && core.chars().any(|c| c.is_ascii_digit());
            if quoted || from_item || address {
                "…"
            } else {
                w
            }
        })
        .collect();
    words.join(" ")
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

pub(crate) use crate::error::clip;

/// Splits `s` into items separated by commas and/or whitespace: (character offset, byte offset,
/// item). An empty item (between two commas, before a leading or after a trailing comma, or a
/// blank string) is yielded as `""` so that the caller can refuse or skip it. Lazy: a 10 MB string
/// of commas costs nothing before its first (empty, refused) item.
pub(crate) fn tokenize(s: &str) -> Tokens<'_> {
    Tokens {
        s,
        chars: s.char_indices().enumerate(),
        start: None,
        seen_item: false,
        any_comma: false,
        count: 0,
        done: false,
        any: false,
    }
}

pub(crate) struct Tokens<'a> {
    s: &'a str,
    chars: std::iter::Enumerate<std::str::CharIndices<'a>>,
    /// (byte, char) of the current item.
    start: Option<(usize, usize)>,
    /// An item since the last comma.
    seen_item: bool,
    any_comma: bool,
    /// Characters seen.
    count: usize,
    done: bool,
    /// Anything yielded.
    any: bool,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = (usize, usize, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let out = self.step();
        self.any |= out.is_some();
        out
    }
}

impl<'a> Tokens<'a> {
    fn step(&mut self) -> Option<(usize, usize, &'a str)> {
        if self.done {
            return None;
        }
        for (ci, (bi, c)) in self.chars.by_ref() {
            self.count = ci + 1;
            if c == ',' || c.is_whitespace() {
                let mut item = None;
                if let Some((b, cc)) = self.start.take() {
                    item = Some((cc, b, self.s.get(b..bi).unwrap_or_default()));
                    self.seen_item = true;
                }
                if c == ',' {
                    let empty = !self.seen_item;
                    self.seen_item = false;
                    self.any_comma = true;
                    if empty {
                        return Some((ci, bi, ""));
                    }
                }
                if item.is_some() {
                    return item;
                }
            } else if self.start.is_none() {
                self.start = Some((bi, ci));
            }
        }
        self.done = true;
        if let Some((b, cc)) = self.start.take() {
            return Some((cc, b, self.s.get(b..).unwrap_or_default()));
        }
        if !self.seen_item && (self.any_comma || !self.any) {
            return Some(if self.any_comma { (self.count, self.s.len(), "") } else { (0, 0, "") });
        }
        None
    }
}

/// Removes a `#` comment.
fn strip_comment(s: &str) -> &str {
    s.split_once('#').map_or(s, |(code, _)| code)
}

/// Where the text being tokenized sits.
struct Source {
    input: Arc<str>,
    /// Character and byte offset of the tokenized text inside `input`.
    base: usize,
    base_byte: usize,
    file: Option<Arc<str>>,
    /// Most items in `out`.
    max: usize,
}

/// Parses every string of `inputs` as a list of `ctx` items, appending them to `out`.
pub(crate) fn parse_inputs(inputs: &[String], ctx: Context, out: &mut Vec<Item>) -> Result<()> {
    parse_inputs_upto(inputs, ctx, out, MAX_ITEMS)
}

/// `parse_inputs`, refusing the item that would make `out` longer than `max`.
pub(crate) fn parse_inputs_upto(inputs: &[String], ctx: Context, out: &mut Vec<Item>, max: usize) -> Result<()> {
    for input in inputs {
        let input: Arc<str> = Arc::from(input.as_str());
        let src = Source { input: input.clone(), base: 0, base_byte: 0, file: None, max };
        let text = if ctx == Context::Scope { strip_comment(&input) } else { &input };
        parse_text(text, &src, ctx, false, out)?;
    }
    Ok(())
}

fn parse_text(text: &str, src: &Source, ctx: Context, file_negated: bool, out: &mut Vec<Item>) -> Result<()> {
    let blank = text.trim().is_empty();
    for (off, byte, tok) in tokenize(text) {
        let start = src.base_byte.saturating_add(byte);
        let origin = Origin {
            input: src.input.clone(),
            start,
            end: start.saturating_add(tok.len()),
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
            read_file(path, &origin, ctx, bang, out, src.max)?;
            continue;
        }
        if out.len() >= src.max {
            return Err(
                origin.error(format!("more than {} items; give consecutive addresses as ranges or networks", src.max))
            );
        }
        let kind = parse_item(body).map_err(|reason| origin.error(reason))?;
        if ctx == Context::Scope && matches!(kind, Kind::Host(_)) {
            return Err(origin.error("a scope lists IP addresses, networks or ranges, not hostnames"));
        }
        out.push(Item { origin, negated, kind });
    }
    Ok(())
}

fn read_file(path: &str, origin: &Origin, ctx: Context, negated: bool, out: &mut Vec<Item>, max: usize) -> Result<()> {
    let shown = clip(path, CLIP_ITEM);
    let content = match crate::files::read_text(path, MAX_FILE_BYTES) {
        Ok(c) => c,
        Err(crate::files::ReadError::NotRegular("a directory")) => {
            return Err(origin.error(format!("{shown} is a directory, not a file")));
        }
        Err(crate::files::ReadError::NotFound) => return Err(origin.error(format!("file not found: {shown}"))),
        Err(e) => return Err(origin.error(format!("cannot read file {shown}: {e}"))),
    };
    for (n, line) in content.lines().enumerate() {
        let code = strip_comment(line);
        if code.trim().is_empty() {
            continue;
        }
        let src = Source {
            input: Arc::from(line),
            base: 0,
            base_byte: 0,
            file: Some(Arc::from(format!("@{shown} line {}", n.saturating_add(1)))),
            max,
        };
        parse_text(code, &src, ctx, negated, out)?;
    }
    Ok(())
}

fn is_v4_char(b: u8) -> bool {
    b.is_ascii_digit() || b == b'.'
}

/// Parses one item (without `!` or `@`). An IPv4-mapped IPv6 item is returned as IPv4.
pub(crate) fn parse_item(s: &str) -> std::result::Result<Kind, String> {
    parse_raw(s).map(unmap)
}

/// An item inside `::ffff:0:0/96` as the IPv4 item it maps (see the module doc).
fn unmap(kind: Kind) -> Kind {
    match kind {
        Kind::Net { fam: Family::V6, iv } if iv.lo >= MAPPED_LO && iv.hi <= MAPPED_HI => {
            Kind::Net { fam: Family::V4, iv: Iv::new(iv.lo - MAPPED_LO, iv.hi - MAPPED_LO) }
        }
        k => k,
    }
}

fn parse_raw(s: &str) -> std::result::Result<Kind, String> {
    if let Some((addr, len)) = s.split_once('/') {
        return parse_cidr(addr, len);
    }
    let v6ish = s.contains(':') || s.starts_with('[');
    if let Some((left, right)) = s.split_once('-') {
        let v4_start = !left.is_empty() && left.contains('.') && c_numeric(left);
        if v6ish || v4_start || s.bytes().all(|b| is_v4_char(b) || b == b'-') {
            return parse_range(left, right);
        }
    }
    if v6ish || s.contains(']') || s.bytes().all(is_v4_char) {
        let (fam, v) = parse_addr(s)?;
        return Ok(Kind::Net { fam, iv: Iv::new(v, v) });
    }
    // Never hand the resolver a name the C library reads as a number (`0x7f.1`, `198.18.1.0x2`):
    // getaddrinfo would turn it into an address without saying so.
    if c_numeric(s.strip_suffix('.').unwrap_or(s)) {
        let mut reason = format!("{} is neither a hostname nor a dotted-decimal IPv4 address", clip(s, 40));
        if libc_ipv4(s).is_none() {
            reason.push_str(" (nor an address in any notation the C library accepts)");
        }
        return Err(v4_error(s, reason));
    }
    check_hostname(s)?;
    Ok(Kind::Host(s.to_string()))
}

/// A number as C's `strtoul(s, _, 0)` reads all of `s`: decimal, octal after a leading `0`, or
/// hexadecimal after `0x`; None if it is not one or is larger than 32 bits.
fn c_number(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if !b.first()?.is_ascii_digit() {
        return None;
    }
    let (digits, radix) = match b {
        [b'0', x, rest @ ..] if (*x | 0x20) == b'x' && !rest.is_empty() => (&s[2..], 16),
        [b'0', ..] => (&s[1..], 8),
        _ => (s, 10),
    };
    let mut v: u64 = 0;
    for c in digits.chars() {
        v = v.checked_mul(radix)?.checked_add(u64::from(c.to_digit(radix as u32)?))?;
        if v > u64::from(u32::MAX) {
            return None;
        }
    }
    u32::try_from(v).ok()
}

/// Whether every dot-separated part of `s` is a C number (so libc may read `s` as an address).
fn c_numeric(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(|p| c_number(p).is_some() || is_c_number_syntax(p))
}

/// Digits in C notation, whatever the value (`99999999999` too: libc refuses it, we say why).
fn is_c_number_syntax(p: &str) -> bool {
    let b = p.as_bytes();
    match b {
        [b'0', x, rest @ ..] if (*x | 0x20) == b'x' => !rest.is_empty() && rest.iter().all(u8::is_ascii_hexdigit),
        [first, ..] => first.is_ascii_digit() && b.iter().all(u8::is_ascii_digit),
        [] => false,
    }
}

/// What the C library's `inet_aton` (and so `getaddrinfo`, `ping`, `curl`) makes of `s`: one to
/// four C numbers separated by dots, the last filling the remaining bytes (`198.18.1` is
/// 198.18.0.1, `3323068674` is 198.18.1.2).
pub(crate) fn libc_ipv4(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<u32> = s.split('.').map(c_number).collect::<Option<_>>()?;
    let (last, head) = parts.split_last()?;
    if head.len() > 3 || head.iter().any(|&p| p > 255) {
        return None;
    }
    let bits = 32 - 8 * head.len() as u32;
    if bits < 32 && *last >= 1 << bits {
        return None;
    }
    let high = head.iter().enumerate().fold(0u32, |acc, (i, &p)| acc | p << (24 - 8 * i as u32));
    Some(Ipv4Addr::from(high | last))
}

/// `reason` about the IPv4 text `s`, with what the C library would read `s` as, if anything.
fn v4_error(s: &str, reason: String) -> String {
    match libc_ipv4(s) {
        Some(a) if a.to_string() != s => format!(
            "{reason}; the C library would read {} as {a}, but portlens accepts only dotted decimal \
             (a.b.c.d): write {a} if that is what you mean",
            clip(s, 40)
        ),
        _ => reason,
    }
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
    if fam == Family::V6 && (MAPPED_LO..=MAPPED_HI).contains(&lo) && left.contains('.') && !right_v6 {
        // `::ffff:198.18.1.1-5` and `::ffff:198.18.1.1-198.18.1.9`: the IPv4 range, mapped.
        let v4 = Ipv4Addr::from(u32::try_from(lo - MAPPED_LO).unwrap_or_default()).to_string();
        return match parse_range(&v4, right)? {
            Kind::Net { fam: Family::V4, iv } => {
                Ok(Kind::Net { fam: Family::V6, iv: Iv::new(iv.lo + MAPPED_LO, iv.hi + MAPPED_LO) })
            }
            other => Ok(other),
        };
    }
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
    if p.len() > 1 && p.starts_with('0') {
        return Err(format!(
            "octet {} has a leading zero, which the C library reads as octal and other tools as decimal; \
             write it without leading zeros",
            clip(p, 12)
        ));
    }
    let v = if p.len() > 3 { None } else { p.parse::<u16>().ok().and_then(|v| u8::try_from(v).ok()) };
    v.ok_or_else(|| format!("octet {} is out of range 0-255", clip(p, 12)))
}

/// A dotted-decimal IPv4 address: four decimal octets 0-255 without leading zeros.
pub(crate) fn parse_v4(s: &str) -> std::result::Result<u32, String> {
    if s.is_empty() {
        return Err("empty IPv4 address".into());
    }
    if let Some(c) = s.chars().find(|&c| !(c.is_ascii_digit() || c == '.')) {
        return Err(v4_error(s, format!("invalid character {c:?} in IPv4 address {}", clip(s, 40))));
    }
    let n = s.bytes().filter(|&b| b == b'.').count().saturating_add(1);
    if n != 4 {
        let reason = format!("IPv4 address {} has {n} octet{}, expected 4", clip(s, 40), if n == 1 { "" } else { "s" });
        return Err(v4_error(s, reason));
    }
    let mut v: u32 = 0;
    for p in s.split('.') {
        let o = parse_octet(p).map_err(|r| v4_error(s, format!("{r} in IPv4 address {s}")))?;
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

    fn toks(s: &str) -> Vec<(usize, &str)> {
        tokenize(s)
            .map(|(c, b, t)| {
                assert_eq!(s.get(b..b + t.len()), Some(t), "byte offset of {t:?} in {s:?}");
                (c, t)
            })
            .collect()
    }

    #[test]
    fn tokenize_offsets_and_empties() {
        assert_eq!(toks("a, b\tc,d"), vec![(0, "a"), (3, "b"), (5, "c"), (7, "d")]);
        assert_eq!(toks(""), vec![(0, "")]);
        assert_eq!(toks("   "), vec![(0, "")]);
        assert_eq!(toks(","), vec![(0, ""), (1, "")]);
        assert_eq!(toks("a,,b"), vec![(0, "a"), (2, ""), (3, "b")]);
        assert_eq!(toks("a ,"), vec![(0, "a"), (3, "")]);
        // Offsets count characters, not bytes.
        assert_eq!(toks("é x"), vec![(0, "é"), (2, "x")]);
        assert_eq!(toks("é,,"), vec![(0, "é"), (2, ""), (3, "")]);
    }

    #[test]
    fn tokenize_is_lazy() {
        // Ten million commas: the first item is available at once (the caller refuses it).
        let commas = ",".repeat(10_000_000);
        let start = std::time::Instant::now();
        assert_eq!(tokenize(&commas).next(), Some((0, 0, "")));
        assert!(start.elapsed() < std::time::Duration::from_millis(50));
    }

    #[test]
    fn libc_notations_are_understood_and_refused() {
        let a = |s: &str| libc_ipv4(s).map(|a| a.to_string());
        assert_eq!(a("0xC6120502").as_deref(), Some("198.18.5.2"));
        assert_eq!(a("3323068674").as_deref(), Some("198.18.1.2"));
        assert_eq!(a("198.18.1").as_deref(), Some("198.18.0.1"));
        assert_eq!(a("198.1179906").as_deref(), Some("198.18.1.2"));
        assert_eq!(a("0300.0022.01.02").as_deref(), Some("192.18.1.2"));
        assert_eq!(a("0X7f.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(a("0").as_deref(), Some("0.0.0.0"));
        for bad in ["", "0x", "09", "1.2.3.4.5", "256.1", "1.16777216", "4294967296", "1..2", "1.", "x1", "1e3"] {
            assert_eq!(a(bad), None, "{bad}");
        }
        for (input, hint) in [
            ("0xC6120502", "would read 0xC6120502 as 198.18.5.2"),
            ("3323068674", "would read 3323068674 as 198.18.1.2"),
            ("198.18.1", "would read 198.18.1 as 198.18.0.1"),
            ("0300.0022.01.02", "would read 0300.0022.01.02 as 192.18.1.2"),
            ("010.18.1.1", "would read 010.18.1.1 as 8.18.1.1"),
            ("198.18.1.0x2", "would read 198.18.1.0x2 as 198.18.1.2"),
            ("0x7f.1", "as 127.0.0.1"),
            ("0x7f.1.", "neither a hostname nor a dotted-decimal"),
            ("0x1.0x2.0x3.0x4.0x5", "nor an address in any notation"),
            ("0xC6120502/24", "as 198.18.5.2"),
            ("0x7f.0.0.1-5", "as 127.0.0.1"),
        ] {
            let err = parse_item(input).unwrap_err();
            assert!(err.contains(hint), "{input}: {err}");
        }
        // Names that only look numeric in part stay hostnames (libc does not read them).
        for host in ["0x1.example", "1e100.net", "deadbeef", "0x7f-1", "a.0x10", "0xg"] {
            assert_eq!(parse_item(host), Ok(Kind::Host(host.into())), "{host}");
        }
    }

    #[test]
    fn ipv4_mapped_items_are_ipv4() {
        let net = |fam, lo, hi| Ok(Kind::Net { fam, iv: Iv::new(lo, hi) });
        for mapped in ["::ffff:198.18.5.2", "::ffff:c612:502", "[::ffff:198.18.5.2]", "0:0:0:0:0:ffff:c612:0502"] {
            assert_eq!(parse_item(mapped), net(Family::V4, 0xC612_0502, 0xC612_0502), "{mapped}");
        }
        assert_eq!(parse_item("::ffff:198.18.0.0/112"), net(Family::V4, 0xC612_0000, 0xC612_FFFF));
        assert_eq!(parse_item("::ffff:198.18.1.1-5"), net(Family::V4, 0xC612_0101, 0xC612_0105));
        assert_eq!(parse_item("::ffff:198.18.1.1-::ffff:198.18.2.1"), net(Family::V4, 0xC612_0101, 0xC612_0201));
        assert_eq!(parse_item("::ffff:198.18.1.1-198.18.2.1"), net(Family::V4, 0xC612_0101, 0xC612_0201));
        assert_eq!(parse_item("::ffff:c612:101-105"), net(Family::V4, 0xC612_0101, 0xC612_0105));
        assert_eq!(parse_item("::ffff:0:0/96"), net(Family::V4, 0, 0xFFFF_FFFF));
        // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 addresses are IPv6: the kernel does
        // not send them over IPv4.
        assert_eq!(parse_item("::198.18.5.2"), net(Family::V6, 0xC612_0502, 0xC612_0502));
        assert_eq!(parse_item("64:ff9b::c612:502").map(|k| matches!(k, Kind::Net { fam: Family::V6, .. })), Ok(true));
        // Wider networks stay IPv6 here (Plan::finish refuses them as targets).
        assert_eq!(parse_item("::ffff:0:0/95"), net(Family::V6, 0xfffe_0000_0000, 0xffff_ffff_ffff));
    }

    #[test]
    fn file_item_messages_do_not_quote_the_line() {
        assert_eq!(
            scrub("octet 300 is out of range 0-255 in IPv4 address 198.18.1.300", "198.18.1.300"),
            "octet … is out of range 0-255 in IPv4 address …"
        );
        assert_eq!(
            scrub("hostname label \"hunter2\" starts with a hyphen", "-hunter2"),
            "hostname label … starts with a hyphen"
        );
        assert_eq!(
            scrub("IPv4 address 1.2 has 2 octets; the C library would read 1.2 as 1.0.0.2", "1.2"),
            "IPv4 address … has 2 octets; the C library would read … as …"
        );
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
        assert!(parse_item("0300.1.1.1").unwrap_err().contains("leading zero"), "not 'out of range'");
        assert_eq!(clip("abcdef", 3), "abc… (6 characters)");
        assert_eq!(clip("abc", 3), "abc");
    }
}

//! The port-spec parser: the grammar of the module docs of [`crate::ports`] into a [`PortList`].

use super::lists::named_set_for;
use crate::error::{Error, Result};
use crate::result::Protocol;

/// A sorted, de-duplicated, non-empty list of TCP ports (1-65535).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortList {
    ports: Vec<u16>,
}

impl PortList {
    /// Parse a spec; `exclude` (may be empty) is removed from the result.
    ///
    /// `exclude` uses the same grammar as `spec`, without `!`. An error in `exclude` has
    /// `exclude` as its input.
    pub fn parse(spec: &str, exclude: &str) -> Result<PortList> {
        match Self::parse_for(spec, exclude, Protocol::Tcp, false)? {
            Some(list) => Ok(list),
            None => Err(whole(spec, "no TCP ports in the specification")),
        }
    }

    /// Parse a spec for one protocol. Named sets are that protocol's lists. With `both` (a scan of
    /// TCP and UDP), items prefixed `T:` or `U:` apply to that protocol only and None means the
    /// spec names no port of `proto`; without it, a prefix for the other protocol is an error.
    pub fn parse_for(spec: &str, exclude: &str, proto: Protocol, both: bool) -> Result<Option<PortList>> {
        let mut include = Accumulator::new();
        let mut remove = Accumulator::new();

        if spec.trim().is_empty() {
            return Err(whole(
                spec,
                "empty port specification; give ports such as '22,80,443', a range such as \
                 '1-1024', 'top-100' or 'all'",
            ));
        }
        let ctx = Ctx { input: spec, in_exclude: false, proto, both };
        let mut any_include = false;
        for item in items(spec) {
            let Some((negated, term)) = parse_item(&ctx, &item)? else { continue };
            if negated {
                remove.add(term);
            } else {
                include.add(term);
                any_include = true;
            }
        }
        if both && !any_include {
            return Ok(None);
        }
        if include.is_empty() {
            return Err(whole(spec, "the specification only excludes ports; say what to scan as well, e.g. 'all,!22'"));
        }

        if !exclude.trim().is_empty() {
            let ctx = Ctx { input: exclude, in_exclude: true, proto, both };
            for item in items(exclude) {
                if let Some((_, term)) = parse_item(&ctx, &item)? {
                    remove.add(term);
                }
            }
        }

        let included = include.into_mask().unwrap_or_default();
        let removed = remove.into_mask();
        let ports: Vec<u16> = (1..=u16::MAX)
            .filter(|&p| included.get(usize::from(p)) == Some(&true))
            .filter(|&p| removed.as_ref().is_none_or(|r| !r[usize::from(p)]))
            .collect();
        if ports.is_empty() {
            return Err(whole(spec, "every port was excluded; nothing is left to scan"));
        }
        Ok(Some(PortList { ports }))
    }

    /// A list of the given ports, sorted and de-duplicated. Errors if there are none or one is 0.
    pub fn from_ports(ports: impl IntoIterator<Item = u16>) -> Result<PortList> {
        let mut ports: Vec<u16> = ports.into_iter().collect();
        if ports.contains(&0) {
            return Err(Error::ports("0", "0", 0, PORT_ZERO));
        }
        if ports.is_empty() {
            return Err(Error::ports("", "", 0, "no ports to scan"));
        }
        ports.sort_unstable();
        ports.dedup();
        Ok(PortList { ports })
    }

    /// The ports, ascending.
    pub fn as_slice(&self) -> &[u16] {
        &self.ports
    }

    pub fn len(&self) -> usize {
        self.ports.len()
    }

    /// Always false for a list built by [`parse`](Self::parse) or
    /// [`from_ports`](Self::from_ports); present for API completeness.
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }

    pub fn contains(&self, port: u16) -> bool {
        self.ports.binary_search(&port).is_ok()
    }

    /// The compact spec of this list, e.g. `"22,80,8000-8100"`: runs of three or more
    /// consecutive ports become ranges. `PortList::parse(&list.to_spec(), "")` gives `list` back.
    pub fn to_spec(&self) -> String {
        let mut out = String::new();
        let mut i = 0;
        while i < self.ports.len() {
            let start = self.ports[i];
            let mut j = i;
            while j + 1 < self.ports.len() && u32::from(self.ports[j + 1]) == u32::from(self.ports[j]) + 1 {
                j += 1;
            }
            let end = self.ports[j];
            if !out.is_empty() {
                out.push(',');
            }
            match j - i {
                0 => out.push_str(&start.to_string()),
                1 => out.push_str(&format!("{start},{end}")),
                _ => out.push_str(&format!("{start}-{end}")),
            }
            i = j + 1;
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

const PORT_ZERO: &str = "port 0 cannot be scanned with a TCP connect or a connected UDP socket";
const KNOWN_SETS: &str = "top-100, top-1000";

struct Ctx<'a> {
    input: &'a str,
    in_exclude: bool,
    proto: Protocol,
    both: bool,
}

impl Ctx<'_> {
    fn err(&self, item: &Item<'_>, reason: impl Into<String>) -> Error {
        let reason = reason.into();
        let reason = if self.in_exclude { format!("{reason} (in the exclude list)") } else { reason };
        // The message quotes the input and the item: clipped, so that a 10 MB spec does not make
        // a 10 MB message (the offset still points into the whole input).
        let item_text = crate::error::clip(item.text, 256);
        let input = if self.input == item.text { item_text.clone() } else { crate::error::clip(self.input, 512) };
        Error::ports(&input, &item_text, item.offset, reason)
    }
}

/// An error about the whole spec (clipped in the message, like every item).
fn whole(spec: &str, reason: &str) -> Error {
    let shown = crate::error::clip(spec, 256);
    Error::ports(&shown, &shown, 0, reason)
}

/// One comma-separated item, trimmed, with the character offset of its first character.
struct Item<'a> {
    text: &'a str,
    offset: usize,
}

/// The items of `input`, lazily: ten million commas cost nothing before the first (empty,
/// refused) item.
fn items(input: &str) -> impl Iterator<Item = Item<'_>> {
    let mut start_char = 0;
    input.split(',').map(move |raw| {
        let trimmed_start = raw.trim_start();
        let lead = raw.len() - trimmed_start.len();
        let item = Item { text: trimmed_start.trim_end(), offset: start_char + raw[..lead].chars().count() };
        start_char += raw.chars().count() + 1;
        item
    })
}

#[derive(Clone, Copy)]
enum Term {
    Range(u16, u16),
    Named(&'static [u16]),
}

/// Parse one item into (negated, term); None for an item of the other protocol.
fn parse_item(ctx: &Ctx<'_>, item: &Item<'_>) -> Result<Option<(bool, Term)>> {
    let mut text = item.text;
    if text.is_empty() {
        return Err(ctx.err(item, "empty item (two commas in a row, or a leading or trailing comma)"));
    }

    let negated = match text.strip_prefix('!') {
        Some(rest) => {
            if ctx.in_exclude {
                return Err(ctx.err(item, "'!' is not needed here; list the ports to exclude directly"));
            }
            text = rest.trim_start();
            if text.is_empty() {
                return Err(ctx.err(item, "nothing to exclude after '!'"));
            }
            if text.starts_with('!') {
                return Err(ctx.err(item, "'!' may appear only once, at the start of an item"));
            }
            true
        }
        None => false,
    };

    if let Some(colon) = text.find(':') {
        let prefix = text[..colon].trim();
        let item_proto = if prefix.eq_ignore_ascii_case("T") {
            Protocol::Tcp
        } else if prefix.eq_ignore_ascii_case("U") {
            Protocol::Udp
        } else if prefix.eq_ignore_ascii_case("S") {
            return Err(ctx.err(item, "SCTP ports are not supported by this scan"));
        } else {
            return Err(ctx.err(
                item,
                format!("unknown protocol prefix {}; use 'T:' (TCP) or 'U:' (UDP)", quote(&format!("{prefix}:"))),
            ));
        };
        let letter = if item_proto == Protocol::Tcp { "T" } else { "U" };
        text = text[colon + 1..].trim_start();
        if text.is_empty() {
            return Err(ctx.err(item, format!("no ports after '{letter}:'")));
        }
        if text.contains(':') {
            return Err(ctx.err(item, "only one protocol prefix is allowed per item"));
        }
        if text.starts_with('!') {
            return Err(ctx.err(item, format!("'!' must come before the '{letter}:' prefix, as in '!{letter}:22'")));
        }
        if item_proto != ctx.proto {
            if !ctx.both {
                let (kind, option) = if item_proto == Protocol::Udp { ("UDP", "udp") } else { ("TCP", "tcp") };
                return Err(ctx.err(
                    item,
                    format!("{kind} ports are not supported by this scan; scan with protocol=\"{option}\" or \"both\""),
                ));
            }
            return Ok(None);
        }
    }

    if text.eq_ignore_ascii_case("all") {
        return Ok(Some((negated, Term::Range(1, u16::MAX))));
    }
    if text.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("top-")) {
        return match named_set_for(text, ctx.proto) {
            Some(set) => Ok(Some((negated, Term::Named(set)))),
            None => Err(ctx.err(item, format!("unknown named set {}; known: {KNOWN_SETS}", quote(text)))),
        };
    }

    let term = match text.find('-') {
        None => {
            let p = port_number(ctx, item, text)?;
            Term::Range(p, p)
        }
        Some(dash) => {
            let (a, b) = (text[..dash].trim(), text[dash + 1..].trim());
            if b.contains('-') {
                return Err(ctx.err(item, "a range has a single '-' between its start and end, as in '1000-2000'"));
            }
            let start = if a.is_empty() { 1 } else { port_number(ctx, item, a)? };
            let end = if b.is_empty() { u16::MAX } else { port_number(ctx, item, b)? };
            if end < start {
                return Err(ctx.err(item, format!("range end {end} is before its start {start}")));
            }
            Term::Range(start, end)
        }
    };
    Ok(Some((negated, term)))
}

/// A decimal port number 1-65535 written with ASCII digits only (no sign, no base prefix).
fn port_number(ctx: &Ctx<'_>, item: &Item<'_>, s: &str) -> Result<u16> {
    if s.chars().any(char::is_whitespace) {
        return Err(ctx.err(item, format!("unexpected whitespace in {}; separate items with commas", quote(s))));
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        let hint = if s.chars().any(|c| c.is_numeric() && !c.is_ascii_digit()) {
            " (only the ASCII digits 0-9 are accepted)"
        } else if s.starts_with('+') {
            " (write ports without a sign)"
        } else if s.len() > 1 && (s.starts_with("0x") || s.starts_with("0X")) {
            " (write ports in decimal)"
        } else if s.chars().any(|c| c.is_ascii_alphabetic()) {
            " (named sets: all, top-100, top-1000)"
        } else {
            ""
        };
        return Err(ctx.err(item, format!("not a number: {}{hint}", quote(s))));
    }
    let digits = s.trim_start_matches('0');
    if digits.is_empty() {
        return Err(ctx.err(item, PORT_ZERO));
    }
    let value = if digits.len() > 5 {
        None
    } else {
        let v = digits.bytes().fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0'));
        u16::try_from(v).ok()
    };
    value.ok_or_else(|| {
        let shown = if digits.len() > 24 {
            format!("{}… ({} digits)", &digits[..12], digits.len())
        } else {
            digits.to_string()
        };
        ctx.err(item, format!("port {shown} is out of range 1-65535"))
    })
}

/// `'text'`, escaped, shortened if long, for a reason message.
fn quote(s: &str) -> String {
    const MAX: usize = 32;
    let count = s.chars().count();
    let shown: String = s.chars().take(MAX).flat_map(char::escape_debug).collect();
    if count > MAX {
        format!("'{shown}…' ({count} characters)")
    } else {
        format!("'{shown}'")
    }
}

/// Collects terms cheaply (a difference array for ranges, so that even a huge spec of ranges is
/// linear), then turns them into a 65536-entry membership mask.
struct Accumulator {
    diff: Option<Vec<i64>>,
    named: Vec<&'static [u16]>,
}

impl Accumulator {
    fn new() -> Self {
        Accumulator { diff: None, named: Vec::new() }
    }

    fn add(&mut self, term: Term) {
        match term {
            Term::Range(a, b) => {
                let diff = self.diff.get_or_insert_with(|| vec![0; 65537]);
                diff[usize::from(a)] += 1;
                diff[usize::from(b) + 1] -= 1;
            }
            Term::Named(set) => {
                if !self.named.iter().any(|s| std::ptr::eq(*s, set)) {
                    self.named.push(set);
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.diff.is_none() && self.named.is_empty()
    }

    /// The membership mask, or `None` when nothing was added.
    fn into_mask(self) -> Option<Vec<bool>> {
        if self.is_empty() {
            return None;
        }
        let mut mask = vec![false; 65536];
        if let Some(diff) = self.diff {
            let mut depth = 0i64;
            for (slot, d) in mask.iter_mut().zip(&diff) {
                depth += d;
                *slot = depth > 0;
            }
        }
        for set in self.named {
            for &p in set {
                mask[usize::from(p)] = true;
            }
        }
        Some(mask)
    }
}

/// Entry point of the port-spec parser for the cargo-fuzz target `port_spec` under `fuzz/` and the
/// deterministic property tests of `cargo test`.
pub mod fuzzing {
    use super::{PortList, Protocol};
    use crate::error::Error;

    /// Parses the first line of `data` as a spec and the rest as the exclude list, for TCP, UDP
    /// and both, and checks the result: a typed error, or a sorted list of ports 1-65535 whose
    /// compact spec parses back to the same list.
    pub fn port_spec(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let (spec, exclude) = text.split_once('\n').unwrap_or((&text, ""));
        for (proto, both) in [(Protocol::Tcp, false), (Protocol::Udp, false), (Protocol::Tcp, true)] {
            match PortList::parse_for(spec, exclude, proto, both) {
                Ok(Some(list)) => {
                    let ports = list.as_slice();
                    assert!(!ports.is_empty() && ports[0] > 0, "{ports:?}");
                    assert!(ports.windows(2).all(|w| w[0] < w[1]), "not strictly ascending");
                    let again = PortList::parse_for(&list.to_spec(), "", proto, false);
                    assert_eq!(again.ok().flatten().as_ref(), Some(&list), "to_spec does not round-trip");
                }
                Ok(None) => assert!(both, "no list without `both`"),
                Err(e) => {
                    assert!(matches!(e, Error::Ports { .. }), "{e:?}");
                    assert!(e.to_string().len() < 4096, "message of {} bytes", e.to_string().len());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{TOP_100, TOP_1000};

    fn parse(spec: &str) -> Vec<u16> {
        match PortList::parse(spec, "") {
            Ok(list) => list.as_slice().to_vec(),
            Err(e) => panic!("{spec:?} should parse: {e}"),
        }
    }

    fn range(a: u16, b: u16) -> Vec<u16> {
        (a..=b).collect()
    }

    /// Parse an invalid spec and check: the Ports variant, the input the span points into, the
    /// offending item, and that the message names the item. Returns (reason, offset).
    fn invalid(spec: &str, exclude: &str, input: &str, item: &str) -> (String, usize) {
        let err = match PortList::parse(spec, exclude) {
            Ok(list) => panic!("{spec:?} / {exclude:?} should fail, got {}", list.to_spec()),
            Err(e) => e,
        };
        let msg = err.to_string();
        let Error::Ports { span, reason } = &err else {
            panic!("{spec:?}: expected Error::Ports, got {err:?}");
        };
        // Long inputs and items are clipped in messages.
        let input = if input == item { crate::error::clip(item, 256) } else { crate::error::clip(input, 512) };
        let item = crate::error::clip(item, 256);
        assert_eq!(span.input, input, "input for {spec:?}: {msg}");
        assert_eq!(span.item, item, "item for {spec:?}: {msg}");
        assert_eq!(err.span(), Some(span));
        assert!(!reason.is_empty());
        assert!(msg.starts_with("invalid port specification "), "{msg}");
        assert!(msg.contains(&format!("{item:?}")), "message for {spec:?} must name {item:?}: {msg}");
        assert!(msg.len() < 2000, "message of {} bytes", msg.len());
        assert!(msg.ends_with(reason.as_str()));
        (reason.clone(), span.offset)
    }

    // ----- parsing: valid forms -----

    #[test]
    fn single_ports_and_ranges() {
        assert_eq!(parse("80"), vec![80]);
        assert_eq!(parse("1"), vec![1]);
        assert_eq!(parse("65535"), vec![65535]);
        assert_eq!(parse("080"), vec![80]);
        assert_eq!(parse("8000-8100"), range(8000, 8100));
        assert_eq!(parse("22-22"), vec![22]);
        assert_eq!(parse("1000-"), range(1000, 65535));
        assert_eq!(parse("80-"), range(80, 65535));
        assert_eq!(parse("-1024"), range(1, 1024));
        assert_eq!(parse("1 - 3"), vec![1, 2, 3]);
        assert_eq!(parse("all"), range(1, 65535));
        assert_eq!(parse("ALL"), range(1, 65535));
        assert_eq!(parse("-"), range(1, 65535));
        assert_eq!(parse(" - "), range(1, 65535));
    }

    #[test]
    fn named_sets_in_specs() {
        let mut top100 = TOP_100.to_vec();
        top100.sort_unstable();
        assert_eq!(parse("top-100"), top100);
        assert_eq!(parse("Top-100"), top100);
        assert_eq!(parse("T:top-100"), top100);
        let mut top1000 = TOP_1000.to_vec();
        top1000.sort_unstable();
        assert_eq!(parse("top-1000"), top1000);
        assert_eq!(parse("TOP-1000,top-100,top-1000"), top1000);
        assert_eq!(parse("top-100,65000"), [top100, vec![65000]].concat());
    }

    #[test]
    fn dedupe_sort_and_whitespace() {
        assert_eq!(parse("443,80,22,80,443"), vec![22, 80, 443]);
        assert_eq!(parse("  443 ,\t80 ,\n22  "), vec![22, 80, 443]);
        assert_eq!(parse("\u{a0}80,\u{3000}443"), vec![80, 443]);
        assert_eq!(parse("10-20,15-25,5"), [vec![5], range(10, 25)].concat());
        assert_eq!(parse("1-65535,1-65535,80"), range(1, 65535));
    }

    #[test]
    fn tcp_prefix() {
        assert_eq!(parse("T:80"), vec![80]);
        assert_eq!(parse("t:80,T:443"), vec![80, 443]);
        assert_eq!(parse("T:1-3"), vec![1, 2, 3]);
        assert_eq!(parse("T: 22"), vec![22]);
        assert_eq!(parse("T:all"), range(1, 65535));
        assert_eq!(parse("1-5,!T:3"), vec![1, 2, 4, 5]);
    }

    #[test]
    fn excludes_inside_the_spec() {
        let list = PortList::parse("top-1000,!22", "").unwrap();
        assert_eq!(list.len(), 999);
        assert!(!list.contains(22));
        assert!(list.contains(445));
        assert_eq!(parse("1-10,!3-5"), vec![1, 2, 6, 7, 8, 9, 10]);
        assert_eq!(parse("!3-5,1-10"), vec![1, 2, 6, 7, 8, 9, 10]);
        assert_eq!(parse("1-10,! 2,!-4"), range(5, 10));
        assert_eq!(parse("1-10,!5,!5,5"), vec![1, 2, 3, 4, 6, 7, 8, 9, 10]);
        assert_eq!(parse("all,!1000-"), range(1, 999));
        assert_eq!(parse("all,!top-1000").len(), 65535 - 1000);
        assert_eq!(parse("top-100,!top-1000,65000"), vec![65000]);
    }

    #[test]
    fn exclude_argument() {
        let list = PortList::parse("1-100", "50-100, 2").unwrap();
        assert_eq!(list.as_slice(), &[vec![1], range(3, 49)].concat()[..]);
        let list = PortList::parse("all", "top-1000").unwrap();
        assert_eq!(list.len(), 65535 - 1000);
        let list = PortList::parse("22,80", "").unwrap();
        assert_eq!(list.as_slice(), &[22, 80]);
        let list = PortList::parse("22,80", "   ").unwrap();
        assert_eq!(list.as_slice(), &[22, 80]);
        let list = PortList::parse("22,80", "T:22").unwrap();
        assert_eq!(list.as_slice(), &[80]);
        let list = PortList::parse("22,80", "1000-").unwrap();
        assert_eq!(list.as_slice(), &[22, 80]);
    }

    #[test]
    fn accessors() {
        let list = PortList::parse("443,22,80", "").unwrap();
        assert_eq!(list.as_slice(), &[22, 80, 443]);
        assert_eq!(list.len(), 3);
        assert!(!list.is_empty());
        assert!(list.contains(80));
        assert!(!list.contains(81));
        assert!(!list.contains(0));
    }

    #[test]
    fn from_ports() {
        let list = PortList::from_ports([443, 22, 80, 22]).unwrap();
        assert_eq!(list.as_slice(), &[22, 80, 443]);
        assert_eq!(list, PortList::parse("22,80,443", "").unwrap());
        assert_eq!(PortList::from_ports(TOP_1000).unwrap().len(), 1000);
        assert_eq!(PortList::from_ports(1..=u16::MAX).unwrap().len(), 65535);
        assert!(matches!(PortList::from_ports([]), Err(Error::Ports { .. })));
        match PortList::from_ports([80, 0]) {
            Err(Error::Ports { reason, .. }) => assert!(reason.contains("port 0"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn to_spec_is_compact() {
        let spec = |s: &str| PortList::parse(s, "").unwrap().to_spec();
        assert_eq!(spec("22,80,8000-8100"), "22,80,8000-8100");
        assert_eq!(spec("80"), "80");
        assert_eq!(spec("22,23"), "22,23");
        assert_eq!(spec("22,23,24"), "22-24");
        assert_eq!(spec("all"), "1-65535");
        assert_eq!(spec("1,3,5-7,65534,65535"), "1,3,5-7,65534,65535");
        assert_eq!(spec("65533-"), "65533-65535");
    }

    #[test]
    fn to_spec_round_trips() {
        let specs = [
            "80",
            "22,80,443",
            "1-1024",
            "all",
            "top-100",
            "top-1000",
            "all,!top-1000",
            "1-10,!5,20-30,!25-26",
            "65535",
            "1",
            "1,65535",
            "1-65534",
            "2-65535",
        ];
        for s in specs {
            let list = PortList::parse(s, "").unwrap();
            let again = PortList::parse(&list.to_spec(), "").unwrap();
            assert_eq!(list, again, "round trip of {s:?}");
        }
        let mut x: u32 = 12345;
        for _ in 0..50 {
            let mut ports = Vec::new();
            for _ in 0..200 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ports.push(((x >> 8) % 300 + 1) as u16);
            }
            let list = PortList::from_ports(ports).unwrap();
            assert_eq!(PortList::parse(&list.to_spec(), "").unwrap(), list);
        }
    }

    // ----- parsing: errors -----

    #[test]
    fn malformed_specs() {
        // (spec, offending item, a fragment of the reason)
        let cases: &[(&str, &str, &str)] = &[
            ("", "", "empty port specification"),
            ("   ", "   ", "empty port specification"),
            (",", "", "empty item"),
            ("80,,443", "", "empty item"),
            ("80,", "", "empty item"),
            ("0", "0", "port 0 cannot be scanned with a TCP connect"),
            ("000", "000", "port 0 cannot be scanned"),
            ("0-100", "0-100", "port 0 cannot be scanned"),
            ("-0", "-0", "port 0 cannot be scanned"),
            ("65536", "65536", "port 65536 is out of range 1-65535"),
            ("70000", "70000", "port 70000 is out of range 1-65535"),
            ("1-65536", "1-65536", "port 65536 is out of range 1-65535"),
            ("99999999999999999999", "99999999999999999999", "port 99999999999999999999 is out of range"),
            ("10-5", "10-5", "range end 5 is before its start 10"),
            ("20-10", "20-10", "range end 10 is before its start 20"),
            ("-5-", "-5-", "single '-'"),
            ("1-2-3", "1-2-3", "single '-'"),
            ("80-90-", "80-90-", "single '-'"),
            ("--", "--", "single '-'"),
            (" - - ", "- -", "single '-'"),
            ("a", "a", "not a number: 'a'"),
            ("ab", "ab", "not a number: 'ab'"),
            ("http", "http", "not a number: 'http'"),
            ("1e3", "1e3", "not a number: '1e3'"),
            ("0x50", "0x50", "not a number: '0x50' (write ports in decimal)"),
            ("+80", "+80", "not a number: '+80' (write ports without a sign)"),
            ("８０", "８０", "not a number: '８０' (only the ASCII digits"),
            ("٨٠", "٨٠", "only the ASCII digits"),
            ("80\0", "80\0", "not a number: '80\\0'"),
            ("80.0", "80.0", "not a number"),
            ("80;443", "80;443", "not a number"),
            ("a-b", "a-b", "not a number: 'a'"),
            ("80 443 x", "80 443 x", "unexpected whitespace in '80 443 x'; separate items with commas"),
            ("80\n443", "80\n443", "unexpected whitespace"),
            ("top-5000", "top-5000", "unknown named set 'top-5000'; known: top-100, top-1000"),
            ("top-", "top-", "unknown named set 'top-'"),
            ("U:53", "U:53", "UDP ports are not supported by this scan; scan with protocol=\"udp\""),
            ("u:53", "u:53", "UDP ports are not supported by this scan"),
            ("S:80", "S:80", "SCTP ports are not supported"),
            ("X:80", "X:80", "unknown protocol prefix 'X:'"),
            ("T:", "T:", "no ports after 'T:'"),
            ("T:T:80", "T:T:80", "only one protocol prefix"),
            ("T:!80", "T:!80", "'!' must come before the 'T:' prefix"),
            ("!", "!", "nothing to exclude after '!'"),
            ("!!80", "!!80", "'!' may appear only once"),
            ("!22", "!22", "only excludes ports"),
            ("all,!all", "all,!all", "every port was excluded"),
            ("top-100,!top-1000", "top-100,!top-1000", "every port was excluded"),
        ];
        assert!(cases.len() >= 25);
        for &(spec, item, fragment) in cases {
            let (reason, _) = invalid(spec, "", spec, item);
            assert!(reason.contains(fragment), "{spec:?}: reason {reason:?} lacks {fragment:?}");
        }
    }

    #[test]
    fn malformed_excludes() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("1-100", "x", "x", "not a number: 'x'"),
            ("1-100", "!5", "!5", "'!' is not needed here"),
            ("1-100", "5,,6", "", "empty item"),
            ("1-100", "U:5", "U:5", "UDP ports are not supported"),
            ("1-100", "0", "0", "port 0"),
        ];
        for &(spec, exclude, item, fragment) in cases {
            let (reason, _) = invalid(spec, exclude, exclude, item);
            assert!(reason.contains(fragment), "{exclude:?}: {reason:?}");
            assert!(reason.ends_with("(in the exclude list)"), "{reason:?}");
        }
        // a valid exclude that removes everything is reported against the spec
        invalid("top-100", "top-100,80", "top-100", "top-100");
        invalid("22", "1-", "22", "22");
        // errors in the spec are found before the exclude list is read
        invalid("x", "y", "x", "x");
    }

    #[test]
    fn error_offsets_are_in_characters() {
        assert_eq!(invalid("80,,443", "", "80,,443", "").1, 3);
        assert_eq!(invalid("80,", "", "80,", "").1, 3);
        assert_eq!(invalid(" - - ", "", " - - ", "- -").1, 1);
        assert_eq!(invalid("1,2,3,x,5", "", "1,2,3,x,5", "x").1, 6);
        // 'é' is two bytes, NBSP two bytes, U+3000 three bytes: offsets count characters
        assert_eq!(invalid("22,é,x", "", "22,é,x", "é").1, 3);
        assert_eq!(invalid("\u{a0}80,\u{a0}70000", "", "\u{a0}80,\u{a0}70000", "70000").1, 5);
        assert_eq!(invalid("\u{3000}\u{3000}x", "", "\u{3000}\u{3000}x", "x").1, 2);
        assert_eq!(invalid("80,  ８０", "", "80,  ８０", "８０").1, 5);
        assert_eq!(invalid("1-10", "2, é", "2, é", "é").1, 3);
    }

    #[test]
    fn huge_inputs_do_not_panic() {
        // a 1 MB number
        let digits = "1".repeat(1 << 20);
        let (reason, offset) = invalid(&digits, "", &digits, &digits);
        assert_eq!(offset, 0);
        assert!(reason.contains("out of range 1-65535") && reason.contains("(1048576 digits)"), "{reason}");
        assert!(reason.len() < 200);
        // a 1 MB number with leading zeros is still that number
        let padded = format!("{}80", "0".repeat(1 << 20));
        assert_eq!(parse(&padded), vec![80]);
        // a 1 MB word: the reason stays short
        let word = "x".repeat(1 << 20);
        let (reason, _) = invalid(&word, "", &word, &word);
        assert!(reason.len() < 200, "{}", reason.len());
        // 1 MB of commas
        let commas = ",".repeat(1 << 20);
        assert_eq!(invalid(&commas, "", &commas, "").1, 0);
        // long valid specs stay fast (ranges go through a difference array)
        let many = format!("{}443", "-,".repeat(1 << 19));
        assert_eq!(parse(&many).len(), 65535);
        let many = format!("{}443", "80,top-1000,".repeat(1 << 15));
        assert_eq!(parse(&many).len(), 1000);
        let many = format!("{}1", "!1-65535,".repeat(1 << 16));
        invalid(&many, "", &many, &many);
    }

    #[test]
    fn random_inputs_never_panic() {
        let alphabet: Vec<char> = "0123456789-,!tT:uU aAlLpé８\u{a0}\0".chars().collect();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..4_000 {
            let len = (next() % 16) as usize;
            let spec: String = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            match PortList::parse(&spec, "") {
                Ok(list) => {
                    assert!(!list.is_empty());
                    assert!(list.as_slice().windows(2).all(|w| w[0] < w[1]));
                    assert!(!list.contains(0));
                    assert_eq!(PortList::parse(&list.to_spec(), "").unwrap(), list);
                }
                Err(Error::Ports { span, reason }) => {
                    assert_eq!(span.input, spec);
                    assert!(spec.contains(&span.item), "{spec:?} / {:?}", span.item);
                    assert!(span.offset <= spec.chars().count());
                    let at: String = spec.chars().skip(span.offset).collect();
                    assert!(at.starts_with(&span.item), "{spec:?}: {:?} at {}", span.item, span.offset);
                    assert!(!reason.is_empty());
                }
                Err(other) => panic!("{spec:?}: {other:?}"),
            }
        }
    }

    /// A deterministic xorshift stream.
    fn rng(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn specs_match_a_brute_force_model() {
        // Random specs of every item form against a 65536-entry membership model.
        let mut next = rng(0x504c_5053);
        let mut checked = 0;
        // Each parse builds a 65536-entry mask: a few hundred specs keep this quick in debug builds.
        for _ in 0..400 {
            let mut include = vec![false; 65536];
            let mut remove = vec![false; 65536];
            let mut any_include = false;
            let mut items = Vec::new();
            for _ in 0..(1 + next() % 6) {
                let a = (1 + next() % 65535) as u16;
                let b = (1 + next() % 65535) as u16;
                let (lo, hi) = (a.min(b), a.max(b));
                let (text, ports): (String, Vec<u16>) = match next() % 8 {
                    0 | 1 => (a.to_string(), vec![a]),
                    2 => (format!("{lo}-{hi}"), (lo..=hi).collect()),
                    3 => (format!("{a}-"), (a..=u16::MAX).collect()),
                    4 => (format!("-{a}"), (1..=a).collect()),
                    5 => ("top-100".into(), TOP_100.to_vec()),
                    6 => (format!("T:{a}"), vec![a]),
                    _ => (format!(" {lo} - {hi} "), (lo..=hi).collect()),
                };
                if next().is_multiple_of(3) {
                    items.push(format!("!{text}"));
                    ports.iter().for_each(|&p| remove[usize::from(p)] = true);
                } else {
                    items.push(text);
                    any_include = true;
                    ports.iter().for_each(|&p| include[usize::from(p)] = true);
                }
            }
            let want: Vec<u16> =
                (1..=u16::MAX).filter(|&p| include[usize::from(p)] && !remove[usize::from(p)]).collect();
            let spec = items.join(",");
            match PortList::parse(&spec, "") {
                Ok(list) => {
                    assert_eq!(list.as_slice(), &want[..], "{spec}");
                    checked += 1;
                }
                Err(Error::Ports { .. }) => assert!(!any_include || want.is_empty(), "{spec}"),
                Err(e) => panic!("{spec}: {e}"),
            }
        }
        assert!(checked > 200, "{checked}");
    }

    #[test]
    fn port_spec_entry_survives_random_and_mutated_input() {
        // The deterministic twin of the `port_spec` cargo-fuzz target.
        let seeds = ["22,80,8000-8100,!8050\n25", "top-1000,U:53\nT:22", "-,!1-1023\n", "all\n1-65534", "１,0x50,+1"];
        let mut next = rng(0x504c_0013);
        let alphabet = b"0123456789-,!tTuU: aAlLop\n\xff\x00";
        // Each input is parsed six times (three protocols, and the round trip): a few hundred
        // inputs here; `make test-fuzz` runs the cargo-fuzz target for millions.
        for i in 0..150 {
            let mut d = seeds[i % seeds.len()].as_bytes().to_vec();
            for _ in 0..(next() % 6) {
                let at = (next() % (d.len() as u64 + 1)) as usize;
                let b = alphabet[(next() % alphabet.len() as u64) as usize];
                match next() % 3 {
                    0 if at < d.len() => d[at] = b,
                    1 if at < d.len() => {
                        d.remove(at);
                    }
                    _ => d.insert(at, b),
                }
            }
            fuzzing::port_spec(&d);
        }
        // And hostile sizes, lazily split: 10 MB of commas or of one item, a million items.
        let start = std::time::Instant::now();
        for big in [",".repeat(10 << 20), "9".repeat(10 << 20), "1,".repeat(1 << 20)] {
            assert!(matches!(PortList::parse(&big, ""), Err(Error::Ports { .. })) || big.starts_with("1,"));
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "{:?}", start.elapsed());
    }
}

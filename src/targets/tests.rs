//! Tests of the targets module. Nothing here creates a socket; the only network-adjacent calls
//! are name lookups of `localhost` and of a name under the reserved `.invalid` TLD.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::parse::clip;
use super::*;

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn lit(include: &[&str]) -> Result<Targets> {
    Targets::build_literal(&v(include), &[], &TargetOptions::default(), None)
}

fn lit_ex(include: &[&str], exclude: &[&str]) -> Result<Targets> {
    Targets::build_literal(&v(include), &v(exclude), &TargetOptions::default(), None)
}

fn scoped(include: &[&str], exclude: &[&str], scope: &[&str]) -> Result<Targets> {
    let scope = Scope::parse(&v(scope)).unwrap();
    Targets::build_literal(&v(include), &v(exclude), &TargetOptions::default(), Some(&scope))
}

fn all(t: &Targets) -> Vec<IpAddr> {
    t.iter().collect()
}

/// A fresh file under the temp dir, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, content: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("portlens-targets-{}-{name}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        TempFile(path)
    }

    fn at(&self) -> String {
        format!("@{}", self.0.display())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ---------------------------------------------------------------- accepted forms

#[test]
fn single_addresses() {
    let t = lit(&["198.18.1.7"]).unwrap();
    assert_eq!((t.len(), t.get(0), t.get(1)), (1, Some(ip("198.18.1.7")), None));
    assert!(!t.is_empty());
    assert_eq!(lit(&["2001:db8::1"]).unwrap().get(0), Some(ip("2001:db8::1")));
    assert_eq!(lit(&["[2001:db8::1]"]).unwrap().get(0), Some(ip("2001:db8::1")));
    // IPv4-mapped IPv6 stays IPv6.
    assert_eq!(lit(&["::ffff:198.18.1.1"]).unwrap().get(0), Some(ip("::ffff:198.18.1.1")));
    assert_eq!(lit(&["198.18.1.1/32"]).unwrap().len(), 1);
    assert_eq!(lit(&["2001:db8::1/128"]).unwrap().len(), 1);
    assert_eq!(lit(&["0.0.0.0", "255.255.255.255"]).unwrap().len(), 2);
}

#[test]
fn cidrs_include_network_and_broadcast() {
    let t = lit(&["198.18.1.7/24"]).unwrap();
    assert_eq!(t.len(), 256);
    assert_eq!(t.get(0), Some(ip("198.18.1.0")));
    assert_eq!(t.get(255), Some(ip("198.18.1.255")));
    assert_eq!(t.get(256), None);
    assert_eq!(t.get(u128::MAX), None);
    let t = lit(&["[2001:db8::77]/120"]).unwrap();
    assert_eq!((t.len(), t.get(0), t.get(255)), (256, Some(ip("2001:db8::")), Some(ip("2001:db8::ff"))));
    let t = lit(&["198.18.1.0/31", "198.18.2.0/30"]).unwrap();
    assert_eq!(t.len(), 6);
}

#[test]
fn ranges() {
    let t = lit(&["198.18.1.10-50"]).unwrap();
    assert_eq!((t.len(), t.get(0), t.get(40)), (41, Some(ip("198.18.1.10")), Some(ip("198.18.1.50"))));
    let t = lit(&["198.18.1.10-198.18.2.20"]).unwrap();
    assert_eq!(
        (t.len(), t.get(245), t.get(246), t.get(266)),
        (267, Some(ip("198.18.1.255")), Some(ip("198.18.2.0")), Some(ip("198.18.2.20")))
    );
    let full = lit(&["2001:db8::1-2001:db8::ff"]).unwrap();
    let short = lit(&["2001:db8::1-ff"]).unwrap();
    assert_eq!(full.len(), 255);
    assert_eq!(all(&full), all(&short));
    assert_eq!(short.get(254), Some(ip("2001:db8::ff")));
    assert_eq!(lit(&["[2001:db8::1]-[2001:db8::3]"]).unwrap().len(), 3);
    assert_eq!(lit(&["198.18.1.5-5"]).unwrap().len(), 1);
    assert_eq!(lit(&["255.255.255.250-255"]).unwrap().len(), 6);
    assert_eq!(lit(&["ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0-ffff"]).unwrap().len(), 16);
}

#[test]
fn several_items_per_string_and_iteration_order() {
    let t = lit(&["2001:db8::2, 198.18.1.3\t198.18.1.1 ,198.18.1.2", " 2001:db8::1 \n 10.0.0.1 "]).unwrap();
    assert_eq!(
        all(&t),
        vec![
            ip("10.0.0.1"),
            ip("198.18.1.1"),
            ip("198.18.1.2"),
            ip("198.18.1.3"),
            ip("2001:db8::1"),
            ip("2001:db8::2")
        ]
    );
    let by_get: Vec<IpAddr> = (0..t.len()).filter_map(|i| t.get(i)).collect();
    assert_eq!(by_get, all(&t));
}

#[test]
fn overlapping_items_are_deduplicated() {
    let t =
        lit(&["198.18.1.0/24", "198.18.1.10-20", "198.18.1.255", "198.18.2.0", "198.18.1.7", "198.18.1.0/25"]).unwrap();
    assert_eq!(t.len(), 257);
    assert_eq!(t.blocks.len(), 1, "adjacent intervals merge");
    assert_eq!(t.get(256), Some(ip("198.18.2.0")));
    let t = lit(&["2001:db8::/126", "2001:db8::1-2001:db8::5", "[2001:db8::3]"]).unwrap();
    assert_eq!(t.len(), 6);
}

#[test]
fn excludes_split_intervals() {
    let t = lit_ex(&["198.18.1.0/24"], &["198.18.1.10-19", "198.18.1.128/25"]).unwrap();
    assert_eq!(t.len(), 118);
    assert_eq!(t.blocks.len(), 2);
    assert_eq!(t.get(9), Some(ip("198.18.1.9")));
    assert_eq!(t.get(10), Some(ip("198.18.1.20")));
    assert_eq!(t.get(117), Some(ip("198.18.1.127")));
    assert_eq!(t.get(118), None);
    assert!(!all(&t).contains(&ip("198.18.1.15")));
    // `!` in the include list is an exclusion too, wherever it appears.
    let t = lit(&["!198.18.1.0 198.18.1.0/24, !198.18.1.255"]).unwrap();
    assert_eq!((t.len(), t.get(0), t.get(253)), (254, Some(ip("198.18.1.1")), Some(ip("198.18.1.254"))));
    let t = lit_ex(&["2001:db8::/120", "198.18.1.1"], &["2001:db8::80/121", "10.0.0.0/8"]).unwrap();
    assert_eq!(t.len(), 129);
}

#[test]
fn slash8_is_instant_and_large_needs_permission() {
    let start = Instant::now();
    let t = lit(&["10.0.0.0/8"]).unwrap();
    assert_eq!(t.len(), 1 << 24);
    assert_eq!(t.get((1 << 24) - 1), Some(ip("10.255.255.255")));
    assert_eq!(t.get(1 << 24), None);
    assert_eq!(t.iter().take(2).collect::<Vec<_>>(), vec![ip("10.0.0.0"), ip("10.0.0.1")]);
    assert!(start.elapsed() < Duration::from_millis(500));

    let big = TargetOptions { allow_large: true, ..TargetOptions::default() };
    let t = Targets::build_literal(&v(&["10.0.0.0/7", "2001:db8::/89"]), &[], &big, None).unwrap();
    assert_eq!(t.len(), (1 << 25) + (1 << 39));
    assert_eq!(t.get(1 << 25), Some(ip("2001:db8::")));
    assert_eq!(t.get(t.len() - 1), Some(ip("2001:db8::7f:ffff:ffff")));
    // Excluding a part makes a large item fit.
    assert_eq!(lit_ex(&["10.0.0.0/7"], &["11.0.0.0/8"]).unwrap().len(), 1 << 24);
    // A smaller custom limit.
    let small = TargetOptions { max_addresses: 256, ..TargetOptions::default() };
    assert_eq!(Targets::build_literal(&v(&["198.18.1.0/24"]), &[], &small, None).unwrap().len(), 256);
}

#[test]
fn files_with_comments_commas_and_exclusions() {
    let inc = TempFile::new(
        "inc.txt",
        "\u{feff}# lab hosts\r\n\r\n198.18.1.0/29, 198.18.1.100  # web\r\n   \n2001:db8::1-3\n!198.18.1.0\n",
    );
    let exc = TempFile::new("exc.txt", "198.18.1.7\n# nothing else\n");
    let neg = TempFile::new("neg.txt", "2001:db8::2\n");
    let t = Targets::build_literal(
        &v(&[&inc.at(), &format!("!{}", neg.at())]),
        &v(&[&exc.at()]),
        &TargetOptions::default(),
        None,
    )
    .unwrap();
    assert_eq!(
        all(&t),
        [
            "198.18.1.1",
            "198.18.1.2",
            "198.18.1.3",
            "198.18.1.4",
            "198.18.1.5",
            "198.18.1.6",
            "198.18.1.100",
            "2001:db8::1",
            "2001:db8::3"
        ]
        .map(ip)
        .to_vec()
    );
}

#[test]
fn file_errors_name_file_line_and_item() {
    let bad = TempFile::new("bad.txt", "198.18.1.1\n\n# c\n10.0.0.1 198.18.1.300\n");
    let err = lit(&[&bad.at()]).unwrap_err();
    let span = err.span().unwrap().clone();
    assert_eq!(span.item, "198.18.1.300");
    assert!(span.input.contains("line 4"), "{err}");
    assert_eq!(span.input.chars().skip(span.offset).take(12).collect::<String>(), "198.18.1.300");
    assert!(err.to_string().contains("bad.txt line 4"), "{err}");

    let nested = TempFile::new("nested.txt", "198.18.1.1\n@/etc/hosts\n");
    let err = lit(&[&nested.at()]).unwrap_err();
    assert!(matches!(err, Error::Target { .. }));
    assert!(err.to_string().contains("\"@/etc/hosts\"") && err.to_string().contains("nested @file"), "{err}");

    let double = TempFile::new("double.txt", "!198.18.1.1\n");
    let err = lit(&["198.18.1.0/24", &format!("!{}", double.at())]).unwrap_err();
    assert!(err.to_string().contains("!198.18.1.1"), "{err}");

    let huge = TempFile::new("huge.txt", "10.0.0.0/7\n");
    let err = lit(&[&huge.at()]).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }) && err.to_string().contains("huge.txt line 1"), "{err}");

    let empty = TempFile::new("empty.txt", "# only comments\n\n");
    assert!(matches!(lit(&[&empty.at()]), Err(Error::Empty(_))));

    let dir = std::env::temp_dir();
    let err = lit(&[&format!("@{}", dir.display())]).unwrap_err();
    assert!(err.to_string().contains("directory"), "{err}");
}

// ---------------------------------------------------------------- malformed input

/// Expected error of a malformed include string.
enum Want<'a> {
    /// `Error::Target` naming `item`, with a reason containing the text.
    Target(&'a str, &'static str),
    TooLarge(&'a str),
}

#[test]
fn malformed_inputs_are_refused_with_the_item_named() {
    let label64 = format!("{}.example", "a".repeat(64));
    let long_host = vec!["abcdefghi"; 30].join(".");
    let ones = "9".repeat(1 << 20);
    let cases: Vec<(&str, Want)> = vec![
        ("", Want::Target("", "empty item")),
        (",", Want::Target("", "empty item")),
        ("   \t ", Want::Target("", "empty item")),
        ("198.18.1", Want::Target("198.18.1", "has 3 octets, expected 4")),
        ("198.18.1.1.1", Want::Target("198.18.1.1.1", "has 5 octets")),
        ("198.18.1.256", Want::Target("198.18.1.256", "octet 256 is out of range 0-255")),
        ("198.18.1.-1", Want::Target("198.18.1.-1", "octet -1 is out of range 0-255")),
        ("010.18.1.1", Want::Target("010.18.1.1", "leading zero")),
        ("198.18..1", Want::Target("198.18..1", "empty octet")),
        ("198.18.1.1/33", Want::Target("198.18.1.1/33", "prefix length 33 is too long for IPv4 (max 32)")),
        ("198.18.1.1/", Want::Target("198.18.1.1/", "missing prefix length")),
        ("/24", Want::Target("/24", "missing address before '/'")),
        ("198.18.1.1/2x", Want::Target("198.18.1.1/2x", "is not a number")),
        ("198.18.1.1/24/8", Want::Target("198.18.1.1/24/8", "more than one '/'")),
        ("198.18.1.1-9/24", Want::Target("198.18.1.1-9/24", "a range cannot have a prefix length")),
        ("198.18.1.1/99999999999999999999", Want::Target("198.18.1.1/99999999999999999999", "too long for IPv4")),
        ("198.18.1.50-10", Want::Target("198.18.1.50-10", "range end 198.18.1.10 is before its start 198.18.1.50")),
        ("198.18.2.1-198.18.1.1", Want::Target("198.18.2.1-198.18.1.1", "is before its start")),
        ("198.18.1.1-2001:db8::1", Want::Target("198.18.1.1-2001:db8::1", "mixed address families in a range")),
        ("2001:db8::1-198.18.1.1", Want::Target("2001:db8::1-198.18.1.1", "mixed address families in a range")),
        ("198.18.1.1-300", Want::Target("198.18.1.1-300", "octet 300 is out of range 0-255")),
        ("198.18.1.10-ff", Want::Target("198.18.1.10-ff", "neither a last octet")),
        ("198.18.1.1--5", Want::Target("198.18.1.1--5", "exactly one '-'")),
        ("198.18.1.1-", Want::Target("198.18.1.1-", "missing its end")),
        ("-", Want::Target("-", "missing its start")),
        ("--", Want::Target("--", "missing its start")),
        ("2001:db8::/129", Want::Target("2001:db8::/129", "prefix length 129 is too long for IPv6 (max 128)")),
        ("2001:db8:::1", Want::Target("2001:db8:::1", "':::'")),
        ("2001:db8::1::2", Want::Target("2001:db8::1::2", "'::' may appear only once")),
        ("2001:db8::12345", Want::Target("2001:db8::12345", "more than 4 hex digits")),
        ("1:2:3:4:5:6:7:8:9", Want::Target("1:2:3:4:5:6:7:8:9", "malformed IPv6 address")),
        ("2001:db8::g", Want::Target("2001:db8::g", "invalid character 'g' in IPv6 address")),
        ("fe80::1%eth0", Want::Target("fe80::1%eth0", "zone")),
        ("[2001:db8::1", Want::Target("[2001:db8::1", "missing closing ']'")),
        ("2001:db8::1]", Want::Target("2001:db8::1]", "']' without")),
        ("[198.18.1.1]", Want::Target("[198.18.1.1]", "only used around IPv6")),
        ("2001:db8::2-1", Want::Target("2001:db8::2-1", "is before its start")),
        ("2001:db8::1-fffff", Want::Target("2001:db8::1-fffff", "neither a last group")),
        ("a..b", Want::Target("a..b", "empty label")),
        (".host", Want::Target(".host", "empty label")),
        ("-host", Want::Target("-host", "starts with a hyphen")),
        ("host-", Want::Target("host-", "ends with a hyphen")),
        ("ok.host-.example", Want::Target("ok.host-.example", "ends with a hyphen")),
        (&label64, Want::Target(&label64, "hostname label longer than 63 characters")),
        (&long_host, Want::Target(&long_host, "hostname is 299 characters long (max 253)")),
        ("ho$t", Want::Target("ho$t", "invalid character '$' in hostname")),
        ("host_name", Want::Target("host_name", "invalid character '_' in hostname")),
        ("example.123", Want::Target("example.123", "all digits")),
        ("１９８.18.1.1", Want::Target("１９８.18.1.1", "invalid character '１' in hostname (only ASCII")),
        ("198.18.1.1\u{7}", Want::Target("198.18.1.1\u{7}", "invalid character '\\u{7}'")),
        ("\u{0}", Want::Target("\u{0}", "invalid character '\\0'")),
        ("\u{202e}evil", Want::Target("\u{202e}evil", "invalid character")),
        ("@", Want::Target("@", "missing file name after '@'")),
        (
            "@/nonexistent/portlens/targets.txt",
            Want::Target("@/nonexistent/portlens/targets.txt", "file not found: /nonexistent/portlens/targets.txt"),
        ),
        ("!", Want::Target("!", "'!' must be followed by a target")),
        ("!!198.18.1.1", Want::Target("!!198.18.1.1", "double '!'")),
        ("!@", Want::Target("!@", "missing file name")),
        ("localhost", Want::Target("localhost", "hostnames are not accepted here")),
        ("0.0.0.0/0", Want::TooLarge("0.0.0.0/0")),
        ("10.0.0.0/7", Want::TooLarge("10.0.0.0/7")),
        ("::/0", Want::TooLarge("::/0")),
        ("2001:db8::/64", Want::TooLarge("2001:db8::/64")),
        ("0.0.0.0-255.255.255.255", Want::TooLarge("0.0.0.0-255.255.255.255")),
    ];
    assert!(cases.len() >= 35);
    for (input, want) in &cases {
        let err = match lit(&[input]) {
            Ok(t) => panic!("{input:?} was accepted: {} addresses", t.len()),
            Err(e) => e,
        };
        let msg = err.to_string();
        match want {
            Want::Target(item, reason) => {
                assert!(matches!(err, Error::Target { .. }), "{input:?}: wrong variant: {err:?}");
                let item = clip(item, 256);
                assert_eq!(err.span().map(|s| s.item.as_str()), Some(&*item), "{input:?}: {msg}");
                assert!(msg.contains(&format!("{item:?}")), "{input:?}: item not named: {msg}");
                assert!(msg.contains(reason), "{input:?}: reason {reason:?} missing: {msg}");
            }
            Want::TooLarge(item) => {
                assert!(matches!(err, Error::TooLarge { .. }), "{input:?}: wrong variant: {err:?}");
                assert!(msg.contains(&format!("{item:?}")), "{input:?}: item not named: {msg}");
            }
        }
    }

    // A 1 MB item is refused quickly and the message is clipped, not a megabyte long.
    let start = Instant::now();
    let err = lit(&[&ones]).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(1));
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Target { .. }) && msg.contains("has 1 octet") && msg.contains("1048576 characters"),
        "{msg:.300}"
    );
    assert!(msg.len() < 2000);
}

#[test]
fn errors_point_at_the_item_inside_the_string() {
    let err = lit(&["198.18.1.1, 198.18.1.300"]).unwrap_err();
    let span = err.span().unwrap();
    assert_eq!(
        (span.item.as_str(), span.offset, span.input.as_str()),
        ("198.18.1.300", 12, "198.18.1.1, 198.18.1.300")
    );
    assert!(err.to_string().contains("at character 12"), "{err}");

    let err = lit(&["198.18.1.1,,198.18.1.2"]).unwrap_err();
    assert_eq!(err.span().map(|s| (s.item.as_str(), s.offset)), Some(("", 11)));
    assert!(err.to_string().contains("extra comma"), "{err}");

    let err = lit(&["198.18.1.1,"]).unwrap_err();
    assert_eq!(err.span().map(|s| s.offset), Some(11));

    // Offsets count characters.
    let err = lit(&["198.18.1.1\u{3000}198.18.1.999"]).unwrap_err();
    assert_eq!(err.span().map(|s| s.offset), Some(11));

    // A later string with a bad item is reported even after good ones.
    let err = lit(&["198.18.1.1", "2001:db8::/200"]).unwrap_err();
    assert_eq!(err.span().map(|s| s.item.as_str()), Some("2001:db8::/200"));
}

#[test]
fn exclude_list_errors() {
    let err = lit_ex(&["198.18.1.0/24"], &["!198.18.1.1"]).unwrap_err();
    assert!(matches!(err, Error::Target { .. }) && err.to_string().contains("\"!198.18.1.1\""), "{err}");
    let err = lit_ex(&["198.18.1.0/24"], &["198.18.1.1/40"]).unwrap_err();
    assert!(err.to_string().contains("\"198.18.1.1/40\""), "{err}");
    let err = lit_ex(&["198.18.1.0/24"], &[""]).unwrap_err();
    assert!(err.to_string().contains("empty item"), "{err}");
    // Huge exclusions are fine.
    assert_eq!(lit_ex(&["198.18.1.1"], &["::/0", "10.0.0.0/8"]).unwrap().len(), 1);
}

#[test]
fn empty_results() {
    assert!(matches!(lit(&[]), Err(Error::Empty(_))));
    let err = lit(&["!198.18.1.1"]).unwrap_err();
    assert!(matches!(err, Error::Empty(_)) && err.to_string().contains("only exclusions"), "{err}");
    let err = lit_ex(&["198.18.1.0/24"], &["198.18.0.0/16"]).unwrap_err();
    assert!(matches!(err, Error::Empty(_)), "{err}");
    assert!(err.to_string().contains("remove all 256 included addresses"), "{err}");
    let err = lit(&["198.18.1.5 !198.18.1.5"]).unwrap_err();
    assert!(err.to_string().contains("all 1 included address"), "{err}");
}

#[test]
fn too_large_names_the_item_and_limit() {
    let err = lit(&["198.18.1.1", "0.0.0.0/0"]).unwrap_err();
    match &err {
        Error::TooLarge { span, count, limit } => {
            assert_eq!((span.item.as_str(), *count, *limit), ("0.0.0.0/0", 1 << 32, 1 << 24));
        }
        other => panic!("{other:?}"),
    }
    // With allow_large the hard limit still applies, and ::/0 is refused at once.
    let big = TargetOptions { allow_large: true, max_addresses: u128::MAX, ..TargetOptions::default() };
    let start = Instant::now();
    let err = Targets::build_literal(&v(&["::/0"]), &[], &big, None).unwrap_err();
    assert!(start.elapsed() < Duration::from_millis(100));
    assert!(matches!(err, Error::TooLarge { limit, .. } if limit == HARD_LIMIT), "{err:?}");
    let err = Targets::build_literal(&v(&["2001:db8::/87"]), &[], &big, None).unwrap_err();
    assert!(
        matches!(&err, Error::TooLarge { span, limit, .. } if *limit == HARD_LIMIT && span.item == "2001:db8::/87"),
        "{err:?}"
    );
    // Items that fit one by one but not together: the item that tips it over is named.
    let opts = TargetOptions { max_addresses: 300, ..TargetOptions::default() };
    let err = Targets::build_literal(
        &v(&["198.18.1.0/24", "198.18.1.0/25", "198.18.2.0/26", "198.18.3.0/26"]),
        &[],
        &opts,
        None,
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::TooLarge { span, count: 320, limit: 300 } if span.item == "198.18.2.0/26"),
        "{err:?}"
    );
    // ... unless exclusions bring it back under the limit.
    let t = Targets::build_literal(
        &v(&["198.18.1.0/24", "198.18.2.0/26", "198.18.3.0/26"]),
        &v(&["198.18.1.0/25"]),
        &opts,
        None,
    )
    .unwrap();
    assert_eq!(t.len(), 128 + 64 + 64);
    // Exclusions elsewhere do not help: the oversized item is still named.
    let err = lit_ex(&["198.18.1.1", "10.0.0.0/7"], &["192.168.0.0/16"]).unwrap_err();
    assert!(
        matches!(&err, Error::TooLarge { span, count, .. } if span.item == "10.0.0.0/7" && *count == 1 << 25),
        "{err:?}"
    );
    // Excluding everything from ::/0 is allowed to get as far as the emptiness check.
    assert!(matches!(lit_ex(&["::/0"], &["::/0"]), Err(Error::Empty(_))));
    // A limit of zero refuses everything.
    let zero = TargetOptions { max_addresses: 0, ..TargetOptions::default() };
    assert!(matches!(Targets::build_literal(&v(&["198.18.1.1"]), &[], &zero, None), Err(Error::TooLarge { .. })));
}

// ---------------------------------------------------------------- scope

#[test]
fn scope_allows_targets_inside() {
    let t = scoped(&["198.18.1.0/24", "198.19.255.255", "2001:db8::1-ff"], &[], &["198.18.0.0/15", "2001:db8::/32"])
        .unwrap();
    assert_eq!(t.len(), 256 + 1 + 255);
    // Exclusions are applied before the scope check.
    assert_eq!(scoped(&["198.18.0.0/15"], &["198.19.0.0/16"], &["198.18.0.0/16"]).unwrap().len(), 1 << 16);
}

#[test]
fn scope_violations_are_refused() {
    let scope = ["198.18.0.0/15", "2001:db8::/32"];
    let check = |include: &[&str], needle: &str| {
        let err = scoped(include, &[], &scope).unwrap_err();
        match &err {
            Error::OutOfScope { target, scope } => {
                assert!(target.contains(needle), "{target}");
                assert_eq!(scope, "198.18.0.0/15, 2001:db8::/32");
            }
            other => panic!("{include:?}: {other:?}"),
        }
        assert!(err.to_string().contains("outside the authorised scope"));
    };
    check(&["198.18.1.1", "198.20.0.1"], "198.20.0.1");
    check(&["198.19.255.250-198.20.0.5"], "198.19.255.250-198.20.0.5 (address 198.20.0.0)");
    check(&["198.17.255.255/31"], "198.17.255.255/31 (address 198.17.255.254)");
    check(&["2001:db9::1"], "2001:db9::1");
    check(&["[2001:db8:ffff:ffff:ffff:ffff:ffff:ff00]-2001:db9::5"], "address 2001:db9::");
    check(&["10.0.0.1"], "10.0.0.1");
    // Only IPv4 in scope: any IPv6 target is outside.
    let err = scoped(&["2001:db8::1"], &[], &["198.18.0.0/15"]).unwrap_err();
    assert!(matches!(err, Error::OutOfScope { .. }));
}

// ---------------------------------------------------------------- resolution

#[tokio::test]
async fn localhost_resolves_and_keeps_its_name() {
    let opts = TargetOptions::default();
    let t = Targets::build(&v(&["localhost, LOCALHOST", "198.18.1.1"]), &[], &opts, None).await.unwrap();
    assert_eq!(t.len(), 2);
    let first = t.get(0).unwrap();
    assert!(first.is_loopback() && first.is_ipv4(), "{first}");
    assert_eq!(t.hostname(first), Some("localhost"));
    assert_eq!(t.hostname(ip("198.18.1.1")), None);
    // Excluding the name excludes its address.
    let t = Targets::build(&v(&["localhost", "198.18.1.1"]), &v(&["localhost"]), &opts, None).await.unwrap();
    assert_eq!(all(&t), vec![ip("198.18.1.1")]);
    assert_eq!(t.hostname(first), None);
}

#[tokio::test]
async fn hostname_outside_scope_is_refused() {
    let scope = Scope::parse(&v(&["198.18.0.0/15"])).unwrap();
    let err = Targets::build(&v(&["localhost"]), &[], &TargetOptions::default(), Some(&scope)).await.unwrap_err();
    match err {
        Error::OutOfScope { target, .. } => assert!(target.starts_with("localhost (127."), "{target}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn invalid_tld_fails_to_resolve() {
    let opts = TargetOptions { resolve_timeout: Duration::from_secs(3), ..TargetOptions::default() };
    let err = Targets::build(&v(&["198.18.1.1", "no-such-host.portlens.invalid"]), &[], &opts, None).await.unwrap_err();
    match err {
        Error::Resolve { host, reason } => {
            assert_eq!(host, "no-such-host.portlens.invalid");
            assert!(!reason.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn syntax_errors_come_before_any_lookup() {
    let err =
        Targets::build(&v(&["localhost", "198.18.1.999"]), &[], &TargetOptions::default(), None).await.unwrap_err();
    assert!(matches!(err, Error::Target { .. }));
}

#[test]
fn build_future_is_send_and_targets_are_shareable() {
    fn send<T: Send>(_: &T) {}
    fn send_sync<T: Send + Sync + 'static>() {}
    let (inc, exc, opts) = (v(&["localhost"]), Vec::new(), TargetOptions::default());
    let fut = Targets::build(&inc, &exc, &opts, None);
    send(&fut);
    send_sync::<Targets>();
    send_sync::<Scope>();
}

#[test]
fn random_input_never_panics() {
    // A fixed pseudo-random sequence (no dependency needed), over characters that matter.
    let alphabet: Vec<char> = "0123456789abcdefx.:-/[]!,# \t%_@é１\u{0}".chars().collect();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let opts = TargetOptions { allow_large: true, ..TargetOptions::default() };
    let mut accepted = 0;
    for _ in 0..20_000 {
        let len = (next() % 24) as usize;
        let s: String = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
        let s = if s.contains('@') { s.replace('@', "") } else { s };
        let excl = if next() % 4 == 0 { vec![s.chars().rev().collect::<String>()] } else { vec![] };
        if let Ok(t) = Targets::build_literal(std::slice::from_ref(&s), &excl, &opts, None) {
            accepted += 1;
            assert!(!t.is_empty(), "{s:?}");
            assert!(t.get(t.len() - 1).is_some() && t.get(t.len()).is_none(), "{s:?}");
            let first = t.iter().next();
            assert_eq!(first, t.get(0), "{s:?}");
        }
        let _ = Scope::parse(&[s]);
    }
    assert!(accepted > 0);
}

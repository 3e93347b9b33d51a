//! Tests of the targets module. Nothing here creates a socket; the only network-adjacent calls
//! are name lookups of `localhost` and of a name under the reserved `.invalid` TLD.

use std::collections::HashMap;
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
    // IPv4-mapped IPv6 is the IPv4 address.
    assert_eq!(lit(&["::ffff:198.18.1.1"]).unwrap().get(0), Some(ip("198.18.1.1")));
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
fn file_errors_name_file_line_and_column_not_content() {
    let bad = TempFile::new("bad.txt", "198.18.1.1\n\n# c\n10.0.0.1 198.18.1.300\n");
    let err = lit(&[&bad.at()]).unwrap_err();
    let span = err.span().unwrap().clone();
    assert!(span.item.ends_with("bad.txt line 4, column 10"), "{err}");
    assert_eq!(span.offset, 9);
    let msg = err.to_string();
    assert!(msg.contains("bad.txt line 4, column 10") && msg.contains("out of range 0-255"), "{msg}");
    assert!(!msg.contains("300") && !msg.contains("198.18"), "{msg}");

    let nested = TempFile::new("nested.txt", "198.18.1.1\n@/etc/hosts\n");
    let err = lit(&[&nested.at()]).unwrap_err();
    assert!(matches!(err, Error::Target { .. }));
    assert!(err.to_string().contains("line 2, column 1") && err.to_string().contains("nested @file"), "{err}");
    assert!(!err.to_string().contains("/etc/hosts"), "{err}");

    let double = TempFile::new("double.txt", "!198.18.1.1\n");
    let err = lit(&["198.18.1.0/24", &format!("!{}", double.at())]).unwrap_err();
    assert!(err.to_string().contains("double.txt line 1, column 1"), "{err}");

    let huge = TempFile::new("huge.txt", "10.0.0.0/7\n");
    let err = lit(&[&huge.at()]).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }) && err.to_string().contains("huge.txt line 1"), "{err}");
    assert!(!err.to_string().contains("10.0.0.0/7"), "{err}");

    let empty = TempFile::new("empty.txt", "# only comments\n\n");
    assert!(matches!(lit(&[&empty.at()]), Err(Error::Empty(_))));

    let dir = std::env::temp_dir();
    let err = lit(&[&format!("@{}", dir.display())]).unwrap_err();
    assert!(err.to_string().contains("directory"), "{err}");

    // Out of scope: the network as portlens parsed it, and where it came from.
    let far = TempFile::new("far.txt", "# x\n 10.0.0.1\n");
    let err = scoped(&[&far.at()], &[], &["198.18.0.0/15"]).unwrap_err();
    assert!(err.to_string().contains("10.0.0.1 (from @") && err.to_string().contains("far.txt line 2)"), "{err}");
}

#[test]
fn a_wrong_file_is_not_echoed() {
    // A file named by mistake (`@/etc/shadow`): errors say where and what, never the line.
    let shadow = TempFile::new(
        "shadow",
        "root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\nhunter2-\n-topsecret.example\nsecret..x\n",
    );
    let secrets = ["root", "saltsalt", "hashhash", "19000", "99999", "hunter2", "topsecret", "secret"];
    for lines in [&[0usize][..], &[1], &[2], &[3]] {
        let text = std::fs::read_to_string(&shadow.0).unwrap();
        let pick: String = lines.iter().map(|&i| format!("{}\n", text.lines().nth(i).unwrap())).collect();
        let one = TempFile::new(&format!("shadow{}", lines[0]), &pick);
        for err in [lit(&[&one.at()]).unwrap_err(), lit_ex(&["198.18.1.1"], &[&one.at()]).unwrap_err()] {
            let msg = err.to_string();
            assert!(matches!(err, Error::Target { .. }), "{msg}");
            for s in secrets {
                assert!(!msg.contains(s), "{s} echoed: {msg}");
            }
            let span = err.span().unwrap();
            assert!(!secrets.iter().any(|s| span.input.contains(s) || span.item.contains(s)), "{span:?}");
        }
    }
    // Every malformed item of the list below, read from a file: no 3-character run of it is quoted.
    for (i, item) in MALFORMED.iter().enumerate() {
        let f = TempFile::new(&format!("malformed{i}"), &format!("{item}\n"));
        let Err(err) = lit(&[&f.at()]) else { continue };
        let msg = err.to_string();
        let path = f.0.display().to_string();
        let msg = msg.replace(&path, "");
        // Runs of the item: any with a digit, and longer words that are not the message's own.
        let runs = item.split(|c: char| !c.is_ascii_alphanumeric()).filter(|r| r.len() >= 3);
        for run in runs {
            let worded = !run.chars().any(|c| c.is_ascii_digit());
            if worded && (run.len() < 5 || ["example", "hostname"].contains(&run)) {
                continue;
            }
            assert!(!msg.contains(run), "{item:?}: {run:?} quoted in {msg}");
        }
    }
}

#[test]
fn special_files_are_refused_quickly() {
    let start = Instant::now();
    for (path, what) in [("/dev/zero", "character device"), ("/dev/null", "character device")] {
        let err = lit(&[&format!("@{path}")]).unwrap_err();
        assert!(matches!(err, Error::Target { .. }) && err.to_string().contains(what), "{err}");
    }
    let fifo = std::env::temp_dir().join(format!("portlens-targets-{}-fifo", std::process::id()));
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let err = lit(&[&format!("@{}", fifo.display())]).unwrap_err();
    let _ = std::fs::remove_file(&fifo);
    assert!(err.to_string().contains("a FIFO"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(2));
    let latin1 = TempFile::new("latin1.txt", "");
    std::fs::write(&latin1.0, b"198.18.1.1\n198.18.\xe9.1\n").unwrap();
    let err = lit(&[&latin1.at()]).unwrap_err();
    assert!(err.to_string().contains("not UTF-8 text (invalid byte 0xe9 at line 2, column 8)"), "{err}");
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

// ---------------------------------------------------------------- hostile input (issue 13)

/// Malformed items, each refused with `Error::Target` or `Error::TooLarge` (never resolved).
const MALFORMED: &[&str] = &[
    "198.18.1.300",
    "198.18.1",
    "3323068674",
    "0xC6120502",
    "0xc6.0x12.0x05.0x02",
    "198.18.1.0x2",
    "0300.0022.01.02",
    "010.18.1.1",
    "0x7f.1",
    "0x7f.1.",
    "198.18.1.2.",
    "198.18.0.0/0x10",
    "198.18.0.0/-1",
    "198.18.0.0/+8",
    "fe80::1%eth0",
    "[fe80::1%25eth0]",
    "fe80::1%",
    "１９８.18.1.1",
    "198.18.1.١",
    "198.18.1.1\u{0}",
    "\u{0}",
    "ｅｘａｍｐｌｅ.com",
    "exаmple.com",
    "xn--",
    "a..b",
    "host_name",
    "-",
    "!",
    "@",
    "::ffff:1.2.3.4%lo",
    "::ffff:1.2.3.256",
    "::ffff:01.2.3.4",
    "::ffff:198.18.1.1-::1",
    "[::ffff:198.18.1.1]-5x",
    "1.2.3.4/24/24",
    "1.2.3.4-1.2.3.4-1.2.3.4",
    "[[::1]]",
    "[]",
    "[::1]/",
    "999999999999999999999999999999",
    "0x",
    "0x1g.0.0.1-5",
];

#[test]
fn malformed_items_are_typed_errors() {
    let big = TargetOptions { allow_large: true, ..TargetOptions::default() };
    for item in MALFORMED {
        for result in [
            Targets::build_literal(&v(&[item]), &[], &big, None),
            Targets::build_literal(&v(&["198.18.1.1"]), &v(&[item]), &big, None),
        ] {
            match result {
                Err(Error::Target { .. } | Error::TooLarge { .. }) => {}
                other => panic!("{item:?}: {other:?}"),
            }
        }
        assert!(matches!(Scope::parse(&v(&[item])), Err(Error::Target { .. })), "{item:?}");
    }
}

#[test]
fn mapped_ipv4_is_ipv4_in_targets_exclusions_scope_and_dedup() {
    // The case: a host excluded as IPv4 is not reached through its mapped address.
    for mapped in ["::ffff:198.18.5.2", "::ffff:c612:502", "[::ffff:198.18.5.2]"] {
        let err = lit_ex(&[mapped], &["198.18.5.2"]).unwrap_err();
        assert!(matches!(err, Error::Empty(_)), "{mapped}: {err:?}");
        let err = lit_ex(&["198.18.5.2"], &[mapped]).unwrap_err();
        assert!(matches!(err, Error::Empty(_)), "{mapped}: {err:?}");
        assert!(matches!(lit(&[&format!("198.18.5.2 !{mapped}")]), Err(Error::Empty(_))));
    }
    let t = lit_ex(&["::ffff:198.18.5.0/120"], &["198.18.5.0/25"]).unwrap();
    assert_eq!((t.len(), t.get(0)), (128, Some(ip("198.18.5.128"))));
    // Dedup: one address, reported as IPv4.
    let t = lit(&["198.18.5.2", "::ffff:198.18.5.2", "::ffff:c612:502", "0:0:0:0:0:ffff:c612:502"]).unwrap();
    assert_eq!(all(&t), vec![ip("198.18.5.2")]);
    // Scope: a mapped target is inside an IPv4 scope; a mapped scope entry is IPv4.
    assert_eq!(scoped(&["::ffff:198.18.5.2"], &[], &["198.18.0.0/15"]).unwrap().len(), 1);
    assert_eq!(scoped(&["198.18.5.2"], &[], &["::ffff:198.18.0.0/111"]).unwrap().len(), 1);
    let err = scoped(&["::ffff:10.0.0.1"], &[], &["198.18.0.0/15"]).unwrap_err();
    assert!(matches!(&err, Error::OutOfScope { target, .. } if target.contains("::ffff:10.0.0.1")), "{err:?}");
    // A wide IPv6 scope or exclusion covers IPv6 only: `::/0` authorises no IPv4 host.
    let err = scoped(&["::ffff:198.18.5.2"], &[], &["::/0"]).unwrap_err();
    assert!(matches!(err, Error::OutOfScope { .. }), "{err:?}");
    assert!(matches!(scoped(&["198.18.5.2"], &[], &["::/0"]), Err(Error::OutOfScope { .. })));
    let t = lit_ex(&["::ffff:198.18.5.2", "2001:db8::1"], &["::/0"]).unwrap();
    assert_eq!(all(&t), vec![ip("198.18.5.2")]);
    // A wider IPv6 target that reaches into ::ffff:0:0/96 is refused, naming it.
    let big = TargetOptions { allow_large: true, ..TargetOptions::default() };
    for wide in ["::ffff:0:0/95", "::fffe:ffff:ffff-::ffff:0.0.0.5", "::ffff:255.255.255.255-::1:0:0:0"] {
        let err = Targets::build_literal(&v(&[wide]), &[], &big, None).unwrap_err();
        assert!(
            matches!(&err, Error::Target { span, reason } if span.item == wide && reason.contains("IPv4-mapped")),
            "{wide}: {err:?}"
        );
    }
    // ... unless exclusions leave none of the block (an IPv6 exclusion is IPv6 only).
    let t = lit_ex(&["::fffe:ffff:fff0-::ffff:0.0.0.5"], &["::ffff:0:0-::1:0:0:0"]).unwrap();
    assert_eq!(t.intervals().collect::<Vec<_>>(), vec![(ip("::fffe:ffff:fff0"), ip("::fffe:ffff:ffff"), 16)]);
    // Every CIDR that holds the whole block is at least a /80: too large even with allow_large.
    assert!(matches!(Targets::build_literal(&v(&["::/80"]), &[], &big, None), Err(Error::TooLarge { .. })));
    // IPv4-compatible ::a.b.c.d is not mapped: it is IPv6 (and the kernel sends it as IPv6).
    assert_eq!(lit(&["::198.18.5.2"]).unwrap().get(0), Some(ip("::198.18.5.2")));
}

/// A plan resolved with `names` instead of the system resolver.
fn resolved_with(include: &[&str], exclude: &[&str], names: &[(&str, &[&str])]) -> Result<Targets> {
    let opts = TargetOptions::default();
    let plan = Plan::parse(&v(include), &v(exclude), &opts)?;
    let map: HashMap<String, Vec<IpAddr>> =
        names.iter().map(|(n, addrs)| (key(n), addrs.iter().map(|a| ip(a).to_canonical()).collect())).collect();
    plan.finish(&map, &opts, None)
}

#[test]
fn an_excluded_hostname_excludes_every_address() {
    let multi: &[&str] = &["198.18.1.2", "2001:db8::2", "198.18.1.5", "::ffff:198.18.1.7", "2001:db8::3"];
    let names = [("multi.example", multi)];
    let t = resolved_with(&["198.18.1.0/29", "2001:db8::/125"], &["multi.example"], &names).unwrap();
    let left = all(&t);
    for gone in ["198.18.1.2", "198.18.1.5", "198.18.1.7", "2001:db8::2", "2001:db8::3"] {
        assert!(!left.contains(&ip(gone)), "{gone} still in {left:?}");
    }
    assert_eq!(t.len(), 8 + 8 - 5);
    // `!name` in the include list too, and case-insensitively.
    let t = resolved_with(&["198.18.1.0/29 !MULTI.example"], &[], &names).unwrap();
    assert_eq!(t.len(), 8 - 3);
    // An included name is scanned at one address: the first IPv4 one.
    let t = resolved_with(&["multi.example"], &[], &names).unwrap();
    assert_eq!(all(&t), vec![ip("198.18.1.2")]);
    assert_eq!(t.hostname(ip("198.18.1.2")), Some("multi.example"));
    let v6: &[&str] = &["2001:db8::9", "2001:db8::8"];
    let t = resolved_with(&["six.example"], &[], &[("six.example", v6)]).unwrap();
    assert_eq!(all(&t), vec![ip("2001:db8::9")]);
    // Included and excluded by name: nothing left.
    assert!(matches!(resolved_with(&["multi.example"], &["multi.example"], &names), Err(Error::Empty(_))));
    // A name the resolver gave nothing for is an error, not silently dropped.
    let err = resolved_with(&["198.18.1.1"], &["gone.example"], &[("gone.example", &[])]).unwrap_err();
    assert!(matches!(&err, Error::Resolve { host, .. } if host == "gone.example"), "{err:?}");
}

#[tokio::test]
async fn resolution_canonicalises_and_names_file_items_by_position() {
    // `localhost` from the system resolver: every address, none mapped.
    let addrs = resolve_one("localhost", Duration::from_secs(3)).await.unwrap();
    assert!(!addrs.is_empty() && addrs.iter().all(|a| a.is_loopback() && a.to_canonical() == *a), "{addrs:?}");
    let t =
        Targets::build(&v(&["127.0.0.1", "::1", "198.18.1.1"]), &v(&["localhost"]), &TargetOptions::default(), None)
            .await
            .unwrap();
    assert!(!all(&t).iter().any(|a| addrs.contains(a)), "{:?}", all(&t));
    // A hostname read from a file that does not resolve: named by position, not by the name.
    let f = TempFile::new("names.txt", "198.18.1.1\nno-such-secret.portlens.invalid\n");
    let opts = TargetOptions { resolve_timeout: Duration::from_secs(3), ..TargetOptions::default() };
    let err = Targets::build(&v(&[&f.at()]), &[], &opts, None).await.unwrap_err();
    match &err {
        Error::Resolve { host, .. } => assert!(host.ends_with("names.txt line 2, column 1"), "{host}"),
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("secret"), "{err}");
}

extern "C" {
    fn inet_aton(cp: *const libc::c_char, inp: *mut libc::in_addr) -> libc::c_int;
}

/// What getaddrinfo reads as a numeric address (no lookup: AI_NUMERICHOST), canonical.
fn libc_numeric(s: &str) -> Option<IpAddr> {
    let c = std::ffi::CString::new(s).ok()?;
    // SAFETY: zeroed hints are valid; `res` is freed below; the node is NUL-terminated.
    unsafe {
        let mut hints: libc::addrinfo = std::mem::zeroed();
        hints.ai_flags = libc::AI_NUMERICHOST;
        hints.ai_socktype = libc::SOCK_STREAM;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        if libc::getaddrinfo(c.as_ptr(), std::ptr::null(), &hints, &mut res) != 0 || res.is_null() {
            return None;
        }
        let sa = (*res).ai_addr;
        let out = match i32::from((*sa).sa_family) {
            libc::AF_INET => {
                let sin = &*(sa as *const libc::sockaddr_in);
                Some(IpAddr::from(u32::from_be(sin.sin_addr.s_addr).to_be_bytes()))
            }
            libc::AF_INET6 => {
                let sin6 = &*(sa as *const libc::sockaddr_in6);
                Some(IpAddr::from(sin6.sin6_addr.s6_addr).to_canonical())
            }
            _ => None,
        };
        libc::freeaddrinfo(res);
        out
    }
}

fn libc_aton(s: &str) -> Option<IpAddr> {
    let c = std::ffi::CString::new(s).ok()?;
    let mut a = libc::in_addr { s_addr: 0 };
    // SAFETY: a NUL-terminated string and a valid out pointer.
    (unsafe { inet_aton(c.as_ptr(), &mut a) } == 1).then(|| IpAddr::from(u32::from_be(a.s_addr).to_be_bytes()))
}

/// A deterministic xorshift stream.
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

#[test]
fn numeric_forms_agree_with_libc_or_are_refused() {
    // Property: whatever the C library reads as a number is, for portlens, either the same single
    // address or an error; it is never a hostname (which would go to getaddrinfo and silently
    // become that number).
    let alphabet: Vec<char> = "0123456789abcdefxX.:[]ffff".chars().collect();
    let mut next = rng(0x9e37_79b9_7f4a_7c15);
    let mut numeric = 0;
    let check = |s: &str| -> bool {
        let libc = libc_numeric(s).or_else(|| libc_aton(s));
        let dotless = s.strip_suffix('.').and_then(|d| libc_numeric(d).or_else(|| libc_aton(d)));
        match parse::parse_item(s) {
            Ok(parse::Kind::Host(_)) => {
                assert!(libc.is_none() && dotless.is_none(), "{s:?} is a hostname but libc reads {libc:?}");
            }
            Ok(parse::Kind::Net { fam, iv }) if iv.lo == iv.hi => {
                if let Some(a) = libc {
                    assert_eq!(Some(a), Some(fam.ip(iv.lo)), "{s:?}: portlens and libc disagree");
                }
            }
            _ => {}
        }
        libc.is_some()
    };
    for _ in 0..60_000 {
        let len = (next() % 18) as usize + 1;
        let s: String = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
        numeric += usize::from(check(&s));
    }
    // Structured numeric forms: 1-4 parts in decimal, octal or hex, some with a trailing dot.
    for _ in 0..40_000 {
        let parts = (next() % 5) as usize + 1;
        let mut s = (0..parts)
            .map(|_| match next() % 4 {
                0 => format!("{}", next() % 300),
                1 => format!("0{:o}", next() % 300),
                2 => format!("0x{:x}", next() % 0x1_0000_0000),
                _ => format!("{}", next() % 0x1_0000_0000),
            })
            .collect::<Vec<_>>()
            .join(".");
        if next() & 7 == 0 {
            s.push('.');
        }
        numeric += usize::from(check(&s));
    }
    assert!(numeric > 10_000, "{numeric}");
}

#[test]
fn hostile_sizes_are_bounded_in_time() {
    // 10 MB for the cases that make most items or the longest item; 2 MB for the rest (debug
    // builds are slow; the Python tests run every case at 10 MB on the release build).
    let (mb10, mb2) = (10 << 20, 2 << 20);
    let big = TargetOptions { allow_large: true, ..TargetOptions::default() };
    let cases: Vec<(&str, String)> = vec![
        ("commas", ",".repeat(mb10)),
        ("spaces", " ".repeat(mb2)),
        ("one long item", "1".repeat(mb10)),
        ("long hostname", "a".repeat(mb2)),
        ("dotted", "a.".repeat(mb2 / 2)),
        ("brackets", "[".repeat(mb2)),
        ("colons", ":".repeat(mb2)),
        ("dashes", "-".repeat(mb2)),
        ("slashes", "/".repeat(mb2)),
        ("bangs", "!".repeat(mb2)),
        ("nested commas", "198.18.1.1,".repeat(mb2 / 11) + ","),
        ("zero width", "\u{200b}".repeat(mb2 / 3)),
        ("NULs", "\u{0}".repeat(mb2)),
    ];
    // Linear work on 10 MB takes well under a second in a release build; a debug build sharing two
    // cores with the other tests needs more, while anything quadratic would take hours.
    let bound = Duration::from_secs(if cfg!(debug_assertions) { 30 } else { 2 });
    for (what, input) in &cases {
        let start = Instant::now();
        let err = Targets::build_literal(std::slice::from_ref(input), &[], &big, None).unwrap_err();
        assert!(start.elapsed() < bound, "{what}: {:?}", start.elapsed());
        assert!(err.to_string().len() < 3000, "{what}: message of {} bytes", err.to_string().len());
        let start = Instant::now();
        let _ = Scope::parse(std::slice::from_ref(input));
        assert!(start.elapsed() < bound, "{what} (scope): {:?}", start.elapsed());
    }
    // More items than MAX_ITEMS: refused before they are all held.
    assert_eq!(parse::MAX_ITEMS, 1 << 21);
    let mut out = Vec::new();
    let err =
        parse::parse_inputs_upto(&v(&["198.18.1.1 198.18.1.2", "198.18.1.3"]), parse::Context::Include, &mut out, 2)
            .unwrap_err();
    assert!(
        matches!(&err, Error::Target { span, reason } if span.item == "198.18.1.3" && reason.contains("more than 2 items"))
    );
    // Many valid items: accepted, deduplicated, linear.
    let many =
        (0..100_000u32).map(|i| format!("198.18.{}.{}", (i >> 8) & 0xff, i & 0xff)).collect::<Vec<_>>().join(",");
    let start = Instant::now();
    let t = lit(&[&many]).unwrap();
    assert_eq!(t.len(), 1 << 16, "100,000 items, 65,536 distinct addresses");
    assert!(start.elapsed() < bound, "{:?}", start.elapsed());
}

#[test]
fn huge_ranges_are_refused_or_bounded() {
    let big = TargetOptions { allow_large: true, ..TargetOptions::default() };
    for (item, large_ok) in [
        ("198.18.0.0/0", true),
        ("0.0.0.0-255.255.255.255", true),
        ("::/0", false),
        ("2001:db8::/24", false),
        ("2001:db8::-2001:db9::", false),
        ("::ffff:0:0/96", true),
    ] {
        let err = lit(&[item]).unwrap_err();
        assert!(matches!(&err, Error::TooLarge { span, .. } if span.item == item), "{item}: {err:?}");
        let start = Instant::now();
        let r = Targets::build_literal(&v(&[item]), &[], &big, None);
        assert!(start.elapsed() < Duration::from_millis(500), "{item}");
        assert_eq!(r.is_ok(), large_ok, "{item}: {r:?}");
    }
}

/// Seeds for the mutation-based runs: valid and nearly valid specifications.
const SEEDS: &[&str] = &[
    "\u{0}198.18.1.0/24\t198.18.2.1-50\n198.18.1.7\n",
    "\u{1}198.18.0.0/15 !198.18.9.9\n\n198.18.0.0/15",
    "\u{3}2001:db8::/120, [2001:db8::1]-[2001:db8::5]\n2001:db8::80/121\n2001:db8::/32",
    "\u{0}::ffff:198.18.5.2, ::ffff:c612:502-503\n198.18.5.2\n",
    "\u{2}::ffff:0:0/95\n::/0\n",
    "\u{0}0xC6120502 3323068674 198.18.1 0300.0022.01.02",
    "\u{6}198.18.1.1-198.18.2.20\n\n",
    "\u{0}fe80::1%eth0\t１９８.18.1.1\tex\u{0}ample.com",
    "\u{1}198.18.1.10-50\n198.18.1.20\n198.18.1.0/25, # comment\n",
];

fn mutate(next: &mut impl FnMut() -> u64, seed: &[u8]) -> Vec<u8> {
    let mut d = seed.to_vec();
    for _ in 0..=(next() % 4) {
        let at = if d.is_empty() { 0 } else { (next() % d.len() as u64) as usize };
        let bytes = b"0123456789abcdefx.:-/[]!,%\t\n #\xff\x00";
        let b = bytes[(next() % bytes.len() as u64) as usize];
        match next() % 4 {
            0 if !d.is_empty() => d[at] = b,
            1 => d.insert(at, b),
            2 if !d.is_empty() => {
                d.remove(at);
            }
            _ => {
                let end = (at + (next() % 8) as usize).min(d.len());
                let chunk = d[at..end].to_vec();
                d.splice(at..at, chunk);
            }
        }
    }
    d
}

#[test]
fn parsers_survive_random_and_mutated_specs() {
    // The deterministic twin of the `target_spec` cargo-fuzz target.
    let mut next = rng(0x504c_1313);
    for seed in SEEDS {
        fuzzing::target_spec(seed.as_bytes());
    }
    let started = Instant::now();
    for i in 0..30_000 {
        let data = if i % 3 == 0 {
            let len = (next() % 64) as usize;
            (0..len).map(|_| next() as u8).collect::<Vec<u8>>()
        } else {
            let seed = SEEDS[(next() % SEEDS.len() as u64) as usize];
            mutate(&mut next, seed.as_bytes())
        };
        fuzzing::target_spec(&data);
    }
    assert!(started.elapsed() < Duration::from_secs(120));
}

#[test]
fn targets_match_a_brute_force_model() {
    // Random lists of items over a small universe (198.18.0.0/22, 2001:db8::/118, written in
    // every form: addresses, CIDRs, short and full ranges, mapped IPv6), against a set model.
    use std::collections::BTreeSet;
    let mut next = rng(0x7a11_0013);
    let mut below = |n: u64| next() % n;
    let mut checked = 0;
    for _ in 0..1_500 {
        let mut want_in: BTreeSet<IpAddr> = BTreeSet::new();
        let mut want_out: BTreeSet<IpAddr> = BTreeSet::new();
        let mut include = Vec::new();
        let mut exclude = Vec::new();
        for k in 0..(1 + below(8)) {
            let v4 = below(3) != 0;
            let base: u32 = 0xC612_0000;
            let (text, addrs): (String, Vec<IpAddr>) = if v4 {
                let a = base + below(1024) as u32;
                let four = |x: u32| std::net::Ipv4Addr::from(x);
                match below(6) {
                    0 => (four(a).to_string(), vec![IpAddr::V4(four(a))]),
                    1 => {
                        let p = 22 + below(11) as u32;
                        let mask = if p == 32 { u32::MAX } else { !(u32::MAX >> p) };
                        let lo = a & mask;
                        let hi = lo | !mask;
                        (format!("{}/{p}", four(a)), (lo..=hi).map(|x| IpAddr::V4(four(x))).collect())
                    }
                    2 => {
                        let hi = (a & !0xff) | (a & 0xff).max(below(256) as u32);
                        (format!("{}-{}", four(a), hi & 0xff), (a..=hi).map(|x| IpAddr::V4(four(x))).collect())
                    }
                    3 => {
                        let b = base + below(1024) as u32;
                        let (lo, hi) = (a.min(b), a.max(b));
                        (format!("{}-{}", four(lo), four(hi)), (lo..=hi).map(|x| IpAddr::V4(four(x))).collect())
                    }
                    4 => (format!("::ffff:{}", four(a)), vec![IpAddr::V4(four(a))]),
                    _ => {
                        let p = 118 + below(11) as u32;
                        let span = (1u32 << (128 - p)) - 1;
                        let lo = a & !span;
                        let shown = std::net::Ipv6Addr::from(0xffff_0000_0000u128 | u128::from(a));
                        (format!("{shown}/{p}"), (lo..=lo + span).map(|x| IpAddr::V4(four(x))).collect())
                    }
                }
            } else {
                let six = |x: u128| std::net::Ipv6Addr::from((0x2001_0db8u128 << 96) | x);
                let a = u128::from(below(1024));
                match below(3) {
                    0 => (six(a).to_string(), vec![IpAddr::V6(six(a))]),
                    1 => {
                        let p = 118 + below(11) as u32;
                        let span = (1u128 << (128 - p)) - 1;
                        let lo = a & !span;
                        (format!("{}/{p}", six(a)), (lo..=lo + span).map(|x| IpAddr::V6(six(x))).collect())
                    }
                    _ => {
                        let b = u128::from(below(1024));
                        let (lo, hi) = (a.min(b), a.max(b));
                        (format!("{}-{}", six(lo), six(hi)), (lo..=hi).map(|x| IpAddr::V6(six(x))).collect())
                    }
                }
            };
            match (k, below(4)) {
                (0, _) | (_, 0 | 1) => {
                    include.push(text);
                    want_in.extend(addrs);
                }
                (_, 2) => {
                    include.push(format!("!{text}"));
                    want_out.extend(addrs);
                }
                _ => {
                    exclude.push(text);
                    want_out.extend(addrs);
                }
            }
        }
        let want: Vec<IpAddr> = want_in.difference(&want_out).copied().collect();
        // BTreeSet orders IPv4 before IPv6, as Targets does.
        match Targets::build_literal(&include, &exclude, &TargetOptions::default(), None) {
            Ok(t) => {
                assert_eq!(all(&t), want, "{include:?} minus {exclude:?}");
                assert_eq!(t.len(), want.len() as u128);
                checked += 1;
            }
            Err(Error::Empty(_)) => assert!(want.is_empty(), "{include:?} minus {exclude:?}: {want:?}"),
            Err(e) => panic!("{include:?} minus {exclude:?}: {e}"),
        }
    }
    assert!(checked > 1_000, "{checked}");
}

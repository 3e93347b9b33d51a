//! Product and version patterns: the project's data file (`fingerprints.toml`, embedded) and the
//! user's own files, named in `PORTLENS_FINGERPRINTS` (':'-separated), tried first.
//!
//! A user file whose name ends in `.xml` is read as Rapid7 recog fingerprints ([`parse_recog`]:
//! the `ssh.banner`, `ftp.banner`, `smtp.banner`, `pop.banner`, `imap4.banner`,
//! `http_header.server` and `html_title` databases; patterns the `regex` crate cannot compile,
//! such as look-arounds, are skipped).
//!
//! The files are read once per process, through [`crate::files`] (regular files only, at most
//! [`MAX_FILE_BYTES`], so a FIFO or `/dev/zero` in the variable cannot hang or exhaust a scan). A
//! file that cannot be read or parsed is never dropped silently: [`load`] returns an
//! [`Error::Option`] naming `PORTLENS_FINGERPRINTS`, the file and what is wrong with it (by line
//! and column, never quoting the file), and the Python bindings call it before a scan with
//! `services=True` starts, so such a scan fails with an `OptionError` before any packet. (The
//! files that did load are still used by code that looks fingerprints up without calling
//! [`load`].) [`parse`] / [`parse_recog`] give the full parser message for a file's text.
use super::text;
use super::Hit;
use crate::error::Error;
use regex::Regex;
use serde::Deserialize;
use std::sync::OnceLock;
use super::registry::Protocol;

/// The built-in data file.
pub const BUILTIN: &str = include_str!("fingerprints.toml");
/// Environment variable naming the user's fingerprint files.
pub const ENV: &str = "PORTLENS_FINGERPRINTS";
/// Largest fingerprint file read (Rapid7's largest recog database is under 1 MiB).
pub const MAX_FILE_BYTES: u64 = 16 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    service: String,
    field: String,
    pattern: String,
    name: Option<String>,
    product: Option<String>,
    version: Option<String>,
    extrainfo: Option<String>,
    cpe: Option<String>,
    device: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    fingerprint: Vec<RawEntry>,
}

/// One compiled fingerprint.
#[derive(Debug)]
pub struct Entry {
    pub service: String,
    pub field: String,
    pub regex: Regex,
    pub name: Option<&'static str>,
    pub product: Option<String>,
    pub version: Option<String>,
    pub extrainfo: Option<String>,
    pub cpe: Option<String>,
    pub device: Option<String>,
}

/// What a fingerprint says about a field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Match {
    pub name: Option<&'static str>,
    pub product: Option<String>,
    pub version: Option<String>,
    pub extrainfo: Option<String>,
    pub cpe: Vec<String>,
    pub device: Option<String>,
}

/// Why a fingerprint file's text was refused.
#[derive(Debug)]
enum ParseError {
    /// Not TOML of the expected shape: where (1-based line, column) and the parser's message.
    Toml { at: Option<(usize, usize)>, message: String },
    /// The pattern of the `index`th (1-based) fingerprint does not compile.
    Pattern { index: usize, detail: String },
}

impl ParseError {
    /// The full message, which may quote the text (for [`parse`], whose caller has the text).
    fn detailed(&self) -> String {
        match self {
            ParseError::Toml { at: Some((l, c)), message } => format!("TOML error at line {l}, column {c}: {message}"),
            ParseError::Toml { at: None, message } => format!("TOML error: {message}"),
            ParseError::Pattern { index, detail } => format!("fingerprint #{index}: {detail}"),
        }
    }

    /// Where and what, never the file's text (for messages about a file the user named).
    fn located(&self) -> String {
        match self {
            ParseError::Toml { at, message } => {
                let at = at.map(|(l, c)| format!(" at line {l}, column {c}")).unwrap_or_default();
                format!("not a fingerprint file (TOML error{at}: {})", unquote(message))
            }
            ParseError::Pattern { index, .. } => {
                format!("fingerprint #{index}: the pattern is not a regular expression the engine accepts")
            }
        }
    }
}

/// `message` without the text it quotes (between backticks or double quotes), and short.
fn unquote(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default();
    let mut out = String::new();
    let mut quote: Option<char> = None;
    for c in first.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '`' || c == '"' => {
                quote = Some(c);
                out.push('…');
            }
            None => out.push(c),
        }
    }
    out.chars().take(160).collect()
}

/// Parse a fingerprint file (TOML, the format of the built-in one).
pub fn parse(toml_text: &str) -> Result<Vec<Entry>, String> {
    parse_toml(toml_text).map_err(|e| e.detailed())
}

fn parse_toml(toml_text: &str) -> Result<Vec<Entry>, ParseError> {
    let raw: RawFile = toml::from_str(toml_text).map_err(|e| ParseError::Toml {
        at: e.span().map(|r| crate::files::position(toml_text.as_bytes(), r.start)),
        message: e.message().to_string(),
    })?;
    raw.fingerprint
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let regex = regex::RegexBuilder::new(&e.pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|err| ParseError::Pattern { index: i + 1, detail: err.to_string() })?;
            // Names live as long as the process; they are few and loaded once.
            let name = e.name.map(|n| &*Box::leak(n.into_boxed_str()));
            Ok(Entry {
                service: e.service,
                field: e.field,
                regex,
                name,
                product: e.product,
                version: e.version,
                extrainfo: e.extrainfo,
                cpe: e.cpe,
                device: e.device,
            })
        })
        .collect()
}

/// The fingerprints in use, and the user's files that could not be used.
struct Db {
    entries: Vec<Entry>,
    /// `path: problem`, one per file of `PORTLENS_FINGERPRINTS` that was refused.
    problems: Vec<String>,
}

/// One user file's fingerprints, or what is wrong with it (never its content).
fn load_file(path: &std::path::Path) -> Result<Vec<Entry>, String> {
    let text = crate::files::read_text(path, MAX_FILE_BYTES).map_err(|e| e.to_string())?;
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml")) {
        // parse_recog's only errors are its own words, never the file's.
        parse_recog(&text)
    } else {
        parse_toml(&text).map_err(|e| e.located())
    }
}

fn loaded() -> &'static Db {
    static DB: OnceLock<Db> = OnceLock::new();
    DB.get_or_init(|| {
        let mut entries = Vec::new();
        let mut problems = Vec::new();
        if let Some(paths) = std::env::var_os(ENV) {
            for path in std::env::split_paths(&paths).filter(|p| !p.as_os_str().is_empty()) {
                match load_file(&path) {
                    Ok(e) => entries.extend(e),
                    Err(why) => problems.push(format!("{}: {why}", path.display())),
                }
            }
        }
        // The embedded file is tested to parse; an error here would be a build defect.
        entries.extend(parse(BUILTIN).unwrap_or_default());
        Db { entries, problems }
    })
}

fn db() -> &'static [Entry] {
    &loaded().entries
}

/// Loads the fingerprints (once per process); an error names every file of
/// `PORTLENS_FINGERPRINTS` that could not be read or parsed, by path and problem.
pub fn load() -> crate::Result<()> {
    let problems = &loaded().problems;
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::option(ENV, format!("cannot use fingerprint file {}", problems.join("; "))))
}

/// Where a recog database's text is found here: (service, field).
fn recog_target(matches: &str) -> Option<(&'static str, &'static str)> {
    Some(match matches {
        "ssh.banner" => ("ssh", "software"),
        "ftp.banner" => ("ftp", "text"),
        "smtp.banner" => ("smtp", "text"),
        "pop.banner" => ("pop3", "text"),
        "imap4.banner" => ("imap", "text"),
        "http_header.server" => ("*", "server"),
        "html_title" => ("*", "title"),
        _ => return None,
    })
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

fn attrs(tag: &str) -> Vec<(String, String)> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let Some(re) = RE.get_or_init(|| Regex::new(r#"([\w.:-]+)\s*=\s*"([^"]*)""#).ok()) else { return Vec::new() };
    re.captures_iter(tag).map(|c| (c[1].to_string(), unescape(&c[2]))).collect()
}

/// Parse Rapid7 recog fingerprint XML (the user's own copy; the project ships none).
pub fn parse_recog(xml: &str) -> Result<Vec<Entry>, String> {
    let db = Regex::new(r"(?s)<fingerprints\b([^>]*)>(.*?)</fingerprints>").map_err(|e| e.to_string())?;
    let fp = Regex::new(r"(?s)<fingerprint\b([^>]*?)(?:/>|>(.*?)</fingerprint>)").map_err(|e| e.to_string())?;
    let param = Regex::new(r"<param\b([^>]*?)/?>").map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut databases = 0;
    for d in db.captures_iter(xml) {
        databases += 1;
        let Some((service, field)) =
            attrs(&d[1]).into_iter().find(|(k, _)| k == "matches").and_then(|(_, m)| recog_target(&m))
        else {
            continue;
        };
        for f in fp.captures_iter(&d[2]) {
            let a = attrs(&f[1]);
            let get = |k: &str| a.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let Some(pattern) = get("pattern") else { continue };
            let icase = get("flags").is_some_and(|fl| fl.contains("REG_ICASE"));
            let Ok(regex) = regex::RegexBuilder::new(&pattern).case_insensitive(icase).size_limit(1 << 20).build()
            else {
                continue;
            };
            let (mut product, mut version) = (None, None);
            for p in param.captures_iter(f.get(2).map_or("", |m| m.as_str())) {
                let pa = attrs(&p[1]);
                let pget = |k: &str| pa.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                let (Some(pos), Some(name)) = (pget("pos"), pget("name")) else { continue };
                let value = if pos == "0" { pget("value") } else { Some(format!("${pos}")) };
                match name.as_str() {
                    "service.product" => product = value,
                    "service.version" => version = value,
                    _ => {}
                }
            }
            if product.is_none() {
                continue;
            }
            out.push(Entry {
                service: service.to_string(),
                field: field.to_string(),
                regex,
                name: None,
                product,
                version,
                extrainfo: None,
                cpe: None,
                device: None,
            });
        }
    }
    if databases == 0 {
        return Err("no <fingerprints> element".into());
    }
    Ok(out)
}

/// `$1`..`$9` replaced by the groups; in a CPE an empty group becomes `*`.
fn expand(template: &str, caps: &regex::Captures<'_>, cpe: bool) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            if let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                chars.next();
                let g = caps.get(d as usize).map_or("", |m| m.as_str());
                out.push_str(if g.is_empty() && cpe { "*" } else { g });
                continue;
            }
        }
        out.push(c);
    }
    out
}

fn apply(e: &Entry, t: &str) -> Option<Match> {
    let caps = e.regex.captures(t)?;
    let opt = |s: &Option<String>| s.as_ref().map(|s| expand(s, &caps, false)).filter(|s| !s.is_empty());
    Some(Match {
        name: e.name,
        product: opt(&e.product),
        version: opt(&e.version),
        extrainfo: opt(&e.extrainfo),
        cpe: e.cpe.as_ref().map(|c| expand(c, &caps, true)).into_iter().collect(),
        device: e.device.clone(),
    })
}

/// The first fingerprint of `service` (or "*") for `field` that matches `text` and names a product
/// or a service.
pub fn lookup(service: &str, field: &str, t: &str) -> Option<Match> {
    db().iter()
        .filter(|e| (e.service == service || e.service == "*") && e.field == field)
        .filter(|e| e.product.is_some() || e.name.is_some())
        .find_map(|e| apply(e, t))
}

/// The first fingerprint (the user's first) of `service` (or "*") that matches one of `fields`.
pub fn lookup_fields(service: &str, fields: &[(&'static str, String)]) -> Option<Match> {
    db().iter()
        .filter(|e| (e.service == service || e.service == "*") && (e.product.is_some() || e.name.is_some()))
        .find_map(|e| fields.iter().filter(|(f, _)| *f == e.field).find_map(|(_, t)| apply(e, t)))
}

/// The DVR/camera family an HTTP field matches, if any.
pub fn device(field: &str, t: &str) -> Option<String> {
    db().iter().filter(|e| e.field == field && e.device.is_some()).find_map(|e| apply(e, t)?.device)
}

/// A banner line that only the data file knows (rsync, nntp, irc, ...): entries that set `name`.
pub fn parse_banner(d: &[u8]) -> Option<Hit> {
    let line = text::first_line(d)?;
    if line.is_empty() || line.len() > 512 || !text::is_text(line) {
        return None;
    }
    let t = String::from_utf8_lossy(line);
    let (e, m) = db()
        .iter()
        .filter(|e| e.service == "*" && e.field == "banner" && e.name.is_some())
        .find_map(|e| apply(e, &t).map(|m| (e, m)))?;
    let mut hit = Hit::new(e.name?, 8).field("banner", t.into_owned());
    hit.product = m.product;
    hit.version = m.version;
    hit.extrainfo = m.extrainfo;
    Some(hit)
}

/// The data file's banner fingerprints (rsync, nntp, irc, vmware-auth, ...), tried after every
/// protocol's own banner parser.
pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "fingerprints",
    banners: &[parse_banner],
    banner_ports: &[873, 902, 6667],
    ..Protocol::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_and_matches() {
        let entries = parse(BUILTIN).unwrap();
        assert!(entries.len() > 40);
        let m = lookup("ssh", "banner", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3").unwrap();
        assert_eq!(m.product.as_deref(), Some("OpenSSH"));
        assert_eq!(m.version.as_deref(), Some("9.2p1"));
        assert_eq!(m.cpe, vec!["cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*"]);
        let m = lookup("ssh", "banner", "SSH-2.0-OpenSSH_7.4").unwrap();
        assert_eq!(m.cpe, vec!["cpe:2.3:a:openbsd:openssh:7.4:*:*:*:*:*:*:*"]);
        let m = lookup("http", "server", "nginx/1.22.1").unwrap();
        assert_eq!((m.product.as_deref(), m.version.as_deref()), (Some("nginx"), Some("1.22.1")));
        assert_eq!(lookup("http", "server", "nginx").unwrap().version, None);
        let m = lookup("mysql", "version", "5.5.5-10.11.6-MariaDB-0+deb12u1").unwrap();
        assert_eq!((m.product.as_deref(), m.version.as_deref()), (Some("MariaDB"), Some("10.11.6")));
        assert_eq!(device("server", "Hikvision-Webs").as_deref(), Some("Hikvision DVR/NVR/IP camera"));
        assert_eq!(device("server", "nginx/1.22.1"), None);
        assert_eq!(parse_banner(b"@RSYNCD: 31.0\n").unwrap().name, "rsync");
        assert!(parse("[[fingerprint]]\nservice='x'\nfield='banner'\npattern='('\n").is_err());
        assert!(parse("[[fingerprint]]\nservice='x'\nfield='banner'\npattern='a'\nbogus=1\n").is_err());
    }

    #[test]
    fn user_files_are_bounded_and_errors_do_not_quote_them() {
        use std::time::{Duration, Instant};
        let dir = std::env::temp_dir();
        let path = |name: &str| dir.join(format!("portlens-fp-{}-{name}", std::process::id()));
        let start = Instant::now();
        // A FIFO nobody writes to, a device that never ends, a directory, a missing file.
        let fifo = path("fifo.toml");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(load_file(&fifo).unwrap_err(), "not a regular file (a FIFO)");
        let _ = std::fs::remove_file(&fifo);
        assert_eq!(load_file("/dev/zero".as_ref()).unwrap_err(), "not a regular file (a character device)");
        assert_eq!(load_file(&dir).unwrap_err(), "not a regular file (a directory)");
        assert_eq!(load_file(&path("missing.toml")).unwrap_err(), "file not found");
        // Larger than the cap (a sparse file: nothing is written).
        let big = path("big.toml");
        std::fs::File::create(&big).unwrap().set_len(MAX_FILE_BYTES + 1).unwrap();
        assert_eq!(load_file(&big).unwrap_err(), "larger than 16 MiB");
        let _ = std::fs::remove_file(&big);
        assert!(start.elapsed() < Duration::from_secs(5));

        // Parse errors say where and what, without the file's text.
        let cases: [(&str, &str, &str); 4] = [
            ("shadow.toml", "root:$6$saltsalt$hash:19000:0:99999:7:::\n", "at line 1, column"),
            ("unknown.toml", "[[fingerprint]]\nservice='x'\nfield='y'\npattern='a'\nsecretkey=1\n", "line 5"),
            ("regex.toml", "[[fingerprint]]\nservice='x'\nfield='y'\npattern='(secretpattern'\n", "fingerprint #1"),
            ("latin1.toml", "service = 'secret\u{e9}'", "not a fingerprint file"),
        ];
        for (name, text, want) in cases {
            let p = path(name);
            std::fs::write(&p, text).unwrap();
            let err = load_file(&p).unwrap_err();
            let _ = std::fs::remove_file(&p);
            assert!(err.contains(want), "{name}: {err}");
            for secret in ["root", "saltsalt", "hash", "99999", "secretkey", "secretpattern", "secret"] {
                assert!(!err.contains(secret), "{name}: {secret} echoed in {err}");
            }
        }
        let p = path("bytes.toml");
        std::fs::write(&p, b"pattern = 'caf\xe9'\n").unwrap();
        assert_eq!(load_file(&p).unwrap_err(), "not UTF-8 text (invalid byte 0xe9 at line 1, column 15)");
        let _ = std::fs::remove_file(&p);
        let p = path("recog.xml");
        std::fs::write(&p, "<secret/>").unwrap();
        assert_eq!(load_file(&p).unwrap_err(), "no <fingerprints> element");
        let _ = std::fs::remove_file(&p);
        // Without PORTLENS_FINGERPRINTS (as under cargo test) there is nothing to report.
        if std::env::var_os(ENV).is_none() {
            assert!(load().is_ok());
        }
    }

    #[test]
    fn recog_xml() {
        // A made-up database in recog's format (the project ships no recog data).
        let xml = r#"<?xml version="1.0"?>
<fingerprints matches="ssh.banner" protocol="ssh">
  <fingerprint pattern="^LabSSH_(\d+\.\d+) &amp; more$" flags="REG_ICASE">
    <description>A lab SSH server</description>
    <param pos="0" name="service.vendor" value="Lab"/>
    <param pos="0" name="service.product" value="LabSSH"/>
    <param pos="1" name="service.version"/>
  </fingerprint>
  <fingerprint pattern="(?&lt;=x)y"><param pos="0" name="service.product" value="Skipped"/></fingerprint>
</fingerprints>
<fingerprints matches="unknown.thing"><fingerprint pattern="x"/></fingerprints>"#;
        let e = parse_recog(xml).unwrap();
        assert_eq!(e.len(), 1);
        let m = apply(&e[0], "labssh_2.5 & MORE").unwrap();
        assert_eq!((m.product.as_deref(), m.version.as_deref()), (Some("LabSSH"), Some("2.5")));
        assert!(parse_recog("<html/>").is_err());
    }
}

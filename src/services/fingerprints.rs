//! Product and version patterns: the project's data file (`fingerprints.toml`, embedded) and the
//! user's own files, named in `PORTLENS_FINGERPRINTS` (':'-separated), tried first.
//!
//! A user file whose name ends in `.xml` is read as Rapid7 recog fingerprints ([`parse_recog`]:
//! the `ssh.banner`, `ftp.banner`, `smtp.banner`, `pop.banner`, `imap4.banner`,
//! `http_header.server` and `html_title` databases; patterns the `regex` crate cannot compile,
//! such as look-arounds, are skipped).
//!
//! A user file that cannot be read or parsed is skipped (the engine never prints); check one with
//! [`parse`] / [`parse_recog`] before relying on it.
use super::text;
use super::Hit;
use regex::Regex;
use serde::Deserialize;
use std::sync::OnceLock;

/// The built-in data file.
pub const BUILTIN: &str = include_str!("fingerprints.toml");
/// Environment variable naming the user's fingerprint files.
pub const ENV: &str = "PORTLENS_FINGERPRINTS";

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

/// Parse a fingerprint file (TOML, the format of the built-in one).
pub fn parse(toml_text: &str) -> Result<Vec<Entry>, String> {
    let raw: RawFile = toml::from_str(toml_text).map_err(|e| e.to_string())?;
    raw.fingerprint
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let regex = regex::RegexBuilder::new(&e.pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|err| format!("fingerprint #{}: {err}", i + 1))?;
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

fn db() -> &'static [Entry] {
    static DB: OnceLock<Vec<Entry>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut all = Vec::new();
        if let Some(paths) = std::env::var_os(ENV) {
            for path in std::env::split_paths(&paths) {
                let recog = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml"));
                let text = std::fs::read_to_string(&path).ok();
                let entries = text.and_then(|t| if recog { parse_recog(&t).ok() } else { parse(&t).ok() });
                all.extend(entries.unwrap_or_default());
            }
        }
        // The embedded file is tested to parse; an error here would be a build defect.
        all.extend(parse(BUILTIN).unwrap_or_default());
        all
    })
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

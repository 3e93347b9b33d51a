//! The distribution a server's banner names, and the package revision when it gives one.
//!
//! Debian, Ubuntu and the RPM distributions fix vulnerabilities by patching the upstream version
//! they ship ("backports"): OpenSSH 9.2p1 on Debian 12 stays 9.2p1 after the fix for
//! CVE-2024-6387, only the package revision moves (`2+deb12u2` -> `2+deb12u3`). A vulnerability
//! matcher that only sees "9.2p1" cannot tell a patched server from an unpatched one; the revision
//! can, against the distribution's own advisories (the Python policy does that, `policy/advisories.py`).
//!
//! What is read, from the texts a parser kept (`Hit::fields`: the SSH identification line, an HTTP
//! `Server` header, a MySQL/MariaDB version, a mail or FTP greeting):
//!
//! | text | distribution | revision | release |
//! |---|---|---|---|
//! | `OpenSSH_9.2p1 Debian-2+deb12u10` | debian | `2+deb12u10` | 12 (bookworm), from `deb12u10` |
//! | `OpenSSH_8.9p1 Ubuntu-3ubuntu0.10` | ubuntu | `3ubuntu0.10` | unknown (the revision does not say) |
//! | `OpenSSH_9.2p1 Raspbian-2+deb12u3` | raspbian | `2+deb12u3` | 12 |
//! | `OpenSSH_9.7 FreeBSD-20240806` | freebsd | none (a date, not a package revision) | unknown |
//! | `10.11.6-MariaDB-0+deb12u1` | debian | `0+deb12u1` | 12 |
//! | `8.0.36-0ubuntu0.22.04.1` | ubuntu | `0ubuntu0.22.04.1` | 22.04 (jammy) |
//! | `Apache/2.4.62 (Debian)`, `nginx/1.18.0 (Ubuntu)`, `Postfix (Debian/GNU)` | debian / ubuntu | none | unknown |
//! | `Apache/2.4.37 (Red Hat Enterprise Linux)`, `(CentOS)`, `(AlmaLinux)`, `(Rocky Linux)`, `(Fedora)` | rhel, centos, almalinux, rocky, fedora | none | unknown |
//!
//! The Debian release is inferred only from the markers Debian's own tooling writes into stable
//! updates and backports (`+debNNuM`, `~debNNuM`, `+debNN`, `~bpoNN`): a plain `Debian-2` may be the
//! initial stable version or testing, so no release is claimed. Ubuntu's revision carries its
//! release only when it embeds one (`0ubuntu0.22.04.1`). Nothing is guessed from the upstream version.
use serde::Serialize;

/// The distribution behind a service, as its banner says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Distro {
    /// Lower case: "debian", "ubuntu", "raspbian", "rhel", "centos", "almalinux", "rocky", "fedora",
    /// "amazon", "oracle", "suse", "freebsd".
    pub name: String,
    /// The release number when the banner makes it certain ("12", "22.04").
    pub release: Option<String>,
    /// The release's code name, with the release ("bookworm", "jammy").
    pub codename: Option<String>,
    /// The package revision after the upstream version ("2+deb12u10"): the banner's package
    /// version is `upstream-revision` (the epoch is never shown).
    pub revision: Option<String>,
    /// The text it was read from (at most 80 characters), for the report.
    pub evidence: String,
}

/// Texts longer than this are not looked at (an SSH identification line is at most 255 bytes).
const MAX_TEXT: usize = 1024;

/// Debian release number -> code name (releases with security support in the last decade and next).
const DEBIAN: &[(u32, &str)] = &[
    (7, "wheezy"),
    (8, "jessie"),
    (9, "stretch"),
    (10, "buster"),
    (11, "bullseye"),
    (12, "bookworm"),
    (13, "trixie"),
    (14, "forky"),
];

/// Ubuntu release -> code name.
const UBUNTU: &[(&str, &str)] = &[
    ("14.04", "trusty"),
    ("16.04", "xenial"),
    ("18.04", "bionic"),
    ("20.04", "focal"),
    ("22.04", "jammy"),
    ("23.10", "mantic"),
    ("24.04", "noble"),
    ("24.10", "oracular"),
    ("25.04", "plucky"),
    ("25.10", "questing"),
];

/// Parenthesised names in HTTP Server headers and mail greetings -> distribution.
const PAREN_NAMES: &[(&str, &str)] = &[
    ("red hat enterprise linux", "rhel"),
    ("red hat", "rhel"),
    ("centos", "centos"),
    ("almalinux", "almalinux"),
    ("rocky linux", "rocky"),
    ("rocky", "rocky"),
    ("fedora", "fedora"),
    ("amazon linux", "amazon"),
    ("amazon", "amazon"),
    ("oracle linux", "oracle"),
    ("oracle", "oracle"),
    ("suse", "suse"),
    ("opensuse", "suse"),
    ("raspbian", "raspbian"),
    ("debian", "debian"),
    ("debian/gnu", "debian"),
    ("ubuntu", "ubuntu"),
];

/// The fields of a parser's hit that may name a distribution (never an HTTP body or title: a
/// default page that mentions Debian says nothing about the server's packages).
const FIELDS: &[&str] = &["banner", "software", "server", "version", "text"];

/// The distribution named by any of a hit's texts; a text that gives a revision wins over one
/// that only names the distribution.
pub fn detect(fields: &[(&'static str, String)]) -> Option<Distro> {
    let mut named: Option<Distro> = None;
    for (field, text) in fields {
        if !FIELDS.contains(field) || text.len() > MAX_TEXT {
            continue;
        }
        if let Some(d) = from_text(text) {
            if d.revision.is_some() {
                return Some(d);
            }
            named.get_or_insert(d);
        }
    }
    named
}

/// The distribution one text names.
pub fn from_text(text: &str) -> Option<Distro> {
    revision_token(text).or_else(|| mysql_version(text)).or_else(|| paren_name(text))
}

fn is_revision_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~')
}

/// A revision as Debian policy allows it: alphanumerics and `. + ~`, starting with a digit.
fn revision_at(s: &str) -> Option<&str> {
    let end = s.find(|c: char| !is_revision_char(c)).unwrap_or(s.len());
    let rev = &s[..end];
    (!rev.is_empty() && rev.len() <= 64 && rev.starts_with(|c: char| c.is_ascii_digit())).then_some(rev)
}

/// `Debian-2+deb12u10`, `Ubuntu-3ubuntu0.10`, `Raspbian-2+deb12u3` (OpenSSH's comment), or
/// `FreeBSD-20240806` (a date: no revision).
fn revision_token(text: &str) -> Option<Distro> {
    for (word, name) in [("Debian-", "debian"), ("Ubuntu-", "ubuntu"), ("Raspbian-", "raspbian")] {
        let Some(at) = find_word(text, word) else { continue };
        let rev = revision_at(&text[at + word.len()..])?;
        return Some(with_revision(name, rev, &text[at..at + word.len() + rev.len()]));
    }
    let at = find_word(text, "FreeBSD-")?;
    let rest = &text[at..];
    let end = rest.find(' ').unwrap_or(rest.len());
    Some(Distro { name: "freebsd".into(), evidence: clip(&rest[..end]), ..Default::default() })
}

/// `word` at the start of `text` or after a space (not inside another word).
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(word) {
        let at = from + i;
        if at == 0 || text[..at].ends_with([' ', '(', '_']) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// MySQL/MariaDB server versions as Debian and Ubuntu build them: `10.11.6-MariaDB-0+deb12u1`,
/// `5.5.5-10.11.6-MariaDB-0+deb12u1`, `8.0.36-0ubuntu0.22.04.1`.
fn mysql_version(text: &str) -> Option<Distro> {
    let t = text.trim();
    if !t.starts_with(|c: char| c.is_ascii_digit()) || t.contains(' ') {
        return None;
    }
    let rev = if let Some(i) = t.find("-MariaDB-") {
        revision_at(&t[i + "-MariaDB-".len()..])?
    } else {
        // upstream version, then the package revision
        let (_, r) = t.split_once('-')?;
        revision_at(r)?
    };
    let name = if rev.contains("ubuntu") {
        "ubuntu"
    } else if debian_release(rev).is_some() {
        "debian"
    } else {
        return None;
    };
    Some(with_revision(name, rev, t))
}

/// `(Debian)`, `(Ubuntu)`, `(Red Hat Enterprise Linux)`, `(CentOS)`... in a Server header or greeting.
fn paren_name(text: &str) -> Option<Distro> {
    let mut rest = text;
    while let Some(open) = rest.find('(') {
        let inner = &rest[open + 1..];
        let close = inner.find(')')?;
        let word = inner[..close].trim().to_ascii_lowercase();
        if let Some((_, name)) = PAREN_NAMES.iter().find(|(w, _)| *w == word) {
            return Some(Distro {
                name: (*name).into(),
                evidence: clip(&rest[open..open + close + 2]),
                ..Default::default()
            });
        }
        rest = &inner[close + 1..];
    }
    None
}

fn with_revision(name: &str, rev: &str, evidence: &str) -> Distro {
    let mut d =
        Distro { name: name.into(), revision: Some(rev.into()), evidence: clip(evidence), ..Default::default() };
    match name {
        "debian" | "raspbian" => {
            if let Some(n) = debian_release(rev) {
                d.release = Some(n.to_string());
                d.codename = DEBIAN.iter().find(|(r, _)| *r == n).map(|(_, c)| (*c).to_string());
            }
        }
        "ubuntu" => {
            if let Some((r, c)) = UBUNTU.iter().find(|(r, _)| ubuntu_embeds(rev, r)) {
                d.release = Some((*r).into());
                d.codename = Some((*c).into());
            }
        }
        _ => {}
    }
    d
}

/// The Debian release a revision was built for, from the markers of stable updates and
/// backports: `+deb12u10`, `~deb12u1`, `+deb11`, `~bpo12+1`.
fn debian_release(rev: &str) -> Option<u32> {
    for marker in ["+deb", "~deb", "~bpo", "+bpo"] {
        if let Some(i) = rev.find(marker) {
            let digits: String = rev[i + marker.len()..].chars().take_while(char::is_ascii_digit).collect();
            let after = rev[i + marker.len() + digits.len()..].chars().next();
            // debNN then "u", "+", end (or "." in old bpo70-style names is not used since Debian 8)
            if !matches!(after, None | Some('u' | '+' | '.' | '~')) {
                continue;
            }
            let n: u32 = digits.parse().ok()?;
            if DEBIAN.iter().any(|(r, _)| *r == n) {
                return Some(n);
            }
        }
    }
    None
}

/// Ubuntu writes its release into security updates of packages synced from Debian:
/// `0ubuntu0.22.04.1`, `1ubuntu1~22.04.1`.
fn ubuntu_embeds(rev: &str, release: &str) -> bool {
    rev.match_indices(release).any(|(i, _)| {
        let before = rev[..i].chars().next_back();
        let after = rev[i + release.len()..].chars().next();
        matches!(before, Some('.' | '~' | '+')) && matches!(after, None | Some('.' | '~' | '+'))
    })
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh(line: &str) -> Option<Distro> {
        detect(&[("banner", line.to_string())])
    }

    #[test]
    fn debian_openssh_revision_and_release() {
        let d = ssh("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10").unwrap();
        assert_eq!(d.name, "debian");
        assert_eq!(d.revision.as_deref(), Some("2+deb12u10"));
        assert_eq!(d.release.as_deref(), Some("12"));
        assert_eq!(d.codename.as_deref(), Some("bookworm"));
        assert_eq!(d.evidence, "Debian-2+deb12u10");
        let d = ssh("SSH-2.0-OpenSSH_8.4p1 Debian-5+deb11u3").unwrap();
        assert_eq!((d.release.as_deref(), d.codename.as_deref()), (Some("11"), Some("bullseye")));
        // the initial stable version has no marker: the release is not claimed
        let d = ssh("SSH-2.0-OpenSSH_9.2p1 Debian-2").unwrap();
        assert_eq!((d.revision.as_deref(), d.release), (Some("2"), None));
        let d = ssh("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u1~bpo11+1").unwrap();
        assert_eq!(d.release.as_deref(), Some("12"));
        let d = ssh("SSH-2.0-OpenSSH_9.2p1 Raspbian-2+deb12u3").unwrap();
        assert_eq!((d.name.as_str(), d.release.as_deref()), ("raspbian", Some("12")));
    }

    #[test]
    fn ubuntu_release_only_when_embedded() {
        let d = ssh("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10").unwrap();
        assert_eq!((d.name.as_str(), d.revision.as_deref(), d.release), ("ubuntu", Some("3ubuntu0.10"), None));
        let d = ssh("SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5").unwrap();
        assert_eq!(d.revision.as_deref(), Some("3ubuntu13.5"));
        let d = detect(&[("version", "8.0.36-0ubuntu0.22.04.1".into())]).unwrap();
        assert_eq!((d.release.as_deref(), d.codename.as_deref()), (Some("22.04"), Some("jammy")));
        // "22.04" must be a whole component, not part of "122.041"
        assert!(!ubuntu_embeds("0ubuntu0.122.041", "22.04"));
    }

    #[test]
    fn http_and_mail_names() {
        let d = detect(&[("server", "Apache/2.4.62 (Debian)".into())]).unwrap();
        assert_eq!((d.name.as_str(), d.revision, d.evidence.as_str()), ("debian", None, "(Debian)"));
        let d = detect(&[("server", "Apache/2.4.6 (CentOS) OpenSSL/1.0.2k-fips".into())]).unwrap();
        assert_eq!(d.name, "centos");
        let d = detect(&[("server", "Apache/2.4.37 (Red Hat Enterprise Linux)".into())]).unwrap();
        assert_eq!(d.name, "rhel");
        let d = detect(&[("banner", "220 mail.example ESMTP Postfix (Debian/GNU)".into())]).unwrap();
        assert_eq!(d.name, "debian");
        assert!(detect(&[("server", "Apache/2.4.62 (Unix)".into())]).is_none());
        assert!(detect(&[("server", "nginx/1.22.1".into())]).is_none());
        // a page body never decides
        assert!(detect(&[("body", "Welcome to nginx on Debian-2+deb12u1".into())]).is_none());
    }

    #[test]
    fn mariadb_versions() {
        let d = detect(&[("version", "5.5.5-10.11.6-MariaDB-0+deb12u1".into())]).unwrap();
        assert_eq!(
            (d.name.as_str(), d.revision.as_deref(), d.release.as_deref()),
            ("debian", Some("0+deb12u1"), Some("12"))
        );
        // an upstream build names no distribution
        assert!(detect(&[("version", "11.4.2-MariaDB".into())]).is_none());
        assert!(detect(&[("version", "8.0.36".into())]).is_none());
    }

    #[test]
    fn a_revision_wins_over_a_name() {
        let d = detect(&[
            ("server", "Apache (Debian)".into()),
            ("banner", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10".into()),
        ])
        .unwrap();
        assert_eq!(d.revision.as_deref(), Some("2+deb12u10"));
    }

    /// Mutations of real banners (a deterministic generator): never a panic, and a revision, when
    /// one is read, holds only the characters a Debian revision may hold.
    #[test]
    fn mutated_banners_never_panic() {
        let seeds = [
            "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10",
            "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10",
            "5.5.5-10.11.6-MariaDB-0+deb12u1",
            "Apache/2.4.62 (Debian)",
            "SSH-2.0-OpenSSH_9.7 FreeBSD-20240806",
        ];
        let alphabet: Vec<char> = "Debian-Ubuntu+~.()0123456789 u\u{e9}\u{1F600}\0".chars().collect();
        let mut state: u64 = 0x5eed;
        let mut next = |n: usize| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as usize) % n.max(1)
        };
        for i in 0..20_000 {
            let mut chars: Vec<char> = seeds[i % seeds.len()].chars().collect();
            for _ in 0..1 + next(4) {
                let at = next(chars.len() + 1);
                match next(3) {
                    0 if at < chars.len() => chars[at] = alphabet[next(alphabet.len())],
                    1 => chars.insert(at, alphabet[next(alphabet.len())]),
                    _ => chars.truncate(at),
                }
            }
            let text: String = chars.into_iter().collect();
            for field in ["banner", "server", "version"] {
                if let Some(d) = detect(&[(field, text.clone())]) {
                    if let Some(rev) = d.revision {
                        assert!(rev.chars().all(is_revision_char) && rev.len() <= 64, "{text:?} -> {rev:?}");
                    }
                    assert!(d.evidence.chars().count() <= 80);
                }
            }
        }
    }

    #[test]
    fn hostile_texts() {
        assert!(ssh("SSH-2.0-OpenSSH_9.2p1 Debian-").is_none());
        assert!(ssh("SSH-2.0-OpenSSH_9.2p1 XDebian-2").is_none());
        assert!(ssh("SSH-2.0-OpenSSH_9.2p1 Debian-<script>").is_none());
        let d = ssh("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb99u1").unwrap();
        assert_eq!(d.release, None); // not a Debian release
        let long = format!("SSH-2.0-x Debian-{}", "1".repeat(5000));
        assert!(ssh(&long).is_none()); // too long to be a banner
        let d = ssh(&format!("SSH-2.0-x Debian-{}", "1".repeat(200)));
        assert!(d.is_none()); // a revision is at most 64 characters
        for s in ["(", ")(", "((((", "(debian", "Debian-\u{e9}", "\u{e9}(Debian)", "FreeBSD-"] {
            let _ = from_text(s); // no panic on any of them
        }
        let d = from_text("x (Debian)").unwrap();
        assert_eq!(d.evidence, "(Debian)");
    }
}

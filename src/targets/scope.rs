//! The authorised scope: the networks the user may scan.

use std::net::IpAddr;

use super::parse::{self, Context, Kind};
use super::set::{self, Family, Iv};
use crate::error::Error;
use crate::Result;

/// How many networks `describe` lists before summarising the rest.
const DESCRIBE_MAX: usize = 8;

/// Authorised networks, as merged intervals per family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    v4: Vec<Iv>,
    v6: Vec<Iv>,
}

impl Scope {
    /// Parses CIDRs, single addresses and ranges (several per string, separated by commas or
    /// whitespace). `#` starts a comment; blank items are ignored. Hostnames, `!` and `@file`
    /// are refused. A scope without any network is an error. An entry inside `::ffff:0:0/96` is
    /// the IPv4 network it maps; a wider IPv6 entry authorises IPv6 addresses only.
    pub fn parse(items: &[String]) -> Result<Scope> {
        let mut parsed = Vec::new();
        parse::parse_inputs(items, Context::Scope, &mut parsed)?;
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for item in parsed {
            if let Kind::Net { fam, iv } = item.kind {
                match fam {
                    Family::V4 => v4.push(iv),
                    Family::V6 => v6.push(iv),
                }
            }
        }
        if v4.is_empty() && v6.is_empty() {
            return Err(Error::option(
                "scope",
                "no networks given; the scope must list at least one address, network or range",
            ));
        }
        set::normalize(&mut v4);
        set::normalize(&mut v6);
        Ok(Scope { v4, v6 })
    }

    /// Whether `ip` is in scope (an IPv4-mapped IPv6 address as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (fam, v) = Family::of(ip);
        set::contains(self.family(fam), v)
    }

    /// Short text for error messages, e.g. `198.18.0.0/15, 2001:db8::/32`.
    pub fn describe(&self) -> String {
        let all: Vec<(Family, Iv)> =
            self.v4.iter().map(|&iv| (Family::V4, iv)).chain(self.v6.iter().map(|&iv| (Family::V6, iv))).collect();
        let mut parts: Vec<String> = all.iter().take(DESCRIBE_MAX).map(|&(fam, iv)| set::describe(fam, iv)).collect();
        if all.len() > DESCRIBE_MAX {
            parts.push(format!("and {} more", all.len() - DESCRIBE_MAX));
        }
        parts.join(", ")
    }

    pub(crate) fn family(&self, fam: Family) -> &[Iv] {
        match fam {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }

    /// The first address of `iv` outside the scope, if any.
    pub(crate) fn first_outside(&self, fam: Family, iv: Iv) -> Option<u128> {
        set::first_outside(self.family(fam), iv.lo, iv.hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parse_contains_describe() {
        let scope = Scope::parse(&s(&[
            "# lab networks",
            "198.18.0.0/16, 198.19.0.0/16   # both halves",
            "",
            "2001:db8::/32",
            "192.0.2.10-20 , ,",
            "203.0.113.5",
        ]))
        .unwrap();
        assert_eq!(scope.describe(), "192.0.2.10-192.0.2.20, 198.18.0.0/15, 203.0.113.5, 2001:db8::/32");
        assert!(scope.contains("198.19.255.255".parse().unwrap()));
        assert!(scope.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(scope.contains("192.0.2.20".parse().unwrap()));
        assert!(!scope.contains("192.0.2.21".parse().unwrap()));
        assert!(!scope.contains("198.20.0.0".parse().unwrap()));
        // IPv4-mapped addresses are their IPv4 address, in a scope too.
        assert!(scope.contains("::ffff:198.18.0.1".parse().unwrap()));
        assert!(!scope.contains("::ffff:198.20.0.1".parse().unwrap()));
        assert_eq!(scope.first_outside(Family::V4, Iv::new(0xC612_0000, 0xC614_0000)), Some(0xC614_0000));
    }

    #[test]
    fn describe_is_short() {
        let items: Vec<String> = (0..20).map(|i| format!("10.0.{}.1", i * 2)).collect();
        let d = Scope::parse(&items).unwrap().describe();
        assert!(d.ends_with("and 12 more"), "{d}");
    }

    #[test]
    fn bad_scopes() {
        for (bad, needle) in [
            (&["example.com"][..], "example.com"),
            (&["!198.18.0.0/15"], "!198.18.0.0/15"),
            (&["@/tmp/scope.txt"], "@/tmp/scope.txt"),
            (&["198.18.0.0/33"], "198.18.0.0/33"),
        ] {
            let err = Scope::parse(&s(bad)).unwrap_err();
            assert!(matches!(err, Error::Target { .. }), "{err}");
            assert!(err.to_string().contains(needle), "{err}");
        }
        assert!(matches!(Scope::parse(&s(&["# nothing", " , "])), Err(Error::Option { .. })));
        assert!(matches!(Scope::parse(&[]), Err(Error::Option { .. })));
    }
}

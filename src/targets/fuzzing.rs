//! Entry points of the target, exclusion and scope parsers for the cargo-fuzz targets under
//! `fuzz/` (`target_spec`) and the deterministic property tests of `cargo test`. Whatever the
//! bytes, parsing returns (no panic, no hang) with a typed error or targets that keep the
//! invariants checked here.

use std::net::IpAddr;

use super::parse::{MAPPED_HI, MAPPED_LO};
use super::{Scope, TargetOptions, Targets};
use crate::error::Error;

/// Splits `data` into the include list, the exclude list and (when there is a third line) the
/// scope, one input string per line (`\n`); `@` is dropped so that a fuzzer never opens files.
/// The first byte picks the options.
pub fn split(data: &[u8]) -> (Vec<String>, Vec<String>, Option<Vec<String>>, TargetOptions) {
    let (flags, rest) = data.split_first().map_or((0, data), |(f, r)| (*f, r));
    let text = String::from_utf8_lossy(rest).replace('@', "");
    let mut parts = text.splitn(3, '\n');
    let mut list = |sep: char| -> Vec<String> {
        parts.next().map(|p| p.split(sep).map(str::to_string).collect()).unwrap_or_default()
    };
    let include = list('\t');
    let exclude = list('\t');
    let scope = (flags & 1 == 1).then(|| list('\t'));
    let opts = TargetOptions {
        allow_large: flags & 2 == 2,
        max_addresses: if flags & 4 == 4 { u128::from(flags) } else { 1 << 24 },
        ..TargetOptions::default()
    };
    (include, exclude, scope, opts)
}

/// Parses `data` (see [`split`]) and checks the result's invariants; panics only on a broken
/// invariant.
pub fn target_spec(data: &[u8]) {
    let (include, exclude, scope, opts) = split(data);
    let scope = match scope.as_deref().map(Scope::parse) {
        Some(Err(e)) => return typed(&e),
        Some(Ok(s)) => Some(s),
        None => None,
    };
    match Targets::build_literal(&include, &exclude, &opts, scope.as_ref()) {
        Err(e) => typed(&e),
        Ok(t) => check(&t, &opts, scope.as_ref()),
    }
}

/// An error of the kinds target parsing may give, with a short message.
fn typed(e: &Error) {
    assert!(
        matches!(
            e,
            Error::Target { .. }
                | Error::TooLarge { .. }
                | Error::Empty(_)
                | Error::OutOfScope { .. }
                | Error::Option { .. }
        ),
        "unexpected error kind: {e:?}"
    );
    assert!(e.to_string().len() < 4096, "message of {} bytes", e.to_string().len());
}

fn check(t: &Targets, opts: &TargetOptions, scope: Option<&Scope>) {
    let n = t.len();
    assert!(n > 0 && n <= opts.limit(), "{n} addresses");
    assert!(t.get(n - 1).is_some() && t.get(n).is_none());
    assert_eq!(t.iter().next(), t.get(0));
    let mut last: Option<IpAddr> = None;
    for (lo, hi, count) in t.intervals().take(10_000) {
        assert!(lo <= hi && count > 0 && lo.is_ipv4() == hi.is_ipv4(), "{lo}-{hi}");
        assert!(last.is_none_or(|l| l < lo), "intervals out of order at {lo}");
        last = Some(hi);
        for ip in [lo, hi] {
            if let IpAddr::V6(a) = ip {
                assert!(!(MAPPED_LO..=MAPPED_HI).contains(&u128::from(a)), "mapped address {a} left as IPv6");
            }
            if let Some(s) = scope {
                assert!(s.contains(ip), "{ip} is outside the scope");
            }
        }
    }
}

//! Targets: parsing of target specifications, hostname resolution, exclusions, size limits and
//! the authorised scope. Nothing here sends anything to a target.
//!
//! The result is a set of sorted, merged, disjoint address intervals (IPv4 first, then IPv6)
//! with cumulative counts, so that `get(i)` is a binary search and memory is proportional to
//! the number of items, never to the number of addresses.

pub mod fuzzing;
mod parse;
mod scope;
mod set;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use parse::{Context, Item, Kind};
pub use scope::Scope;
use set::{Family, Iv};

use crate::error::Error;
use crate::Result;

/// Never enumerate more addresses than this, even with `allow_large`.
pub const HARD_LIMIT: u128 = 1 << 40;

/// How many hostnames are resolved at the same time.
const RESOLVE_CONCURRENCY: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetOptions {
    /// Most addresses allowed without `allow_large` (default 2^24: a /8 is allowed, a /7 is not).
    pub max_addresses: u128,
    /// Lifts `max_addresses` up to `HARD_LIMIT`.
    pub allow_large: bool,
    /// Time allowed to resolve each hostname.
    pub resolve_timeout: Duration,
}

impl Default for TargetOptions {
    fn default() -> Self {
        TargetOptions { max_addresses: 1 << 24, allow_large: false, resolve_timeout: Duration::from_secs(5) }
    }
}

impl TargetOptions {
    fn limit(&self) -> u128 {
        if self.allow_large {
            HARD_LIMIT
        } else {
            self.max_addresses.min(HARD_LIMIT)
        }
    }
}

/// One interval of the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    fam: Family,
    iv: Iv,
}

/// Resolved, de-duplicated target addresses with exclusions applied.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// Disjoint, sorted; IPv4 blocks before IPv6 blocks.
    blocks: Vec<Block>,
    /// `ends[i]`: number of addresses in `blocks[..=i]`.
    ends: Vec<u128>,
    hostnames: HashMap<IpAddr, String>,
}

impl Targets {
    /// Parses `include` and `exclude` items, reads `@file` items, resolves hostnames
    /// asynchronously (each under `resolve_timeout`, concurrently), subtracts exclusions, and
    /// checks sizes and the scope. Nothing is sent to any target.
    pub async fn build(
        include: &[String],
        exclude: &[String],
        opts: &TargetOptions,
        scope: Option<&Scope>,
    ) -> Result<Targets> {
        let plan = Plan::parse(include, exclude, opts)?;
        let resolved = match resolve_all(plan.hostnames(), opts.resolve_timeout).await {
            Ok(r) => r,
            Err(Error::Resolve { host, reason }) => return Err(plan.resolve_error(&host, reason)),
            Err(e) => return Err(e),
        };
        plan.finish(&resolved, opts, scope)
    }

    /// Like `build`, without hostname resolution: a hostname is an error.
    pub fn build_literal(
        include: &[String],
        exclude: &[String],
        opts: &TargetOptions,
        scope: Option<&Scope>,
    ) -> Result<Targets> {
        let plan = Plan::parse(include, exclude, opts)?;
        if let Some(item) = plan.items.iter().find(|i| matches!(i.kind, Kind::Host(_))) {
            return Err(item
                .origin
                .error("hostnames are not accepted here (no name resolution); give an IP address, network or range"));
        }
        plan.finish(&HashMap::new(), opts, scope)
    }

    /// Number of distinct addresses.
    pub fn len(&self) -> u128 {
        self.ends.last().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The address at `index` in address order (IPv4 first), for `index` in `0..len()`.
    pub fn get(&self, index: u128) -> Option<IpAddr> {
        let i = self.ends.partition_point(|&end| end <= index);
        let block = self.blocks.get(i)?;
        let before = match i.checked_sub(1) {
            Some(p) => *self.ends.get(p)?,
            None => 0,
        };
        let v = block.iv.lo.checked_add(index.checked_sub(before)?)?;
        (v <= block.iv.hi).then(|| block.fam.ip(v))
    }

    /// The hostname the user gave for `ip`, if any.
    pub fn hostname(&self, ip: IpAddr) -> Option<&str> {
        self.hostnames.get(&ip).map(String::as_str)
    }

    /// The disjoint address intervals, first and last address of each, in address order.
    pub fn intervals(&self) -> impl Iterator<Item = (IpAddr, IpAddr, u128)> + '_ {
        self.blocks.iter().map(|b| (b.fam.ip(b.iv.lo), b.fam.ip(b.iv.hi), b.iv.count()))
    }

    /// Every address the user named by hostname, with that name.
    pub fn hostnames(&self) -> impl Iterator<Item = (IpAddr, &str)> + '_ {
        self.hostnames.iter().map(|(ip, name)| (*ip, name.as_str()))
    }

    /// All addresses, lazily, in address order (IPv4 first).
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.blocks.iter().flat_map(|b| (b.iv.lo..=b.iv.hi).map(move |v| b.fam.ip(v)))
    }
}

/// Parsed items, before resolution.
struct Plan {
    items: Vec<Item>,
}

impl Plan {
    fn parse(include: &[String], exclude: &[String], opts: &TargetOptions) -> Result<Plan> {
        let mut items = Vec::new();
        parse::parse_inputs(include, Context::Include, &mut items)?;
        parse::parse_inputs(exclude, Context::Exclude, &mut items)?;
        if !items.iter().any(|i| !i.negated) {
            let why = if items.is_empty() {
                ": no targets were given"
            } else {
                ": only exclusions were given; list the targets to scan as well"
            };
            return Err(Error::Empty(why.into()));
        }
        // Refuse an oversized item before building anything (a `::/0` fails here at once),
        // unless the exclusions are large enough that they might bring it under the limit.
        let limit = opts.limit();
        let excluded = items.iter().filter(|i| i.negated).fold(0u128, |acc, i| match i.kind {
            Kind::Net { iv, .. } => acc.saturating_add(iv.count()),
            // A hostname may resolve to several addresses; a bound is enough here.
            Kind::Host(_) => acc.saturating_add(256),
        });
        for item in items.iter().filter(|i| !i.negated) {
            if let Kind::Net { iv, .. } = item.kind {
                if iv.count() > limit.saturating_add(excluded) {
                    return Err(Error::TooLarge { span: item.origin.span(), count: iv.count(), limit });
                }
            }
        }
        Ok(Plan { items })
    }

    /// Distinct hostnames, in input order.
    fn hostnames(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.items
            .iter()
            .filter_map(|i| match &i.kind {
                Kind::Host(h) if seen.insert(key(h)) => Some(h.clone()),
                _ => None,
            })
            .collect()
    }

    fn finish(
        self,
        resolved: &HashMap<String, Vec<IpAddr>>,
        opts: &TargetOptions,
        scope: Option<&Scope>,
    ) -> Result<Targets> {
        // Every item as (item index, family, interval), in input order: one entry per item, but
        // an excluded hostname gives one per address it resolves to (all of them, IPv4 and IPv6).
        let mut flat: Vec<(usize, Family, Iv)> = Vec::with_capacity(self.items.len());
        for (i, item) in self.items.iter().enumerate() {
            match &item.kind {
                Kind::Net { fam, iv } => flat.push((i, *fam, *iv)),
                Kind::Host(h) => {
                    let addrs = resolved.get(&key(h)).map(Vec::as_slice).unwrap_or_default();
                    let picked = pick(addrs);
                    let chosen: &[IpAddr] = if item.negated { addrs } else { picked.as_slice() };
                    if chosen.is_empty() {
                        return Err(resolve_error(item, h, "not resolved".into()));
                    }
                    for &ip in chosen {
                        let (fam, v) = Family::of(ip);
                        flat.push((i, fam, Iv::new(v, v)));
                    }
                }
            }
        }
        let item = |f: usize| flat.get(f).and_then(|&(i, _, _)| self.items.get(i));
        let positive: Vec<usize> = (0..flat.len()).filter(|&f| item(f).is_some_and(|it| !it.negated)).collect();
        let excl = FamSets::from_iter(
            flat.iter().filter(|&&(i, ..)| self.items.get(i).is_some_and(|it| it.negated)).map(|&(_, f, iv)| (f, iv)),
        );
        let union = |n: usize| {
            FamSets::from_iter(positive.iter().take(n).filter_map(|&f| flat.get(f)).map(|&(_, fam, iv)| (fam, iv)))
        };
        let incl = union(positive.len());
        let result = incl.minus(&excl);
        let count = result.total();

        if count == 0 {
            return Err(Error::Empty(format!(
                ": the exclusions remove all {} included address{}",
                incl.total(),
                if incl.total() == 1 { "" } else { "es" }
            )));
        }

        let limit = opts.limit();
        if count > limit {
            // The smallest prefix of the include items that is too large, after exclusions;
            // its last item is the one that made the target list too big.
            let (mut lo, mut hi) = (1, positive.len());
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if union(mid).minus(&excl).total() > limit {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            let culprit = positive.get(lo.saturating_sub(1)).and_then(|&f| item(f));
            let at = union(lo).minus(&excl).total();
            return Err(match culprit {
                Some(item) => Error::TooLarge { span: item.origin.span(), count: at, limit },
                None => Error::TooLarge { span: crate::error::span("", "", 0), count, limit },
            });
        }

        // An IPv6 target wider than ::ffff:0:0/96 that covers part of it would reach IPv4 hosts
        // as mapped addresses, around the IPv4 exclusions and scope (items inside the block are
        // IPv4 already, see parse.rs): refused, naming the item.
        let mapped = Iv::new(parse::MAPPED_LO, parse::MAPPED_HI);
        if set::overlaps(result.family(Family::V6), mapped) {
            let culprit = positive
                .iter()
                .filter_map(|&f| flat.get(f))
                .find(|&&(_, fam, iv)| fam == Family::V6 && iv.lo <= mapped.hi && iv.hi >= mapped.lo)
                .and_then(|&(i, ..)| self.items.get(i));
            if let Some(item) = culprit {
                return Err(item.origin.error(
                    "this IPv6 target covers IPv4-mapped addresses (::ffff:0:0/96), which reach IPv4 hosts; \
                     give IPv4 targets as IPv4 and leave that block out of IPv6 ones",
                ));
            }
        }

        if let Some(scope) = scope {
            for (fam, iv) in result.blocks() {
                let Some(outside) = scope.first_outside(fam, iv) else { continue };
                // Name the first include item that holds the offending address.
                let target = positive
                    .iter()
                    .filter_map(|&f| flat.get(f))
                    .find(|&&(_, f, r)| f == fam && r.contains(outside))
                    .and_then(|&(i, _, r)| Some((self.items.get(i)?, r)))
                    .map(|(item, r)| match &item.kind {
                        Kind::Host(_) if item.origin.is_file_item() => {
                            format!("{} ({})", item.origin.label(|| "a hostname".into()), fam.ip(outside))
                        }
                        Kind::Host(h) => format!("{} ({})", h, fam.ip(outside)),
                        Kind::Net { .. } if r.lo == r.hi => item.origin.label(|| set::describe(fam, r)),
                        Kind::Net { .. } => {
                            format!("{} (address {})", item.origin.label(|| set::describe(fam, r)), fam.ip(outside))
                        }
                    })
                    .unwrap_or_else(|| fam.ip(outside).to_string());
                return Err(Error::OutOfScope { target, scope: scope.describe() });
            }
        }

        let mut hostnames = HashMap::new();
        for &(i, fam, iv) in &flat {
            let Some(item) = self.items.get(i) else { continue };
            if let (Kind::Host(h), false) = (&item.kind, item.negated) {
                if set::contains(result.family(fam), iv.lo) {
                    hostnames.entry(fam.ip(iv.lo)).or_insert_with(|| h.clone());
                }
            }
        }

        let mut blocks = Vec::new();
        let mut ends = Vec::new();
        let mut acc: u128 = 0;
        for (fam, iv) in result.blocks() {
            acc = acc.saturating_add(iv.count());
            blocks.push(Block { fam, iv });
            ends.push(acc);
        }
        Ok(Targets { blocks, ends, hostnames })
    }

    /// `Error::Resolve` about `host`, the first item that names it (a file's line by position).
    fn resolve_error(&self, host: &str, reason: String) -> Error {
        match self.items.iter().find(|i| matches!(&i.kind, Kind::Host(h) if key(h) == key(host))) {
            Some(item) => resolve_error(item, host, reason),
            None => Error::Resolve { host: host.to_string(), reason },
        }
    }
}

/// `Error::Resolve` for the hostname `host` of `item`; a name read from a file is named by its
/// file, line and column (the name is the file's content).
fn resolve_error(item: &Item, host: &str, reason: String) -> Error {
    if item.origin.is_file_item() {
        return Error::Resolve { host: item.origin.span().item, reason: parse::scrub(&reason, host) };
    }
    Error::Resolve { host: host.to_string(), reason }
}

/// The address scanned for an included hostname: the first IPv4 address the resolver gave, else
/// its first address (nmap's choice).
fn pick(addrs: &[IpAddr]) -> Option<IpAddr> {
    addrs.iter().find(|ip| ip.is_ipv4()).or_else(|| addrs.first()).copied()
}

/// Case-insensitive key of a hostname.
fn key(host: &str) -> String {
    host.to_ascii_lowercase()
}

/// Normalized interval sets of both families.
#[derive(Debug, Default)]
struct FamSets {
    v4: Vec<Iv>,
    v6: Vec<Iv>,
}

impl FamSets {
    fn from_iter(it: impl Iterator<Item = (Family, Iv)>) -> FamSets {
        let mut s = FamSets::default();
        for (fam, iv) in it {
            match fam {
                Family::V4 => s.v4.push(iv),
                Family::V6 => s.v6.push(iv),
            }
        }
        set::normalize(&mut s.v4);
        set::normalize(&mut s.v6);
        s
    }

    fn minus(&self, other: &FamSets) -> FamSets {
        FamSets { v4: set::subtract(&self.v4, &other.v4), v6: set::subtract(&self.v6, &other.v6) }
    }

    fn total(&self) -> u128 {
        set::total(&self.v4).saturating_add(set::total(&self.v6))
    }

    fn family(&self, fam: Family) -> &[Iv] {
        match fam {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }

    fn blocks(&self) -> impl Iterator<Item = (Family, Iv)> + '_ {
        self.v4.iter().map(|&iv| (Family::V4, iv)).chain(self.v6.iter().map(|&iv| (Family::V6, iv)))
    }
}

/// Resolves `names` concurrently (at most `RESOLVE_CONCURRENCY` at a time) to all their addresses;
/// fails on the first name that cannot be resolved.
async fn resolve_all(names: Vec<String>, timeout: Duration) -> Result<HashMap<String, Vec<IpAddr>>> {
    let mut out = HashMap::with_capacity(names.len());
    let mut pending = names.into_iter();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        while tasks.len() < RESOLVE_CONCURRENCY {
            let Some(name) = pending.next() else { break };
            tasks.spawn(async move {
                let r = resolve_one(&name, timeout).await;
                (name, r)
            });
        }
        let Some(joined) = tasks.join_next().await else { break };
        match joined {
            Ok((name, Ok(ips))) => {
                out.insert(key(&name), ips);
            }
            Ok((_, Err(e))) => return Err(e),
            Err(e) => return Err(Error::Resolve { host: String::new(), reason: format!("resolver task failed: {e}") }),
        }
    }
    Ok(out)
}

/// Every address the resolver returns for `name`, in its order, without repeats; an IPv4-mapped
/// IPv6 address (from a hosts file, say) is its IPv4 address.
async fn resolve_one(name: &str, timeout: Duration) -> Result<Vec<IpAddr>> {
    let fail = |reason: String| Error::Resolve { host: name.to_string(), reason };
    let mut addrs: Vec<IpAddr> = Vec::new();
    match tokio::time::timeout(timeout, tokio::net::lookup_host((name, 0u16))).await {
        Err(_) => return Err(fail(format!("no answer within {timeout:?}"))),
        Ok(Err(e)) => return Err(fail(e.to_string())),
        Ok(Ok(it)) => {
            for ip in it.map(|sa| sa.ip().to_canonical()) {
                if !addrs.contains(&ip) {
                    addrs.push(ip);
                }
            }
        }
    }
    if addrs.is_empty() {
        return Err(fail("the resolver returned no addresses".into()));
    }
    Ok(addrs)
}

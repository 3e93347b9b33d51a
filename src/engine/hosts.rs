//! Per-host state, created on a host's first answer: its RTT estimate, its port counts and its
//! congestion state (see `congestion`). Hosts that never answer cost nothing here, so memory
//! follows live hosts, not the target size.
use super::congestion::{self, Flow, LossEstimate, Ticket, HOST_HALF_LIFE, MIN_SAMPLES, PILOT_EVERY, SCAN_HALF_LIFE};
use super::timing::{RttEstimator, TimingConfig};
use crate::result::{HostStats, HostSummary, PortState, Protocol, Reason, STATES};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

const SHARDS: usize = 32;
/// The weight left to a host's loss samples when its rate is cut (see `outcome`).
const STALE_WEIGHT: f64 = 0.25;

/// (lost, answered) among `tickets` sent in host generation `gen`: all but the last were lost,
/// the last was answered when `answered`.
fn current_fates(tickets: &[Ticket], answered: bool, current: impl Fn(&Ticket) -> bool) -> (u32, u32) {
    let last = tickets.len().saturating_sub(1);
    tickets.iter().enumerate().filter(|(_, t)| current(t)).fold((0, 0), |(lost, ok), (i, _)| {
        if answered && i == last {
            (lost, ok + 1)
        } else {
            (lost + 1, ok)
        }
    })
}
/// Scan generations whose fates are kept (see `ScanState::gen_fates`); later ones share the last.
const KEPT_GENS: usize = 4096;
/// See `retries`.
const UDP_LOSS_RETRIES: u8 = 4;
/// Pilots before they thin out (see `tried`).
const EARLY_PILOTS: u64 = 200;
/// A self-paced host's own pilot cadence while it measures a new rate (see `tried`).
const HOST_PILOT_EVERY: u32 = 4;
/// Down hosts listed one by one; beyond this they are only counted.
pub const DOWN_LISTED: usize = 65_536;

#[derive(Debug, Clone)]
struct HostState {
    rtt: RttEstimator,
    reason: Reason,
    counts: [u64; STATES],
    /// Port results recorded per protocol (TCP, UDP), to fill in silences of a complete scan.
    recorded: [u64; 2],
    flow: Flow,
    loss: LossEstimate,
    /// Pilots' fates alone: fewer, but never biased toward answers (see `congestion::drop_estimate`).
    pilot_loss: LossEstimate,
    /// This host's tries since its last pilot (see `tried`).
    since_pilot: u32,
    /// A TCP port known to answer, for pilots, and whether it answered with a RST (preferred).
    pilot: Option<(u16, bool)>,
    stats: HostStats,
    /// Discovery's TCP pings that the host answered, kept until the port scan takes them as its
    /// results for those ports (a ping to 443 that got a SYN-ACK is the scan's answer for 443).
    pings: Vec<Ping>,
}

/// A discovery ping's answer, reusable as a port result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ping {
    pub port: u16,
    pub state: PortState,
    pub reason: Reason,
    pub rtt: Duration,
    pub attempt: u8,
}

impl HostState {
    fn new(reason: Reason, ceiling: Option<f64>) -> Self {
        HostState {
            rtt: RttEstimator::default(),
            reason,
            counts: [0; STATES],
            recorded: [0; 2],
            flow: Flow::new(Instant::now(), ceiling),
            loss: LossEstimate::default(),
            pilot_loss: LossEstimate::default(),
            since_pilot: 0,
            pilot: None,
            stats: HostStats::default(),
            pings: Vec::new(),
        }
    }
}

/// The scan-wide flow and estimates.
#[derive(Debug)]
struct ScanState {
    rtt: RttEstimator,
    flow: Flow,
    loss: LossEstimate,
    pilot_loss: LossEstimate,
    /// The first host that lost a probe in the scan flow's generation, and whether another did.
    losing: (u32, Option<IpAddr>, bool),
    /// Tries since the last pilot, and pilots sent (see `tried`).
    since_pilot: u32,
    pilots_sent: u64,
    /// (lost, fates) of the tries sent in each scan generation, all hosts, as they become known:
    /// the drop rate of a try is that of its generation's conditions (see `gen_floors`).
    gen_fates: Vec<(u32, u32)>,
}

#[derive(Debug)]
pub struct HostTable {
    /// Boxed: a map's free slots (up to half of them after it grows) then cost a pointer, not a
    /// 400-byte `HostState`; a /16 of live hosts holds 65,536 of them.
    shards: Vec<Mutex<HashMap<IpAddr, Box<HostState>>>>,
    hasher: RandomState,
    scan: Mutex<ScanState>,
    /// Some probe was answered only on a retry: packets get lost, so retry more (UDP).
    loss_seen: AtomicBool,
    /// Some TCP try went unanswered: until then there is no verdict for pilots to inform.
    silence: AtomicBool,
    timing: TimingConfig,
    /// The user's hard rate ceiling, which no flow may exceed.
    ceiling: Option<f64>,
    /// Live hosts; the scan flow reacts alone when there is one.
    live: AtomicU64,
    /// The scan flow's base loss (f64 bits), the floor of every host flow's (`Flow::inherit_base`).
    scan_base: AtomicU64,
    /// The scan flow's generation, readable under a host's lock (see `outcome`).
    scan_gen: AtomicU32,
    down: Mutex<Vec<IpAddr>>,
    down_count: AtomicU64,
    /// Careful send slots of silent hosts: (next slot, tries waiting or in flight).
    careful: Vec<Mutex<HashMap<IpAddr, (Instant, u32)>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn proto_index(p: Protocol) -> usize {
    match p {
        Protocol::Tcp => 0,
        Protocol::Udp => 1,
    }
}

impl HostTable {
    pub fn new(timing: TimingConfig, ceiling: Option<f64>) -> Self {
        HostTable {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            scan: Mutex::new(ScanState {
                rtt: RttEstimator::default(),
                flow: Flow::new(Instant::now(), ceiling),
                loss: LossEstimate::default(),
                pilot_loss: LossEstimate::default(),
                losing: (0, None, false),
                since_pilot: 0,
                pilots_sent: 0,
                gen_fates: Vec::new(),
            }),
            loss_seen: AtomicBool::new(false),
            silence: AtomicBool::new(false),
            timing,
            ceiling,
            live: AtomicU64::new(0),
            scan_base: AtomicU64::new(0),
            scan_gen: AtomicU32::new(0),
            down: Mutex::new(Vec::new()),
            down_count: AtomicU64::new(0),
            careful: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, ip: &IpAddr) -> &Mutex<HashMap<IpAddr, Box<HostState>>> {
        &self.shards[(self.hasher.hash_one(ip) as usize) % SHARDS]
    }

    /// The timeout for a probe to `ip` and whether it rests on measurements: the host's own RTT
    /// when it has answered, else the RTT seen across hosts, else the initial guess.
    pub fn rto(&self, ip: &IpAddr) -> (Duration, bool) {
        if let Some(rto) = lock(self.shard(ip)).get(ip).and_then(|h| h.rtt.rto(&self.timing)) {
            return (rto, true);
        }
        match lock(&self.scan).rtt.rto(&self.timing) {
            Some(rto) => (rto, true),
            None => (self.timing.initial_rto, false),
        }
    }

    /// UDP's quick retries: `min_retries`, or once any probe was answered only on a retry up to
    /// `max_retries` but at most `UDP_LOSS_RETRIES` (UDP's loss is mostly the target's ICMP
    /// limiter, which the UDP scheduler waits out instead; TCP has its own loss-aware retries).
    pub fn retries(&self) -> u8 {
        if self.loss_seen.load(Ordering::Relaxed) {
            self.timing.max_retries.min(UDP_LOSS_RETRIES).max(self.timing.min_retries)
        } else {
            self.timing.min_retries
        }
    }

    pub fn is_up(&self, ip: &IpAddr) -> bool {
        lock(self.shard(ip)).contains_key(ip)
    }

    /// A careful send slot for a host that has answered nothing (see `congestion::CAREFUL_RATE`):
    /// the instant to send at. Call `careful_done` after sending.
    pub fn careful_slot(&self, ip: IpAddr, rate: f64) -> Instant {
        let now = Instant::now();
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut map = lock(&self.careful[(self.hasher.hash_one(ip) as usize) % SHARDS]);
        let slot = map.entry(ip).or_insert((now, 0));
        let at = slot.0.max(now);
        *slot = (at + interval, slot.1 + 1);
        at
    }

    pub fn careful_done(&self, ip: IpAddr) {
        let mut map = lock(&self.careful[(self.hasher.hash_one(ip) as usize) % SHARDS]);
        if let Some(slot) = map.get_mut(&ip) {
            slot.1 -= 1;
            if slot.1 == 0 {
                map.remove(&ip); // memory follows the hosts in care, not every silent host
            }
        }
    }

    /// The host itself answered (a port result, or a discovery probe when `state` is None).
    pub fn answered(
        &self,
        ip: IpAddr,
        port: Option<(Protocol, PortState)>,
        reason: Reason,
        rtt: Duration,
        attempt: u8,
    ) {
        if attempt > 1 {
            self.loss_seen.store(true, Ordering::Relaxed);
        }
        {
            let mut shard = lock(self.shard(&ip));
            let h = shard.entry(ip).or_insert_with(|| {
                self.live.fetch_add(1, Ordering::Relaxed);
                Box::new(HostState::new(reason, self.ceiling))
            });
            h.rtt.sample(rtt);
            if let Some((proto, state)) = port {
                h.counts[state.index()] += 1;
                h.recorded[proto_index(proto)] += 1;
            }
        }
        lock(&self.scan).rtt.sample(rtt);
    }

    /// Keep a discovery ping's answer for the port scan (the host must be up already).
    pub fn keep_ping(&self, ip: IpAddr, ping: Ping) {
        if let Some(h) = lock(self.shard(&ip)).get_mut(&ip) {
            h.pings.push(ping);
        }
    }

    /// Discovery's answer for this port, if a ping got one: taken once.
    pub fn take_ping(&self, ip: &IpAddr, port: u16) -> Option<Ping> {
        let mut shard = lock(self.shard(ip));
        let h = shard.get_mut(ip)?;
        let i = h.pings.iter().position(|p| p.port == port)?;
        let ping = h.pings.swap_remove(i);
        if h.pings.is_empty() {
            h.pings = Vec::new(); // give the memory back: a /16 has many up hosts
        }
        Some(ping)
    }

    /// A TCP port of `ip` answered (open, or closed when `closed`): a candidate for pilots, which
    /// go to a closed port by preference (a RST costs the target nothing).
    pub fn pilot_candidate(&self, ip: IpAddr, port: u16, closed: bool) {
        if let Some(h) = lock(self.shard(&ip)).get_mut(&ip) {
            if h.pilot.is_none_or(|(_, c)| closed && !c) {
                h.pilot = Some((port, closed));
            }
        }
    }

    /// A TCP port result's tries, for the host's statistics.
    pub fn tries(&self, ip: IpAddr, tries: u8, unresolved: bool) {
        if let Some(h) = lock(self.shard(&ip)).get_mut(&ip) {
            h.stats.probes += u64::from(tries);
            h.stats.retransmissions += u64::from(tries.saturating_sub(1));
            h.stats.unresolved += u64::from(unresolved);
        }
    }

    /// The scan flow's reservation permit to wait for before `reserve_scan` (None: unpaced).
    pub fn scan_ahead(&self) -> Option<Arc<Semaphore>> {
        lock(&self.scan).flow.ahead()
    }

    /// The host flow's reservation permit (None: unpaced or not up yet).
    pub fn host_ahead(&self, ip: &IpAddr) -> Option<Arc<Semaphore>> {
        lock(self.shard(ip)).get(ip).and_then(|h| h.flow.ahead())
    }

    /// A send slot in the scan flow: when to send (None: now) and the generation to record.
    pub fn reserve_scan(&self) -> (Option<Instant>, u32) {
        lock(&self.scan).flow.reserve(Instant::now())
    }

    pub fn reserve_host(&self, ip: &IpAddr) -> (Option<Instant>, u32) {
        match lock(self.shard(ip)).get_mut(ip) {
            Some(h) => h.flow.reserve(Instant::now()),
            None => (None, 0),
        }
    }

    pub fn release_scan(&self, permit: OwnedSemaphorePermit) {
        lock(&self.scan).flow.release(permit);
    }

    pub fn release_host(&self, ip: &IpAddr, permit: OwnedSemaphorePermit) {
        if let Some(h) = lock(self.shard(ip)).get_mut(ip) {
            h.flow.release(permit);
        }
    }

    /// The fate of tries that went to a port that answers (or of a pilot, `pilot`): all but the
    /// last of `tickets` were lost; the last was answered when `answered`. Every fate feeds the
    /// loss estimates of the retry verdicts; only pilots drive the rate, because only their loss
    /// is known on time (a lost try to an ordinary port is only known as lost when a later try is
    /// answered, rounds later, and a silent one may be filtered).
    pub fn outcome(&self, ip: IpAddr, tickets: &[Ticket], answered: bool, pilot: bool) {
        let now = Instant::now();
        let lost_total = tickets.len() as u32 - u32::from(answered);
        let host_round = {
            let mut shard = lock(self.shard(&ip));
            match shard.get_mut(&ip) {
                Some(h) => {
                    let round = h.rtt.rto(&self.timing).unwrap_or(self.timing.initial_rto);
                    if !pilot && answered {
                        if let Some(t) = tickets.last() {
                            h.flow.answered(t.host_gen, now, round);
                        }
                    }
                    let mut cut = false;
                    if pilot {
                        h.flow.inherit_base(f64::from_bits(self.scan_base.load(Ordering::Relaxed)));
                        for t in tickets {
                            let (lost, ok) = (u32::from(!answered), u32::from(answered));
                            cut |= h.flow.sample(t.host_gen, lost, ok, now, round, true).is_some();
                        }
                    }
                    if cut {
                        // What was lost at the old rate says little of the new one: a quarter of
                        // the weight, so that the verdicts follow the new rate within a few dozen
                        // samples (the unpaced first pass into a limiter loses nearly everything).
                        h.loss.scale(STALE_WEIGHT);
                        h.pilot_loss.scale(STALE_WEIGHT);
                    }
                    // The verdicts' estimates take the fates of tries sent at the host's current
                    // rate, but none of the scan's unpaced first pass once the scan flow was cut.
                    // Behind a limiter shared by many hosts only the scan flow is cut; a host's
                    // few fates then come mostly from first-pass tries, answered (or found lost)
                    // late, and at nearly all lost they would make every later try look as doomed
                    // as those were (`gen_floors` prices those tries themselves). Fates of later
                    // scan generations stay: behind per-host limiters they are the host's evidence.
                    let (gen, scan_cut) = (h.flow.gen(), self.scan_gen.load(Ordering::Relaxed) > 0);
                    let (lost, ok) =
                        current_fates(tickets, answered, |t| t.host_gen == gen && (t.scan_gen > 0 || !scan_cut));
                    if pilot {
                        h.pilot_loss.add(lost, ok, HOST_HALF_LIFE);
                    }
                    h.loss.add(lost, ok, HOST_HALF_LIFE);
                    h.stats.lost += u64::from(lost_total);
                    h.stats.samples += tickets.len() as u64;
                    Some(round)
                }
                None => None,
            }
        };
        let live = self.live.load(Ordering::Relaxed);
        let mut scan = lock(&self.scan);
        let scan = &mut *scan;
        let round = scan.rtt.rto(&self.timing).unwrap_or(self.timing.initial_rto).max(host_round.unwrap_or_default());
        if pilot {
            let mut cut = false;
            for gen in tickets.iter().map(|t| t.scan_gen) {
                if !answered && gen == scan.flow.gen() {
                    // Loss on one host is that host's business; on several, the path's.
                    match scan.losing {
                        (g, Some(first), _) if g == gen && first != ip => scan.losing.2 = true,
                        (g, Some(_), _) if g == gen => {}
                        _ => scan.losing = (gen, Some(ip), false),
                    }
                }
                let may_cut = live <= 1 || scan.losing.2;
                if scan.flow.sample(gen, u32::from(!answered), u32::from(answered), now, round, may_cut).is_some() {
                    scan.losing = (scan.flow.gen(), None, false);
                    cut = true;
                }
            }
            if cut {
                // As for a host (above): the scan's estimates are every host's prior, and the
                // losses of the unpaced first pass would otherwise weigh on every verdict after it.
                scan.loss.scale(STALE_WEIGHT);
                scan.pilot_loss.scale(STALE_WEIGHT);
            }
            self.scan_base.store(scan.flow.base().to_bits(), Ordering::Relaxed);
            self.scan_gen.store(scan.flow.gen(), Ordering::Relaxed);
        }
        let last = tickets.len().saturating_sub(1);
        for (i, t) in tickets.iter().enumerate() {
            let k = (t.scan_gen as usize).min(KEPT_GENS - 1);
            if scan.gen_fates.len() <= k {
                scan.gen_fates.resize(k + 1, (0, 0));
            }
            let f = &mut scan.gen_fates[k];
            f.0 = f.0.saturating_add(u32::from(!(answered && i == last)));
            f.1 = f.1.saturating_add(1);
        }
        let gen = scan.flow.gen();
        let (lost, ok) = current_fates(tickets, answered, |t| t.scan_gen == gen);
        scan.loss.add(lost, ok, SCAN_HALF_LIFE);
        if pilot {
            scan.pilot_loss.add(lost, ok, SCAN_HALF_LIFE);
        }
    }

    /// A try to `ip` was sent: the port of `ip` to pilot, when one is due. The cadence is
    /// scan-wide (one pilot per `PILOT_EVERY` tries once loss was seen, four times fewer before),
    /// so that a scan of many hosts with few ports each is measured as well as one host; and a
    /// host that paces itself gets one in `HOST_PILOT_EVERY` of its tries while its current
    /// rate has fewer than `MIN_SAMPLES` samples, so that a slow host learns its rate in seconds.
    pub fn tried(&self, ip: IpAddr) -> Option<u16> {
        // A scan whose every try is answered needs no measure of loss (a live host's few ports
        // cost one probe each), and a pilot only informs the verdict on a silent port.
        if !self.silence.load(Ordering::Relaxed) {
            return None;
        }
        let scan_due = {
            let mut scan = lock(&self.scan);
            scan.since_pilot += 1;
            // Early on, every other try: a short scan behind a small limiter must measure its loss
            // before its ports are settled, and a few hundred pilots cost a big scan nothing.
            // Counted as sent, not answered: the unpaced first pass sends all before any returns.
            let every = if scan.pilots_sent < EARLY_PILOTS {
                2
            } else if scan.loss.loss() > 0.0 {
                PILOT_EVERY
            } else {
                4 * PILOT_EVERY
            };
            scan.since_pilot >= every
        };
        let mut shard = lock(self.shard(&ip));
        let h = shard.get_mut(&ip)?;
        h.since_pilot += 1;
        let host_due =
            h.flow.rate().is_some() && h.flow.gen_samples() < MIN_SAMPLES && h.since_pilot >= HOST_PILOT_EVERY;
        if !scan_due && !host_due {
            return None;
        }
        let (port, _) = h.pilot?;
        h.since_pilot = 0;
        h.stats.pilots += 1;
        h.stats.probes += 1;
        drop(shard);
        let mut scan = lock(&self.scan);
        scan.pilots_sent += 1;
        if scan_due {
            scan.since_pilot = 0;
        }
        Some(port)
    }

    /// For each try of `tickets` sent in an earlier scan generation than the current one, the drop
    /// rate measured on the tries of its generation (an upper estimate, one pseudo-loss added); 0
    /// for the current one, whose rate the live estimates give, and for one of which nothing is
    /// known yet. A port's risk takes each try at no less than this: a try sent into a limiter
    /// before the rate was cut was as likely lost as the tries around it, whatever is measured at
    /// the rate of today.
    pub fn gen_floors(&self, tickets: &[Ticket]) -> Vec<f64> {
        let scan = lock(&self.scan);
        let current = scan.flow.gen();
        tickets
            .iter()
            .map(|t| match scan.gen_fates.get((t.scan_gen as usize).min(KEPT_GENS - 1)) {
                Some(&(lost, n)) if t.scan_gen != current && n > 0 => f64::from(lost + 1) / f64::from(n + 2),
                _ => 0.0,
            })
            .collect()
    }

    /// A TCP try went unanswered (see `tried`).
    pub fn silent(&self) {
        self.silence.store(true, Ordering::Relaxed);
    }

    /// The chance that a try to `ip` was dropped, None without any evidence of loss or its absence.
    pub fn drop_estimate(&self, ip: &IpAddr) -> Option<f64> {
        let host = lock(self.shard(ip)).get(ip).map(|h| [h.loss, h.pilot_loss]);
        let scan = {
            let scan = lock(&self.scan);
            [scan.loss, scan.pilot_loss]
        };
        congestion::drop_estimate(host.as_ref(), &scan)
    }

    /// A port result that the host itself did not send (silence, or an error from the path);
    /// counted on the host only if it is known to be up.
    pub fn unanswered(&self, ip: IpAddr, proto: Protocol, state: PortState) {
        if let Some(h) = lock(self.shard(&ip)).get_mut(&ip) {
            h.counts[state.index()] += 1;
            h.recorded[proto_index(proto)] += 1;
        }
    }

    /// Discovery found `ip` down.
    pub fn down(&self, ip: IpAddr) {
        self.down_count.fetch_add(1, Ordering::Relaxed);
        let mut down = lock(&self.down);
        if down.len() < DOWN_LISTED {
            down.push(ip);
        }
    }

    pub fn down_count(&self) -> u64 {
        self.down_count.load(Ordering::Relaxed)
    }

    /// Hosts that answered, then hosts found down, each in address order. With `complete` (TCP
    /// and UDP ports per host of a finished scan) what a host did not answer is filled in: TCP
    /// silences are filtered, UDP silences open|filtered, including those before its first answer.
    /// Forget every host's state once the scan has ended and its summaries are taken: the memory
    /// goes back before the caller builds its result.
    pub fn release(&self) {
        for shard in &self.shards {
            drop(std::mem::take(&mut *lock(shard)));
        }
        for careful in &self.careful {
            drop(std::mem::take(&mut *lock(careful)));
        }
        // glibc keeps freed pages of its heaps (one per worker thread) for later mallocs; the
        // caller's result is made of Python objects that never reuse them, so give them back.
        super::limits::trim();
    }

    pub fn summaries(
        &self,
        hostname: impl Fn(IpAddr) -> Option<String>,
        complete: Option<(u64, u64)>,
    ) -> Vec<HostSummary> {
        // Sized once: a /16's 65,536 summaries are 12 MB, and growing by doubling would peak at twice that.
        let up: usize = self.shards.iter().map(|s| lock(s).len()).sum();
        let mut out: Vec<HostSummary> = Vec::with_capacity(up + lock(&self.down).len());
        for shard in &self.shards {
            for (ip, h) in lock(shard).iter() {
                let mut counts = h.counts;
                if let Some((tcp, udp)) = complete {
                    counts[PortState::Filtered.index()] += tcp.saturating_sub(h.recorded[0]);
                    counts[PortState::OpenFiltered.index()] += udp.saturating_sub(h.recorded[1]);
                }
                let mut stats = h.stats;
                stats.drop_rate = (stats.samples > 0).then(|| stats.lost as f64 / stats.samples as f64);
                stats.rate = h.flow.rate();
                stats.rate_cuts = h.flow.cuts;
                out.push(HostSummary {
                    host: *ip,
                    hostname: hostname(*ip),
                    up: true,
                    reason: h.reason,
                    counts,
                    srtt: h.rtt.srtt(),
                    stats: Some(stats),
                });
            }
        }
        out.sort_unstable_by_key(|h| h.host); // addresses are unique; no scratch buffer
        let mut down = lock(&self.down).clone();
        down.sort();
        out.extend(down.into_iter().map(|ip| HostSummary {
            host: ip,
            hostname: hostname(ip),
            up: false,
            reason: Reason::NoResponse,
            counts: [0; STATES],
            srtt: None,
            stats: None,
        }));
        out
    }

    /// The scan flow's paced rate (None: unpaced) and its number of cuts.
    pub fn scan_rate(&self) -> (Option<f64>, u32) {
        let scan = lock(&self.scan);
        (scan.flow.rate(), scan.flow.cuts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fates_of_the_current_rate_count() {
        let t = |g| Ticket { host_gen: g, scan_gen: 0 };
        let of = |g: u32| move |t: &Ticket| t.host_gen == g;
        // Two tries lost at the old rate, one lost and one answered at the new one.
        assert_eq!(current_fates(&[t(0), t(0), t(1), t(1)], true, of(1)), (1, 1));
        assert_eq!(current_fates(&[t(0), t(1)], false, of(1)), (1, 0));
        assert_eq!(current_fates(&[t(0), t(0)], true, of(1)), (0, 0));
        assert_eq!(current_fates(&[t(3)], true, of(3)), (0, 1));
    }

    #[test]
    fn unknown_host_uses_global_then_initial() {
        let t = HostTable::new(TimingConfig::default(), None);
        let a: IpAddr = "198.18.1.2".parse().unwrap();
        let b: IpAddr = "198.18.1.3".parse().unwrap();
        assert_eq!(t.rto(&a), (TimingConfig::default().initial_rto, false));
        t.answered(a, Some((Protocol::Tcp, PortState::Closed)), Reason::ConnRefused, Duration::from_millis(400), 1);
        // b has never answered: it borrows the global estimate
        assert_eq!(t.rto(&b), (Duration::from_millis(1200), true));
        assert_eq!(t.retries(), 1);
        t.answered(a, Some((Protocol::Tcp, PortState::Open)), Reason::SynAck, Duration::from_millis(400), 2);
        assert_eq!(t.retries(), 4);
    }

    #[test]
    fn summaries_fill_silences_for_complete_scans() {
        let t = HostTable::new(TimingConfig::default(), None);
        let a: IpAddr = "198.18.1.2".parse().unwrap();
        t.unanswered(a, Protocol::Tcp, PortState::Filtered); // before the first answer: not attributable yet
        t.answered(a, Some((Protocol::Tcp, PortState::Open)), Reason::SynAck, Duration::from_millis(1), 1);
        t.unanswered(a, Protocol::Tcp, PortState::Filtered);
        t.answered(a, Some((Protocol::Udp, PortState::Closed)), Reason::PortUnreach, Duration::from_millis(1), 1);
        let partial = t.summaries(|_| None, None);
        assert_eq!(partial[0].counts, [1, 1, 1, 0]);
        assert_eq!(partial[0].reason, Reason::SynAck);
        let full = t.summaries(|_| Some("x".into()), Some((10, 5)));
        assert_eq!(full[0].counts, [1, 1, 1 + 8, 4]);
        assert_eq!(full[0].hostname.as_deref(), Some("x"));
    }

    #[test]
    fn down_hosts_are_listed_after_up_hosts() {
        let t = HostTable::new(TimingConfig::default(), None);
        let up: IpAddr = "198.18.1.9".parse().unwrap();
        t.answered(up, None, Reason::EchoReply, Duration::from_millis(1), 1);
        t.down("198.18.1.3".parse().unwrap());
        t.down("198.18.1.1".parse().unwrap());
        let s = t.summaries(|_| None, Some((0, 0)));
        assert_eq!(
            s.iter().map(|h| (h.host.to_string(), h.up)).collect::<Vec<_>>(),
            [("198.18.1.9".to_string(), true), ("198.18.1.1".to_string(), false), ("198.18.1.3".to_string(), false)]
        );
        assert_eq!(s[0].reason, Reason::EchoReply);
        assert_eq!(t.down_count(), 2);
    }
}

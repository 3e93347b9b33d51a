//! Per-host state, created on a host's first answer: its RTT estimate and its port counts.
//! Hosts that never answer cost nothing here, so memory follows live hosts, not the target size.
use super::timing::{RttEstimator, TimingConfig};
use crate::result::{HostSummary, PortState, Protocol, Reason, STATES};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const SHARDS: usize = 32;
/// Down hosts listed one by one; beyond this they are only counted.
pub const DOWN_LISTED: usize = 65_536;

#[derive(Debug, Clone)]
struct HostState {
    rtt: RttEstimator,
    reason: Reason,
    counts: [u64; STATES],
    /// Port results recorded per protocol (TCP, UDP), to fill in silences of a complete scan.
    recorded: [u64; 2],
}

#[derive(Debug)]
pub struct HostTable {
    shards: Vec<Mutex<HashMap<IpAddr, HostState>>>,
    hasher: RandomState,
    global: Mutex<RttEstimator>,
    /// Some probe was answered only on a retry: packets get lost, so retry more.
    loss_seen: AtomicBool,
    timing: TimingConfig,
    down: Mutex<Vec<IpAddr>>,
    down_count: AtomicU64,
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
    pub fn new(timing: TimingConfig) -> Self {
        HostTable {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            global: Mutex::new(RttEstimator::default()),
            loss_seen: AtomicBool::new(false),
            timing,
            down: Mutex::new(Vec::new()),
            down_count: AtomicU64::new(0),
        }
    }

    fn shard(&self, ip: &IpAddr) -> &Mutex<HashMap<IpAddr, HostState>> {
        &self.shards[(self.hasher.hash_one(ip) as usize) % SHARDS]
    }

    /// The timeout for a probe to `ip` and whether it rests on measurements: the host's own RTT
    /// when it has answered, else the RTT seen across hosts, else the initial guess.
    pub fn rto(&self, ip: &IpAddr) -> (Duration, bool) {
        if let Some(rto) = lock(self.shard(ip)).get(ip).and_then(|h| h.rtt.rto(&self.timing)) {
            return (rto, true);
        }
        match lock(&self.global).rto(&self.timing) {
            Some(rto) => (rto, true),
            None => (self.timing.initial_rto, false),
        }
    }

    pub fn retries(&self) -> u8 {
        if self.loss_seen.load(Ordering::Relaxed) {
            self.timing.max_retries
        } else {
            self.timing.min_retries
        }
    }

    pub fn is_up(&self, ip: &IpAddr) -> bool {
        lock(self.shard(ip)).contains_key(ip)
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
            let h = shard.entry(ip).or_insert_with(|| HostState {
                rtt: RttEstimator::default(),
                reason,
                counts: [0; STATES],
                recorded: [0; 2],
            });
            h.rtt.sample(rtt);
            if let Some((proto, state)) = port {
                h.counts[state.index()] += 1;
                h.recorded[proto_index(proto)] += 1;
            }
        }
        lock(&self.global).sample(rtt);
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
    pub fn summaries(
        &self,
        hostname: impl Fn(IpAddr) -> Option<String>,
        complete: Option<(u64, u64)>,
    ) -> Vec<HostSummary> {
        let mut out: Vec<HostSummary> = Vec::new();
        for shard in &self.shards {
            for (ip, h) in lock(shard).iter() {
                let mut counts = h.counts;
                if let Some((tcp, udp)) = complete {
                    counts[PortState::Filtered.index()] += tcp.saturating_sub(h.recorded[0]);
                    counts[PortState::OpenFiltered.index()] += udp.saturating_sub(h.recorded[1]);
                }
                out.push(HostSummary {
                    host: *ip,
                    hostname: hostname(*ip),
                    up: true,
                    reason: h.reason,
                    counts,
                    srtt: h.rtt.srtt(),
                });
            }
        }
        out.sort_by_key(|h| h.host);
        let mut down = lock(&self.down).clone();
        down.sort();
        out.extend(down.into_iter().map(|ip| HostSummary {
            host: ip,
            hostname: hostname(ip),
            up: false,
            reason: Reason::NoResponse,
            counts: [0; STATES],
            srtt: None,
        }));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_host_uses_global_then_initial() {
        let t = HostTable::new(TimingConfig::default());
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
        let t = HostTable::new(TimingConfig::default());
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
        let t = HostTable::new(TimingConfig::default());
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

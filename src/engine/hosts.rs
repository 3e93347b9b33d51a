//! Per-host state, created on a host's first answer: its RTT estimate and its port counts.
//! Hosts that never answer cost nothing here, so memory follows live hosts, not the target size.
use super::timing::{RttEstimator, TimingConfig};
use crate::result::{HostSummary, PortState};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const SHARDS: usize = 32;

#[derive(Debug, Default, Clone)]
struct HostState {
    rtt: RttEstimator,
    counts: [u64; 3],
}

#[derive(Debug)]
pub struct HostTable {
    shards: Vec<Mutex<HashMap<IpAddr, HostState>>>,
    hasher: RandomState,
    global: Mutex<RttEstimator>,
    /// Some probe was answered only on a retry: packets get lost, so retry more.
    loss_seen: AtomicBool,
    timing: TimingConfig,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl HostTable {
    pub fn new(timing: TimingConfig) -> Self {
        HostTable {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            global: Mutex::new(RttEstimator::default()),
            loss_seen: AtomicBool::new(false),
            timing,
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

    /// An answer came back (any state decided by the peer or the path).
    pub fn answered(&self, ip: IpAddr, state: PortState, rtt: Duration, attempt: u8) {
        if attempt > 1 {
            self.loss_seen.store(true, Ordering::Relaxed);
        }
        {
            let mut shard = lock(self.shard(&ip));
            let h = shard.entry(ip).or_default();
            h.rtt.sample(rtt);
            h.counts[state.index()] += 1;
        }
        lock(&self.global).sample(rtt);
    }

    /// No answer from the host itself (silence, or an error from the path); counted on the host
    /// only if it is known to be up.
    pub fn silent(&self, ip: IpAddr) {
        if let Some(h) = lock(self.shard(&ip)).get_mut(&ip) {
            h.counts[PortState::Filtered.index()] += 1;
        }
    }

    /// Hosts that answered, in address order. With `ports_per_host` (a complete scan) the filtered
    /// count is what was not answered, which also covers silences recorded before the first answer.
    pub fn summaries(
        &self,
        hostname: impl Fn(IpAddr) -> Option<String>,
        ports_per_host: Option<u64>,
    ) -> Vec<HostSummary> {
        let mut out: Vec<HostSummary> = Vec::new();
        for shard in &self.shards {
            for (ip, h) in lock(shard).iter() {
                let mut counts = h.counts;
                if let Some(p) = ports_per_host {
                    counts[2] = p.saturating_sub(counts[0] + counts[1]);
                }
                out.push(HostSummary { host: *ip, hostname: hostname(*ip), counts, srtt: h.rtt.srtt() });
            }
        }
        out.sort_by_key(|h| h.host);
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
        t.answered(a, PortState::Closed, Duration::from_millis(400), 1);
        // b has never answered: it borrows the global estimate
        assert_eq!(t.rto(&b), (Duration::from_millis(1200), true));
        assert_eq!(t.retries(), 1);
        t.answered(a, PortState::Open, Duration::from_millis(400), 2);
        assert_eq!(t.retries(), 4);
    }

    #[test]
    fn summaries_fill_filtered_for_complete_scans() {
        let t = HostTable::new(TimingConfig::default());
        let a: IpAddr = "198.18.1.2".parse().unwrap();
        t.silent(a); // before the first answer: not attributable yet
        t.answered(a, PortState::Open, Duration::from_millis(1), 1);
        t.silent(a);
        let partial = t.summaries(|_| None, None);
        assert_eq!(partial[0].counts, [1, 0, 1]);
        let full = t.summaries(|_| Some("x".into()), Some(10));
        assert_eq!(full[0].counts, [1, 0, 9]);
        assert_eq!(full[0].hostname.as_deref(), Some("x"));
    }
}

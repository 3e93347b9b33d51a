//! Checkpoints of the TCP phase, so that an interrupted scan can be resumed (`ScanConfig::resume`).
//!
//! TCP probes go out in the order of a keyed permutation (`permute`), walked step by step. A
//! checkpoint names, per *batch* of hosts, a watermark: the largest `j` such that every step `< j`
//! was either skipped or has finished and had its result handed to the result channel (tries end
//! out of order, so the steps from the watermark on are kept in a window, a byte each, until
//! everything below them is done). With the seed the scan really used (recorded even when the user gave none), the same
//! hosts and ports walk the same permutation again, so a resumed scan starts its walk at the
//! watermark and probes exactly what was not yet reported. Results of steps above the watermark
//! that finished before the interruption are probed again: the consumer de-duplicates them.
//!
//! Batches: without discovery the whole target set is one batch. With discovery, hosts are
//! port-scanned in batches as discovery finds them up, each batch its own permutation of its hosts
//! (in the order found), and which hosts make a batch depends on timing. So every batch records its
//! hosts: a resumed scan continues each recorded batch as it was, and runs discovery again only on
//! the targets that are in no recorded batch (hosts that were found up but not yet batched, or not
//! yet pinged, are found again; down hosts are pinged again, which is cheap and keeps the count of
//! down hosts exact).
//!
//! UDP is not checkpointed: its probes per host depend on the host's ICMP rate limit as measured
//! during that host's scan, so a resumed scan runs the UDP phase again, whole (the caller drops the
//! UDP results it stored from the interrupted run).
//!
//! `counts` are the states of the steps below the watermark, so that a resumed scan's counters
//! start there: its summary counts the whole scan and its progress starts at the done fraction.
use crate::result::{PortState, STATES};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The layout of a checkpoint and the permutation it refers to; a checkpoint of another format is
/// refused (a resumed scan would walk a different order).
pub const FORMAT: u32 = 1;

/// A scan's resumable state, as recorded and given back to resume.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub format: u32,
    /// The seed of every permutation of the TCP phase.
    pub seed: u64,
    /// A fingerprint of the expanded target set (`Targets::intervals`): resuming against targets that
    /// resolve differently now would walk other hosts.
    pub targets: String,
    pub batches: Vec<BatchMark>,
    /// A fingerprint of the TCP ports in probe order (`probes`): a checkpoint of another scan of the
    /// same targets and as many ports would otherwise pass for this one's and skip ports it never
    /// probed. Absent in checkpoints of the first resumable version, which are read without it.
    #[serde(default)]
    pub probes: Option<String>,
    /// Port results handed to the result channel when this checkpoint was taken: once the consumer
    /// has read that many, it holds every result below every watermark.
    pub sent: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BatchMark {
    /// None: every target, in `Targets` order (no discovery).
    pub hosts: Option<Vec<IpAddr>>,
    /// Every step below this one is reported.
    pub watermark: u64,
    /// Steps of the walk in all (the batch is complete when `watermark == steps`).
    pub steps: u64,
    /// States of the results below the watermark, by `PortState::index`.
    pub counts: [u64; STATES],
}

/// One batch's walk while it runs.
#[derive(Debug)]
pub struct Batch {
    pub hosts: Option<Vec<IpAddr>>,
    pub steps: u64,
    walk: Mutex<Walk>,
}

/// A step of the window (one byte: a /16 x 65535 walk lagging by a million steps holds a megabyte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    InFlight,
    /// Skipped by the walk, or launched and finished with this state.
    Done(Option<PortState>),
}

#[derive(Debug, Default)]
struct Walk {
    /// Every step below it is done: the watermark while a step is in flight.
    base: u64,
    /// Steps `base..base + window.len()`, each in flight or done; the first one, if any, is in
    /// flight. Steps after the window were not launched yet, or skipped (known once the walk
    /// launches a later one or ends: `walked`).
    window: VecDeque<Slot>,
    /// The walk went past every step.
    walked: bool,
    counts: [u64; STATES],
}

impl Walk {
    fn advance(&mut self) {
        while let Some(&Slot::Done(state)) = self.window.front() {
            self.window.pop_front();
            self.base += 1;
            if let Some(st) = state {
                self.counts[st.index()] += 1;
            }
        }
    }
}

impl Batch {
    pub fn new(hosts: Option<Vec<IpAddr>>, steps: u64) -> Arc<Self> {
        Arc::new(Batch { hosts, steps, walk: Mutex::new(Walk::default()) })
    }

    /// A batch of an earlier run, continued from its mark.
    pub fn resumed(mark: &BatchMark) -> Arc<Self> {
        let walk = Walk { base: mark.watermark, window: VecDeque::new(), walked: false, counts: mark.counts };
        Arc::new(Batch { hosts: mark.hosts.clone(), steps: mark.steps, walk: Mutex::new(walk) })
    }

    fn walk(&self) -> std::sync::MutexGuard<'_, Walk> {
        self.walk.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The first step to launch (a resumed batch starts at its watermark).
    pub fn start(&self) -> u64 {
        let w = self.walk();
        w.base + w.window.len() as u64
    }

    /// Step `j` is about to be launched (steps between the last launched one and `j` were skipped).
    pub fn launch(&self, j: u64) {
        let mut w = self.walk();
        let end = w.base + w.window.len() as u64;
        if j < end {
            return; // launched twice: a bug, but no reason to lose track of the other steps
        }
        if w.window.is_empty() {
            w.base = j; // everything launched before is done, the rest was skipped
        } else {
            w.window.extend(std::iter::repeat_n(Slot::Done(None), (j - end) as usize));
        }
        w.window.push_back(Slot::InFlight);
    }

    /// The walk reached its end: every step is launched or skipped.
    pub fn walked(&self) {
        self.walk().walked = true;
    }

    /// Step `j` ended with a result that was handed over (or counted).
    pub fn finish(&self, j: u64, state: PortState) {
        let mut w = self.walk();
        let Some(i) = j.checked_sub(w.base).and_then(|i| usize::try_from(i).ok()) else { return };
        if let Some(slot) = w.window.get_mut(i) {
            *slot = Slot::Done(Some(state));
            if i == 0 {
                w.advance();
            }
        }
    }

    pub fn mark(&self) -> BatchMark {
        let w = self.walk();
        // Nothing in flight: every step up to the walk's position is done, all of them once walked.
        let watermark = if w.window.is_empty() && w.walked { self.steps } else { w.base };
        BatchMark { hosts: self.hosts.clone(), watermark, steps: self.steps, counts: w.counts }
    }
}

/// Which batch and step a probe is: it reports its end there.
#[derive(Debug, Clone)]
pub struct Step {
    pub batch: Arc<Batch>,
    pub j: u64,
}

/// Why recorded batches cannot be this scan's, if they cannot: a scan without discovery has at most
/// one batch, of every target (`hosts: None`); one with discovery has batches of the hosts it found,
/// each host in one batch at most. Anything else (a tampered or mixed-up checkpoint) would make the
/// resumed scan probe a host twice, or count results it never walks: a "complete" scan with wrong counts.
pub fn check_batches(batches: &[BatchMark], discover: bool) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    let mut whole = 0;
    for mark in batches {
        match &mark.hosts {
            None if discover => return Err("a batch of every target in a scan with host discovery".into()),
            None => whole += 1,
            Some(_) if !discover => return Err("a batch of discovered hosts in a scan without discovery".into()),
            Some(hosts) => {
                if let Some(ip) = hosts.iter().find(|ip| !seen.insert(**ip)) {
                    return Err(format!("host {ip} is in more than one place of the checkpoint"));
                }
            }
        }
    }
    if whole > 1 {
        return Err(format!("{whole} batches of every target (at most one)"));
    }
    Ok(())
}

/// Why a batch's recorded counts cannot be those of its first `watermark` steps, if they cannot:
/// every step below the watermark is a probe with one state, or a step the walk skipped (at most
/// `steps - probes` of them), so the counts add up to between `watermark - (steps - probes)` and
/// `min(watermark, probes)`. A resumed scan starts its counters there: wrong counts would end in a
/// "complete" scan whose totals are not its probes'.
pub fn check_counts(mark: &BatchMark, probes: u64) -> Result<(), String> {
    let total = mark.counts.iter().try_fold(0u64, |acc, &n| acc.checked_add(n));
    let skipped = mark.steps.saturating_sub(probes);
    match total {
        Some(t) if t <= mark.watermark.min(probes) && t >= mark.watermark.saturating_sub(skipped) => Ok(()),
        _ => Err(format!(
            "its counts ({:?}) do not add up to the {} steps below its watermark",
            mark.counts, mark.watermark
        )),
    }
}

/// A stable fingerprint of the TCP ports, in the order the walk indexes them, and of whether the
/// walk is permuted (FNV-1a, like `fingerprint`).
pub fn probes(ports: &[u16], randomize: bool) -> String {
    fnv(ports.iter().map(|p| format!("{p},")).chain(std::iter::once(format!("r{randomize}"))))
}

fn fnv(parts: impl Iterator<Item = String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes() {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// A stable fingerprint of the target set (FNV-1a over the intervals' text): the same on every
/// machine and version, unlike `std`'s hasher.
pub fn fingerprint(intervals: impl Iterator<Item = (IpAddr, IpAddr, u128)>) -> String {
    fnv(intervals.map(|(a, b, n)| format!("{a}-{b}/{n};")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_waits_for_the_lowest_step_in_flight() {
        let b = Batch::new(None, 10);
        for j in [0, 2, 3, 5] {
            b.launch(j);
        }
        b.finish(2, PortState::Open);
        b.finish(5, PortState::Closed);
        assert_eq!(b.mark().watermark, 0, "step 0 is still in flight");
        b.finish(0, PortState::Filtered);
        // 0 and 2 are done (1 was skipped); 3 is in flight
        let m = b.mark();
        assert_eq!(m.watermark, 3);
        assert_eq!(m.counts[PortState::Filtered.index()], 1);
        assert_eq!(m.counts[PortState::Open.index()], 1);
        assert_eq!(m.counts[PortState::Closed.index()], 0, "step 5 is above the watermark");
        b.finish(3, PortState::Closed);
        assert_eq!(b.mark().watermark, 6, "everything launched is done: the next step to launch");
        b.walked();
        let m = b.mark();
        assert_eq!((m.watermark, m.counts[PortState::Closed.index()]), (10, 2));
        let r = Batch::resumed(&m);
        assert_eq!(r.start(), 10);
        assert_eq!(r.mark(), m);
    }

    #[test]
    fn steps_skipped_before_the_first_launch_are_done() {
        let b = Batch::new(None, 8);
        b.launch(3); // 0, 1 and 2 were skipped (cycle walking)
        assert_eq!(b.mark().watermark, 3);
        b.finish(3, PortState::Open);
        assert_eq!(b.mark().watermark, 4, "nothing in flight: up to the walk's position");
        b.launch(6);
        b.finish(6, PortState::Closed);
        b.walked(); // 7 skipped
        let m = b.mark();
        assert_eq!((m.watermark, m.counts[PortState::Open.index()], m.counts[PortState::Closed.index()]), (8, 1, 1));
    }

    #[test]
    fn fingerprint_is_stable() {
        let a: IpAddr = "198.18.0.1".parse().unwrap();
        let b: IpAddr = "198.18.0.9".parse().unwrap();
        assert_eq!(fingerprint([(a, b, 9)].into_iter()), fingerprint([(a, b, 9)].into_iter()));
        assert_ne!(fingerprint([(a, b, 9)].into_iter()), fingerprint([(a, a, 1)].into_iter()));
        // FNV-1a of "198.18.0.1-198.18.0.9/9;", as recorded checkpoints carry it
        assert_eq!(fingerprint([(a, b, 9)].into_iter()), "55bb013898129c3d");
        assert_ne!(probes(&[80, 443], true), probes(&[443, 80], true));
        assert_ne!(probes(&[80, 443], true), probes(&[80, 443], false));
        assert_ne!(probes(&[1, 23], true), probes(&[12, 3], true));
    }

    fn mark(hosts: Option<Vec<&str>>, watermark: u64, steps: u64, counts: [u64; STATES]) -> BatchMark {
        let hosts = hosts.map(|h| h.iter().map(|a| a.parse().unwrap()).collect());
        BatchMark { hosts, watermark, steps, counts }
    }

    #[test]
    fn batches_must_fit_the_scan() {
        let whole = mark(None, 0, 8, [0; STATES]);
        let found = mark(Some(vec!["198.18.0.1", "198.18.0.2"]), 0, 8, [0; STATES]);
        let again = mark(Some(vec!["198.18.0.3", "198.18.0.2"]), 0, 8, [0; STATES]);
        assert!(check_batches(&[], false).is_ok() && check_batches(&[], true).is_ok());
        assert!(check_batches(std::slice::from_ref(&whole), false).is_ok());
        assert!(check_batches(&[whole.clone(), whole.clone()], false).unwrap_err().contains("at most one"));
        assert!(check_batches(std::slice::from_ref(&whole), true).is_err());
        assert!(check_batches(std::slice::from_ref(&found), false).is_err());
        assert!(check_batches(std::slice::from_ref(&found), true).is_ok());
        assert!(check_batches(&[found.clone(), again], true).unwrap_err().contains("198.18.0.2"));
        let twice = mark(Some(vec!["198.18.0.1", "198.18.0.1"]), 0, 8, [0; STATES]);
        assert!(check_batches(&[twice], true).is_err());
    }

    #[test]
    fn counts_must_add_up_to_the_watermark() {
        // 6 probes walked in 8 steps: 2 steps are skipped somewhere
        let ok = |w, c: [u64; STATES]| check_counts(&mark(None, w, 8, c), 6).is_ok();
        assert!(ok(0, [0; STATES]));
        assert!(ok(3, [1, 2, 0, 0]) && ok(3, [1, 0, 0, 0]), "one to three probes below step 3");
        assert!(!ok(3, [0; STATES]), "at most two skipped steps");
        assert!(!ok(3, [2, 2, 0, 0]), "more results than steps");
        assert!(ok(8, [1, 4, 1, 0]) && !ok(8, [1, 4, 0, 0]), "a whole walk counts every probe");
        assert!(!ok(8, [u64::MAX, 1, 0, 0]), "an overflowing sum");
    }
}

//! Congestion control and loss-aware retries for TCP probes.
//!
//! A firewall that rate-limits SYNs (a token bucket: `limit rate over N/second burst B drop`), an
//! IPS, a DDoS shield or a lossy link drops probes silently. A dropped probe to an open port looks
//! exactly like a filtered port, so a scanner that does not measure loss and slow down reports
//! open ports as filtered. This module decides how fast probes may go and how many tries a silent
//! port needs before it may be called filtered.
//!
//! ## Where the design comes from
//! - nmap's `ultra_scan` (timing.cc, scan_engine.cc): per-host and per-scan ("group") congestion
//!   state; a *drop* is a probe that was answered only on a retransmission, or a timing probe to a
//!   port known to answer that went unanswered; the group reacts less aggressively than a host;
//!   only drops of probes sent after the last adjustment count (one reaction per round trip);
//!   the tries a port gets grow with `max_successful_tryno`, capped by `--max-retries`.
//! - TCP (RFC 5681, RFC 6298): slow start up to `ssthresh`, then additive increase; multiplicative
//!   decrease on loss; the retransmission timeout from `srtt + 4·rttvar`.
//! - masscan and ZMap: scanners pace *rates* rather than windows. With round trips of tens of
//!   microseconds (a LAN, a veth) a window of one probe is already 20 000 probes/s, far above a
//!   limiter of a few hundred per second, so the controller here paces a rate (probes per second)
//!   and the fd-bound concurrency stays the window.
//!
//! ## The algorithm
//! Two flows are controlled: one per host (created on the host's first answer) and one for the
//! whole scan. Every try waits for a send slot from the user's hard `rate` ceiling, then from the
//! scan flow, then from its host's flow.
//!
//! *Samples.* The rate is driven by *pilots* only, nmap's timing pings: one try in
//! [`PILOT_EVERY`] scan-wide (four times fewer before any loss was seen) is followed by a re-probe
//! of a port of the same host that already answered (a closed one by preference: a RST costs the
//! target nothing). A pilot's fate is known one timeout after it was sent, answered or not, so a
//! generation's loss is measured without bias; an answer is reported only at that timeout, so
//! that successes are never counted ahead of losses. Ordinary tries are no such evidence: a lost
//! try to an open port is only known as lost when a later try is answered, rounds later, and a
//! silent one may be filtered. Pilots keep loss measurable behind a firewall that drops every
//! closed port. The retry verdicts (below) use every fate: answered tries, the earlier tries of a
//! port answered on a later one, and pilots.
//!
//! *Generations.* A flow's counters (tries sent, samples ok and lost) are kept per generation; a
//! generation ends with each rate cut, and a sample only counts toward the generation in which its
//! try was sent — nmap's "only react to probes sent after the last change".
//!
//! *Cut (multiplicative decrease).* Once the current generation holds [`MIN_SAMPLES`] samples and
//! its loss `p` exceeds the flow's base loss by a margin (two standard errors, at least
//! [`LOSS_MARGIN`]), the rate becomes `sent_rate · (1 − (p − base)) · `[`HEADROOM`]: the rate
//! that got through, measured, minus a little. This lands next to a token bucket's rate in one
//! step instead of halving repeatedly. A flow starts unpaced (the first generation is the
//! "initial window": as fast as the fd limit allows), so an unlimited target costs nothing.
//!
//! *Base loss.* Random loss on a path does not fall when the rate falls, and cutting for it would
//! collapse the rate. A limiter and random loss answer a cut differently: behind a limiter about
//! as many probes get through after a cut as before (it was the bottleneck); with random loss the
//! number that gets through falls with the rate. When a cut of at least a fifth made what got
//! through fall closer to in proportion than not, the loss measured after it becomes the flow's
//! base: later cuts react only to loss above it. A cut too small for that test (loss a little
//! above a low base) is told apart another way: if the last cut lowered the rate, the flow has not
//! grown since, and the loss did not fall (within two standard errors), the pooled loss of both
//! generations becomes the base (see `loss_held`); a limiter's loss falls once the rate is below
//! it. A loss clearly below the base (beyond the margin and two standard errors) lowers it.
//!
//! The first cut is measured on the unpaced first pass, a burst whose loss is sampled after it:
//! it is a guess, so slow start (doubling) follows it. A later cut of a flow that grew in its
//! generation halves the rate at most (TCP's decrease), as the generation's average send rate
//! spans the growth that led up to the loss.
//!
//! *Growth.* Once per round of the flow's timeout (the time it takes to learn about a loss), a
//! flow grows when it sent at its own pace through the round (not held back by another flow or a
//! lack of work: RFC 7661's application-limited rule, as a flow that is not what sets the pace
//! lets bursts through, and sends arriving at random lose a third of themselves to a limiter with
//! a burst of one at a third of its rate), when it has [`GROW_SAMPLES`] samples (pilots, or
//! answered tries: TCP grows on acknowledgements; half of [`MIN_SAMPLES`] in congestion
//! avoidance, so that it cannot climb past a limiter faster than it measures the loss there)
//! since it last grew, and when its current loss is within the margin of its base: doubling
//! below `ssthresh`, then by [`GROWTH`] per round, and faster again ([`PROBE_GROWTH`]) after
//! [`QUIET_ROUNDS`] rounds without a cut, since a limit can be lifted.
//!
//! *The scan flow* paces every try, with its host's flow: a limiter shared by several hosts
//! (one bucket behind an upstream firewall) is met only by their sum, which no host flow sees.
//! It is cut only when loss shows up on at least two hosts in its generation (or the scan has
//! one host): an upstream limiter or a congested uplink. Per-host limiters on many hosts also
//! lose on several hosts at once, so the scan flow is cut with them; it then grows again as it
//! sets the pace with loss at its base. (Letting hosts that pace themselves skip the scan flow
//! was tried: hosts behind one bucket then overran it together, each taking the others' loss
//! for its own, and a slow host cut itself to a few probes per second.) A host flow takes the
//! scan flow's base loss as a floor of its own: random loss on the shared path is measured on
//! many more samples there than one slow host gets. A host gets a pilot every few of its own
//! tries while it measures a new rate.
//!
//! ## Loss-aware retries
//! A port's *risk* — the probability that it is open and every try so far was dropped — is the
//! product over its silent tries of the drop estimate for its host, each try taken at the higher of
//! the estimate when its timeout passed and the estimate now (an early estimate, made on little
//! evidence, is revised; one made in a burst of loss is kept), and at no less than the loss
//! measured on the tries sent in its scan-flow generation (`HostTable::gen_floors`): a try of the
//! unpaced first pass into a limiter was as likely lost as the tries around it. A host's estimates
//! leave the first pass's fates out once the scan flow was cut (behind one bucket shared by many
//! hosts, a host's few fates are mostly those, found late, and would make every later try look as
//! doomed). The estimate is a smoothed loss over the host's recent samples (half-life
//! [`HOST_HALF_LIFE`] samples), with the scan's estimate as prior (weight [`PRIOR`] samples) and
//! one pseudo-loss as an upper-bound margin, so that little evidence means more tries, not fewer;
//! it is computed on every fate and on pilots alone, and the higher taken (see [`drop_estimate`]:
//! young fates lean toward answers). A port is declared `filtered` only when its risk is at most
//! [`RISK_BOUND`] (10⁻⁴) and it had `1 + min_retries` tries; `max_retries` stays a cap on the
//! informative retries. A try sent while most probes were being dropped ([`UNINFORMATIVE`]: the
//! first pass into a limiter, before the rate was cut) proves little and is not counted against it,
//! up to a hard limit of twice the cap ([`hard_tries`]). A port capped while its risk is still
//! above the bound is counted as *unresolved* on its host, and the scan's warnings say so. Without
//! any answer anywhere (a dead host, a fully filtered one) there is no evidence of loss and a
//! silent port gets `1 + min_retries` tries, as before.
//!
//! Retries are paced like first tries, and a retry leaves only after the previous try's timeout,
//! so a token bucket refills between them. A host that answered nothing at all gives no measure:
//! its ports get one more, *careful* try, paced per host (see [`CAREFUL_RATE`]), which finds
//! the open ports of a host that drops every closed port behind a limiter down to that rate; one
//! answer makes the host measurable like any other. Below that rate, nothing distinguishes a
//! limiter from a firewall that drops everything, and a scan of a few addresses says so in its
//! warnings.
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// A port is called filtered when the chance that it is open and all its tries were lost is at
/// most this.
pub const RISK_BOUND: f64 = 1e-4;
/// Samples a generation needs before its loss may cut the rate (the loss must also stand out of
/// their noise); `EARLY_SAMPLES` when most of them were lost.
pub const MIN_SAMPLES: u32 = 40;
pub const EARLY_SAMPLES: u32 = 16;
/// Samples both generations need before a cut may read their loss as the path's base: the share
/// that got through is too rough on fewer (one in 16 is no measure of one in 100).
pub const BASE_SAMPLES: u32 = MIN_SAMPLES;
/// Loss above the base that always counts as congestion, whatever the noise.
pub const LOSS_MARGIN: f64 = 0.02;
/// After a cut, send this fraction of what was measured to get through.
pub const HEADROOM: f64 = 0.92;
/// A cut never divides the rate by more than this at once (a noisy estimate cannot stall a scan).
pub const MAX_CUT: f64 = 64.0;
/// Growth per round in congestion avoidance.
pub const GROWTH: f64 = 1.05;
/// Growth per round after `QUIET_ROUNDS` rounds without a cut.
pub const PROBE_GROWTH: f64 = 1.25;
pub const QUIET_ROUNDS: u32 = 8;
/// Samples of the current rate a flow needs before it grows again: a round of 20 ms at a few
/// hundred probes per second holds no pilot at all, and growing on no evidence overshoots a
/// limiter many times over before the first loss is measured.
pub const GROW_SAMPLES: u32 = 8;
/// Sends booked ahead per flow: about 10 ms worth, so that the timer's 1 ms granularity never
/// starves a fast flow and a cut reaches the wire within a few slots.
fn horizon(rate: f64) -> usize {
    (rate * 0.010).clamp(4.0, 2048.0) as usize
}

/// The most loss taken for the path's own: beyond it a scan cannot be exact at any rate, and
/// cutting further is the only chance left.
const MAX_BASE: f64 = 0.6;

/// The slowest a flow is paced (probes per second).
pub const MIN_RATE: f64 = 5.0;
/// One pilot per this many silent tries on a host with a known answering port.
pub const PILOT_EVERY: u32 = 16;
/// Half-life of a host's loss estimate, in samples; the scan's is `SCAN_HALF_LIFE`.
pub const HOST_HALF_LIFE: f64 = 64.0;
pub const SCAN_HALF_LIFE: f64 = 512.0;
/// Weight of the scan's estimate as the prior of a host's, in samples.
pub const PRIOR: f64 = 32.0;
/// The shortest round of growth (timeouts can be clamped very low by the user).
const MIN_ROUND: Duration = Duration::from_millis(20);

/// Exponentially decayed counts of samples: recent loss, cheap to keep per host.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LossEstimate {
    lost: f64,
    total: f64,
}

impl LossEstimate {
    pub fn add(&mut self, lost: u32, ok: u32, half_life: f64) {
        let keep = (-std::f64::consts::LN_2 / half_life * f64::from(lost + ok)).exp();
        self.lost *= keep;
        self.total *= keep;
        self.lost += f64::from(lost);
        self.total += f64::from(lost + ok);
    }

    /// Keep `f` of the weight of every sample so far.
    pub fn scale(&mut self, f: f64) {
        self.lost *= f;
        self.total *= f;
    }

    pub fn samples(&self) -> f64 {
        self.total
    }

    /// The point estimate (0 without samples).
    pub fn loss(&self) -> f64 {
        if self.total > 0.0 {
            self.lost / self.total
        } else {
            0.0
        }
    }

    /// An upper estimate: one pseudo-loss added, with `prior` samples at `prior_p` blended in.
    pub fn upper(&self, prior_p: f64, prior: f64) -> f64 {
        ((self.lost + prior_p * prior + 1.0) / (self.total + prior + 2.0)).min(1.0)
    }
}

/// What a try carries from its send to its fate: the generations of the flows it went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ticket {
    pub host_gen: u32,
    pub scan_gen: u32,
}

/// One controlled flow: a paced rate, cut on measured loss and grown while answers come back.
#[derive(Debug, Clone)]
pub struct Flow {
    /// Probes per second; infinite until the first cut.
    rate: f64,
    ssthresh: f64,
    /// Cap from the user's `rate` option (infinite without one).
    ceiling: f64,
    next: Instant,
    gen: u32,
    /// The first and last send of the generation: what got through is measured over the time
    /// the sends took, not since the generation began (the unpaced first pass is a burst of a
    /// few milliseconds; over a second, its rate would read as a small fraction of the truth).
    first_sent: Option<Instant>,
    last_sent: Instant,
    sent: u32,
    ok: u32,
    lost: u32,
    base: f64,
    /// The base loss the scan flow measured on the paths to all hosts (see `inherit_base`).
    path_base: f64,
    /// Send rate, share that got through and samples of the previous generation, to tell random
    /// loss.
    prev: Option<(f64, f64, f64)>,
    /// Sends booked since the round began: a flow grows only while its pace is what limits it.
    round_sent: u32,
    /// Whether the last round sent at the flow's pace, and whether the flow grew in this
    /// generation (see `cut`).
    last_used: bool,
    grew: bool,
    /// Samples since the flow last grew: growth needs evidence that the last step was safe.
    since_grow: u32,
    last_round: Instant,
    quiet_rounds: u32,
    pub cuts: u32,
    /// Reservations ahead of time are bounded (see `horizon`), so that a cut takes effect at once
    /// instead of after a queue of slots booked at the old rate has drained.
    ahead: Arc<Semaphore>,
    ahead_permits: usize,
    /// Permits to retire as they come back, after the horizon shrank.
    debt: usize,
}

/// What a cut did (for tests and statistics).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cut {
    pub from: f64,
    pub to: f64,
    pub loss: f64,
}

impl Flow {
    pub fn new(now: Instant, ceiling: Option<f64>) -> Self {
        Flow {
            rate: f64::INFINITY,
            ssthresh: f64::INFINITY,
            ceiling: ceiling.unwrap_or(f64::INFINITY),
            next: now,
            gen: 0,
            first_sent: None,
            last_sent: now,
            sent: 0,
            ok: 0,
            lost: 0,
            base: 0.0,
            path_base: 0.0,
            prev: None,
            round_sent: 0,
            last_used: false,
            grew: false,
            since_grow: 0,
            last_round: now,
            quiet_rounds: 0,
            cuts: 0,
            ahead: Arc::new(Semaphore::new(0)),
            ahead_permits: 0,
            debt: 0,
        }
    }

    /// The reservation permit to wait for before `reserve`, None while unpaced.
    pub fn ahead(&self) -> Option<Arc<Semaphore>> {
        self.rate.is_finite().then(|| Arc::clone(&self.ahead))
    }

    /// Give back a reservation permit (at its slot's time), or retire it if the horizon shrank.
    pub fn release(&mut self, permit: OwnedSemaphorePermit) {
        if self.debt > 0 {
            self.debt -= 1;
            permit.forget();
        }
    }

    fn set_rate(&mut self, rate: f64) {
        self.rate = rate;
        let want = horizon(rate);
        if want > self.ahead_permits {
            let add = want - self.ahead_permits;
            let repaid = add.min(self.debt);
            self.debt -= repaid;
            self.ahead.add_permits(add - repaid);
        } else {
            let drop = self.ahead_permits - want;
            let forgot = self.ahead.forget_permits(drop);
            self.debt += drop - forgot;
        }
        self.ahead_permits = want;
    }

    /// The loss this flow takes for its path's own: its own measure, or the scan flow's if higher.
    pub fn base(&self) -> f64 {
        self.base.max(self.path_base)
    }

    /// Take the scan flow's base loss as a floor of this (host) flow's. Random loss on the path
    /// that every host shares is measured by the scan flow on many more samples than one host
    /// gets; a slow host would otherwise take it for congestion and cut its rate, cut after cut,
    /// before it has the samples to tell (a host at a few probes per second needs minutes).
    pub fn inherit_base(&mut self, base: f64) {
        self.path_base = base.min(MAX_BASE);
    }

    /// The paced rate, None while unpaced.
    pub fn rate(&self) -> Option<f64> {
        self.rate.is_finite().then_some(self.rate)
    }

    pub fn gen(&self) -> u32 {
        self.gen
    }

    /// Samples of the current generation so far.
    pub fn gen_samples(&self) -> u32 {
        self.ok + self.lost
    }

    /// Reserve a send slot: the instant to wait for (None: go now) and the generation to record.
    pub fn reserve(&mut self, now: Instant) -> (Option<Instant>, u32) {
        self.sent = self.sent.saturating_add(1);
        self.first_sent.get_or_insert(now);
        self.last_sent = now;
        if !self.rate.is_finite() {
            return (None, self.gen);
        }
        self.round_sent = self.round_sent.saturating_add(1);
        let at = super::limits::next_slot(&mut self.next, now, Duration::from_secs_f64(1.0 / self.rate));
        if at > now {
            (Some(at), self.gen)
        } else {
            (None, self.gen)
        }
    }

    /// Samples of tries sent in generation `gen`; returns a cut if the loss calls for one.
    /// `may_cut` is false when the caller knows the loss is not this flow's to react to.
    pub fn sample(
        &mut self,
        gen: u32,
        lost: u32,
        ok: u32,
        now: Instant,
        round: Duration,
        may_cut: bool,
    ) -> Option<Cut> {
        if gen == self.gen {
            self.lost = self.lost.saturating_add(lost);
            self.ok = self.ok.saturating_add(ok);
            self.since_grow = self.since_grow.saturating_add(lost + ok);
        }
        let n = self.lost + self.ok;
        if n >= 2 * MIN_SAMPLES && gen == self.gen {
            // A base read from noise, or random loss that went away, must not hide congestion.
            // Lowered only on loss clearly below it: looked at on every sample, a bare margin
            // lets the noise walk the base down to the lowest of many readings.
            let p = f64::from(self.lost) / f64::from(n);
            let noise = 2.0 * (self.base * (1.0 - self.base) / f64::from(n)).sqrt();
            if p + LOSS_MARGIN.max(noise) < self.base {
                self.base = p;
            }
        }
        if lost > 0 && gen == self.gen && n >= EARLY_SAMPLES && may_cut {
            let p = f64::from(self.lost) / f64::from(n);
            let noise = 2.0 * (p * (1.0 - p) / f64::from(n)).sqrt();
            // Most probes lost is a flow hammering a limiter: cut on a few samples, or a host with
            // a few dozen ports never finds its limiter. Lesser loss waits for a real measure.
            let enough = n >= MIN_SAMPLES || p >= 0.5;
            if enough && p > self.base() + LOSS_MARGIN.max(noise) {
                // Loss that held through the last cut is the path's: then no cut for it.
                self.loss_held(p, f64::from(n));
                if p > self.base() + LOSS_MARGIN.max(noise) {
                    return Some(self.cut(p, now));
                }
            }
        }
        self.maybe_grow(now, round);
        None
    }

    /// Before a cut for loss `p` on `n` samples: if the last cut lowered the send rate, the flow
    /// has not grown since, and the loss did not fall with it (within two standard errors), the
    /// loss is the path's, and the pooled loss of both generations becomes the base. A limiter's
    /// loss falls once the rate is cut below it; random loss stays. (`cut` tells the two apart by
    /// what got through, which needs a cut of a fifth: the cuts that random loss a little above a
    /// low base causes are smaller, and without this they go on, one after another, for the whole
    /// scan.)
    fn loss_held(&mut self, p: f64, n: f64) {
        let Some((prev_rate, prev_through, prev_n)) = self.prev else { return };
        let sent_rate = self.sent_rate();
        // A flow that grew since the cut is no comparison: its average rate hides the growth.
        if n < f64::from(BASE_SAMPLES) || self.grew || sent_rate > 0.95 * prev_rate {
            return;
        }
        let prev_p = 1.0 - prev_through;
        let pooled = (p * n + prev_p * prev_n) / (n + prev_n);
        let noise = 2.0 * (pooled * (1.0 - pooled) * (1.0 / n + 1.0 / prev_n)).sqrt();
        if p >= prev_p - noise {
            self.base = pooled.min(MAX_BASE);
        }
    }

    /// The generation's send rate, over the time its sends took (see `first_sent`).
    fn sent_rate(&self) -> f64 {
        let elapsed = self.first_sent.map_or(0.0, |f| self.last_sent.duration_since(f).as_secs_f64()).max(1e-3);
        (f64::from(self.sent) / elapsed).min(self.rate)
    }

    fn cut(&mut self, p: f64, now: Instant) -> Cut {
        let n = f64::from(self.ok + self.lost);
        let sent_rate = self.sent_rate();
        // What got through, with one pseudo-success: zero successes in n samples is not a rate of 0.
        let through = (f64::from(self.ok) + 1.0) / (n + 2.0);
        // Random loss or a limiter? After a cut of a fifth or more, a limiter passes about as much
        // as before (it was the bottleneck), while random loss passes less in proportion to the
        // rate. Loss that behaved like the latter is the path's base, not congestion.
        let measured = n >= f64::from(BASE_SAMPLES);
        if let Some((prev_rate, prev_through, _)) = self.prev.filter(|_| measured) {
            let rate_ratio = sent_rate / prev_rate;
            let passed_ratio = (sent_rate * through) / (prev_rate * prev_through);
            if rate_ratio <= 0.8 && passed_ratio <= (1.0 + rate_ratio) / 2.0 {
                self.base = p.min(MAX_BASE);
            }
        }
        let excess_through = (through / (1.0 - self.base()).max(0.1)).min(1.0);
        let from = self.rate;
        // A flow that grew in this generation and was sending at its pace when the loss showed
        // is halved at most (TCP's decrease): the generation's average send rate spans the growth
        // that led up to the loss, and read alone it lands far below the rate where loss began.
        let floor = if self.grew && self.last_used && self.rate.is_finite() { self.rate / 2.0 } else { 0.0 };
        let to =
            (sent_rate * excess_through * HEADROOM).max(floor).max(sent_rate / MAX_CUT).max(MIN_RATE).min(self.ceiling);
        // The first generation is no reference: unpaced, it also drained a limiter's burst.
        self.prev = (self.cuts > 0 && measured).then_some((sent_rate, through, n));
        self.set_rate(to);
        // A cut measured on the unpaced first generation is a rough guess (a burst, its loss
        // sampled after it): slow start from there finds the rate in a few doublings, where
        // congestion avoidance would creep up 5 % a round from a guess that can be 5x too low.
        self.ssthresh = if self.cuts == 0 { f64::INFINITY } else { to };
        self.gen = self.gen.wrapping_add(1);
        self.first_sent = None;
        self.next = now;
        (self.sent, self.ok, self.lost) = (0, 0, 0);
        self.round_sent = 0;
        self.since_grow = 0;
        self.grew = false;
        self.last_round = now;
        self.quiet_rounds = 0;
        self.cuts += 1;
        Cut { from, to, loss: p }
    }

    /// An ordinary try sent in generation `gen` was answered: evidence that the current rate
    /// carries (TCP grows on acknowledgements), though no measure of loss, which pilots give.
    pub fn answered(&mut self, gen: u32, now: Instant, round: Duration) {
        if gen == self.gen {
            self.since_grow = self.since_grow.saturating_add(1);
        }
        self.maybe_grow(now, round);
    }

    /// Once per round: grow if the flow sent at its pace (it is what holds the sends back, not
    /// another flow, the fd limit or a lack of work) and loss is at its base. A flow that grew
    /// while something else set the pace would allow bursts far above its rate (RFC 7661's
    /// "application-limited" rule): behind a limiter with a burst of one packet, bursts are loss.
    fn maybe_grow(&mut self, now: Instant, round: Duration) {
        let elapsed = now.duration_since(self.last_round);
        if !self.rate.is_finite() || elapsed < round.max(MIN_ROUND) {
            return;
        }
        let used = f64::from(self.round_sent) >= 0.5 * self.rate * elapsed.as_secs_f64();
        self.last_used = used;
        self.last_round = now;
        self.round_sent = 0;
        let n = self.lost + self.ok;
        let p = if n > 0 { f64::from(self.lost) / f64::from(n) } else { 0.0 };
        // In congestion avoidance, a step waits for as many samples as a cut needs: growing on
        // fewer, the flow climbs past a limiter faster than it can measure the loss there, and
        // spends most of its time above it (loss above the base is tries to do again).
        let need = if self.rate < self.ssthresh { GROW_SAMPLES } else { MIN_SAMPLES / 2 };
        if !used || self.since_grow < need || p > self.base() + LOSS_MARGIN {
            return;
        }
        self.since_grow = 0;
        self.grew = true;
        self.quiet_rounds += 1;
        let factor = if self.rate < self.ssthresh {
            2.0
        } else if self.quiet_rounds >= QUIET_ROUNDS {
            PROBE_GROWTH
        } else {
            GROWTH
        };
        self.set_rate((self.rate * factor).min(self.ceiling).min(1e7));
    }
}

/// A host that has answered nothing at all gives no measure of loss: its silence may be a
/// firewall that drops everything, or a SYN limiter that dropped the few open ports of a fast
/// first pass. Before such a port is called filtered it gets one *careful* try, so that a
/// limiter of this many probes per second or more lets every careful try through, or of more
/// if the careful tries of a host are to take at most [`CAREFUL_BUDGET`]. One answer ends the
/// care: the host is then measured (pilots) like any other.
pub const CAREFUL_RATE: f64 = 1000.0;
pub const CAREFUL_BUDGET: Duration = Duration::from_secs(10);
/// The careful tries are paced this much below the limit they are to pass: timers on a busy
/// machine fire late and then together, and a limiter with a burst of one drops what comes
/// closer than its rate allows (at the limit itself, a loaded machine lost an open port).
const CAREFUL_SLACK: f64 = 0.8;

/// The slowest limiter (probes per second) that the careful tries of a host with `ports` TCP
/// ports to scan all pass.
pub fn careful_limit(ports: u64) -> f64 {
    (ports as f64 / CAREFUL_BUDGET.as_secs_f64()).max(CAREFUL_RATE)
}

/// The careful pace (probes per second) for a host with `ports` TCP ports to scan.
pub fn careful_rate(ports: u64) -> f64 {
    CAREFUL_SLACK * careful_limit(ports)
}

/// A silent try whose drop estimate is at least this is *uninformative*: it was sent into an
/// overloaded path (typically before the first cut) and does not count toward `max_retries`.
pub const UNINFORMATIVE: f64 = 0.5;

/// The most tries a port gets whatever their use: twice the cap, within a try counter's range.
pub fn hard_tries(max_retries: u8) -> usize {
    (2 * (usize::from(max_retries) + 1)).min(250)
}

/// The drop estimate used for a silent try: the host's recent loss with the scan's as prior,
/// measured two ways, `[all fates, pilots only]`, and the higher taken. None when nothing anywhere
/// has answered: no evidence of loss at all.
///
/// Every fate is many samples, but young ones lean toward answers: an answer counts at once, a
/// lost try to an answering port only once a later try to it is answered, rounds later. Early
/// in a short lossy scan that estimate is too low (a port settled on it can be a missed open
/// port). A pilot's fate is known one timeout after it was sent either way, so the pilots'
/// estimate is unbiased, if noisier; the higher of the two covers both failings.
pub fn drop_estimate(host: Option<&[LossEstimate; 2]>, scan: &[LossEstimate; 2]) -> Option<f64> {
    (0..2).filter_map(|k| one_estimate(host.map(|h| &h[k]), &scan[k])).reduce(f64::max)
}

fn one_estimate(host: Option<&LossEstimate>, scan: &LossEstimate) -> Option<f64> {
    let scan_p = if scan.samples() > 0.0 { scan.upper(0.0, 0.0) } else { 0.0 };
    match host {
        Some(h) if h.samples() > 0.0 => Some(h.upper(scan_p, PRIOR)),
        _ if scan.samples() > 0.0 => Some(scan_p),
        _ => None,
    }
}

/// Whether a port silent through `tries` tries, with risk `risk`, is settled as filtered; and if
/// so, whether it was settled only by the cap (unresolved).
pub fn verdict(tries: u32, risk: f64, min_retries: u8, max_retries: u8) -> Option<bool> {
    if tries > u32::from(max_retries) {
        return Some(risk > RISK_BOUND);
    }
    (tries > u32::from(min_retries) && risk <= RISK_BOUND).then_some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUND: Duration = Duration::from_millis(100);

    /// A token bucket (rate n/s, burst b) in front of a flow that sends as its pacer allows.
    /// Returns (accepted per second over the last `tail` seconds, loss over the same window).
    fn simulate(n: f64, b: f64, random_loss: f64, secs: f64, seed: u64) -> (f64, f64, Flow) {
        let t0 = Instant::now();
        let mut flow = Flow::new(t0, None);
        let mut rng = seed;
        let mut rand = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % 1_000_000) as f64 / 1e6
        };
        let mut tokens = b;
        let (mut now, step) = (t0, Duration::from_micros(10));
        let end = t0 + Duration::from_secs_f64(secs);
        // Outcomes become known one round after the send.
        let mut pending: std::collections::VecDeque<(Instant, u32, bool)> = Default::default();
        let (mut acc_tail, mut lost_tail, mut sent_tail) = (0u64, 0u64, 0u64);
        let tail_from = t0 + Duration::from_secs_f64(secs / 2.0);
        let mut last = t0;
        while now < end {
            tokens = (tokens + n * now.duration_since(last).as_secs_f64()).min(b);
            last = now;
            // The scanner would send up to 100k/s when unpaced.
            let (slot, gen) = flow.reserve(now);
            let send_at = slot.unwrap_or(now).max(now);
            now = send_at.max(now + Duration::from_micros(10)).max(now + step);
            let through = tokens >= 1.0 && rand() >= random_loss;
            if tokens >= 1.0 {
                tokens -= 1.0;
            }
            if send_at >= tail_from {
                sent_tail += 1;
                if through {
                    acc_tail += 1;
                } else {
                    lost_tail += 1;
                }
            }
            pending.push_back((send_at + ROUND, gen, through));
            while pending.front().is_some_and(|p| p.0 <= now) {
                let (_, g, ok) = pending.pop_front().unwrap();
                flow.sample(g, u32::from(!ok), u32::from(ok), now, ROUND, true);
            }
        }
        let tail = secs / 2.0;
        (acc_tail as f64 / tail, lost_tail as f64 / sent_tail.max(1) as f64, flow)
    }

    #[test]
    fn converges_to_a_token_bucket_rate() {
        for (n, b, seed) in [(500.0, 10.0, 1), (3000.0, 100.0, 2), (20_000.0, 50.0, 3)] {
            let (accepted, loss, flow) = simulate(n, b, 0.0, 8.0, seed);
            assert!(accepted > 0.85 * n, "limit {n}: only {accepted:.0}/s got through");
            assert!(loss < 0.12, "limit {n}: loss {loss:.3} stays high");
            assert!(flow.cuts >= 1);
        }
    }

    #[test]
    fn random_loss_does_not_collapse_the_rate() {
        // 20 % loss on an unlimited path: after learning the base, the rate must not keep falling.
        let (accepted, _, flow) = simulate(1e9, 1e9, 0.2, 8.0, 7);
        assert!(accepted > 20_000.0, "rate collapsed: {accepted:.0}/s, flow {flow:?}");
        assert!(flow.base > 0.1, "{flow:?}");
    }

    #[test]
    fn a_host_takes_the_scan_flows_base_loss_for_its_paths() {
        // 30 % random loss measured by the scan flow: a host seeing the same is not cut for it,
        // while one that does not know it takes it for congestion.
        let t0 = Instant::now();
        let feed = |f: &mut Flow| {
            (0..200u32)
                .filter_map(|i| f.sample(0, u32::from(i % 10 < 3), u32::from(i % 10 >= 3), t0, ROUND, true))
                .count()
        };
        let mut informed = Flow::new(t0, None);
        informed.inherit_base(0.3);
        assert_eq!(feed(&mut informed), 0, "{informed:?}");
        assert!(feed(&mut Flow::new(t0, None)) > 0);
        // The inherited base is bounded like a measured one.
        informed.inherit_base(0.99);
        assert_eq!(informed.base(), MAX_BASE);
    }

    #[test]
    fn unlimited_flow_is_never_paced() {
        let t0 = Instant::now();
        let mut f = Flow::new(t0, None);
        for i in 0..10_000u32 {
            assert_eq!(f.reserve(t0).0, None);
            assert_eq!(f.sample(0, 0, 1, t0 + Duration::from_micros(u64::from(i)), ROUND, true), None);
        }
        assert_eq!(f.rate(), None);
    }

    #[test]
    fn verdict_needs_min_tries_and_low_risk_and_caps() {
        assert_eq!(verdict(1, 0.0, 1, 10), None, "one try is never enough");
        assert_eq!(verdict(2, 1e-6, 1, 10), Some(false));
        assert_eq!(verdict(2, 1e-3, 1, 10), None);
        assert_eq!(verdict(11, 1e-3, 1, 10), Some(true), "capped while risky: unresolved");
        assert_eq!(verdict(11, 1e-6, 1, 10), Some(false));
    }

    #[test]
    fn drop_estimate_uses_scan_prior_and_is_none_without_evidence() {
        let none = LossEstimate::default();
        let both = |e: LossEstimate| [e, e];
        assert_eq!(drop_estimate(None, &both(none)), None);
        let mut scan = LossEstimate::default();
        scan.add(0, 1000, SCAN_HALF_LIFE);
        let p = drop_estimate(None, &both(scan)).unwrap();
        assert!(p < 0.01, "{p}");
        // A host with a few samples, all lost: its own evidence pulls the estimate up.
        let mut host = LossEstimate::default();
        host.add(20, 0, HOST_HALF_LIFE);
        let ph = drop_estimate(Some(&both(host)), &both(scan)).unwrap();
        assert!(ph > 0.3, "{ph}");
        // No loss anywhere, plenty of samples: two tries settle a port.
        let mut clean = LossEstimate::default();
        clean.add(0, 500, HOST_HALF_LIFE);
        let pc = drop_estimate(Some(&both(clean)), &both(scan)).unwrap();
        assert!(pc * pc <= RISK_BOUND, "{pc}");
    }

    #[test]
    fn pilots_loss_outweighs_answers_counted_early() {
        // 60 answers counted at once, their siblings' losses not known yet; pilots saw 1 in 4 lost.
        let mut all = LossEstimate::default();
        all.add(0, 60, HOST_HALF_LIFE);
        let mut pilots = LossEstimate::default();
        pilots.add(5, 15, HOST_HALF_LIFE);
        let p = drop_estimate(Some(&[all, pilots]), &[all, pilots]).unwrap();
        assert!(p >= 0.25, "{p}");
        // Without pilots anywhere, the fates alone decide.
        let p = drop_estimate(Some(&[all, LossEstimate::default()]), &[all, LossEstimate::default()]).unwrap();
        assert!(p < 0.05, "{p}");
    }
}

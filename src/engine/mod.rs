//! The scheduler: host discovery, then TCP over a random permutation of (host, port), then UDP
//! per host around the targets' ICMP rate limits. Results stream out through a bounded channel.
pub mod checkpoint;
pub mod congestion;
mod discovery;
pub mod hosts;
pub mod limits;
pub mod permute;
mod record;
pub mod timing;
mod udp;

use crate::ports::PortList;
use crate::probe::origin::Origin;
use crate::probe::syn;
use crate::probe::tcp::{self, Attempt, Rto};
use crate::result::{PortResult, PortState, Progress, Protocol, Reason, ScanStatus, ScanSummary, STATES};
use crate::targets::Targets;
use crate::{Error, Result};
use checkpoint::{Batch, Checkpoint, Step};
use congestion::Ticket;
use hosts::HostTable;
use limits::{Limiter, Pacer};
use permute::Permutation;
use record::record;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use timing::TimingConfig;

/// How long one probe may keep meeting resource errors before the scan gives up.
const RESOURCE_PATIENCE: Duration = Duration::from_secs(30);
/// Sockets set aside for pilots (see `congestion`).
/// (A lost pilot holds its socket for a whole timeout: on a long path that is a third of a second.)
const PILOT_SLOTS: usize = 256;
/// Results buffered between the engine and its consumer.
const CHANNEL: usize = 4096;

#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// TCP ports to probe (None: no TCP).
    pub ports: Option<PortList>,
    /// UDP ports to probe (None: no UDP).
    pub udp_ports: Option<PortList>,
    pub timing: TimingConfig,
    /// Upper bound on probes in flight; lowered to what the fd limit allows.
    pub concurrency: usize,
    /// Probe starts per second, None for as fast as the limits allow.
    pub rate: Option<f64>,
    /// Probes in flight against one host.
    pub max_per_host: Option<usize>,
    pub randomize: bool,
    pub seed: Option<u64>,
    /// Which states are streamed one by one; the others are only counted.
    pub keep: [bool; STATES],
    /// Identify the service behind every open TCP port, each within `service_budget`.
    pub services: bool,
    pub service_budget: Duration,
    /// Host discovery before port scanning; None: only when there is more than one address.
    pub discovery: Option<bool>,
    /// UDP: do not wait out ICMP rate limits; unconfirmed ports are reported open|filtered.
    pub udp_fast: bool,
    /// UDP: the interval at which a rate-limited target sends ICMP errors (Linux: 1 s per peer).
    pub icmp_interval: Duration,
    /// How a TCP try is made.
    pub method: Method,
    /// Continue an interrupted scan from its checkpoint (see `checkpoint`); its seed wins.
    pub resume: Option<Checkpoint>,
    /// The source address and interface of TCP probes and discovery pings (`probe::origin`).
    pub origin: Origin,
}

/// How one TCP try is made: a kernel connect, or a raw SYN (`probe::syn`, needs CAP_NET_RAW).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    #[default]
    Connect,
    Syn,
}

impl ScanConfig {
    /// A TCP scan of `ports` with default options.
    pub fn new(ports: PortList) -> Self {
        Self::for_protocols(Some(ports), None)
    }

    /// A scan of these TCP and UDP ports (either may be None) with default options.
    pub fn for_protocols(ports: Option<PortList>, udp_ports: Option<PortList>) -> Self {
        ScanConfig {
            ports,
            udp_ports,
            timing: TimingConfig::default(),
            concurrency: 8192,
            rate: None,
            max_per_host: None,
            randomize: true,
            seed: None,
            keep: [true, false, false, false],
            services: false,
            service_budget: Duration::from_secs(5),
            discovery: None,
            udp_fast: false,
            icmp_interval: Duration::from_millis(1050),
            method: Method::Connect,
            resume: None,
            origin: Origin::default(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        self.timing.validate()?;
        if self.ports.is_none() && self.udp_ports.is_none() {
            return Err(Error::option("ports", "no TCP and no UDP ports to scan"));
        }
        if self.concurrency == 0 {
            return Err(Error::option("concurrency", "must be at least 1"));
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(Error::option("rate", format!("{rate} is not a positive number of probes per second")));
            }
        }
        if self.service_budget.is_zero() {
            return Err(Error::option("service_timeout", "must be greater than zero"));
        }
        if self.max_per_host == Some(0) {
            return Err(Error::option("max_per_host", "must be at least 1"));
        }
        self.origin.check()
    }

    fn ports_per_host(&self) -> (u64, u64) {
        (self.ports.as_ref().map_or(0, |p| p.len() as u64), self.udp_ports.as_ref().map_or(0, |p| p.len() as u64))
    }
}

#[derive(Debug, Default)]
struct Counters {
    done: AtomicU64,
    total: AtomicU64,
    open: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    resource_waits: AtomicU64,
    states: [AtomicU64; STATES],
    /// Results handed to the result channel (see `Checkpoint::sent`).
    sent: AtomicU64,
}

struct Ctx {
    targets: Targets,
    config: ScanConfig,
    hosts: HostTable,
    limiter: Limiter,
    /// The user's hard `rate` ceiling, shared by every TCP try and pilot.
    pacer: Option<Pacer>,
    /// Pilots (see `congestion`) run beside the probes and are stopped when the TCP phase ends.
    pilots: TaskTracker,
    pilots_stop: CancellationToken,
    pilot_slots: Arc<Semaphore>,
    per_host: Option<Mutex<HashMap<IpAddr, Arc<Semaphore>>>>,
    counters: Counters,
    cancel: CancellationToken,
    fatal: Mutex<Option<Error>>,
    started: Instant,
    fd_limit: u64,
    /// The SYN method's sockets and threads, opened at scan start (None: connect).
    syn: Option<syn::Transport>,
    /// The seed of the TCP permutations: the user's, a resumed scan's, or drawn at start.
    seed: u64,
    /// The TCP phase's batches so far, for checkpoints.
    batches: Mutex<Vec<Arc<Batch>>>,
    /// Hosts of a resumed scan's recorded batches: up, and not discovered again.
    known_up: HashSet<IpAddr>,
    fingerprint: String,
}

impl Ctx {
    fn progress(&self) -> Progress {
        let c = &self.counters;
        Progress {
            total: c.total.load(Ordering::Relaxed) as u128,
            done: c.done.load(Ordering::Relaxed) as u128,
            open: c.open.load(Ordering::Relaxed),
            elapsed: self.started.elapsed(),
            attempts: c.attempts.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            resource_waits: c.resource_waits.load(Ordering::Relaxed),
            concurrency: self.limiter.capacity() as u64,
            spoofed: self.syn.as_ref().map_or(0, syn::Transport::spoofed),
        }
    }

    async fn host_permit(&self, ip: IpAddr) -> Option<OwnedSemaphorePermit> {
        let (map, cap) = (self.per_host.as_ref()?, self.config.max_per_host?);
        let sem = {
            let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(m.entry(ip).or_insert_with(|| Arc::new(Semaphore::new(cap))))
        };
        sem.acquire_owned().await.ok()
    }

    /// A resource error persisted past patience: fail the scan.
    fn give_up(&self, err: std::io::Error) {
        self.fatal.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(Error::Io(err));
        self.cancel.cancel();
    }
}

/// On the stack of every engine task: if the task unwinds (a bug), the scan fails and stops
/// instead of ending "complete" with that task's results missing.
struct PanicGuard<'a>(&'a Ctx);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let err = Error::Internal("an engine task panicked; the results would be incomplete".into());
            self.0.fatal.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(err);
            self.0.cancel.cancel();
        }
    }
}

/// Tests make the probe of this port of 127.0.0.2 panic, to check that a panic never ends "complete".
#[cfg(test)]
pub(crate) static PANIC_PORT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(u32::MAX);

/// A running scan: its results as they are found, its final summary, and a monitor.
pub struct ScanHandle {
    pub results: mpsc::Receiver<PortResult>,
    pub task: JoinHandle<Result<ScanSummary>>,
    pub monitor: Monitor,
}

/// Reads a running scan's progress and stops it; cheap to clone.
#[derive(Clone)]
pub struct Monitor(Arc<Ctx>);

impl Monitor {
    pub fn progress(&self) -> Progress {
        self.0.progress()
    }

    /// Stop launching probes and end those in flight; the summary then says "cancelled".
    pub fn cancel(&self) {
        self.0.cancel.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancel.is_cancelled()
    }

    /// Where the TCP phase is: enough to resume the scan if it stops now (see `checkpoint`).
    pub fn checkpoint(&self) -> Checkpoint {
        let ctx = &self.0;
        let batches = ctx.batches.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|b| b.mark()).collect();
        // Read after the marks: every result below them was sent before its step was finished.
        let sent = ctx.counters.sent.load(Ordering::SeqCst);
        let probes = ctx.config.ports.as_ref().map(|p| checkpoint::probes(p.as_slice(), ctx.config.randomize));
        Checkpoint {
            format: checkpoint::FORMAT,
            seed: ctx.seed,
            targets: ctx.fingerprint.clone(),
            batches,
            probes,
            sent,
        }
    }

    /// The hostname the user gave for an address, if any.
    pub fn hostname(&self, ip: IpAddr) -> Option<&str> {
        self.0.targets.hostname(ip)
    }
}

/// The hosts to port-scan: every target, or those discovery found up.
enum HostList {
    All,
    Up(Vec<IpAddr>),
}

impl HostList {
    fn len(&self, targets: &Targets) -> u64 {
        match self {
            HostList::All => targets.len() as u64,
            HostList::Up(v) => v.len() as u64,
        }
    }

    fn get(&self, targets: &Targets, i: u64) -> Option<IpAddr> {
        match self {
            HostList::All => targets.get(u128::from(i)),
            HostList::Up(v) => v.get(i as usize).copied(),
        }
    }
}

/// Start a scan on the given runtime. Targets are already resolved and scope-checked.
pub fn start(targets: Targets, config: ScanConfig, runtime: &tokio::runtime::Handle) -> Result<ScanHandle> {
    config.validate()?;
    let hosts = targets.len();
    let (tcp, udp) = config.ports_per_host();
    let total = hosts
        .checked_mul(u128::from(tcp + udp))
        .and_then(|t| u64::try_from(t).ok())
        .filter(|&t| t < 1 << 60)
        .ok_or_else(|| {
        Error::option("targets", format!("{hosts} hosts x {} ports is too many probes", tcp + udp))
    })?;
    if total == 0 {
        return Err(Error::Empty(": no (host, port) pairs".into()));
    }
    config.origin.check_family(|v4| targets.intervals().map(|(a, _, _)| a).find(|a| a.is_ipv4() != v4))?;
    // The method is TCP's: a UDP-only scan opens no raw socket and needs no capability.
    let syn = match config.method {
        Method::Syn if config.ports.is_some() => Some(syn::Transport::open(&config.origin).map_err(syn_refused)?),
        _ => None,
    };
    let fd_limit = limits::raise_fd_limit();
    // Pilots get a sixteenth of the fds at most, so that a low `ulimit -n` still scans.
    let pilot_slots = (fd_limit.saturating_sub(limits::FD_RESERVE) / 16).clamp(1, PILOT_SLOTS as u64) as usize;
    let concurrency = limits::concurrency_for(fd_limit.saturating_sub(pilot_slots as u64), config.concurrency);
    let (tx, rx) = mpsc::channel(CHANNEL);
    let cancel = CancellationToken::new();
    let counters = Counters::default();
    counters.total.store(total, Ordering::Relaxed);
    let fingerprint = checkpoint::fingerprint(targets.intervals());
    let (seed, batches, known_up) = match &config.resume {
        Some(cp) => resumed(cp, &targets, &config, &fingerprint, &counters)?,
        None => (config.seed.unwrap_or_else(rand::random), Vec::new(), HashSet::new()),
    };
    let ctx = Arc::new(Ctx {
        hosts: HostTable::new(config.timing, config.rate),
        limiter: Limiter::new(concurrency),
        pacer: config.rate.map(Pacer::new),
        pilots: TaskTracker::new(),
        pilots_stop: cancel.child_token(),
        pilot_slots: Arc::new(Semaphore::new(pilot_slots)),
        per_host: config.max_per_host.map(|_| Mutex::new(HashMap::new())),
        counters,
        cancel: cancel.clone(),
        fatal: Mutex::new(None),
        started: Instant::now(),
        fd_limit,
        syn,
        seed,
        batches: Mutex::new(batches),
        known_up,
        fingerprint,
        targets,
        config,
    });
    // Only the scan task and its probes hold senders, so the stream ends when the scan does.
    let task = runtime.spawn(run(Arc::clone(&ctx), tx));
    Ok(ScanHandle { results: rx, task, monitor: Monitor(ctx) })
}

/// The batches, seed and known-up hosts of a resumed scan, its counters set to where it stopped;
/// an error if the checkpoint does not belong to this scan's targets and ports.
#[allow(clippy::type_complexity)]
fn resumed(
    cp: &Checkpoint,
    targets: &Targets,
    config: &ScanConfig,
    fingerprint: &str,
    counters: &Counters,
) -> Result<(u64, Vec<Arc<Batch>>, HashSet<IpAddr>)> {
    let bad = |why: String| Err(Error::option("resume", why));
    if cp.format != checkpoint::FORMAT {
        return bad(format!("checkpoint format {} is not this version's ({})", cp.format, checkpoint::FORMAT));
    }
    if cp.targets != fingerprint {
        return bad("the targets expand to other addresses than when the scan was saved".into());
    }
    let probes = config.ports.as_ref().map(|p| checkpoint::probes(p.as_slice(), config.randomize));
    if cp.probes.is_some() && cp.probes != probes {
        return bad("the checkpoint is of other ports, or of another probe order".into());
    }
    let ports = config.ports.as_ref().map_or(0, |p| p.len() as u64);
    checkpoint::check_batches(&cp.batches, config.discovery.unwrap_or(targets.len() > 1))
        .map_err(|why| Error::option("resume", why))?;
    let mut known_up = HashSet::new();
    let mut batches = Vec::new();
    for mark in &cp.batches {
        let n_hosts = match &mark.hosts {
            None => targets.len() as u64,
            Some(hosts) => {
                let within = |ip: &IpAddr| targets.intervals().any(|(lo, hi, _)| lo <= *ip && *ip <= hi);
                if let Some(ip) = hosts.iter().find(|ip| !within(ip)) {
                    return bad(format!("checkpoint host {ip} is not among the targets"));
                }
                known_up.extend(hosts.iter().copied());
                hosts.len() as u64
            }
        };
        let steps = Permutation::new(n_hosts * ports, config.randomize, Some(cp.seed)).steps();
        if mark.steps != steps || mark.watermark > steps {
            return bad("the checkpoint's probe order does not match these targets and ports".into());
        }
        checkpoint::check_counts(mark, n_hosts * ports).map_err(|why| Error::option("resume", why))?;
        for (k, &n) in mark.counts.iter().enumerate() {
            counters.states[k].fetch_add(n, Ordering::Relaxed);
            counters.done.fetch_add(n, Ordering::Relaxed);
        }
        counters.open.fetch_add(mark.counts[PortState::Open.index()], Ordering::Relaxed);
        batches.push(Batch::resumed(mark));
    }
    Ok((cp.seed, batches, known_up))
}

/// The batch of every target (no discovery): the resumed one, or a new one.
fn whole_batch(ctx: &Ctx, ports: &PortList) -> Arc<Batch> {
    let mut batches = ctx.batches.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(b) = batches.iter().find(|b| b.hosts.is_none()) {
        return Arc::clone(b);
    }
    let n = (ctx.targets.len() as u64).saturating_mul(ports.len() as u64);
    let b = Batch::new(None, Permutation::new(n, ctx.config.randomize, Some(ctx.seed)).steps());
    batches.push(Arc::clone(&b));
    b
}

async fn run(ctx: Arc<Ctx>, tx: mpsc::Sender<PortResult>) -> Result<ScanSummary> {
    let trimming = ctx.cancel.child_token();
    tokio::spawn(limits::trim_heap(trimming.clone()));
    let _stop_trimming = trimming.drop_guard();
    let discover = ctx.config.discovery.unwrap_or(ctx.targets.len() > 1);
    let hosts = if discover {
        // Pipelined: a host's TCP ports are scanned as soon as discovery finds it up, while the
        // silent addresses are still waiting out their timeouts.
        let (found_tx, found_rx) = mpsc::unbounded_channel();
        let scan = async {
            if let Some(ports) = ctx.config.ports.clone() {
                tcp_pipeline(&ctx, found_rx, &ports, &tx).await;
            }
        };
        let (up, ()) = tokio::join!(discovery::discover(&ctx, found_tx), scan);
        let (tcp, udp) = ctx.config.ports_per_host();
        ctx.counters.total.store(up.len() as u64 * (tcp + udp), Ordering::Relaxed);
        HostList::Up(up)
    } else {
        if let Some(ports) = ctx.config.ports.clone() {
            let tracker = TaskTracker::new();
            let batch = whole_batch(&ctx, &ports);
            spawn_tcp(&ctx, &HostList::All, &ports, &tx, &tracker, &batch).await;
            tracker.close();
            tracker.wait().await;
        }
        HostList::All
    };
    ctx.pilots_stop.cancel();
    ctx.pilots.close();
    ctx.pilots.wait().await;
    if let Some(t) = &ctx.syn {
        t.close();
    }
    if let Some(ports) = ctx.config.udp_ports.clone() {
        udp::phase(&ctx, &hosts, &ports, &tx).await;
    }

    if let Some(err) = ctx.fatal.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Err(err);
    }
    let status = if ctx.cancel.is_cancelled() { ScanStatus::Cancelled } else { ScanStatus::Complete };
    let complete = (status == ScanStatus::Complete).then(|| ctx.config.ports_per_host());
    let summaries = ctx.hosts.summaries(|ip| ctx.targets.hostname(ip).map(str::to_string), complete);
    let mut warnings = warnings(&summaries, &ctx.config);
    warnings.extend(silent_warnings(&ctx, discover));
    let (scan_rate, scan_rate_cuts) = ctx.hosts.scan_rate();
    ctx.hosts.release(); // the summaries hold what the result needs
    let c = &ctx.counters;
    Ok(ScanSummary {
        status,
        hosts_total: ctx.targets.len(),
        ports_per_host: {
            let (t, u) = ctx.config.ports_per_host();
            (t + u) as usize
        },
        hosts: summaries,
        counts: std::array::from_fn(|k| c.states[k].load(Ordering::Relaxed) as u128),
        hosts_down: discover.then(|| u128::from(ctx.hosts.down_count())),
        progress: ctx.progress(),
        fd_limit: ctx.fd_limit,
        max_concurrency: ctx.limiter.capacity(),
        scan_rate,
        scan_rate_cuts,
        warnings,
    })
}

/// Addresses scanned at most this many: each one that answered nothing is named in a warning.
const SILENT_WARNED: u128 = 16;

/// A scan of a few addresses without discovery: name those that answered no probe at all.
fn silent_warnings(ctx: &Ctx, discover: bool) -> Vec<String> {
    let Some(ports) = ctx.config.ports.as_ref() else { return Vec::new() };
    if discover || ctx.cancel.is_cancelled() || ctx.targets.len() > SILENT_WARNED {
        return Vec::new();
    }
    let careful = congestion::careful_limit(ports.len() as u64);
    (0..ctx.targets.len())
        .filter_map(|i| ctx.targets.get(i))
        .filter(|ip| !ctx.hosts.is_up(ip))
        .map(|ip| {
            format!(
                "{ip}: no probe was answered at all, so every port is reported filtered; behind a SYN rate \
                 limit below {careful:.0}/s that also drops closed ports, open ports cannot be told from \
                 filtered ones: rescan with rate= at or below the limit if you suspect one"
            )
        })
        .collect()
}

/// What the user must know about hosts where loss left ports uncertain, and what to do about it.
fn warnings(hosts: &[crate::result::HostSummary], config: &ScanConfig) -> Vec<String> {
    let mut out = Vec::new();
    for h in hosts {
        let Some(st) = h.stats.filter(|s| s.unresolved > 0) else { continue };
        let rate = config.rate.map_or_else(|| "a rate= below it".to_string(), |r| format!("a rate= below {r}"));
        out.push(format!(
            "{}: {} silent port(s) reported filtered after max_retries={} retries while {:.1} % of its probes \
             were dropped; they may be open. Rescan them with {} or a higher max_retries=",
            h.host,
            st.unresolved,
            config.timing.max_retries,
            st.drop_rate.unwrap_or(0.0) * 100.0,
            st.rate.map_or(rate, |r| format!("rate={:.0} or lower", r.max(1.0))),
        ));
    }
    out
}

/// TCP probes for the hosts discovery reports up, in batches of those found since the last one.
async fn tcp_pipeline(
    ctx: &Arc<Ctx>,
    mut found: mpsc::UnboundedReceiver<IpAddr>,
    ports: &PortList,
    tx: &mpsc::Sender<PortResult>,
) {
    let tracker = TaskTracker::new();
    // A resumed scan's batches first, each continued from its watermark.
    let resumed: Vec<Arc<Batch>> = ctx.batches.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for batch in resumed {
        let Some(hosts) = batch.hosts.clone() else { continue };
        spawn_tcp(ctx, &HostList::Up(hosts), ports, tx, &tracker, &batch).await;
    }
    loop {
        let first = tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => break,
            ip = found.recv() => match ip { Some(ip) => ip, None => break },
        };
        let mut batch = vec![first];
        while let Ok(ip) = found.try_recv() {
            batch.push(ip);
        }
        let n = (batch.len() as u64).saturating_mul(ports.len() as u64);
        let steps = Permutation::new(n, ctx.config.randomize, Some(ctx.seed)).steps();
        let mark = Batch::new(Some(batch.clone()), steps);
        ctx.batches.lock().unwrap_or_else(|e| e.into_inner()).push(Arc::clone(&mark));
        spawn_tcp(ctx, &HostList::Up(batch), ports, tx, &tracker, &mark).await;
    }
    tracker.close();
    tracker.wait().await;
}

/// Spawn a probe for every (host, port) onto `tracker`, port-major in permuted order, as the
/// limiter allows (pacing happens per try, in `send_slot`); returns once all are spawned or the
/// scan is cancelled. The walk starts at `batch`'s first unlaunched step (a resumed batch's
/// watermark) and reports every launch to it (see `checkpoint`).
async fn spawn_tcp(
    ctx: &Arc<Ctx>,
    hosts: &HostList,
    ports: &PortList,
    tx: &mpsc::Sender<PortResult>,
    tracker: &TaskTracker,
    batch: &Arc<Batch>,
) {
    let n_hosts = hosts.len(&ctx.targets);
    let Some(total) = n_hosts.checked_mul(ports.len() as u64).filter(|&t| t > 0) else { return };
    let perm = Permutation::new(total, ctx.config.randomize, Some(ctx.seed));
    let cancel = ctx.cancel.clone();
    for j in batch.start()..perm.steps() {
        let Some(i) = perm.at(j) else { continue };
        let permit = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            p = ctx.limiter.acquire() => p,
        };
        // Port-major: consecutive indices go to different hosts.
        let (host_idx, port_idx) = (i % n_hosts, (i / n_hosts) as usize);
        let (Some(ip), Some(&port)) = (hosts.get(&ctx.targets, host_idx), ports.as_slice().get(port_idx)) else {
            continue;
        };
        batch.launch(j);
        let step = Step { batch: Arc::clone(batch), j };
        tracker.spawn(probe(Arc::clone(ctx), tx.clone(), ip, port, permit, step));
    }
    if !cancel.is_cancelled() {
        batch.walked();
    }
}

/// Wait for a send slot for a try to `ip`: the user's ceiling, then the scan's and the host's
/// congestion control. None when `cancel` fires meanwhile.
async fn send_slot(ctx: &Ctx, ip: IpAddr, cancel: &CancellationToken) -> Option<Ticket> {
    if let Some(p) = &ctx.pacer {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return None,
            _ = p.wait() => {}
        }
    }
    let h = &ctx.hosts;
    let scan_gen = paced(h.scan_ahead(), || h.reserve_scan(), |p| h.release_scan(p), cancel).await?;
    let host_gen = paced(h.host_ahead(&ip), || h.reserve_host(&ip), |p| h.release_host(&ip, p), cancel).await?;
    Some(Ticket { host_gen, scan_gen })
}

/// One flow's slot: a reservation permit (bounded look-ahead), the slot, the wait until it.
async fn paced(
    ahead: Option<Arc<Semaphore>>,
    reserve: impl FnOnce() -> (Option<Instant>, u32),
    release: impl FnOnce(OwnedSemaphorePermit),
    cancel: &CancellationToken,
) -> Option<u32> {
    let Some(sem) = ahead else { return Some(reserve().1) };
    let permit = tokio::select! {
        biased;
        _ = cancel.cancelled() => return None,
        p = sem.acquire_owned() => p.ok()?,
    };
    let (at, gen) = reserve();
    let done = match at {
        Some(at) => tokio::select! {
            biased;
            _ = cancel.cancelled() => false,
            _ = tokio::time::sleep_until(at) => true,
        },
        None => true,
    };
    release(permit);
    done.then_some(gen)
}

/// The kernel refused a resource: retire the slot, wait a little (`limits::back_off`) and take
/// one again. None when the scan should stop (cancelled, or starved past patience and failed).
/// Both TCP and UDP probes wait out shortages here.
async fn back_off(
    ctx: &Ctx,
    err: std::io::Error,
    starved_since: &mut Option<Instant>,
    permit: OwnedSemaphorePermit,
) -> Option<OwnedSemaphorePermit> {
    ctx.limiter.shrink(permit);
    match limits::back_off(&ctx.counters.resource_waits, &ctx.cancel, starved_since).await {
        limits::Starved::Retry => {}
        limits::Starved::Cancelled => return None,
        limits::Starved::OutOfPatience => {
            ctx.give_up(err);
            return None;
        }
    }
    tokio::select! {
        biased;
        _ = ctx.cancel.cancelled() => None,
        p = ctx.limiter.acquire() => Some(p),
    }
}

/// Whether an answer came from the host itself (its fate says something about loss on the path).
fn from_host(reason: Reason) -> bool {
    matches!(reason, Reason::SynAck | Reason::SynAckReset | Reason::ConnRefused | Reason::Reset)
}

/// Why a SYN scan cannot start: the raw sockets were refused.
fn syn_refused(e: std::io::Error) -> Error {
    if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) {
        Error::option(
            "method",
            "a SYN scan sends from raw sockets, which need the CAP_NET_RAW capability (root has it; \
             or `setcap cap_net_raw+ep` on the interpreter); use method=\"connect\" or \"auto\" without it",
        )
    } else {
        Error::option("method", format!("a SYN scan could not open its raw sockets: {e}"))
    }
}

/// One TCP try to `addr` by the scan's method.
async fn try_once(ctx: &Ctx, addr: SocketAddr, rto: &impl Rto, cancel: &CancellationToken) -> Attempt {
    match &ctx.syn {
        Some(t) => t.attempt(addr, rto, cancel).await,
        None => tcp::connect_from(addr, &ctx.config.origin, rto, cancel).await,
    }
}

/// One (host, port) to a final state: paced tries until an answer, or until enough silent tries
/// that an open port would have answered (see `congestion`); waits out resource errors.
async fn probe(
    ctx: Arc<Ctx>,
    tx: mpsc::Sender<PortResult>,
    ip: IpAddr,
    port: u16,
    mut permit: OwnedSemaphorePermit,
    step: Step,
) {
    let _guard = PanicGuard(&ctx);
    #[cfg(test)]
    assert!(
        !(ip == IpAddr::from([127, 0, 0, 2]) && u32::from(port) == PANIC_PORT.load(Ordering::Relaxed)),
        "deliberate panic (test)"
    );
    let _host_slot = ctx.host_permit(ip).await;
    let addr = SocketAddr::new(ip, port);
    let rto = || ctx.hosts.rto(&ip);
    let timing = ctx.config.timing;
    let mut tickets: Vec<Ticket> = Vec::new();
    // The drop estimate at each silent try's timeout.
    let mut drops: Vec<f64> = Vec::new();
    let mut starved_since: Option<Instant> = None;
    let c = &ctx.counters;
    let known = ctx.hosts.take_ping(&ip, port).map(|p| PortResult {
        host: ip,
        port,
        protocol: Protocol::Tcp,
        state: p.state,
        reason: p.reason,
        rtt: Some(p.rtt),
        attempts: p.attempt,
        service: None,
    });
    // One careful try is owed when the host has answered nothing (see `congestion`).
    let mut careful = Careful::NotNeeded;
    let mut result = if let Some(known) = known {
        known
    } else {
        loop {
            if careful == Careful::Owed {
                careful = Careful::Made;
                if !careful_wait(&ctx, ip).await {
                    return;
                }
            }
            let Some(ticket) = send_slot(&ctx, ip, &ctx.cancel).await else { return };
            c.attempts.fetch_add(1, Ordering::Relaxed);
            if let Some(pilot) = ctx.hosts.tried(ip) {
                spawn_pilot(&ctx, SocketAddr::new(ip, pilot));
            }
            match try_once(&ctx, addr, &rto, &ctx.cancel).await {
                Attempt::Answer { state, reason, rtt } => {
                    tickets.push(ticket);
                    if from_host(reason) {
                        ctx.hosts.outcome(ip, &tickets, true, false);
                    }
                    break PortResult {
                        host: ip,
                        port,
                        protocol: Protocol::Tcp,
                        state,
                        reason,
                        rtt: Some(rtt),
                        attempts: tickets.len() as u8,
                        service: None,
                    };
                }
                Attempt::Silent => {
                    tickets.push(ticket);
                    ctx.hosts.silent();
                    // No evidence of loss anywhere: the try is as good as answered-by-silence.
                    let p = ctx.hosts.drop_estimate(&ip).unwrap_or(0.0);
                    drops.push(p);
                    // Each try at the highest of its own estimate, today's, and the loss measured
                    // on the tries sent in its scan generation: an estimate made when little was
                    // known is revised by what was learnt since (never lowered, as a try sent
                    // into a limiter before a cut stays as uncertain as it was).
                    let floors = ctx.hosts.gen_floors(&tickets);
                    let risk: f64 = drops.iter().zip(&floors).map(|(d, f)| d.max(p).max(*f)).product();
                    // A try into an overloaded path (most probes dropped, before the rate was cut)
                    // says almost nothing: it does not use up `max_retries`, within a hard limit.
                    let informative =
                        drops.iter().zip(&floors).filter(|(d, f)| d.max(**f) < congestion::UNINFORMATIVE).count()
                            as u32;
                    let tries = if tickets.len() >= congestion::hard_tries(timing.max_retries) {
                        u32::from(timing.max_retries) + 1
                    } else {
                        informative
                    };
                    let verdict = congestion::verdict(tries, risk, timing.min_retries, timing.max_retries);
                    let capped = tries > u32::from(timing.max_retries);
                    if verdict.is_some() && !capped && careful == Careful::NotNeeded && !ctx.hosts.is_up(&ip) {
                        careful = Careful::Owed;
                        c.retries.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    if let Some(unresolved) = verdict {
                        ctx.hosts.tries(ip, tickets.len() as u8, unresolved);
                        break PortResult {
                            host: ip,
                            port,
                            protocol: Protocol::Tcp,
                            state: PortState::Filtered,
                            reason: Reason::NoResponse,
                            rtt: None,
                            attempts: tickets.len() as u8,
                            service: None,
                        };
                    }
                    c.retries.fetch_add(1, Ordering::Relaxed);
                }
                Attempt::Resource(err) => match back_off(&ctx, err, &mut starved_since, permit).await {
                    Some(p) => permit = p,
                    None => return,
                },
                Attempt::Cancelled => return,
            }
        }
    };
    if result.state != PortState::Filtered || result.reason != Reason::NoResponse {
        ctx.hosts.tries(ip, result.attempts, false);
    }
    if ctx.config.services && result.state == PortState::Open {
        // Boxed: identification's state is KBs, and inline it would make every probe task that big.
        let info = Box::pin(crate::services::identify(addr, ctx.config.service_budget, &ctx.cancel)).await;
        result.service = Some(Box::new(info));
    }
    drop(permit);
    ctx.limiter.success();
    let state = result.state;
    record(&ctx, &tx, result).await;
    // Only now is the result in the channel: a probe that returned early (cancelled) stays in
    // flight for the checkpoint, and is probed again on resume.
    step.batch.finish(step.j, state);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Careful {
    NotNeeded,
    Owed,
    Made,
}

/// Wait for a careful slot of a host that answered nothing; false if the scan was cancelled.
async fn careful_wait(ctx: &Ctx, ip: IpAddr) -> bool {
    let rate = congestion::careful_rate(ctx.config.ports.as_ref().map_or(1, |p| p.len() as u64));
    let at = ctx.hosts.careful_slot(ip, rate);
    let waited = tokio::select! {
        biased;
        _ = ctx.cancel.cancelled() => false,
        _ = tokio::time::sleep_until(at) => true,
    };
    ctx.hosts.careful_done(ip);
    waited
}

/// A pilot: one try to a port of `addr`'s host that answered before, to measure loss where the
/// scanned ports stay silent. Skipped when no slot is free; never retried; stopped with the phase.
fn spawn_pilot(ctx: &Arc<Ctx>, addr: SocketAddr) {
    // Pilots have slots of their own: probe tasks keep theirs while they wait to be paced.
    let Ok(permit) = Arc::clone(&ctx.pilot_slots).try_acquire_owned() else { return };
    let ctx2 = Arc::clone(ctx);
    ctx.pilots.spawn(async move {
        let ctx = ctx2;
        let _guard = PanicGuard(&ctx);
        let stop = &ctx.pilots_stop;
        let Some(ticket) = send_slot(&ctx, addr.ip(), stop).await else { return };
        ctx.counters.attempts.fetch_add(1, Ordering::Relaxed);
        let rto = || ctx.hosts.rto(&addr.ip());
        let deadline = Instant::now() + rto().0;
        let answered = match try_once(&ctx, addr, &rto, stop).await {
            Attempt::Answer { reason, .. } if from_host(reason) => true,
            Attempt::Silent => false,
            _ => return,
        };
        drop(permit);
        // An answer is reported when a loss would have been (at the timeout), so that the
        // samples of a generation are never read with its successes in and its losses pending.
        if answered {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
        ctx.hosts.outcome(addr.ip(), &[ticket], answered, true);
    });
}

#[cfg(test)]
pub(crate) mod tests;

//! The scheduler: walks the (host, port) permutation, keeps the right number of probes in flight,
//! retries silences, and streams results out through a bounded channel.
pub mod hosts;
pub mod limits;
pub mod permute;
pub mod timing;

use crate::ports::PortList;
use crate::probe::tcp::{self, Attempt};
use crate::result::{PortResult, PortState, Progress, Reason, ScanStatus, ScanSummary};
use crate::targets::Targets;
use crate::{Error, Result};
use hosts::HostTable;
use limits::{Limiter, Pacer};
use permute::Permutation;
use std::collections::HashMap;
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
/// Results buffered between the engine and its consumer.
const CHANNEL: usize = 4096;

#[derive(Debug, Clone)]
pub struct ScanConfig {
    pub ports: PortList,
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
    pub keep: [bool; 3],
    /// Identify the service behind every open port, each within `service_budget`.
    pub services: bool,
    pub service_budget: Duration,
}

impl ScanConfig {
    pub fn new(ports: PortList) -> Self {
        ScanConfig {
            ports,
            timing: TimingConfig::default(),
            concurrency: 8192,
            rate: None,
            max_per_host: None,
            randomize: true,
            seed: None,
            keep: [true, false, false],
            services: false,
            service_budget: Duration::from_secs(5),
        }
    }

    pub fn validate(&self) -> Result<()> {
        self.timing.validate()?;
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
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Counters {
    done: AtomicU64,
    open: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    resource_waits: AtomicU64,
    states: [AtomicU64; 3],
}

struct Ctx {
    targets: Targets,
    config: ScanConfig,
    hosts: HostTable,
    limiter: Limiter,
    per_host: Option<Mutex<HashMap<IpAddr, Arc<Semaphore>>>>,
    counters: Counters,
    cancel: CancellationToken,
    fatal: Mutex<Option<Error>>,
    started: Instant,
    total: u64,
    fd_limit: u64,
}

impl Ctx {
    fn progress(&self) -> Progress {
        let c = &self.counters;
        Progress {
            total: self.total as u128,
            done: c.done.load(Ordering::Relaxed) as u128,
            open: c.open.load(Ordering::Relaxed),
            elapsed: self.started.elapsed(),
            attempts: c.attempts.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            resource_waits: c.resource_waits.load(Ordering::Relaxed),
            concurrency: self.limiter.capacity() as u64,
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
}

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

    /// The hostname the user gave for an address, if any.
    pub fn hostname(&self, ip: IpAddr) -> Option<&str> {
        self.0.targets.hostname(ip)
    }
}

/// Start a scan on the given runtime. Targets are already resolved and scope-checked.
pub fn start(targets: Targets, config: ScanConfig, runtime: &tokio::runtime::Handle) -> Result<ScanHandle> {
    config.validate()?;
    let hosts = targets.len();
    let per_host = config.ports.len() as u128;
    let total = hosts
        .checked_mul(per_host)
        .and_then(|t| u64::try_from(t).ok())
        .ok_or_else(|| Error::option("targets", format!("{hosts} hosts x {per_host} ports is too many probes")))?;
    if total == 0 {
        return Err(Error::Empty(": no (host, port) pairs".into()));
    }
    let fd_limit = limits::raise_fd_limit();
    let concurrency = limits::concurrency_for(fd_limit, config.concurrency);
    let (tx, rx) = mpsc::channel(CHANNEL);
    let cancel = CancellationToken::new();
    let ctx = Arc::new(Ctx {
        hosts: HostTable::new(config.timing),
        limiter: Limiter::new(concurrency),
        per_host: config.max_per_host.map(|_| Mutex::new(HashMap::new())),
        counters: Counters::default(),
        cancel: cancel.clone(),
        fatal: Mutex::new(None),
        started: Instant::now(),
        total,
        fd_limit,
        targets,
        config,
    });
    // Only the scan task and its probes hold senders, so the stream ends when the scan does.
    let task = runtime.spawn(run(Arc::clone(&ctx), tx));
    Ok(ScanHandle { results: rx, task, monitor: Monitor(ctx) })
}

async fn run(ctx: Arc<Ctx>, tx: mpsc::Sender<PortResult>) -> Result<ScanSummary> {
    let hosts = ctx.targets.len() as u64;
    let perm = Permutation::new(ctx.total, ctx.config.randomize, ctx.config.seed);
    let pacer = ctx.config.rate.map(Pacer::new);
    let tracker = TaskTracker::new();
    let cancel = ctx.cancel.clone();
    for j in 0..perm.steps() {
        let Some(i) = perm.at(j) else { continue };
        let permit = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            p = ctx.limiter.acquire() => p,
        };
        if let Some(p) = &pacer {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                _ = p.wait() => {}
            }
        }
        // Port-major: consecutive indices go to different hosts.
        let (host_idx, port_idx) = (i % hosts, (i / hosts) as usize);
        let (Some(ip), Some(&port)) = (ctx.targets.get(host_idx as u128), ctx.config.ports.as_slice().get(port_idx))
        else {
            continue;
        };
        tracker.spawn(probe(Arc::clone(&ctx), tx.clone(), ip, port, permit));
    }
    tracker.close();
    tracker.wait().await;

    if let Some(err) = ctx.fatal.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Err(err);
    }
    let status = if cancel.is_cancelled() { ScanStatus::Cancelled } else { ScanStatus::Complete };
    let complete = (status == ScanStatus::Complete).then_some(ctx.config.ports.len() as u64);
    let summaries = ctx.hosts.summaries(|ip| ctx.targets.hostname(ip).map(str::to_string), complete);
    let c = &ctx.counters;
    Ok(ScanSummary {
        status,
        hosts_total: ctx.targets.len(),
        ports_per_host: ctx.config.ports.len(),
        hosts: summaries,
        counts: [0, 1, 2].map(|k| c.states[k].load(Ordering::Relaxed) as u128),
        progress: ctx.progress(),
        fd_limit: ctx.fd_limit,
        max_concurrency: ctx.limiter.capacity(),
    })
}

/// One (host, port) to a final state: retries silences, waits out resource errors.
async fn probe(ctx: Arc<Ctx>, tx: mpsc::Sender<PortResult>, ip: IpAddr, port: u16, mut permit: OwnedSemaphorePermit) {
    let _host_slot = ctx.host_permit(ip).await;
    let addr = SocketAddr::new(ip, port);
    let rto = || ctx.hosts.rto(&ip);
    let mut attempt: u8 = 0;
    let mut starved_since: Option<Instant> = None;
    let c = &ctx.counters;
    let result = loop {
        c.attempts.fetch_add(1, Ordering::Relaxed);
        match tcp::connect(addr, &rto, &ctx.cancel).await {
            Attempt::Answer { state, reason, rtt } => {
                attempt += 1;
                // Only what the host itself sends proves it is up; an ICMP error from a router
                // or the local stack does not.
                if matches!(reason, Reason::SynAck | Reason::SynAckReset | Reason::ConnRefused | Reason::PortUnreach) {
                    ctx.hosts.answered(ip, state, rtt, attempt);
                } else {
                    ctx.hosts.silent(ip);
                }
                break PortResult { host: ip, port, state, reason, rtt: Some(rtt), attempts: attempt, service: None };
            }
            Attempt::Silent => {
                attempt += 1;
                if attempt > ctx.hosts.retries() {
                    ctx.hosts.silent(ip);
                    break PortResult {
                        host: ip,
                        port,
                        state: PortState::Filtered,
                        reason: Reason::NoResponse,
                        rtt: None,
                        attempts: attempt,
                        service: None,
                    };
                }
                c.retries.fetch_add(1, Ordering::Relaxed);
            }
            Attempt::Resource(err) => {
                c.resource_waits.fetch_add(1, Ordering::Relaxed);
                let since = *starved_since.get_or_insert_with(Instant::now);
                if since.elapsed() > RESOURCE_PATIENCE {
                    let mut fatal = ctx.fatal.lock().unwrap_or_else(|e| e.into_inner());
                    fatal.get_or_insert(Error::Io(err));
                    ctx.cancel.cancel();
                    return;
                }
                ctx.limiter.shrink(permit);
                let backoff = Duration::from_millis(5 + u64::from(rand::random::<u8>() % 20));
                tokio::select! {
                    biased;
                    _ = ctx.cancel.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                permit = tokio::select! {
                    biased;
                    _ = ctx.cancel.cancelled() => return,
                    p = ctx.limiter.acquire() => p,
                };
            }
            Attempt::Cancelled => return,
        }
    };
    let mut result = result;
    if ctx.config.services && result.state == PortState::Open {
        let info = crate::services::identify(addr, ctx.config.service_budget, &ctx.cancel).await;
        result.service = Some(Box::new(info));
    }
    drop(permit);
    ctx.limiter.success();
    c.states[result.state.index()].fetch_add(1, Ordering::Relaxed);
    if result.state == PortState::Open {
        c.open.fetch_add(1, Ordering::Relaxed);
    }
    if ctx.config.keep[result.state.index()] {
        // A consumer that went away just stops receiving; the counts stay right.
        let _ = tx.send(result).await;
    }
    c.done.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
pub(crate) mod tests;

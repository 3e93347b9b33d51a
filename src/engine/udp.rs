//! UDP, host by host, around ICMP rate limits.
//!
//! A closed UDP port only says so with an ICMP port-unreachable, and Linux sends those to one
//! peer at about one per second after a burst of six (`net.ipv4.icmp_ratelimit`). So, per host:
//! 1. every port is probed at once; replies are open, ICMP errors closed or filtered;
//! 2. the silent ones are probed again after one ICMP interval; if that brings new ICMP errors,
//!    the host is rate-limiting, else the silences are real (open|filtered) — this costs one
//!    interval per host even when it sends no ICMP at all. A host that answered far more errors
//!    than a limiter's burst and left few ports silent is not limiting: quick retries (one RTO
//!    each) settle it, and only errors arriving late send it back to the interval;
//! 3. on a rate-limiting host the remaining silent ports are probed one at a time, each once the
//!    host can send an error again: about one second per closed port — the physical bound.
//!    `udp_fast` skips 2 and 3: a quick retry, then unconfirmed ports are open|filtered.
use super::permute::Permutation;
use super::record::record;
use super::{back_off, Ctx, HostList};
use crate::ports::PortList;
use crate::probe::udp::{self as probe_udp, UdpAttempt};
use crate::result::{PortResult, PortState, Protocol, Reason};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

/// Hosts whose UDP ports are scanned at the same time.
const HOSTS_AT_ONCE: usize = 256;
/// ICMP errors a rate-limiting Linux host sends one peer at once (`XRLIM_BURST_FACTOR`).
const LIMITER_BURST: usize = 6;
/// Least wait for a reply to another protocol's datagram on a silent port (services only).
const SILENT_SERVICE_WAIT: Duration = Duration::from_millis(500);

enum Outcome {
    Final(PortResult),
    Silent,
    Gone,
}

pub(super) async fn phase(ctx: &Arc<Ctx>, hosts: &HostList, ports: &PortList, tx: &mpsc::Sender<PortResult>) {
    let n = hosts.len(&ctx.targets);
    let perm = Permutation::new(n, ctx.config.randomize, ctx.config.seed);
    let slots = Arc::new(Semaphore::new(HOSTS_AT_ONCE));
    let ports: Arc<[u16]> = ports.as_slice().into();
    let tracker = TaskTracker::new();
    for j in 0..perm.steps() {
        let Some(i) = perm.at(j) else { continue };
        let Some(ip) = hosts.get(&ctx.targets, i) else { continue };
        let slot = tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => break,
            s = Arc::clone(&slots).acquire_owned() => match s { Ok(s) => s, Err(_) => break },
        };
        let (ctx, tx, ports) = (Arc::clone(ctx), tx.clone(), Arc::clone(&ports));
        tracker.spawn(async move {
            let _guard = super::PanicGuard(&ctx);
            scan_host(&ctx, ip, &ports, &tx).await;
            drop(slot);
        });
    }
    tracker.close();
    tracker.wait().await;
}

async fn scan_host(ctx: &Arc<Ctx>, ip: IpAddr, ports: &[u16], tx: &mpsc::Sender<PortResult>) {
    let mut order = ports.to_vec();
    if ctx.config.randomize {
        let p = Permutation::new(order.len() as u64, true, ctx.config.seed.map(|s| s ^ 0x55));
        order = (0..p.steps()).filter_map(|j| p.at(j)).map(|k| ports[k as usize]).collect();
    }
    let mut attempts = vec![0u8; 65536];

    // 1. everything at once
    let (mut silent, burst_icmp) = batch(ctx, ip, &order, &mut attempts, tx).await;
    if silent.is_empty() || ctx.cancel.is_cancelled() {
        return;
    }
    // 2. quick retries when the burst shows no limiter (or in fast mode) ...
    let unlimited = burst_icmp > 2 * LIMITER_BURST && silent.len() * 4 <= burst_icmp;
    let mut late_icmp = 0;
    if ctx.config.udp_fast || unlimited {
        for _ in 0..ctx.hosts.retries() {
            if silent.is_empty() || ctx.cancel.is_cancelled() {
                break;
            }
            ctx.counters.retries.fetch_add(silent.len() as u64, Ordering::Relaxed);
            let icmp;
            (silent, icmp) = batch(ctx, ip, &silent, &mut attempts, tx).await;
            late_icmp += icmp;
        }
    }
    // ... else (or if errors still came late) again after one interval: the host's allowance may
    // have been spent before we came
    let limited = if ctx.config.udp_fast || silent.is_empty() || (unlimited && late_icmp == 0) {
        false
    } else {
        if !sleep(ctx, ctx.config.icmp_interval).await {
            return;
        }
        ctx.counters.retries.fetch_add(silent.len() as u64, Ordering::Relaxed);
        let icmp;
        (silent, icmp) = batch(ctx, ip, &silent, &mut attempts, tx).await;
        icmp > 0
    };
    // 3. paced, one port per ICMP interval
    if limited {
        let mut remaining = silent.into_iter();
        silent = Vec::new();
        let mut next_slot = Instant::now() + ctx.config.icmp_interval;
        for port in remaining.by_ref() {
            if !sleep_until(ctx, next_slot).await {
                return;
            }
            ctx.counters.retries.fetch_add(1, Ordering::Relaxed);
            let (still, got_icmp) = batch(ctx, ip, &[port], &mut attempts, tx).await;
            silent.extend(still);
            if got_icmp > 0 {
                // that error used the host's allowance: wait for the next one
                next_slot = Instant::now() + ctx.config.icmp_interval;
            }
        }
    }
    // services=True: every protocol's datagram on the ports still silent (nmap -sUV)
    let mut found = if ctx.config.services {
        let wait = ctx.hosts.rto(&ip).0.max(SILENT_SERVICE_WAIT);
        crate::services::udp::identify_silent_ports(ip, &silent, wait, &ctx.cancel).await
    } else {
        Default::default()
    };
    for port in silent {
        let mut result = PortResult {
            host: ip,
            port,
            protocol: Protocol::Udp,
            state: PortState::OpenFiltered,
            reason: Reason::NoResponse,
            rtt: None,
            attempts: attempts[usize::from(port)],
            service: None,
        };
        if let Some((info, rtt)) = found.remove(&port) {
            let service = Some(Box::new(info));
            result =
                PortResult { state: PortState::Open, reason: Reason::UdpResponse, rtt: Some(rtt), service, ..result };
        }
        record(ctx, tx, result).await;
    }
}

async fn sleep(ctx: &Ctx, d: Duration) -> bool {
    sleep_until(ctx, Instant::now() + d).await
}

async fn sleep_until(ctx: &Ctx, at: Instant) -> bool {
    tokio::select! {
        biased;
        _ = ctx.cancel.cancelled() => false,
        _ = tokio::time::sleep_until(at) => true,
    }
}

/// Probe `ports` of `ip` concurrently, record every answer; returns the silent ports and how
/// many ICMP port-unreachables came back.
async fn batch(
    ctx: &Arc<Ctx>,
    ip: IpAddr,
    ports: &[u16],
    attempts: &mut [u8],
    tx: &mpsc::Sender<PortResult>,
) -> (Vec<u16>, usize) {
    let mut set = JoinSet::new();
    for &port in ports {
        attempts[usize::from(port)] = attempts[usize::from(port)].saturating_add(1);
        let attempt = attempts[usize::from(port)];
        let ctx = Arc::clone(ctx);
        set.spawn(async move { (port, once(&ctx, ip, port, attempt).await) });
    }
    let (mut silent, mut icmp) = (Vec::new(), 0);
    while let Some(joined) = set.join_next().await {
        let Ok((port, outcome)) = joined else { continue };
        match outcome {
            Outcome::Final(result) => {
                if result.reason == Reason::PortUnreach {
                    icmp += 1;
                }
                record(ctx, tx, result).await;
            }
            Outcome::Silent => silent.push(port),
            Outcome::Gone => {}
        }
    }
    silent.sort_unstable_by_key(|p| ports.iter().position(|q| q == p));
    (silent, icmp)
}

/// One probe of one port, waiting out local resource shortages.
async fn once(ctx: &Ctx, ip: IpAddr, port: u16, attempt: u8) -> Outcome {
    let addr = SocketAddr::new(ip, port);
    let payloads = crate::services::udp::payloads(port);
    let payloads: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
    let rto = || ctx.hosts.rto(&ip);
    let mut starved_since: Option<Instant> = None;
    let mut permit = tokio::select! {
        biased;
        _ = ctx.cancel.cancelled() => return Outcome::Gone,
        p = ctx.limiter.acquire() => p,
    };
    loop {
        // The user's `rate` is a ceiling for every datagram too.
        if let Some(pacer) = &ctx.pacer {
            tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => return Outcome::Gone,
                _ = pacer.wait() => {}
            }
        }
        ctx.counters.attempts.fetch_add(1, Ordering::Relaxed);
        let got = probe_udp::probe_all(addr, &payloads, &rto, &ctx.cancel).await;
        let base = PortResult {
            host: ip,
            port,
            protocol: Protocol::Udp,
            state: PortState::Open,
            reason: Reason::UdpResponse,
            rtt: None,
            attempts: attempt,
            service: None,
        };
        return match got {
            UdpAttempt::Reply { data, rtt } => {
                drop(permit);
                let mut info = crate::services::udp::parse_reply(port, &data);
                if let Some(second) = crate::services::udp::followup(port) {
                    let answer = match probe_udp::probe(addr, &(second.request)(&info), &rto, &ctx.cancel).await {
                        UdpAttempt::Reply { data, .. } => Some(data),
                        _ => None,
                    };
                    (second.apply)(&mut info, answer.as_deref());
                }
                Outcome::Final(PortResult { rtt: Some(rtt), service: Some(Box::new(info)), ..base })
            }
            UdpAttempt::Icmp { state, reason, rtt } => {
                Outcome::Final(PortResult { state, reason, rtt: Some(rtt), ..base })
            }
            UdpAttempt::Silent => Outcome::Silent,
            UdpAttempt::Cancelled => Outcome::Gone,
            UdpAttempt::Resource(err) => match back_off(ctx, err, &mut starved_since, permit).await {
                Some(p) => {
                    permit = p;
                    continue;
                }
                None => Outcome::Gone,
            },
        };
    }
}

//! Host discovery: a host is up when it answers anything of its own — a SYN-ACK or RST to a TCP
//! connect on a few common ports, or an ICMP echo reply when the process may send echoes. Hosts
//! that stay silent through every attempt are down and cost nothing more.
use super::hosts::Ping;
use super::limits::{back_off, Starved};
use super::permute::Permutation;
use super::Ctx;
use crate::probe::icmp::Pinger;
use crate::probe::tcp::{self, Attempt};
use crate::result::{PortState, Reason};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

/// TCP "ping" ports: the web and remote-access ports most hosts answer on, open or closed.
pub const PING_PORTS: [u16; 3] = [443, 80, 22];
/// Attempts per host before it is called down.
const ATTEMPTS: u8 = 2;
/// How long discovery keeps listening for late echo replies before calling silent hosts down.
const LATE_GRACE: Duration = Duration::from_millis(250);

/// Probe every target host; returns those that are up, in address order. Each up host is also
/// sent to `found` as soon as it is known (the port scan starts on it at once).
pub(super) async fn discover(ctx: &Arc<Ctx>, found: mpsc::UnboundedSender<IpAddr>) -> Vec<IpAddr> {
    let stop = ctx.cancel.child_token();
    let pinger = Pinger::new(&stop);
    let n = ctx.targets.len() as u64;
    let perm = Permutation::new(n, ctx.config.randomize, ctx.config.seed);
    let up = Arc::new(Mutex::new(Vec::new()));
    // Silent hosts, decided only after the last echo replies had time to come in.
    let silent = Arc::new(Mutex::new(Vec::new()));
    let tracker = TaskTracker::new();
    // Each host task holds sockets for its TCP pings (and one ICMP waiter).
    let slots = PING_PORTS.len() as u32;
    for j in 0..perm.steps() {
        let Some(i) = perm.at(j) else { continue };
        let Some(ip) = ctx.targets.get(u128::from(i)) else { continue };
        if ctx.known_up.contains(&ip) {
            continue; // a resumed scan's recorded batch: up, and port-scanned from its checkpoint
        }
        let permit = tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => break,
            p = ctx.limiter.acquire_many(slots) => p,
        };
        let (ctx, up, silent, pinger) = (Arc::clone(ctx), Arc::clone(&up), Arc::clone(&silent), pinger.clone());
        let found = found.clone();
        tracker.spawn(async move {
            let _guard = super::PanicGuard(&ctx);
            if ping_host(&ctx, ip, pinger.as_deref()).await {
                up.lock().unwrap_or_else(|e| e.into_inner()).push(ip);
                let _ = found.send(ip); // the scan may have been cancelled: nobody listens
            } else if !ctx.cancel.is_cancelled() {
                silent.lock().unwrap_or_else(|e| e.into_inner()).push(ip);
            }
            drop(permit);
        });
    }
    tracker.close();
    tracker.wait().await;
    let silent = std::mem::take(&mut *silent.lock().unwrap_or_else(|e| e.into_inner()));
    if let Some(p) = &pinger {
        if !silent.is_empty() && !ctx.cancel.is_cancelled() {
            // Replies that missed their waiter (a loaded scanner, a slow host) still count.
            let grace = ctx.hosts.rto(&silent[0]).0.max(LATE_GRACE);
            tokio::select! {
                _ = ctx.cancel.cancelled() => {}
                _ = tokio::time::sleep(grace) => {}
            }
        }
        for ip in silent {
            if p.replied_late(ip) {
                ctx.hosts.answered(ip, None, Reason::EchoReply, LATE_GRACE, ATTEMPTS);
                up.lock().unwrap_or_else(|e| e.into_inner()).push(ip);
                let _ = found.send(ip);
            } else {
                ctx.hosts.down(ip);
            }
        }
    } else {
        silent.into_iter().for_each(|ip| ctx.hosts.down(ip));
    }
    stop.cancel();
    let mut up = std::mem::take(&mut *up.lock().unwrap_or_else(|e| e.into_inner()));
    up.extend(ctx.known_up.iter().copied());
    up.sort();
    up
}

async fn ping_host(ctx: &Ctx, ip: IpAddr, pinger: Option<&Pinger>) -> bool {
    let rto = || ctx.hosts.rto(&ip);
    let mut attempt = 0u8;
    let mut starved_since = None;
    while attempt < ATTEMPTS {
        if ctx.cancel.is_cancelled() {
            return false;
        }
        attempt += 1;
        ctx.counters.attempts.fetch_add(PING_PORTS.len() as u64, Ordering::Relaxed);
        let connect = |port: u16| tcp::connect_from(SocketAddr::new(ip, port), &ctx.config.origin, &rto, &ctx.cancel);
        // The echo's timeout is fixed when it is sent, often before any RTT is known (1 s); the
        // connects adapt theirs as RTTs come in. When all three time out, the echo has had as long
        // as they had: stop it (a later reply still counts, through the late-reply set).
        let echo_stop = ctx.cancel.child_token();
        let echo = async {
            match pinger {
                Some(p) => p.ping(ip, rto().0, &echo_stop).await,
                None => None,
            }
        };
        let pings = async {
            let got = tokio::join!(connect(PING_PORTS[0]), connect(PING_PORTS[1]), connect(PING_PORTS[2]));
            if [&got.0, &got.1, &got.2].iter().all(|a| matches!(a, Attempt::Silent)) {
                echo_stop.cancel();
            }
            got
        };
        let ((a, b, c), e) = tokio::join!(pings, echo);
        let mut starved = false;
        let mut up = false;
        for (got, port) in [a, b, c].into_iter().zip(PING_PORTS) {
            match got {
                Attempt::Answer { state, reason, rtt }
                    if matches!(state, PortState::Open | PortState::Closed) || reason == Reason::PortUnreach =>
                {
                    if !up {
                        ctx.hosts.answered(ip, None, reason, rtt, attempt);
                        up = true;
                    }
                    // The port scan takes these as its answers instead of connecting again.
                    let scanned = ctx.config.ports.as_ref().is_some_and(|p| p.contains(port));
                    if scanned && matches!(state, PortState::Open | PortState::Closed) {
                        ctx.hosts.keep_ping(ip, Ping { port, state, reason, rtt, attempt });
                    }
                }
                Attempt::Resource(_) => starved = true,
                _ => {}
            }
        }
        if up {
            return true;
        }
        if let Some(rtt) = e {
            ctx.hosts.answered(ip, None, Reason::EchoReply, rtt, attempt);
            return true;
        }
        if starved {
            // The kernel was out of sockets: this attempt proved nothing either way.
            attempt -= 1;
            if back_off(&ctx.counters.resource_waits, &ctx.cancel, &mut starved_since).await != Starved::Retry {
                return false;
            }
        }
    }
    false
}

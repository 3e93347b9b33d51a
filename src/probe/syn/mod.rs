//! SYN ("half-open") probes from raw sockets, replies validated without per-probe state.
//!
//! One try of a (host, port) is one SYN. The engine keeps everything else: its probe tasks,
//! congestion control, pilots and loss-aware verdicts call [`Transport::attempt`] where the
//! connect method calls `tcp::connect`, and get the same [`Attempt`] values back.
//!
//! - **Sending.** A raw TCP socket per family: the kernel builds the IP header and routes. The
//!   IPv4 TCP checksum covers a pseudo-header with the source address, which is what the routing
//!   table picks for the target (a connected UDP socket's `getsockname`, cached per host), or the
//!   user's `source=` (see `origin`: the send socket is then bound to it, and to `interface=`); over
//!   IPv6 the kernel computes the checksum itself (`IPV6_CHECKSUM`). Tries hand their SYN to one
//!   sender thread, which sends them in batches with `sendmmsg`.
//! - **Receiving.** Another raw TCP socket per family sees a copy of every TCP segment the host
//!   receives; a classic BPF filter keeps only SYN-ACKs and RSTs to our source ports. Raw ICMP
//!   sockets hear destination-unreachable errors, which quote our SYN. One receiver thread reads
//!   them with `recvmmsg` and wakes the waiting try through a sharded map of oneshot senders.
//! - **Stateless validation** (see [`cookie`]): a SYN's sequence number is a keyed SipHash of
//!   (target, port, our port) under a key drawn for each scan. A SYN-ACK or RST is accepted only
//!   if it acknowledges that number plus one, an ICMP error only if it quotes it; anything else
//!   that reaches our ports is dropped and counted (`Progress::spoofed`). Two SYN scans at once
//!   on one host (one network namespace) share the port range and each counts the other's
//!   replies there: harmless to the results, as each scan's key rejects the other's.
//! - **Source ports** come from a range outside the kernel's ephemeral one
//!   (`ip_local_port_range`), one per try in turn, so no connection of this host collides with
//!   a probe and a late reply to an earlier try is not taken for the current one's.
//! - **Never a handshake.** No socket of ours owns the probe's 4-tuple, so the kernel answers a
//!   SYN-ACK with a RST by itself (RFC 793: a segment for no connection gets a reset). That is
//!   the choice here, rather than sending our own RST: it costs nothing, frees the target's
//!   half-open slot at once, and it cannot be forgotten on any path (a cancelled scan, a late
//!   reply). Scanning from a host whose firewall drops outgoing RSTs leaves the target to time
//!   its half-open connection out, as nmap's SYN scan then does too.
//!
//! What the SYN method does not see that connect does: an ARP/ND failure is an error on a
//! connect socket (host-unreach), while for a raw SYN it is only heard if the kernel's own ICMP
//! host-unreachable reaches the ICMP socket; otherwise the port is silent (filtered, no-response).
//! Discovery pings keep using connect; `services=True` connects to the open ports found.
pub mod cookie;
mod dispatch;
mod io;
pub mod packet;

use super::errno::{self, Verdict};
use super::errqueue::Icmp;
use super::origin::Origin;
use super::tcp::{Attempt, Rto};
use crate::result::{PortState, Protocol, Reason};
use cookie::{Cookie, Ports};
use dispatch::{Reply, Waiters};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// While the timeout is only a guess, re-read it this often (as `tcp::connect` does).
const GUESS_SLICE: Duration = Duration::from_millis(50);

/// What the receiver thread shares with the tries.
pub(crate) struct Shared {
    cookie: Cookie,
    ports: Ports,
    waiters: Waiters,
    stop: AtomicBool,
    /// Replies to our ports that failed validation.
    spoofed: AtomicU64,
    /// Valid replies that came after their try had stopped waiting.
    late: AtomicU64,
    /// Times the receiver has read every reply socket dry: a try that times out waits for a
    /// sweep begun after its deadline, so a reply that came in time but was not read yet (the
    /// receiver thread descheduled on a busy machine) still counts.
    sweeps: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    fn on_tcp(&self, v6: bool, from: IpAddr, data: &[u8], at: std::time::Instant) {
        let seg = if v6 {
            packet::tcp(data)
        } else {
            packet::ipv4(data).filter(|(_, proto, _)| *proto == 6).and_then(|(_, _, p)| packet::tcp(p))
        };
        let Some(seg) = seg else { return };
        if !self.ports.contains(seg.dport) || !(seg.is_syn_ack() || seg.is_rst()) {
            return;
        }
        let acked = seg.flags & packet::ACK != 0 && self.cookie.acks(from, seg.sport, seg.dport, seg.ack);
        if !acked {
            self.spoofed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let reply = if seg.is_rst() { Reply::Rst(at) } else { Reply::SynAck(at) };
        if !self.waiters.wake(&(from, seg.sport, seg.dport), reply) {
            self.late.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn on_icmp(&self, v6: bool, data: &[u8], at: std::time::Instant) {
        let msg = if v6 {
            packet::icmp6(data)
        } else {
            packet::ipv4(data).filter(|(_, proto, _)| *proto == 1).and_then(|(_, _, p)| packet::icmp4(p))
        };
        let Some((kind, code, q)) = msg else { return };
        if !self.ports.contains(q.sport) {
            return;
        }
        if q.seq != self.cookie.seq(q.dst, q.dport, q.sport) {
            self.spoofed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if !self.waiters.wake(&(q.dst, q.dport, q.sport), Reply::Icmp(kind, code, at)) {
            self.late.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The SYN method's shared state for one scan: its raw sockets, threads and key.
pub struct Transport {
    shared: Arc<Shared>,
    out: mpsc::Sender<io::Out>,
    next_port: AtomicU32,
    /// IPv4 source address per target (the checksum needs it).
    sources: Mutex<HashMap<IpAddr, IpAddr>>,
    /// The user's source address and interface, if any.
    origin: Origin,
}

/// Whether this process may open raw sockets (root, or CAP_NET_RAW).
pub fn available() -> bool {
    socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::RAW, Some(socket2::Protocol::TCP)).is_ok()
}

impl Transport {
    /// Open the sockets (on `origin`'s interface and address, if given) and start the threads.
    /// Err(EPERM) without CAP_NET_RAW.
    pub fn open(origin: &Origin) -> std::io::Result<Transport> {
        let ports = Ports::of_this_host();
        let socks = io::Sockets::open(ports.first, ports.last(), origin)?;
        let shared = Arc::new(Shared {
            cookie: Cookie::random(),
            ports,
            waiters: Waiters::default(),
            stop: AtomicBool::new(false),
            spoofed: AtomicU64::new(0),
            late: AtomicU64::new(0),
            sweeps: tokio::sync::watch::Sender::new(0),
        });
        let (out, rx) = mpsc::channel();
        let io::Sockets { send4, send6, recv } = socks;
        let s = Arc::clone(&shared);
        std::thread::Builder::new().name("portlens-syn-tx".into()).spawn(move || io::sender(rx, send4, send6, s))?;
        let s = Arc::clone(&shared);
        let started = std::thread::Builder::new().name("portlens-syn-rx".into()).spawn(move || io::receiver(recv, s));
        if let Err(e) = started {
            shared.stop.store(true, Ordering::Relaxed);
            return Err(e);
        }
        Ok(Transport {
            shared,
            out,
            next_port: AtomicU32::new(rand::random()),
            sources: Mutex::default(),
            origin: origin.clone(),
        })
    }

    /// Replies to our ports dropped because they answer no probe of this scan.
    pub fn spoofed(&self) -> u64 {
        self.shared.spoofed.load(Ordering::Relaxed)
    }

    /// Stop the threads (within `IDLE`); tries still waiting get no more replies.
    pub fn close(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }

    fn source(&self, ip: IpAddr) -> std::io::Result<IpAddr> {
        if let Some(s) = self.sources.lock().unwrap_or_else(|e| e.into_inner()).get(&ip) {
            return Ok(*s);
        }
        let s = io::source_for(ip, &self.origin)?;
        self.sources.lock().unwrap_or_else(|e| e.into_inner()).insert(ip, s);
        Ok(s)
    }

    /// One SYN to `addr`, and its fate: as `tcp::connect`, but half-open.
    pub async fn attempt(&self, addr: SocketAddr, rto: &impl Rto, cancel: &CancellationToken) -> Attempt {
        let (ip, port) = (addr.ip(), addr.port());
        let src = if ip.is_ipv4() {
            match self.source(ip) {
                Ok(s) => Some(s),
                Err(e) => return super::tcp::local_error(e),
            }
        } else {
            None
        };
        let sport = self.shared.ports.nth(self.next_port.fetch_add(1, Ordering::Relaxed));
        let seq = self.shared.cookie.seq(ip, port, sport);
        let key = (ip, port, sport);
        let (tx, mut rx) = oneshot::channel();
        // Waiting before sending: a reply on loopback can beat the send call's return.
        self.shared.waiters.insert(key, tx);
        let pkt = packet::syn(src, ip, sport, port, seq);
        let (sent_tx, sent_rx) = oneshot::channel();
        if self.out.send(io::Out { dst: addr, pkt, key, sent: sent_tx }).is_err()
            || self.shared.stop.load(Ordering::Relaxed)
        {
            self.shared.waiters.remove(&key);
            return Attempt::Cancelled;
        }
        // The clock starts when the SYN leaves, not while it waits for the sender thread.
        let start = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                self.shared.waiters.remove(&key);
                return Attempt::Cancelled;
            }
            sent = sent_rx => match sent {
                Ok(at) => at,
                // Refused by the kernel: the reason is already in `rx` (`Reply::Local`).
                Err(_) => {
                    return match rx.try_recv() {
                        Ok(r) => self.verdict(r, std::time::Instant::now(), ip.is_ipv6()),
                        Err(_) => Attempt::Cancelled,
                    }
                }
            },
        };
        let t0 = tokio::time::Instant::from_std(start);
        let reply = loop {
            let (rto, measured) = rto.rto();
            let deadline = t0 + rto;
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return match self.last_look(&key, &mut rx, cancel).await {
                    Some(r) => self.verdict(r, start, ip.is_ipv6()),
                    None => Attempt::Silent,
                };
            }
            let wake = if measured { deadline } else { deadline.min(now + GUESS_SLICE) };
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    self.shared.waiters.remove(&key);
                    return Attempt::Cancelled;
                }
                r = &mut rx => match r {
                    Ok(r) => break r,
                    // The transport closed under us: the scan is ending.
                    Err(_) => return Attempt::Cancelled,
                },
                _ = tokio::time::sleep_until(wake) => {}
            }
        };
        self.verdict(reply, start, ip.is_ipv6())
    }

    /// At the deadline: the reply if the receiver, in a sweep begun after now, hands it over;
    /// else the waiter is removed and None.
    async fn last_look(
        &self,
        key: &dispatch::Key,
        rx: &mut oneshot::Receiver<Reply>,
        cancel: &CancellationToken,
    ) -> Option<Reply> {
        let mut sweeps = self.shared.sweeps.subscribe();
        // The sweep in progress may have read its socket before the reply came: wait for the next.
        let wanted = sweeps.borrow_and_update().wrapping_add(2);
        let got = loop {
            tokio::select! {
                biased;
                r = &mut *rx => break r.ok(),
                _ = cancel.cancelled() => break None,
                changed = sweeps.changed() => {
                    if changed.is_err() || *sweeps.borrow_and_update() >= wanted
                        || self.shared.stop.load(Ordering::Relaxed)
                    {
                        break rx.try_recv().ok();
                    }
                }
            }
        };
        if got.is_none() {
            self.shared.waiters.remove(key);
        }
        got
    }

    fn verdict(&self, reply: Reply, start: std::time::Instant, v6: bool) -> Attempt {
        let answer = |state, reason, at: std::time::Instant| Attempt::Answer {
            state,
            reason,
            rtt: at.saturating_duration_since(start),
        };
        match reply {
            Reply::SynAck(at) => answer(PortState::Open, Reason::SynAck, at),
            Reply::Rst(at) => answer(PortState::Closed, Reason::Reset, at),
            Reply::Icmp(kind, code, at) => answer(PortState::Filtered, Icmp { kind, code }.reason(v6), at),
            Reply::Local(code) => match errno::classify(Protocol::Tcp, Some(code), None, v6) {
                Verdict::Answer(state, reason) => Attempt::Answer { state, reason, rtt: start.elapsed() },
                Verdict::Silent => Attempt::Silent,
                Verdict::Resource => Attempt::Resource(std::io::Error::from_raw_os_error(code)),
            },
        }
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests;

//! ICMP and ICMPv6 echo for host discovery, when the process may: one shared raw socket per
//! family as root (replies matched by identifier, sequence and source), or otherwise a ping
//! socket per probe where `net.ipv4.ping_group_range` allows it. Neither: no ICMP, TCP pings only.
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

type Waiters = Arc<Mutex<HashMap<(IpAddr, u16), oneshot::Sender<Instant>>>>;
type Late = Arc<Mutex<HashSet<IpAddr>>>;

/// Echo replies that came after their waiter gave up, remembered up to this many sources.
const LATE_CAP: usize = 1 << 20;

pub enum Pinger {
    Raw {
        v4: Option<Arc<AsyncFd<Socket>>>,
        v6: Option<Arc<AsyncFd<Socket>>>,
        id: u16,
        seq: AtomicU16,
        waiters: Waiters,
        late: Late,
    },
    Datagram,
}

fn raw(domain: Domain, proto: Protocol) -> Option<Arc<AsyncFd<Socket>>> {
    let s = Socket::new(domain, Type::RAW.nonblocking(), Some(proto)).ok()?;
    // SAFETY: the Socket owns its fd for the AsyncFd's whole life.
    unsafe { AsyncFd::register_with_interest(s, Interest::READABLE) }.ok().map(Arc::new)
}

fn datagram(v6: bool) -> std::io::Result<Socket> {
    let (domain, proto) = if v6 { (Domain::IPV6, Protocol::ICMPV6) } else { (Domain::IPV4, Protocol::ICMPV4) };
    Socket::new(domain, Type::DGRAM.nonblocking(), Some(proto))
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"portlens-echo\0\0\0");
    if !v6 {
        // the kernel fills in the ICMPv6 checksum (it covers a pseudo-header); ICMPv4's is ours
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

impl Pinger {
    /// The best echo mechanism this process has, or None. Starts the raw receivers on the
    /// current runtime; they stop with `stop`.
    pub fn new(stop: &CancellationToken) -> Option<Arc<Pinger>> {
        let v4 = raw(Domain::IPV4, Protocol::ICMPV4);
        let v6 = raw(Domain::IPV6, Protocol::ICMPV6);
        if v4.is_some() || v6.is_some() {
            let waiters: Waiters = Arc::default();
            let late: Late = Arc::default();
            let id = rand::random::<u16>();
            for (sock, is_v6) in [(&v4, false), (&v6, true)] {
                if let Some(sock) = sock {
                    let (w, l) = (Arc::clone(&waiters), Arc::clone(&late));
                    tokio::spawn(receive(Arc::clone(sock), is_v6, id, w, l, stop.clone()));
                }
            }
            return Some(Arc::new(Pinger::Raw { v4, v6, id, seq: AtomicU16::new(0), waiters, late }));
        }
        datagram(false).ok().map(|_| Arc::new(Pinger::Datagram))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Pinger::Raw { .. } => "raw",
            Pinger::Datagram => "ping-socket",
        }
    }

    /// Whether an echo reply from `ip` arrived after its probe had stopped waiting (a slow host,
    /// or a loaded scanner): it still proves the host is up.
    pub fn replied_late(&self, ip: IpAddr) -> bool {
        match self {
            Pinger::Raw { late, .. } => late.lock().unwrap_or_else(|e| e.into_inner()).contains(&ip),
            Pinger::Datagram => false,
        }
    }

    /// Send one echo request; the round-trip time of the reply, or None.
    pub async fn ping(&self, ip: IpAddr, timeout: Duration, cancel: &CancellationToken) -> Option<Duration> {
        match self {
            Pinger::Raw { v4, v6, id, seq, waiters, .. } => {
                let sock = if ip.is_ipv6() { v6.as_ref()? } else { v4.as_ref()? };
                let seq = seq.fetch_add(1, Ordering::Relaxed);
                let (tx, rx) = oneshot::channel();
                waiters.lock().unwrap_or_else(|e| e.into_inner()).insert((ip, seq), tx);
                let start = Instant::now();
                let sent = sock
                    .get_ref()
                    .send_to(&echo_request(ip.is_ipv6(), *id, seq), &SockAddr::from(SocketAddr::new(ip, 0)));
                let got = if sent.is_ok() {
                    tokio::select! {
                        _ = cancel.cancelled() => None,
                        r = tokio::time::timeout(timeout, rx) => r.ok().and_then(Result::ok),
                    }
                } else {
                    None
                };
                waiters.lock().unwrap_or_else(|e| e.into_inner()).remove(&(ip, seq));
                got.map(|at| at.saturating_duration_since(start))
            }
            Pinger::Datagram => ping_datagram(ip, timeout, cancel).await,
        }
    }
}

async fn ping_datagram(ip: IpAddr, timeout: Duration, cancel: &CancellationToken) -> Option<Duration> {
    let sock = datagram(ip.is_ipv6()).ok()?;
    sock.connect(&SockAddr::from(SocketAddr::new(ip, 0))).ok()?;
    // the kernel sets the identifier of a ping socket; the sequence is ours
    let start = Instant::now();
    sock.send(&echo_request(ip.is_ipv6(), 0, 1)).ok()?;
    // SAFETY: the Socket owns its fd for the AsyncFd's whole life.
    let afd = unsafe { AsyncFd::register_with_interest(sock, Interest::READABLE) }.ok()?;
    let wait = async {
        loop {
            let mut guard = afd.readable().await.ok()?;
            let mut buf = [0u8; 128];
            // SAFETY: recv into our own buffer.
            let n = unsafe {
                libc::recv(afd.get_ref().as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT)
            };
            if n > 0 && (buf[0] == 0 || buf[0] == 129) {
                return Some(start.elapsed());
            }
            if n < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN) {
                return None;
            }
            guard.clear_ready();
        }
    };
    tokio::select! {
        _ = cancel.cancelled() => None,
        r = tokio::time::timeout(timeout, wait) => r.ok().flatten(),
    }
}

/// Read every ICMP message the raw socket gets and wake the matching waiter.
async fn receive(sock: Arc<AsyncFd<Socket>>, v6: bool, id: u16, waiters: Waiters, late: Late, stop: CancellationToken) {
    let mut buf = [0u8; 1500];
    loop {
        let mut guard = tokio::select! {
            _ = stop.cancelled() => return,
            g = sock.readable() => match g { Ok(g) => g, Err(_) => return },
        };
        loop {
            let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            // SAFETY: recvfrom into our own buffers, sizes given.
            let n = unsafe {
                libc::recvfrom(
                    sock.get_ref().as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&mut from as *mut libc::sockaddr_storage).cast(),
                    &mut len,
                )
            };
            if n < 0 {
                break;
            }
            let now = Instant::now();
            let data = &buf[..n as usize];
            // ICMPv4 raw sockets deliver the IP header too; ICMPv6 ones do not.
            let icmp = if v6 { Some(data) } else { data.first().and_then(|b| data.get(usize::from(b & 0x0f) * 4..)) };
            let Some(icmp) = icmp else { continue };
            let reply_type = if v6 { 129 } else { 0 };
            if icmp.len() < 8 || icmp[0] != reply_type || u16::from_be_bytes([icmp[4], icmp[5]]) != id {
                continue;
            }
            let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
            let Some(src) = source_ip(&from) else { continue };
            let waiter = waiters.lock().unwrap_or_else(|e| e.into_inner()).remove(&(src, seq));
            match waiter {
                Some(tx) => {
                    let _ = tx.send(now);
                }
                None => {
                    let mut late = late.lock().unwrap_or_else(|e| e.into_inner());
                    if late.len() < LATE_CAP {
                        late.insert(src);
                    }
                }
            }
        }
        guard.clear_ready();
    }
}

pub(crate) fn source_ip(from: &libc::sockaddr_storage) -> Option<IpAddr> {
    match i32::from(from.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(from as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(IpAddr::from(u32::from_be(sin.sin_addr.s_addr).to_be_bytes()))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(from as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(IpAddr::from(sin6.sin6_addr.s6_addr))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_checksum_verifies() {
        let p = echo_request(false, 0x1234, 7);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
    }

    #[tokio::test]
    async fn loopback_answers_echo_when_allowed() {
        crate::engine::tests::assert_private_namespace();
        let stop = CancellationToken::new();
        // Root (CI) gets raw sockets; elsewhere there may be no ICMP at all, which is a valid outcome.
        if let Some(p) = Pinger::new(&stop) {
            let rtt = p.ping("127.0.0.1".parse().unwrap(), Duration::from_secs(1), &stop).await;
            assert!(rtt.is_some(), "no echo reply from loopback with {}", p.kind());
        } else {
            assert_ne!(unsafe { libc::geteuid() }, 0, "root must get a raw socket");
        }
        stop.cancel();
    }
}

//! One UDP probe: a connected socket sends a payload and waits for a datagram or an ICMP error.
//! A connected UDP socket with IP_RECVERR hears ICMP errors without root.
use super::errno::{self, Verdict};
use super::errqueue::{enable_recverr, icmp_error};
use super::tcp::Rto;
use crate::result::{PortState, Reason};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Bytes of a reply kept for parsing; the rest is dropped.
pub const REPLY_CAP: usize = 2048;

#[derive(Debug)]
pub enum UdpAttempt {
    Reply {
        data: Vec<u8>,
        rtt: Duration,
    },
    /// An ICMP error came back: closed (port unreachable) or filtered (the others).
    Icmp {
        state: PortState,
        reason: Reason,
        rtt: Duration,
    },
    Silent,
    Resource(io::Error),
    Cancelled,
}

pub async fn probe(addr: SocketAddr, payload: &[u8], rto: &impl Rto, cancel: &CancellationToken) -> UdpAttempt {
    probe_all(addr, &[payload], rto, cancel).await
}

/// Send every datagram of `payloads` from one socket, in order, and wait for the first reply (or
/// ICMP error) to any of them.
pub async fn probe_all(addr: SocketAddr, payloads: &[&[u8]], rto: &impl Rto, cancel: &CancellationToken) -> UdpAttempt {
    let v6 = addr.is_ipv6();
    let sock = match Socket::new(Domain::for_address(addr), Type::DGRAM.nonblocking(), Some(Protocol::UDP)) {
        Ok(s) => s,
        Err(e) => return local(e),
    };
    enable_recverr(&sock, v6);
    // Not connected: some servers answer from another port (TFTP does, by design), and a connected
    // socket would drop that reply. Replies are matched by the target's address instead.
    let start = Instant::now();
    for payload in payloads {
        if let Err(e) = sock.send_to(payload, &SockAddr::from(addr)) {
            return classify_error(&sock, e, start.elapsed(), v6);
        }
    }
    let mut buf = vec![0u8; REPLY_CAP];
    // The answer (often an ICMP error) may already be there: one recv saves an epoll registration.
    if let Some(done) = try_recv(&sock, &mut buf, addr, start, v6) {
        return done;
    }
    // SAFETY: the Socket owns its fd, which stays open and the same until the AsyncFd is dropped.
    let afd = match unsafe { AsyncFd::register_with_interest(sock, Interest::READABLE | Interest::ERROR) } {
        Ok(a) => a,
        Err(e) => return local(e.into()),
    };
    loop {
        let (rto, measured) = rto.rto();
        let deadline = start + rto;
        let now = Instant::now();
        if now >= deadline {
            return UdpAttempt::Silent;
        }
        let wake = if measured { deadline } else { deadline.min(now + Duration::from_millis(50)) };
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return UdpAttempt::Cancelled,
            ready = afd.ready(Interest::READABLE | Interest::ERROR) => {
                let mut guard = match ready {
                    Ok(g) => g,
                    Err(e) => return local(e),
                };
                match try_recv(afd.get_ref(), &mut buf, addr, start, v6) {
                    Some(done) => return done,
                    None => guard.clear_ready(),
                }
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// A datagram from the target or an error if one is waiting; None when nothing (more) is there.
fn try_recv(sock: &Socket, buf: &mut [u8], target: SocketAddr, start: Instant, v6: bool) -> Option<UdpAttempt> {
    // Bounded: datagrams from other addresses are dropped, a flood of them cannot keep us here.
    for _ in 0..64 {
        let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: recvfrom into our own initialised buffers, sizes given.
        let n = unsafe {
            libc::recvfrom(
                std::os::fd::AsRawFd::as_raw_fd(sock),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
                (&mut from as *mut libc::sockaddr_storage).cast(),
                &mut len,
            )
        };
        if n >= 0 {
            if super::icmp::source_ip(&from) != Some(target.ip()) {
                continue;
            }
            let n = n as usize;
            return Some(UdpAttempt::Reply { data: buf[..n.min(buf.len())].to_vec(), rtt: start.elapsed() });
        }
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN) => None,
            _ => Some(classify_error(sock, e, start.elapsed(), v6)),
        };
    }
    None
}

fn classify_error(sock: &Socket, e: io::Error, rtt: Duration, v6: bool) -> UdpAttempt {
    let verdict = errno::classify(crate::result::Protocol::Udp, e.raw_os_error(), icmp_error(sock), v6);
    attempt(verdict, e, rtt)
}

fn local(e: io::Error) -> UdpAttempt {
    let verdict = errno::local(e.raw_os_error());
    attempt(verdict, e, Duration::ZERO)
}

fn attempt(verdict: Verdict, e: io::Error, rtt: Duration) -> UdpAttempt {
    match verdict {
        Verdict::Answer(state, reason) => UdpAttempt::Icmp { state, reason, rtt },
        Verdict::Silent => UdpAttempt::Silent,
        Verdict::Resource => UdpAttempt::Resource(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    fn fixed(ms: u64) -> impl Rto {
        move || (Duration::from_millis(ms), true)
    }

    #[tokio::test]
    async fn reply_closed_and_silent_on_loopback() {
        crate::engine::tests::assert_private_namespace();
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let echo = std::thread::spawn(move || {
            let mut b = [0u8; 64];
            let (n, from) = server.recv_from(&mut b).unwrap();
            server.send_to(&b[..n], from).unwrap();
            server
        });
        let cancel = CancellationToken::new();
        match probe(addr, b"ping", &fixed(1000), &cancel).await {
            UdpAttempt::Reply { data, .. } => assert_eq!(data, b"ping"),
            other => panic!("expected a reply, got {other:?}"),
        }
        // a socket that receives but never answers: silence
        let quiet = echo.join().unwrap();
        assert!(matches!(probe(addr, b"x", &fixed(100), &cancel).await, UdpAttempt::Silent));
        drop(quiet);
        match probe(addr, b"x", &fixed(1000), &cancel).await {
            UdpAttempt::Icmp { state, reason, .. } => {
                assert_eq!((state, reason), (PortState::Closed, Reason::PortUnreach))
            }
            other => panic!("expected port unreachable, got {other:?}"),
        }
    }
}

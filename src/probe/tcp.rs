//! A TCP connect attempt with ICMP-aware classification.
//!
//! `connect()` reports a RST and an ICMP port-unreachable alike as ECONNREFUSED. With IP_RECVERR
//! the kernel also queues the ICMP message on the socket's error queue, so a firewall's reject
//! (filtered, as nmap calls it) is told apart from a closed port's RST.
use super::errno::{self, Verdict};
use super::errqueue::{enable_recverr, icmp_error};
use super::origin::Origin;
use crate::result::{PortState, Reason};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// While the timeout is only a guess (nothing measured yet), re-read it this often so that probes
/// sent early benefit from the first measurements.
const GUESS_SLICE: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub enum Attempt {
    Answer {
        state: PortState,
        reason: Reason,
        rtt: Duration,
    },
    /// Nothing came back before the timeout.
    Silent,
    /// The local kernel refused a resource (fds, ports, buffers): not an answer, try again later.
    Resource(io::Error),
    Cancelled,
}

/// The current timeout and whether it rests on measurements.
pub trait Rto {
    fn rto(&self) -> (Duration, bool);
}

impl<F: Fn() -> (Duration, bool)> Rto for F {
    fn rto(&self) -> (Duration, bool) {
        self()
    }
}

pub async fn connect(addr: SocketAddr, rto: &impl Rto, cancel: &CancellationToken) -> Attempt {
    connect_from(addr, &Origin::default(), rto, cancel).await
}

/// `connect`, from the user's source address and interface (see `origin`).
pub async fn connect_from(addr: SocketAddr, origin: &Origin, rto: &impl Rto, cancel: &CancellationToken) -> Attempt {
    let sock = match Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking(), Some(Protocol::TCP)) {
        Ok(s) => s,
        Err(e) => return local_error(e),
    };
    if let Err(e) = origin.bind_connect(&sock, addr.is_ipv6()) {
        return local_error(e);
    }
    enable_recverr(&sock, addr.is_ipv6());
    let start = Instant::now();
    match sock.connect(&SockAddr::from(addr)) {
        Ok(()) => return opened(sock, start.elapsed()),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return refused(&sock, e, start.elapsed(), addr.is_ipv6()),
    }
    // On a fast path the answer (often a RST) is processed before connect() returns: one
    // getsockopt then saves registering with epoll, a wake-up and a timer.
    if let Ok(Some(e)) = sock.take_error() {
        return refused(&sock, e, start.elapsed(), addr.is_ipv6());
    }
    // SAFETY: the Socket owns its fd, which stays open and the same until into_inner or drop.
    let afd = match unsafe { AsyncFd::register_with_interest(sock, Interest::WRITABLE) } {
        Ok(a) => a,
        Err(e) => return local_error(e.into()),
    };
    loop {
        let (rto, measured) = rto.rto();
        let deadline = start + rto;
        let now = Instant::now();
        if now >= deadline {
            return Attempt::Silent;
        }
        let wake = if measured { deadline } else { deadline.min(now + GUESS_SLICE) };
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Attempt::Cancelled,
            ready = afd.writable() => {
                let rtt = start.elapsed();
                if let Err(e) = ready {
                    return local_error(e);
                }
                let sock = afd.into_inner();
                return match sock.take_error() {
                    Ok(None) => opened(sock, rtt),
                    Ok(Some(e)) | Err(e) => refused(&sock, e, rtt, addr.is_ipv6()),
                };
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

fn opened(sock: Socket, rtt: Duration) -> Attempt {
    // Close with a RST: no TIME_WAIT left behind for each open port found.
    let _ = sock.set_linger(Some(Duration::ZERO));
    Attempt::Answer { state: PortState::Open, reason: Reason::SynAck, rtt }
}

pub(crate) fn local_error(e: io::Error) -> Attempt {
    let verdict = errno::local(e.raw_os_error());
    attempt(verdict, e, Duration::ZERO)
}

fn refused(sock: &Socket, e: io::Error, rtt: Duration, v6: bool) -> Attempt {
    let verdict = errno::classify(crate::result::Protocol::Tcp, e.raw_os_error(), icmp_error(sock), v6);
    attempt(verdict, e, rtt)
}

fn attempt(verdict: Verdict, e: io::Error, rtt: Duration) -> Attempt {
    match verdict {
        Verdict::Answer(state, reason) => Attempt::Answer { state, reason, rtt },
        Verdict::Silent => Attempt::Silent,
        Verdict::Resource => Attempt::Resource(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener};

    fn fixed(ms: u64) -> impl Rto {
        move || (Duration::from_millis(ms), true)
    }

    // These tests use the loopback of whatever namespace runs `cargo test`; the lab tests in
    // Python cover real links. They only connect to listeners they create themselves.
    #[tokio::test]
    async fn open_and_closed_on_loopback() {
        crate::engine::tests::assert_private_namespace();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let open = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        match connect(open, &fixed(1000), &cancel).await {
            Attempt::Answer { state, reason, .. } => {
                assert_eq!((state, reason), (PortState::Open, Reason::SynAck));
            }
            other => panic!("expected open, got {other:?}"),
        }
        drop(listener);
        match connect(open, &fixed(1000), &cancel).await {
            Attempt::Answer { state, reason, .. } => {
                assert_eq!((state, reason), (PortState::Closed, Reason::ConnRefused));
            }
            other => panic!("expected closed, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn cancellation_ends_a_waiting_probe() {
        // 198.18.255.254 is a lab address nobody configures here: with no route the kernel
        // answers ENETUNREACH at once, otherwise the SYN goes nowhere and the token must end it.
        let addr: SocketAddr = "198.18.255.254:9".parse().unwrap();
        let cancel = CancellationToken::new();
        cancel.cancel();
        let got = connect(addr, &fixed(10_000), &cancel).await;
        assert!(matches!(got, Attempt::Cancelled | Attempt::Answer { state: PortState::Filtered, .. }), "{got:?}");
    }
}

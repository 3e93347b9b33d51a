//! A TCP connect attempt with ICMP-aware classification.
//!
//! `connect()` reports a RST and an ICMP port-unreachable alike as ECONNREFUSED. With IP_RECVERR
//! the kernel also queues the ICMP message on the socket's error queue, so a firewall's reject
//! (filtered, as nmap calls it) is told apart from a closed port's RST.
use crate::result::{PortState, Reason};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
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
    let sock = match Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking(), Some(Protocol::TCP)) {
        Ok(s) => s,
        Err(e) => return local_error(e),
    };
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

fn is_resource(code: i32) -> bool {
    matches!(code, libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EADDRNOTAVAIL | libc::EAGAIN)
}

fn local_error(e: io::Error) -> Attempt {
    match e.raw_os_error() {
        Some(code) if is_resource(code) => Attempt::Resource(e),
        _ => Attempt::Answer { state: PortState::Filtered, reason: Reason::Error, rtt: Duration::ZERO },
    }
}

fn refused(sock: &Socket, e: io::Error, rtt: Duration, v6: bool) -> Attempt {
    let Some(code) = e.raw_os_error() else {
        return local_error(e);
    };
    let (state, reason) = match code {
        libc::ECONNREFUSED => match icmp_error(sock) {
            Some(icmp) => (PortState::Filtered, icmp.reason(v6)),
            None => (PortState::Closed, Reason::ConnRefused),
        },
        // The handshake completed, then the peer reset: something is listening.
        libc::ECONNRESET | libc::EPIPE => (PortState::Open, Reason::SynAckReset),
        libc::EHOSTUNREACH | libc::EHOSTDOWN => {
            (PortState::Filtered, icmp_error(sock).map_or(Reason::HostUnreach, |i| i.reason(v6)))
        }
        libc::ENETUNREACH => (PortState::Filtered, Reason::NetUnreach),
        libc::EACCES | libc::EPERM => (PortState::Filtered, Reason::AdminProhibited),
        libc::ETIMEDOUT => return Attempt::Silent,
        c if is_resource(c) => return Attempt::Resource(e),
        _ => (PortState::Filtered, Reason::Error),
    };
    Attempt::Answer { state, reason, rtt }
}

fn enable_recverr(sock: &Socket, v6: bool) {
    let (level, name) = if v6 { (libc::SOL_IPV6, libc::IPV6_RECVERR) } else { (libc::SOL_IP, libc::IP_RECVERR) };
    let one: libc::c_int = 1;
    // SAFETY: a plain int option on a socket we own.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Icmp {
    kind: u8,
    code: u8,
}

impl Icmp {
    fn reason(self, v6: bool) -> Reason {
        if v6 {
            // ICMPv6 destination unreachable (type 1): 1 admin prohibited, 3 address, 4 port.
            match (self.kind, self.code) {
                (1, 4) => Reason::PortUnreach,
                (1, 1) | (1, 5) | (1, 6) => Reason::AdminProhibited,
                (1, 0) => Reason::NetUnreach,
                _ => Reason::HostUnreach,
            }
        } else {
            // ICMP destination unreachable (type 3): 3 port, 9/10/13 administratively prohibited.
            match (self.kind, self.code) {
                (3, 3) => Reason::PortUnreach,
                (3, 9) | (3, 10) | (3, 13) => Reason::AdminProhibited,
                (3, 0) | (3, 6) | (3, 11) => Reason::NetUnreach,
                _ => Reason::HostUnreach,
            }
        }
    }
}

/// The ICMP message queued on the socket's error queue, if any (needs IP_RECVERR).
fn icmp_error(sock: &Socket) -> Option<Icmp> {
    const ORIGIN_ICMP: u8 = 2;
    const ORIGIN_ICMP6: u8 = 3;
    let mut data = [0u8; 64];
    let mut cbuf = [0u64; 64];
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
    // SAFETY: msghdr points at buffers that live for the call; we only read what the kernel wrote.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT);
        if n < 0 {
            return None;
        }
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            let ours = (c.cmsg_level == libc::SOL_IP && c.cmsg_type == libc::IP_RECVERR)
                || (c.cmsg_level == libc::SOL_IPV6 && c.cmsg_type == libc::IPV6_RECVERR);
            let len = c.cmsg_len as usize;
            let header = libc::CMSG_LEN(0) as usize;
            if ours && len >= header + 8 {
                // struct sock_extended_err { u32 ee_errno; u8 ee_origin; u8 ee_type; u8 ee_code; ... }
                let p = libc::CMSG_DATA(cmsg);
                let origin = *p.add(4);
                if origin == ORIGIN_ICMP || origin == ORIGIN_ICMP6 {
                    return Some(Icmp { kind: *p.add(5), code: *p.add(6) });
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    None
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

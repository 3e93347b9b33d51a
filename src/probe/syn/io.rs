//! The raw sockets: one per family to send (the kernel builds the IP header and routes), one per
//! family to read TCP replies through a BPF filter, one per family for ICMP errors; a sender
//! thread that batches SYNs with `sendmmsg`, and a receiver thread that reads with `recvmmsg`.
use super::dispatch::{Key, Reply, Waiters};
use super::packet::{self, SYN_LEN};
use super::Shared;
use crate::probe::origin::Origin;
use crate::probe::sockopt;
use socket2::{Domain, Protocol, SockAddr, SockFilter, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// SYNs per `sendmmsg`, and replies per `recvmmsg`.
const BATCH: usize = 64;
/// Bytes kept of a received packet: an IPv4 header with options, an ICMP header and the quoted
/// IP header with options and 8 bytes of TCP fit in it.
const SNAP: usize = 256;
/// How often the threads look at the stop flag when idle.
const IDLE: Duration = Duration::from_millis(50);
/// The receiver's pause after a sweep that read replies (see `receiver`).
const NAP: Duration = Duration::from_micros(200);

/// One SYN to send.
pub struct Out {
    pub dst: SocketAddr,
    pub pkt: [u8; SYN_LEN],
    pub key: Key,
    /// Told when the SYN left (dropped unsent when the kernel refused it).
    pub sent: tokio::sync::oneshot::Sender<Instant>,
}

pub struct Sockets {
    pub send4: Option<Socket>,
    pub send6: Option<Socket>,
    /// Receivers: (socket, IPv6?, ICMP?).
    pub recv: Vec<(Socket, bool, bool)>,
}

fn raw(domain: Domain, proto: Protocol) -> io::Result<Socket> {
    Socket::new(domain, Type::RAW, Some(proto))
}

const LD_H_IND: u16 = 0x48;
const LD_B_IND: u16 = 0x50;
const LDX_B_MSH: u16 = 0xb1;
const LDX_IMM: u16 = 0x01;
const JGE_K: u16 = 0x35;
const JGT_K: u16 = 0x25;
const JSET_K: u16 = 0x45;
const JEQ_K: u16 = 0x15;
const AND_K: u16 = 0x54;
const RET_K: u16 = 0x06;

/// Keep only segments to our port range with RST, or SYN and ACK, set: a busy host's other TCP
/// traffic never reaches user space. An IPv4 raw socket's filter sees the IP header (X = its
/// length), an IPv6 one's sees the TCP header (X = 0).
fn reply_filter(v6: bool, first: u16, last: u16) -> [SockFilter; 10] {
    let f = SockFilter::new;
    [
        if v6 { f(LDX_IMM, 0, 0, 0) } else { f(LDX_B_MSH, 0, 0, 0) },
        f(LD_H_IND, 0, 0, 2),                    // destination port
        f(JGE_K, 0, 6, u32::from(first)),        // below the range: drop
        f(JGT_K, 5, 0, u32::from(last)),         // above: drop
        f(LD_B_IND, 0, 0, 13),                   // flags
        f(JSET_K, 2, 0, u32::from(packet::RST)), // RST: keep
        f(AND_K, 0, 0, u32::from(packet::SYN | packet::ACK)),
        f(JEQ_K, 0, 1, u32::from(packet::SYN | packet::ACK)),
        f(RET_K, 0, 0, SNAP as u32),
        f(RET_K, 0, 0, 0),
    ]
}

/// Bytes of receive buffer asked for on the reply sockets.
const RECV_BUFFER: libc::c_int = 32 << 20;

/// Set the receive buffer to `bytes`: beyond `net.core.rmem_max` with CAP_NET_ADMIN
/// (SO_RCVBUFFORCE), else as far as that ceiling allows.
fn recv_buffer(sock: &Socket, bytes: libc::c_int) {
    if sockopt::set_int(sock, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, bytes).is_err() {
        let _ = sock.set_recv_buffer_size(bytes as usize);
    }
}

impl Sockets {
    /// The raw sockets of both families. Err (EPERM without CAP_NET_RAW) when IPv4's cannot be
    /// opened; IPv6's are optional (a kernel without IPv6).
    ///
    /// With `origin.interface`, every socket is bound to that device: SYNs leave by it whatever the
    /// routes say, and only replies that come in by it are read. With `origin.source`, the send
    /// socket of its family is bound to it, so the kernel writes it as the IP source (the IPv4
    /// checksum is computed with it: see `Transport::source`).
    pub fn open(first: u16, last: u16, origin: &Origin) -> io::Result<Sockets> {
        let send4 = raw(Domain::IPV4, Protocol::TCP)?;
        let send6 = raw(Domain::IPV6, Protocol::TCP).ok();
        for s in std::iter::once(&send4).chain(&send6) {
            origin.bind_device(s)?;
        }
        if let Some(src) = origin.source {
            let sock = if src.is_ipv6() { send6.as_ref() } else { Some(&send4) };
            if let Some(s) = sock {
                s.bind(&SockAddr::from(SocketAddr::new(src, 0)))?;
            }
        }
        // The send sockets would also get a copy of every TCP segment the host receives: a
        // filter that keeps nothing spares the kernel the copies.
        let nothing = [SockFilter::new(RET_K, 0, 0, 0)];
        send4.attach_filter(&nothing)?;
        if let Some(s) = &send6 {
            s.attach_filter(&nothing)?;
            // The kernel fills in the TCP checksum (at byte 16) with the source it picks.
            sockopt::set_int(s, libc::IPPROTO_IPV6, libc::IPV6_CHECKSUM, 16)?;
        }
        let mut recv = Vec::new();
        for v6 in [false, true] {
            let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
            let Ok(tcp) = raw(domain, Protocol::TCP) else { continue };
            origin.bind_device(&tcp)?;
            tcp.attach_filter(&reply_filter(v6, first, last))?;
            // Replies come in bursts at scan rates (a closed port's RST is as fast as the SYN
            // that asked for it), and one lost in a full buffer becomes a retry, or a filtered
            // port if its retry is lost too: a large buffer rides them out.
            recv_buffer(&tcp, RECV_BUFFER);
            tcp.set_nonblocking(true)?;
            recv.push((tcp, v6, false));
            let icmp = if v6 { Protocol::ICMPV6 } else { Protocol::ICMPV4 };
            if let Ok(s) = raw(domain, icmp) {
                origin.bind_device(&s)?;
                recv_buffer(&s, RECV_BUFFER / 8);
                s.set_nonblocking(true)?;
                recv.push((s, v6, true));
            }
        }
        Ok(Sockets { send4: Some(send4), send6, recv })
    }
}

/// The sender thread: SYNs from `rx` in batches until the transport stops or is dropped. A SYN
/// the kernel refuses is answered to its try as `Reply::Local(errno)`.
pub fn sender(rx: mpsc::Receiver<Out>, send4: Option<Socket>, send6: Option<Socket>, shared: Arc<Shared>) {
    let mut batch: Vec<Out> = Vec::with_capacity(BATCH);
    let (mut v4, mut v6): (Vec<Out>, Vec<Out>) = (Vec::new(), Vec::new());
    while !shared.stop.load(Ordering::Relaxed) {
        match rx.recv_timeout(IDLE) {
            Ok(o) => batch.push(o),
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(o) => batch.push(o),
                Err(_) => break,
            }
        }
        for o in batch.drain(..) {
            if o.dst.is_ipv6() {
                v6.push(o)
            } else {
                v4.push(o)
            }
        }
        for (sock, outs) in [(&send4, &mut v4), (&send6, &mut v6)] {
            if outs.is_empty() {
                continue;
            }
            match sock {
                Some(s) => send_all(s, outs, &shared.waiters),
                // The reply first, then `sent` dropped: the try then finds the reason waiting.
                None => outs.drain(..).for_each(|o| {
                    shared.waiters.wake(&o.key, Reply::Local(libc::EAFNOSUPPORT));
                }),
            }
        }
    }
}

/// Send every SYN of `outs` (which it empties) with as few `sendmmsg` calls as the kernel allows,
/// telling each try when its SYN left, or why it could not.
fn send_all(sock: &Socket, outs: &mut Vec<Out>, waiters: &Waiters) {
    let pkts: Vec<[u8; SYN_LEN]> = outs.iter().map(|o| o.pkt).collect();
    // Raw sockets take the destination with port 0 (IPv6 refuses any port but 0 or the protocol).
    let addrs: Vec<SockAddr> = outs.iter().map(|o| SockAddr::from(SocketAddr::new(o.dst.ip(), 0))).collect();
    let mut tries = outs.drain(..).map(|o| (o.key, o.sent));
    let mut iovs: Vec<libc::iovec> =
        pkts.iter().map(|p| libc::iovec { iov_base: p.as_ptr() as *mut libc::c_void, iov_len: SYN_LEN }).collect();
    let mut msgs: Vec<libc::mmsghdr> = (0..pkts.len())
        .map(|i| {
            // SAFETY: an all-zero msghdr is a valid empty one; the fields set point at `addrs`,
            // `iovs` and (through them) `pkts`, which outlive every sendmmsg below unmoved.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_name = addrs[i].as_ptr() as *mut libc::c_void;
            h.msg_hdr.msg_namelen = addrs[i].len();
            h.msg_hdr.msg_iov = &mut iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect();
    let mut at = 0;
    while at < msgs.len() {
        // SAFETY: `msgs[at..]` are valid mmsghdrs (see above); the count is their number.
        let n =
            unsafe { libc::sendmmsg(sock.as_raw_fd(), msgs[at..].as_mut_ptr(), (msgs.len() - at) as libc::c_uint, 0) };
        if n > 0 {
            let now = Instant::now();
            for (_, sent) in tries.by_ref().take(n as usize) {
                let _ = sent.send(now);
            }
            at += n as usize;
            continue;
        }
        let err = io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
        if err == libc::EINTR {
            continue;
        }
        // The first unsent message is the one refused: its try hears why (then its `sent` is
        // dropped), the rest go on.
        if let Some((key, _sent)) = tries.next() {
            waiters.wake(&key, Reply::Local(err));
        }
        at += 1;
    }
}

/// The receiver thread: reads every reply socket until the transport stops.
pub fn receiver(socks: Vec<(Socket, bool, bool)>, shared: Arc<Shared>) {
    let mut fds: Vec<libc::pollfd> =
        socks.iter().map(|(s, _, _)| libc::pollfd { fd: s.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
    let mut bufs = vec![[0u8; SNAP]; BATCH];
    // SAFETY (zeroed): sockaddr_storage is plain data; all-zero is a valid (empty) value.
    let mut names: Vec<libc::sockaddr_storage> = vec![unsafe { std::mem::zeroed() }; BATCH];
    while !shared.stop.load(Ordering::Relaxed) {
        // SAFETY: `fds` is a valid array of pollfd of the given length.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, IDLE.as_millis() as libc::c_int) };
        if r > 0 {
            drain(&socks, &fds, &shared, &mut bufs, &mut names);
        }
        shared.sweeps.send_modify(|n| *n = n.wrapping_add(1));
        if r > 0 {
            // While replies flow, let them gather for a moment instead of being woken for each:
            // a wake-up per packet costs both cores more than the packet itself. The socket
            // buffers hold far more than arrives in `NAP`, and a reply read late is never taken
            // for a timeout (`Transport::last_look` waits for a sweep begun after the deadline).
            std::thread::sleep(NAP);
        }
    }
}

/// Read every reply waiting on the sockets that poll found readable, and dispatch it.
fn drain(
    socks: &[(Socket, bool, bool)],
    fds: &[libc::pollfd],
    shared: &Shared,
    bufs: &mut [[u8; SNAP]],
    names: &mut [libc::sockaddr_storage],
) {
    for (i, (sock, v6, icmp)) in socks.iter().enumerate() {
        if fds[i].revents & libc::POLLIN == 0 {
            continue;
        }
        loop {
            let n = recv_batch(sock, bufs, names);
            let at = Instant::now();
            for (k, &len) in n.iter().enumerate() {
                let data = &bufs[k][..len];
                if *icmp {
                    shared.on_icmp(*v6, data, at);
                } else if let Some(from) = super::super::icmp::source_ip(&names[k]) {
                    shared.on_tcp(*v6, from, data, at);
                }
            }
            if n.len() < BATCH {
                break;
            }
        }
    }
}

/// One `recvmmsg` without waiting: the lengths of the packets read into `bufs` (truncated to
/// `SNAP`), their sources in `names`.
fn recv_batch(sock: &Socket, bufs: &mut [[u8; SNAP]], names: &mut [libc::sockaddr_storage]) -> Vec<usize> {
    let mut iovs: Vec<libc::iovec> =
        bufs.iter_mut().map(|b| libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: SNAP }).collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .zip(names.iter_mut())
        .map(|(iov, name)| {
            // SAFETY: all-zero is a valid empty mmsghdr; the pointers set refer to `iovs` and
            // `names`, which outlive the call.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_name = (name as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect();
    // SAFETY: `msgs` are valid mmsghdrs whose buffers the kernel may fill; the count is theirs.
    let n = unsafe {
        libc::recvmmsg(
            sock.as_raw_fd(),
            msgs.as_mut_ptr(),
            msgs.len() as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if n <= 0 {
        return Vec::new();
    }
    msgs[..n as usize].iter().map(|m| (m.msg_len as usize).min(SNAP)).collect()
}

/// The address the kernel would send from to `dst` (its route's preferred source, by the given
/// interface if any): a UDP socket connected to it says, without a packet leaving.
pub fn source_for(dst: IpAddr, origin: &Origin) -> io::Result<IpAddr> {
    if let Some(src) = origin.source_for(dst.is_ipv6()) {
        return Ok(src);
    }
    let domain = if dst.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    origin.bind_device(&s)?;
    s.connect(&SockAddr::from(SocketAddr::new(dst, 9)))?;
    s.local_addr()?.as_socket().map(|a| a.ip()).ok_or_else(|| io::Error::other("no source address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run the classic BPF program over `pkt` the way the kernel would, for the few opcodes used.
    fn run(prog: &[SockFilter], pkt: &[u8]) -> u32 {
        // SAFETY: SockFilter is repr(transparent) over libc::sock_filter.
        let prog: &[libc::sock_filter] = unsafe { std::slice::from_raw_parts(prog.as_ptr().cast(), prog.len()) };
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        loop {
            let i = prog[pc];
            pc += 1;
            let at = |off: u32| (x + off) as usize;
            match i.code {
                LDX_IMM => x = i.k,
                LDX_B_MSH => x = u32::from(pkt[i.k as usize] & 0x0f) * 4,
                LD_H_IND => {
                    let Some(b) = pkt.get(at(i.k)..at(i.k) + 2) else { return 0 };
                    a = u32::from(u16::from_be_bytes([b[0], b[1]]));
                }
                LD_B_IND => {
                    let Some(b) = pkt.get(at(i.k)) else { return 0 };
                    a = u32::from(*b);
                }
                AND_K => a &= i.k,
                RET_K => return i.k,
                c => {
                    let hit = match c {
                        JGE_K => a >= i.k,
                        JGT_K => a > i.k,
                        JSET_K => a & i.k != 0,
                        JEQ_K => a == i.k,
                        _ => panic!("opcode {c:#x}"),
                    };
                    pc += usize::from(if hit { i.jt } else { i.jf });
                }
            }
        }
    }

    fn segment(dport: u16, flags: u8) -> Vec<u8> {
        let mut s = vec![0u8; 20];
        s[0..2].copy_from_slice(&80u16.to_be_bytes());
        s[2..4].copy_from_slice(&dport.to_be_bytes());
        s[12] = 0x50;
        s[13] = flags;
        s
    }

    #[test]
    fn filter_keeps_syn_acks_and_resets_to_our_ports() {
        use packet::{ACK, FIN, RST, SYN};
        for v6 in [false, true] {
            let prog = reply_filter(v6, 61000, 65535);
            let wrap = |seg: Vec<u8>| {
                if v6 {
                    seg
                } else {
                    // an IPv4 header with 4 bytes of options (IHL 6), as the filter sees it
                    let mut p = vec![0x46, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1];
                    p.extend(seg);
                    p
                }
            };
            let keep = |dport, flags| run(&prog, &wrap(segment(dport, flags))) != 0;
            assert!(keep(61000, SYN | ACK) && keep(65535, SYN | ACK) && keep(62000, RST | ACK) && keep(62000, RST));
            assert!(!keep(60999, SYN | ACK), "below the range");
            assert!(!keep(61000, SYN), "our own SYN, looped back");
            assert!(!keep(61000, ACK) && !keep(61000, FIN | ACK), "other traffic");
            assert!(!keep(443, RST | ACK));
        }
        let r = reply_filter(false, 61000, 61999);
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2];
        p.extend(segment(62000, SYN | ACK));
        assert_eq!(run(&r, &p), 0, "above the range");
    }
}

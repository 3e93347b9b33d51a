//! The socket's error queue (IP_RECVERR): the ICMP message behind a failed connect or send.
use crate::result::Reason;
use socket2::Socket;
use std::os::fd::AsRawFd;

pub(crate) fn enable_recverr(sock: &Socket, v6: bool) {
    let (level, name) = if v6 { (libc::SOL_IPV6, libc::IPV6_RECVERR) } else { (libc::SOL_IP, libc::IP_RECVERR) };
    // Best effort, as before: without it a failed connect only loses the ICMP reason.
    let _ = super::sockopt::set_int(sock, level, name, 1);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Icmp {
    pub kind: u8,
    pub code: u8,
}

impl Icmp {
    /// Destination unreachable, port unreachable (ICMP 3/3, ICMPv6 1/4).
    pub fn is_port_unreachable(self, v6: bool) -> bool {
        if v6 {
            (self.kind, self.code) == (1, 4)
        } else {
            (self.kind, self.code) == (3, 3)
        }
    }

    pub fn reason(self, v6: bool) -> Reason {
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
pub(crate) fn icmp_error(sock: &Socket) -> Option<Icmp> {
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

//! The one errno classifier: what the kernel's error from a probe socket says about the port.
//!
//! TCP and UDP read the same errors differently in a few places, all written here side by side:
//! a TCP connect refused without an ICMP message is the host's own RST (closed), while a refusal
//! carrying an ICMP error is a router's or firewall's reject (filtered); a UDP socket reports
//! whatever ICMP error it got, port-unreachable (closed) or another (filtered).
use super::errqueue::Icmp;
use crate::result::{PortState, Protocol, Reason};

/// What an error from a probe socket means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The port's state, from the target or a device on the way.
    Answer(PortState, Reason),
    /// Nothing came back in time.
    Silent,
    /// The local kernel is out of a resource: no answer, try again later.
    Resource,
}

/// Errors that mean the local kernel is out of a resource, not that the target answered.
pub(crate) fn is_resource(code: i32) -> bool {
    matches!(code, libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EADDRNOTAVAIL | libc::EAGAIN)
}

/// An error before anything reached the wire (creating or registering the socket).
pub(crate) fn local(code: Option<i32>) -> Verdict {
    match code {
        Some(c) if is_resource(c) => Verdict::Resource,
        Some(libc::ENETUNREACH) => Verdict::Answer(PortState::Filtered, Reason::NetUnreach),
        _ => Verdict::Answer(PortState::Filtered, Reason::Error),
    }
}

/// An error from a probe that went out: a `proto` socket's errno `code` and the ICMP message
/// queued on its error queue (IP_RECVERR), if any.
pub(crate) fn classify(proto: Protocol, code: Option<i32>, icmp: Option<Icmp>, v6: bool) -> Verdict {
    let filtered = |reason| Verdict::Answer(PortState::Filtered, reason);
    if proto == Protocol::Udp {
        // A queued ICMP error is the answer to a datagram, whatever errno carried it.
        if let Some(icmp) = icmp {
            return if icmp.is_port_unreachable(v6) {
                Verdict::Answer(PortState::Closed, Reason::PortUnreach)
            } else {
                filtered(icmp.reason(v6))
            };
        }
    }
    let Some(code) = code else {
        return filtered(Reason::Error);
    };
    match (code, proto) {
        // TCP: `connect()` reports a RST and an ICMP port-unreachable alike; only the error
        // queue tells a firewall's reject from a closed port.
        (libc::ECONNREFUSED, Protocol::Tcp) => match icmp {
            Some(icmp) => filtered(icmp.reason(v6)),
            None => Verdict::Answer(PortState::Closed, Reason::ConnRefused),
        },
        (libc::ECONNREFUSED, Protocol::Udp) => Verdict::Answer(PortState::Closed, Reason::PortUnreach),
        // The handshake completed, then the peer reset: something is listening.
        (libc::ECONNRESET | libc::EPIPE, Protocol::Tcp) => Verdict::Answer(PortState::Open, Reason::SynAckReset),
        (libc::EHOSTUNREACH | libc::EHOSTDOWN, _) => filtered(icmp.map_or(Reason::HostUnreach, |i| i.reason(v6))),
        (libc::ENETUNREACH, _) => filtered(Reason::NetUnreach),
        (libc::EACCES | libc::EPERM, _) => filtered(Reason::AdminProhibited),
        (libc::ETIMEDOUT, Protocol::Tcp) => Verdict::Silent,
        (c, _) if is_resource(c) => Verdict::Resource,
        _ => filtered(Reason::Error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PortState::{Closed, Filtered, Open};
    use Protocol::{Tcp, Udp};

    const PORT4: Icmp = Icmp { kind: 3, code: 3 };
    const PROHIBITED4: Icmp = Icmp { kind: 3, code: 13 };
    const PORT6: Icmp = Icmp { kind: 1, code: 4 };
    const HOST6: Icmp = Icmp { kind: 1, code: 3 };

    fn answer(state: PortState, reason: Reason) -> Verdict {
        Verdict::Answer(state, reason)
    }

    #[test]
    fn tcp_errors() {
        let c = |code, icmp, v6| classify(Tcp, Some(code), icmp, v6);
        assert_eq!(c(libc::ECONNREFUSED, None, false), answer(Closed, Reason::ConnRefused));
        assert_eq!(c(libc::ECONNREFUSED, Some(PROHIBITED4), false), answer(Filtered, Reason::AdminProhibited));
        // a port-unreachable to a TCP SYN comes from a firewall's reject, not from the host's stack
        assert_eq!(c(libc::ECONNREFUSED, Some(PORT4), false), answer(Filtered, Reason::PortUnreach));
        assert_eq!(c(libc::ECONNRESET, None, false), answer(Open, Reason::SynAckReset));
        assert_eq!(c(libc::EPIPE, None, true), answer(Open, Reason::SynAckReset));
        assert_eq!(c(libc::EHOSTUNREACH, None, false), answer(Filtered, Reason::HostUnreach));
        assert_eq!(c(libc::EHOSTUNREACH, Some(PROHIBITED4), false), answer(Filtered, Reason::AdminProhibited));
        assert_eq!(c(libc::EHOSTDOWN, Some(HOST6), true), answer(Filtered, Reason::HostUnreach));
        assert_eq!(c(libc::ENETUNREACH, Some(PROHIBITED4), false), answer(Filtered, Reason::NetUnreach));
        assert_eq!(c(libc::EACCES, None, false), answer(Filtered, Reason::AdminProhibited));
        assert_eq!(c(libc::EPERM, None, true), answer(Filtered, Reason::AdminProhibited));
        assert_eq!(c(libc::ETIMEDOUT, None, false), Verdict::Silent);
        assert_eq!(c(libc::EMFILE, None, false), Verdict::Resource);
        assert_eq!(c(libc::EADDRNOTAVAIL, None, true), Verdict::Resource);
        assert_eq!(c(libc::EINVAL, None, false), answer(Filtered, Reason::Error));
        assert_eq!(classify(Tcp, None, None, false), answer(Filtered, Reason::Error));
    }

    #[test]
    fn udp_errors() {
        let c = |code, icmp, v6| classify(Udp, code, icmp, v6);
        // the ICMP message decides, whatever the errno
        assert_eq!(c(Some(libc::ECONNREFUSED), Some(PORT4), false), answer(Closed, Reason::PortUnreach));
        assert_eq!(c(Some(libc::EHOSTUNREACH), Some(PORT6), true), answer(Closed, Reason::PortUnreach));
        assert_eq!(c(Some(libc::ECONNREFUSED), Some(PROHIBITED4), false), answer(Filtered, Reason::AdminProhibited));
        assert_eq!(c(Some(libc::ENOBUFS), Some(HOST6), true), answer(Filtered, Reason::HostUnreach));
        assert_eq!(c(None, Some(PORT4), false), answer(Closed, Reason::PortUnreach));
        // without one, the errno
        assert_eq!(c(Some(libc::ECONNREFUSED), None, false), answer(Closed, Reason::PortUnreach));
        assert_eq!(c(Some(libc::EHOSTDOWN), None, false), answer(Filtered, Reason::HostUnreach));
        assert_eq!(c(Some(libc::ENETUNREACH), None, true), answer(Filtered, Reason::NetUnreach));
        assert_eq!(c(Some(libc::EPERM), None, false), answer(Filtered, Reason::AdminProhibited));
        assert_eq!(c(Some(libc::ENOBUFS), None, false), Verdict::Resource);
        // TCP-only meanings do not apply to datagrams
        assert_eq!(c(Some(libc::ECONNRESET), None, false), answer(Filtered, Reason::Error));
        assert_eq!(c(Some(libc::ETIMEDOUT), None, false), answer(Filtered, Reason::Error));
        assert_eq!(c(None, None, false), answer(Filtered, Reason::Error));
    }

    #[test]
    fn local_errors() {
        assert_eq!(local(Some(libc::EMFILE)), Verdict::Resource);
        assert_eq!(local(Some(libc::ENFILE)), Verdict::Resource);
        assert_eq!(local(Some(libc::ENETUNREACH)), answer(Filtered, Reason::NetUnreach));
        assert_eq!(local(Some(libc::EINVAL)), answer(Filtered, Reason::Error));
        assert_eq!(local(None), answer(Filtered, Reason::Error));
    }
}

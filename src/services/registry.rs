//! One descriptor per protocol, in one registry (masscan's `proto-*.c` descriptors): what to send,
//! when a reply is complete, what decides, what to do next, and the UDP datagram if the protocol
//! has one. The identification plan, the banner parsers, the follow-up dispatch and the UDP payload
//! table are all read from [`super::PROTOCOLS`], so a new protocol is its own file plus one line in
//! the `protocols!` list of `services/mod.rs`.
use super::conn::Conn;
use super::{text, Ctx, Done, Parser, Probe, ServiceInfo, PROTOCOLS};
use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;

/// The future of a follow-up.
pub(crate) type FollowUpFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
/// A protocol's checks and refinements once one of its parsers matched: the run, the service name
/// that matched (one of [`Protocol::names`]) and the connection of the matching reply.
pub(crate) type FollowUp = for<'a, 'b> fn(&'a Ctx<'b>, &'static str, Conn) -> FollowUpFuture<'a>;

/// A UDP datagram of a protocol and what its reply tells.
pub(crate) struct UdpProbe {
    /// The service's usual ports: its datagram is the one sent there by a UDP scan.
    pub ports: &'static [u16],
    /// The datagram for a port (some protocols vary it by port: mDNS, NAT-T, RPC programs).
    pub request: fn(u16) -> Vec<u8>,
    /// A second datagram sent with the first from the same socket (SNMP: the SNMPv3 discovery
    /// beside the v2c `public` request); the first reply to either is parsed.
    pub also: Option<fn(u16) -> Vec<u8>>,
    /// Fill the port's record from a reply; false when the reply is not this protocol's (used
    /// when every datagram is tried on a port where the service was not expected).
    pub parse: fn(u16, &[u8], &mut ServiceInfo) -> bool,
    /// A second datagram sent after a reply, and how its answer (or silence) updates the record.
    pub followup: Option<UdpFollowUp>,
}

pub(crate) struct UdpFollowUp {
    /// The datagram, chosen from what the first reply told.
    pub request: fn(&ServiceInfo) -> Vec<u8>,
    pub apply: fn(&mut ServiceInfo, Option<&[u8]>),
}

/// One protocol: everything the scanner knows how to say to it and to read from it.
pub(crate) struct Protocol {
    /// The protocol's name (diagnostics, tests).
    pub name: &'static str,
    /// The service names its parsers return whose follow-up is [`Protocol::followup`].
    pub names: &'static [&'static str],
    /// Client-first TCP probes.
    pub probes: &'static [Probe],
    /// Parsers of what the server says first (tried on every reply, in registry order).
    pub banners: &'static [Parser],
    /// When a server-first banner of this protocol is complete (besides a full text line).
    pub banner_done: Option<Done>,
    /// The server-first protocol's usual ports: the banner read goes first there.
    pub banner_ports: &'static [u16],
    pub followup: Option<FollowUp>,
    pub udp: Option<UdpProbe>,
}

impl Protocol {
    /// A descriptor with nothing in it, for `..Protocol::EMPTY`.
    pub const EMPTY: Protocol = Protocol {
        name: "",
        names: &[],
        probes: &[],
        banners: &[],
        banner_done: None,
        banner_ports: &[],
        followup: None,
        udp: None,
    };
}

/// Client-first probes, in order of how common the protocol is on an unknown port.
pub(crate) static PROBES: LazyLock<Vec<&'static Probe>> =
    LazyLock::new(|| PROTOCOLS.iter().flat_map(|p| p.probes.iter()).collect());

/// Parsers of what a server sends first (tried on every reply).
pub(crate) static BANNERS: LazyLock<Vec<Parser>> =
    LazyLock::new(|| PROTOCOLS.iter().flat_map(|p| p.banners.iter().copied()).collect());

/// A banner is complete at its first line, or when it is binary and a frame is in.
pub(crate) fn banner_done(d: &[u8]) -> bool {
    text::has_line(d) || PROTOCOLS.iter().filter_map(|p| p.banner_done).any(|done| done(d))
}

/// The follow-up of the protocol whose parsers return `name`.
pub(crate) fn followup_of(name: &str) -> Option<FollowUp> {
    PROTOCOLS.iter().find(|p| p.names.contains(&name)).and_then(|p| p.followup)
}

/// Every protocol that has a UDP datagram.
pub(crate) fn udp_protocols() -> impl Iterator<Item = (&'static Protocol, &'static UdpProbe)> {
    PROTOCOLS.iter().filter_map(|&p| p.udp.as_ref().map(|u| (p, u)))
}

/// The protocol whose UDP datagram is the one sent to `port`.
pub(crate) fn udp_on(port: u16) -> Option<&'static UdpProbe> {
    udp_protocols().find(|(_, u)| u.ports.contains(&port)).map(|(_, u)| u)
}

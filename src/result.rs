//! What a scan produces. Plain data (serde), no engine internals.
use serde::Serialize;
use std::net::IpAddr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    Open,
    Closed,
    Filtered,
    /// UDP only: silence, which an open service that ignored the probe and a firewall that
    /// dropped it both give.
    #[serde(rename = "open|filtered")]
    OpenFiltered,
}

/// Number of port states; arrays of counts are indexed by `PortState::index()`.
pub const STATES: usize = 4;

impl PortState {
    pub const ALL: [PortState; STATES] =
        [PortState::Open, PortState::Closed, PortState::Filtered, PortState::OpenFiltered];

    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
            PortState::OpenFiltered => "open|filtered",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn parse(s: &str) -> Option<PortState> {
        PortState::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// Why a port got its state, in nmap's vocabulary where one exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The handshake completed.
    SynAck,
    /// The handshake completed and the peer reset it right away: still open.
    SynAckReset,
    /// The peer answered the SYN with a RST.
    ConnRefused,
    /// The peer answered a raw SYN (SYN scan) with a RST: nmap's name for it.
    Reset,
    /// Nothing came back after every retry.
    NoResponse,
    /// ICMP port unreachable came back for a TCP SYN (a firewall's reject).
    PortUnreach,
    HostUnreach,
    NetUnreach,
    /// ICMP administratively prohibited (or a local firewall refused to send).
    AdminProhibited,
    /// Some other ICMP or local error ended the probe.
    Error,
    /// A UDP datagram came back.
    UdpResponse,
    /// An ICMP echo reply (host discovery).
    EchoReply,
    /// The host was not probed for ports: discovery found it down.
    HostDown,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SynAck => "syn-ack",
            Reason::SynAckReset => "syn-ack-reset",
            Reason::ConnRefused => "conn-refused",
            Reason::Reset => "reset",
            Reason::NoResponse => "no-response",
            Reason::PortUnreach => "port-unreach",
            Reason::HostUnreach => "host-unreach",
            Reason::NetUnreach => "net-unreach",
            Reason::AdminProhibited => "admin-prohibited",
            Reason::Error => "error",
            Reason::UdpResponse => "udp-response",
            Reason::EchoReply => "echo-reply",
            Reason::HostDown => "host-down",
        }
    }
}

/// One probed (host, port), final.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortResult {
    pub host: IpAddr,
    pub port: u16,
    pub protocol: Protocol,
    pub state: PortState,
    pub reason: Reason,
    /// Round-trip time of the answer that decided the state; None without an answer.
    pub rtt: Option<Duration>,
    /// How many connect attempts it took (1 = first try).
    pub attempts: u8,
    /// Service identification, for open ports when the scan asked for it.
    pub service: Option<Box<crate::services::ServiceInfo>>,
}

/// Per-host roll-up: hosts that answered (up), and hosts that host discovery found down.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostSummary {
    pub host: IpAddr,
    pub hostname: Option<String>,
    pub up: bool,
    /// What proved the host up (its first answer), or `NoResponse` for a down host.
    pub reason: Reason,
    /// Counts indexed by `PortState::index()`, TCP and UDP together.
    pub counts: [u64; STATES],
    pub srtt: Option<Duration>,
    /// Probing statistics of an up host (None for a host found down).
    pub stats: Option<HostStats>,
}

/// How a host was probed (TCP): what was sent, what was lost, how fast it ended up going.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct HostStats {
    /// TCP tries sent to the host after its first answer, pilots included.
    pub probes: u64,
    pub retransmissions: u64,
    /// Re-probes of a port known to answer, sent to measure loss behind a filtering firewall.
    pub pilots: u64,
    /// Tries whose fate is known (to ports that answered, and pilots), and those of them lost.
    pub samples: u64,
    pub lost: u64,
    /// `lost / samples`, None without samples.
    pub drop_rate: Option<f64>,
    /// The paced rate toward the host at the end (probes/s), None if it was never limited.
    pub rate: Option<f64>,
    pub rate_cuts: u32,
    /// Ports called filtered only because `max_retries` was reached while loss made them uncertain.
    pub unresolved: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanStatus {
    Complete,
    Cancelled,
}

impl ScanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanStatus::Complete => "complete",
            ScanStatus::Cancelled => "cancelled",
        }
    }
}

/// Counters that can be read at any time while a scan runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Progress {
    pub total: u128,
    pub done: u128,
    pub open: u64,
    pub elapsed: Duration,
    /// Connect attempts, retries included.
    pub attempts: u64,
    pub retries: u64,
    /// Times the kernel refused a socket (fd, port or buffer exhaustion) and the probe was re-queued.
    pub resource_waits: u64,
    /// The concurrency the limiter allows right now.
    pub concurrency: u64,
    /// SYN scans: replies to our probe ports that answered no probe of this scan (a wrong
    /// acknowledgement or quote), dropped.
    pub spoofed: u64,
}

impl Progress {
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.done as f64 / secs
        } else {
            0.0
        }
    }
}

/// What a finished (or cancelled) scan knows beyond the streamed port results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanSummary {
    pub status: ScanStatus,
    pub hosts_total: u128,
    pub ports_per_host: usize,
    pub hosts: Vec<HostSummary>,
    /// Counts over every probed (host, port, protocol), indexed by `PortState::index()`.
    pub counts: [u128; STATES],
    /// Hosts found down by discovery (not port-scanned); None when discovery did not run.
    pub hosts_down: Option<u128>,
    pub progress: Progress,
    /// The fd soft limit in force during the scan and the concurrency it allowed.
    pub fd_limit: u64,
    pub max_concurrency: usize,
    /// The scan-wide paced rate at the end (None: never limited) and how often it was cut.
    pub scan_rate: Option<f64>,
    pub scan_rate_cuts: u32,
    /// Things the user should know about the result's completeness, with what to do about them.
    pub warnings: Vec<String>,
}

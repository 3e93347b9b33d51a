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
}

impl PortState {
    pub const ALL: [PortState; 3] = [PortState::Open, PortState::Closed, PortState::Filtered];

    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn parse(s: &str) -> Option<PortState> {
        PortState::ALL.into_iter().find(|st| st.as_str() == s)
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
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SynAck => "syn-ack",
            Reason::SynAckReset => "syn-ack-reset",
            Reason::ConnRefused => "conn-refused",
            Reason::NoResponse => "no-response",
            Reason::PortUnreach => "port-unreach",
            Reason::HostUnreach => "host-unreach",
            Reason::NetUnreach => "net-unreach",
            Reason::AdminProhibited => "admin-prohibited",
            Reason::Error => "error",
        }
    }
}

/// One probed (host, port), final.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortResult {
    pub host: IpAddr,
    pub port: u16,
    pub state: PortState,
    pub reason: Reason,
    /// Round-trip time of the answer that decided the state; None without an answer.
    pub rtt: Option<Duration>,
    /// How many connect attempts it took (1 = first try).
    pub attempts: u8,
    /// Service identification, for open ports when the scan asked for it.
    pub service: Option<Box<crate::services::ServiceInfo>>,
}

/// Per-host roll-up; only hosts that answered at least once are listed individually.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostSummary {
    pub host: IpAddr,
    pub hostname: Option<String>,
    /// Counts indexed by `PortState::index()`.
    pub counts: [u64; 3],
    pub srtt: Option<Duration>,
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
    /// Counts over every probed (host, port), indexed by `PortState::index()`.
    pub counts: [u128; 3],
    pub progress: Progress,
    /// The fd soft limit in force during the scan and the concurrency it allowed.
    pub fd_limit: u64,
    pub max_concurrency: usize,
}

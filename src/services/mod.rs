//! Service identification and safe misconfiguration checks for open TCP ports.
//!
//! Contract with the rest of the engine: `identify` is called once per open port when the scan
//! asks for services; it must end within `budget` (every read has a deadline and a byte cap),
//! never panic on what the network sends, and always return a `ServiceInfo` (status "unknown"
//! when nothing matched). The record reaches Python as JSON (see `bindings`), so its field names
//! are the public schema.
use serde::Serialize;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What was learnt about the service behind one open port.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceInfo {
    /// Protocol name ("ssh", "http", "microsoft-ds", ...); the port's usual name when unknown.
    pub name: Option<String>,
    pub product: Option<String>,
    pub version: Option<String>,
    pub extrainfo: Option<String>,
    /// CPE 2.3 names derived from product and version.
    pub cpe: Vec<String>,
    /// How the name was decided: "banner", "probe", or "port" (a guess from the port number).
    pub method: String,
    /// Confidence 0-10 (nmap's scale: 3 for a port-number guess, 10 for a certain match).
    pub conf: u8,
    /// "identified" or "unknown" (silent, garbage, or no probe matched within the budget).
    pub status: String,
    /// The first bytes the server sent, printable ASCII kept, the rest escaped as \xNN.
    pub banner: Option<String>,
    pub tls: Option<TlsInfo>,
    pub checks: Vec<Check>,
    /// Seconds spent identifying.
    pub elapsed: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TlsInfo {
    pub version: Option<String>,
    pub cipher: Option<String>,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub sans: Vec<String>,
    /// RFC 3339 timestamps.
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    pub self_signed: bool,
    pub expired: bool,
}

/// One safe check's outcome, with the evidence that decided it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Stable id, e.g. "ftp-anonymous", "smbv1", "rdp-nla-not-enforced", "redis-no-auth".
    pub id: String,
    /// "vulnerable", "ok" or "unknown".
    pub outcome: String,
    pub title: String,
    pub evidence: std::collections::BTreeMap<String, String>,
}

/// Identify the service at `addr` within `budget`.
pub async fn identify(addr: SocketAddr, budget: Duration, cancel: &CancellationToken) -> ServiceInfo {
    let started = Instant::now();
    let _ = (budget, cancel);
    ServiceInfo {
        name: crate::ports::service_name(addr.port()).map(str::to_string),
        method: "port".into(),
        conf: 3,
        status: "unknown".into(),
        elapsed: started.elapsed().as_secs_f64(),
        ..Default::default()
    }
}

//! `ScanRequest` (validated options), `CoreScan` (a running scan) and the functions that start one.
use super::errors::PortSpecError;
use super::runtime::{block_on, runtime};
use crate::engine::{self, Monitor, ScanConfig, ScanHandle, TimingConfig};
use crate::ports::{self, PortList};
use crate::result::{PortResult, PortState, Progress, Protocol, ScanSummary, STATES};
use crate::targets::{Scope, TargetOptions, Targets};
use crate::Error;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;

/// (host, port, protocol, state, reason, rtt seconds, attempts, hostname, service as JSON)
type Row = (String, u16, &'static str, &'static str, &'static str, Option<f64>, u8, Option<String>, Option<String>);

/// The longest duration any option takes: a day. Longer is not a timeout but a hang, and deadlines
/// far in the future overflow the clock. Exported as `_core.MAX_SECONDS` (portlens's option table).
pub const MAX_SECONDS: f64 = 86_400.0;

/// The most retries: a port's tries (`1 + retries`) are counted in a byte.
pub const MAX_RETRIES: u8 = u8::MAX - 1;

fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    if value > MAX_SECONDS {
        return Err(
            Error::option(name, format!("{value} seconds is more than the ceiling of {MAX_SECONDS} (a day)")).into()
        );
    }
    Duration::try_from_secs_f64(value)
        .map_err(|_| Error::option(name, format!("{value} is not a non-negative number of seconds")).into())
}

/// Everything a scan needs, checked when built so that a typo fails before any packet.
#[pyclass(module = "portlens._core", frozen)]
#[derive(Clone)]
pub struct ScanRequest {
    include: Vec<String>,
    exclude: Vec<String>,
    scope: Option<Vec<String>>,
    target_options: TargetOptions,
    config: ScanConfig,
}

#[pymethods]
impl ScanRequest {
    #[new]
    #[pyo3(signature = (
        targets, ports = "top-1000", *, exclude = Vec::new(), exclude_ports = "", scope = None,
        concurrency = 8192, rate = None, max_per_host = None, initial_rtt_timeout = 1.0,
        min_rtt_timeout = 0.1, max_rtt_timeout = 3.0, min_retries = 1, max_retries = 10,
        randomize = true, seed = None, keep = vec!["open".to_string()], max_hosts = 1 << 24,
        allow_large = false, resolve_timeout = 5.0, services = false, service_timeout = 5.0,
        protocol = "tcp", udp_fast = false, discovery = None, icmp_interval = 1.05
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        targets: Vec<String>,
        ports: &str,
        exclude: Vec<String>,
        exclude_ports: &str,
        scope: Option<Vec<String>>,
        concurrency: usize,
        rate: Option<f64>,
        max_per_host: Option<usize>,
        initial_rtt_timeout: f64,
        min_rtt_timeout: f64,
        max_rtt_timeout: f64,
        min_retries: u8,
        max_retries: u8,
        randomize: bool,
        seed: Option<u64>,
        keep: Vec<String>,
        max_hosts: u128,
        allow_large: bool,
        resolve_timeout: f64,
        services: bool,
        service_timeout: f64,
        protocol: &str,
        udp_fast: bool,
        discovery: Option<bool>,
        icmp_interval: f64,
    ) -> PyResult<Self> {
        let mut keep_mask = [false; STATES];
        for state in &keep {
            let st = PortState::parse(state).ok_or_else(|| {
                Error::option(
                    "keep",
                    format!("unknown port state {state:?}; use open, closed, filtered or open|filtered"),
                )
            })?;
            keep_mask[st.index()] = true;
        }
        if let Some(scope) = &scope {
            Scope::parse(scope)?;
        }
        let (tcp, udp) = match protocol {
            "tcp" => (true, false),
            "udp" => (false, true),
            "both" => (true, true),
            other => {
                return Err(
                    Error::option("protocol", format!("{other:?} is not one of \"tcp\", \"udp\", \"both\"")).into()
                )
            }
        };
        let both = tcp && udp;
        let tcp_ports = if tcp { PortList::parse_for(ports, exclude_ports, Protocol::Tcp, both)? } else { None };
        let udp_ports = if udp { PortList::parse_for(ports, exclude_ports, Protocol::Udp, both)? } else { None };
        for (name, retries) in [("min_retries", min_retries), ("max_retries", max_retries)] {
            if retries > MAX_RETRIES {
                return Err(Error::option(name, format!("{retries} is more than {MAX_RETRIES} retries")).into());
            }
        }
        let mut config = ScanConfig::for_protocols(tcp_ports, udp_ports);
        config.udp_fast = udp_fast;
        config.discovery = discovery;
        config.icmp_interval = seconds("icmp_interval", icmp_interval)?;
        config.timing = TimingConfig {
            initial_rto: seconds("initial_rtt_timeout", initial_rtt_timeout)?,
            min_rto: seconds("min_rtt_timeout", min_rtt_timeout)?,
            max_rto: seconds("max_rtt_timeout", max_rtt_timeout)?,
            min_retries,
            max_retries,
        };
        config.concurrency = concurrency;
        config.rate = rate;
        config.max_per_host = max_per_host;
        config.randomize = randomize;
        config.seed = seed;
        config.keep = keep_mask;
        config.services = services;
        config.service_budget = seconds("service_timeout", service_timeout)?;
        config.validate()?;
        let target_options = TargetOptions {
            max_addresses: max_hosts,
            allow_large,
            resolve_timeout: seconds("resolve_timeout", resolve_timeout)?,
        };
        Ok(ScanRequest { include: targets, exclude, scope, target_options, config })
    }

    /// The TCP ports this request probes, in ascending order.
    #[getter]
    fn ports(&self) -> Vec<u16> {
        self.config.ports.as_ref().map(|p| p.as_slice().to_vec()).unwrap_or_default()
    }

    /// The UDP ports this request probes, in ascending order.
    #[getter]
    fn udp_ports(&self) -> Vec<u16> {
        self.config.udp_ports.as_ref().map(|p| p.as_slice().to_vec()).unwrap_or_default()
    }

    /// Resolve and check the targets without scanning: `{"intervals": [(first, last, count)],
    /// "hostnames": {address: name}, "total": count}` (used to split a scan into shards).
    fn resolve<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let req = self.clone();
        let targets = {
            let _guard = runtime().enter();
            block_on(py, async move {
                let scope = req.scope.as_deref().map(Scope::parse).transpose()?;
                Targets::build(&req.include, &req.exclude, &req.target_options, scope.as_ref()).await
            })??
        };
        let d = PyDict::new(py);
        let intervals: Vec<(String, String, u128)> =
            targets.intervals().map(|(a, b, n)| (a.to_string(), b.to_string(), n)).collect();
        d.set_item("intervals", intervals)?;
        let names = PyDict::new(py);
        for (ip, name) in targets.hostnames() {
            names.set_item(ip.to_string(), name)?;
        }
        d.set_item("hostnames", names)?;
        d.set_item("total", targets.len())?;
        Ok(d)
    }

    /// The options as plain values, for recording with a result.
    fn options<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let c = &self.config;
        d.set_item("targets", &self.include)?;
        d.set_item("exclude", &self.exclude)?;
        d.set_item("scope", &self.scope)?;
        d.set_item(
            "protocol",
            match (&c.ports, &c.udp_ports) {
                (Some(_), Some(_)) => "both",
                (None, Some(_)) => "udp",
                _ => "tcp",
            },
        )?;
        d.set_item("ports", c.ports.as_ref().map(PortList::to_spec))?;
        d.set_item("udp_ports", c.udp_ports.as_ref().map(PortList::to_spec))?;
        d.set_item("discovery", c.discovery)?;
        d.set_item("udp_fast", c.udp_fast)?;
        d.set_item("concurrency", c.concurrency)?;
        d.set_item("rate", c.rate)?;
        d.set_item("max_per_host", c.max_per_host)?;
        d.set_item("initial_rtt_timeout", c.timing.initial_rto.as_secs_f64())?;
        d.set_item("min_rtt_timeout", c.timing.min_rto.as_secs_f64())?;
        d.set_item("max_rtt_timeout", c.timing.max_rto.as_secs_f64())?;
        d.set_item("min_retries", c.timing.min_retries)?;
        d.set_item("max_retries", c.timing.max_retries)?;
        d.set_item("randomize", c.randomize)?;
        d.set_item("seed", c.seed)?;
        let keep: Vec<&str> = PortState::ALL.iter().filter(|s| c.keep[s.index()]).map(|s| s.as_str()).collect();
        d.set_item("keep", keep)?;
        d.set_item("services", c.services)?;
        d.set_item("service_timeout", c.service_budget.as_secs_f64())?;
        Ok(d)
    }
}

impl ScanRequest {
    async fn launch(self) -> crate::Result<ScanHandle> {
        let scope = self.scope.as_deref().map(Scope::parse).transpose()?;
        let targets = Targets::build(&self.include, &self.exclude, &self.target_options, scope.as_ref()).await?;
        if self.config.services {
            // A file of PORTLENS_FINGERPRINTS that cannot be used is an OptionError now, not
            // patterns silently missing from every result.
            crate::services::fingerprints::load()?;
        }
        engine::start(targets, self.config, &tokio::runtime::Handle::current())
    }
}

struct Shared {
    results: Mutex<mpsc::Receiver<PortResult>>,
    task: Mutex<Option<JoinHandle<crate::Result<ScanSummary>>>>,
    summary: OnceLock<Result<ScanSummary, Arc<Error>>>,
    monitor: Monitor,
}

impl Shared {
    fn new(h: ScanHandle) -> Arc<Self> {
        Arc::new(Shared {
            results: Mutex::new(h.results),
            task: Mutex::new(Some(h.task)),
            summary: OnceLock::new(),
            monitor: h.monitor,
        })
    }

    /// Up to `max` results; an empty batch when none came within `wait`; None once the scan ended
    /// and everything was read. Cancel-safe.
    async fn batch(&self, wait: Duration, max: usize) -> Option<Vec<Row>> {
        let mut rx = self.results.lock().await;
        let mut buf = Vec::new();
        match tokio::time::timeout(wait, rx.recv_many(&mut buf, max.max(1))).await {
            Ok(0) => None,
            Ok(_) => Some(buf.into_iter().map(|r| self.row(r)).collect()),
            Err(_) => Some(Vec::new()),
        }
    }

    fn row(&self, r: PortResult) -> Row {
        (
            r.host.to_string(),
            r.port,
            r.protocol.as_str(),
            r.state.as_str(),
            r.reason.as_str(),
            r.rtt.map(|d| d.as_secs_f64()),
            r.attempts,
            self.monitor.hostname(r.host).map(str::to_string),
            r.service.as_ref().and_then(|s| serde_json::to_string(s).ok()),
        )
    }

    /// Wait for the scan task; cancel-safe (the handle stays in place until it has finished).
    async fn finish(&self) -> Result<ScanSummary, Arc<Error>> {
        let mut slot = self.task.lock().await;
        if let Some(done) = self.summary.get() {
            return done.clone();
        }
        let out = match slot.as_mut() {
            Some(handle) => match handle.await {
                Ok(r) => r.map_err(Arc::new),
                Err(join) => Err(Arc::new(Error::Io(std::io::Error::other(join.to_string())))),
            },
            None => Err(Arc::new(Error::Io(std::io::Error::other("scan task lost")))),
        };
        *slot = None;
        self.summary.get_or_init(|| out).clone()
    }
}

/// A running scan as seen from Python. Dropping it cancels the scan.
#[pyclass(module = "portlens._core", frozen)]
pub struct CoreScan {
    shared: Arc<Shared>,
}

impl Drop for CoreScan {
    fn drop(&mut self) {
        self.shared.monitor.cancel();
    }
}

#[pymethods]
impl CoreScan {
    /// Block (without the GIL, Ctrl-C aware) for up to `timeout` seconds for results.
    #[pyo3(signature = (timeout = 0.1, max = 4096))]
    fn next_batch(&self, py: Python<'_>, timeout: f64, max: usize) -> PyResult<Option<Vec<Row>>> {
        let wait = seconds("timeout", timeout)?;
        let shared = Arc::clone(&self.shared);
        block_on(py, async move { shared.batch(wait, max).await })
    }

    /// Awaitable form of `next_batch` (waits until results come or the scan ends).
    #[pyo3(signature = (max = 4096))]
    fn next_batch_async<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyAny>> {
        let shared = Arc::clone(&self.shared);
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            loop {
                match shared.batch(Duration::from_secs(3600), max).await {
                    Some(b) if b.is_empty() => continue,
                    other => return Ok(other),
                }
            }
        })
    }

    /// Stop the scan: no new probes, those in flight end now. Results already found stay readable.
    fn cancel(&self) {
        self.shared.monitor.cancel();
    }

    #[getter]
    fn cancelled(&self) -> bool {
        self.shared.monitor.is_cancelled()
    }

    fn progress<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        progress_dict(py, &self.shared.monitor.progress())
    }

    /// Wait for the end of the scan and return its summary (raises if the scan failed).
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let shared = Arc::clone(&self.shared);
        let out = block_on(py, async move { shared.finish().await })?;
        match out {
            Ok(s) => summary_dict(py, &s),
            Err(e) => Err(PyErr::from(e.as_ref())),
        }
    }

    fn summary_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let shared = Arc::clone(&self.shared);
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let out = shared.finish().await.map_err(|e| PyErr::from(e.as_ref()))?;
            Python::attach(|py| summary_dict(py, &out).map(|d| d.unbind()))
        })
    }
}

fn progress_dict<'py>(py: Python<'py>, p: &Progress) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("total", p.total)?;
    d.set_item("done", p.done)?;
    d.set_item("open", p.open)?;
    d.set_item("elapsed", p.elapsed.as_secs_f64())?;
    d.set_item("rate", p.rate())?;
    d.set_item("attempts", p.attempts)?;
    d.set_item("retries", p.retries)?;
    d.set_item("resource_waits", p.resource_waits)?;
    d.set_item("concurrency", p.concurrency)?;
    Ok(d)
}

fn summary_dict<'py>(py: Python<'py>, s: &ScanSummary) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("status", s.status.as_str())?;
    d.set_item("hosts_total", s.hosts_total)?;
    d.set_item("ports_per_host", s.ports_per_host)?;
    // Built in place, with one string object per state and reason: a /16 has 65536 rows.
    let hosts = PyList::empty(py);
    let (up, down) = (PyString::intern(py, "up"), PyString::intern(py, "down"));
    for h in &s.hosts {
        let row = (
            h.host.to_string(),
            h.hostname.as_deref(),
            if h.up { &up } else { &down },
            PyString::intern(py, h.reason.as_str()),
            PyTuple::new(py, h.counts)?,
            h.srtt.map(|d| d.as_secs_f64()),
            h.stats.map(|st| {
                (
                    st.probes,
                    st.retransmissions,
                    st.pilots,
                    st.samples,
                    st.lost,
                    st.drop_rate,
                    st.rate,
                    st.rate_cuts,
                    st.unresolved,
                )
            }),
        );
        hosts.append(row)?;
    }
    d.set_item("hosts", hosts)?;
    let counts = PyDict::new(py);
    for st in PortState::ALL {
        counts.set_item(st.as_str(), s.counts[st.index()])?;
    }
    d.set_item("counts", counts)?;
    d.set_item("hosts_down", s.hosts_down)?;
    d.set_item("progress", progress_dict(py, &s.progress)?)?;
    d.set_item("fd_limit", s.fd_limit)?;
    d.set_item("max_concurrency", s.max_concurrency)?;
    d.set_item("scan_rate", s.scan_rate)?;
    d.set_item("scan_rate_cuts", s.scan_rate_cuts)?;
    d.set_item("warnings", &s.warnings)?;
    Ok(d)
}

/// Resolve the targets and start the scan (blocking for hostname resolution, Ctrl-C aware).
#[pyfunction]
pub fn start_scan(py: Python<'_>, request: &ScanRequest) -> PyResult<CoreScan> {
    let req = request.clone();
    let _guard = runtime().enter();
    let handle = block_on(py, req.launch())??;
    Ok(CoreScan { shared: Shared::new(handle) })
}

/// Awaitable form of `start_scan`: hostnames resolve without blocking the event loop.
#[pyfunction]
pub fn start_scan_async<'py>(py: Python<'py>, request: &ScanRequest) -> PyResult<Bound<'py, PyAny>> {
    let req = request.clone();
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        let handle = req.launch().await?;
        Ok(CoreScan { shared: Shared::new(handle) })
    })
}

/// Expand a port specification ("22,80,8000-8100", "top-100", "all", "!25") to sorted ports.
#[pyfunction]
#[pyo3(signature = (spec, exclude = ""))]
pub fn parse_ports(spec: &str, exclude: &str) -> PyResult<Vec<u16>> {
    Ok(PortList::parse(spec, exclude)?.as_slice().to_vec())
}

fn protocol_arg(protocol: &str) -> PyResult<Protocol> {
    match protocol {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        other => Err(Error::option("protocol", format!("{other:?} is not \"tcp\" or \"udp\"")).into()),
    }
}

/// A named port list ("top-100", "top-1000") of a protocol, in priority order.
#[pyfunction]
#[pyo3(signature = (name, protocol = "tcp"))]
pub fn top_ports(name: &str, protocol: &str) -> PyResult<Vec<u16>> {
    ports::named_set_for(name, protocol_arg(protocol)?).map(<[u16]>::to_vec).ok_or_else(|| {
        PortSpecError::new_err((
            format!("unknown named port set {name:?}; known: top-100, top-1000"),
            Some(name.to_string()),
            Some(name.to_string()),
            Some(0usize),
        ))
    })
}

/// The common service name for a port, if the project's lists name it.
#[pyfunction]
#[pyo3(signature = (port, protocol = "tcp"))]
pub fn service_name(port: u16, protocol: &str) -> PyResult<Option<&'static str>> {
    Ok(match protocol_arg(protocol)? {
        Protocol::Tcp => ports::service_name(port),
        Protocol::Udp => ports::udp_service_name(port),
    })
}

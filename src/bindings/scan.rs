//! `ScanRequest` (validated options), `CoreScan` (a running scan) and the functions that start one.
use super::errors::PortSpecError;
use super::runtime::{block_on, runtime};
use crate::engine::{self, Method, Monitor, ScanConfig, ScanHandle, TimingConfig};
use crate::ports::{self, PortList};
use crate::probe::origin::Origin;
use crate::result::{PortResult, PortState, Progress, Protocol, ScanSummary, STATES};
use crate::targets::{Scope, TargetOptions, Targets};
use crate::Error;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;

/// One port result as Python sees it: a dict with these keys (`_core._PortRow`, a TypedDict in
/// `_core.pyi`). A row lives only until `portlens._scan` has made its `PortResult` of it, so its
/// weight is a batch's, not a scan's.
#[derive(IntoPyObject)]
struct Row {
    host: String,
    port: u16,
    protocol: &'static str,
    state: &'static str,
    reason: &'static str,
    /// Seconds.
    rtt: Option<f64>,
    attempts: u8,
    hostname: Option<String>,
    /// The service record (`ServiceInfo`), serialised off the GIL by the engine's thread and made a
    /// dict (`portlens.policy.contract.ServiceInfo`) when the batch is handed over: keys in the
    /// record's order, values as `json.loads` would give them.
    #[pyo3(into_py_with = service_dict)]
    service: Option<String>,
}

fn service_dict<'py>(record: Cow<'_, Option<String>>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
    match record.as_ref() {
        None => Ok(py.None().into_bound(py)),
        Some(text) => {
            let mut de = serde_json::Deserializer::from_str(text);
            let value = serde::de::DeserializeSeed::deserialize(PyValue(py), &mut de)
                .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("service record: {e}")))?;
            de.end().map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("service record: {e}")))?;
            Ok(value)
        }
    }
}

/// Builds the Python value of a JSON document as it is read (objects as dicts in their order).
#[derive(Clone, Copy)]
struct PyValue<'py>(Python<'py>);

impl<'de, 'py> serde::de::DeserializeSeed<'de> for PyValue<'py> {
    type Value = Bound<'py, PyAny>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'py> serde::de::Visitor<'de> for PyValue<'py> {
    type Value = Bound<'py, PyAny>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(pyo3::types::PyBool::new(self.0, v).to_owned().into_any())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        v.into_pyobject(self.0).map(Bound::into_any).map_err(E::custom)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        v.into_pyobject(self.0).map(Bound::into_any).map_err(E::custom)
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(pyo3::types::PyFloat::new(self.0, v).into_any())
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PyString::new(self.0, v).into_any())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.0.None().into_bound(self.0))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let list = PyList::empty(self.0);
        while let Some(item) = seq.next_element_seed(self)? {
            list.append(item).map_err(serde::de::Error::custom)?;
        }
        Ok(list.into_any())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let dict = PyDict::new(self.0);
        while let Some((k, v)) = map.next_entry_seed(self, self)? {
            dict.set_item(k, v).map_err(serde::de::Error::custom)?;
        }
        Ok(dict.into_any())
    }
}

/// A scan's progress as Python sees it (`_core._Progress` in `_core.pyi`).
#[derive(IntoPyObject)]
struct ProgressRow {
    total: u128,
    done: u128,
    open: u64,
    /// Seconds.
    elapsed: f64,
    /// Probes per second.
    rate: f64,
    attempts: u64,
    retries: u64,
    resource_waits: u64,
    concurrency: u64,
    spoofed: u64,
}

impl From<&Progress> for ProgressRow {
    fn from(p: &Progress) -> Self {
        ProgressRow {
            total: p.total,
            done: p.done,
            open: p.open,
            elapsed: p.elapsed.as_secs_f64(),
            rate: p.rate(),
            attempts: p.attempts,
            retries: p.retries,
            resource_waits: p.resource_waits,
            concurrency: p.concurrency,
            spoofed: p.spoofed,
        }
    }
}

/// The checked targets (`_core._Resolved` in `_core.pyi`).
#[derive(IntoPyObject)]
struct Resolved {
    /// (first, last, count) per interval.
    intervals: Vec<(String, String, u128)>,
    /// Address to the name it was given by.
    hostnames: std::collections::HashMap<String, String>,
    total: u128,
}

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

/// `source=`: one address, as targets spell them (an IPv4-mapped IPv6 address is its IPv4 one).
fn source_address(text: &str) -> PyResult<IpAddr> {
    let t = text.trim();
    t.parse::<IpAddr>().map(|ip| ip.to_canonical()).map_err(|_| {
        let shown = crate::error::clip(t, 60);
        Error::option("source", format!("{shown:?} is not an IP address (dotted-decimal IPv4 or IPv6, no zone id)"))
            .into()
    })
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
    /// Every scan option is optional: `None` is the engine's default (`ScanConfig::for_protocols`,
    /// `TimingConfig::default()`, `TargetOptions::default()`), the one copy of the defaults, which
    /// `options()` reports (portlens's help text and recorded options read them there).
    #[new]
    #[pyo3(signature = (
        targets, ports = "top-1000", *, exclude = None, exclude_ports = "", scope = None,
        concurrency = None, rate = None, max_per_host = None, initial_rtt_timeout = None,
        min_rtt_timeout = None, max_rtt_timeout = None, min_retries = None, max_retries = None,
        randomize = None, seed = None, keep = None, max_hosts = None, allow_large = None,
        resolve_timeout = None, services = None, service_timeout = None, protocol = "tcp",
        udp_fast = None, discovery = None, icmp_interval = None, method = None, source = None,
        interface = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        targets: Vec<String>,
        ports: &str,
        exclude: Option<Vec<String>>,
        exclude_ports: &str,
        scope: Option<Vec<String>>,
        concurrency: Option<usize>,
        rate: Option<f64>,
        max_per_host: Option<usize>,
        initial_rtt_timeout: Option<f64>,
        min_rtt_timeout: Option<f64>,
        max_rtt_timeout: Option<f64>,
        min_retries: Option<u8>,
        max_retries: Option<u8>,
        randomize: Option<bool>,
        seed: Option<u64>,
        keep: Option<Vec<String>>,
        max_hosts: Option<u128>,
        allow_large: Option<bool>,
        resolve_timeout: Option<f64>,
        services: Option<bool>,
        service_timeout: Option<f64>,
        protocol: &str,
        udp_fast: Option<bool>,
        discovery: Option<bool>,
        icmp_interval: Option<f64>,
        method: Option<&str>,
        source: Option<&str>,
        interface: Option<String>,
    ) -> PyResult<Self> {
        let keep_mask = keep
            .map(|keep| {
                let mut mask = [false; STATES];
                for state in &keep {
                    let st = PortState::parse(state).ok_or_else(|| {
                        Error::option(
                            "keep",
                            format!("unknown port state {state:?}; use open, closed, filtered or open|filtered"),
                        )
                    })?;
                    mask[st.index()] = true;
                }
                Ok::<_, Error>(mask)
            })
            .transpose()?;
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
            if let Some(retries) = retries.filter(|&r| r > MAX_RETRIES) {
                return Err(Error::option(name, format!("{retries} is more than {MAX_RETRIES} retries")).into());
            }
        }
        let secs = |name: &str, value: Option<f64>, default: Duration| value.map_or(Ok(default), |v| seconds(name, v));
        let mut config = ScanConfig::for_protocols(tcp_ports, udp_ports);
        if let Some(keep) = keep_mask {
            config.keep = keep;
        }
        config.udp_fast = udp_fast.unwrap_or(config.udp_fast);
        config.discovery = discovery.or(config.discovery);
        config.icmp_interval = secs("icmp_interval", icmp_interval, config.icmp_interval)?;
        let t = config.timing;
        config.timing = TimingConfig {
            initial_rto: secs("initial_rtt_timeout", initial_rtt_timeout, t.initial_rto)?,
            min_rto: secs("min_rtt_timeout", min_rtt_timeout, t.min_rto)?,
            max_rto: secs("max_rtt_timeout", max_rtt_timeout, t.max_rto)?,
            min_retries: min_retries.unwrap_or(t.min_retries),
            max_retries: max_retries.unwrap_or(t.max_retries),
        };
        config.concurrency = concurrency.unwrap_or(config.concurrency);
        config.rate = rate.or(config.rate);
        config.max_per_host = max_per_host.or(config.max_per_host);
        config.randomize = randomize.unwrap_or(config.randomize);
        config.seed = seed.or(config.seed);
        config.services = services.unwrap_or(config.services);
        config.method = match method {
            None => config.method,
            Some("connect") => Method::Connect,
            Some("syn") => Method::Syn,
            // Decided here, so that the recorded options say which method ran.
            Some("auto") => {
                if crate::probe::syn::available() {
                    Method::Syn
                } else {
                    Method::Connect
                }
            }
            Some(other) => {
                return Err(
                    Error::option("method", format!("{other:?} is not one of \"connect\", \"syn\", \"auto\"")).into()
                )
            }
        };
        config.service_budget = secs("service_timeout", service_timeout, config.service_budget)?;
        config.origin = Origin { source: source.map(source_address).transpose()?, interface };
        config.validate()?;
        let t = TargetOptions::default();
        let target_options = TargetOptions {
            max_addresses: max_hosts.unwrap_or(t.max_addresses),
            allow_large: allow_large.unwrap_or(t.allow_large),
            resolve_timeout: secs("resolve_timeout", resolve_timeout, t.resolve_timeout)?,
        };
        let exclude = exclude.unwrap_or_default();
        Ok(ScanRequest { include: targets, exclude, scope, target_options, config })
    }

    /// The same request, continuing an interrupted scan from `checkpoint` (the JSON text that
    /// `CoreScan.checkpoint()` gave): its seed replaces this request's. A checkpoint that cannot be
    /// read is an `OptionError` now; one of other targets or ports when the scan starts.
    fn resumed(&self, checkpoint: &str) -> PyResult<Self> {
        let cp: engine::checkpoint::Checkpoint = serde_json::from_str(checkpoint)
            .map_err(|e| Error::option("resume", format!("the checkpoint cannot be read: {e}")))?;
        let mut req = self.clone();
        req.config.seed = Some(cp.seed);
        req.config.resume = Some(cp);
        Ok(req)
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
    fn resolve(&self, py: Python<'_>) -> PyResult<Resolved> {
        let req = self.clone();
        let targets = {
            let _guard = runtime().enter();
            block_on(py, async move {
                let scope = req.scope.as_deref().map(Scope::parse).transpose()?;
                Targets::build(&req.include, &req.exclude, &req.target_options, scope.as_ref()).await
            })??
        };
        Ok(Resolved {
            intervals: targets.intervals().map(|(a, b, n)| (a.to_string(), b.to_string(), n)).collect(),
            hostnames: targets.hostnames().map(|(ip, name)| (ip.to_string(), name.to_string())).collect(),
            total: targets.len(),
        })
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
        d.set_item(
            "method",
            match c.method {
                Method::Connect => "connect",
                Method::Syn => "syn",
            },
        )?;
        d.set_item("source", c.origin.source.map(|ip| ip.to_string()))?;
        d.set_item("interface", &c.origin.interface)?;
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
    /// Shared, not cloned, by each `summary()`: a /16's summary lists 65,536 hosts.
    summary: OnceLock<Result<Arc<ScanSummary>, Arc<Error>>>,
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
        Row {
            host: r.host.to_string(),
            port: r.port,
            protocol: r.protocol.as_str(),
            state: r.state.as_str(),
            reason: r.reason.as_str(),
            rtt: r.rtt.map(|d| d.as_secs_f64()),
            attempts: r.attempts,
            hostname: self.monitor.hostname(r.host).map(str::to_string),
            service: r.service.as_ref().and_then(|s| serde_json::to_string(s).ok()),
        }
    }

    /// Wait for the scan task; cancel-safe (the handle stays in place until it has finished).
    async fn finish(&self) -> Result<Arc<ScanSummary>, Arc<Error>> {
        let mut slot = self.task.lock().await;
        if let Some(done) = self.summary.get() {
            return done.clone();
        }
        let out = match slot.as_mut() {
            Some(handle) => match handle.await {
                Ok(r) => r.map(Arc::new).map_err(Arc::new),
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

    fn progress(&self) -> ProgressRow {
        ProgressRow::from(&self.shared.monitor.progress())
    }

    /// Where the scan is, as JSON text, for resuming it (see `engine::checkpoint`): the seed, a
    /// watermark per batch of hosts, and `sent`, the number of results handed over before it was
    /// taken (the checkpoint covers only results that were read once that many were).
    fn checkpoint(&self) -> PyResult<String> {
        serde_json::to_string(&self.shared.monitor.checkpoint())
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("checkpoint: {e}")))
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
    d.set_item("progress", ProgressRow::from(&s.progress))?;
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

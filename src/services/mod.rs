//! Service identification and safe misconfiguration checks for open TCP ports.
//!
//! Contract with the rest of the engine: `identify` is called once per open port when the scan
//! asks for services; it must end within `budget` (every read has a deadline and a byte cap),
//! never panic on what the network sends, and always return a `ServiceInfo` (status "unknown"
//! when nothing matched). The record reaches Python as JSON (see `bindings`), so its field names
//! are the public schema.
//!
//! # How a port is identified
//! By protocol, never by the port number alone. A plan is built per port: the probes whose
//! protocol usually lives on that port go first, then a server-first banner read (the server
//! speaks first: SSH, FTP, SMTP, POP3, IMAP, MySQL, VNC, Telnet IAC...), then every other
//! client-first probe in order of how common the protocol is. Each step opens its own
//! connection, sends its request, reads one reply (deadline + byte cap) and hands it to the
//! step's own parser and to every banner parser; a step still waiting after a quarter of its
//! wait lets the next one start beside it (servers that hold a wrong request a full wait, like
//! Samba and BIND, cost the plan little) (a server-first service answers any probe with
//! its banner). The first match ends the plan; that protocol's follow-up then runs its checks
//! (often on the same connection). Product and version come from the fingerprint data file
//! ([`fingerprints`]). Whatever is still running when the budget ends is dropped: the port is
//! then "unknown" (name guessed from the port number, method "port", confidence 3).
//!
//! # One descriptor per protocol
//! Each protocol's file ends in a `PROTOCOL` descriptor ([`registry::Protocol`]): its client-first
//! probes (request, done, parse, usual ports), its banner parsers and the ports where its banner
//! comes first, the service names its follow-up handles, and its UDP datagram with the reply's
//! parser and an optional second datagram ([`registry::UdpProbe`]). The `protocols!` list below
//! declares the modules and orders the registry; the plan, `BANNERS`, the follow-up dispatch and
//! the UDP scan's payloads ([`udp`]) are all read from it. A new protocol is one file plus one line.
//!
//! Protocols identified: ssh, ftp, smtp, pop3, imap, mysql (MariaDB), vnc, telnet, x11, http,
//! https / TLS (any protocol inside TLS), rdp, smb, netbios-ssn, msrpc, rpcbind, nfs, ldap,
//! kerberos, redis, mongodb, postgresql, mssql, memcached, mqtt, rtsp, amqp, modbus, s7, dnp3;
//! over HTTP: elasticsearch, couchdb, docker, kubelet, kubernetes, etcd, winrm; plus the banner
//! fingerprints of the data file (rsync, nntp, irc, vmware-auth, ...).
//!
//! # Check ids
//! `outcome` is "vulnerable" (the weakness is confirmed), "ok" (checked, not present) or
//! "unknown" (could not tell); `evidence` holds what decided it.
//!
//! | id | vulnerable when |
//! |---|---|
//! | `ftp-anonymous` | `USER anonymous` / `PASS` is answered 230 |
//! | `smbv1` | an SMB1 NEGOTIATE offering only `NT LM 0.12` is answered by SMB1 choosing it |
//! | `smb-signing-not-required` | the SMB2 (or SMB1 when only SMB1 is spoken) NEGOTIATE reply does not require signing |
//! | `rdp-nla-not-enforced` | an RDP_NEG_REQ for standard RDP security or TLS alone is accepted |
//! | `redis-no-auth` | `INFO` is answered with `redis_version` |
//! | `mongodb-no-auth` | `listDatabases` over OP_MSG succeeds without credentials |
//! | `elasticsearch-no-auth` | `GET /` answers 200 with the version JSON |
//! | `couchdb-no-auth` | `GET /_all_dbs` answers 200 |
//! | `docker-api-no-auth` | `GET /version` answers 200 with the Docker version JSON |
//! | `kubelet-no-auth` | `GET /pods` answers 200 with a PodList |
//! | `kubernetes-anonymous` | `GET /api/v1/namespaces` answers 200 without credentials |
//! | `etcd-no-auth` | `GET /v2/keys` or `/version` JSON answers 200 without credentials (v2 keyspace readable) |
//! | `vnc-no-auth` | the RFB security types include 1 (None) |
//! | `x11-no-auth` | an X11 connection setup without authorization is accepted |
//! | `mqtt-anonymous` | CONNECT without credentials gets CONNACK return code 0 |
//! | `rtsp-no-auth` | `DESCRIBE` answers 200 without credentials |
//! | `memcached-no-auth` | `stats` is answered |
//! | `telnet-cleartext` | a Telnet service answers (always vulnerable: cleartext logins) |
//! | `ssh-weak-algorithms` | KEXINIT offers group1-sha1 / gex-sha1 kex, hmac-md5 / *-96 MACs, CBC / arcfour / 3DES ciphers or ssh-dss |
//! | `tls-expired` | the leaf certificate's notAfter has passed |
//! | `tls-self-signed` | the leaf certificate is issued by itself |
//! | `tls-weak-protocol` | a ClientHello capped at TLS 1.1 gets a ServerHello (TLS 1.0/1.1 accepted) |
//! | `tls-weak-cipher` | a ClientHello offering only RC4/3DES/DES/export/NULL/anonymous suites gets a ServerHello |
//! | `http-device-signature` | the HTTP Server header, title or body matches a DVR/camera signature |
//! | `cleartext-no-starttls` | an SMTP/POP3/IMAP service on a plain port does not offer STARTTLS |
//!
//! Every check is non-destructive: no guessed passwords, no writes, no state left behind.
mod conn;
pub mod distro;
mod registry;
mod text;
pub mod udp;

/// Declares each protocol's module and lists its descriptor (`PROTOCOL`) in the registry: adding a
/// protocol is its file plus one line here. The order is the priority: client-first probes are tried
/// on an unknown port in this order, and banner parsers see each reply in this order.
macro_rules! protocols {
    ($($vis:vis $name:ident),* $(,)?) => {
        $($vis mod $name;)*
        /// Every protocol's descriptor, in order of priority.
        pub(crate) const PROTOCOLS: &[&registry::Protocol] = &[$(&$name::PROTOCOL),*];
    };
}

protocols![
    // server-first: their banners are tried on every reply, in this order
    ssh, mail, ftp, mysql, vnc, telnet,
    // client-first, in order of how common the protocol is on an unknown port
    http, tls, redis, rdp, smb, dns, postgres, mongodb, mqtt, rtsp, memcached, mssql, ldap, rpc, msrpc, x11, amqp,
    kerberos, s7modbus, dnp3,
    // the data file's banner fingerprints (rsync, nntp, irc, vmware-auth, ...) after every protocol's own parser
    pub fingerprints,
    // UDP only
    ntp, snmp, tftp, ssdp, sip, ike, stun, coap, bacnet, natpmp, ubiquiti, rmcp, simple,
];

pub mod fuzzing;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod truncation;

use conn::Conn;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::Poll;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What was learnt about the service behind one open port.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceInfo {
    /// Protocol name ("ssh", "http", "smb", ...); the port's usual name when unknown.
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
    /// The distribution the banner names, with its package revision when given ([`distro`]).
    pub distro: Option<distro::Distro>,
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
    pub evidence: BTreeMap<String, String>,
}

impl Check {
    pub(crate) fn new(id: &str, vulnerable: Option<bool>, title: &str) -> Check {
        let outcome = match vulnerable {
            Some(true) => "vulnerable",
            Some(false) => "ok",
            None => "unknown",
        };
        Check { id: id.into(), outcome: outcome.into(), title: title.into(), evidence: BTreeMap::new() }
    }

    pub(crate) fn with(mut self, key: &str, value: impl Into<String>) -> Check {
        self.evidence.insert(key.into(), value.into());
        self
    }
}

/// What a parser concluded from the bytes of one reply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hit {
    pub name: &'static str,
    pub product: Option<String>,
    pub version: Option<String>,
    pub extrainfo: Option<String>,
    pub conf: u8,
    /// Texts for the fingerprint data file: (field, text), e.g. ("banner", "SSH-2.0-OpenSSH_9.2p1").
    pub fields: Vec<(&'static str, String)>,
}

impl Hit {
    pub(crate) fn new(name: &'static str, conf: u8) -> Hit {
        Hit { name, conf, ..Default::default() }
    }
    pub(crate) fn field(mut self, field: &'static str, text: impl Into<String>) -> Hit {
        self.fields.push((field, text.into()));
        self
    }
    pub(crate) fn product(mut self, product: impl Into<String>, version: Option<String>) -> Hit {
        self.product = Some(product.into());
        self.version = version.filter(|v| !v.is_empty());
        self
    }
}

/// Everything learnt so far: written as the probes go, read when the budget ends.
#[derive(Debug, Default)]
pub(crate) struct Found {
    name: Option<String>,
    product: Option<String>,
    version: Option<String>,
    extrainfo: Option<String>,
    cpe: Vec<String>,
    method: Option<&'static str>,
    conf: u8,
    banner: Option<String>,
    tls: Option<TlsInfo>,
    checks: Vec<Check>,
    distro: Option<distro::Distro>,
}

/// Time to wait for a TCP connect to an open port.
const CONNECT_WAIT: Duration = Duration::from_secs(2);
/// Bounds of the wait for one reply, scaled from the budget.
const MIN_WAIT: Duration = Duration::from_millis(300);
const MAX_WAIT: Duration = Duration::from_millis(2000);
/// Steps of the plan started per `wait` while earlier ones still wait for a reply (see [`run`]).
const STAGGER: u32 = 4;
/// Bytes of the first reply kept as `banner`.
const BANNER_KEEP: usize = 512;

/// One identification run against one port.
pub(crate) struct Ctx<'a> {
    pub addr: SocketAddr,
    pub deadline: Instant,
    /// Wait for one reply of an identification probe.
    pub wait: Duration,
    /// Connections are wrapped in TLS (identification inside a TLS service).
    pub over_tls: bool,
    found: &'a Mutex<Found>,
}

impl Ctx<'_> {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A new connection (wrapped in TLS when probing inside TLS).
    pub async fn connect(&self) -> Option<Conn> {
        let c = conn::connect(self.addr, self.deadline, CONNECT_WAIT).await?;
        if self.over_tls {
            c.into_tls(tls::config()).await
        } else {
            Some(c)
        }
    }

    /// Wait for one reply of a check (checks may meet deliberate delays, e.g. on failed logins).
    pub fn check_wait(&self) -> Duration {
        // Failed logins are often answered after a deliberate delay (vsftpd + PAM: about 3 s).
        (self.wait * 3).max(Duration::from_secs(5))
    }

    fn with<R>(&self, f: impl FnOnce(&mut Found) -> R) -> R {
        let mut g = self.found.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    pub fn check(&self, check: Check) {
        self.with(|f| {
            f.checks.retain(|c| c.id != check.id);
            f.checks.push(check);
        });
    }

    pub fn set_tls(&self, info: TlsInfo) {
        self.with(|f| f.tls = Some(info));
    }

    /// Record an identification (fingerprints fill in product and version).
    pub fn identified(&self, hit: &Hit, method: &'static str) {
        let mut hit = hit.clone();
        let fp = fingerprints::lookup_fields(hit.name, &hit.fields);
        let mut cpe = Vec::new();
        if let Some(m) = fp {
            if let Some(n) = m.name {
                hit.name = n;
            }
            hit.product = m.product.or(hit.product);
            hit.version = m.version.filter(|v| !v.is_empty()).or(hit.version);
            hit.extrainfo = m.extrainfo.or(hit.extrainfo);
            cpe.extend(m.cpe);
        }
        let name = if self.over_tls { tls::inner_name(hit.name) } else { hit.name.to_string() };
        let distro = distro::detect(&hit.fields);
        self.with(|f| {
            f.distro = distro;
            f.name = Some(name);
            f.product = hit.product;
            f.version = hit.version;
            f.extrainfo = hit.extrainfo;
            f.cpe = cpe;
            f.method = Some(method);
            f.conf = hit.conf;
        });
    }

    /// Refine product/version after a follow-up learnt more.
    pub fn refine(&self, product: Option<String>, version: Option<String>, extrainfo: Option<String>) {
        self.with(|f| {
            if product.is_some() {
                f.product = product;
            }
            if version.is_some() {
                f.version = version;
            }
            if extrainfo.is_some() {
                f.extrainfo = extrainfo;
            }
        });
    }

    /// Replace the service name (a follow-up found a more specific one).
    pub fn rename(&self, name: &str, conf: u8) {
        let name = if self.over_tls { tls::inner_name(name) } else { name.to_string() };
        self.with(|f| {
            f.name = Some(name);
            f.conf = f.conf.max(conf);
        });
    }

    fn banner(&self, data: &[u8]) {
        if !data.is_empty() {
            self.with(|f| {
                if f.banner.is_none() {
                    f.banner = Some(text::escape(data, BANNER_KEEP));
                }
            });
        }
    }
}

/// Decides from the bytes of a reply.
pub(crate) type Parser = fn(&[u8]) -> Option<Hit>;
/// Says whether a reply is complete.
pub(crate) type Done = fn(&[u8]) -> bool;

/// A client-first probe: what to send, when the reply is complete, and what decides.
pub(crate) struct Probe {
    /// The protocol asked for (the plan's tests read it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub name: &'static str,
    /// Port ranges where the protocol usually listens: the probe runs first there.
    pub ports: &'static [(u16, u16)],
    pub request: fn(&Ctx) -> Vec<u8>,
    pub done: Done,
    pub parse: Parser,
}

impl Probe {
    fn likely_on(&self, port: u16) -> bool {
        self.ports.iter().any(|&(a, b)| (a..=b).contains(&port))
    }
}

pub(crate) use registry::{banner_done, BANNERS, PROBES};

/// Ports where a server-first protocol is expected: the banner read goes first there.
fn banner_port(port: u16) -> bool {
    PROTOCOLS.iter().any(|p| p.banner_ports.contains(&port))
}

/// Try the banner parsers on a reply.
pub(crate) fn parse_any_banner(data: &[u8]) -> Option<Hit> {
    BANNERS.iter().find_map(|p| p(data))
}

#[derive(Clone, Copy)]
enum Step {
    Banner,
    Probe(&'static Probe),
}

fn plan(port: u16) -> Vec<Step> {
    let hinted: Vec<&'static Probe> = PROBES.iter().copied().filter(|p| p.likely_on(port)).collect();
    let mut steps = Vec::with_capacity(PROBES.len() + 1);
    if hinted.is_empty() || banner_port(port) {
        steps.push(Step::Banner);
        steps.extend(hinted.iter().map(|&p| Step::Probe(p)));
    } else {
        steps.extend(hinted.iter().map(|&p| Step::Probe(p)));
        steps.push(Step::Banner);
    }
    steps.extend(PROBES.iter().copied().filter(|p| !hinted.iter().any(|h| std::ptr::eq(*h, *p))).map(Step::Probe));
    steps
}

/// Identify the service at `addr` within `budget`.
pub async fn identify(addr: SocketAddr, budget: Duration, cancel: &CancellationToken) -> ServiceInfo {
    let started = Instant::now();
    let deadline = started + budget;
    let found = Mutex::new(Found::default());
    let wait = (budget / 5).clamp(MIN_WAIT, MAX_WAIT);
    let ctx = Ctx { addr, deadline, wait, over_tls: false, found: &found };
    tokio::select! {
        biased;
        _ = cancel.cancelled() => {}
        _ = tokio::time::timeout_at(deadline, run(&ctx)) => {}
    }
    let f = found.into_inner().unwrap_or_else(|e| e.into_inner());
    into_info(f, addr.port(), started.elapsed())
}

fn into_info(f: Found, port: u16, elapsed: Duration) -> ServiceInfo {
    let (name, method, conf, status) = match f.method {
        Some(m) => (f.name, m.to_string(), f.conf, "identified"),
        None => (crate::ports::service_name(port).map(str::to_string), "port".to_string(), 3, "unknown"),
    };
    ServiceInfo {
        name,
        product: f.product,
        version: f.version,
        extrainfo: f.extrainfo,
        cpe: f.cpe,
        method,
        conf,
        status: status.into(),
        banner: f.banner,
        tls: f.tls,
        checks: f.checks,
        distro: f.distro,
        elapsed: elapsed.as_secs_f64(),
    }
}

/// A plan step in flight, with its place in the plan.
type Running<'a> = (usize, Pin<Box<dyn Future<Output = Option<(&'static str, Conn)>> + Send + 'a>>);

/// The next step of `running` to end: (its place in the plan, its outcome); None when `until` came.
async fn next_done(running: &mut Vec<Running<'_>>, until: Instant) -> Option<(usize, Option<(&'static str, Conn)>)> {
    let timer = tokio::time::sleep_until(until);
    tokio::pin!(timer);
    let (i, at, r) = std::future::poll_fn(|cx| {
        for (i, (at, f)) in running.iter_mut().enumerate() {
            if let Poll::Ready(r) = f.as_mut().poll(cx) {
                return Poll::Ready(Some((i, *at, r)));
            }
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await?;
    drop(running.swap_remove(i));
    Some((at, r))
}

/// The plan's steps, each on its own connection, staggered: a step starts when the one before it
/// ended without a match, or after `wait / STAGGER` if that one is still waiting. A server that
/// waits for the whole frame a wrong protocol's first bytes announce (Samba, BIND and dnsmasq on TCP
/// hold every non-SMB/DNS request a full `wait`) then costs the plan a fraction of `wait`, not all
/// of it, so its own probe still comes within the budget on an odd port. The first match ends the
/// plan, unless an earlier step of the plan matches within `wait / STAGGER` after it (plan order
/// decides between two protocols a server answers, e.g. SMB before a NetBIOS session); the other
/// steps are dropped, closing their connections, and the match's follow-up runs.
async fn run(ctx: &Ctx<'_>) {
    let steps = plan(ctx.port());
    let stagger = ctx.wait / STAGGER;
    let mut next = 0;
    let mut running: Vec<Running<'_>> = Vec::new();
    let mut started_last = Instant::now();
    loop {
        if Instant::now() >= ctx.deadline {
            return;
        }
        if next < steps.len() && (running.is_empty() || started_last.elapsed() >= stagger) {
            running.push((next, Box::pin(attempt(ctx, steps[next]))));
            next += 1;
            started_last = Instant::now();
        }
        if running.is_empty() {
            return; // every step ran and none matched
        }
        let until = if next < steps.len() { started_last + stagger } else { ctx.deadline };
        let Some((at, r)) = next_done(&mut running, until).await else { continue };
        let Some(mut best) = r.map(|m| (at, m)) else {
            // no match: the next step starts at once, as it would after this one in sequence
            started_last = Instant::now().checked_sub(stagger).unwrap_or(started_last);
            continue;
        };
        // an earlier step still waiting may yet match: give it a moment
        running.retain(|(i, _)| *i < best.0);
        let grace = (Instant::now() + stagger).min(ctx.deadline);
        while !running.is_empty() {
            let Some((at, r)) = next_done(&mut running, grace).await else { break };
            if let Some(m) = r {
                best = (at, m);
                running.retain(|(i, _)| *i < at);
            }
        }
        running.clear();
        let (name, conn) = best.1;
        followup(ctx, name, conn).await;
        return;
    }
}

/// One step of the plan: its own connection, one request, one reply.
async fn attempt(ctx: &Ctx<'_>, step: Step) -> Option<(&'static str, Conn)> {
    let mut conn = ctx.connect().await?;
    let (request, done, parse, method): (Vec<u8>, Done, Option<Parser>, _) = match step {
        Step::Banner => (Vec::new(), banner_done, None, "banner"),
        Step::Probe(p) => ((p.request)(ctx), p.done, Some(p.parse), "probe"),
    };
    if !conn.send(&request).await {
        return None;
    }
    let data = conn.read(ctx.wait, conn::CAP, done).await.to_vec();
    ctx.banner(&data);
    let (hit, method) = match parse.and_then(|p| p(&data)) {
        Some(h) => (h, method),
        None => (parse_any_banner(&data)?, "banner"),
    };
    ctx.identified(&hit, method);
    Some((hit.name, conn))
}

/// The identified protocol's checks and refinements.
async fn followup(ctx: &Ctx<'_>, name: &'static str, conn: Conn) {
    if let Some(f) = registry::followup_of(name) {
        f(ctx, name, conn).await;
    }
}

/// Shared with the TLS follow-up: identify what is spoken inside a TLS session.
pub(crate) async fn identify_inside_tls(outer: &Ctx<'_>) {
    let ctx = Ctx { addr: outer.addr, deadline: outer.deadline, wait: outer.wait, over_tls: true, found: outer.found };
    let banner_first = matches!(ctx.port(), 465 | 563 | 585 | 614 | 636 | 990 | 992 | 993 | 995 | 5061);
    let steps: &[Step] = if banner_first {
        &[Step::Banner, Step::Probe(&http::PROTOCOL.probes[0])]
    } else {
        &[Step::Probe(&http::PROTOCOL.probes[0]), Step::Banner]
    };
    for &step in steps {
        if Instant::now() >= ctx.deadline {
            return;
        }
        if let Some((name, conn)) = attempt(&ctx, step).await {
            Box::pin(followup(&ctx, name, conn)).await;
            return;
        }
    }
    // TLS with nothing recognised inside.
    outer.rename("ssl", 6);
}

//! Port specifications: parsing `"22,80,8000-8100,top-100,!25"` into a sorted [`PortList`], the
//! built-in named sets [`TOP_100`] and [`TOP_1000`], and [`service_name`].
//!
//! # Grammar
//!
//! Items are separated by commas; whitespace around an item is ignored.
//!
//! | item            | meaning                                                  |
//! |-----------------|----------------------------------------------------------|
//! | `80`            | one port                                                 |
//! | `8000-8100`     | an inclusive range                                       |
//! | `1000-`, `-1024`| open ranges: up to 65535, from 1                         |
//! | `all`, `-`      | 1-65535                                                  |
//! | `top-100`       | a named set (`top-100`, `top-1000`; case-insensitive)    |
//! | `!item`         | remove `item` from the result, wherever it appears       |
//! | `T:item`        | nmap-style TCP prefix, accepted and ignored               |
//!
//! `U:` (UDP) and `S:` (SCTP) prefixes are refused, since this is a TCP connect scan, and so is
//! port 0. Every error is an [`Error::Ports`] naming the offending item and its character
//! offset. Parsing never panics, whatever the input.
//!
//! # How the named lists were built
//!
//! The lists are our own. They are **not** taken from nmap's `nmap-services` frequency data
//! (NPSL-licensed) nor from any list copied from it (such as RustScan's or naabu's top-port
//! lists); none of those were opened or consulted. They were written by hand from public
//! knowledge: the service names and default ports in IANA's Service Name and Transport Protocol
//! Port Number Registry, and the default ports documented by the vendors and projects named in the
//! comments of the tables below.
//!
//! 1. [`TOP_100`] is the hand-curated first tier (`TIER_1` below), in priority order: first the
//!    risky exposures a defender must see (remote administration and file sharing, cleartext
//!    shells, unauthenticated data stores, container control planes, IoT/camera/DVR and industrial
//!    protocols, databases, legacy Unix services, directory and mail), then everyday services
//!    (web, DNS, mail submission, common alternate HTTP ports, proxies, printing, brokers).
//! 2. [`TOP_1000`] is `TOP_100`, then the second curated tier (`TIER_2`: other well-known TCP
//!    service defaults, grouped by kind), then filled in ascending order with the remaining ports
//!    of 1-1024 (IANA system ports, where assigned services concentrate) and, were that not
//!    enough, ascending from 1025, skipping ports already present, until it holds exactly 1000
//!    unique ports. With 100 + 360 curated ports the fill is, at the time of writing, the
//!    uncurated ports of 1-597. The fill is computed at compile time by `build_top_1000`, which
//!    also refuses (as a compile error) a duplicate or a port 0 in the curated tiers.
//! 3. [`service_name`] answers from the same two curated tables: the IANA service name where the
//!    registry has a fitting one, otherwise the vendor's or the project's name for the service.
//!    Fill ports have no name. Where several products share a default port the name is the most
//!    common one, or a generic `http-alt`, so treat it as a hint, not an identification.

use crate::error::{Error, Result};
pub use crate::result::Protocol;

/// A sorted, de-duplicated, non-empty list of TCP ports (1-65535).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortList {
    ports: Vec<u16>,
}

impl PortList {
    /// Parse a spec; `exclude` (may be empty) is removed from the result.
    ///
    /// `exclude` uses the same grammar as `spec`, without `!`. An error in `exclude` has
    /// `exclude` as its input.
    pub fn parse(spec: &str, exclude: &str) -> Result<PortList> {
        match Self::parse_for(spec, exclude, Protocol::Tcp, false)? {
            Some(list) => Ok(list),
            None => Err(whole(spec, "no TCP ports in the specification")),
        }
    }

    /// Parse a spec for one protocol. Named sets are that protocol's lists. With `both` (a scan of
    /// TCP and UDP), items prefixed `T:` or `U:` apply to that protocol only and None means the
    /// spec names no port of `proto`; without it, a prefix for the other protocol is an error.
    pub fn parse_for(spec: &str, exclude: &str, proto: Protocol, both: bool) -> Result<Option<PortList>> {
        let mut include = Accumulator::new();
        let mut remove = Accumulator::new();

        if spec.trim().is_empty() {
            return Err(whole(
                spec,
                "empty port specification; give ports such as '22,80,443', a range such as \
                 '1-1024', 'top-100' or 'all'",
            ));
        }
        let ctx = Ctx { input: spec, in_exclude: false, proto, both };
        let mut any_include = false;
        for item in items(spec) {
            let Some((negated, term)) = parse_item(&ctx, &item)? else { continue };
            if negated {
                remove.add(term);
            } else {
                include.add(term);
                any_include = true;
            }
        }
        if both && !any_include {
            return Ok(None);
        }
        if include.is_empty() {
            return Err(whole(spec, "the specification only excludes ports; say what to scan as well, e.g. 'all,!22'"));
        }

        if !exclude.trim().is_empty() {
            let ctx = Ctx { input: exclude, in_exclude: true, proto, both };
            for item in items(exclude) {
                if let Some((_, term)) = parse_item(&ctx, &item)? {
                    remove.add(term);
                }
            }
        }

        let included = include.into_mask().unwrap_or_default();
        let removed = remove.into_mask();
        let ports: Vec<u16> = (1..=u16::MAX)
            .filter(|&p| included.get(usize::from(p)) == Some(&true))
            .filter(|&p| removed.as_ref().is_none_or(|r| !r[usize::from(p)]))
            .collect();
        if ports.is_empty() {
            return Err(whole(spec, "every port was excluded; nothing is left to scan"));
        }
        Ok(Some(PortList { ports }))
    }

    /// A list of the given ports, sorted and de-duplicated. Errors if there are none or one is 0.
    pub fn from_ports(ports: impl IntoIterator<Item = u16>) -> Result<PortList> {
        let mut ports: Vec<u16> = ports.into_iter().collect();
        if ports.contains(&0) {
            return Err(Error::ports("0", "0", 0, PORT_ZERO));
        }
        if ports.is_empty() {
            return Err(Error::ports("", "", 0, "no ports to scan"));
        }
        ports.sort_unstable();
        ports.dedup();
        Ok(PortList { ports })
    }

    /// The ports, ascending.
    pub fn as_slice(&self) -> &[u16] {
        &self.ports
    }

    pub fn len(&self) -> usize {
        self.ports.len()
    }

    /// Always false for a list built by [`parse`](Self::parse) or
    /// [`from_ports`](Self::from_ports); present for API completeness.
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }

    pub fn contains(&self, port: u16) -> bool {
        self.ports.binary_search(&port).is_ok()
    }

    /// The compact spec of this list, e.g. `"22,80,8000-8100"`: runs of three or more
    /// consecutive ports become ranges. `PortList::parse(&list.to_spec(), "")` gives `list` back.
    pub fn to_spec(&self) -> String {
        let mut out = String::new();
        let mut i = 0;
        while i < self.ports.len() {
            let start = self.ports[i];
            let mut j = i;
            while j + 1 < self.ports.len() && u32::from(self.ports[j + 1]) == u32::from(self.ports[j]) + 1 {
                j += 1;
            }
            let end = self.ports[j];
            if !out.is_empty() {
                out.push(',');
            }
            match j - i {
                0 => out.push_str(&start.to_string()),
                1 => out.push_str(&format!("{start},{end}")),
                _ => out.push_str(&format!("{start}-{end}")),
            }
            i = j + 1;
        }
        out
    }
}

/// The ports of a named set (`"top-100"`, `"top-1000"`, case-insensitive), in priority order.
pub fn named_set(name: &str) -> Option<&'static [u16]> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("top-100") {
        Some(&TOP_100)
    } else if name.eq_ignore_ascii_case("top-1000") {
        Some(&TOP_1000)
    } else {
        None
    }
}

/// A named set of `proto` ports: the TCP lists above, or [`UDP_TOP_100`] / [`UDP_TOP_1000`].
pub fn named_set_for(name: &str, proto: Protocol) -> Option<&'static [u16]> {
    match proto {
        Protocol::Tcp => named_set(name),
        Protocol::Udp => {
            let name = name.trim();
            if name.eq_ignore_ascii_case("top-100") {
                Some(&UDP_TOP_100)
            } else if name.eq_ignore_ascii_case("top-1000") {
                Some(&UDP_TOP_1000)
            } else {
                None
            }
        }
    }
}

/// The common UDP service name for a port, from the curated UDP tier.
pub fn udp_service_name(port: u16) -> Option<&'static str> {
    UDP_TIER.iter().find(|&&(p, _)| p == port).map(|&(_, n)| n)
}

/// The 100 UDP ports most worth checking, most important first: the amplifiers, leaky and
/// unauthenticated services of RISK-KNOWLEDGE (DNS, NTP, SNMP, NetBIOS, TFTP, SSDP, memcached,
/// CLDAP, BACnet, ...), then VPN, VoIP, directory, management, ICS and discovery protocols, each a
/// documented default of its protocol (IANA's service-name registry, vendors' documentation).
pub static UDP_TOP_100: [u16; 100] = tier_ports::<100>(&UDP_TIER);

/// [`UDP_TOP_100`], then the remaining ports of 1-1024 ascending, then ascending above 1024.
pub static UDP_TOP_1000: [u16; 1000] = build_udp_top_1000();

const fn build_udp_top_1000() -> [u16; 1000] {
    let mut out = [0u16; 1000];
    let mut seen = [false; 65536];
    let mut n = 0;
    while n < UDP_TIER.len() {
        out[n] = UDP_TIER[n].0;
        assert!(!seen[UDP_TIER[n].0 as usize], "duplicate port in UDP_TIER");
        seen[UDP_TIER[n].0 as usize] = true;
        n += 1;
    }
    let mut p = 1usize;
    while n < 1000 {
        if !seen[p] {
            out[n] = p as u16;
            seen[p] = true;
            n += 1;
        }
        p += 1;
    }
    out
}

#[rustfmt::skip]
const UDP_TIER: [(u16, &str); 100] = [
    // amplifiers and leaky services (RISK-KNOWLEDGE)
    (53, "domain"), (123, "ntp"), (161, "snmp"), (137, "netbios-ns"), (138, "netbios-dgm"), (69, "tftp"),
    (111, "rpcbind"), (2049, "nfs"), (1900, "ssdp"), (11211, "memcache"), (389, "ldap"), (19, "chargen"),
    (17, "qotd"), (5353, "mdns"), (1434, "ms-sql-m"), (47808, "bacnet"), (37810, "dahua-discovery"),
    (3389, "ms-wbt-server"), (88, "kerberos"), (464, "kpasswd"), (500, "isakmp"), (4500, "ipsec-nat-t"),
    (5060, "sip"), (623, "asf-rmcp"), (520, "route"), (162, "snmptrap"), (514, "syslog"), (7, "echo"),
    (13, "daytime"), (37, "time"), (9, "discard"), (3702, "ws-discovery"), (5351, "nat-pmp"), (5683, "coap"),
    (10001, "ubnt-discovery"), (1194, "openvpn"), (1701, "l2tp"), (1812, "radius"), (1813, "radacct"),
    (1645, "radius-old"), (1646, "radacct-old"), (67, "dhcps"), (68, "dhcpc"), (546, "dhcpv6-client"),
    (547, "dhcpv6-server"), (443, "quic"), (3478, "stun"), (5355, "llmnr"), (135, "msrpc"), (139, "netbios-ssn"),
    (445, "microsoft-ds"), (631, "ipp"), (177, "xdmcp"), (427, "svrloc"), (1604, "citrix-ica"),
    (3283, "net-assistant"), (5632, "pcanywherestat"), (17185, "vxworks-wdb"), (20000, "dnp3"), (502, "modbus"),
    (44818, "ethernet-ip"), (2222, "ethernet-ip-io"), (9600, "omron-fins"), (34964, "profinet-cm"),
    (2123, "gtp-c"), (2152, "gtp-u"), (1719, "h323ras"), (2427, "mgcp-gateway"), (2727, "mgcp-callagent"),
    (5004, "rtp"), (5005, "rtcp"), (4789, "vxlan"), (6081, "geneve"), (8472, "otv"), (6343, "sflow"),
    (2055, "netflow"), (4739, "ipfix"), (1985, "hsrp"), (3784, "bfd-control"), (517, "talk"), (518, "ntalk"),
    (497, "retrospect"), (1026, "win-rpc"), (1027, "win-rpc-alt"), (5000, "upnp"), (10000, "ndmp"),
    (9987, "teamspeak3"), (27015, "steam"), (25565, "minecraft"), (64738, "mumble"), (6881, "bittorrent"),
    (51413, "transmission"), (4672, "emule"), (8767, "teamspeak2"), (2302, "halo"), (28960, "cod"),
    (1028, "win-rpc-alt2"), (49152, "win-dynamic"), (32768, "rpc-dynamic"), (4000, "icq"),
];

/// The common TCP service name for a port from our curated tiers (22 -> `"ssh"`, 445 ->
/// `"microsoft-ds"`), or `None` for ports we have no name for. A hint, not an identification.
pub fn service_name(port: u16) -> Option<&'static str> {
    SERVICE_NAMES.binary_search_by_key(&port, |&(p, _)| p).ok().map(|i| SERVICE_NAMES[i].1)
}

/// The 100 most important TCP ports to check, most important first. See the module docs.
pub static TOP_100: [u16; 100] = tier_ports::<100>(&TIER_1);

/// [`TOP_100`], then the second curated tier, then filler. See the module docs.
pub static TOP_1000: [u16; 1000] = build_top_1000();

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

const PORT_ZERO: &str = "port 0 cannot be scanned with a TCP connect or a connected UDP socket";
const KNOWN_SETS: &str = "top-100, top-1000";

struct Ctx<'a> {
    input: &'a str,
    in_exclude: bool,
    proto: Protocol,
    both: bool,
}

impl Ctx<'_> {
    fn err(&self, item: &Item<'_>, reason: impl Into<String>) -> Error {
        let reason = reason.into();
        let reason = if self.in_exclude { format!("{reason} (in the exclude list)") } else { reason };
        // The message quotes the input and the item: clipped, so that a 10 MB spec does not make
        // a 10 MB message (the offset still points into the whole input).
        let item_text = crate::error::clip(item.text, 256);
        let input = if self.input == item.text { item_text.clone() } else { crate::error::clip(self.input, 512) };
        Error::ports(&input, &item_text, item.offset, reason)
    }
}

/// An error about the whole spec (clipped in the message, like every item).
fn whole(spec: &str, reason: &str) -> Error {
    let shown = crate::error::clip(spec, 256);
    Error::ports(&shown, &shown, 0, reason)
}

/// One comma-separated item, trimmed, with the character offset of its first character.
struct Item<'a> {
    text: &'a str,
    offset: usize,
}

/// The items of `input`, lazily: ten million commas cost nothing before the first (empty,
/// refused) item.
fn items(input: &str) -> impl Iterator<Item = Item<'_>> {
    let mut start_char = 0;
    input.split(',').map(move |raw| {
        let trimmed_start = raw.trim_start();
        let lead = raw.len() - trimmed_start.len();
        let item = Item { text: trimmed_start.trim_end(), offset: start_char + raw[..lead].chars().count() };
        start_char += raw.chars().count() + 1;
        item
    })
}

#[derive(Clone, Copy)]
enum Term {
    Range(u16, u16),
    Named(&'static [u16]),
}

/// Parse one item into (negated, term); None for an item of the other protocol.
fn parse_item(ctx: &Ctx<'_>, item: &Item<'_>) -> Result<Option<(bool, Term)>> {
    let mut text = item.text;
    if text.is_empty() {
        return Err(ctx.err(item, "empty item (two commas in a row, or a leading or trailing comma)"));
    }

    let negated = match text.strip_prefix('!') {
        Some(rest) => {
            if ctx.in_exclude {
                return Err(ctx.err(item, "'!' is not needed here; list the ports to exclude directly"));
            }
            text = rest.trim_start();
            if text.is_empty() {
                return Err(ctx.err(item, "nothing to exclude after '!'"));
            }
            if text.starts_with('!') {
                return Err(ctx.err(item, "'!' may appear only once, at the start of an item"));
            }
            true
        }
        None => false,
    };

    if let Some(colon) = text.find(':') {
        let prefix = text[..colon].trim();
        let item_proto = if prefix.eq_ignore_ascii_case("T") {
            Protocol::Tcp
        } else if prefix.eq_ignore_ascii_case("U") {
            Protocol::Udp
        } else if prefix.eq_ignore_ascii_case("S") {
            return Err(ctx.err(item, "SCTP ports are not supported by this scan"));
        } else {
            return Err(ctx.err(
                item,
                format!("unknown protocol prefix {}; use 'T:' (TCP) or 'U:' (UDP)", quote(&format!("{prefix}:"))),
            ));
        };
        let letter = if item_proto == Protocol::Tcp { "T" } else { "U" };
        text = text[colon + 1..].trim_start();
        if text.is_empty() {
            return Err(ctx.err(item, format!("no ports after '{letter}:'")));
        }
        if text.contains(':') {
            return Err(ctx.err(item, "only one protocol prefix is allowed per item"));
        }
        if text.starts_with('!') {
            return Err(ctx.err(item, format!("'!' must come before the '{letter}:' prefix, as in '!{letter}:22'")));
        }
        if item_proto != ctx.proto {
            if !ctx.both {
                let (kind, option) = if item_proto == Protocol::Udp { ("UDP", "udp") } else { ("TCP", "tcp") };
                return Err(ctx.err(
                    item,
                    format!("{kind} ports are not supported by this scan; scan with protocol=\"{option}\" or \"both\""),
                ));
            }
            return Ok(None);
        }
    }

    if text.eq_ignore_ascii_case("all") {
        return Ok(Some((negated, Term::Range(1, u16::MAX))));
    }
    if text.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("top-")) {
        return match named_set_for(text, ctx.proto) {
            Some(set) => Ok(Some((negated, Term::Named(set)))),
            None => Err(ctx.err(item, format!("unknown named set {}; known: {KNOWN_SETS}", quote(text)))),
        };
    }

    let term = match text.find('-') {
        None => {
            let p = port_number(ctx, item, text)?;
            Term::Range(p, p)
        }
        Some(dash) => {
            let (a, b) = (text[..dash].trim(), text[dash + 1..].trim());
            if b.contains('-') {
                return Err(ctx.err(item, "a range has a single '-' between its start and end, as in '1000-2000'"));
            }
            let start = if a.is_empty() { 1 } else { port_number(ctx, item, a)? };
            let end = if b.is_empty() { u16::MAX } else { port_number(ctx, item, b)? };
            if end < start {
                return Err(ctx.err(item, format!("range end {end} is before its start {start}")));
            }
            Term::Range(start, end)
        }
    };
    Ok(Some((negated, term)))
}

/// A decimal port number 1-65535 written with ASCII digits only (no sign, no base prefix).
fn port_number(ctx: &Ctx<'_>, item: &Item<'_>, s: &str) -> Result<u16> {
    if s.chars().any(char::is_whitespace) {
        return Err(ctx.err(item, format!("unexpected whitespace in {}; separate items with commas", quote(s))));
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        let hint = if s.chars().any(|c| c.is_numeric() && !c.is_ascii_digit()) {
            " (only the ASCII digits 0-9 are accepted)"
        } else if s.starts_with('+') {
            " (write ports without a sign)"
        } else if s.len() > 1 && (s.starts_with("0x") || s.starts_with("0X")) {
            " (write ports in decimal)"
        } else if s.chars().any(|c| c.is_ascii_alphabetic()) {
            " (named sets: all, top-100, top-1000)"
        } else {
            ""
        };
        return Err(ctx.err(item, format!("not a number: {}{hint}", quote(s))));
    }
    let digits = s.trim_start_matches('0');
    if digits.is_empty() {
        return Err(ctx.err(item, PORT_ZERO));
    }
    let value = if digits.len() > 5 {
        None
    } else {
        let v = digits.bytes().fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0'));
        u16::try_from(v).ok()
    };
    value.ok_or_else(|| {
        let shown = if digits.len() > 24 {
            format!("{}… ({} digits)", &digits[..12], digits.len())
        } else {
            digits.to_string()
        };
        ctx.err(item, format!("port {shown} is out of range 1-65535"))
    })
}

/// `'text'`, escaped, shortened if long, for a reason message.
fn quote(s: &str) -> String {
    const MAX: usize = 32;
    let count = s.chars().count();
    let shown: String = s.chars().take(MAX).flat_map(char::escape_debug).collect();
    if count > MAX {
        format!("'{shown}…' ({count} characters)")
    } else {
        format!("'{shown}'")
    }
}

/// Collects terms cheaply (a difference array for ranges, so that even a huge spec of ranges is
/// linear), then turns them into a 65536-entry membership mask.
struct Accumulator {
    diff: Option<Vec<i64>>,
    named: Vec<&'static [u16]>,
}

impl Accumulator {
    fn new() -> Self {
        Accumulator { diff: None, named: Vec::new() }
    }

    fn add(&mut self, term: Term) {
        match term {
            Term::Range(a, b) => {
                let diff = self.diff.get_or_insert_with(|| vec![0; 65537]);
                diff[usize::from(a)] += 1;
                diff[usize::from(b) + 1] -= 1;
            }
            Term::Named(set) => {
                if !self.named.iter().any(|s| std::ptr::eq(*s, set)) {
                    self.named.push(set);
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.diff.is_none() && self.named.is_empty()
    }

    /// The membership mask, or `None` when nothing was added.
    fn into_mask(self) -> Option<Vec<bool>> {
        if self.is_empty() {
            return None;
        }
        let mut mask = vec![false; 65536];
        if let Some(diff) = self.diff {
            let mut depth = 0i64;
            for (slot, d) in mask.iter_mut().zip(&diff) {
                depth += d;
                *slot = depth > 0;
            }
        }
        for set in self.named {
            for &p in set {
                mask[usize::from(p)] = true;
            }
        }
        Some(mask)
    }
}

// ---------------------------------------------------------------------------------------------
// The curated tiers. Each entry is (port, service name); all are TCP.
// ---------------------------------------------------------------------------------------------

/// First tier: exactly 100 ports in priority order; becomes [`TOP_100`].
const TIER_1: [(u16, &str); 100] = [
    // Windows file sharing and remote desktop
    (445, "microsoft-ds"),
    (3389, "ms-wbt-server"),
    // cleartext remote shells and file transfer, SSH
    (23, "telnet"),
    (2323, "telnet-alt"), // IoT telnet daemons
    (21, "ftp"),
    (22, "ssh"),
    // Windows RPC and NetBIOS, VNC, WinRM
    (135, "msrpc"),
    (139, "netbios-ssn"),
    (5900, "vnc"),
    (5901, "vnc-1"),
    (5985, "wsman"),
    (5986, "wsmans"),
    // data stores often reachable without authentication
    (6379, "redis"),
    (27017, "mongodb"),
    (9200, "elasticsearch"),
    (5984, "couchdb"),
    // container and cluster control planes
    (2375, "docker"),
    (2376, "docker-s"),
    (6443, "kube-apiserver"),
    (10250, "kubelet"),
    (10255, "kubelet-ro"),
    (2379, "etcd-client"),
    (2380, "etcd-server"),
    // IoT, cameras, DVRs, routers
    (1883, "mqtt"),
    (8883, "secure-mqtt"),
    (554, "rtsp"),
    (37777, "dahua-dvr"),
    (34567, "xiongmai-dvr"),
    (9527, "xiongmai-debug"),
    (9530, "xiongmai-telnet-enable"),
    (8000, "http-alt"), // also the Hikvision SDK port
    (7547, "cwmp"),     // TR-069 CPE management
    (5555, "adb"),      // Android debug bridge over TCP
    (8291, "mikrotik-winbox"),
    (4786, "cisco-smart-install"),
    // industrial control
    (502, "modbus"),
    (102, "iso-tsap"), // Siemens S7
    (20000, "dnp3"),
    (44818, "ethernet-ip"),
    (4840, "opcua-tcp"),
    (2404, "iec-104"),
    (1911, "niagara-fox"),
    // databases
    (3306, "mysql"),
    (5432, "postgresql"),
    (1433, "ms-sql-s"),
    (1521, "oracle-tns"),
    (11211, "memcache"),
    // legacy Unix remote access, RPC, file sharing, X
    (512, "exec"),
    (513, "login"),
    (514, "shell"),
    (111, "sunrpc"),
    (2049, "nfs"),
    (6000, "x11"),
    (873, "rsync"),
    // Java remote management and connectors
    (1099, "rmiregistry"),
    (8009, "ajp13"),
    // directory and authentication
    (389, "ldap"),
    (636, "ldaps"),
    (88, "kerberos"),
    (464, "kpasswd"),
    // cleartext mail
    (25, "smtp"),
    (110, "pop3"),
    (143, "imap"),
    // everyday: web, DNS, mail submission and TLS mail
    (80, "http"),
    (443, "https"),
    (8080, "http-alt"),
    (8443, "https-alt"),
    (53, "domain"),
    (465, "submissions"),
    (587, "submission"),
    (993, "imaps"),
    (995, "pop3s"),
    // everyday: alternate web ports of apps and appliances
    (8888, "http-alt"),
    (9090, "prometheus"),
    (3000, "http-alt"), // Grafana, Node.js, Gitea
    (5000, "http-alt"), // Flask, Docker registry, Synology DSM
    (8081, "http-alt"),
    (8008, "http-alt"),
    (9443, "https-alt"),
    // proxies and VPN
    (3128, "squid-http"),
    (1080, "socks"),
    (1723, "pptp"),
    // voice and printing
    (5060, "sip"),
    (5061, "sips"),
    (631, "ipp"),
    (9100, "jetdirect"),
    // admin panels and platform services
    (10000, "webmin"),
    (8089, "splunkd"),
    (8200, "vault"),
    (8500, "consul"),
    (5601, "kibana"),
    (9000, "cslistener"), // MinIO, Portainer, SonarQube, PHP-FPM
    // message brokers, wide-column and time-series stores
    (9092, "kafka"),
    (2181, "zookeeper"),
    (5672, "amqp"),
    (15672, "rabbitmq-mgmt"),
    (9042, "cassandra"),
    (8086, "influxdb"),
    // directory global catalog, chat
    (3268, "msft-gc"),
    (6667, "irc"),
];

/// Second tier: other well-known TCP service defaults, grouped by kind (order within
/// [`TOP_1000`] follows this table).
const TIER_2: &[(u16, &str)] = &[
    // alternate HTTP/HTTPS ports of web servers, appliances and app servers
    (81, "http-alt"),
    (591, "filemaker"),
    (593, "http-rpc-epmap"),
    (8001, "http-alt"),
    (8002, "http-alt"),
    (8003, "http-alt"),
    (8004, "http-alt"),
    (8010, "http-alt"),
    (8082, "http-alt"),
    (8083, "http-alt"),
    (8084, "http-alt"),
    (8085, "http-alt"),
    (8088, "http-alt"), // also Hadoop YARN ResourceManager
    (8090, "http-alt"),
    (8180, "http-alt"),
    (8181, "http-alt"),
    (8444, "https-alt"),
    (8800, "http-alt"),
    (8843, "https-alt"),
    (8880, "http-alt"),
    (8889, "http-alt"),
    (9080, "http-alt"),
    (9081, "http-alt"),
    (7080, "http-alt"),
    (7443, "https-alt"),
    (4443, "https-alt"),
    (5001, "https-alt"),
    (10443, "https-alt"),
    // Java, Node and other application servers, debuggers
    (8005, "tomcat-shutdown"),
    (7001, "weblogic"),
    (7002, "weblogic-ssl"),
    (4848, "glassfish-admin"),
    (9990, "wildfly-admin"),
    (9060, "websphere-admin"),
    (9043, "websphere-admin-ssl"),
    (4444, "krb524"),
    (5005, "jdwp"),
    (9229, "node-inspector"),
    (8983, "solr"),
    // databases, caches and search engines
    (33060, "mysqlx"),
    (6432, "pgbouncer"),
    (2483, "oracle-ttc"),
    (2484, "oracle-ttc-ssl"),
    (523, "ibm-db2"),
    (50000, "db2"),
    (3050, "firebird"),
    (1527, "derby"),
    (7474, "neo4j"),
    (7687, "neo4j-bolt"),
    (8087, "riak-pb"),
    (8098, "riak-http"),
    (28015, "rethinkdb"),
    (29015, "rethinkdb-cluster"),
    (8091, "couchbase"),
    (11210, "couchbase-data"),
    (26257, "cockroachdb"),
    (8529, "arangodb"),
    (27018, "mongodb-shard"),
    (27019, "mongodb-config"),
    (28017, "mongodb-http"),
    (26379, "redis-sentinel"),
    (9300, "elasticsearch-transport"),
    (7000, "airplay"), // macOS AirPlay receiver; also Cassandra inter-node
    (7199, "cassandra-jmx"),
    (9160, "cassandra-thrift"),
    (7700, "meilisearch"),
    (8108, "typesense"),
    (6333, "qdrant"),
    (19530, "milvus"),
    // message brokers and messaging
    (5671, "amqps"),
    (25672, "rabbitmq-dist"),
    (4369, "epmd"),
    (61613, "stomp"),
    (61614, "stomp-ssl"),
    (61616, "activemq"),
    (8161, "activemq-admin"),
    (4222, "nats"),
    (6222, "nats-cluster"),
    (8222, "nats-monitor"),
    (1414, "ibm-mqseries"),
    (6650, "pulsar"),
    (2888, "zookeeper-peer"),
    (3888, "zookeeper-election"),
    (5222, "xmpp-client"),
    (5223, "xmpp-client-ssl"),
    (5269, "xmpp-server"),
    (5280, "xmpp-bosh"),
    // monitoring, logging and tracing
    (9091, "pushgateway"),
    (9093, "alertmanager"),
    (9101, "bacula-dir"),
    (9102, "bacula-fd"),
    (9103, "bacula-sd"),
    (9104, "mysqld-exporter"),
    (9113, "nginx-exporter"),
    (9115, "blackbox-exporter"),
    (9116, "snmp-exporter"),
    (9117, "apache-exporter"),
    (9121, "redis-exporter"),
    (9182, "windows-exporter"),
    (9187, "postgres-exporter"),
    (10050, "zabbix-agent"),
    (10051, "zabbix-trapper"),
    (5666, "nrpe"),
    (4949, "munin"),
    (2003, "graphite"),
    (2004, "graphite-pickle"),
    (3100, "loki"),
    (9411, "zipkin"),
    (16686, "jaeger-ui"),
    (14268, "jaeger-collector"),
    (4317, "otlp-grpc"),
    (4318, "otlp-http"),
    (8428, "victoriametrics"),
    (19999, "netdata"),
    (5044, "beats"),
    (9600, "logstash-api"),
    (12201, "gelf"),
    (24224, "fluentd"),
    (8126, "datadog-apm"),
    (601, "syslog-conn"),
    (6514, "syslog-tls"),
    (199, "smux"),
    (705, "agentx"),
    // containers, orchestration and cloud platforms
    (2377, "docker-swarm"),
    (7946, "docker-swarm-gossip"),
    (10249, "kube-proxy-metrics"),
    (10256, "kube-proxy-health"),
    (10257, "kube-controller-manager"),
    (10259, "kube-scheduler"),
    (10251, "kube-scheduler-legacy"),
    (10252, "kube-controller-legacy"),
    (9345, "rke2-supervisor"),
    (16443, "microk8s-api"),
    (6783, "weave"),
    (179, "bgp"),
    (4646, "nomad-http"),
    (4647, "nomad-rpc"),
    (4648, "nomad-serf"),
    (8300, "consul-rpc"),
    (8301, "consul-serf-lan"),
    (8302, "consul-serf-wan"),
    (8501, "consul-https"),
    (8502, "consul-grpc"),
    (8600, "consul-dns"),
    (8201, "vault-cluster"),
    (9901, "envoy-admin"),
    (35357, "keystone-admin"),
    (8774, "nova-api"),
    (9292, "glance-api"),
    (9696, "neutron-api"),
    (8776, "cinder-api"),
    (6080, "novnc"),
    // virtualisation and hyper-converged platforms
    (902, "vmware-authd"),
    (5480, "vami"),
    (2179, "vmrdp"),
    (8006, "proxmox"),
    (8007, "proxmox-backup"),
    (9440, "nutanix-prism"),
    // Hadoop, Spark and data science tools
    (9870, "hdfs-namenode-http"),
    (50070, "hdfs-namenode-http-legacy"),
    (8020, "hdfs-namenode"),
    (9864, "hdfs-datanode-http"),
    (50075, "hdfs-datanode-http-legacy"),
    (9866, "hdfs-datanode"),
    (50010, "hdfs-datanode-legacy"),
    (8032, "yarn-resourcemanager"),
    (8042, "yarn-nodemanager"),
    (19888, "mapreduce-jobhistory"),
    (16000, "hbase-master"),
    (16010, "hbase-master-http"),
    (16020, "hbase-regionserver"),
    (16030, "hbase-regionserver-http"),
    (9083, "hive-metastore"),
    (10002, "hiveserver2-http"),
    (7077, "spark-master"),
    (4040, "spark-ui"),
    (18080, "spark-history"),
    (8998, "livy"),
    (6006, "tensorboard"),
    (8787, "rstudio"),
    (8265, "ray-dashboard"),
    (11434, "ollama"),
    (7860, "gradio"),
    // source control, CI/CD, configuration management, developer tools
    (9418, "git"),
    (3690, "svn"),
    (2401, "cvspserver"),
    (1666, "perforce"),
    (3632, "distcc"),
    (8140, "puppet"),
    (4505, "salt-publish"),
    (4506, "salt-request"),
    (8065, "mattermost"),
    (8069, "odoo"),
    (8834, "nessus"),
    // remote access, network device and out-of-band management
    (2222, "ssh-alt"),
    (830, "netconf-ssh"),
    (6513, "netconf-tls"),
    (992, "telnets"),
    (5800, "vnc-http"),
    (5801, "vnc-http-1"),
    (5902, "vnc-2"),
    (5903, "vnc-3"),
    (5938, "teamviewer"),
    (4899, "radmin"),
    (5631, "pcanywheredata"),
    (1494, "citrix-ica"),
    (2598, "citrix-cgp"),
    (3283, "net-assistant"), // Apple Remote Desktop
    (6129, "dameware"),
    (16992, "amt-soap-http"),
    (16993, "amt-soap-https"),
    (16994, "amt-redir-tcp"),
    (16995, "amt-redir-tls"),
    (1311, "dell-openmanage"),
    (8728, "mikrotik-api"),
    (8729, "mikrotik-api-ssl"),
    (541, "fortinet-fgfm"),
    (943, "openvpn-as"),
    (2601, "zebra"),
    (2602, "ripd"),
    (2603, "ripngd"),
    (2604, "ospfd"),
    (2605, "bgpd"),
    (2600, "zebrasrv"),
    // hosting control panels
    (2082, "cpanel"),
    (2083, "cpanel-ssl"),
    (2086, "whm"),
    (2087, "whm-ssl"),
    (2095, "cpanel-webmail"),
    (2096, "cpanel-webmail-ssl"),
    // X11 displays :1 to :7 (6006, display :6, is listed as TensorBoard) and the X font server
    (6001, "x11-1"),
    (6002, "x11-2"),
    (6003, "x11-3"),
    (6004, "x11-4"),
    (6005, "x11-5"),
    (6007, "x11-7"),
    (7100, "font-service"),
    // VPN, proxies and anonymity networks
    (1194, "openvpn"),
    (8118, "privoxy"),
    (9050, "tor-socks"),
    (9051, "tor-control"),
    (9150, "tor-browser-socks"),
    (9001, "tor-orport"),
    (9030, "tor-dirport"),
    // Windows and Active Directory services
    (3269, "msft-gc-ssl"),
    (9389, "adws"),
    (1801, "msmq"),
    (5722, "dfsr"),
    (8530, "wsus"),
    (8531, "wsus-ssl"),
    (1688, "kms"),
    (2383, "ms-olap4"),
    (4022, "sql-service-broker"),
    (5357, "wsdapi"),
    (2869, "icslap"),
    (7680, "delivery-optimization"),
    (2701, "sccm-remote-control"),
    // SAP
    (3200, "sap-dispatcher"),
    (3300, "sap-gateway"),
    (3600, "sap-message-server"),
    (3299, "saprouter"),
    (50013, "sapstartsrv"),
    (50014, "sapstartsrv-ssl"),
    // mail, chat and collaboration
    (2525, "smtp-alt"),
    (4190, "sieve"),
    (109, "pop2"),
    (220, "imap3"),
    (119, "nntp"),
    (563, "nntps"),
    (194, "irc"),
    (994, "ircs"),
    (6665, "irc"),
    (6666, "irc"),
    (6668, "irc"),
    (6669, "irc"),
    (6697, "ircs-u"),
    (1863, "msnp"),
    (5190, "aol"),
    (3478, "stun"),
    (5349, "stuns"),
    (8448, "matrix-federation"),
    // voice and video
    (1720, "h323hostcall"),
    (2000, "cisco-sccp"),
    (5038, "asterisk-ami"),
    (1935, "rtmp"),
    (8554, "rtsp-alt"),
    // printers and UPS
    (515, "printer"),
    (3493, "nut"),
    (3551, "apcupsd"),
    // storage, NAS, file sharing, media and home
    (548, "afp"),
    (3260, "iscsi-target"),
    (860, "iscsi"),
    (20048, "mountd"),
    (4045, "lockd"),
    (20, "ftp-data"),
    (989, "ftps-data"),
    (990, "ftps"),
    (6881, "bittorrent"),
    (22000, "syncthing"),
    (8384, "syncthing-gui"),
    (32400, "plex"),
    (8096, "jellyfin"),
    (3689, "daap"),
    (62078, "iphone-sync"),
    (1400, "sonos"),
    (8123, "home-assistant"),
    // industrial control and building automation (second tier)
    (1962, "pcworx"),
    (20547, "proconos"),
    (18245, "ge-srtp"),
    (789, "redlion-crimson"),
    (5094, "hart-ip"),
    (4911, "niagara-fox-tls"),
    (34962, "profinet-rt"),
    (34963, "profinet-rtm"),
    (34964, "profinet-cm"),
    (48898, "beckhoff-ads"),
    (1089, "ff-annunc"),
    (1090, "ff-fms"),
    (1091, "ff-sm"),
    (10001, "veeder-root-atg"),
    // classic Internet services in the system port range
    (7, "echo"),
    (9, "discard"),
    (11, "systat"),
    (13, "daytime"),
    (15, "netstat"),
    (17, "qotd"),
    (19, "chargen"),
    (37, "time"),
    (43, "whois"),
    (49, "tacacs"),
    (70, "gopher"),
    (79, "finger"),
    (113, "ident"),
    (427, "svrloc"),
    (444, "snpp"),
    (540, "uucp"),
    (543, "klogin"),
    (544, "kshell"),
    (646, "ldp"),
    (749, "kerberos-adm"),
    (853, "domain-s"),
    // game, voice-chat and peer-to-peer servers
    (25565, "minecraft"),
    (25575, "minecraft-rcon"),
    (27015, "srcds"),
    (3724, "blizzard"),
    (6112, "dtspc"),
    (10011, "teamspeak-query"),
    (30033, "teamspeak-files"),
    (64738, "mumble"),
    (30120, "fivem"),
    (6346, "gnutella"),
    // blockchain nodes
    (8333, "bitcoin"),
    (8332, "bitcoin-rpc"),
    (18333, "bitcoin-testnet"),
    (30303, "ethereum-p2p"),
    (8545, "ethereum-rpc"),
    (8546, "ethereum-ws"),
    (9735, "lightning"),
    (26656, "tendermint-p2p"),
    (26657, "tendermint-rpc"),
];

// ---------------------------------------------------------------------------------------------
// Compile-time construction of the lists and the name index
// ---------------------------------------------------------------------------------------------

const fn tier_ports<const N: usize>(tier: &[(u16, &str)]) -> [u16; N] {
    assert!(tier.len() == N, "tier length mismatch");
    let mut out = [0u16; N];
    let mut i = 0;
    while i < N {
        out[i] = tier[i].0;
        i += 1;
    }
    out
}

/// Append a curated tier, refusing port 0 and duplicates (a compile error, since this runs in a
/// constant). Returns the new length.
const fn add_tier(tier: &[(u16, &str)], out: &mut [u16; 1000], seen: &mut [bool; 65536], mut n: usize) -> usize {
    let mut i = 0;
    while i < tier.len() {
        let port = tier[i].0;
        assert!(port != 0, "port 0 in a curated tier");
        assert!(!seen[port as usize], "duplicate port in the curated tiers");
        assert!(n < 1000, "the curated tiers hold more than 1000 ports");
        seen[port as usize] = true;
        out[n] = port;
        n += 1;
        i += 1;
    }
    n
}

/// TIER_1, TIER_2, then the remaining ports ascending from 1 until there are exactly 1000.
const fn build_top_1000() -> [u16; 1000] {
    let mut out = [0u16; 1000];
    let mut seen = [false; 65536];
    let mut n = add_tier(&TIER_1, &mut out, &mut seen, 0);
    n = add_tier(TIER_2, &mut out, &mut seen, n);
    let mut port: usize = 1;
    while n < 1000 {
        assert!(port <= 65535, "ran out of ports");
        if !seen[port] {
            seen[port] = true;
            out[n] = port as u16;
            n += 1;
        }
        port += 1;
    }
    out
}

const NAMED_LEN: usize = TIER_1.len() + TIER_2.len();

/// Both tiers, sorted by port, for [`service_name`].
static SERVICE_NAMES: [(u16, &str); NAMED_LEN] = sorted_names();

const fn sorted_names() -> [(u16, &'static str); NAMED_LEN] {
    let mut out = [(0u16, ""); NAMED_LEN];
    let mut n = 0;
    while n < TIER_1.len() {
        out[n] = TIER_1[n];
        n += 1;
    }
    while n < NAMED_LEN {
        out[n] = TIER_2[n - TIER_1.len()];
        n += 1;
    }
    // insertion sort
    let mut i = 1;
    while i < NAMED_LEN {
        let mut j = i;
        while j > 0 && out[j - 1].0 > out[j].0 {
            let tmp = out[j];
            out[j] = out[j - 1];
            out[j - 1] = tmp;
            j -= 1;
        }
        i += 1;
    }
    out
}

/// Entry point of the port-spec parser for the cargo-fuzz target `port_spec` under `fuzz/` and the
/// deterministic property tests of `cargo test`.
pub mod fuzzing {
    use super::{PortList, Protocol};
    use crate::error::Error;

    /// Parses the first line of `data` as a spec and the rest as the exclude list, for TCP, UDP
    /// and both, and checks the result: a typed error, or a sorted list of ports 1-65535 whose
    /// compact spec parses back to the same list.
    pub fn port_spec(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let (spec, exclude) = text.split_once('\n').unwrap_or((&text, ""));
        for (proto, both) in [(Protocol::Tcp, false), (Protocol::Udp, false), (Protocol::Tcp, true)] {
            match PortList::parse_for(spec, exclude, proto, both) {
                Ok(Some(list)) => {
                    let ports = list.as_slice();
                    assert!(!ports.is_empty() && ports[0] > 0, "{ports:?}");
                    assert!(ports.windows(2).all(|w| w[0] < w[1]), "not strictly ascending");
                    let again = PortList::parse_for(&list.to_spec(), "", proto, false);
                    assert_eq!(again.ok().flatten().as_ref(), Some(&list), "to_spec does not round-trip");
                }
                Ok(None) => assert!(both, "no list without `both`"),
                Err(e) => {
                    assert!(matches!(e, Error::Ports { .. }), "{e:?}");
                    assert!(e.to_string().len() < 4096, "message of {} bytes", e.to_string().len());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn parse(spec: &str) -> Vec<u16> {
        match PortList::parse(spec, "") {
            Ok(list) => list.as_slice().to_vec(),
            Err(e) => panic!("{spec:?} should parse: {e}"),
        }
    }

    fn range(a: u16, b: u16) -> Vec<u16> {
        (a..=b).collect()
    }

    /// Parse an invalid spec and check: the Ports variant, the input the span points into, the
    /// offending item, and that the message names the item. Returns (reason, offset).
    fn invalid(spec: &str, exclude: &str, input: &str, item: &str) -> (String, usize) {
        let err = match PortList::parse(spec, exclude) {
            Ok(list) => panic!("{spec:?} / {exclude:?} should fail, got {}", list.to_spec()),
            Err(e) => e,
        };
        let msg = err.to_string();
        let Error::Ports { span, reason } = &err else {
            panic!("{spec:?}: expected Error::Ports, got {err:?}");
        };
        // Long inputs and items are clipped in messages.
        let input = if input == item { crate::error::clip(item, 256) } else { crate::error::clip(input, 512) };
        let item = crate::error::clip(item, 256);
        assert_eq!(span.input, input, "input for {spec:?}: {msg}");
        assert_eq!(span.item, item, "item for {spec:?}: {msg}");
        assert_eq!(err.span(), Some(span));
        assert!(!reason.is_empty());
        assert!(msg.starts_with("invalid port specification "), "{msg}");
        assert!(msg.contains(&format!("{item:?}")), "message for {spec:?} must name {item:?}: {msg}");
        assert!(msg.len() < 2000, "message of {} bytes", msg.len());
        assert!(msg.ends_with(reason.as_str()));
        (reason.clone(), span.offset)
    }

    // ----- the lists -----

    #[test]
    fn list_lengths_and_uniqueness() {
        assert_eq!(TOP_100.len(), 100);
        assert_eq!(TOP_1000.len(), 1000);
        assert_eq!(TOP_100.iter().collect::<HashSet<_>>().len(), 100);
        assert_eq!(TOP_1000.iter().collect::<HashSet<_>>().len(), 1000);
        assert!(!TOP_100.contains(&0));
        assert!(!TOP_1000.contains(&0));
        assert_eq!(&TOP_1000[..100], &TOP_100[..]);
    }

    #[test]
    fn tiers_are_unique_and_named() {
        let mut seen = HashSet::new();
        for &(port, name) in TIER_1.iter().chain(TIER_2) {
            assert!(port != 0);
            assert!(seen.insert(port), "duplicate port {port}");
            let well_formed = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            assert!(!name.is_empty() && well_formed, "bad name {name:?} for {port}");
            assert_eq!(service_name(port), Some(name));
        }
        // the curated tiers come first in TOP_1000, in table order
        let curated: Vec<u16> = TIER_1.iter().chain(TIER_2).map(|&(p, _)| p).collect();
        assert!(curated.len() < 1000);
        assert_eq!(&TOP_1000[..curated.len()], &curated[..]);
    }

    #[test]
    fn fill_is_the_remaining_low_ports_ascending() {
        let curated: HashSet<u16> = TIER_1.iter().chain(TIER_2).map(|&(p, _)| p).collect();
        let fill = &TOP_1000[curated.len()..];
        assert!(!fill.is_empty());
        let last = *fill.last().unwrap();
        let expected: Vec<u16> = (1..=last).filter(|p| !curated.contains(p)).collect();
        assert_eq!(fill, &expected[..]);
        assert!(fill.iter().all(|&p| service_name(p).is_none()));
    }

    #[test]
    fn risky_and_everyday_ports_are_in_top_100() {
        let risk = [
            445, 3389, 23, 2323, 21, 22, 135, 139, 5900, 5985, 6379, 27017, 9200, 2375, 10250, 2379, 1883, 554, 37777,
            34567, 8000, 502, 102, 20000, 3306, 5432, 1433, 11211,
        ];
        for p in risk {
            assert!(TOP_100.contains(&p), "{p} missing from TOP_100");
        }
        let everyday = [80, 443, 8080, 8443, 53, 465, 587, 993, 995, 8888, 9090, 3000, 5000, 8081];
        for p in everyday {
            assert!(TOP_100.contains(&p), "{p} missing from TOP_100");
        }
        // risky exposures come before everyday services
        let pos = |p: u16| TOP_100.iter().position(|&x| x == p).unwrap();
        assert_eq!(&TOP_100[..2], &[445, 3389]);
        assert!(risk.iter().all(|&r| pos(r) < pos(80)));
    }

    #[test]
    fn second_tier_examples_are_in_top_1000() {
        for p in [
            5060, 5061, 515, 631, 9100, 1194, 1723, 9092, 2181, 5672, 15672, 5601, 9042, 7474, 8086, 8500, 8200, 9000,
            8089, 10000, 2082, 2083, 2086, 2087, 3268, 3269, 8001, 8010, 8085, 8090, 9443,
        ] {
            assert!(TOP_1000.contains(&p), "{p} missing from TOP_1000");
        }
    }

    #[test]
    fn named_sets_and_service_names() {
        assert_eq!(named_set("top-100"), Some(&TOP_100[..]));
        assert_eq!(named_set("TOP-1000"), Some(&TOP_1000[..]));
        assert_eq!(named_set("top-5000"), None);
        assert_eq!(named_set("all"), None);
        assert_eq!(service_name(22), Some("ssh"));
        assert_eq!(service_name(23), Some("telnet"));
        assert_eq!(service_name(445), Some("microsoft-ds"));
        assert_eq!(service_name(3389), Some("ms-wbt-server"));
        assert_eq!(service_name(102), Some("iso-tsap"));
        assert_eq!(service_name(502), Some("modbus"));
        assert_eq!(service_name(20000), Some("dnp3"));
        assert_eq!(service_name(10250), Some("kubelet"));
        assert_eq!(service_name(2379), Some("etcd-client"));
        assert_eq!(service_name(6379), Some("redis"));
        assert_eq!(service_name(443), Some("https"));
        assert_eq!(service_name(0), None);
        assert_eq!(service_name(1), None);
        assert_eq!(service_name(65535), None);
        assert!(SERVICE_NAMES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    // ----- parsing: valid forms -----

    #[test]
    fn single_ports_and_ranges() {
        assert_eq!(parse("80"), vec![80]);
        assert_eq!(parse("1"), vec![1]);
        assert_eq!(parse("65535"), vec![65535]);
        assert_eq!(parse("080"), vec![80]);
        assert_eq!(parse("8000-8100"), range(8000, 8100));
        assert_eq!(parse("22-22"), vec![22]);
        assert_eq!(parse("1000-"), range(1000, 65535));
        assert_eq!(parse("80-"), range(80, 65535));
        assert_eq!(parse("-1024"), range(1, 1024));
        assert_eq!(parse("1 - 3"), vec![1, 2, 3]);
        assert_eq!(parse("all"), range(1, 65535));
        assert_eq!(parse("ALL"), range(1, 65535));
        assert_eq!(parse("-"), range(1, 65535));
        assert_eq!(parse(" - "), range(1, 65535));
    }

    #[test]
    fn named_sets_in_specs() {
        let mut top100 = TOP_100.to_vec();
        top100.sort_unstable();
        assert_eq!(parse("top-100"), top100);
        assert_eq!(parse("Top-100"), top100);
        assert_eq!(parse("T:top-100"), top100);
        let mut top1000 = TOP_1000.to_vec();
        top1000.sort_unstable();
        assert_eq!(parse("top-1000"), top1000);
        assert_eq!(parse("TOP-1000,top-100,top-1000"), top1000);
        assert_eq!(parse("top-100,65000"), [top100, vec![65000]].concat());
    }

    #[test]
    fn dedupe_sort_and_whitespace() {
        assert_eq!(parse("443,80,22,80,443"), vec![22, 80, 443]);
        assert_eq!(parse("  443 ,\t80 ,\n22  "), vec![22, 80, 443]);
        assert_eq!(parse("\u{a0}80,\u{3000}443"), vec![80, 443]);
        assert_eq!(parse("10-20,15-25,5"), [vec![5], range(10, 25)].concat());
        assert_eq!(parse("1-65535,1-65535,80"), range(1, 65535));
    }

    #[test]
    fn tcp_prefix() {
        assert_eq!(parse("T:80"), vec![80]);
        assert_eq!(parse("t:80,T:443"), vec![80, 443]);
        assert_eq!(parse("T:1-3"), vec![1, 2, 3]);
        assert_eq!(parse("T: 22"), vec![22]);
        assert_eq!(parse("T:all"), range(1, 65535));
        assert_eq!(parse("1-5,!T:3"), vec![1, 2, 4, 5]);
    }

    #[test]
    fn excludes_inside_the_spec() {
        let list = PortList::parse("top-1000,!22", "").unwrap();
        assert_eq!(list.len(), 999);
        assert!(!list.contains(22));
        assert!(list.contains(445));
        assert_eq!(parse("1-10,!3-5"), vec![1, 2, 6, 7, 8, 9, 10]);
        assert_eq!(parse("!3-5,1-10"), vec![1, 2, 6, 7, 8, 9, 10]);
        assert_eq!(parse("1-10,! 2,!-4"), range(5, 10));
        assert_eq!(parse("1-10,!5,!5,5"), vec![1, 2, 3, 4, 6, 7, 8, 9, 10]);
        assert_eq!(parse("all,!1000-"), range(1, 999));
        assert_eq!(parse("all,!top-1000").len(), 65535 - 1000);
        assert_eq!(parse("top-100,!top-1000,65000"), vec![65000]);
    }

    #[test]
    fn exclude_argument() {
        let list = PortList::parse("1-100", "50-100, 2").unwrap();
        assert_eq!(list.as_slice(), &[vec![1], range(3, 49)].concat()[..]);
        let list = PortList::parse("all", "top-1000").unwrap();
        assert_eq!(list.len(), 65535 - 1000);
        let list = PortList::parse("22,80", "").unwrap();
        assert_eq!(list.as_slice(), &[22, 80]);
        let list = PortList::parse("22,80", "   ").unwrap();
        assert_eq!(list.as_slice(), &[22, 80]);
        let list = PortList::parse("22,80", "T:22").unwrap();
        assert_eq!(list.as_slice(), &[80]);
        let list = PortList::parse("22,80", "1000-").unwrap();
        assert_eq!(list.as_slice(), &[22, 80]);
    }

    #[test]
    fn accessors() {
        let list = PortList::parse("443,22,80", "").unwrap();
        assert_eq!(list.as_slice(), &[22, 80, 443]);
        assert_eq!(list.len(), 3);
        assert!(!list.is_empty());
        assert!(list.contains(80));
        assert!(!list.contains(81));
        assert!(!list.contains(0));
    }

    #[test]
    fn from_ports() {
        let list = PortList::from_ports([443, 22, 80, 22]).unwrap();
        assert_eq!(list.as_slice(), &[22, 80, 443]);
        assert_eq!(list, PortList::parse("22,80,443", "").unwrap());
        assert_eq!(PortList::from_ports(TOP_1000).unwrap().len(), 1000);
        assert_eq!(PortList::from_ports(1..=u16::MAX).unwrap().len(), 65535);
        assert!(matches!(PortList::from_ports([]), Err(Error::Ports { .. })));
        match PortList::from_ports([80, 0]) {
            Err(Error::Ports { reason, .. }) => assert!(reason.contains("port 0"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn to_spec_is_compact() {
        let spec = |s: &str| PortList::parse(s, "").unwrap().to_spec();
        assert_eq!(spec("22,80,8000-8100"), "22,80,8000-8100");
        assert_eq!(spec("80"), "80");
        assert_eq!(spec("22,23"), "22,23");
        assert_eq!(spec("22,23,24"), "22-24");
        assert_eq!(spec("all"), "1-65535");
        assert_eq!(spec("1,3,5-7,65534,65535"), "1,3,5-7,65534,65535");
        assert_eq!(spec("65533-"), "65533-65535");
    }

    #[test]
    fn to_spec_round_trips() {
        let specs = [
            "80",
            "22,80,443",
            "1-1024",
            "all",
            "top-100",
            "top-1000",
            "all,!top-1000",
            "1-10,!5,20-30,!25-26",
            "65535",
            "1",
            "1,65535",
            "1-65534",
            "2-65535",
        ];
        for s in specs {
            let list = PortList::parse(s, "").unwrap();
            let again = PortList::parse(&list.to_spec(), "").unwrap();
            assert_eq!(list, again, "round trip of {s:?}");
        }
        let mut x: u32 = 12345;
        for _ in 0..50 {
            let mut ports = Vec::new();
            for _ in 0..200 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ports.push(((x >> 8) % 300 + 1) as u16);
            }
            let list = PortList::from_ports(ports).unwrap();
            assert_eq!(PortList::parse(&list.to_spec(), "").unwrap(), list);
        }
    }

    // ----- parsing: errors -----

    #[test]
    fn malformed_specs() {
        // (spec, offending item, a fragment of the reason)
        let cases: &[(&str, &str, &str)] = &[
            ("", "", "empty port specification"),
            ("   ", "   ", "empty port specification"),
            (",", "", "empty item"),
            ("80,,443", "", "empty item"),
            ("80,", "", "empty item"),
            ("0", "0", "port 0 cannot be scanned with a TCP connect"),
            ("000", "000", "port 0 cannot be scanned"),
            ("0-100", "0-100", "port 0 cannot be scanned"),
            ("-0", "-0", "port 0 cannot be scanned"),
            ("65536", "65536", "port 65536 is out of range 1-65535"),
            ("70000", "70000", "port 70000 is out of range 1-65535"),
            ("1-65536", "1-65536", "port 65536 is out of range 1-65535"),
            ("99999999999999999999", "99999999999999999999", "port 99999999999999999999 is out of range"),
            ("10-5", "10-5", "range end 5 is before its start 10"),
            ("20-10", "20-10", "range end 10 is before its start 20"),
            ("-5-", "-5-", "single '-'"),
            ("1-2-3", "1-2-3", "single '-'"),
            ("80-90-", "80-90-", "single '-'"),
            ("--", "--", "single '-'"),
            (" - - ", "- -", "single '-'"),
            ("a", "a", "not a number: 'a'"),
            ("ab", "ab", "not a number: 'ab'"),
            ("http", "http", "not a number: 'http'"),
            ("1e3", "1e3", "not a number: '1e3'"),
            ("0x50", "0x50", "not a number: '0x50' (write ports in decimal)"),
            ("+80", "+80", "not a number: '+80' (write ports without a sign)"),
            ("８０", "８０", "not a number: '８０' (only the ASCII digits"),
            ("٨٠", "٨٠", "only the ASCII digits"),
            ("80\0", "80\0", "not a number: '80\\0'"),
            ("80.0", "80.0", "not a number"),
            ("80;443", "80;443", "not a number"),
            ("a-b", "a-b", "not a number: 'a'"),
            ("80 443 x", "80 443 x", "unexpected whitespace in '80 443 x'; separate items with commas"),
            ("80\n443", "80\n443", "unexpected whitespace"),
            ("top-5000", "top-5000", "unknown named set 'top-5000'; known: top-100, top-1000"),
            ("top-", "top-", "unknown named set 'top-'"),
            ("U:53", "U:53", "UDP ports are not supported by this scan; scan with protocol=\"udp\""),
            ("u:53", "u:53", "UDP ports are not supported by this scan"),
            ("S:80", "S:80", "SCTP ports are not supported"),
            ("X:80", "X:80", "unknown protocol prefix 'X:'"),
            ("T:", "T:", "no ports after 'T:'"),
            ("T:T:80", "T:T:80", "only one protocol prefix"),
            ("T:!80", "T:!80", "'!' must come before the 'T:' prefix"),
            ("!", "!", "nothing to exclude after '!'"),
            ("!!80", "!!80", "'!' may appear only once"),
            ("!22", "!22", "only excludes ports"),
            ("all,!all", "all,!all", "every port was excluded"),
            ("top-100,!top-1000", "top-100,!top-1000", "every port was excluded"),
        ];
        assert!(cases.len() >= 25);
        for &(spec, item, fragment) in cases {
            let (reason, _) = invalid(spec, "", spec, item);
            assert!(reason.contains(fragment), "{spec:?}: reason {reason:?} lacks {fragment:?}");
        }
    }

    #[test]
    fn malformed_excludes() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("1-100", "x", "x", "not a number: 'x'"),
            ("1-100", "!5", "!5", "'!' is not needed here"),
            ("1-100", "5,,6", "", "empty item"),
            ("1-100", "U:5", "U:5", "UDP ports are not supported"),
            ("1-100", "0", "0", "port 0"),
        ];
        for &(spec, exclude, item, fragment) in cases {
            let (reason, _) = invalid(spec, exclude, exclude, item);
            assert!(reason.contains(fragment), "{exclude:?}: {reason:?}");
            assert!(reason.ends_with("(in the exclude list)"), "{reason:?}");
        }
        // a valid exclude that removes everything is reported against the spec
        invalid("top-100", "top-100,80", "top-100", "top-100");
        invalid("22", "1-", "22", "22");
        // errors in the spec are found before the exclude list is read
        invalid("x", "y", "x", "x");
    }

    #[test]
    fn error_offsets_are_in_characters() {
        assert_eq!(invalid("80,,443", "", "80,,443", "").1, 3);
        assert_eq!(invalid("80,", "", "80,", "").1, 3);
        assert_eq!(invalid(" - - ", "", " - - ", "- -").1, 1);
        assert_eq!(invalid("1,2,3,x,5", "", "1,2,3,x,5", "x").1, 6);
        // 'é' is two bytes, NBSP two bytes, U+3000 three bytes: offsets count characters
        assert_eq!(invalid("22,é,x", "", "22,é,x", "é").1, 3);
        assert_eq!(invalid("\u{a0}80,\u{a0}70000", "", "\u{a0}80,\u{a0}70000", "70000").1, 5);
        assert_eq!(invalid("\u{3000}\u{3000}x", "", "\u{3000}\u{3000}x", "x").1, 2);
        assert_eq!(invalid("80,  ８０", "", "80,  ８０", "８０").1, 5);
        assert_eq!(invalid("1-10", "2, é", "2, é", "é").1, 3);
    }

    #[test]
    fn huge_inputs_do_not_panic() {
        // a 1 MB number
        let digits = "1".repeat(1 << 20);
        let (reason, offset) = invalid(&digits, "", &digits, &digits);
        assert_eq!(offset, 0);
        assert!(reason.contains("out of range 1-65535") && reason.contains("(1048576 digits)"), "{reason}");
        assert!(reason.len() < 200);
        // a 1 MB number with leading zeros is still that number
        let padded = format!("{}80", "0".repeat(1 << 20));
        assert_eq!(parse(&padded), vec![80]);
        // a 1 MB word: the reason stays short
        let word = "x".repeat(1 << 20);
        let (reason, _) = invalid(&word, "", &word, &word);
        assert!(reason.len() < 200, "{}", reason.len());
        // 1 MB of commas
        let commas = ",".repeat(1 << 20);
        assert_eq!(invalid(&commas, "", &commas, "").1, 0);
        // long valid specs stay fast (ranges go through a difference array)
        let many = format!("{}443", "-,".repeat(1 << 19));
        assert_eq!(parse(&many).len(), 65535);
        let many = format!("{}443", "80,top-1000,".repeat(1 << 15));
        assert_eq!(parse(&many).len(), 1000);
        let many = format!("{}1", "!1-65535,".repeat(1 << 16));
        invalid(&many, "", &many, &many);
    }

    #[test]
    fn random_inputs_never_panic() {
        let alphabet: Vec<char> = "0123456789-,!tT:uU aAlLpé８\u{a0}\0".chars().collect();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..4_000 {
            let len = (next() % 16) as usize;
            let spec: String = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            match PortList::parse(&spec, "") {
                Ok(list) => {
                    assert!(!list.is_empty());
                    assert!(list.as_slice().windows(2).all(|w| w[0] < w[1]));
                    assert!(!list.contains(0));
                    assert_eq!(PortList::parse(&list.to_spec(), "").unwrap(), list);
                }
                Err(Error::Ports { span, reason }) => {
                    assert_eq!(span.input, spec);
                    assert!(spec.contains(&span.item), "{spec:?} / {:?}", span.item);
                    assert!(span.offset <= spec.chars().count());
                    let at: String = spec.chars().skip(span.offset).collect();
                    assert!(at.starts_with(&span.item), "{spec:?}: {:?} at {}", span.item, span.offset);
                    assert!(!reason.is_empty());
                }
                Err(other) => panic!("{spec:?}: {other:?}"),
            }
        }
    }

    /// A deterministic xorshift stream.
    fn rng(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn specs_match_a_brute_force_model() {
        // Random specs of every item form against a 65536-entry membership model.
        let mut next = rng(0x504c_5053);
        let mut checked = 0;
        // Each parse builds a 65536-entry mask: a few hundred specs keep this quick in debug builds.
        for _ in 0..400 {
            let mut include = vec![false; 65536];
            let mut remove = vec![false; 65536];
            let mut any_include = false;
            let mut items = Vec::new();
            for _ in 0..(1 + next() % 6) {
                let a = (1 + next() % 65535) as u16;
                let b = (1 + next() % 65535) as u16;
                let (lo, hi) = (a.min(b), a.max(b));
                let (text, ports): (String, Vec<u16>) = match next() % 8 {
                    0 | 1 => (a.to_string(), vec![a]),
                    2 => (format!("{lo}-{hi}"), (lo..=hi).collect()),
                    3 => (format!("{a}-"), (a..=u16::MAX).collect()),
                    4 => (format!("-{a}"), (1..=a).collect()),
                    5 => ("top-100".into(), TOP_100.to_vec()),
                    6 => (format!("T:{a}"), vec![a]),
                    _ => (format!(" {lo} - {hi} "), (lo..=hi).collect()),
                };
                if next().is_multiple_of(3) {
                    items.push(format!("!{text}"));
                    ports.iter().for_each(|&p| remove[usize::from(p)] = true);
                } else {
                    items.push(text);
                    any_include = true;
                    ports.iter().for_each(|&p| include[usize::from(p)] = true);
                }
            }
            let want: Vec<u16> =
                (1..=u16::MAX).filter(|&p| include[usize::from(p)] && !remove[usize::from(p)]).collect();
            let spec = items.join(",");
            match PortList::parse(&spec, "") {
                Ok(list) => {
                    assert_eq!(list.as_slice(), &want[..], "{spec}");
                    checked += 1;
                }
                Err(Error::Ports { .. }) => assert!(!any_include || want.is_empty(), "{spec}"),
                Err(e) => panic!("{spec}: {e}"),
            }
        }
        assert!(checked > 200, "{checked}");
    }

    #[test]
    fn port_spec_entry_survives_random_and_mutated_input() {
        // The deterministic twin of the `port_spec` cargo-fuzz target.
        let seeds = ["22,80,8000-8100,!8050\n25", "top-1000,U:53\nT:22", "-,!1-1023\n", "all\n1-65534", "１,0x50,+1"];
        let mut next = rng(0x504c_0013);
        let alphabet = b"0123456789-,!tTuU: aAlLop\n\xff\x00";
        // Each input is parsed six times (three protocols, and the round trip): a few hundred
        // inputs here; `make test-fuzz` runs the cargo-fuzz target for millions.
        for i in 0..150 {
            let mut d = seeds[i % seeds.len()].as_bytes().to_vec();
            for _ in 0..(next() % 6) {
                let at = (next() % (d.len() as u64 + 1)) as usize;
                let b = alphabet[(next() % alphabet.len() as u64) as usize];
                match next() % 3 {
                    0 if at < d.len() => d[at] = b,
                    1 if at < d.len() => {
                        d.remove(at);
                    }
                    _ => d.insert(at, b),
                }
            }
            fuzzing::port_spec(&d);
        }
        // And hostile sizes, lazily split: 10 MB of commas or of one item, a million items.
        let start = std::time::Instant::now();
        for big in [",".repeat(10 << 20), "9".repeat(10 << 20), "1,".repeat(1 << 20)] {
            assert!(matches!(PortList::parse(&big, ""), Err(Error::Ports { .. })) || big.starts_with("1,"));
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "{:?}", start.elapsed());
    }
}

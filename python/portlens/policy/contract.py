"""The contract between service identification and the risk policy.

Service identification (the engine's probes and checks) attaches to each open `PortResult` an
optional ``service`` mapping. The policy reads it only through :func:`read_service`, so a result
without it (an older scan, a port nothing answered on) still works: the policy then falls back
to the port number, with lower confidence.

The mapping (every key optional; unknown keys are ignored)::

    {
        "name": "rdp",              # service name, lower case; canonical names or the aliases
                                    # below ("ms-wbt-server" -> "rdp"); "unknown"/"tcpwrapped"/""
                                    # mean "not identified"
        "product": "OpenSSH",       # product as announced (banner, HTTP Server header, ...)
        "version": "8.9p1",         # product version as announced
        "cpe": ["cpe:2.3:a:openbsd:openssh:8.9:p1:*:*:*:*:*:*"],
                                    # CPE 2.3 formatted strings, written the way the NVD dictionary
                                    # writes the product (OpenSSH 8.9p1 -> version "8.9", update
                                    # "p1"); CPE 2.2 URIs ("cpe:/a:openbsd:openssh:8.9p1") accepted
        "distro": {"name": "debian", "release": "12", "codename": "bookworm",
                   "revision": "2+deb12u10", "evidence": "Debian-2+deb12u10"},
                                    # the distribution the banner names (name lower case; release,
                                    # codename and revision when the banner tells): distribution
                                    # advisories decide a CVE by the package version
                                    # "version-revision" (policy/advisories.py)
        "method": "probe",          # how the name was found: "probe" | "banner" | "tls" | "port";
                                    # "port" means a guess from the port number (not identified)
        "conf": 0.9,                # confidence of the identification, 0..1 (0..10 also accepted)
        "checks": [                 # weakness checks run against the port
            {"id": "rdp-nla-not-enforced", "outcome": "vulnerable", "evidence": {"selected": 1}},
        ],
    }

A check's ``outcome`` is ``"vulnerable"`` (the weakness is confirmed), ``"ok"`` (checked, not
present) or ``"unknown"`` (could not tell). Only ``"vulnerable"`` raises or escalates a finding;
every outcome is shown in a finding's evidence. ``evidence`` is what was observed (banner fields,
status codes, the protocol chosen...), JSON-serialisable. The check ids the default policy knows
are listed in :data:`CHECKS`; a vulnerable check with another id still yields a low "unrated
check" finding, so new checks are never silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

__all__ = [
    "CHECKS",
    "OUTCOMES",
    "SERVICE_ALIASES",
    "CheckResult",
    "DistroInfo",
    "ServiceInfo",
    "ServiceView",
    "canonical_service",
    "read_service",
]

Outcome = Literal["vulnerable", "ok", "unknown"]
OUTCOMES: tuple[str, ...] = ("vulnerable", "ok", "unknown")


class _CheckRequired(TypedDict):
    id: str
    outcome: Outcome


class CheckResult(_CheckRequired, total=False):
    """One weakness check run against a port."""

    evidence: Mapping[str, Any]


class DistroInfo(TypedDict, total=False):
    """The distribution a banner names (``service.distro``): ``name`` ("debian", "ubuntu", "rhel"...),
    ``release`` ("12", "22.04") and ``codename`` when certain, the package ``revision``
    ("2+deb12u10") when shown, and the ``evidence`` text it was read from."""

    name: str
    release: str | None
    codename: str | None
    revision: str | None
    evidence: str


class ServiceInfo(TypedDict, total=False):
    """What service identification attaches to a `PortResult` as ``service`` (see the module doc)."""

    name: str
    product: str
    version: str
    cpe: list[str]
    distro: DistroInfo | None
    method: str
    conf: float
    checks: list[CheckResult]


#: Check ids and what "vulnerable" means for each (what to send and what decides is in
#: shared/RISK-KNOWLEDGE.md, "Checks beyond the port number").
CHECKS: Mapping[str, str] = {
    "ftp-anonymous": "USER anonymous / PASS <any> is answered 230: anonymous login allowed",
    "smbv1": "an SMB1 NEGOTIATE offering NT LM 0.12 is answered by \\xFFSMB choosing it",
    "smb-signing-not-required": "SMB2 NEGOTIATE response has signing enabled but not required",
    "rdp-nla-not-enforced": "RDP_NEG_REQ with protocols 0 or 1 only is accepted (no HYBRID_REQUIRED_BY_SERVER)",
    "redis-no-auth": "INFO answered with redis_version (no -NOAUTH)",
    "mongodb-no-auth": "listDatabases over OP_MSG succeeds without credentials",
    "elasticsearch-no-auth": "GET / answered 200 with a JSON version object, no credentials",
    "couchdb-no-auth": "GET /_all_dbs answered 200 without credentials",
    "docker-api-no-auth": "GET /version answered 200 with Docker version JSON (2375, or 2376 without client certs)",
    "kubelet-no-auth": "kubelet /pods answered 200 without credentials",
    "kubernetes-anonymous": "API server answers anonymous requests beyond /version, /healthz",
    "vnc-no-auth": "RFB security types include 1 (None)",
    "snmp-default-community": "a v1/v2c GET with community 'public' is answered",
    "mqtt-anonymous": "CONNECT without credentials answered by CONNACK return code 0",
    "smtp-open-relay": "RCPT TO an outside domain from an outside sender is accepted",
    "tls-expired": "the leaf certificate's notAfter is in the past",
    "tls-self-signed": "the leaf certificate is self-signed",
    "tls-untrusted": "the certificate chain does not verify against the system trust store",
    "tls-weak-protocol": "SSL 3.0, TLS 1.0 or TLS 1.1 is accepted",
    "tls-weak-cipher": "RC4, 3DES, export, NULL or anonymous suites are accepted",
    "ssh-weak-algorithms": "KEXINIT offers group1-sha1, group-exchange-sha1, hmac-md5, *-96, CBC or arcfour",
    "dns-open-resolver": "a recursive query for an outside name is answered with recursion available",
    "ntp-monlist": "an NTP mode 7 MON_GETLIST request is answered (amplification)",
    "rtsp-no-auth": "RTSP DESCRIBE answered 200 without credentials",
    "http-admin-panel": "an administration or login page is served over plain HTTP",
    "http-device-signature": "the web page or Server header matches a DVR or camera signature",
    "x11-no-auth": "an X11 connection setup without credentials is answered Success",
    "etcd-no-auth": "GET /v2/keys or /version answered 200 without credentials",
    "memcached-no-auth": "'stats' over TCP answered without SASL",
    "memcached-udp": "'stats' over UDP answered (amplification)",
    "telnet-cleartext": "the port negotiates Telnet options (IAC): a cleartext login",
    "cleartext-no-starttls": "an SMTP/POP3/IMAP server's capabilities offer no STARTTLS/STLS",
}

#: Alias -> canonical service name. Canonical names are the keys the default policy uses; the
#: aliases cover IANA names and the names portlens' port table gives (`portlens.service_name`).
SERVICE_ALIASES: Mapping[str, str] = {
    "microsoft-ds": "smb",
    "cifs": "smb",
    "smb2": "smb",
    "netbios-ssn": "netbios",
    "netbios-ns": "netbios",
    "netbios-dgm": "netbios",
    "msrpc": "msrpc",
    "epmap": "msrpc",
    "loc-srv": "msrpc",
    "ms-rpc": "msrpc",
    "ms-wbt-server": "rdp",
    "ms-term-serv": "rdp",
    "telnet-alt": "telnet",
    "exec": "rexec",
    "login": "rlogin",
    "shell": "rsh",
    "ssh-alt": "ssh",
    "vnc-1": "vnc",
    "vnc-2": "vnc",
    "vnc-3": "vnc",
    "rfb": "vnc",
    "wsman": "winrm",
    "wsmans": "winrm",
    "ftps": "ftps",
    "sunrpc": "rpcbind",
    "portmapper": "rpcbind",
    "smtp-alt": "smtp",
    "pop3": "pop3",
    "pop": "pop3",
    "imap4": "imap",
    "imap3": "imap",
    "www": "http",
    "www-http": "http",
    "http-alt": "http",
    "http-proxy": "http",
    "ssl/http": "https",
    "https-alt": "https",
    "http-ssl": "https",
    "kerberos-sec": "kerberos",
    "kpasswd": "kerberos",
    "domain": "dns",
    "snmptrap": "snmp",
    "upnp": "ssdp",
    "memcache": "memcached",
    "mariadb": "mysql",
    "postgres": "postgresql",
    "ms-sql-s": "mssql",
    "ms-sql-m": "mssql",
    "mongod": "mongodb",
    "docker-api": "docker",
    "docker-s": "docker-tls",
    "kube-apiserver": "kubernetes",
    "kubernetes-api": "kubernetes",
    "etcd-client": "etcd",
    "etcd-server": "etcd",
    "secure-mqtt": "mqtts",
    "rtsp-alt": "rtsp",
    "dahua": "dahua-dvr",
    "xiongmai": "xiongmai-dvr",
    "xmeye": "xiongmai-dvr",
    "xiongmai-debug": "xiongmai-dvr",
    "xiongmai-telnet-enable": "xiongmai-dvr",
    "hikvision-dvr": "hikvision",
    "mbap": "modbus",
    "iso-tsap": "s7",
    "s7comm": "s7",
    "bacnet-ip": "bacnet",
    "x11-1": "x11",
    "x11-2": "x11",
    "x11-3": "x11",
    "x11-4": "x11",
    "x11-5": "x11",
    "x11-7": "x11",
}

_UNIDENTIFIED = frozenset({"", "unknown", "tcpwrapped", "none"})


def canonical_service(name: str | None) -> str | None:
    """The canonical name of a service name or alias (lower case); None for "not identified"."""
    if name is None:
        return None
    n = str(name).strip().lower()
    if n in _UNIDENTIFIED:
        return None
    if n.startswith("ssl/") and n not in SERVICE_ALIASES:
        n = n[4:]
    return SERVICE_ALIASES.get(n, n)


@dataclass(frozen=True)
class ServiceView:
    """The policy's normalised view of one open port's service (see the module docstring)."""

    name: str | None
    identified: bool
    conf: float
    product: str | None = None
    version: str | None = None
    cpes: tuple[str, ...] = ()
    method: str | None = None
    checks: Mapping[str, CheckResult] = field(default_factory=dict)
    distro: DistroInfo | None = None

    def vulnerable(self, check_id: str) -> bool:
        c = self.checks.get(check_id)
        return c is not None and c["outcome"] == "vulnerable"

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "identified_by": self.method if self.identified else "port-number"}
        if self.identified:
            out["conf"] = round(self.conf, 3)
        for key in ("product", "version"):
            value = getattr(self, key)
            if value:
                out[key] = value
        if self.cpes:
            out["cpe"] = list(self.cpes)
        if self.distro:
            out["distro"] = dict(self.distro)
        return out

    @property
    def package_version(self) -> str | None:
        """The distribution package version the banner shows ("9.2p1-2+deb12u10", no epoch), or None."""
        if not self.distro or not self.distro.get("revision") or not self.version:
            return None
        return f"{self.version}-{self.distro['revision']}"


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    return s or None


def _conf(value: Any) -> float | None:
    try:
        c = float(value)
    except (TypeError, ValueError):
        return None
    if c != c or c < 0:  # NaN or negative
        return None
    return min(c / 10.0 if c > 1.0 else c, 1.0)


def _checks(raw: Any) -> dict[str, CheckResult]:
    out: dict[str, CheckResult] = {}
    if not isinstance(raw, (list, tuple)):
        return out
    for item in raw:
        cid = _text(_get(item, "id"))
        if cid is None:
            continue
        outcome = str(_get(item, "outcome") or "unknown").strip().lower()
        evidence = _get(item, "evidence")
        check: CheckResult = {
            "id": cid,
            "outcome": outcome if outcome in OUTCOMES else "unknown",  # type: ignore[typeddict-item]
        }
        if isinstance(evidence, Mapping):
            check["evidence"] = dict(evidence)
        previous = out.get(cid)
        # the same check reported twice: a confirmed weakness wins over "ok"/"unknown"
        if previous is None or previous["outcome"] != "vulnerable":
            out[cid] = check
    return out


_DISTRO_RE = re.compile(r"[a-z][a-z0-9]{0,19}")
_REVISION_RE = re.compile(r"[0-9][A-Za-z0-9.+~_]{0,63}")  # dpkg revisions; rpm releases also use "_"


def _distro(raw: Any) -> DistroInfo | None:
    """``service.distro`` as the policy trusts it: a known shape, short values, a revision of the
    characters a package revision may hold (a scan file may come from anywhere)."""
    if not isinstance(raw, Mapping):
        return None
    name = _text(raw.get("name"))
    if name is None or not _DISTRO_RE.fullmatch(name.lower()):
        return None
    out: DistroInfo = {"name": name.lower()}
    for key in ("release", "codename"):
        v = _text(raw.get(key))
        out[key] = v if v is not None and len(v) <= 20 else None
    rev = _text(raw.get("revision"))
    out["revision"] = rev if rev is not None and _REVISION_RE.fullmatch(rev) else None
    out["evidence"] = (_text(raw.get("evidence")) or "")[:80]
    return out


def read_service(port: Any, port_name: str | None, port_confidence: float) -> ServiceView:
    """Read ``port.service`` defensively. ``port_name`` is the fallback name from the port number."""
    raw = getattr(port, "service", None)
    checks: dict[str, CheckResult] = {}
    if raw is not None:
        checks = _checks(_get(raw, "checks"))
        method = _text(_get(raw, "method"))
        name = canonical_service(_text(_get(raw, "name")))
        cpe_raw = _get(raw, "cpe")
        if isinstance(cpe_raw, str):
            cpe_raw = [cpe_raw]
        cpes = tuple(str(c) for c in cpe_raw or () if isinstance(c, str) and c.strip())
        product, version = _text(_get(raw, "product")), _text(_get(raw, "version"))
        distro = _distro(_get(raw, "distro"))
        if name is not None and (method or "").lower() != "port":
            conf = _conf(_get(raw, "conf"))
            return ServiceView(
                name=name,
                identified=True,
                conf=1.0 if conf is None else conf,
                product=product,
                version=version,
                cpes=cpes,
                method=method or "probe",
                checks=checks,
                distro=distro,
            )
        # not identified: keep what was observed, fall back to the port number for the name
        return ServiceView(
            name=canonical_service(port_name),
            identified=False,
            conf=port_confidence,
            product=product,
            version=version,
            cpes=cpes,
            method=method,
            checks=checks,
            distro=distro,
        )
    return ServiceView(name=canonical_service(port_name), identified=False, conf=port_confidence, checks=checks)

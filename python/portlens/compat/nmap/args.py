"""python-nmap's arguments in portlens's terms: nmap's target and port syntax, timing templates and
options read into a `Plan`; what portlens cannot honour raises `NmapArgumentError` naming it."""

from __future__ import annotations

import functools
import ipaddress
import itertools
import re
import shlex
import socket
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import portlens

from ... import _options
from ...exceptions import InputError, OptionError, PortlensError
from ...files.read import ReadError, read_text

NMAP_VERSION = (7, 93)  # the nmap whose output and behaviour this module reproduces (checked side by side)
LIST_LIMIT = 25  # nmap lists a port state one port at a time up to this many ports (more with -v/-d)
KEEP_ALL_LIMIT = 65_536  # probes of one scan: above, only open ports are kept one by one
ENUMERATE_LIMIT = 1 << 20  # hosts listed one by one (-Pn, -sL, -v, PortScannerAsync)
_TIME = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_OCTET = r"(?:\*|\d{0,3}-?\d{0,3})(?:,(?:\*|\d{0,3}-?\d{0,3}))*"
_NMAP_V4 = re.compile(rf"^({_OCTET})\.({_OCTET})\.({_OCTET})\.({_OCTET})$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?$")

# nmap's timing templates as its manual documents them (scan delay -> rate; RTT timeouts; retries)
_TEMPLATES: dict[int, dict[str, Any]] = {
    0: {"rate": 1 / 300, "concurrency": 1},
    1: {"rate": 1 / 15, "concurrency": 1},
    2: {"rate": 2.5, "concurrency": 1},
    3: {},
    4: {"initial_rtt_timeout": 0.5, "min_rtt_timeout": 0.1, "max_rtt_timeout": 1.25, "max_retries": 6},
    5: {
        "initial_rtt_timeout": 0.25,
        "min_rtt_timeout": 0.05,
        "max_rtt_timeout": 0.3,
        "max_retries": 2,
        "host_timeout": 900.0,
    },
}
_PROTOCOLS = {"T": "tcp", "U": "udp"}
_TEMPLATE_NAMES = {"paranoid": 0, "sneaky": 1, "polite": 2, "normal": 3, "aggressive": 4, "insane": 5}
_NOOPS = {
    "--reason",
    "--privileged",
    "--unprivileged",
    "--system-dns",
    "--defeat-rst-ratelimit",
    "--noninteractive",
    "--no-stylesheet",
    "--version-light",
    "--version-all",
    "-n",
}
_NOOPS_WITH_VALUE = {"--min-parallelism", "--min-hostgroup", "--max-hostgroup", "--version-intensity"}
_WHY_NOT = {
    "n": "host discovery without a port scan (-sn) does not exist in portlens yet",
    "P": "host discovery without a port scan (-sP) does not exist in portlens yet",
    "C": "scripts (-sC) are not supported",
    "O": "IP protocol scans (-sO) are not supported",
    "A": "ACK scans (-sA) are not supported (portlens runs TCP connect scans)",
    "W": "window scans (-sW) are not supported (portlens runs TCP connect scans)",
    "M": "Maimon scans (-sM) are not supported (portlens runs TCP connect scans)",
    "N": "NULL scans (-sN) are not supported (portlens runs TCP connect scans)",
    "F": "FIN scans (-sF) are not supported (portlens runs TCP connect scans)",
    "X": "Xmas scans (-sX) are not supported (portlens runs TCP connect scans)",
    "Y": "SCTP scans (-sY) are not supported",
    "Z": "SCTP scans (-sZ) are not supported",
    "I": "idle scans (-sI) are not supported",
    "R": "RPC scans (-sR) are not supported",
}

_WHY_NOT_OPTION = (
    ("-P", "host discovery probes are not supported (without -Pn a host is up when it answers a port probe)"),
    ("-O", "OS detection is not supported"),
    ("--osscan", "OS detection is not supported"),
    ("-A", "-A (OS and version detection, scripts, traceroute) is not supported"),
    ("--script", "NSE scripts are not supported"),
    ("--traceroute", "traceroute is not supported"),
    ("-R", "reverse DNS is not supported (portlens behaves as with -n)"),
)


class CompatWarning(UserWarning):
    """An nmap argument is honoured only in part (``-sV`` identifies services by portlens's own probes)."""


class PortScannerError(PortlensError):
    """What python-nmap raises when a scan fails; ``value`` holds the message."""

    def __init__(self, value: object) -> None:
        super().__init__(value)
        self.value = value


class PortScannerTimeout(PortScannerError):
    """The scan took longer than ``timeout`` seconds."""


class NmapArgumentError(OptionError, PortScannerError):
    """An nmap argument that portlens does not support (or a wrong value). ``item`` names it."""

    def __init__(self, message: str, item: str | None = None, input: str | None = None) -> None:  # noqa: A002
        OptionError.__init__(self, message, input=input, item=item)
        self.value = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.item, self.input))


# -- targets in nmap's syntax ---------------------------------------------------------------------
def _octet(text: str, spec: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        if part == "*":
            lo, hi = 0, 255
        elif "-" in part:
            a, b = part.split("-", 1)
            lo, hi = int(a) if a else 0, int(b) if b else 255
        elif part:
            lo = hi = int(part)
        else:
            raise NmapArgumentError(f"invalid target {spec!r}: empty octet", item=spec)
        if not 0 <= lo <= hi <= 255:
            raise NmapArgumentError(f"invalid target {spec!r}: octet range {part!r} is not within 0-255", item=spec)
        out.append((lo, hi))
    return sorted(out)


@dataclass(frozen=True)
class _Target:
    """One nmap target specification: an address, a network, octet ranges, or a resolved name."""

    spec: str
    items: tuple[str, ...]  # the same, in portlens's target syntax
    size: int
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    octets: tuple[tuple[tuple[int, int], ...], ...] | None = None
    hostname: str | None = None

    def addresses(self) -> Iterator[str]:
        if self.network is not None:
            if self.network.num_addresses == 1:
                yield str(self.network.network_address)
            else:
                first = int(self.network.network_address)
                cls = type(self.network.network_address)
                for i in range(self.network.num_addresses):
                    yield str(cls(first + i))
        elif self.octets is not None:
            values = [[v for lo, hi in o for v in range(lo, hi + 1)] for o in self.octets]
            for a, b, c, d in itertools.product(*values):
                yield f"{a}.{b}.{c}.{d}"

    def __contains__(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        if self.network is not None:
            return ip.version == self.network.version and ip in self.network
        if self.octets is not None and ip.version == 4:
            parts = [int(x) for x in str(ip).split(".")]
            return all(any(lo <= v <= hi for lo, hi in o) for v, o in zip(parts, self.octets, strict=True))
        return False


#: What libc's inet_aton accepts besides dotted decimal: 1 to 4 parts, decimal, octal or hex.
_LIBC_NUMERIC = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.IGNORECASE)


def _parse_target(spec: str, ipv6: bool, notes: list[str]) -> _Target | None:
    """nmap's target syntax -> portlens targets; None (with a note, as nmap warns) if a name does not resolve."""
    try:
        net = ipaddress.ip_network(spec, strict=False)
        return _Target(spec, (str(net) if net.num_addresses > 1 else str(net.network_address),), net.num_addresses, net)
    except ValueError:
        pass
    m = _NMAP_V4.match(spec)
    if m:
        octets = tuple(tuple(_octet(g, spec)) for g in m.groups())
        prefixes = list(itertools.product(*[[v for lo, hi in o for v in range(lo, hi + 1)] for o in octets[:3]]))
        if len(prefixes) * len(octets[3]) > 65536:
            raise NmapArgumentError(f"target {spec!r} has too many octet ranges (at most 65536 blocks)", item=spec)
        items = tuple(
            f"{a}.{b}.{c}.{lo}" if lo == hi else f"{a}.{b}.{c}.{lo}-{hi}"
            for (a, b, c) in prefixes
            for lo, hi in octets[3]
        )
        size = len(prefixes) * sum(hi - lo + 1 for lo, hi in octets[3])
        return _Target(spec, items, size, octets=octets)
    if "/" in spec:
        raise NmapArgumentError(f"target {spec!r}: a hostname with a /mask is not supported", item=spec)
    if not _HOSTNAME.match(spec):
        raise NmapArgumentError(f"invalid target {spec!r}", item=spec)
    if _LIBC_NUMERIC.match(spec):
        # inet_aton would read it as an address (hex, octal, a 32-bit number, fewer than four
        # parts): refused, as the engine refuses it, rather than resolved to a surprise.
        raise NmapArgumentError(
            f"invalid target {spec!r}: a numeric form other than dotted decimal (write the address a.b.c.d)",
            item=spec,
        )
    try:
        info = socket.getaddrinfo(spec, None, socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        notes.append(f'Failed to resolve "{spec}".')
        return None
    address = str(info[0][4][0])
    net = ipaddress.ip_network(address)
    return _Target(spec, (address,), 1, net, hostname=spec)


# -- arguments ------------------------------------------------------------------------------------
def _seconds(value: str, option: str) -> float:
    m = _TIME.match(value.strip())
    if not m:
        raise NmapArgumentError(f"{option} {value!r}: expected a time such as 500ms, 30s, 5m or 1h", item=option)
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2) or "s"]
    return float(m.group(1)) * scale


def option_value(name: str, value: Any, flag: str, text: str | None = None) -> Any:
    """An nmap argument's value (its text, or ``value`` read from ``text``) as portlens option
    ``name``, checked by the API's table (`portlens._options`): the same ranges, and a
    `NmapArgumentError` that names the nmap flag and quotes what was given."""
    try:
        return _options.parse(name, value) if isinstance(value, str) else _options.check(name, value)
    except OptionError as e:
        given = value if text is None else text
        raise NmapArgumentError(f"{flag} {_shown(given)}: {e}", item=flag) from None


def _timed(name: str, text: str, flag: str) -> float:
    """An nmap time (``500ms``, ``30s``, ``5m``, ``1h``) as portlens option ``name``."""
    seconds: float = option_value(name, _seconds(text, flag), flag, text)
    return seconds


def number_arg(value: Any) -> Any:
    """A Python argument that must be a number: a str is refused, not read as a command line's."""
    if isinstance(value, str):
        raise NmapArgumentError(f"timeout {_shown(value)}: expected a number of seconds, not a str", item="timeout")
    return value


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(value: str, option: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise NmapArgumentError(f"{option} {_shown(value)}: expected a number", item=option) from None
    if n < 0:
        raise NmapArgumentError(f"{option} {_shown(value)}: must not be negative", item=option)
    return n


def _nmap_ports(spec: str, option: str = "-p", scanned: str = "T") -> list[int]:
    """nmap's port syntax (``22,80,1000-2000``, ``-``, ``-1024``, ``60000-``, ``T:``/``U:`` prefixes) -> the
    ports of the protocol scanned (``T``, or ``U`` with ``-sU``)."""
    out: list[str] = []
    proto = scanned
    for raw in spec.split(","):
        item = raw.strip()
        m = re.match(r"^([TUSP]):(.*)$", item)
        if m:
            proto, item = m.group(1), m.group(2)
        if proto != scanned:
            what = {"T": "TCP", "U": "UDP", "S": "SCTP"}.get(proto, "IP protocol")
            need = {"T": "a TCP scan without -sU", "U": "-sU"}.get(proto)
            raise NmapArgumentError(
                f"{option} {_shown(spec)}: {what} ports "
                + (
                    f"need {need} (a call scans one protocol)"
                    if need
                    else "are not supported (portlens scans TCP and UDP)"
                ),
                item=raw,
            )
        if item == "-":
            item = "1-65535"
        elif re.fullmatch(r"-\d+", item):
            item = "1" + item
        elif re.fullmatch(r"\d+-", item):
            item = item + "65535"
        if not re.fullmatch(r"\d+(-\d+)?", item):
            raise NmapArgumentError(
                f"{option} {_shown(spec)}: {_shown(raw)} is not supported "
                "(service names, [] and * need nmap's own port table)",
                item=raw,
            )
        out.append(item)
    try:
        return portlens.parse_ports(",".join(out))
    except InputError as e:
        raise NmapArgumentError(f"{option} {_shown(spec)}: {e}", item=spec) from e


def _explicit_ports(spec: str) -> Callable[[str], list[int]]:
    """``-p SPEC``, read once the protocol scanned is known."""
    return lambda scanned: _nmap_ports(spec, "-p", scanned)


def _top_ports(n: int, scanned: str = "T") -> list[int]:
    top = portlens.top_ports("top-1000", _PROTOCOLS[scanned])
    if n <= len(top):
        return top[:n]
    known = set(top)
    return top + [p for p in range(1, 65536) if p not in known][: n - len(top)]


@dataclass
class Plan:
    """What a python-nmap call asks for, in portlens's terms."""

    targets: list[_Target]
    excludes: list[_Target]
    ports: list[int]
    options: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # nmap-style "Warning: ..." lines
    pn: bool = False
    list_only: bool = False
    open_only: bool = False
    verbose: int = 0
    debugging: int = 0
    host_timeout: float | None = None
    protocol: str = "tcp"  # "udp" with -sU: a call scans one protocol

    @property
    def size(self) -> int:
        return sum(t.size for t in self.targets)

    @property
    def list_limit(self) -> int:
        return LIST_LIMIT * (1 + self.verbose + 20 * self.debugging)

    @property
    def hostnames(self) -> dict[str, str]:
        return {t.items[0]: t.hostname for t in self.targets if t.hostname}

    def addresses(self) -> list[str]:
        """Every target address once, excludes left out, in the order python-nmap lists hosts."""
        if self.size > ENUMERATE_LIMIT:
            raise NmapArgumentError(
                f"listing hosts one by one (-Pn, -sL, -v, PortScannerAsync) is limited to {ENUMERATE_LIMIT} hosts; "
                f"these targets hold {self.size}",
                item=" ".join(t.spec for t in self.targets),
            )
        seen: set[str] = set()
        for t in self.targets:
            for a in t.addresses():
                if a not in seen and not any(a in x for x in self.excludes):
                    seen.add(a)
        return sorted(seen)


def read_plan(hosts: str, ports: str | None, arguments: str) -> Plan:
    try:
        tokens = shlex.split(arguments)
        host_specs = shlex.split(hosts)
    except ValueError as e:
        raise NmapArgumentError(f"cannot split the arguments: {e}", input=arguments) from e
    explicit: dict[str, Any] = {}
    template: dict[str, Any] = {}
    plan = Plan(targets=[], excludes=[], ports=[], options={})
    # the ports are read once the protocol is known (-sU may come after -p)
    port_choice: list[tuple[str, Callable[[str], list[int]]]] = []
    if ports is not None:
        port_choice.append(("-p", _explicit_ports(ports)))
    tcp_scan = udp_scan = False
    tcp_method: str | None = None  # "T" or "S"
    exclude_specs: list[str] = []
    exclude_specs_ports: list[str] = []
    ipv6 = False
    min_rate: float | None = None
    i = 0

    def value(option: str) -> str:
        nonlocal i
        tok = tokens[i]
        if tok.startswith("--") and "=" in tok:
            return tok.split("=", 1)[1]
        if len(tok) > len(option) and not tok.startswith("--"):
            return tok[len(option) :]
        i += 1
        if i >= len(tokens):
            raise NmapArgumentError(f"{option} needs a value", item=option, input=arguments)
        return tokens[i]

    def warn(message: str) -> None:
        plan.notes.append(f"Warning: {message}")
        warnings.warn(message, CompatWarning, stacklevel=4)

    while i < len(tokens):
        tok = tokens[i]
        name = tok.split("=", 1)[0] if tok.startswith("--") else tok
        if tok in _NOOPS:
            pass
        elif name in _NOOPS_WITH_VALUE:
            value(name)
        elif tok.startswith("-s") and len(tok) > 2 and tok[2:].isalpha():
            for letter in tok[2:]:
                if letter in "TS":
                    # nmap's two TCP scans are portlens's two methods (-sT: connect, the default
                    # left unset); nmap refuses both at once
                    if tcp_method not in (None, letter):
                        raise NmapArgumentError(
                            "you specified more than one type of TCP scan (-sS and -sT)", item=tok, input=arguments
                        )
                    tcp_method = letter
                    if letter == "S":
                        explicit["method"] = "syn"
                    tcp_scan = True
                elif letter == "U":
                    udp_scan = True
                elif letter == "V":
                    explicit["services"] = True  # portlens identifies services by probing them
                elif letter == "L":
                    plan.list_only = True
                else:
                    why = _WHY_NOT.get(letter, f"scan type -s{letter} is not supported")
                    message = f"unsupported nmap argument {_shown(tok)}: {why}"
                    raise NmapArgumentError(message, item=tok, input=arguments)
        elif tok.startswith("-p") and not tok.startswith("--"):
            port_choice.append(("-p", _explicit_ports(value("-p"))))
        elif tok == "-F":
            port_choice.append(("-F", lambda scanned: portlens.top_ports("top-100", _PROTOCOLS[scanned])))
        elif name == "--top-ports":
            n = _number(value("--top-ports"), "--top-ports")
            if not 1 <= n <= 65535:
                raise NmapArgumentError(f"--top-ports {n}: expected 1 to 65535", item="--top-ports")
            port_choice.append(("--top-ports", functools.partial(_top_ports, n)))
        elif name == "--exclude-ports":
            exclude_specs_ports.append(value("--exclude-ports"))
        elif tok == "-r":
            explicit["randomize"] = False
        elif tok in ("-Pn", "-PN"):
            plan.pn = True
        elif tok in ("-4", "-6"):
            ipv6 = tok == "-6"
        elif tok.startswith("-T") and not tok.startswith("--"):
            level = value("-T")
            n = _TEMPLATE_NAMES.get(level.lower(), int(level) if level.isdigit() and len(level) < 4 else -1)
            if n not in _TEMPLATES:
                raise NmapArgumentError(f"{_shown(tok)}: expected -T0 to -T5", item=tok, input=arguments)
            template = dict(_TEMPLATES[n])
        elif tok == "--open":
            plan.open_only = True
        elif name == "--max-retries":
            explicit["max_retries"] = option_value("max_retries", value(name), name)
        elif name == "--host-timeout":
            explicit["host_timeout"] = _timed("host_timeout", value(name), name)
        elif name == "--min-rate":
            min_rate = option_value("rate", value(name), name)
        elif name == "--max-rate":
            explicit["rate"] = option_value("rate", value(name), name)
        elif name == "--scan-delay":
            text = value(name)
            delay = _timed("host_timeout", text, name)  # 0 (none) to a day, as any nmap time here
            if delay > 0:
                explicit["rate"] = option_value("rate", 1 / delay, name, text)
        elif name == "--max-scan-delay":
            _timed("host_timeout", value(name), name)  # accepted, not used
        elif name in ("--initial-rtt-timeout", "--min-rtt-timeout", "--max-rtt-timeout"):
            option = name[2:].replace("-", "_")
            explicit[option] = _timed(option, value(name), name)
        elif tok.startswith("-S") and not tok.startswith("--"):
            # the address to send from, checked by the engine against this host's addresses
            explicit["source"] = option_value("source", value("-S"), "-S")
        elif tok.startswith("-e") and not tok.startswith("--"):
            explicit["interface"] = option_value("interface", value("-e"), "-e")
        elif name == "--max-parallelism":
            explicit["concurrency"] = option_value("concurrency", value(name), name)
        elif name == "--exclude":
            exclude_specs += [x for x in value(name).split(",") if x]
        elif name == "--excludefile":
            exclude_specs += _read_list(value(name), name)
        elif tok.startswith("-iL"):
            host_specs += _read_list(value("-iL"), "-iL")
        elif re.fullmatch(r"-v+|-v\d{1,3}", tok):
            plan.verbose += int(tok[2:]) if tok[2:].isdigit() else len(tok) - 1
        elif re.fullmatch(r"-d+|-d\d{1,3}", tok):
            plan.debugging += int(tok[2:]) if tok[2:].isdigit() else len(tok) - 1
        elif tok.startswith("-o") or name in ("--append-output", "--resume", "--stylesheet", "--webxml"):
            raise NmapArgumentError(
                f"unsupported nmap argument {_shown(tok)}: portlens writes its nmap XML only to get_nmap_last_output()",
                item=tok,
                input=arguments,
            )
        elif tok.startswith("-"):
            reason = next((w for prefix, w in _WHY_NOT_OPTION if tok.startswith(prefix)), None)
            raise NmapArgumentError(
                f"unsupported nmap argument {_shown(tok)}: "
                + (reason or "not implemented by portlens.compat.nmap (its documentation lists what is understood)"),
                item=tok,
                input=arguments,
            )
        else:
            host_specs.append(tok)  # nmap takes targets anywhere on its command line
        i += 1

    if len(port_choice) > 1:
        names = " and ".join(n for n, _ in port_choice)
        raise NmapArgumentError(f"choose the ports once: {names} were both given", item=port_choice[1][0])
    if udp_scan and tcp_scan:
        raise NmapArgumentError(
            "unsupported nmap argument -sU together with a TCP scan (-sT, -sS): a call scans TCP or UDP; "
            "make one call of each",
            item="-sU",
            input=arguments,
        )
    scanned = "U" if udp_scan else "T"
    plan.protocol = _PROTOCOLS[scanned]
    chosen = port_choice[0][1](scanned) if port_choice else portlens.top_ports("top-1000", plan.protocol)
    exclude_ports = [p for spec in exclude_specs_ports for p in _nmap_ports(spec, "--exclude-ports", scanned)]
    plan.ports = sorted(set(chosen) - set(exclude_ports))
    if not plan.ports:
        raise NmapArgumentError("no ports left to scan", item="-p", input=arguments)

    options = {**template, **explicit}
    host_timeout = options.pop("host_timeout", None)
    plan.host_timeout = host_timeout if host_timeout else None
    if min_rate is not None:
        if explicit.get("rate") is not None and explicit["rate"] < min_rate:
            raise NmapArgumentError(
                f"--min-rate {min_rate:g} must be less than or equal to --max-rate {explicit['rate']:g}",
                item="--min-rate",
            )
        if options.get("rate") is not None and options["rate"] < min_rate:
            options["rate"] = min_rate  # nmap: --min-rate wins over a template's scan delay
            options.pop("concurrency", None)
    if "max_retries" in options:
        options["min_retries"] = min(1, options["max_retries"])
    if udp_scan:
        options["protocol"] = "udp"
    plan.options = options
    plan.targets = [t for t in (_parse_target(s, ipv6, plan.notes) for s in host_specs) if t is not None]
    plan.excludes = [t for t in (_parse_target(s, ipv6, plan.notes) for s in exclude_specs) if t is not None]
    return plan


def _read_list(path: str, option: str) -> list[str]:
    try:
        text = read_text(path, "targets file")
    except ReadError as e:
        raise NmapArgumentError(f"{option} {e}", item=option) from None
    return [tok for line in text.splitlines() for tok in line.split("#", 1)[0].split()]

"""python-nmap's interface, run by portlens: change ``import nmap`` into
``from portlens.compat import nmap`` and scripts written for python-nmap keep working, with no nmap
binary and no root::

    from portlens.compat import nmap

    nm = nmap.PortScanner()
    nm.scan("198.18.1.0/24", "22-443", "-sT -Pn -T4")
    for host in nm.all_hosts():
        print(host, nm[host].state(), [p for p in nm[host].all_tcp() if nm[host]["tcp"][p]["state"] == "open"])

``scan()`` returns python-nmap's dictionary, built (as python-nmap does) from the nmap XML document
that `get_nmap_last_output` returns; portlens writes that document the way nmap would for the same
command: a state of more than 25 ports (times ``1 + v + 20·d`` with ``-v``/``-d``) goes to
``extraports``, ``-Pn`` lists every target as up, ``--open`` leaves out hosts without an open port,
``-v`` lists down hosts.

Understood arguments: ``-sT`` (portlens always runs TCP connect scans), ``-sS`` (run as a connect
scan, with a warning), ``-sV`` (accepted with a warning: services are port-number guesses,
``method="table"``), ``-sL``, ``-p`` (``T:`` prefixes too), ``-F`` (portlens's top 100),
``--top-ports N`` (the first N of portlens's top 1000, then the other ports in ascending order),
``--exclude-ports``, ``-r``, ``-Pn``, ``-n``, ``-4``, ``-6``, ``-T0``..``-T5``, ``--open``,
``--max-retries``, ``--host-timeout``, ``--min-rate``/``--max-rate``, ``--scan-delay``,
``--initial-rtt-timeout``/``--min-rtt-timeout``/``--max-rtt-timeout``, ``--max-parallelism``,
``--exclude``, ``--excludefile``, ``-iL``, ``-v``/``-d`` levels, and the no-ops ``--reason``,
``--privileged``, ``--unprivileged``, ``--system-dns``, ``--min-parallelism``, ``--min-hostgroup``,
``--max-hostgroup``, ``--defeat-rst-ratelimit``, ``--noninteractive``, ``--no-stylesheet`` and
``--version-intensity/-light/-all``. Anything else (``-sU``, ``-sn``, ``-O``, ``-A``, ``--script``,
``-P*`` discovery probes, ``-oX`` ...) raises `NmapArgumentError` naming it: a ``portlens.OptionError``
that is also a `PortScannerError`, so both ``except`` clauses catch it.

Differences from nmap worth knowing: service names come from portlens's own port table, not from
nmap's; a port that answers with ICMP port-unreachable is ``filtered``/``port-unreach`` (nmap's
connect scan says ``closed``/``conn-refused``); without ``-Pn`` host discovery is portlens's
(engines without it count a host up when it answered a port probe); no reverse DNS (as with
``-n``); ``--host-timeout`` scans each host on its own (8 at a time) so that each has its own clock;
a scan of more than 65,536 probes keeps only open ports one by one, so its closed and filtered ports
are all counted in ``extraports`` even when nmap would list 25 or fewer of them.
"""

from __future__ import annotations

import atexit
import csv
import io
import ipaddress
import itertools
import os
import re
import shlex
import socket
import sys
import threading
import traceback
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

import portlens

from .. import _options
from ..exceptions import InputError, OptionError, PortlensError
from ..files import xmlsafe
from ..files.read import ReadError, read_text
from ..report.nmap_xml import ExtraHost, compress_ports, render
from ..results import ScanResult, merge

__all__ = [
    "PortScanner",
    "PortScannerAsync",
    "PortScannerYield",
    "PortScannerHostDict",
    "PortScannerError",
    "PortScannerTimeout",
    "NmapArgumentError",
    "CompatWarning",
]

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
    "U": "UDP scanning (-sU) does not exist in portlens yet",
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
    """An nmap argument is honoured only in part (``-sS`` runs a connect scan; ``-sV`` guesses)."""


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


def _option(name: str, value: Any, flag: str, text: str | None = None) -> Any:
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
    seconds: float = _option(name, _seconds(text, flag), flag, text)
    return seconds


def _number_arg(value: Any) -> Any:
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


def _nmap_ports(spec: str, option: str = "-p") -> list[int]:
    """nmap's port syntax (``22,80,1000-2000``, ``-``, ``-1024``, ``60000-``, ``T:`` prefixes) -> ports."""
    out: list[str] = []
    proto = "T"
    for raw in spec.split(","):
        item = raw.strip()
        m = re.match(r"^([TUSP]):(.*)$", item)
        if m:
            proto, item = m.group(1), m.group(2)
        if proto != "T":
            raise NmapArgumentError(
                f"{option} {_shown(spec)}: "
                f"{'UDP' if proto == 'U' else 'SCTP' if proto == 'S' else 'IP protocol'} ports "
                "are not supported (portlens scans TCP)",
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


def _top_ports(n: int) -> list[int]:
    top = portlens.top_ports("top-1000")
    if n <= len(top):
        return top[:n]
    known = set(top)
    return top + [p for p in range(1, 65536) if p not in known][: n - len(top)]


@dataclass
class _Plan:
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


def _plan(hosts: str, ports: str | None, arguments: str) -> _Plan:
    try:
        tokens = shlex.split(arguments)
        host_specs = shlex.split(hosts)
    except ValueError as e:
        raise NmapArgumentError(f"cannot split the arguments: {e}", input=arguments) from e
    explicit: dict[str, Any] = {}
    template: dict[str, Any] = {}
    plan = _Plan(targets=[], excludes=[], ports=[], options={})
    port_choice: list[tuple[str, list[int]]] = []
    if ports is not None:
        port_choice.append(("-p", _nmap_ports(ports)))
    exclude_specs: list[str] = []
    exclude_ports: list[int] = []
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
                if letter == "T":
                    pass
                elif letter == "S":
                    warn("-sS: portlens runs TCP connect scans (no raw sockets); the port states are the same")
                elif letter == "V":
                    warn("-sV: service names are guesses from the port number (method=table), not probes")
                elif letter == "L":
                    plan.list_only = True
                else:
                    why = _WHY_NOT.get(letter, f"scan type -s{letter} is not supported")
                    message = f"unsupported nmap argument {_shown(tok)}: {why}"
                    raise NmapArgumentError(message, item=tok, input=arguments)
        elif tok.startswith("-p") and not tok.startswith("--"):
            port_choice.append(("-p", _nmap_ports(value("-p"))))
        elif tok == "-F":
            port_choice.append(("-F", portlens.top_ports("top-100")))
        elif name == "--top-ports":
            n = _number(value("--top-ports"), "--top-ports")
            if not 1 <= n <= 65535:
                raise NmapArgumentError(f"--top-ports {n}: expected 1 to 65535", item="--top-ports")
            port_choice.append(("--top-ports", _top_ports(n)))
        elif name == "--exclude-ports":
            exclude_ports += _nmap_ports(value("--exclude-ports"), "--exclude-ports")
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
            explicit["max_retries"] = _option("max_retries", value(name), name)
        elif name == "--host-timeout":
            explicit["host_timeout"] = _timed("host_timeout", value(name), name)
        elif name == "--min-rate":
            min_rate = _option("rate", value(name), name)
        elif name == "--max-rate":
            explicit["rate"] = _option("rate", value(name), name)
        elif name == "--scan-delay":
            text = value(name)
            delay = _timed("host_timeout", text, name)  # 0 (none) to a day, as any nmap time here
            if delay > 0:
                explicit["rate"] = _option("rate", 1 / delay, name, text)
        elif name == "--max-scan-delay":
            _timed("host_timeout", value(name), name)  # accepted, not used
        elif name in ("--initial-rtt-timeout", "--min-rtt-timeout", "--max-rtt-timeout"):
            option = name[2:].replace("-", "_")
            explicit[option] = _timed(option, value(name), name)
        elif name == "--max-parallelism":
            explicit["concurrency"] = _option("concurrency", value(name), name)
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
    chosen = port_choice[0][1] if port_choice else portlens.top_ports("top-1000")
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


# -- running a plan -------------------------------------------------------------------------------
@dataclass
class _Outcome:
    result: ScanResult
    extra: list[ExtraHost]


def _merge(parts: Sequence[ScanResult]) -> ScanResult:
    """Scans of one host each -> one result (a host cut short by --host-timeout is listed as nmap
    lists it, so the whole stays "complete")."""
    return merge(parts, status="complete", stats={})


class _Runner:
    """Runs plans on portlens; cancellable from another thread (``stop()``, timeouts)."""

    HOST_WORKERS = 8  # hosts scanned at once under --host-timeout (each with its own clock)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: set[portlens.Scan] = set()
        self.stopped = False
        self._expired = False

    def cancel(self) -> None:
        self.stopped = True
        self._cancel_all()

    def _cancel_all(self) -> None:
        with self._lock:
            for scan in self._active:
                scan.cancel()

    def _expire(self) -> None:
        self._expired = True
        self._cancel_all()

    def _scan(
        self, targets: list[str], exclude: list[str], plan: _Plan, keep: list[str], options: dict[str, Any]
    ) -> tuple[ScanResult, bool]:
        """One portlens scan; True if --host-timeout ended it."""
        if plan.pn:
            options = {**options, "discovery": False}  # every address is scanned, as nmap -Pn does
        try:
            try:
                scan = portlens.start(targets, plan.ports, keep=keep, exclude=exclude, **options)
            except TypeError:
                if "discovery" not in options:
                    raise
                # an engine without host discovery scans every address anyway
                options = {k: v for k, v in options.items() if k != "discovery"}
                scan = portlens.start(targets, plan.ports, keep=keep, exclude=exclude, **options)
        except InputError as e:
            raise NmapArgumentError(str(e), item=e.item, input=e.input) from e
        fired: list[bool] = []

        def host_timeout() -> None:
            fired.append(True)
            scan.cancel()

        timer = threading.Timer(plan.host_timeout, host_timeout) if plan.host_timeout else None
        with self._lock:
            self._active.add(scan)
            if self.stopped or self._expired:
                scan.cancel()
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            return scan.result(), bool(fired)
        except KeyboardInterrupt:
            scan.cancel()
            raise
        except PortlensError as e:
            raise PortScannerError(f"portlens scan failed: {e}") from e
        finally:
            if timer is not None:
                timer.cancel()
            with self._lock:
                self._active.discard(scan)

    def run(self, plan: _Plan, addresses: Sequence[str] | None, timeout: float) -> _Outcome:
        now = datetime.now(timezone.utc)
        names = plan.hostnames
        if plan.list_only or (addresses is None and not plan.targets) or (addresses is not None and not addresses):
            listed = plan.addresses() if addresses is None else list(addresses)
            empty = ScanResult((), (), {}, "complete", now, now, len(listed), len(plan.ports), {"ports": ""})
            state = "unknown" if plan.list_only else "up"
            return _Outcome(empty, [ExtraHost(a, names.get(a), state, "user-set") for a in listed])
        if addresses is not None or plan.host_timeout:
            hosts = list(addresses) if addresses is not None else plan.addresses()
            targets, exclude, probes = hosts, [], len(hosts) * len(plan.ports)
        else:
            targets = [item for t in plan.targets for item in t.items]
            exclude = [item for t in plan.excludes for item in t.items]
            probes = plan.size * len(plan.ports)
        keep = ["open"] if plan.open_only or probes > KEEP_ALL_LIMIT else ["open", "closed", "filtered"]
        self._expired = False
        overall = threading.Timer(timeout, self._expire) if timeout else None
        if overall is not None:
            overall.daemon = True
            overall.start()
        timed_out: set[str] = set()
        try:
            if plan.host_timeout and len(targets) > 1:
                # nmap's clock runs per host: one scan per host, a few at a time
                workers = min(self.HOST_WORKERS, len(targets))
                options = {**plan.options}
                concurrency = options.get("concurrency", _options.defaults()["concurrency"])
                options["concurrency"] = max(1, int(concurrency) // workers)
                with ThreadPoolExecutor(workers, thread_name_prefix="portlens-nmap-host") as pool:
                    try:
                        done = list(pool.map(lambda a: self._scan([a], [], plan, keep, options), targets))
                    except BaseException:
                        self._expire()  # stop the other hosts' scans before the pool waits for them
                        raise
                result = _merge([r for r, _ in done])
                timed_out = {a for a, (_, fired) in zip(targets, done, strict=True) if fired}
            else:
                result, fired = self._scan(targets, exclude, plan, keep, plan.options)
                if fired:
                    result = replace(result, status="complete")
                    timed_out = set(targets)
        except KeyboardInterrupt:
            self._expire()
            raise
        finally:
            if overall is not None:
                overall.cancel()
        if self._expired:
            raise PortScannerTimeout("Timeout from portlens scan")
        extra: list[ExtraHost] = []
        up = [h for h in result.hosts if getattr(h, "state", "up") == "up"]
        answered = {h.address for h in up}
        in_result = {h.address for h in result.hosts}
        for h in up:
            if h.address in timed_out and sum(h.counts.values()) < result.ports_per_host:
                extra.append(ExtraHost(h.address, h.hostname or names.get(h.address), "up", "user-set", True))
        if plan.pn or plan.verbose:
            for a in plan.addresses() if addresses is None else addresses:
                if a in answered:
                    continue
                if plan.pn:
                    extra.append(ExtraHost(a, names.get(a), "up", "user-set", a in timed_out))
                elif a not in in_result:  # down hosts the engine's discovery found are in the result already
                    extra.append(ExtraHost(a, names.get(a), "down", "no-response"))
        return _Outcome(result, extra)


def _command_line(hosts: str, ports: str | None, arguments: str) -> str:
    """What python-nmap's ``command_line()`` shows: nmap's arguments with the targets last (nmap's
    option parser moves them there), run by portlens."""
    parts = ["portlens", "-oX", "-", *(["-p", ports] if ports is not None else []), *shlex.split(arguments)]
    return " ".join(parts + shlex.split(hosts))


def _document(plan: _Plan, outcome: _Outcome, command_line: str, only: str | None = None) -> str:
    r, extra = outcome.result, outcome.extra
    if only is not None:
        hosts = tuple(h for h in r.hosts if h.address == only)
        counts = dict(hosts[0].counts) if hosts else {}
        r = replace(r, ports=tuple(p for p in r.ports if p.host == only), hosts=hosts, counts=counts, hosts_total=1)
        extra = [x for x in extra if x.address == only]
    return render(
        replace(r, options={**r.options, "ports": compress_ports(plan.ports)}),
        args=command_line,
        list_limit=plan.list_limit,
        open_only=plan.open_only,
        user_set=plan.pn,
        list_down=plan.verbose > 0,
        extra_hosts=extra,
        hostnames=plan.hostnames,
        scan_type=None if plan.list_only else "connect",
        verbose=plan.verbose,
        debugging=plan.debugging,
    )


# -- python-nmap's result shape -------------------------------------------------------------------
class PortScannerHostDict(dict[str, Any]):
    """One host of a scan result: python-nmap's dictionary with its helper methods."""

    def hostnames(self) -> list[dict[str, str]]:
        return list(self["hostnames"])

    def hostname(self) -> str:
        names = self["hostnames"]
        user = next((h["name"] for h in names if h["type"] == "user"), None)
        return str(user if user is not None else (names[0].get("name", "") if names else ""))

    def state(self) -> str:
        return str(self["status"]["state"])

    def uptime(self) -> dict[str, str]:
        return dict(self["uptime"])

    def all_protocols(self) -> list[str]:
        return sorted(k for k in self if k in ("ip", "tcp", "udp", "sctp"))

    def _all(self, proto: str) -> list[int]:
        return sorted(self[proto]) if proto in self else []

    def _has(self, proto: str, port: int) -> bool:
        if not isinstance(port, int):
            raise TypeError(f"port must be an int, not {type(port).__name__}")
        return proto in self and port in self[proto]

    def _get(self, proto: str, port: int) -> dict[str, Any]:
        if not isinstance(port, int):
            raise TypeError(f"port must be an int, not {type(port).__name__}")
        return dict(self[proto][port])

    def all_tcp(self) -> list[int]:
        return self._all("tcp")

    def has_tcp(self, port: int) -> bool:
        return self._has("tcp", port)

    def tcp(self, port: int) -> dict[str, Any]:
        return self._get("tcp", port)

    def all_udp(self) -> list[int]:
        return self._all("udp")

    def has_udp(self, port: int) -> bool:
        return self._has("udp", port)

    def udp(self, port: int) -> dict[str, Any]:
        return self._get("udp", port)

    def all_ip(self) -> list[int]:
        return self._all("ip")

    def has_ip(self, port: int) -> bool:
        return self._has("ip", port)

    def ip(self, port: int) -> dict[str, Any]:
        return self._get("ip", port)

    def all_sctp(self) -> list[int]:
        return self._all("sctp")

    def has_sctp(self, port: int) -> bool:
        return self._has("sctp", port)

    def sctp(self, port: int) -> dict[str, Any]:
        return self._get("sctp", port)


def _analyse(xml: str | bytes, warning_lines: Sequence[str] = ()) -> dict[str, Any]:
    """nmap XML -> python-nmap's result dictionary."""
    try:
        dom = xmlsafe.fromstring(xml, "<nmap xml>", "nmap XML document")
    except ReadError as e:
        raise PortScannerError(f"not an nmap XML document: {e.problem}") from None
    finished = dom.find("runstats/finished")
    hosts = dom.find("runstats/hosts")
    scaninfo: dict[str, Any] = {}
    if warning_lines:
        scaninfo["warning"] = [line + os.linesep for line in warning_lines]
    for si in dom.findall("scaninfo"):
        scaninfo[si.get("protocol", "")] = {"method": si.get("type"), "services": si.get("services")}
    out: dict[str, Any] = {
        "nmap": {
            "command_line": dom.get("args"),
            "scaninfo": scaninfo,
            "scanstats": {
                "timestr": finished.get("timestr") if finished is not None else None,
                "elapsed": finished.get("elapsed") if finished is not None else None,
                "uphosts": hosts.get("up") if hosts is not None else None,
                "downhosts": hosts.get("down") if hosts is not None else None,
                "totalhosts": hosts.get("total") if hosts is not None else None,
            },
        },
        "scan": {},
    }
    for h in dom.findall("host"):
        addresses: dict[str, str] = {}
        vendor: dict[str, str] = {}
        for a in h.findall("address"):
            kind, addr = a.get("addrtype", "ipv4"), a.get("addr", "")
            addresses[kind] = addr
            if kind == "mac" and a.get("vendor") is not None:
                vendor[addr] = a.get("vendor", "")
        first = h.find("address")
        key = addresses.get("ipv4") or (first.get("addr", "") if first is not None else "")
        names = [{"name": n.get("name", ""), "type": n.get("type", "")} for n in h.findall("hostnames/hostname")]
        host = PortScannerHostDict({"hostnames": names or [{"name": "", "type": ""}]})
        host["addresses"] = addresses
        host["vendor"] = vendor
        for st in h.findall("status"):
            host["status"] = {"state": st.get("state"), "reason": st.get("reason")}
        for up in h.findall("uptime"):
            host["uptime"] = {"seconds": up.get("seconds"), "lastboot": up.get("lastboot")}
        for p in h.findall("ports/port"):
            state = p.find("state")
            svc = p.find("service")
            cpes = svc.findall("cpe") if svc is not None else []
            entry: dict[str, Any] = {
                "state": state.get("state") if state is not None else None,
                "reason": state.get("reason") if state is not None else None,
                "name": (svc.get("name") or "") if svc is not None else "",
                **{k: (svc.get(k) or "") if svc is not None else "" for k in ("product", "version", "extrainfo")},
                "conf": (svc.get("conf") or "") if svc is not None else "",
                "cpe": (cpes[-1].text or "") if cpes else "",
            }
            scripts = {s.get("id", ""): s.get("output", "") for s in p.findall("script")}
            if scripts:
                entry["script"] = scripts
            host.setdefault(p.get("protocol", "tcp"), {})[int(p.get("portid", "0"))] = entry
        hostscripts = [{"id": s.get("id"), "output": s.get("output")} for s in h.findall("hostscript/script")]
        if hostscripts:
            host["hostscript"] = hostscripts
        for os_el in h.findall("os"):
            host["portused"] = [
                {"state": u.get("state"), "proto": u.get("proto"), "portid": u.get("portid")}
                for u in os_el.findall("portused")
            ]
            host["osmatch"] = [
                {
                    "name": m.get("name"),
                    "accuracy": m.get("accuracy"),
                    "line": m.get("line"),
                    "osclass": [
                        {
                            **{k: c.get(k) for k in ("type", "vendor", "osfamily", "osgen", "accuracy")},
                            "cpe": [x.text for x in c.findall("cpe")],
                        }
                        for c in m.findall("osclass")
                    ],
                }
                for m in os_el.findall("osmatch")
            ]
        for fp in h.findall("osfingerprint"):
            host["fingerprint"] = fp.get("fingerprint")
        out["scan"][key] = host
    return out


def _check_types(hosts: object, ports: object, arguments: object) -> None:
    if not isinstance(hosts, str):
        raise TypeError(f"Wrong type for [hosts], should be a string [was {type(hosts)}]")
    if ports is not None and not isinstance(ports, str):
        raise TypeError(f"Wrong type for [ports], should be a string [was {type(ports)}]")
    if not isinstance(arguments, str):
        raise TypeError(f"Wrong type for [arguments], should be a string [was {type(arguments)}]")


def _group_size(plan: _Plan) -> int:
    return max(1, min(256, 65536 // len(plan.ports)))


# -- the scanners ---------------------------------------------------------------------------------
class PortScanner:
    """python-nmap's ``PortScanner``, scanning with portlens (no nmap binary, no root)."""

    def __init__(self, nmap_search_path: Sequence[str] = ()) -> None:
        self._scan_result: dict[str, Any] = {}
        self._nmap_last_output: str | bytes = ""
        self._runner = _Runner()

    def nmap_version(self) -> tuple[int, int]:
        """The nmap version whose behaviour is reproduced (python-nmap returns the installed nmap's)."""
        return NMAP_VERSION

    def get_nmap_last_output(self) -> str | bytes:
        """The nmap XML document of the last scan (bytes, as python-nmap gives them)."""
        return self._nmap_last_output

    def listscan(self, hosts: str = "127.0.0.1") -> list[str]:
        """The target addresses, without scanning (``-sL``)."""
        self.scan(hosts, arguments="-sL")
        return self.all_hosts()

    def scan(
        self,
        hosts: str = "127.0.0.1",
        ports: str | None = None,
        arguments: str = "-sV",
        sudo: bool = False,
        timeout: float = 0,
    ) -> dict[str, Any]:
        """Scan ``hosts`` (nmap's target syntax) on ``ports`` with nmap ``arguments``; returns
        python-nmap's dictionary. ``sudo`` is ignored: portlens needs no privileges."""
        _check_types(hosts, ports, arguments)
        timeout = _option("timeout", _number_arg(timeout), "timeout")
        plan = _plan(hosts, ports, arguments)
        outcome = self._runner.run(plan, None, timeout)
        xml = _document(plan, outcome, _command_line(hosts, ports, arguments))
        self._nmap_last_output = xml.encode("utf-8")
        self._scan_result = _analyse(self._nmap_last_output, plan.notes)
        return self._scan_result

    def _scan_hosts(
        self, plan: _Plan, group: Sequence[str], ports: str | None, arguments: str, timeout: float
    ) -> list[tuple[str, dict[str, Any] | None]]:
        """One portlens scan of a group of hosts; python-nmap's per-host results (None on failure)."""
        try:
            outcome = self._runner.run(plan, group, timeout)
        except PortScannerError:
            return [(h, None) for h in group]
        return [
            (h, _analyse(_document(plan, outcome, _command_line(h, ports, arguments), only=h), plan.notes))
            for h in group
        ]

    def analyse_nmap_xml_scan(
        self,
        nmap_xml_output: str | bytes | None = None,
        nmap_err: str = "",
        nmap_err_keep_trace: Sequence[str] = (),
        nmap_warn_keep_trace: Sequence[str] = (),
    ) -> dict[str, Any]:
        """python-nmap's reading of an nmap XML document (from nmap or from portlens)."""
        if nmap_xml_output is not None:
            self._nmap_last_output = nmap_xml_output
        self._scan_result = _analyse(self._nmap_last_output)
        if nmap_err_keep_trace:
            self._scan_result["nmap"]["scaninfo"]["error"] = list(nmap_err_keep_trace)
        if nmap_warn_keep_trace:
            self._scan_result["nmap"]["scaninfo"]["warning"] = list(nmap_warn_keep_trace)
        return self._scan_result

    def __getitem__(self, host: str) -> PortScannerHostDict:
        if not isinstance(host, str):
            raise TypeError(f"Wrong type for [host], should be a string [was {type(host)}]")
        result: PortScannerHostDict = self._scan_result["scan"][host]
        return result

    def all_hosts(self) -> list[str]:
        return sorted(self._scan_result.get("scan", {}))

    def _nmap(self) -> dict[str, Any]:
        if "nmap" not in self._scan_result:
            raise AssertionError("Do a scan before trying to get result !")
        section: dict[str, Any] = self._scan_result["nmap"]
        return section

    def command_line(self) -> str:
        return str(self._nmap()["command_line"])

    def scaninfo(self) -> dict[str, Any]:
        return dict(self._nmap()["scaninfo"])

    def scanstats(self) -> dict[str, Any]:
        return dict(self._nmap()["scanstats"])

    def has_host(self, host: str) -> bool:
        self._nmap()
        return host in self._scan_result["scan"]

    def csv(self) -> str:
        """python-nmap's CSV export (``;``-separated, one row per port and hostname)."""
        self._nmap()
        out = io.StringIO()
        w = csv.writer(out, delimiter=";")
        cols = ("name", "state", "product", "extrainfo", "reason", "version", "conf", "cpe")
        w.writerow(["host", "hostname", "hostname_type", "protocol", "port", *cols])
        for host in self.all_hosts():
            for proto in self[host].all_protocols():
                if proto not in ("tcp", "udp"):
                    continue
                for port in sorted(self[host][proto]):
                    info = self[host][proto][port]
                    for h in self[host]["hostnames"]:
                        w.writerow([host, h["name"], h["type"], proto, port, *(info[c] for c in cols)])
        return out.getvalue()


Callback = Callable[[str, "dict[str, Any] | None"], object]
_ASYNC: weakref.WeakSet[PortScannerAsync] = weakref.WeakSet()


class PortScannerAsync:
    """python-nmap's ``PortScannerAsync``: scans in the background and calls
    ``callback(host, scan_data)`` host by host (``scan_data`` is None if that host's scan failed).

    The callback runs in a background thread (python-nmap uses a child process)."""

    def __init__(self) -> None:
        self._nm = PortScanner()
        self._thread: threading.Thread | None = None
        _ASYNC.add(self)

    def __del__(self) -> None:
        try:
            self.stop()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass

    def scan(
        self,
        hosts: str = "127.0.0.1",
        ports: str | None = None,
        arguments: str = "-sV",
        callback: Callback | None = None,
        sudo: bool = False,
        timeout: float = 0,
    ) -> None:
        """Start scanning; arguments are checked (and errors raised) before this returns."""
        _check_types(hosts, ports, arguments)
        if callback is not None and not callable(callback):
            raise TypeError(f"The [callback] {callback!r} should be callable or None.")
        timeout = _option("timeout", _number_arg(timeout), "timeout")
        plan = _plan(hosts, ports, arguments)
        addresses = plan.addresses()
        if self.still_scanning():
            raise PortScannerError("a scan is already running; stop() or wait() first")
        self._nm._runner = _Runner()
        self._thread = threading.Thread(
            target=self._work,
            args=(plan, addresses, ports, arguments, callback, timeout),
            name="portlens-nmap-async",
            daemon=True,
        )
        self._thread.start()

    def _work(
        self,
        plan: _Plan,
        addresses: list[str],
        ports: str | None,
        arguments: str,
        callback: Callback | None,
        timeout: float,
    ) -> None:
        runner = self._nm._runner
        size = _group_size(plan)
        try:
            for start in range(0, len(addresses), size):
                if runner.stopped:
                    return
                for host, data in self._nm._scan_hosts(
                    plan, addresses[start : start + size], ports, arguments, timeout
                ):
                    if runner.stopped:
                        return
                    if callback is not None:
                        callback(host, data)
        except Exception:  # noqa: BLE001 - like python-nmap's child process: report and end
            traceback.print_exc(file=sys.stderr)

    def stop(self) -> None:
        """Stop the scan now; no more callbacks."""
        self._nm._runner.cancel()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the scan to end, at most ``timeout`` seconds."""
        if self._thread is not None:
            self._thread.join(timeout)

    def still_scanning(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


class PortScannerYield(PortScannerAsync):
    """python-nmap's ``PortScannerYield``: ``for host, scan_data in nm.scan(...)``."""

    def scan(  # type: ignore[override]
        self,
        hosts: str = "127.0.0.1",
        ports: str | None = None,
        arguments: str = "-sV",
        sudo: bool = False,
        timeout: float = 0,
    ) -> Iterator[tuple[str, dict[str, Any] | None]]:
        _check_types(hosts, ports, arguments)
        timeout = _option("timeout", _number_arg(timeout), "timeout")
        plan = _plan(hosts, ports, arguments)
        addresses = plan.addresses()
        size = _group_size(plan)
        for start in range(0, len(addresses), size):
            yield from self._nm._scan_hosts(plan, addresses[start : start + size], ports, arguments, timeout)

    def stop(self) -> None:
        pass

    def wait(self, timeout: float | None = None) -> None:
        pass

    def still_scanning(self) -> bool:
        return False


@atexit.register
def _stop_background_scans() -> None:
    """End background scans before the interpreter goes away (their threads run engine code)."""
    scanners = list(_ASYNC)
    for s in scanners:
        s.stop()
    for s in scanners:
        s.wait(5.0)

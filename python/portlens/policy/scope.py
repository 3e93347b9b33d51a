"""What a rule, an exception or a baseline entry applies to: ports, hosts and host tags."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["PortSet", "HostSet", "TagMap", "ScopeSyntaxError", "parse_ports", "parse_hosts", "addr_key"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_PORT = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?(?:/\s*(tcp|udp|sctp)\s*)?$", re.IGNORECASE)
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$")


class ScopeSyntaxError(ValueError):
    """A port or host entry could not be read; the caller adds the file and line."""


@dataclass(frozen=True)
class PortSet:
    """Ports with an optional protocol each: ``"445/tcp"``, ``"6000-6063/tcp"``, ``"53"`` (any protocol)."""

    ranges: tuple[tuple[int, int, str | None], ...]

    def contains(self, port: int, protocol: str | None) -> bool:
        proto = (protocol or "tcp").lower()
        return any(lo <= port <= hi and (p is None or p == proto) for lo, hi, p in self.ranges)

    def __str__(self) -> str:
        items = []
        for lo, hi, p in self.ranges:
            s = str(lo) if lo == hi else f"{lo}-{hi}"
            items.append(s if p is None else f"{s}/{p}")
        return ",".join(items)


def parse_ports(items: Any) -> PortSet:
    """A list of ints and strings (a string may hold several, comma separated)."""
    if isinstance(items, (int, str)):
        items = [items]
    if not isinstance(items, (list, tuple)):
        raise ScopeSyntaxError('ports must be a list such as [22, "445/tcp", "6000-6063/tcp"]')
    ranges: list[tuple[int, int, str | None]] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise ScopeSyntaxError(f"port entry {item!r} is neither a number nor a string")
        for part in str(item).split(","):
            if not part.strip():
                continue
            m = _PORT.match(part)
            if not m:
                raise ScopeSyntaxError(f"port entry {part.strip()!r}: expected PORT, LOW-HIGH, optionally /tcp or /udp")
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) else lo
            if not 1 <= lo <= hi <= 65535:
                raise ScopeSyntaxError(f"port entry {part.strip()!r}: ports run from 1 to 65535, low before high")
            ranges.append((lo, hi, m.group(3).lower() if m.group(3) else None))
    if not ranges:
        raise ScopeSyntaxError("the port list is empty")
    return PortSet(tuple(ranges))


@dataclass(frozen=True)
class HostSet:
    """Addresses, CIDR blocks and host names; ``"*"`` matches every host."""

    networks: tuple[IPNetwork, ...] = ()
    names: frozenset[str] = frozenset()
    everything: bool = False

    def contains(self, host: str, hostname: str | None = None) -> bool:
        if self.everything:
            return True
        if host.lower() in self.names or (hostname is not None and hostname.lower().rstrip(".") in self.names):
            return True
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip.version == net.version and ip in net for net in self.networks)


def parse_hosts(items: Any) -> HostSet:
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, (list, tuple)):
        raise ScopeSyntaxError('hosts must be a list such as ["198.18.1.0/24", "db1.example.org"]')
    nets: list[IPNetwork] = []
    names: set[str] = set()
    everything = False
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ScopeSyntaxError(f"host entry {item!r} is not a non-empty string")
        s = item.strip()
        if s in ("*", "any"):
            everything = True
            continue
        if any(ch.isdigit() for ch in s) and ("/" in s or ":" in s or re.fullmatch(r"[\d.]+", s)):
            try:
                nets.append(ipaddress.ip_network(s, strict=False))
            except ValueError as e:
                raise ScopeSyntaxError(f"host entry {s!r}: {e}") from None
            continue
        if not _HOSTNAME.match(s):
            raise ScopeSyntaxError(f"host entry {s!r} is not an address, a CIDR block or a host name")
        names.add(s.lower().rstrip("."))
    return HostSet(tuple(nets), frozenset(names), everything)


class TagMap:
    """Host tags: tag name -> hosts (``[tags] web = ["198.18.1.0/24"]``)."""

    def __init__(self, tags: Mapping[str, HostSet] | None = None) -> None:
        self.tags: dict[str, list[HostSet]] = {k: [v] for k, v in (tags or {}).items()}

    def merge(self, other: TagMap) -> TagMap:
        out = TagMap()
        for src in (self, other):
            for name, sets in src.tags.items():
                out.tags.setdefault(name, []).extend(sets)
        return out

    def tags_for(self, host: str, hostname: str | None = None) -> frozenset[str]:
        return frozenset(name for name, sets in self.tags.items() if any(s.contains(host, hostname) for s in sets))

    def names(self) -> Iterable[str]:
        return self.tags.keys()


def addr_key(host: str) -> tuple[int, int, str]:
    """Sort key: IPv4 by number, then IPv6, then names."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return (9, 0, host)
    return (ip.version, int(ip), "")


def str_list(value: Any) -> Sequence[str] | None:
    """The value as a list of strings, or None if it is not one (a lone string counts)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    return None

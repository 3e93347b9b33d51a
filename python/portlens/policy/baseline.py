"""Baselines: what is expected to be open. Every open port outside it is an "unexpected open port".

A baseline file::

    [baseline]
    name = "office network"

    [tags]
    web = ["198.18.1.0/24"]

    [[expect]]
    host_tags = ["web"]          # and/or hosts = ["198.18.1.10", "10.0.0.0/8", "*"]
    ports = ["80/tcp", "443/tcp"]
    note = "the web tier may expose 80 and 443"

    [[expect]]
    hosts = ["198.18.9.5"]
    services = ["ssh"]           # by identified service (or the port's usual service)

A host no entry covers is expected to have nothing open.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._toml import Doc, check_keys, load_toml, loads_toml
from .contract import canonical_service
from .loader import Reader, parse_tags
from .model import PolicyError
from .scope import HostSet, PortSet, ScopeSyntaxError, TagMap, parse_hosts, parse_ports, str_list

__all__ = ["Baseline", "Expectation"]


@dataclass(frozen=True)
class Expectation:
    """One baseline entry: these hosts may expose these ports or services."""

    hosts: HostSet | None = None
    host_tags: frozenset[str] = frozenset()
    ports: PortSet | None = None
    services: frozenset[str] = frozenset()
    note: str = ""
    origin: str = ""

    def covers_host(self, host: str, hostname: str | None, tags: frozenset[str]) -> bool:
        return (self.hosts is not None and self.hosts.contains(host, hostname)) or bool(self.host_tags & tags)

    def allows(self, port: int, protocol: str | None, service: str | None) -> bool:
        if self.ports is not None and self.ports.contains(port, protocol):
            return True
        return service is not None and service in self.services

    def to_dict(self) -> dict[str, Any]:
        return {
            "ports": None if self.ports is None else str(self.ports),
            "services": sorted(self.services),
            "host_tags": sorted(self.host_tags),
            "note": self.note,
            "origin": self.origin,
        }


class Baseline:
    """The ports each host, CIDR block or tagged group of hosts may expose."""

    def __init__(self, expectations: Iterable[Expectation] = (), tags: TagMap | None = None, name: str = "") -> None:
        self.expectations: tuple[Expectation, ...] = tuple(expectations)
        self.tags = tags or TagMap()
        self.name = name

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Baseline:
        return cls._from_doc(load_toml(path, "baseline file"))

    @classmethod
    def loads(cls, text: str, name: str = "<string>") -> Baseline:
        return cls._from_doc(loads_toml(text, name))

    @classmethod
    def _from_doc(cls, doc: Doc) -> Baseline:
        data = doc.data
        check_keys(doc, (), data, ("baseline", "tags", "expect"), "a baseline file")
        head = data.get("baseline", {})
        if not isinstance(head, dict):
            raise doc.error(("baseline",), "[baseline] must be a table")
        check_keys(doc, ("baseline",), head, ("name",), "[baseline]")
        name = Reader(doc, ("baseline",), head, "[baseline]").text("name") or doc.path
        raw = data.get("expect", [])
        if not isinstance(raw, list):
            raise doc.error(("expect",), "write baseline entries as [[expect]] tables")
        tags = parse_tags(doc, data.get("tags"))
        entries = []
        for i, table in enumerate(raw):
            where: tuple[str | int, ...] = ("expect", i)
            if not isinstance(table, dict):
                raise doc.error(where, "each [[expect]] must be a table")
            what = f"baseline entry #{i + 1}"
            check_keys(doc, where, table, ("hosts", "host_tags", "ports", "services", "note"), what)
            r = Reader(doc, where, table, what)
            hosts, host_tags = r.hosts(), frozenset(r.strings("host_tags"))
            if hosts is None and not host_tags:
                raise r.err(None, "say which hosts: 'hosts' (addresses, CIDR blocks, names, \"*\") or 'host_tags'")
            ports = r.ports()
            services = frozenset(s for s in (canonical_service(x) for x in r.strings("services")) if s)
            if ports is None and not services:
                raise r.err(None, "say what is expected: 'ports' and/or 'services'")
            entries.append(Expectation(hosts, host_tags, ports, services, r.text("note") or "", doc.origin(where)))
        return cls(entries, tags, name)

    def expect(
        self,
        *,
        hosts: str | Iterable[str] | None = None,
        host_tags: str | Iterable[str] | None = None,
        ports: Any = None,
        services: str | Iterable[str] | None = None,
        note: str = "",
    ) -> Baseline:
        """A new baseline with one more entry: ``b.expect(hosts="198.18.1.0/24", ports="80,443")``."""
        try:
            hs = None if hosts is None else parse_hosts(hosts if isinstance(hosts, str) else list(hosts))
            ps = None if ports is None else parse_ports(ports if isinstance(ports, (int, str)) else list(ports))
        except ScopeSyntaxError as e:
            raise PolicyError(str(e), "<baseline>") from None
        tag_list = str_list(host_tags if isinstance(host_tags, str) or host_tags is None else list(host_tags)) or []
        svc_list = str_list(services if isinstance(services, str) or services is None else list(services)) or []
        if hs is None and not tag_list:
            raise PolicyError("a baseline entry needs hosts or host_tags", "<baseline>")
        svcs = frozenset(s for s in (canonical_service(x) for x in svc_list) if s)
        entry = Expectation(hs, frozenset(tag_list), ps, svcs, note, "python")
        return Baseline((*self.expectations, entry), self.tags, self.name)

    def with_tags(self, tags: Mapping[str, Any]) -> Baseline:
        """A new baseline with more host tags (``{"web": ["198.18.1.0/24"]}``)."""
        try:
            extra = TagMap({k: parse_hosts(v) for k, v in tags.items()})
        except ScopeSyntaxError as e:
            raise PolicyError(str(e), "<baseline>") from None
        return Baseline(self.expectations, self.tags.merge(extra), self.name)

    def expected(
        self,
        host: str,
        hostname: str | None,
        tags: frozenset[str],
        port: int,
        protocol: str | None,
        service: str | None,
    ) -> Expectation | None:
        """The first entry that allows this open port, or None when it is unexpected."""
        for e in self.expectations:
            if e.covers_host(host, hostname, tags) and e.allows(port, protocol, service):
                return e
        return None

    def covering(self, host: str, hostname: str | None, tags: frozenset[str]) -> list[Expectation]:
        return [e for e in self.expectations if e.covers_host(host, hostname, tags)]

    def __repr__(self) -> str:
        return f"<Baseline {self.name or 'unnamed'}: {len(self.expectations)} entries>"

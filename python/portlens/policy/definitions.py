"""The rules of a policy as data: what a rule, an escalation, an override and a risk acceptance hold
(`portlens.policy.loader` reads them from TOML, `portlens.policy.rules.Policy` gathers them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from .model import Acceptance, Remedy
from .regex import Pattern
from .scope import HostSet, PortSet

__all__ = ["KINDS", "DEFAULT_PORT_CONFIDENCE", "Escalation", "Rule", "Override", "AcceptRule"]

KINDS = ("exposure", "check", "unrated-check", "vulnerability", "unexpected-port", "open-port", "segmentation")
DEFAULT_PORT_CONFIDENCE = 0.7


@dataclass(frozen=True)
class Escalation:
    checks: tuple[str, ...]
    severity: str
    title: str | None = None
    rationale: str | None = None
    remediation: tuple[Remedy, ...] = ()
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    """One rule of a policy (see the module docstring for the file format)."""

    id: str
    title: str
    severity: str
    kind: str = "exposure"
    services: frozenset[str] = frozenset()
    ports: PortSet | None = None
    product: Pattern | None = None  # RE2 (linear time): `portlens.policy.regex`
    protocol: str | None = None
    hosts: HostSet | None = None
    host_tags: frozenset[str] = frozenset()
    checks: frozenset[str] = frozenset()
    escalations: tuple[Escalation, ...] = ()
    confidence: float = 1.0
    roles: frozenset[str] = frozenset()
    peers: frozenset[str] = frozenset()
    rationale: str = ""
    remediation: tuple[Remedy, ...] = ()
    references: tuple[str, ...] = ()
    source: str = ""
    tags: tuple[str, ...] = ()
    enabled: bool = True
    origin: str = ""

    def in_scope(self, host: str, hostname: str | None, host_tags: frozenset[str], protocol: str | None) -> bool:
        if self.hosts is not None and not self.hosts.contains(host, hostname):
            return False
        if self.host_tags and not self.host_tags & host_tags:
            return False
        return self.protocol is None or protocol is None or self.protocol == protocol

    @property
    def role_tags(self) -> frozenset[str]:
        return frozenset(t[5:] for t in self.tags if t.startswith("role:"))


@dataclass(frozen=True)
class Override:
    """Changes to a rule's findings, for all of them or those in scope (hosts, host_tags, ports)."""

    rule: str
    changes: Mapping[str, Any]
    hosts: HostSet | None = None
    host_tags: frozenset[str] = frozenset()
    ports: PortSet | None = None
    origin: str = ""
    origin_path: str = ""
    origin_line: int | None = None

    def applies(
        self, host: str, hostname: str | None, tags: frozenset[str], port: int | None, proto: str | None
    ) -> bool:
        if self.hosts is not None and not self.hosts.contains(host, hostname):
            return False
        if self.host_tags and not self.host_tags & tags:
            return False
        return self.ports is None or (port is not None and self.ports.contains(port, proto))


@dataclass(frozen=True)
class AcceptRule:
    """A risk acceptance and what it covers."""

    acceptance: Acceptance
    expires: date
    hosts: HostSet | None = None
    host_tags: frozenset[str] = frozenset()
    ports: PortSet | None = None
    origin_path: str = ""
    origin_line: int | None = None

    def covers(
        self,
        rule: str,
        finding_id: str,
        host: str,
        hostname: str | None,
        tags: frozenset[str],
        port: int | None,
        proto: str | None,
    ) -> bool:
        a = self.acceptance
        if a.rule is not None and a.rule != rule:
            return False
        if a.finding is not None and a.finding != finding_id:
            return False
        if self.hosts is not None and not self.hosts.contains(host, hostname):
            return False
        if self.host_tags and not self.host_tags & tags:
            return False
        return self.ports is None or (port is not None and self.ports.contains(port, proto))

"""What an assessment produces: findings, per-host scores, and the errors of policy files."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import InputError

__all__ = [
    "SEVERITIES",
    "PRACTICES",
    "Remedy",
    "Finding",
    "Acceptance",
    "HostScore",
    "Assessment",
    "PolicyError",
    "severity_rank",
]

#: Severity names, lowest first (Shadowserver's scale, see shared/RISK-KNOWLEDGE.md).
SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}

#: The practices a remediation step is tagged with.
PRACTICES: tuple[str, ...] = ("close", "vpn", "mfa", "segment", "encrypt", "patch", "restrict-source", "harden")


def severity_rank(severity: str) -> int:
    """0 for info up to 4 for critical."""
    return _RANK[severity]


class PolicyError(InputError):
    """A policy, baseline or vulnerability-data file is wrong. ``path``, ``line`` and ``col`` say
    where (when known), ``problem`` says what; ``str()`` gives ``file:line[:col]: problem``."""

    def __init__(self, problem: str, path: str | None = None, line: int | None = None, col: int | None = None) -> None:
        where = path or "<policy>"
        if line is not None:
            where += f":{line}"
            if col is not None:
                where += f":{col}"
        super().__init__(f"{where}: {problem}", input=path, item=None, offset=None)
        self.problem = problem
        self.path = path
        self.line = line
        self.col = col

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problem, self.path, self.line, self.col))


@dataclass(frozen=True)
class Remedy:
    """One remediation step, tagged with the practice it applies (one of `PRACTICES`)."""

    practice: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"practice": self.practice, "text": self.text}


@dataclass(frozen=True)
class Acceptance:
    """An accepted risk: findings it covers are suppressed until ``expires`` (inclusive)."""

    owner: str
    reason: str
    expires: str  # ISO date
    rule: str | None = None
    finding: str | None = None
    origin: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "reason": self.reason,
            "expires": self.expires,
            "rule": self.rule,
            "finding": self.finding,
            "origin": self.origin,
        }


@dataclass(frozen=True)
class Finding:
    """One risk found on a host (and port). ``id`` is stable across scans: a hash of the rule,
    host, port and protocol (and the check, for per-check findings)."""

    id: str
    rule: str
    title: str
    severity: str
    host: str
    port: int | None
    protocol: str | None
    service: str | None
    evidence: Mapping[str, Any] = field(hash=False, compare=False)
    rationale: str
    remediation: tuple[Remedy, ...]
    references: tuple[str, ...]
    confidence: float
    tags: tuple[str, ...]
    source: str = ""
    cves: tuple[str, ...] = ()
    hostname: str | None = None
    acceptance: Acceptance | None = None

    @property
    def weight(self) -> float:
        """This finding's share of the score: 10 ** severity rank, times the confidence."""
        return 10.0 ** severity_rank(self.severity) * self.confidence

    @property
    def where(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}/{self.protocol}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "title": self.title,
            "severity": self.severity,
            "host": self.host,
            "hostname": self.hostname,
            "port": self.port,
            "protocol": self.protocol,
            "service": self.service,
            "evidence": dict(self.evidence),
            "rationale": self.rationale,
            "remediation": [r.to_dict() for r in self.remediation],
            "references": list(self.references),
            "confidence": self.confidence,
            "tags": list(self.tags),
            "source": self.source,
            "cves": list(self.cves),
            "acceptance": None if self.acceptance is None else self.acceptance.to_dict(),
        }


@dataclass(frozen=True)
class HostScore:
    """A host's share of the attack surface."""

    host: str
    hostname: str | None
    score: float
    counts: Mapping[str, int]
    max_severity: str | None
    open_ports: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "hostname": self.hostname,
            "score": self.score,
            "counts": dict(self.counts),
            "max_severity": self.max_severity,
            "open_ports": self.open_ports,
        }


@dataclass(frozen=True)
class Assessment:
    """The outcome of `portlens.assess`.

    ``findings``: active findings, most severe first, then by host and port. ``suppressed``: the
    findings an unexpired risk acceptance covers. ``hosts``: per-host scores, riskiest first.
    ``score``: the whole scan's attack-surface score (the sum of the host scores). ``counts``:
    active findings by severity.
    """

    findings: tuple[Finding, ...]
    suppressed: tuple[Finding, ...]
    hosts: tuple[HostScore, ...]
    score: float
    counts: Mapping[str, int]
    policy: tuple[str, ...] = ()
    as_of: str = ""

    SCHEMA = "portlens.assessment/1"

    @property
    def max_severity(self) -> str | None:
        return max((f.severity for f in self.findings), key=severity_rank, default=None)

    def at_least(self, severity: str) -> list[Finding]:
        """Active findings of ``severity`` or worse."""
        floor = severity_rank(severity)
        return [f for f in self.findings if severity_rank(f.severity) >= floor]

    def for_host(self, host: str) -> list[Finding]:
        return [f for f in self.findings if f.host == host]

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.SCHEMA,
            "as_of": self.as_of,
            "policy": list(self.policy),
            "score": self.score,
            "counts": dict(self.counts),
            "hosts": [h.to_dict() for h in self.hosts],
            "findings": [f.to_dict() for f in self.findings],
            "suppressed": [f.to_dict() for f in self.suppressed],
        }

    def __repr__(self) -> str:
        c = ", ".join(f"{s} {self.counts.get(s, 0)}" for s in reversed(SEVERITIES))
        return f"<Assessment score {self.score:g}: {c}; {len(self.hosts)} hosts>"

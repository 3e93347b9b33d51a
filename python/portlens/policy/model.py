"""What an assessment produces: findings, per-host scores, and the errors of policy files."""

from __future__ import annotations

import os
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

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Remedy:
        return cls(practice=str(d["practice"]), text=str(d["text"]))


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

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Acceptance:
        return cls(
            owner=str(d["owner"]),
            reason=str(d["reason"]),
            expires=str(d["expires"]),
            rule=d.get("rule"),
            finding=d.get("finding"),
            origin=str(d.get("origin") or ""),
        )


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

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        """The inverse of `to_dict` (a finding of a ``portlens.assessment/1`` document)."""
        port = d.get("port")
        return cls(
            id=str(d["id"]),
            rule=str(d["rule"]),
            title=str(d["title"]),
            severity=str(d["severity"]),
            host=str(d["host"]),
            port=None if port is None else int(port),
            protocol=d.get("protocol"),
            service=d.get("service"),
            evidence=dict(d.get("evidence") or {}),
            rationale=str(d.get("rationale") or ""),
            remediation=tuple(Remedy.from_dict(r) for r in d.get("remediation") or ()),
            references=tuple(d.get("references") or ()),
            confidence=float(d["confidence"]),
            tags=tuple(d.get("tags") or ()),
            source=str(d.get("source") or ""),
            cves=tuple(d.get("cves") or ()),
            hostname=d.get("hostname"),
            acceptance=None if d.get("acceptance") is None else Acceptance.from_dict(d["acceptance"]),
        )

    def _repr_html_(self) -> str:
        from ..report.display import finding_html

        return finding_html(self)


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

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HostScore:
        return cls(
            host=str(d["host"]),
            hostname=d.get("hostname"),
            score=float(d["score"]),
            counts={str(k): int(v) for k, v in dict(d["counts"]).items()},
            max_severity=d.get("max_severity"),
            open_ports=int(d.get("open_ports") or 0),
        )

    def _repr_html_(self) -> str:
        from ..report.display import host_score_html

        return host_score_html(self)


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

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Assessment:
        """The inverse of `to_dict`: a ``portlens.assessment/1`` document back into an Assessment."""
        if d.get("schema") != cls.SCHEMA:
            raise ValueError(f"not a portlens assessment (schema {d.get('schema')!r}, expected {cls.SCHEMA!r})")
        return cls(
            findings=tuple(Finding.from_dict(f) for f in d["findings"]),
            suppressed=tuple(Finding.from_dict(f) for f in d.get("suppressed") or ()),
            hosts=tuple(HostScore.from_dict(h) for h in d["hosts"]),
            score=float(d["score"]),
            counts={str(k): int(v) for k, v in dict(d["counts"]).items()},
            policy=tuple(d.get("policy") or ()),
            as_of=str(d.get("as_of") or ""),
        )

    # -- reports (portlens.report; `result` is the ScanResult assessed, for hosts, services, TLS) ----------
    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The versioned JSON document (schema ``portlens.assessment/1``); also written to ``path``."""
        import json

        from ..report.jsonfmt import write_text

        text = json.dumps(self.to_dict(), indent=2) + "\n"
        if path is not None:
            write_text(path, text)
        return text

    def to_html(self, path: str | os.PathLike[str] | None = None, result: Any = None, **kw: Any) -> str:
        """A self-contained HTML report (see `portlens.report.html.render_html` for ``previous``,
        ``drift``, ``history``, ``title``); also written to ``path``."""
        from ..report.html import render_html
        from ..report.jsonfmt import write_text

        text = render_html(self, result, **kw)
        if path is not None:
            write_text(path, text)
        return text

    def to_markdown(self, path: str | os.PathLike[str] | None = None, result: Any = None, **kw: Any) -> str:
        """A Markdown report for tickets and wikis; also written to ``path``."""
        from ..report.jsonfmt import write_text
        from ..report.markdown import assessment_markdown

        text = assessment_markdown(self, result, **kw)
        if path is not None:
            write_text(path, text)
        return text

    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        """One CSV row per finding (suppressed ones last, status ``suppressed``); also written to ``path``."""
        from ..report.csvfmt import assessment_csv
        from ..report.jsonfmt import write_text

        text = assessment_csv(self)
        if path is not None:
            write_text(path, text)
        return text

    def to_pandas(self, what: str = "findings") -> Any:
        """A pandas DataFrame of the ``"findings"`` (one row each) or of the ``"hosts"``."""
        from ..report.display import assessment_frame

        return assessment_frame(self, what, "pandas")

    def to_polars(self, what: str = "findings") -> Any:
        """`to_pandas`, as a polars DataFrame."""
        from ..report.display import assessment_frame

        return assessment_frame(self, what, "polars")

    def plot(self, result: Any = None) -> Any:
        """The report's charts with matplotlib (``pip install portlens[plot]``); returns the Figure."""
        from ..report.display import plot_assessment

        return plot_assessment(self, result)

    def _repr_html_(self) -> str:
        from ..report.display import assessment_html

        return assessment_html(self)

    def __repr__(self) -> str:
        c = ", ".join(f"{s} {self.counts.get(s, 0)}" for s in reversed(SEVERITIES))
        return f"<Assessment score {self.score:g}: {c}; {len(self.hosts)} hosts>"

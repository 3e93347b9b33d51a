"""Drift between two scans of the same target set: what opened, closed, reopened, changed.

Port events follow CISA's Cyber Hygiene tickets (per host, port and protocol): OPENED (open now,
never seen open before), REOPENED (open now, not open in the previous scan but open in some scan
before it), CLOSED (open in the previous scan, not now). The opened list is the "newly opened since
the last report". Services compare what identification recorded (name, product, version, and the
certificate's subject and expiry); findings compare two assessments with the same policy by their
stable ids: new, resolved, or with a changed severity.

`compute_drift` is pure (it reads no store); `Store.diff` feeds it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..policy.model import Finding, severity_rank
from ..results import PortResult, ScanResult, addr_key

if TYPE_CHECKING:
    from ..policy import Assessment
    from .scans import ScanInfo

__all__ = ["SCHEMA", "SERVICE_FIELDS", "ScanRef", "PortChange", "ServiceChange", "SeverityChange", "Drift"]

SCHEMA = "portlens.drift/1"

#: The service fields compared, as dotted paths into `PortResult.service`.
SERVICE_FIELDS: tuple[str, ...] = ("name", "product", "version", "tls.not_after", "tls.subject")

Key = tuple[str, int, str]


@dataclass(frozen=True)
class ScanRef:
    """Which scan a side of the drift is."""

    id: int | None
    started: datetime
    targets: tuple[str, ...]
    status: str = "complete"
    profile: str | None = None

    @classmethod
    def of(cls, info: ScanInfo) -> ScanRef:
        return cls(info.id, info.started, tuple(info.targets), info.status, info.profile)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "started": self.started.isoformat(), "targets": list(self.targets)}


@dataclass(frozen=True)
class PortChange:
    host: str
    port: int
    protocol: str
    event: str  # "OPENED", "REOPENED" or "CLOSED"

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "protocol": self.protocol, "event": self.event}


@dataclass(frozen=True)
class ServiceChange:
    host: str
    port: int
    protocol: str
    field: str  # one of SERVICE_FIELDS
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "protocol": self.protocol,
            "field": self.field,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True)
class SeverityChange:
    id: str
    title: str
    host: str
    port: int | None
    before: str
    after: str

    @property
    def escalated(self) -> bool:
        return severity_rank(self.after) > severity_rank(self.before)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "host": self.host,
            "port": self.port,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True)
class Drift:
    """What changed from scan ``a`` to scan ``b``. ``opened`` is CISA's "newly opened since the last
    report" (OPENED and REOPENED events)."""

    a: ScanRef
    b: ScanRef
    opened: tuple[PortChange, ...]
    closed: tuple[PortChange, ...]
    services: tuple[ServiceChange, ...]
    new_findings: tuple[Finding, ...]
    resolved_findings: tuple[Finding, ...]
    severity_changed: tuple[SeverityChange, ...]

    @property
    def newly_opened(self) -> tuple[PortChange, ...]:
        return self.opened

    @property
    def reopened(self) -> tuple[PortChange, ...]:
        return tuple(c for c in self.opened if c.event == "REOPENED")

    @property
    def empty(self) -> bool:
        return not (
            self.opened
            or self.closed
            or self.services
            or self.new_findings
            or self.resolved_findings
            or self.severity_changed
        )

    def alerts(self, severity: str) -> list[str]:
        """Ids of the findings that are new at ``severity`` or worse, or were raised to it from below
        (what ``portlens diff --fail-on`` exits 4 for)."""
        floor = severity_rank(severity)
        out = [f.id for f in self.new_findings if severity_rank(f.severity) >= floor]
        out += [
            c.id for c in self.severity_changed if severity_rank(c.after) >= floor and severity_rank(c.before) < floor
        ]
        return out

    def to_dict(self) -> dict[str, Any]:
        """The versioned document (schema ``portlens.drift/1``) the reports render."""
        return {
            "schema": SCHEMA,
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "ports": {
                "opened": [c.to_dict() for c in self.opened],
                "closed": [c.to_dict() for c in self.closed],
            },
            "services": {"changed": [c.to_dict() for c in self.services]},
            "findings": {
                "new": [f.to_dict() for f in self.new_findings],
                "resolved": [f.to_dict() for f in self.resolved_findings],
                "severity_changed": [c.to_dict() for c in self.severity_changed],
            },
        }

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        from .render import render

        return _written(render(self.to_dict(), "json"), path)

    def to_markdown(self, path: str | os.PathLike[str] | None = None) -> str:
        from .render import render

        return _written(render(self.to_dict(), "markdown"), path)

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        from .render import render

        return _written(render(self.to_dict(), "html"), path)

    def to_text(self) -> str:
        from .render import render

        return render(self.to_dict(), "text", incomplete=self._incomplete())

    def _incomplete(self) -> list[int | None]:
        return [r.id for r in (self.a, self.b) if r.status != "complete"]

    def write(self, path: str | os.PathLike[str]) -> str:
        """Write in the format of the extension (.html/.htm, .md/.markdown, .json); returns the format."""
        from ..report.jsonfmt import write_text
        from .render import format_for, render

        fmt = format_for(path)
        write_text(path, render(self.to_dict(), fmt))
        return fmt

    def __repr__(self) -> str:
        return (
            f"<Drift #{self.a.id} -> #{self.b.id}: {len(self.opened)} opened ({len(self.reopened)} reopened), "
            f"{len(self.closed)} closed, {len(self.services)} service changes, {len(self.new_findings)} new "
            f"findings, {len(self.resolved_findings)} resolved, {len(self.severity_changed)} severity changes>"
        )


def _written(text: str, path: str | os.PathLike[str] | None) -> str:
    if path is not None:
        from ..report.jsonfmt import write_text

        write_text(path, text)
    return text


def _sort_key(k: Key) -> tuple[tuple[int, int], str, int, str]:
    # addresses in numeric order; a name (no address) by text after them
    return (addr_key(k[0]), k[0], k[1], k[2])


def _field(service: Mapping[str, Any], path: str) -> Any:
    value: Any = service
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _open(result: ScanResult) -> dict[Key, PortResult]:
    return {(p.host, p.port, p.protocol): p for p in result.ports if p.state == "open"}


def compute_drift(
    a_ref: ScanRef,
    b_ref: ScanRef,
    a: ScanResult,
    b: ScanResult,
    a_findings: Assessment,
    b_findings: Assessment,
    seen_before: set[Key] | frozenset[Key] = frozenset(),
) -> Drift:
    """The drift from ``a`` to ``b``. ``seen_before``: the (host, port, protocol) keys open in some
    scan of the target set before ``a`` (they make an opening a REOPENED one). Assess both scans with
    the same policy for the findings to compare."""
    open_a, open_b = _open(a), _open(b)
    opened = tuple(
        PortChange(*k, event="REOPENED" if k in seen_before else "OPENED")
        for k in sorted(open_b.keys() - open_a.keys(), key=_sort_key)
    )
    closed = tuple(PortChange(*k, event="CLOSED") for k in sorted(open_a.keys() - open_b.keys(), key=_sort_key))
    services = []
    for k in sorted(open_a.keys() & open_b.keys(), key=_sort_key):
        sa, sb = open_a[k].service, open_b[k].service
        if sa is None or sb is None:  # one scan did not identify services: nothing to compare
            continue
        for name in SERVICE_FIELDS:
            before, after = _field(sa, name), _field(sb, name)
            if before != after:
                services.append(ServiceChange(*k, field=name, before=before, after=after))
    fa = {f.id: f for f in a_findings.findings}
    fb = {f.id: f for f in b_findings.findings}
    new = tuple(f for f in b_findings.findings if f.id not in fa)
    resolved = tuple(f for f in a_findings.findings if f.id not in fb)
    changed = tuple(
        SeverityChange(f.id, f.title, f.host, f.port, before=fa[f.id].severity, after=f.severity)
        for f in b_findings.findings
        if f.id in fa and fa[f.id].severity != f.severity
    )
    return Drift(a_ref, b_ref, opened, closed, tuple(services), new, resolved, changed)

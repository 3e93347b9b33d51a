"""The data every human-readable report shows, gathered once from an assessment and its scan.

`build` turns an `Assessment` (and optionally the `ScanResult` it came from, a previous scan, a
drift document and history points) into plain dicts and lists that the HTML template and the
Markdown writer render. Nothing here escapes: the renderers do (Jinja2 autoescape for HTML,
`markdown.md` for Markdown), since every string from the network (banners, titles, certificate
fields, hostnames) ends up in these values as it was received.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .._core import __version__
from ..policy.model import PRACTICES, SEVERITIES, Assessment, Finding, severity_rank
from ..results import ScanResult, addr_key

__all__ = ["DRIFT_SCHEMA", "Report", "build", "drift_dict", "diff", "PRACTICE_TITLES", "SEVERITY_COLORS"]

DRIFT_SCHEMA = "portlens.drift/1"
SEVERITY_COLORS = {
    "critical": "#8e1b1b",
    "high": "#d84315",
    "medium": "#f0a30a",
    "low": "#1e88e5",
    "info": "#90a4ae",
}
PRACTICE_TITLES = {
    "close": "Close the port",
    "vpn": "Put it behind a VPN",
    "mfa": "Require multi-factor authentication",
    "segment": "Segment the network",
    "encrypt": "Encrypt the traffic",
    "patch": "Patch or upgrade",
    "restrict-source": "Restrict who may connect",
    "harden": "Harden the configuration",
}
# findings that only restate an open port; the risky-service matrix leaves them out
_PLAIN_RULES = {"open-port", "unexpected-open-port"}
_MATRIX_HOSTS = 15
_MATRIX_SERVICES = 12
_TOP_HOSTS = 10


@dataclass
class Report:
    """What a report shows; every value is plain data (str, int, float, list, dict)."""

    title: str
    generated: str
    version: str
    summary: dict[str, Any]
    findings: list[dict[str, Any]]
    suppressed: list[dict[str, Any]]
    hosts: list[dict[str, Any]]
    remediation: list[dict[str, Any]]
    charts: dict[str, Any]
    drift: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


# -- drift: a document of schema portlens.drift/1, given or computed from a previous scan ---------
def drift_dict(drift: Any) -> dict[str, Any] | None:
    """The drift document of ``drift``: an object with ``to_dict()``, or the dict itself."""
    if drift is None:
        return None
    d = drift.to_dict() if hasattr(drift, "to_dict") else drift
    if not isinstance(d, Mapping):
        raise TypeError(f"drift must be a mapping or have to_dict(), got {type(drift).__name__}")
    if d.get("schema") not in (None, DRIFT_SCHEMA):
        raise ValueError(f"drift document has schema {d.get('schema')!r}, expected {DRIFT_SCHEMA!r}")
    ports = d.get("ports") or {}
    services = d.get("services") or {}
    findings = d.get("findings") or {}
    return {
        "schema": DRIFT_SCHEMA,
        "a": dict(d.get("a") or {}),
        "b": dict(d.get("b") or {}),
        "ports": {"opened": list(ports.get("opened") or []), "closed": list(ports.get("closed") or [])},
        "services": {"changed": list(services.get("changed") or [])},
        "findings": {
            "new": list(findings.get("new") or []),
            "resolved": list(findings.get("resolved") or []),
            "severity_changed": list(findings.get("severity_changed") or []),
        },
    }


def _open_set(result: ScanResult | None, assessment: Assessment | None) -> set[tuple[str, int, str]] | None:
    if result is not None:
        return {(p.host, p.port, p.protocol) for p in result.ports if p.state == "open"}
    if assessment is not None:  # every open port yields at least one finding (an "open-port" one if nothing else)
        fs = [*assessment.findings, *assessment.suppressed]
        return {(f.host, f.port, f.protocol or "tcp") for f in fs if f.port is not None}
    return None


def _services(result: ScanResult | None) -> dict[tuple[str, int, str], Mapping[str, Any]]:
    if result is None:
        return {}
    return {(p.host, p.port, p.protocol): p.service for p in result.ports if p.state == "open" and p.service}


def _scan_ref(result: ScanResult | None, assessment: Assessment | None) -> dict[str, Any]:
    if result is not None:
        return {
            "id": None,
            "started": result.started.isoformat(),
            "targets": list(result.options.get("targets") or []),
        }
    return {"id": None, "started": assessment.as_of if assessment is not None else None, "targets": []}


def diff(
    previous: ScanResult | Assessment | None,
    result: ScanResult | None,
    assessment: Assessment | None,
    previous_assessment: Assessment | None = None,
) -> dict[str, Any]:
    """A drift document (``portlens.drift/1``) between a previous scan or assessment and this one.

    Ports come from the scan results (or, lacking them, from the findings' ports); findings are
    compared by their stable id, so only when both sides are assessments.
    """
    prev_result = previous if isinstance(previous, ScanResult) else None
    prev_assessment = previous if isinstance(previous, Assessment) else previous_assessment
    before = _open_set(prev_result, prev_assessment) or set()
    after = _open_set(result, assessment) or set()
    key = _key
    opened = [{"host": h, "port": p, "protocol": pr, "event": "OPENED"} for h, p, pr in sorted(after - before, key=key)]
    closed = [{"host": h, "port": p, "protocol": pr, "event": "CLOSED"} for h, p, pr in sorted(before - after, key=key)]
    changed: list[dict[str, Any]] = []
    sb, sa = _services(prev_result), _services(result)
    for k in sorted(set(sb) & set(sa), key=key):
        for fld in ("name", "product", "version"):
            if sb[k].get(fld) != sa[k].get(fld):
                changed.append(
                    {
                        "host": k[0],
                        "port": k[1],
                        "protocol": k[2],
                        "field": fld,
                        "before": sb[k].get(fld),
                        "after": sa[k].get(fld),
                    }
                )
    findings: dict[str, list[Any]] = {"new": [], "resolved": [], "severity_changed": []}
    if prev_assessment is not None and assessment is not None:
        old = {f.id: f for f in prev_assessment.findings}
        new = {f.id: f for f in assessment.findings}
        findings["new"] = [f.to_dict() for f in assessment.findings if f.id not in old]
        findings["resolved"] = [f.to_dict() for f in prev_assessment.findings if f.id not in new]
        findings["severity_changed"] = [
            {
                "id": f.id,
                "title": f.title,
                "host": f.host,
                "port": f.port,
                "before": old[f.id].severity,
                "after": f.severity,
            }
            for f in assessment.findings
            if f.id in old and old[f.id].severity != f.severity
        ]
    return {
        "schema": DRIFT_SCHEMA,
        "a": _scan_ref(prev_result, prev_assessment),
        "b": _scan_ref(result, assessment),
        "ports": {"opened": opened, "closed": closed},
        "services": {"changed": changed},
        "findings": findings,
    }


def _key(k: tuple[str, int, str]) -> tuple[tuple[int, int], int, str]:
    return (addr_key(k[0]), k[1], k[2])


# -- findings, hosts, remediation ------------------------------------------------------------------
def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def cve_verdicts(ev: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Why each CVE of a vulnerability finding was reported or not (advisory, version-only, fixed
    in the distribution's revision), from its evidence; [] for other findings."""
    out = []
    for c in ev.get("cves") or ():
        if isinstance(c, Mapping) and c.get("id"):
            basis = str(c.get("basis") or "version-only")
            out.append(
                {"id": str(c["id"]), "reported": True, "basis": basis, "rationale": str(c.get("rationale") or "")}
            )
    for c in ev.get("not_reported") or ():
        if isinstance(c, Mapping) and c.get("id"):
            out.append(
                {"id": str(c["id"]), "reported": False, "basis": "advisory", "rationale": str(c.get("rationale") or "")}
            )
    return out


def finding_row(f: Finding, status: str = "active") -> dict[str, Any]:
    ev = dict(f.evidence)
    service = f.service or ev.get("port_name") or ""
    return {
        "id": f.id,
        "rule": f.rule,
        "severity": f.severity,
        "rank": severity_rank(f.severity),
        "host": f.host,
        "hostname": f.hostname or "",
        "port": f.port,
        "protocol": f.protocol or "",
        "where": f.where,
        "service": str(service),
        "title": f.title,
        "rationale": f.rationale,
        "confidence": f.confidence,
        "weight": f.weight,
        "practices": [r.practice for r in f.remediation],
        "remediation": [r.to_dict() for r in f.remediation],
        "references": list(f.references),
        "cves": list(f.cves),
        "cve_verdicts": cve_verdicts(ev),
        "tags": list(f.tags),
        "evidence": json.dumps(ev, indent=2, sort_keys=True, default=str),
        "status": status,
        "acceptance": None if f.acceptance is None else f.acceptance.to_dict(),
    }


def _tls_items(tls: Any, prefix: str = "") -> list[tuple[str, str]]:
    """TLS facts as (name, value) pairs, nested mappings flattened with dotted names."""
    if not tls:
        return []
    if not isinstance(tls, Mapping):
        return [(prefix or "tls", _text(tls))]
    items: list[tuple[str, str]] = []
    for k, v in tls.items():
        name = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            items += _tls_items(v, name)
        elif isinstance(v, list | tuple):
            items.append((name, ", ".join(_text(x) for x in v)))
        elif v is not None:
            items.append((name, _text(v)))
    return items


def port_row(p: Any) -> dict[str, Any]:
    svc: Mapping[str, Any] = p.service or {}
    checks = svc.get("checks") or []
    cpe = svc.get("cpe") or []
    return {
        "port": p.port,
        "protocol": p.protocol,
        "state": p.state,
        "reason": p.reason,
        "rtt_ms": None if p.rtt is None else round(p.rtt * 1000, 2),
        "service": _text(svc.get("name")),
        "product": _text(svc.get("product")),
        "version": _text(svc.get("version")),
        "extrainfo": _text(svc.get("extrainfo")),
        "method": _text(svc.get("method")),
        "cpe": [cpe] if isinstance(cpe, str) else [str(c) for c in cpe],
        "banner": _text(svc.get("banner")),
        "tls": _tls_items(svc.get("tls")),
        "checks": [
            {"id": _text(c.get("id")), "outcome": _text(c.get("outcome"))} for c in checks if isinstance(c, Mapping)
        ],
    }


def _hosts(a: Assessment, result: ScanResult | None, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_host: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_host.setdefault(r["host"], []).append(r)
    scored = {h.host: h for h in a.hosts}
    hosts: list[dict[str, Any]] = []
    order = [h.host for h in a.hosts]
    if result is not None:
        # hosts with open ports but no score (only suppressed findings); not the many with nothing open
        order += [h.address for h in result.hosts if h.address not in scored and h.open_ports]
    for address in order:
        hs = scored.get(address)
        hr = result.host(address) if result is not None else None
        ports = [port_row(p) for p in hr.ports if p.state == "open"] if hr is not None else []
        if hr is None and result is not None:
            ports = [port_row(p) for p in result.open_ports(address)]
        hosts.append(
            {
                "host": address,
                "hostname": (hs.hostname if hs is not None else None)
                or (hr.hostname if hr is not None else None)
                or "",
                "score": hs.score if hs is not None else 0.0,
                "counts": {s: (hs.counts.get(s, 0) if hs is not None else 0) for s in reversed(SEVERITIES)},
                "max_severity": hs.max_severity if hs is not None else None,
                "open_ports": hs.open_ports if hs is not None else len(ports),
                "rtt_ms": None if hr is None or hr.rtt is None else round(hr.rtt * 1000, 2),
                "ports": ports,
                "findings": by_host.get(address, []),
            }
        )
    return hosts


def _remediation(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """Remediation steps grouped by practice; within a practice, each distinct step once, with
    the findings and hosts it fixes, worst first."""
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for f in findings:
        if f.severity == "info":
            continue
        for r in f.remediation:
            step = groups.setdefault(r.practice, {}).setdefault(
                r.text, {"text": r.text, "hosts": [], "findings": [], "rank": -1, "severity": "info"}
            )
            if f.host not in step["hosts"]:
                step["hosts"].append(f.host)
            step["findings"].append({"id": f.id, "title": f.title, "where": f.where, "severity": f.severity})
            if severity_rank(f.severity) > step["rank"]:
                step["rank"], step["severity"] = severity_rank(f.severity), f.severity
    order = {p: i for i, p in enumerate(PRACTICES)}
    out = []
    for practice in sorted(groups, key=lambda p: order.get(p, len(order))):
        steps = sorted(groups[practice].values(), key=lambda s: (-s["rank"], -len(s["findings"]), s["text"]))
        out.append(
            {
                "practice": practice,
                "title": PRACTICE_TITLES.get(practice, practice),
                "steps": steps,
                "findings": sum(len(s["findings"]) for s in steps),
            }
        )
    return out


# -- charts: geometry only (numbers and labels); the template draws the SVG ------------------------
def _severity_chart(counts: Mapping[str, int]) -> dict[str, Any]:
    values = {s: int(counts.get(s, 0)) for s in reversed(SEVERITIES)}
    top = max(values.values(), default=0) or 1
    rows = [{"label": s, "value": n, "color": SEVERITY_COLORS[s], "fraction": n / top} for s, n in values.items()]
    return {"rows": rows, "max": top}


def _hosts_chart(a: Assessment) -> dict[str, Any]:
    hosts = [h for h in a.hosts if h.score > 0][:_TOP_HOSTS]
    top = max((h.score for h in hosts), default=0.0) or 1.0
    rows = []
    for h in hosts:
        segments = []
        x = 0.0
        for s in reversed(SEVERITIES):  # each severity's share of the host's score, worst first
            n = h.counts.get(s, 0)
            if not n:
                continue
            share = sum(f.weight for f in a.for_host(h.host) if f.severity == s) / top
            segments.append({"severity": s, "x": x, "width": share, "count": n, "color": SEVERITY_COLORS[s]})
            x += share
        label = h.host if not h.hostname else f"{h.host} ({h.hostname})"
        rows.append({"label": label, "host": h.host, "score": h.score, "segments": segments})
    return {"rows": rows, "max": top}


def _matrix(a: Assessment) -> dict[str, Any]:
    """Hosts × risky services: the worst severity of a service-level finding on that host."""
    cells: dict[tuple[str, str], str] = {}
    weight: dict[str, float] = {}
    for f in a.findings:
        if f.rule in _PLAIN_RULES or f.port is None or severity_rank(f.severity) < severity_rank("low"):
            continue
        name = f.service or f.evidence.get("port_name") or f"{f.port}/{f.protocol}"
        col = str(name)
        cur = cells.get((f.host, col))
        if cur is None or severity_rank(f.severity) > severity_rank(cur):
            cells[(f.host, col)] = f.severity
        weight[col] = weight.get(col, 0.0) + f.weight
    columns = sorted(weight, key=lambda c: (-weight[c], c))[:_MATRIX_SERVICES]
    rows = [h.host for h in a.hosts if any((h.host, c) in cells for c in columns)][:_MATRIX_HOSTS]
    return {
        "columns": columns,
        "rows": [
            {
                "host": host,
                "cells": [
                    {
                        "severity": cells.get((host, c)),
                        "color": SEVERITY_COLORS[cells[(host, c)]] if (host, c) in cells else None,
                    }
                    for c in columns
                ],
            }
            for host in rows
        ],
    }


def _history(points: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    if not points:
        return []
    out: list[dict[str, Any]] = []
    for p in points:
        started = p.get("started")
        label = started.isoformat() if isinstance(started, datetime) else str(started or "")
        out.append(
            {"started": label, "open_ports": int(p.get("open_ports") or 0), "findings": int(p.get("findings") or 0)}
        )
    out.sort(key=lambda p: str(p["started"]))
    return out


def history_chart(
    points: Sequence[Mapping[str, Any]], key: str, width: float = 420, height: float = 120
) -> dict[str, Any]:
    """A line of ``key`` over the points, in a ``width`` × ``height`` box (y grows downwards)."""
    values = [int(p[key]) for p in points]
    top = max(values, default=0) or 1
    n = len(values)
    pad, head = 8.0, 22.0  # head: room for the "now N" label above the line
    xs = [pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5) for i in range(n)]
    ys = [height - pad - (height - pad - head) * v / top for v in values]
    return {
        "points": " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True)),
        "dots": [
            {"x": x, "y": y, "value": v, "label": str(p["started"])}
            for x, y, v, p in zip(xs, ys, values, points, strict=True)
        ],
        "max": top,
        "width": width,
        "height": height,
    }


# -- the whole report ------------------------------------------------------------------------------
def build(
    assessment: Assessment,
    result: ScanResult | None = None,
    *,
    previous: ScanResult | Assessment | None = None,
    previous_assessment: Assessment | None = None,
    drift: Any = None,
    history: Iterable[Mapping[str, Any]] | None = None,
    title: str | None = None,
) -> Report:
    a = assessment
    rows = [finding_row(f) for f in a.findings]
    drift_doc = drift_dict(drift)
    if drift_doc is None and previous is not None:
        drift_doc = diff(previous, result, a, previous_assessment)
    open_ports = len(_open_set(result, a) or ())
    summary: dict[str, Any] = {
        "score": a.score,
        "counts": {s: int(a.counts.get(s, 0)) for s in reversed(SEVERITIES)},
        "findings": len(a.findings),
        "suppressed": len(a.suppressed),
        "max_severity": a.max_severity,
        # hosts with a finding above info (an open port no rule rates is not a risk by itself)
        "hosts_at_risk": sum(1 for h in a.hosts if h.max_severity not in (None, "info")),
        "hosts_with_open_ports": len(a.hosts),
        "open_ports": open_ports,
        "policy": list(a.policy),
        "as_of": a.as_of,
        "hosts_scanned": None,
        "hosts_up": None,
        "hosts_down": None,
        "status": None,
        "started": None,
        "elapsed": None,
        "targets": [],
        "ports": None,
    }
    if result is not None:
        summary.update(
            hosts_scanned=result.hosts_total,
            hosts_up=result.hosts_up,
            hosts_down=result.hosts_down,
            status=result.status,
            started=result.started.isoformat(timespec="seconds"),
            elapsed=round(result.elapsed, 2),
            targets=[str(t) for t in result.options.get("targets") or []],
            ports=result.options.get("ports"),
        )
    if drift_doc is not None:
        summary["changes"] = {
            "opened": len(drift_doc["ports"]["opened"]),
            "closed": len(drift_doc["ports"]["closed"]),
            "services_changed": len(drift_doc["services"]["changed"]),
            "new": len(drift_doc["findings"]["new"]),
            "resolved": len(drift_doc["findings"]["resolved"]),
            "severity_changed": len(drift_doc["findings"]["severity_changed"]),
        }
    points = _history(history)
    charts: dict[str, Any] = {
        "severity": _severity_chart(a.counts),
        "hosts": _hosts_chart(a),
        "matrix": _matrix(a),
    }
    if len(points) >= 1:
        charts["history"] = {
            "open_ports": history_chart(points, "open_ports"),
            "findings": history_chart(points, "findings"),
        }
    return Report(
        title=title or "portlens assessment",
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        version=__version__,
        summary=summary,
        findings=rows,
        suppressed=[finding_row(f, "suppressed") for f in a.suppressed],
        hosts=_hosts(a, result, rows),
        remediation=_remediation(a.findings),
        charts=charts,
        drift=drift_doc,
        history=points,
    )

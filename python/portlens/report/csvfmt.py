"""CSV: one row per port result (`result_csv`) or per finding (`assessment_csv`).

Cells that a spreadsheet would run as a formula (starting with ``= + - @``, tab or carriage
return) get a leading ``'`` (OWASP's CSV-injection advice): a banner like ``=HYPERLINK(...)``
stays text. Numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from ..policy.model import Assessment, Finding
from ..results import ScanResult

__all__ = ["PORT_COLUMNS", "FINDING_COLUMNS", "result_csv", "assessment_csv", "cell"]

PORT_COLUMNS = (
    "host",
    "hostname",
    "port",
    "protocol",
    "state",
    "reason",
    "rtt",
    "attempts",
    "service",
    "product",
    "version",
    "cpe",
    "banner",
)
FINDING_COLUMNS = (
    "id",
    "severity",
    "host",
    "hostname",
    "port",
    "protocol",
    "service",
    "title",
    "confidence",
    "rule",
    "practices",
    "remediation",
    "cves",
    "references",
    "status",
    "accepted_by",
    "accepted_until",
)


def cell(value: Any) -> Any:
    """A CSV cell: text that cannot run as a spreadsheet formula; numbers unchanged."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return value
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def _write(columns: Iterable[str], rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: cell(v) for k, v in row.items()})
    return out.getvalue()


def port_record(p: Any) -> dict[str, Any]:
    svc = p.service or {}
    cpe = svc.get("cpe") or []
    return {
        "host": p.host,
        "hostname": p.hostname,
        "port": p.port,
        "protocol": p.protocol,
        "state": p.state,
        "reason": p.reason,
        "rtt": p.rtt,
        "attempts": p.attempts,
        "service": svc.get("name"),
        "product": svc.get("product"),
        "version": svc.get("version"),
        "cpe": cpe if isinstance(cpe, str) else " ".join(str(c) for c in cpe),
        "banner": svc.get("banner"),
    }


def finding_record(f: Finding, status: str = "active") -> dict[str, Any]:
    return {
        "id": f.id,
        "severity": f.severity,
        "host": f.host,
        "hostname": f.hostname,
        "port": f.port,
        "protocol": f.protocol,
        "service": f.service or f.evidence.get("port_name"),
        "title": f.title,
        "confidence": f.confidence,
        "rule": f.rule,
        "practices": " ".join(dict.fromkeys(r.practice for r in f.remediation)),
        "remediation": " | ".join(f"{r.practice}: {r.text}" for r in f.remediation),
        "cves": " ".join(f.cves),
        "references": " ".join(f.references),
        "status": status,
        "accepted_by": f.acceptance.owner if f.acceptance else None,
        "accepted_until": f.acceptance.expires if f.acceptance else None,
    }


def result_csv(result: ScanResult) -> str:
    """One row per kept port result (open ports by default), columns `PORT_COLUMNS`."""
    return _write(PORT_COLUMNS, (port_record(p) for p in result.ports))


def assessment_csv(assessment: Assessment, suppressed: bool = True) -> str:
    """One row per finding, columns `FINDING_COLUMNS`; suppressed findings follow with status
    ``suppressed`` unless ``suppressed=False``."""
    rows = [finding_record(f) for f in assessment.findings]
    if suppressed:
        rows += [finding_record(f, "suppressed") for f in assessment.suppressed]
    return _write(FINDING_COLUMNS, rows)

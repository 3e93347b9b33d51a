"""Plain-text summary for terminals and logs."""

from __future__ import annotations

from .._core import service_name
from ..results import ScanResult


def summary_table(r: ScanResult, limit: int = 200) -> str:
    c = r.counts
    lines = [
        f"portlens scan {r.status}: {r.hosts_up} of {r.hosts_total} hosts answered, "
        f"{r.ports_per_host} ports each, {r.elapsed:.2f} s",
        f"  open {c.get('open', 0)}   closed {c.get('closed', 0)}   filtered {c.get('filtered', 0)}",
    ]
    shown = [p for p in r.ports if p.state != "closed"]
    if shown:
        width = max(len(p.host) for p in shown[:limit])
        lines.append("")
        lines.append(f"  {'HOST':<{width}}  {'PORT':>9}  {'STATE':<9} {'REASON':<14} SERVICE (guess by port)")
        for p in shown[:limit]:
            port = f"{p.port}/{p.protocol}"
            guess = service_name(p.port) or ""
            lines.append(f"  {p.host:<{width}}  {port:>9}  {p.state:<9} {p.reason:<14} {guess}".rstrip())
        if len(shown) > limit:
            lines.append(f"  ... {len(shown) - limit} more (see the JSON output)")
    return "\n".join(lines)

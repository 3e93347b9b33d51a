"""Plain-text summary for terminals and logs."""

from __future__ import annotations

from .._core import service_name
from ..results import ScanResult


def summary_table(r: ScanResult, limit: int = 200) -> str:
    c = r.counts
    down = f", {r.hosts_down} down" if r.hosts_down else ""
    lines = [
        f"portlens scan {r.status}: {r.hosts_up} of {r.hosts_total} hosts up{down}, "
        f"{r.ports_per_host} ports each, {r.elapsed:.2f} s",
        f"  open {c.get('open', 0)}   closed {c.get('closed', 0)}   filtered {c.get('filtered', 0)}"
        + (f"   open|filtered {c['open|filtered']}" if c.get("open|filtered") else ""),
    ]
    shown = [p for p in r.ports if p.state not in ("closed", "open|filtered")]
    if shown:
        width = max(len(p.host) for p in shown[:limit])
        lines.append("")
        lines.append(f"  {'HOST':<{width}}  {'PORT':>9}  {'STATE':<9} {'REASON':<14} SERVICE")
        for p in shown[:limit]:
            port = f"{p.port}/{p.protocol}"
            svc = p.service or {}
            guess = str(svc.get("name") or service_name(p.port, p.protocol) or "")
            # With services=True: product, version and the weaknesses its checks confirmed.
            guess = " ".join([guess, *(str(svc[k]) for k in ("product", "version") if svc.get(k))])
            weak = [str(c.get("id")) for c in svc.get("checks") or [] if c.get("outcome") == "vulnerable"]
            if weak:
                guess += "  [" + ", ".join(weak) + "]"
            lines.append(f"  {p.host:<{width}}  {port:>9}  {p.state:<9} {p.reason:<14} {guess}".rstrip())
        if len(shown) > limit:
            lines.append(f"  ... {len(shown) - limit} more (see the JSON output)")
    return "\n".join(lines)

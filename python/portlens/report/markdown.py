"""Markdown reports, for tickets and wikis (GitHub-flavoured tables).

Every value is escaped with `md`: Markdown punctuation is backslash-escaped and ``< > &`` become
HTML entities, so a banner carrying ``<script>`` or ``|`` breaks neither the table nor the page
that renders it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .._core import service_name
from ..policy.model import Assessment
from ..results import ScanResult
from .context import PRACTICE_TITLES, build

__all__ = ["md", "assessment_markdown", "result_markdown"]

# inline formatting, links, tables and headings; "<>&" become entities first
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def md(value: Any) -> str:
    """``value`` as inert Markdown text on one line."""
    if value is None:
        return ""
    text = str(value)
    text = "".join(_HTML.get(ch, ch) for ch in text)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return re.sub(r"[\r\n\t]+", " ", text).strip()


def _code(value: Any) -> str:
    """Inline code for addresses and ids (no backticks inside, so nothing can close it)."""
    text = re.sub(r"[\r\n]+", " ", str(value).replace("`", "'")).replace("|", "\\|")
    return f"`{text}`"


def _table(head: list[str], rows: Iterable[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def assessment_markdown(
    assessment: Assessment,
    result: ScanResult | None = None,
    *,
    previous: ScanResult | Assessment | None = None,
    previous_assessment: Assessment | None = None,
    drift: Any = None,
    history: Iterable[Mapping[str, Any]] | None = None,
    title: str | None = None,
    limit: int = 500,
) -> str:
    r = build(
        assessment,
        result,
        previous=previous,
        previous_assessment=previous_assessment,
        drift=drift,
        history=history,
        title=title,
    )
    s = r.summary
    lines = [f"# {md(r.title)}", ""]
    meta = [f"assessed as of {md(s['as_of'] or '-')}", f"policy {md(' + '.join(s['policy']) or 'default')}"]
    if s["started"]:
        meta.insert(0, f"scan started {md(s['started'])} ({s['elapsed']} s, {md(s['status'])})")
    lines += [", ".join(meta) + f"; portlens {md(r.version)}", ""]
    lines += ["## Summary", ""]
    counts = " · ".join(f"{sev} **{n}**" for sev, n in s["counts"].items())
    lines.append(f"- **Risk score: {s['score']:g}** ({counts})")
    if s["hosts_scanned"] is not None:
        lines.append(f"- Hosts scanned: {s['hosts_scanned']}, up: {s['hosts_up']}")
    lines.append(
        f"- Hosts with open ports: {s['hosts_with_open_ports']}, at risk: {s['hosts_at_risk']}; "
        f"open ports: {s['open_ports']}"
    )
    lines.append(f"- Findings: {s['findings']}, suppressed by accepted risks: {s['suppressed']}")
    if "changes" in s:
        c = s["changes"]
        lines.append(
            f"- Since the previous scan: +{c['new']} new findings, -{c['resolved']} resolved, "
            f"{c['severity_changed']} changed severity; +{c['opened']} ports opened, -{c['closed']} closed"
        )
    lines.append("")

    if r.drift is not None:
        d = r.drift
        lines += ["## What changed", ""]

        def where(x: Mapping[str, Any]) -> str:
            port = x.get("port")
            return _code(x.get("host", "") if port is None else f"{x.get('host')}:{port}/{x.get('protocol') or 'tcp'}")

        for name, items in (("New findings", d["findings"]["new"]), ("Resolved findings", d["findings"]["resolved"])):
            lines.append(f"**{name}** ({len(items)})" + ("" if items else ": none"))
            lines += [f"- {md(f.get('severity'))} {where(f)} {md(f.get('title'))}" for f in items]
            lines.append("")
        ch = d["findings"]["severity_changed"]
        lines.append(f"**Severity changed** ({len(ch)})" + ("" if ch else ": none"))
        lines += [f"- {where(f)} {md(f.get('title'))}: {md(f.get('before'))} → {md(f.get('after'))}" for f in ch]
        lines.append("")
        for name, items in (("Ports opened", d["ports"]["opened"]), ("Ports closed", d["ports"]["closed"])):
            lines.append(f"**{name}** ({len(items)})" + ("" if items else ": none"))
            lines += [f"- {where(p)} {md(p.get('event'))}" for p in items]
            lines.append("")
        sc = d["services"]["changed"]
        lines.append(f"**Services changed** ({len(sc)})" + ("" if sc else ": none"))
        lines += [f"- {where(c)} {md(c.get('field'))}: {md(c.get('before'))} → {md(c.get('after'))}" for c in sc]
        lines.append("")

    if r.history:
        lines += ["## Over time", ""]
        lines += _table(
            ["Scan", "Open ports", "Findings"],
            ([md(p["started"]), str(p["open_ports"]), str(p["findings"])] for p in r.history),
        )
        lines.append("")

    lines += ["## Findings", ""]
    if r.findings:
        rows = [
            [
                f"**{f['severity']}**",
                _code(f["where"]),
                md(f["service"]),
                md(f["title"]),
                f"{f['confidence']:g}",
                md(", ".join(dict.fromkeys(f["practices"]))),
                _code(f["id"]),
            ]
            for f in r.findings[:limit]
        ]
        lines += _table(["Severity", "Where", "Service", "Finding", "Confidence", "Fix", "ID"], rows)
        if len(r.findings) > limit:
            lines.append(f"\n… {len(r.findings) - limit} more findings (see the HTML or JSON report)")
    else:
        lines.append("No findings.")
    lines.append("")
    verdicts = [(f, v) for f in r.findings[:limit] for v in f.get("cve_verdicts", ())]
    if verdicts:
        lines += ["### Known vulnerabilities: why each CVE was or was not reported", ""]
        lines += _table(
            ["Where", "CVE", "Reported", "Basis", "Why"],
            (
                [_code(f["where"]), md(v["id"]), "yes" if v["reported"] else "no", md(v["basis"]), md(v["rationale"])]
                for f, v in verdicts
            ),
        )
        lines.append("")
    if r.suppressed:
        lines += ["### Accepted risks", ""]
        lines += _table(
            ["Severity", "Where", "Finding", "Owner", "Reason", "Expires"],
            (
                [
                    f["severity"],
                    _code(f["where"]),
                    md(f["title"]),
                    md((f["acceptance"] or {}).get("owner")),
                    md((f["acceptance"] or {}).get("reason")),
                    md((f["acceptance"] or {}).get("expires")),
                ]
                for f in r.suppressed
            ),
        )
        lines.append("")

    lines += ["## Remediation by practice", ""]
    if not r.remediation:
        lines += ["Nothing to remediate.", ""]
    for g in r.remediation:
        lines += [f"### {md(PRACTICE_TITLES.get(g['practice'], g['practice']))} ({md(g['practice'])})", ""]
        for step in g["steps"]:
            hosts = ", ".join(_code(h) for h in step["hosts"][:10])
            more = f" and {len(step['hosts']) - 10} more" if len(step["hosts"]) > 10 else ""
            lines.append(f"- [ ] **{step['severity']}** {md(step['text'])} — {hosts}{more}")
        lines.append("")

    lines += ["## Hosts", ""]
    lines += _table(
        ["Host", "Hostname", "Score", "Open ports", "Critical", "High", "Medium", "Low", "Info"],
        (
            [
                _code(h["host"]),
                md(h["hostname"]),
                f"{h['score']:g}",
                str(h["open_ports"]),
                *(str(h["counts"][sev]) for sev in ("critical", "high", "medium", "low", "info")),
            ]
            for h in r.hosts
        ),
    )
    lines.append("")
    return "\n".join(lines)


def result_markdown(result: ScanResult, limit: int = 1000) -> str:
    """A scan as Markdown: the summary and one table row per kept port."""
    r = result
    c = r.counts
    lines = [
        "# portlens scan",
        "",
        f"- Status: {md(r.status)}, started {md(r.started.isoformat(timespec='seconds'))}, {r.elapsed:.2f} s",
        f"- Targets: {', '.join(_code(t) for t in r.options.get('targets') or []) or '-'}"
        + (f"; ports {_code(r.options['ports'])}" if r.options.get("ports") else ""),
        f"- Hosts: {r.hosts_up} of {r.hosts_total} up" + (f", {r.hosts_down} down" if r.hosts_down else ""),
        f"- Ports: open {c.get('open', 0)}, closed {c.get('closed', 0)}, filtered {c.get('filtered', 0)}",
        "",
    ]
    if r.ports:
        rows = []
        for p in r.ports[:limit]:
            svc = p.service or {}
            name = svc.get("name") or service_name(p.port, p.protocol) or ""
            product = " ".join(str(svc[k]) for k in ("product", "version") if svc.get(k))
            rows.append(
                [
                    _code(p.host),
                    md(p.hostname),
                    f"{p.port}/{p.protocol}",
                    p.state,
                    md(p.reason),
                    md(name),
                    md(product),
                ]
            )
        lines += _table(["Host", "Hostname", "Port", "State", "Reason", "Service", "Product"], rows)
        if len(r.ports) > limit:
            lines.append(f"\n… {len(r.ports) - limit} more port results (see the JSON output)")
    else:
        lines.append("No port results kept.")
    lines.append("")
    return "\n".join(lines)

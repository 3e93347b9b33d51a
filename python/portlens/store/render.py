"""Drift documents as text (terminal), Markdown, HTML and JSON, all from `Drift.to_dict()`.

Everything that came off the network or out of a file (host names, banners, service fields,
finding titles) is escaped for the output it goes to: HTML entities in HTML (``html.escape``),
entities plus backslash escapes in Markdown (Markdown passes raw HTML through), and control
characters shown as ``\\xNN`` on a terminal (a banner must not drive the terminal).
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["FORMATS", "format_for", "render", "html_fragment"]

#: By file name ending.
FORMATS = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown", ".json": "json"}

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# inline Markdown: emphasis, code, links, table cells, strikethrough (values never start a line)
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]|~])")


def format_for(path: str | os.PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        from ..exceptions import OptionError

        known = ", ".join(FORMATS)
        raise OptionError(f"output {os.fspath(path)!r}: unknown drift format (known extensions: {known})")
    return FORMATS[suffix]


def _s(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _term(value: Any) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", _s(value).replace("\n", "\\n").replace("\t", " "))


def _md(value: Any) -> str:
    text = " ".join(_s(value).split())  # no newline may end a table row
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    text = html.escape(text, quote=False)
    return _MD_SPECIAL.sub(r"\\\1", text)


def _h(value: Any) -> str:
    return html.escape(_s(value), quote=True)


def _where(host: Any, port: Any, protocol: Any = None) -> str:
    if port is None:
        return _s(host)
    h = _s(host)
    if ":" in h:  # IPv6
        h = f"[{h}]"
    return f"{h}:{port}" + (f"/{protocol}" if protocol else "")


def _scan(side: Mapping[str, Any]) -> str:
    started = _s(side.get("started"))
    try:  # "2025-03-03 06:00 UTC"; the JSON keeps the full ISO 8601 time
        started = datetime.fromisoformat(started).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        pass
    return f"#{_s(side.get('id'))} ({started})"


def _counts(d: Mapping[str, Any]) -> dict[str, int]:
    ports, f = d["ports"], d["findings"]
    return {
        "opened": len(ports["opened"]),
        "reopened": sum(1 for c in ports["opened"] if c["event"] == "REOPENED"),
        "closed": len(ports["closed"]),
        "services": len(d["services"]["changed"]),
        "new": len(f["new"]),
        "resolved": len(f["resolved"]),
        "severity_changed": len(f["severity_changed"]),
    }


def render(d: Mapping[str, Any], fmt: str, *, incomplete: Sequence[int | None] = (), standalone: bool = True) -> str:
    """``fmt``: "text", "markdown", "html" (a whole page, or with ``standalone=False`` the section
    alone) or "json"."""
    if fmt == "json":
        return json.dumps(d, indent=2) + "\n"
    if fmt == "text":
        return _text(d, incomplete)
    if fmt == "markdown":
        return _markdown(d)
    if fmt == "html":
        section = html_fragment(d)
        return _page(d, section) if standalone else section
    raise ValueError(f"unknown drift format {fmt!r}")


# -- text -------------------------------------------------------------------------------------------
def _text(d: Mapping[str, Any], incomplete: Sequence[int | None]) -> str:
    c = _counts(d)
    targets = " ".join(_term(t) for t in d["b"].get("targets", []))
    lines = [f"drift {_term(_scan(d['a']))} -> {_term(_scan(d['b']))}  targets: {targets or '-'}"]
    for scan_id in incomplete:
        lines.append(f"  warning: scan #{scan_id} is incomplete: ports it did not reach show as closed")
    lines.append(f"newly opened since the last report: {c['opened']} ({c['reopened']} reopened)")
    for e in d["ports"]["opened"]:
        lines.append(f"  {e['event']:<9} {_term(_where(e['host'], e['port'], e['protocol']))}")
    lines.append(f"closed: {c['closed']}")
    for e in d["ports"]["closed"]:
        lines.append(f"  {e['event']:<9} {_term(_where(e['host'], e['port'], e['protocol']))}")
    lines.append(f"services changed: {c['services']}")
    for s in d["services"]["changed"]:
        where = _term(_where(s["host"], s["port"], s["protocol"]))
        lines.append(f"  {where}  {s['field']}: {_term(s['before'])} -> {_term(s['after'])}")
    lines.append(f"findings: {c['new']} new, {c['resolved']} resolved, {c['severity_changed']} with a changed severity")
    for f in d["findings"]["new"]:
        where = _term(_where(f["host"], f["port"], f["protocol"]))
        lines.append(f"  NEW       {f['severity'].upper():<8} {where}  {_term(f['title'])}  [{f['id']}]")
    for f in d["findings"]["resolved"]:
        where = _term(_where(f["host"], f["port"], f["protocol"]))
        lines.append(f"  RESOLVED  {f['severity'].upper():<8} {where}  {_term(f['title'])}  [{f['id']}]")
    for s in d["findings"]["severity_changed"]:
        where = _term(_where(s["host"], s["port"]))
        lines.append(
            f"  CHANGED   {s['before'].upper()} -> {s['after'].upper()}  {where}  {_term(s['title'])}  [{s['id']}]"
        )
    return "\n".join(lines)


# -- Markdown ---------------------------------------------------------------------------------------
def _markdown(d: Mapping[str, Any]) -> str:
    c = _counts(d)
    targets = ", ".join(_md(t) for t in d["b"].get("targets", [])) or _md("-")
    out = [
        f"# Drift: scan {_md(_scan(d['a']))} to scan {_md(_scan(d['b']))}",
        "",
        f"Targets: {targets}",
        "",
        f"- Newly opened since the last report: **{c['opened']}** ({c['reopened']} reopened)",
        f"- Closed: **{c['closed']}**",
        f"- Services changed: **{c['services']}**",
        f"- Findings: **{c['new']}** new, **{c['resolved']}** resolved, **{c['severity_changed']}** with a "
        "changed severity",
        "",
        "## Newly opened since the last report",
        "",
    ]

    def table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            out.extend(["None.", ""])
            return
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "|".join("---" for _ in head) + "|")
        out.extend("| " + " | ".join(_md(v) for v in row) + " |" for row in rows)
        out.append("")

    table(
        ["Event", "Host", "Port"],
        [(e["event"], e["host"], f"{e['port']}/{e['protocol']}") for e in d["ports"]["opened"]],
    )
    out.extend(["## Closed", ""])
    table(
        ["Event", "Host", "Port"],
        [(e["event"], e["host"], f"{e['port']}/{e['protocol']}") for e in d["ports"]["closed"]],
    )
    out.extend(["## Services changed", ""])
    table(
        ["Host", "Port", "Field", "Before", "After"],
        [
            (s["host"], f"{s['port']}/{s['protocol']}", s["field"], s["before"], s["after"])
            for s in d["services"]["changed"]
        ],
    )
    for title, key in (("New findings", "new"), ("Resolved findings", "resolved")):
        out.extend([f"## {title}", ""])
        table(
            ["Severity", "Where", "Title", "Id"],
            [
                (f["severity"], _where(f["host"], f["port"], f["protocol"]), f["title"], f["id"])
                for f in d["findings"][key]
            ],
        )
    out.extend(["## Findings with a changed severity", ""])
    table(
        ["Before", "After", "Where", "Title", "Id"],
        [
            (s["before"], s["after"], _where(s["host"], s["port"]), s["title"], s["id"])
            for s in d["findings"]["severity_changed"]
        ],
    )
    return "\n".join(out)


# -- HTML -------------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1f24}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border:1px solid #c9d1d9;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#f3f5f7}
.ev-OPENED,.ev-REOPENED{color:#b42318;font-weight:600}.ev-CLOSED{color:#1a7f37;font-weight:600}
.sev-critical{color:#7a0916;font-weight:700}.sev-high{color:#b42318;font-weight:600}
.sev-medium{color:#9a6700}.sev-low{color:#0969da}.sev-info{color:#57606a}
code{font-size:.9em}
"""


def _html_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """``rows`` hold HTML already escaped."""
    if not rows:
        return "<p>None.</p>"
    th = "".join(f"<th>{_h(x)}</th>" for x in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def html_fragment(d: Mapping[str, Any]) -> str:
    """The drift as one ``<section class="portlens-drift">``, every value escaped."""
    c = _counts(d)

    def port_rows(events: Sequence[Mapping[str, Any]]) -> list[list[str]]:
        return [
            [
                f'<span class="ev-{_h(e["event"])}">{_h(e["event"])}</span>',
                _h(e["host"]),
                _h(f"{e['port']}/{e['protocol']}"),
            ]
            for e in events
        ]

    def finding_rows(findings: Sequence[Mapping[str, Any]]) -> list[list[str]]:
        return [
            [
                f'<span class="sev-{_h(f["severity"])}">{_h(f["severity"])}</span>',
                _h(_where(f["host"], f["port"], f["protocol"])),
                _h(f["title"]),
                f"<code>{_h(f['id'])}</code>",
            ]
            for f in findings
        ]

    parts = [
        '<section class="portlens-drift">',
        f"<h2>Drift: scan {_h(_scan(d['a']))} to scan {_h(_scan(d['b']))}</h2>",
        f"<p>Targets: {_h(', '.join(str(t) for t in d['b'].get('targets', [])))}</p>",
        "<ul>",
        f"<li>Newly opened since the last report: <strong>{c['opened']}</strong> ({c['reopened']} reopened)</li>",
        f"<li>Closed: <strong>{c['closed']}</strong></li>",
        f"<li>Services changed: <strong>{c['services']}</strong></li>",
        f"<li>Findings: <strong>{c['new']}</strong> new, <strong>{c['resolved']}</strong> resolved, "
        f"<strong>{c['severity_changed']}</strong> with a changed severity</li>",
        "</ul>",
        "<h3>Newly opened since the last report</h3>",
        _html_table(["Event", "Host", "Port"], port_rows(d["ports"]["opened"])),
        "<h3>Closed</h3>",
        _html_table(["Event", "Host", "Port"], port_rows(d["ports"]["closed"])),
        "<h3>Services changed</h3>",
        _html_table(
            ["Host", "Port", "Field", "Before", "After"],
            [
                [_h(s["host"]), _h(f"{s['port']}/{s['protocol']}"), _h(s["field"]), _h(s["before"]), _h(s["after"])]
                for s in d["services"]["changed"]
            ],
        ),
        "<h3>New findings</h3>",
        _html_table(["Severity", "Where", "Title", "Id"], finding_rows(d["findings"]["new"])),
        "<h3>Resolved findings</h3>",
        _html_table(["Severity", "Where", "Title", "Id"], finding_rows(d["findings"]["resolved"])),
        "<h3>Findings with a changed severity</h3>",
        _html_table(
            ["Before", "After", "Where", "Title", "Id"],
            [
                [
                    f'<span class="sev-{_h(s["before"])}">{_h(s["before"])}</span>',
                    f'<span class="sev-{_h(s["after"])}">{_h(s["after"])}</span>',
                    _h(_where(s["host"], s["port"])),
                    _h(s["title"]),
                    f"<code>{_h(s['id'])}</code>",
                ]
                for s in d["findings"]["severity_changed"]
            ],
        ),
        "</section>",
    ]
    return "\n".join(parts)


def _page(d: Mapping[str, Any], section: str) -> str:
    title = _h(f"portlens drift {_scan(d['a'])} to {_scan(d['b'])}")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>{title}</title><style>{_CSS}</style></head>\n<body>\n{section}\n</body></html>\n"
    )

"""Rich displays of results and assessments: escaped HTML tables (``_repr_html_``), DataFrames
(pandas or polars) and matplotlib charts. `portlens.notebook` re-exports them for Jupyter.

Everything shown is escaped with `html.escape`: a banner or hostname carrying ``<script>`` is
displayed as text. pandas, polars and matplotlib are optional; each is imported only when its
feature is used, with a message naming the extra to install.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._lazy import optional
from ..policy.model import SEVERITIES, Assessment, Finding, HostScore, severity_rank
from ..results import HostResult, ScanResult
from .csvfmt import FINDING_COLUMNS, finding_record

__all__ = [
    "result_html",
    "host_html",
    "assessment_html",
    "finding_html",
    "host_score_html",
    "ports_frame",
    "assessment_frame",
    "plot_assessment",
]

ROWS = 50  # rows a notebook table shows before "… N more"
_COLORS = {"critical": "#8e1b1b", "high": "#d84315", "medium": "#f0a30a", "low": "#1e88e5", "info": "#90a4ae"}


# -- HTML ---------------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return "" if value is None else html.escape(str(value), quote=True)


def _sev(severity: str | None) -> str:
    if not severity:
        return ""
    fg = "#1d2430" if severity == "medium" else "#fff"
    return (
        f'<span style="background:{_COLORS.get(severity, "#999")};color:{fg};border-radius:8px;'
        f'padding:0 6px;font-weight:600">{_e(severity)}</span>'
    )


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], total: int, what: str) -> str:
    """``rows`` are already-escaped cells."""
    out = ['<table class="portlens"><thead><tr>']
    out += [f'<th style="text-align:left">{_e(h)}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    n = 0
    for row in rows:
        out.append("<tr>" + "".join(f'<td style="text-align:left">{c}</td>' for c in row) + "</tr>")
        n += 1
    out.append("</tbody></table>")
    if total > n:
        out.append(f"<p><small>… {total - n} more {_e(what)} (to_pandas() for all)</small></p>")
    return "".join(out)


def _port_cells(p: Any) -> list[str]:
    svc: Mapping[str, Any] = p.service or {}
    product = " ".join(str(svc[k]) for k in ("product", "version") if svc.get(k))
    return [
        f"<code>{_e(p.host)}</code>",
        _e(p.hostname),
        f"{p.port}/{_e(p.protocol)}",
        _e(p.state),
        _e(p.reason),
        "" if p.rtt is None else f"{p.rtt * 1000:.2f}",
        _e(svc.get("name")),
        _e(product),
        _e(svc.get("banner"))[:200],
    ]


_PORT_HEAD = ("host", "hostname", "port", "state", "reason", "rtt ms", "service", "product", "banner")


def result_html(r: ScanResult) -> str:
    c = r.counts
    head = (
        f"<p><b>portlens scan {_e(r.status)}</b>: {r.hosts_up} of {r.hosts_total} hosts up, "
        f"{c.get('open', 0)} open, {c.get('closed', 0)} closed, {c.get('filtered', 0)} filtered "
        f"in {r.elapsed:.2f} s</p>"
    )
    return head + _table(_PORT_HEAD, (_port_cells(p) for p in r.ports[:ROWS]), len(r.ports), "port results")


def host_html(h: HostResult) -> str:
    counts = ", ".join(f"{_e(k)} {v}" for k, v in h.counts.items() if v)
    rtt = "" if h.rtt is None else f", rtt {h.rtt * 1000:.2f} ms"
    head = f"<p><b><code>{_e(h.address)}</code></b> {_e(h.hostname)} {_e(h.state)}: {counts}{rtt}</p>"
    return head + _table(_PORT_HEAD, (_port_cells(p) for p in h.ports[:ROWS]), len(h.ports), "port results")


def _finding_cells(f: Finding) -> list[str]:
    return [
        _sev(f.severity),
        f"<code>{_e(f.where)}</code>",
        _e(f.service or f.evidence.get("port_name")),
        _e(f.title),
        f"{f.confidence:g}",
        _e(", ".join(dict.fromkeys(r.practice for r in f.remediation))),
        f"<code>{_e(f.id)}</code>",
    ]


_FINDING_HEAD = ("severity", "where", "service", "finding", "confidence", "fix", "id")


def _host_score_cells(h: HostScore) -> list[str]:
    return [
        f"<code>{_e(h.host)}</code>",
        _e(h.hostname),
        f"{h.score:g}",
        _sev(h.max_severity),
        str(h.open_ports),
        *(str(h.counts.get(s, 0)) for s in reversed(SEVERITIES)),
    ]


_HOST_HEAD = ("host", "hostname", "score", "worst", "open ports", *reversed(SEVERITIES))


def assessment_html(a: Assessment) -> str:
    counts = " ".join(f"{_sev(s)} {a.counts.get(s, 0)}" for s in reversed(SEVERITIES))
    parts = [
        f"<p><b>portlens assessment</b>: score <b>{a.score:g}</b> &nbsp; {counts}"
        + (f" &nbsp; ({len(a.suppressed)} suppressed)" if a.suppressed else "")
        + "</p>",
        _table(_FINDING_HEAD, (_finding_cells(f) for f in a.findings[:ROWS]), len(a.findings), "findings"),
    ]
    if a.hosts:
        parts.append("<p><b>Riskiest hosts</b></p>")
        parts.append(_table(_HOST_HEAD, (_host_score_cells(h) for h in a.hosts[:10]), len(a.hosts), "hosts"))
    return "".join(parts)


def finding_html(f: Finding) -> str:
    rows = [
        ("id", f"<code>{_e(f.id)}</code>"),
        ("severity", _sev(f.severity)),
        ("where", f"<code>{_e(f.where)}</code>" + (f" ({_e(f.hostname)})" if f.hostname else "")),
        ("title", _e(f.title)),
        ("rationale", _e(f.rationale)),
        ("remediation", "<br>".join(f"<b>{_e(r.practice)}</b>: {_e(r.text)}" for r in f.remediation)),
        ("confidence", f"{f.confidence:g}"),
        ("rule", _e(f.rule)),
    ]
    if f.cves:
        rows.append(("cves", _e(", ".join(f.cves))))
    body = "".join(
        f'<tr><th style="text-align:left">{k}</th><td style="text-align:left">{v}</td></tr>' for k, v in rows
    )
    return f'<table class="portlens">{body}</table>'


def host_score_html(h: HostScore) -> str:
    return _table(_HOST_HEAD, [_host_score_cells(h)], 1, "hosts")


# -- DataFrames ---------------------------------------------------------------------------------------
# the CSV report's finding columns (one list), with the weight before the rule and without the long texts
_FINDING_COLUMNS = tuple(
    c
    for column in FINDING_COLUMNS
    for c in (("weight", column) if column == "rule" else (column,))
    if c not in ("remediation", "references", "accepted_by", "accepted_until")
)
_HOST_COLUMNS = ("host", "hostname", "score", "max_severity", "open_ports", *reversed(SEVERITIES))


def _frame(records: list[dict[str, Any]], columns: Sequence[str], lib: str) -> Any:
    if lib == "polars":
        pl = optional("polars", "polars")
        if not records:
            return pl.DataFrame({c: [] for c in columns})
        return pl.DataFrame(records, infer_schema_length=None).select(list(columns))
    pd = optional("pandas", "pandas")
    df = pd.DataFrame.from_records(records, columns=list(columns))
    if "port" in columns:
        df["port"] = df["port"].astype("Int64")  # nullable: host-level findings have no port
    if "severity" in columns:
        df["severity"] = pd.Categorical(df["severity"], categories=list(SEVERITIES), ordered=True)
    return df


def ports_frame(r: ScanResult, lib: str = "pandas") -> Any:
    # the CSV report's columns (`to_arrow`'s), converted from the Arrow table: no record per row
    if lib == "polars":
        pl = optional("polars", "polars")
        optional("pyarrow", "polars")
        frame = pl.from_arrow(r.to_arrow())
        return frame.with_columns(pl.col("port").cast(pl.Int64), pl.col("attempts").cast(pl.Int64))
    optional("pandas", "pandas")
    optional("pyarrow", "pandas")
    df = r.to_arrow().to_pandas()
    df["port"] = df["port"].astype("Int64")  # the dtypes the frame always had
    df["attempts"] = df["attempts"].astype("int64")
    return df


def _finding_record(f: Finding, status: str) -> dict[str, Any]:
    # the CSV report's record, with the weight, and lists comma-joined as the frames have them
    return {
        **finding_record(f, status),
        "weight": f.weight,
        "practices": ",".join(dict.fromkeys(r.practice for r in f.remediation)),
        "cves": ",".join(f.cves),
    }


def assessment_frame(a: Assessment, what: str = "findings", lib: str = "pandas") -> Any:
    if what == "findings":
        records = [_finding_record(f, "active") for f in a.findings]
        records += [_finding_record(f, "suppressed") for f in a.suppressed]
        return _frame(records, _FINDING_COLUMNS, lib)
    if what == "hosts":
        records = [
            {
                "host": h.host,
                "hostname": h.hostname,
                "score": h.score,
                "max_severity": h.max_severity,
                "open_ports": h.open_ports,
                **{s: int(h.counts.get(s, 0)) for s in SEVERITIES},
            }
            for h in a.hosts
        ]
        return _frame(records, _HOST_COLUMNS, lib)
    raise ValueError(f"what must be 'findings' or 'hosts', got {what!r}")


# -- matplotlib -------------------------------------------------------------------------------------
def plot_assessment(a: Assessment, result: ScanResult | None = None) -> Any:
    """Three charts in one Figure: findings by severity, the riskiest hosts, hosts × risky services."""
    optional("matplotlib", "plot")
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    from .context import build

    r = build(a, result)
    fig = Figure(figsize=(15, 4.6), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3, width_ratios=[1, 1.5, 1.5])
    sev = r.charts["severity"]["rows"]
    ax1.bar([x["label"] for x in sev], [x["value"] for x in sev], color=[x["color"] for x in sev])
    ax1.set_title("Findings by severity")
    for i, x in enumerate(sev):
        ax1.annotate(str(x["value"]), (i, x["value"]), ha="center", va="bottom")

    hosts = r.charts["hosts"]["rows"]
    top = r.charts["hosts"]["max"]
    labels = [h["label"] for h in hosts][::-1]
    for i, h in enumerate(hosts[::-1]):
        for seg in h["segments"]:
            ax2.barh(i, seg["width"] * top, left=seg["x"] * top, color=seg["color"])
    ax2.set_yticks(range(len(labels)), labels=labels)
    ax2.set_title("Riskiest hosts (score)")
    ax2.set_xlabel("score")

    m = r.charts["matrix"]
    ax3.set_title("Hosts × risky services")
    if m["rows"]:
        grid = [
            [-1 if c["severity"] is None else severity_rank(c["severity"]) for c in row["cells"]] for row in m["rows"]
        ]
        cmap = ListedColormap(["#eef1f5", *(_COLORS[s] for s in SEVERITIES)])
        ax3.imshow(grid, cmap=cmap, vmin=-1.5, vmax=len(SEVERITIES) - 0.5, aspect="auto")
        ax3.set_xticks(range(len(m["columns"])), labels=m["columns"], rotation=45, ha="right")
        ax3.set_yticks(range(len(m["rows"])), labels=[row["host"] for row in m["rows"]])
        ax3.set_xticks([x - 0.5 for x in range(1, len(m["columns"]))], minor=True)
        ax3.set_yticks([y - 0.5 for y in range(1, len(m["rows"]))], minor=True)
        ax3.grid(which="minor", color="white", linewidth=2)
        ax3.tick_params(which="minor", length=0)
    else:
        ax3.text(0.5, 0.5, "no risky service", ha="center", va="center", transform=ax3.transAxes)
        ax3.set_axis_off()
    return fig

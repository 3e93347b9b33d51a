"""Reports without a browser: HTML structure and escaping, Markdown, CSV, JSON (against the shipped JSON
Schemas), loading back, notebook displays, DataFrames, charts and progress bars.

Most tests use a hand-built scan whose service records carry hostile strings (a ``<script>`` banner,
certificate fields with ``<img onerror>``, a hostname with tags, a CSV formula), the way service
identification would attach them; one test scans the lab for the progress bars and the CLI.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import portlens
from portlens.report.html import _num
from portlens.report.jsonfmt import json_schema
from portlens.results import ScanResult
from tests.factories import (
    CAM,
    EVIL_HOST,
    FORMULA,
    HISTORY,
    PLC,
    SRV,
    TODAY,
    V6,
    XSS,
    sample_drift,
    sample_result,
)


@pytest.fixture(scope="module")
def result() -> ScanResult:
    return sample_result()


@pytest.fixture(scope="module")
def assessment(result: ScanResult) -> portlens.Assessment:
    return portlens.assess(result, today=TODAY)


# -- HTML -----------------------------------------------------------------------------------------------
def test_html_report_is_self_contained_and_escapes_network_data(
    result: ScanResult, assessment: portlens.Assessment
) -> None:
    html = assessment.to_html(result=result, drift=sample_drift(), history=HISTORY)
    # network strings are shown as text, never as markup
    assert XSS not in html and "<img" not in html and "<b>01" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "CN=&lt;img src=x onerror=window.__pwned=2&gt;" in html
    assert "cam&lt;b&gt;01&lt;/b&gt;.lab" in html
    # exactly one script, the report's own, allowed by a per-report nonce; nothing is loaded from elsewhere
    scripts = re.findall(r"<script\b[^>]*>", html)
    nonce = re.search(r"script-src 'nonce-([^']+)'", html)
    assert nonce is not None and scripts == [f'<script nonce="{nonce.group(1)}">']
    assert "default-src 'none'" in html
    assert not re.search(r"<(link|img|iframe|object|embed)\b", html)
    assert not re.search(r"""\b(src|srcset)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    # links only to the policy's http(s) references
    assert all(h.startswith(("#", "https://", "http://")) for h in re.findall(r'href="([^"]*)"', html))
    assert assessment.to_html(result=result) != assessment.to_html(result=result)  # a fresh nonce each time


def test_html_report_sections(result: ScanResult, assessment: portlens.Assessment, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    text = assessment.to_html(path, result=result, drift=sample_drift(), history=HISTORY, title="Lab <audit>")
    assert path.read_bytes().decode() == text
    assert "<title>Lab &lt;audit&gt;</title>" in text
    assert f'<span class="v" id="score">{_num(assessment.score)}</span>' in text
    summary = text.split('id="summary"')[1].split("</section>")[0]
    assert '>256</span><span class="k">hosts scanned' in summary and '>5</span><span class="k">hosts up' in summary
    for sev in ("critical", "high", "medium", "low", "info"):
        assert f'<span class="sev sev-{sev}">{assessment.counts[sev]}</span>' in summary
    assert "+1 new finding</span>" in summary and "+2 ports opened" in summary
    for chart in ("chart-severity", "chart-hosts", "chart-matrix", "chart-history-ports", "chart-history-findings"):
        assert f'id="{chart}"' in text
    table = text.split('id="findings-table"')[1].split("</table>")[0]
    assert table.count("<tr data-rank=") == len(assessment.findings)
    # remediation grouped by practice, in the documented order
    practices = re.findall(r'<div class="practice" id="practice-([a-z-]+)">', text)
    assert practices and practices == [p for p in portlens.policy.PRACTICES if p in practices]
    assert {"close", "vpn", "mfa", "segment", "encrypt", "harden"} <= set(practices)
    # per-host details: services, TLS facts, checks and evidence
    srv = text.split(f'id="host-{SRV}"')[1].split("</details>\n")[0]
    assert "Samba smbd 4.17" in srv and "<dt>not_after</dt><dd>2020-01-01T00:00:00Z</dd>" in srv
    assert "smbv1: vulnerable" in srv and "redis-no-auth: ok" in srv and "evidence" in srv
    assert f'id="host-{V6.replace(":", "_")}"' in text
    # "what changed" from the drift document (REOPENED kept as given)
    changes = text.split('<section id="changes"')[1].split("</section>")[0]
    assert "REOPENED" in changes and "New &lt;script&gt;" in changes and "Old telnet" in changes
    assert f"<code>{CAM}:8080/tcp</code> CLOSED" in changes and "&lt;script&gt;" in changes


def test_html_what_changed_from_a_previous_scan(result: ScanResult, assessment: portlens.Assessment) -> None:
    earlier = sample_result(drop=(6379, 502), t0=datetime(2025, 5, 1, tzinfo=timezone.utc))
    before = portlens.assess(earlier, today=TODAY)
    html = assessment.to_html(result=result, previous=earlier, previous_assessment=before)
    changes = html.split('<section id="changes"')[1].split("</section>")[0]
    assert f"<code>{SRV}:6379/tcp</code> OPENED" in changes and f"<code>{PLC}:502/tcp</code> OPENED" in changes
    new = {f.id for f in assessment.findings} - {f.id for f in before.findings}
    assert new and all(fid not in changes for fid in new)  # shown by title and place
    assert "Ports closed (0)" in changes and "Resolved findings (0)" in changes
    # an assessment alone also works as "previous" (ports from its findings)
    md = assessment.to_markdown(result=result, previous=before)
    assert f"`{SRV}:6379/tcp` OPENED" in md
    with pytest.raises(ValueError, match="drift document has schema"):
        assessment.to_html(drift={"schema": "portlens.drift/9"})

    class Drift:
        def to_dict(self) -> dict[str, Any]:
            return sample_drift()

    assert "REOPENED" in assessment.to_html(drift=Drift())


def test_html_without_scan_result_or_findings() -> None:
    empty = portlens.assess([], today=TODAY)
    html = empty.to_html()
    assert "No findings." in html and "No host carries risk." in html
    assert "hosts scanned" not in html


# -- Markdown, CSV ----------------------------------------------------------------------------------------
def _cells(line: str) -> list[str]:
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def test_markdown_report(result: ScanResult, assessment: portlens.Assessment, tmp_path: Path) -> None:
    md = assessment.to_markdown(tmp_path / "r.md", result=result, drift=sample_drift(), history=HISTORY)
    assert (tmp_path / "r.md").read_bytes().decode() == md
    assert "<script" not in md and "<img" not in md and "&lt;script&gt;" in md
    assert f"**Risk score: {assessment.score:g}**" in md and "Hosts scanned: 256, up: 5" in md
    for heading in ("## What changed", "## Over time", "## Findings", "## Remediation by practice", "## Hosts"):
        assert heading in md
    # every table row has as many cells as its header: no network string breaks a table
    tables = [b for b in md.split("\n\n") if b.lstrip().startswith("| ")]
    assert len(tables) >= 3
    for t in tables:
        rows = [r for r in t.strip().splitlines() if r.startswith("|")]
        width = len(_cells(rows[0]))
        assert all(len(_cells(r)) == width for r in rows), t
    assert "- [ ] **critical**" in md  # remediation as a checklist
    scan_md = result.to_markdown()
    assert scan_md.count(f"`{SRV}`") == 7 and "Hosts: 5 of 256 up" in scan_md
    assert "<" not in scan_md.replace("&lt;", "")


def test_csv_outputs_parse_back(result: ScanResult, assessment: portlens.Assessment, tmp_path: Path) -> None:
    ports = list(csv.DictReader(io.StringIO(result.to_csv(tmp_path / "p.csv"))))
    assert len(ports) == len(result.ports) and (tmp_path / "p.csv").exists()
    assert [(r["host"], int(r["port"])) for r in ports] == [(p.host, p.port) for p in result.ports]
    by_port = {int(r["port"]): r for r in ports}
    assert by_port[80]["banner"].endswith(XSS)  # CSV keeps the text as it is (a spreadsheet shows it as text)
    assert by_port[31337]["banner"] == "'" + FORMULA  # but never as a formula
    assert by_port[445]["product"] == "Samba smbd" and by_port[80]["hostname"] == EVIL_HOST
    findings = list(csv.DictReader(io.StringIO(assessment.to_csv())))
    assert [r["id"] for r in findings] == [f.id for f in assessment.findings]
    assert {r["severity"] for r in findings} <= set(portlens.policy.SEVERITIES)
    assert all(r["status"] == "active" for r in findings)
    first = findings[0]
    assert first["practices"] and float(first["confidence"]) == assessment.findings[0].confidence


# -- JSON: schemas and loading back -----------------------------------------------------------------------
def test_json_documents_follow_their_schemas(
    result: ScanResult, assessment: portlens.Assessment, tmp_path: Path
) -> None:
    scan_schema, assessment_schema = json_schema("portlens.scan/1"), json_schema("portlens.assessment/1")
    for schema in (scan_schema, assessment_schema):
        jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(result.to_json()), scan_schema)
    doc = json.loads(assessment.to_json(tmp_path / "a.json"))
    jsonschema.validate(doc, assessment_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**doc, "findings": [{**doc["findings"][0], "severity": "severe"}]}, assessment_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, scan_schema)
    with pytest.raises(ValueError, match="no JSON Schema"):
        json_schema("portlens.nothing/1")


def test_load_reads_an_assessment_back(result: ScanResult, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        f'[[accept]]\nrule = "ics-critical-protocol-exposed"\nhosts = ["{PLC}"]\n'
        'owner = "ot@example.org"\nreason = "test rig"\nexpires = 2999-01-01\n'
    )
    a = portlens.assess(result, policy=policy, today=TODAY)
    assert a.suppressed
    a.to_json(tmp_path / "a.json")
    back = portlens.load(tmp_path / "a.json")
    assert isinstance(back, portlens.Assessment)
    assert back.to_dict() == json.loads(json.dumps(a.to_dict()))
    assert back.findings == a.findings and back.hosts == a.hosts and back.suppressed[0].acceptance is not None
    assert back.to_html() and back.to_markdown()  # reports work from a loaded assessment
    result.to_json(tmp_path / "s.json")
    assert isinstance(portlens.load(tmp_path / "s.json"), ScanResult)
    with pytest.raises(ValueError, match="not a portlens assessment"):
        portlens.Assessment.from_dict({"schema": "portlens.scan/1"})


# -- notebooks: rich displays, DataFrames, charts ----------------------------------------------------------
def test_rich_displays_are_escaped(result: ScanResult, assessment: portlens.Assessment) -> None:
    shown = {
        "result": result._repr_html_(),
        "host": result.hosts[0]._repr_html_(),
        "assessment": assessment._repr_html_(),
        "finding": assessment.findings[0]._repr_html_(),
        "hostscore": assessment.hosts[0]._repr_html_(),
    }
    for name, html in shown.items():
        assert html.startswith("<") and "<table" in html, name
        assert "<script" not in html and "<b>01" not in html, name
    assert "&lt;script&gt;" in shown["result"] and "cam&lt;b&gt;01&lt;/b&gt;.lab" in shown["host"]
    assert f"score <b>{assessment.score:g}</b>" in shown["assessment"]
    assert assessment.findings[0].id in shown["finding"]


def test_dataframes(result: ScanResult, assessment: portlens.Assessment) -> None:
    df = result.to_pandas()
    assert len(df) == len(result.ports) and list(df.columns[:4]) == ["host", "hostname", "port", "protocol"]
    assert df.loc[df.port == 445, "product"].item() == "Samba smbd"
    f = assessment.to_pandas()
    assert len(f) == len(assessment.findings) and f["severity"].cat.ordered
    assert f["port"].isna().sum() == sum(1 for x in assessment.findings if x.port is None)
    assert f.sort_values("severity", ascending=False)["severity"].iloc[0] == "critical"
    hosts = assessment.to_pandas("hosts")
    assert list(hosts["host"]) == [h.host for h in assessment.hosts]
    pl_ports, pl_findings = result.to_polars(), assessment.to_polars()
    assert pl_ports.height == len(result.ports) and pl_findings.height == len(assessment.findings)
    assert pl_findings["id"].to_list() == [x.id for x in assessment.findings]
    with pytest.raises(ValueError, match="findings' or 'hosts'"):
        assessment.to_pandas("ports")


def test_plot(result: ScanResult, assessment: portlens.Assessment) -> None:
    fig = assessment.plot(result)
    assert [ax.get_title() for ax in fig.axes][:3] == [
        "Findings by severity",
        "Riskiest hosts (score)",
        "Hosts × risky services",
    ]
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n" and len(buf.getvalue()) > 10_000


def test_html_renders_the_store_drift(result: ScanResult, assessment: portlens.Assessment) -> None:
    """The Drift of portlens.store (issue 7), not a hand-built dict: its to_dict() is what the reports read."""
    from portlens.store.drift import ScanRef, compute_drift

    earlier = sample_result(drop=(6379, 3389), t0=datetime(2025, 5, 1, tzinfo=timezone.utc))
    refs = [ScanRef(i, r.started, tuple(r.options["targets"])) for i, r in ((1, earlier), (2, result))]
    before = portlens.assess(earlier, today=TODAY)
    drift = compute_drift(*refs, earlier, result, before, assessment, seen_before={(SRV, 3389, "tcp")})
    html = assessment.to_html(result=result, drift=drift)
    changes = html.split('<section id="changes"')[1].split("</section>")[0]
    assert f"<code>{SRV}:3389/tcp</code> REOPENED" in changes and f"<code>{SRV}:6379/tcp</code> OPENED" in changes
    assert "Remote Desktop (RDP) is reachable" in changes  # a new finding
    md = assessment.to_markdown(result=result, drift=drift.to_dict())
    assert f"`{SRV}:3389/tcp` REOPENED" in md

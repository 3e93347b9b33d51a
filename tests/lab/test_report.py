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
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import portlens
from portlens.report.jsonfmt import json_schema
from tests.factories import ROOT, run_cli


# -- progress bars on a real lab scan, and the CLI ---------------------------------------------------------
def test_progress_auto_is_a_tqdm_bar(truth: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from portlens import notebook

    bars: list[notebook.TqdmBar] = []

    class Recording(notebook.TqdmBar):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, file=io.StringIO(), **kw)
            bars.append(self)

    monkeypatch.setattr(notebook, "TqdmBar", Recording)
    host = truth["open"]["v4"]
    for progress in (True, "auto"):
        r = portlens.scan(host, ports="1-2000", progress=progress)
        bar = bars[-1]
        assert bar.closed and bar.bar is not None
        assert bar.bar.n == bar.bar.total == 2000
        assert f"{len(r.open_ports())} open" in bar.bar.postfix
    seen: list[Any] = []
    portlens.scan(host, ports="1-100", progress=seen.append)  # the callable form is unchanged
    assert seen and seen[-1].done == 100 and len(bars) == 2
    with pytest.raises(portlens.OptionError):
        portlens.scan(host, ports="1-10", progress="fancy")


def test_cli_shows_a_rich_bar_on_a_terminal(truth: dict[str, Any]) -> None:
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                return
            if not chunk:
                return
            chunks.append(chunk)

    argv = [sys.executable, "-m", "portlens.cli", "scan", truth["filt"]["v4"], "-p", "1-3000"]
    proc = subprocess.Popen(
        [*argv, "--max-rtt-timeout", "0.2"],
        stdout=subprocess.PIPE,
        stderr=slave,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(slave)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
        reader.join(5)
        os.close(master)
    err = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, err
    assert "scanning" in err and "━" in err and "probes" in err  # rich's bar, drawn on the terminal
    assert "portlens scan complete" in out.decode()


def test_cli_writes_reports(truth: dict[str, Any], tmp_path: Path) -> None:
    host = truth["hostile"]["v4"]
    out = {ext: tmp_path / f"r{ext}" for ext in (".json", ".html", ".md", ".csv", ".findings.csv", ".assessment.json")}
    args = ["scan", host, "-p", "7101-7106,22", "-q", "--services", "--service-timeout", "1"]
    p = run_cli(*args, *(x for path in out.values() for x in ("-o", str(path))))
    assert p.returncode == 0, p.stderr
    assert all(path.exists() for path in out.values())
    jsonschema.validate(json.loads(out[".json"].read_text()), json_schema("portlens.scan/1"))
    jsonschema.validate(json.loads(out[".assessment.json"].read_text()), json_schema("portlens.assessment/1"))
    assert len(list(csv.DictReader(io.StringIO(out[".csv"].read_text())))) == 6
    assert (
        len(list(csv.DictReader(io.StringIO(out[".findings.csv"].read_text())))) >= 6
    )  # at least an open-port finding each
    assert "<title>portlens assessment</title>" in out[".html"].read_text()
    # report: from saved results, with a previous scan; and from a saved assessment
    prev = tmp_path / "prev.json"
    prev.write_text(out[".json"].read_text().replace('"port": 7106', '"port": 7999'))
    p = run_cli(
        "report",
        str(out[".json"]),
        "-o",
        str(tmp_path / "b.html"),
        "-o",
        str(tmp_path / "b.md"),
        "--previous",
        str(prev),
        "--title",
        "Weekly",
    )
    assert p.returncode == 0, p.stderr
    assert f"written: {tmp_path / 'b.html'}" in p.stdout
    md = (tmp_path / "b.md").read_text()
    assert md.startswith("# Weekly") and f"`{host}:7106/tcp` OPENED" in md and f"`{host}:7999/tcp` CLOSED" in md
    p = run_cli("report", str(out[".assessment.json"]), "-o", str(tmp_path / "c.html"), "--fail-on", "info")
    assert p.returncode == 3 and (tmp_path / "c.html").exists()
    p = run_cli("report", str(out[".assessment.json"]), "-o", str(tmp_path / "c.csv"))
    assert p.returncode == 2 and "not a report format" in p.stderr

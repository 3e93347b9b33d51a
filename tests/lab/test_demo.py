"""The README's main command: `make demo` (python -m lab.demo) builds its own lab, scans it with
services on, assesses it and writes the reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import portlens

ROOT = Path(__file__).resolve().parent.parent.parent


def test_demo_scans_its_lab_and_writes_the_reports(tmp_path: Path) -> None:
    # The demo builds a lab of its own (tag "demo") and scans it from that lab's scanner namespace.
    cmd = [sys.executable, "-m", "lab.demo", "--out", str(tmp_path)]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "HTML report:" in p.stdout
    result = portlens.load(tmp_path / "report.json")
    assert isinstance(result, portlens.ScanResult) and result.status == "complete"
    weak = {(q.port, (q.service or {}).get("name")) for q in result.ports if q.host == "198.18.12.2"}
    assert {(2121, "ftp"), (445, "smb"), (3389, "rdp"), (7379, "redis")} <= weak
    html = (tmp_path / "report.html").read_text()
    assert "SMBv1 is enabled" in html and "Redis accepts unauthenticated commands" in html
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("#") and "198.18.12.2" in md

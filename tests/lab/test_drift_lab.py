"""Drift on real lab scans: the weekly scan that catches the forgotten port.

Three scans of the lab's ``open`` host (all ports) through ``portlens scan --profile lab --save``,
with listeners this test opens and closes on the host between scans:

1. the lab's ports + X          (X: a port someone opened)
2. the lab's ports + Y          X closed, Y newly opened (Y is an admin console the policy rates high)
3. the lab's ports + X          X reopened (open in scan 1, not in 2), Y closed

The profile's baseline expects only the lab's ports, so X and Y are also "unexpected open ports".
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import portlens
from lab import Lab
from portlens.policy import finding_id
from tests.factories import ROOT, pg, run_cli, stop_process, store_url  # noqa: F401 - fixtures: SQLite and PostgreSQL stores

EVIL = "<script>alert('drift')</script>"


@contextmanager
def listening(lab: Lab, addr: str, port: int) -> Iterator[None]:
    """A listener on ``addr:port`` inside the lab's ``open`` namespace, for the duration of the block."""
    argv = [sys.executable, "-m", "lab.servers", "listen", "--addr", addr, "--ports", str(port)]
    argv += ["--lab-tag", lab.tag, "--parent", str(os.getpid())]
    proc = subprocess.Popen(
        ["ip", "netns", "exec", f"pl-{lab.tag}-open", *argv],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 15.0)
        assert ready and proc.stdout.readline().strip() == b"ready", "lab listener did not start"
        yield
    finally:
        stop_process(proc)


def scan(url: str, host: str) -> None:
    with portlens.store.open(url) as store:
        portlens.scan(host, ports="all", save=store, profile="lab")


def test_opened_closed_reopened_and_findings(lab: Lab, truth: dict[str, Any], store_url: str, tmp_path: Path) -> None:  # noqa: F811
    host = truth["open"]["v4"]
    lab_ports = truth["open"]["open_ports"]
    x, y = [p for p in range(40100, 40200) if p not in lab_ports][:2]
    policy, baseline = tmp_path / "policy.toml", tmp_path / "baseline.toml"
    policy.write_text(
        f'[[rule]]\nid = "forgotten-admin"\ntitle = "{EVIL} admin console"\nseverity = "high"\n'
        f'ports = ["{y}/tcp"]\nrationale = "an admin console nobody owns"\nremediation = ["close: close it"]\n'
        'source = "test"\n'
    )
    baseline.write_text(
        f'[[expect]]\nhosts = ["{host}"]\nports = [{", ".join(f"{chr(34)}{p}/tcp{chr(34)}" for p in lab_ports)}]\n'
    )
    p = run_cli(
        "profile",
        "add",
        "lab",
        host,
        "-p",
        "all",
        "--policy",
        str(policy),
        "--baseline",
        str(baseline),
        "--db",
        store_url,
    )
    assert p.returncode == 0, p.stderr

    with listening(lab, host, x):  # the first scan as cron runs it
        p = run_cli("scan", "--profile", "lab", "--save", "--db", store_url, "-q")
        assert p.returncode == 0, p.stderr
    with listening(lab, host, y):
        scan(store_url, host)
    with portlens.store.open(store_url) as store:
        s1, s2 = store.scans("lab")
        drift = store.diff(profile="lab")  # the last two
    assert (drift.a.id, drift.b.id) == (s1.id, s2.id)
    assert s1.open_ports == s2.open_ports == len(lab_ports) + 1

    def fid(rule: str, port: int) -> str:
        return finding_id(rule, host, port, "tcp")

    d = drift.to_dict()
    assert d["ports"] == {
        "opened": [{"host": host, "port": y, "protocol": "tcp", "event": "OPENED"}],
        "closed": [{"host": host, "port": x, "protocol": "tcp", "event": "CLOSED"}],
    }
    assert d["services"] == {"changed": []}
    assert [(f["id"], f["severity"]) for f in d["findings"]["new"]] == [
        (fid("forgotten-admin", y), "high"),
        (fid("unexpected-open-port", y), "medium"),
    ]
    assert [(f["id"], f["severity"]) for f in d["findings"]["resolved"]] == [(fid("unexpected-open-port", x), "medium")]
    assert d["findings"]["severity_changed"] == []
    assert set(d["a"]) == {"id", "started", "targets"} and d["b"]["targets"] == [host]
    assert d["findings"]["new"][0]["title"] == f"{EVIL} admin console"

    # the CLI: exit 4 on a new finding at or above --fail-on, drift written as HTML, Markdown and JSON
    html, md, js = tmp_path / "drift.html", tmp_path / "drift.md", tmp_path / "drift.json"
    p = run_cli(
        "diff",
        "--db",
        store_url,
        "--profile",
        "lab",
        "--fail-on",
        "high",
        "-o",
        str(html),
        "-o",
        str(md),
        "-o",
        str(js),
    )
    assert p.returncode == 4, p.stderr
    assert "newly opened since the last report: 1" in p.stdout and f"OPENED    {host}:{y}/tcp" in p.stdout
    assert json.loads(js.read_text()) == d
    page = html.read_text()
    assert EVIL not in page and "&lt;script&gt;alert(&#x27;drift&#x27;)&lt;/script&gt; admin console" in page
    assert "<script" not in md.read_text() and "&lt;script&gt;" in md.read_text()

    with listening(lab, host, x):
        scan(store_url, host)
    p = run_cli("diff", "--db", store_url, "--json", "--fail-on", "high")  # neither: the last two of the same targets
    assert p.returncode == 0, p.stderr  # only a medium finding is new
    d = json.loads(p.stdout)
    assert d["ports"] == {
        "opened": [{"host": host, "port": x, "protocol": "tcp", "event": "REOPENED"}],
        "closed": [{"host": host, "port": y, "protocol": "tcp", "event": "CLOSED"}],
    }
    assert [f["id"] for f in d["findings"]["new"]] == [fid("unexpected-open-port", x)]
    assert {f["id"] for f in d["findings"]["resolved"]} == {fid("forgotten-admin", y), fid("unexpected-open-port", y)}
    assert run_cli("diff", "--db", store_url, "--fail-on", "medium", "-q").returncode == 4

    # any two scans: 1 -> 3 have the same ports open
    with portlens.store.open(store_url) as store:
        s1, _, s3 = store.scans("lab")
        same = store.diff(s1.id, s3.id)
        assert same.empty, same
        points = store.history("lab")
    assert [pt["open_ports"] for pt in points] == [len(lab_ports) + 1] * 3
    assert [pt["by_severity"]["high"] for pt in points] == [0, 1, 0]

"""Risk assessment end to end: a real scan of lab hosts, in process and through the CLI.

The test starts its own listeners (the lab's ``listen`` server) on three live addresses of the
lab's AnyIP block, which already answer on 80 and 443: a "camera" (RTSP, Dahua DVR), a "server"
(FTP, Telnet, SMB, RDP, Redis and a forgotten port) and a "PLC" (Modbus), all in one /24.
Nothing identifies services here, so every rule matches by port number.
"""

from __future__ import annotations

import ipaddress
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import portlens
from lab import Lab
from tests.factories import ROOT, run_cli, stop_process

PORTS = "top-1000,31337"
TODAY = date(2025, 6, 1)


@pytest.fixture(scope="module")
def estate(lab: Lab, truth: dict[str, Any]) -> Iterator[dict[str, list[int]]]:
    block = ipaddress.ip_network(truth["anyip"]["block"])
    camera, server, plc = (str(block.network_address + i) for i in (10, 20, 30))
    assert not {camera, server, plc} & set(truth["anyip"]["dead"])
    layout = {camera: [554, 37777], server: [21, 23, 445, 3389, 6379, 31337], plc: [502]}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for addr, ports in layout.items():
            argv = [sys.executable, "-m", "lab.servers", "listen", "--addr", addr, "--ports", ",".join(map(str, ports))]
            argv += ["--lab-tag", lab.tag, "--parent", str(os.getpid())]
            procs.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", f"pl-{lab.tag}-anyip", *argv],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        for proc in procs:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 15.0)
            assert ready and proc.stdout.readline().strip() == b"ready", "lab listener did not start"
        yield {addr: sorted([*ports, 80, 443]) for addr, ports in layout.items()}
    finally:
        for proc in procs:
            stop_process(proc)


@pytest.fixture(scope="module")
def baseline_file(tmp_path_factory: pytest.TempPathFactory, truth: dict[str, Any]) -> Path:
    path = tmp_path_factory.mktemp("policy") / "baseline.toml"
    block = truth["anyip"]["block"]
    path.write_text(
        f'[baseline]\nname = "lab web tier"\n\n[tags]\nweb = ["{block}"]\n\n'
        '[[expect]]\nhost_tags = ["web"]\nports = ["80/tcp", "443/tcp"]\nnote = "the web tier may expose 80 and 443"\n'
    )
    return path


def test_assess_a_real_lab_scan(estate: dict[str, list[int]], baseline_file: Path) -> None:
    camera, server, plc = estate
    result = portlens.scan(list(estate), ports=PORTS)
    assert {h: [p.port for p in result.open_ports(h)] for h in estate} == estate  # the ground truth

    a = portlens.assess(result, baseline=portlens.Baseline.load(baseline_file), today=TODAY)
    U = "unexpected-open-port"
    assert [(f.severity, f.host, f.port, f.rule) for f in a.findings] == [
        ("critical", plc, 502, "ics-critical-protocol-exposed"),
        ("high", camera, 554, "rtsp-camera-exposed"),
        ("high", camera, 37777, "dahua-dvr-exposed"),
        ("high", server, 23, "telnet-cleartext"),
        ("high", server, 445, "smb-exposed"),
        ("high", server, 3389, "rdp-exposed"),
        ("high", server, 6379, "redis-exposed"),
        ("high", plc, None, "segment-ics"),
        ("medium", camera, None, "segment-camera"),
        ("medium", camera, 554, U),
        ("medium", camera, 37777, U),
        ("medium", server, 21, "ftp-cleartext"),
        ("medium", server, 21, U),
        ("medium", server, 23, U),
        ("medium", server, 445, U),
        ("medium", server, 3389, U),
        ("medium", server, 6379, U),
        ("medium", server, 31337, U),
        ("medium", plc, 502, U),
        ("low", camera, 80, "http-cleartext"),
        ("low", server, 80, "http-cleartext"),
        ("low", plc, 80, "http-cleartext"),
        ("info", camera, 443, "open-port"),
        ("info", server, 443, "open-port"),
        ("info", plc, 443, "open-port"),
    ]
    # port-number matches carry the port confidence; the segmentation hint multiplies both ends'
    by = {(f.host, f.port, f.rule): f for f in a.findings}
    assert by[(plc, 502, "ics-critical-protocol-exposed")].confidence == 0.7
    assert by[(plc, None, "segment-ics")].evidence["peers"] == [{"host": server, "roles": ["it"]}]
    assert by[(server, 445, "smb-exposed")].evidence["port_name"] == "microsoft-ds"
    # the riskiest host first; the scan's score is the sum of the hosts' (formula in the README)
    assert [h.host for h in a.hosts] == [plc, server, camera]
    assert a.hosts[0].score == pytest.approx(10000 * 0.7 + 1000 * 0.49 + 100 + 10 * 0.7 + 1)
    assert a.score == pytest.approx(sum(h.score for h in a.hosts))
    assert a.counts == {"critical": 1, "high": 7, "medium": 11, "low": 3, "info": 3}
    assert all(h.open_ports == len(estate[h.host]) for h in a.hosts)


def test_cli_scan_assess_and_assess_saved_results(
    estate: dict[str, list[int]], baseline_file: Path, tmp_path: Path
) -> None:
    camera, server, plc = estate
    out = tmp_path / "scan.json"
    t0 = time.monotonic()
    p = run_cli(
        "scan", *estate, "-p", PORTS, "-q", "-o", str(out), "--baseline", str(baseline_file), "--fail-on", "high"
    )
    assert p.returncode == 3, p.stderr  # a finding at or above "high"
    assert p.stdout == ""  # quiet
    p = run_cli("scan", *estate, "-p", PORTS, "--assess", "--fail-on", "critical")
    assert p.returncode == 3, p.stderr
    text = p.stdout
    assert "risk assessment" in text and f"CRITICAL  {plc}:502/tcp" in text
    riskiest = text.split("riskiest hosts:")[1].split()
    assert riskiest[0] == plc and riskiest.index(server) < riskiest.index(camera)

    # saved results, assessed later: the same findings as in process
    p = run_cli("assess", str(out), "--baseline", str(baseline_file), "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["schema"] == "portlens.assessment/1"
    here = portlens.assess(portlens.load(str(out)), baseline=str(baseline_file))
    assert [(f["rule"], f["host"], f["port"], f["id"]) for f in doc["findings"]] == [
        (f.rule, f.host, f.port, f.id) for f in here.findings
    ]

    # a policy that accepts the PLC's risk until 2999: nothing critical is left
    policy = tmp_path / "policy.toml"
    policy.write_text(
        '[[accept]]\nrule = "ics-critical-protocol-exposed"\n'
        f'hosts = ["{plc}"]\nowner = "ot@example.org"\nreason = "isolated test rig"\nexpires = 2999-01-01\n'
    )
    p = run_cli("assess", str(out), "--policy", str(policy), "--fail-on", "critical")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1 finding(s) suppressed" in p.stdout
    assert time.monotonic() - t0 < 60


def test_cli_refuses_a_broken_policy_before_scanning(tmp_path: Path, estate: dict[str, list[int]]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[override]]\nrule = "ssh-exposed"\nseverity = "severe"\n')
    p = run_cli("scan", *estate, "-p", "80", "--policy", str(bad))
    assert p.returncode == 2
    assert f"{bad}:3: override #1: severity 'severe'" in p.stderr
    assert "portlens scan" not in p.stdout  # no scan summary: nothing was sent
    p = run_cli("assess", str(tmp_path / "missing.json"))
    assert p.returncode == 2 and "cannot read scan file" in p.stderr

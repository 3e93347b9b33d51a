"""The command line, run as a user would, in child processes inside the scanner namespace."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from tests.factories import ROOT, run_cli


def test_scan_writes_json_and_jsonl(truth: dict[str, Any], tmp_path: Path) -> None:
    host = truth["open"]["v4"]
    j, jl = tmp_path / "r.json", tmp_path / "r.jsonl"
    p = run_cli("scan", host, "-p", "all", "-o", str(j), "-o", str(jl))
    assert p.returncode == 0, p.stderr
    assert "open" in p.stdout and host in p.stdout
    doc = json.loads(j.read_text())
    assert sorted(x["port"] for x in doc["ports"]) == truth["open"]["open_ports"]
    lines = [json.loads(x) for x in jl.read_text().splitlines()]
    assert sorted(x["port"] for x in lines) == truth["open"]["open_ports"]
    assert set(lines[0]) >= {"host", "port", "protocol", "state", "reason"}


def test_input_errors_exit_2_with_a_message(tmp_path: Path) -> None:
    p = run_cli("scan", "198.18.1.300", "-p", "80")
    assert p.returncode == 2
    assert "198.18.1.300" in p.stderr and "octet" in p.stderr
    p = run_cli("scan", "198.18.1.2", "-p", "80-70000")
    assert p.returncode == 2 and "70000" in p.stderr
    p = run_cli("scan", "198.18.1.2", "-p", "80", "-o", str(tmp_path / "r.xls"))
    assert p.returncode == 2 and "unknown format" in p.stderr
    p = run_cli("scan", "198.18.1.2", "-p", "80", "--scope", "198.18.2.0/24")
    assert p.returncode == 2 and "scope" in p.stderr


def test_low_fd_limit_is_slower_but_exact(truth: dict[str, Any], tmp_path: Path) -> None:
    """`ulimit -n 256`: concurrency follows the limit and the result stays exact."""
    out = tmp_path / "r.json"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    # the filtered host: its open ports (they give the RTT that sets the timeout) and 4000 silent ones
    filt = ",".join(map(str, truth["filt"]["open_ports"])) + ",1-4000"
    cases = ((truth["open"]["v4"], "all", "open"), (truth["filt"]["v4"], filt, "filt"))
    for target, ports, key in cases:
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "portlens.cli",
                "scan",
                target,
                "-p",
                ports,
                "-o",
                str(out),
                "-q",
                "--concurrency",
                "5000",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            preexec_fn=limit,
        )
        assert p.returncode == 0, p.stderr
        doc = json.loads(out.read_text())
        expected = truth[key]["open_ports"]
        assert sorted(x["port"] for x in doc["ports"]) == expected
        assert doc["stats"]["fd_limit"] == 256
        assert doc["stats"]["max_concurrency"] <= 256
        if key == "open":
            assert doc["counts"]["closed"] == 65535 - len(expected)


def test_fd_exhaustion_is_waited_out_not_reported_closed(truth: dict[str, Any]) -> None:
    """The process holds most of its 256 fds elsewhere while silent probes hold sockets: socket()
    fails with EMFILE, the engine backs off and retries, and every port still gets its true state."""
    t = truth["filt"]
    ports = ",".join(map(str, t["open_ports"])) + ",1-2000,6000-6009"
    script = textwrap.dedent(
        f"""
        import json, resource, portlens
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        held = [open("/dev/null") for _ in range(160)]
        r = portlens.scan({t["v4"]!r}, ports={ports!r}, keep=["open", "closed"])
        print(json.dumps({{"open": [p.port for p in r.ports if p.state == "open"],
                          "closed": [p.port for p in r.ports if p.state == "closed"],
                          "counts": r.counts, "waits": r.stats["resource_waits"]}}))
        """
    )
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["waits"] > 0, "the test did not provoke EMFILE"
    assert doc["open"] == t["open_ports"]
    assert doc["closed"] == t["reset_ports"]
    n = len(set(t["open_ports"]) | set(range(1, 2001)) | set(t["reset_ports"]))
    assert doc["counts"] == {
        "open": len(t["open_ports"]),
        "closed": 10,
        "filtered": n - len(t["open_ports"]) - 10,
        "open|filtered": 0,
    }


def test_ctrl_c_writes_partial_results(truth: dict[str, Any], tmp_path: Path) -> None:
    out, outl = tmp_path / "r.json", tmp_path / "r.jsonl"
    slow = ",".join(map(str, truth["filt"]["open_ports"])) + ",40000-47999"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "portlens.cli",
            "scan",
            truth["filt"]["v4"],
            "-p",
            slow,
            "-o",
            str(out),
            "-o",
            str(outl),
            "--initial-rtt-timeout",
            "3",
            "--min-rtt-timeout",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    time.sleep(2.0)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert time.monotonic() - sent < 1.5
    assert proc.returncode == 130, err
    doc = json.loads(out.read_text())
    assert doc["status"] == "cancelled"
    assert sorted(x["port"] for x in doc["ports"]) == truth["filt"]["open_ports"]
    assert len(outl.read_text().splitlines()) == len(truth["filt"]["open_ports"])

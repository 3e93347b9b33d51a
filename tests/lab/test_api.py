"""The Python API: streaming, async, progress, event loops, cancellation, Ctrl-C, round trips."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import portlens
from tests.factories import ROOT


def test_stream_with_for(truth: dict[str, Any]) -> None:
    host = truth["open"]["v4"]
    seen = []
    with portlens.start(host, ports="all") as s:
        for port in s:
            assert isinstance(port, portlens.PortResult)
            seen.append(port.port)
        r = s.result()
    assert sorted(seen) == truth["open"]["open_ports"]
    assert [p.port for p in r.ports] == truth["open"]["open_ports"]


def test_stream_with_async_for(truth: dict[str, Any]) -> None:
    host = truth["open"]["v6"]

    async def main() -> tuple[list[int], portlens.ScanResult]:
        seen = []
        s = portlens.start(host, ports="all")
        async for port in s:
            seen.append(port.port)
        return sorted(seen), await s.result_async()

    seen, r = asyncio.run(main())
    assert seen == truth["open"]["open_ports"]
    assert r.status == "complete"


def test_progress_callback(truth: dict[str, Any]) -> None:
    reports: list[portlens.Progress] = []
    r = portlens.scan(truth["filt"]["v4"], ports="1-20000", progress=reports.append)
    assert len(reports) >= 2
    assert reports[-1].done == reports[-1].total == 20000
    assert all(0 <= p.fraction <= 1 for p in reports)
    dones = [p.done for p in reports]
    assert dones == sorted(dones)
    assert reports[-1].open == r.counts["open"]


def test_sync_scan_inside_a_running_event_loop(truth: dict[str, Any]) -> None:
    """What a Jupyter cell does: call the blocking API while an asyncio loop runs."""

    async def cell() -> portlens.ScanResult:
        assert asyncio.get_running_loop().is_running()
        return portlens.scan(truth["open"]["v4"], ports="1-65535")

    r = asyncio.run(cell())
    assert sorted(p.port for p in r.ports) == truth["open"]["open_ports"]


def test_scan_async(truth: dict[str, Any]) -> None:
    r = asyncio.run(portlens.scan_async(truth["open"]["v4"], ports="all"))
    assert sorted(p.port for p in r.ports) == truth["open"]["open_ports"]


def test_cancelling_the_task_cancels_the_scan(truth: dict[str, Any]) -> None:
    async def main() -> float:
        task = asyncio.create_task(
            portlens.scan_async(truth["filt"]["v4"], ports="all", min_rtt_timeout=2.0, initial_rtt_timeout=2.0)
        )
        await asyncio.sleep(0.5)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    assert asyncio.run(main()) < 1.0


def test_cancel_keeps_what_was_found(truth: dict[str, Any]) -> None:
    t = truth["filt"]
    s = portlens.start(t["v4"], ports=_slow_ports(t), initial_rtt_timeout=3.0, min_rtt_timeout=3.0)
    deadline = time.monotonic() + 20
    while s.progress().open < len(t["open_ports"]) and time.monotonic() < deadline:
        next(iter(s), None)
    s.cancel()
    started = time.monotonic()
    r = s.result()
    assert time.monotonic() - started < 1.0
    assert r.status == "cancelled"
    assert sorted(p.port for p in r.ports) == t["open_ports"]
    assert r.counts["open"] == len(t["open_ports"])
    assert sum(r.counts.values()) < 8000


def _slow_ports(t: dict[str, Any]) -> str:
    """The filtered host's open ports plus 8000 silent ones: fewer probes than the default
    concurrency, so all start at once, the open ones answer at once and the rest wait 3 s."""
    return ",".join(map(str, t["open_ports"])) + ",40000-47999"


def test_ctrl_c_stops_within_a_second_and_keeps_results(truth: dict[str, Any], tmp_path: Path) -> None:
    t = truth["filt"]
    script = textwrap.dedent(
        f"""
        import json, sys, portlens
        try:
            portlens.scan({t["v4"]!r}, ports={_slow_ports(t)!r}, initial_rtt_timeout=3.0, min_rtt_timeout=3.0,
                          progress=lambda p: print("progress", p.done, flush=True))
        except portlens.ScanInterrupted as e:
            print("RESULT", json.dumps([e.result.status, sorted(p.port for p in e.result.ports)]), flush=True)
            raise
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("progress"), first + proc.stderr.read() if proc.stderr else ""
    time.sleep(1.0)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    took = time.monotonic() - sent
    assert took < 1.5, took
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err or "ScanInterrupted" in err
    line = next(x for x in out.splitlines() if x.startswith("RESULT"))
    status, ports = json.loads(line.split(" ", 1)[1])
    assert status == "cancelled"
    assert ports == t["open_ports"]


def test_json_round_trip(truth: dict[str, Any], tmp_path: Path) -> None:
    r = portlens.scan(truth["open"]["v4"], ports="1-5000", keep=["open", "closed"])
    path = tmp_path / "r.json"
    r.to_json(str(path))
    doc = json.loads(path.read_text())
    assert doc["schema"] == "portlens.scan/1"
    back = portlens.load(str(path))
    assert back.ports == r.ports
    assert back.counts == r.counts
    assert back.hosts == r.hosts
    assert back.status == r.status


def test_result_is_frozen_and_summarised(truth: dict[str, Any]) -> None:
    r = portlens.scan(truth["open"]["v4"], ports=truth["open"]["open_ports"][:3] + [1, 2])
    assert len(r.ports) == 3
    with pytest.raises(AttributeError):
        r.ports[0].port = 1  # type: ignore[misc]
    text = r.summary()
    assert truth["open"]["v4"] in text and f"{r.ports[0].port}/tcp" in text and "open 3" in text
    assert "ScanResult complete" in repr(r)

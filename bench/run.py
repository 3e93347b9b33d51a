"""Benchmark portlens against nmap and RustScan, side by side, on one lab, in one run.

    python -m bench.run [--only SCENARIO ...] [--out bench/results.md]

Every tool runs as a separate process inside the lab's scanner namespace against the same
targets; wall time is measured around the process, found ports are compared with the lab's
ground truth, and ratios are relative to portlens. Peers that are not installed are reported as
such (RustScan: `cargo install rustscan`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import Lab

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 900.0

Found = set[tuple[str, int]]


@dataclass
class Run:
    scenario: str
    tool: str
    seconds: float | None
    found: Found
    note: str = ""
    peak_rss_mb: float | None = None


def _timed(lab: Lab, argv: list[str], timeout: float = TIMEOUT) -> tuple[float, str, str, float | None]:
    """Run argv in the scanner namespace; returns (seconds, stdout, stderr, peak RSS in MB).

    Past ``timeout`` the whole process group is killed (the tool runs under /usr/bin/time, which
    a plain kill would leave it orphaned and still scanning) and TimeoutExpired is raised."""
    timer = ["/usr/bin/time", "-f", "MAXRSS %M"] if Path("/usr/bin/time").exists() else []
    start = time.perf_counter()
    with subprocess.Popen(
        lab.in_scanner_cmd(timer + argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    p = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    took = time.perf_counter() - start
    rss = None
    m = re.search(r"MAXRSS (\d+)", p.stderr)
    if m:
        rss = int(m.group(1)) / 1024
    if p.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({p.returncode}): {p.stderr[-2000:]}")
    return took, p.stdout, p.stderr, rss


def portlens_run(lab: Lab, targets: str, ports: str, extra: tuple[str, ...] = ()) -> tuple[float, Found, float | None]:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "r.json"
        took, _, _, rss = _timed(
            lab, [sys.executable, "-m", "portlens.cli", "scan", targets, "-p", ports, "-q", "-o", str(out), *extra]
        )
        doc = json.loads(out.read_text())
    return took, {(p["host"], p["port"]) for p in doc["ports"] if p["state"] == "open"}, rss


def nmap_run(
    lab: Lab,
    targets: str,
    ports: str,
    extra: list[str],
    head: tuple[str, ...] = ("-sT", "-Pn"),
    timeout: float = TIMEOUT,
) -> tuple[float, Found, float | None]:
    took, out, _, rss = _timed(lab, ["nmap", *head, "-n", "-p", ports, *extra, "-oX", "-", targets], timeout)
    return took, nmap_open(out), rss


def nmap_open(xml: str) -> Found:
    """The open (host, port) pairs of an nmap XML report."""
    found: Found = set()
    for host in ET.fromstring(xml).iter("host"):
        addr = host.find("address")
        if addr is None:
            continue
        for port in host.iter("port"):
            state = port.find("state")
            if state is not None and state.get("state") == "open":
                found.add((addr.get("addr", ""), int(port.get("portid", "0"))))
    return found


def rustscan_run(lab: Lab, targets: str, ports: str) -> tuple[float, Found, float | None]:
    exe = shutil.which("rustscan") or str(Path.home() / ".cargo/bin/rustscan")
    if not Path(exe).exists():
        raise FileNotFoundError("rustscan is not installed (cargo install rustscan)")
    spec = ["-r", ports] if "-" in ports and "," not in ports else ["-p", ports]
    took, out, _, rss = _timed(lab, [exe, "-a", targets, *spec, "-g", "--scripts", "none", "--ulimit", "20000"])
    found: Found = set()
    for line in out.splitlines():
        m = re.match(r"^(\S+) -> \[(.*)\]$", line.strip())
        if m:
            found |= {(m.group(1), int(x)) for x in m.group(2).split(",") if x.strip()}
    return took, found, rss


Tool = Callable[[Lab, str, str], tuple[float, Found, float | None]]

TOOLS: dict[str, Tool] = {
    "portlens": portlens_run,
    # without host discovery, as RustScan and nmap -Pn scan (only differs for multi-host targets)
    "portlens -Pn": lambda lab, t, p: portlens_run(lab, t, p, ("-Pn",)),
    "nmap -sT -T4": lambda lab, t, p: nmap_run(lab, t, p, ["-T4"]),
    "nmap -sT --min-rate 20000": lambda lab, t, p: nmap_run(lab, t, p, ["--min-rate", "20000"]),
    "rustscan": rustscan_run,
}


def scenarios(truth: dict[str, Any]) -> dict[str, tuple[str, str, Found]]:
    o, f, a = truth["open"], truth["filt"], truth["anyip"]
    import ipaddress

    dead = set(a["dead"])
    live = [str(ip) for ip in ipaddress.ip_network(a["block"]) if str(ip) not in dead]
    return {
        "one host, 65535 ports": (o["v4"], "1-65535", {(o["v4"], p) for p in o["open_ports"]}),
        "filtered host, 65535 ports": (f["v4"], "1-65535", {(f["v4"], p) for p in f["open_ports"]}),
        "4096 hosts x 3 ports, 1/4 dead": (a["block"], "22,80,443", {(h, p) for h in live for p in a["open_ports"]}),
    }


def memory_runs(lab: Lab) -> list[Run]:
    """Peak memory of portlens as the target grows: a /20, a /18 and a /16 of live AnyIP hosts x 100 ports.

    The anyip namespace is made to answer for all of 198.19.0.0/16 (its /20 keeps its dead quarter)."""
    a = lab.truth["anyip"]
    ns = f"pl-{lab.tag}-anyip"
    subprocess.run(["ip", "-n", ns, "route", "add", "local", "198.19.0.0/16", "dev", "lo"], check=True)
    subprocess.run(["ip", "-n", lab.scanner_ns, "route", "add", "198.19.0.0/16", "via", a["gateway"]], check=True)
    runs = []
    for block in ("198.19.0.0/20", "198.19.0.0/18", "198.19.0.0/16"):
        name = f"{block} x 100 ports (memory)"
        took, found, rss = portlens_run(lab, block, "top-100")
        runs.append(Run(name, "portlens", took, found, note="-/-", peak_rss_mb=rss))
        print(f"{name:34} portlens {took:8.2f} s  peak RSS {rss} MB  open found {len(found)}", file=sys.stderr)
    return runs


def render(runs: list[Run]) -> str:
    lines = [
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}; lab: veth links between network namespaces.",
        "",
        "| scenario | tool | wall s | found | missed | invented | time vs portlens | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    base = {r.scenario: r.seconds for r in runs if r.tool == "portlens" and r.seconds}
    for r in runs:
        if r.seconds is None:
            lines.append(f"| {r.scenario} | {r.tool} | {r.note} | – | – | – | – | |")
            continue
        ratio = f"{r.seconds / base[r.scenario]:.1f}x" if base.get(r.scenario) else "–"
        if r.note == "-/-":
            lines.append(
                f"| {r.scenario} | {r.tool} | {r.seconds:.2f} | {len(r.found)} | – | – | – | {r.peak_rss_mb:.0f} |"
            )
            continue
        rss = f"{r.peak_rss_mb:.0f}" if r.peak_rss_mb else "–"
        lines.append(
            f"| {r.scenario} | {r.tool} | {r.seconds:.2f} | {len(r.found)} | {r.note.split('/')[0]} | "
            f"{r.note.split('/')[1]} | {ratio} | {rss} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", action="append", help="scenario name prefix (repeatable)")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma list of tools")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results.md"))
    args = ap.parse_args(argv)
    runs: list[Run] = []
    with Lab.create(tag="bench", parts=("open", "filt", "anyip")) as lab:
        for name, (targets, ports, truth) in scenarios(lab.truth).items():
            if args.only and not any(name.startswith(o) for o in args.only):
                continue
            for tool in args.tools.split(","):
                if tool == "portlens -Pn" and "/" not in targets:
                    continue
                try:
                    took, found, rss = TOOLS[tool](lab, targets, ports)
                except subprocess.TimeoutExpired:
                    runs.append(Run(name, tool, None, set(), note=f"timed out after {TIMEOUT:.0f} s"))
                    print(f"{name:34} {tool:28} timed out after {TIMEOUT:.0f} s", file=sys.stderr)
                    continue
                except (FileNotFoundError, RuntimeError) as e:
                    runs.append(Run(name, tool, None, set(), note=f"not run: {str(e)[:80]}"))
                    print(f"{name:34} {tool:28} not run: {e}", file=sys.stderr)
                    continue
                missed, invented = len(truth - found), len(found - truth)
                runs.append(Run(name, tool, took, found, note=f"{missed}/{invented}", peak_rss_mb=rss))
                print(f"{name:34} {tool:28} {took:8.2f} s  missed {missed}  invented {invented}", file=sys.stderr)
        if not args.only or any("memory".startswith(o) for o in args.only):
            runs += memory_runs(lab)
    table = render(runs)
    print(table)
    Path(args.out).write_text("# Benchmark results\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""UDP scanning and host discovery: portlens against nmap, side by side, on one lab, in one run.

    python -m bench.udp [--only PREFIX ...] [--out bench/udp-results.md]

Scenarios (every tool runs as its own process inside the lab's scanner namespace):

- UDP top-100 of the ``udp`` lab host (dnsmasq, tftpd, chronyd, snmpd, memcached) with the target namespace's ICMP
  rate limit lifted (``net.ipv4.icmp_ratelimit=0``): portlens, ``nmap -sU --top-ports 100 -Pn -n``, and nmap on
  portlens's own top-100 list.
- The same with the kernel's default rate limit (one port-unreachable per second after a burst of 6):
  portlens, portlens ``udp_fast=True``, and the two nmap runs (about 100 s each).
- The sparse /20 (4096 addresses, 410 live, 90 % dead) with TCP top-100: portlens with discovery (its default),
  ``nmap -sn`` followed by ``nmap -sT -Pn -p <the same ports>`` on the hosts it found (times added), and portlens
  with ``discovery=False``.

States are compared with the lab's ground truth: a UDP port is open if a lab server listens there, closed
otherwise; "unconfirmed" counts truth-closed ports reported open|filtered (no answer seen). Not run by the tests.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import Lab

from .proc import timed

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 900.0

States = dict[tuple[str, int], str]  # (host, port) -> state


@dataclass
class Run:
    scenario: str
    tool: str
    seconds: float | None
    states: States = field(default_factory=dict)
    hosts_up: set[str] = field(default_factory=set)
    note: str = ""


# --------------------------------------------------------------------------- running tools


def _timed(lab: Lab, argv: list[str]) -> tuple[float, str]:
    return timed(lab, argv, TIMEOUT)


def portlens_run(lab: Lab, targets: str, ports: str | list[int], keep_all: bool, **options: Any) -> Run:
    spec = {"targets": targets, "ports": ports, "keep_all": keep_all, "options": options}
    took, out = _timed(lab, [sys.executable, "-m", "bench.udp", "--child", json.dumps(spec)])
    doc = json.loads(out)
    states = {(h, p): s for h, p, s in doc["ports"]}
    return Run("", "", took, states, set(doc["up"]), note=f"engine {doc['elapsed']:.2f} s")


def child(spec: dict[str, Any]) -> int:
    """Runs inside the scanner namespace: one portlens scan, its port states and up hosts as JSON."""
    import portlens

    keep = ["open", "closed", "filtered", "open|filtered"] if spec["keep_all"] else ["open"]
    r = portlens.scan(spec["targets"], ports=spec["ports"], keep=keep, **spec["options"])
    doc = {
        "elapsed": r.elapsed,
        "ports": [(p.host, p.port, p.state) for p in r.ports],
        "up": [h.address for h in r.hosts if getattr(h, "state", "up") == "up"],
    }
    print(json.dumps(doc))
    return 0


def _expand(spec: str) -> list[int]:
    out: list[int] = []
    for item in spec.split(","):
        if "-" in item:
            a, b = item.split("-")
            out += range(int(a), int(b) + 1)
        elif item:
            out.append(int(item))
    return out


def parse_nmap(xml: str) -> tuple[States, set[str]]:
    """Every scanned port's state (explicit ports and the ``extraports`` summaries) and the hosts up."""
    root = ET.fromstring(xml)
    states: States = {}
    up: set[str] = set()
    for host in root.iter("host"):
        status = host.find("status")
        addr = next((a.get("addr", "") for a in host.iter("address") if a.get("addrtype") != "mac"), "")
        if status is not None and status.get("state") == "up":
            up.add(addr)
        ports = host.find("ports")
        if ports is None:
            continue
        for extra in ports.iter("extraports"):
            for reasons in extra.iter("extrareasons"):
                for port in _expand(reasons.get("ports", "")):
                    states[(addr, port)] = extra.get("state", "")
        for element in ports.iter("port"):
            st = element.find("state")
            if st is not None:
                states[(addr, int(element.get("portid", "0")))] = st.get("state", "")
    return states, up


def nmap_run(lab: Lab, args: list[str]) -> Run:
    took, out = _timed(lab, ["nmap", *args, "-oX", "-"])
    states, up = parse_nmap(out)
    return Run("", "", took, states, up)


def nmap_two_step(lab: Lab, block: str, ports: str) -> Run:
    """``nmap -sn`` over the block, then ``nmap -sT -Pn -p PORTS`` on the hosts it found; times added."""
    took1, out = _timed(lab, ["nmap", "-sn", "-n", block, "-oX", "-"])
    _, up = parse_nmap(out)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(sorted(up)) + "\n")
        hosts_file = f.name
    try:
        took2, out = _timed(lab, ["nmap", "-sT", "-Pn", "-n", "-p", ports, "-iL", hosts_file, "-oX", "-"])
    finally:
        os.unlink(hosts_file)
    states, _ = parse_nmap(out)
    return Run("", "", took1 + took2, states, up, note=f"-sn {took1:.1f} s + -sT {took2:.1f} s")


# --------------------------------------------------------------------------- scoring


def score_udp(run: Run, host: str, truth_open: set[int]) -> dict[str, Any]:
    mine = {p: s for (h, p), s in run.states.items() if h == host}
    want_open = {p for p in mine if p in truth_open}
    return {
        "scanned": len(mine),
        "open": f"{sum(mine[p] == 'open' for p in want_open)}/{len(want_open)}",
        "closed": f"{sum(s == 'closed' for p, s in mine.items() if p not in truth_open)}/{len(mine) - len(want_open)}",
        "missed": sum(mine[p] != "open" for p in want_open),
        "invented": sum(s in ("open", "closed") and (s == "open") != (p in truth_open) for p, s in mine.items()),
        "unconfirmed": sum(s == "open|filtered" for p, s in mine.items() if p not in truth_open),
    }


def score_sparse(run: Run, t: dict[str, Any], ports: list[int]) -> dict[str, Any]:
    live = set(t["live"])
    want = {(h, p) for h in t["tcp_only"] + t["both"] for p in t["open_ports"] if p in ports}
    found = {k for k, s in run.states.items() if s == "open"}
    return {
        "hosts up": f"{len(run.hosts_up & live)}/{len(live)}",
        "hosts invented": len(run.hosts_up - live),
        "open": f"{len(found & want)}/{len(want)}",
        "missed": len(want - found),
        "invented": len(found - want),
    }


# --------------------------------------------------------------------------- scenarios


def udp_scenarios(lab: Lab, runs: list[tuple[Run, dict[str, Any]]], only: list[str] | None) -> None:
    import portlens

    t = lab.truth["udp"]
    host, truth_open = t["v4"], set(t["open_ports"])
    mine = ",".join(map(str, portlens.top_ports("top-100", protocol="udp")))
    tools: dict[str, Any] = {
        "portlens": lambda: portlens_run(lab, host, "top-100", True, protocol="udp"),
        "portlens udp_fast": lambda: portlens_run(lab, host, "top-100", True, protocol="udp", udp_fast=True),
        "nmap -sU --top-ports 100": lambda: nmap_run(lab, ["-sU", "--top-ports", "100", "-Pn", "-n", host]),
        "nmap -sU -p <portlens top-100>": lambda: nmap_run(lab, ["-sU", "-p", mine, "-Pn", "-n", host]),
    }
    for name, ms, which in (
        ("UDP top-100, ICMP limit off", 0, ("portlens", "nmap -sU --top-ports 100", "nmap -sU -p <portlens top-100>")),
        ("UDP top-100, ICMP limit 1/s", None, tuple(tools)),
    ):
        if only and not any(name.startswith(o) for o in only):
            continue
        lab.set_icmp_ratelimit("udp", ms)
        try:
            for tool in which:
                if ms is None:
                    time.sleep(6.5)  # the peer's ICMP tokens refill between runs: every tool starts equal
                run = _attempt(name, tool, tools[tool])
                runs.append((run, score_udp(run, host, truth_open) if run.seconds is not None else {}))
        finally:
            lab.set_icmp_ratelimit("udp", None)


def sparse_scenario(lab: Lab, runs: list[tuple[Run, dict[str, Any]]], only: list[str] | None) -> None:
    import portlens

    name = "sparse /20 (410 of 4096 live), TCP top-100"
    if only and not any(name.startswith(o) for o in only):
        return
    t = lab.truth["sparse"]
    ports = list(portlens.top_ports("top-100"))
    spec = ",".join(map(str, ports))
    tools: dict[str, Any] = {
        "portlens (discovery)": lambda: portlens_run(lab, t["block"], spec, False),
        "nmap -sn, then -sT -Pn": lambda: nmap_two_step(lab, t["block"], spec),
        "portlens discovery=False": lambda: portlens_run(lab, t["block"], spec, False, discovery=False),
    }
    for tool, fn in tools.items():
        run = _attempt(name, tool, fn)
        runs.append((run, score_sparse(run, t, ports) if run.seconds is not None else {}))


def _attempt(scenario: str, tool: str, fn: Any) -> Run:
    try:
        run: Run = fn()
    except subprocess.TimeoutExpired:
        run = Run(scenario, tool, None, note=f"timed out after {TIMEOUT:.0f} s")
    except (FileNotFoundError, RuntimeError) as e:
        run = Run(scenario, tool, None, note=f"not run: {str(e)[:100]}")
    run.scenario, run.tool = scenario, tool
    took = f"{run.seconds:8.2f} s" if run.seconds is not None else run.note
    print(f"{scenario:44} {tool:32} {took}", file=sys.stderr, flush=True)
    return run


# --------------------------------------------------------------------------- output


def render(runs: list[tuple[Run, dict[str, Any]]]) -> str:
    lines = [
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}; lab: veth links between network namespaces.",
        "",
    ]
    scenarios = list(dict.fromkeys(r.scenario for r, _ in runs))
    for scenario in scenarios:
        rows = [(r, s) for r, s in runs if r.scenario == scenario]
        keys = list(next((s for _, s in rows if s), {}).keys())
        base = next((r.seconds for r, _ in rows if r.tool.startswith("portlens") and r.seconds), None)
        lines += [f"### {scenario}", ""]
        lines.append("| tool | wall s | vs portlens | " + " | ".join(keys) + " | note |")
        lines.append("|---|---:|---:|" + "---:|" * len(keys) + "---|")
        for r, s in rows:
            if r.seconds is None:
                lines.append(f"| {r.tool} | – | – | " + " | ".join("–" for _ in keys) + f" | {r.note} |")
                continue
            ratio = f"{r.seconds / base:.2g}x" if base else "–"
            cells = " | ".join(str(s.get(k, "–")) for k in keys)
            lines.append(f"| {r.tool} | {r.seconds:.2f} | {ratio} | {cells} | {r.note} |")
        lines.append("")
    lines.append(
        "open: truth-open ports reported open / truth-open ports the tool scanned; closed: truth-closed ports "
        "confirmed closed; unconfirmed: truth-closed ports left open|filtered; invented: a wrong open or closed."
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(json.loads(argv[1]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", help="scenario name prefix (repeatable)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "udp-results.md"))
    args = ap.parse_args(argv)
    runs: list[tuple[Run, dict[str, Any]]] = []
    with Lab.create(tag="benchudp", parts=("udp", "sparse")) as lab:
        assert ipaddress.ip_network(lab.truth["sparse"]["block"]).num_addresses == 4096
        udp_scenarios(lab, runs, args.only)
        sparse_scenario(lab, runs, args.only)
    table = render(runs)
    print(table)
    Path(args.out).write_text("# UDP and host discovery benchmark\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

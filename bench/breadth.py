"""Identification breadth (issue 14): portlens against ``nmap -sV`` / ``nmap -sUV`` on the lab's ``breadth`` part.

    python -m bench.breadth [--out bench/breadth-results.md]

The lab's ``breadth`` part (lab/breadth.py: SMB2/3-only Samba, BIND 9 and dnsmasq over TCP and UDP, snmpd with
only a private community, MariaDB refusing the scanner's host; standard and odd ports) is scanned by both tools,
each inside the lab's scanner namespace: portlens with ``services=True`` (TCP, then UDP), nmap with
``-sV -Pn -n`` (TCP) and ``-sUV -Pn -n`` (UDP). The table gives each port's name, product and version from both,
and the wall time of each scan. Not run by the tests (tests/lab/test_breadth.py asserts portlens's side).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import portlens
from lab import Lab
from lab.breadth import HARD, SERVICES, WEAK

ROOT = Path(__file__).resolve().parent.parent


def _nmap(proto: str, ports: list[int]) -> tuple[dict[str, tuple[str, str, str]], float]:
    flag = "-sV" if proto == "tcp" else "-sUV"
    argv = ["nmap", flag, "-Pn", "-n", "-p", ",".join(map(str, ports)), "-oX", "-", WEAK, HARD]
    started = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=True).stdout
    elapsed = time.monotonic() - started
    found: dict[str, tuple[str, str, str]] = {}
    for host in ET.fromstring(out).iter("host"):
        addr = host.find("address")
        assert addr is not None
        for port in host.iter("port"):
            svc = port.find("service")
            state = port.find("state")
            if svc is None or state is None or "open" not in state.get("state", ""):
                continue
            key = f"{addr.get('addr')}:{port.get('portid')}"
            found[key] = (svc.get("name", ""), svc.get("product", ""), svc.get("version", ""))
    return found, elapsed


def _portlens(proto: str, ports: list[int]) -> tuple[dict[str, tuple[str, str, str]], float]:
    started = time.monotonic()
    r = portlens.scan([WEAK, HARD], ports=ports, protocol=proto, services=True)
    elapsed = time.monotonic() - started
    found = {}
    for p in r.ports:
        s = p.service or {}
        found[f"{p.host}:{p.port}"] = (s.get("name") or "", s.get("product") or "", s.get("version") or "")
    return found, elapsed


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.breadth")
    ap.add_argument("--out", default=str(ROOT / "bench" / "breadth-results.md"))
    args = ap.parse_args()
    lab = Lab.create(tag=f"bb{os.getpid() % 10000}", parts=["breadth"], ready_timeout=120.0)
    rows: list[str] = []
    times: list[str] = []
    try:
        lab.enter_scanner()
        for proto in ("tcp", "udp"):
            keys = [k for k, s in SERVICES.items() if s["proto"] == proto]
            ports = sorted({SERVICES[k]["port"] for k in keys})
            ours, t_ours = _portlens(proto, ports)
            theirs, t_nmap = _nmap(proto, ports)
            times.append(f"| {proto} | {t_ours:.1f} s | {t_nmap:.1f} s | {t_nmap / max(t_ours, 1e-3):.0f}x |")
            for k in keys:
                s: dict[str, Any] = SERVICES[k]
                at = f"{s['addr']}:{s['port']}"
                o, n = ours.get(at, ("", "", "")), theirs.get(at, ("", "", ""))
                rows.append(f"| {k} | {at}/{proto} | {s['product']} | {' / '.join(o)} | {' / '.join(n)} |")
    finally:
        lab.close()
    text = (
        "# Identification breadth: portlens vs nmap on the lab's breadth part\n\n"
        "Written by `python -m bench.breadth` (name / product / version).\n\n"
        "| server | port | expected product | portlens | nmap |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\n| scan | portlens | nmap | nmap / portlens |\n|---|---|---|---|\n"
        + "\n".join(times)
        + "\n"
    )
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

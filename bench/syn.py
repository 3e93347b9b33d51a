"""portlens SYN scans against portlens connect scans, side by side on one lab, in one run.

    python -m bench.syn [--repeat N] [--out bench/syn-results.md]

Rows: one host x 65535 ports, and the 4096-host AnyIP block x 1000 ports (4 M probes, a quarter of
the hosts dead). Each run is the CLI in the lab's scanner namespace (as `bench.run` runs it), wall
time around the process, open ports compared with the lab's ground truth. Peers (masscan, nmap -sS)
are not in this table yet (issue 15).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

from bench.run import ROOT, Found, _timed
from lab import Lab


def _run(lab: Lab, targets: str, ports: str, method: str) -> tuple[float, Found, dict[str, object], float | None]:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "r.json"
        argv = [sys.executable, "-m", "portlens.cli", "scan", targets, "-p", ports, "-q", "--method", method]
        took, _, _, rss = _timed(lab, [*argv, "-o", str(out)])
        doc = json.loads(out.read_text())
    found = {(p["host"], p["port"]) for p in doc["ports"] if p["state"] == "open"}
    return took, found, doc.get("stats", {}), rss


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each (method, row)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "syn-results.md"))
    args = ap.parse_args(argv)
    lines = [
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}; lab: veth links between network namespaces.",
        "",
        "| scenario | method | wall s | probes/s | open found | missed | invented | attempts | spoofed | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    with Lab.create(tag="bsyn", parts=("open", "anyip")) as lab:
        o, a = lab.truth["open"], lab.truth["anyip"]
        dead = set(a["dead"])
        live = [str(ip) for ip in ipaddress.ip_network(a["block"]) if str(ip) not in dead]
        rows = {
            "one host x 65535 ports": (o["v4"], "1-65535", {(o["v4"], p) for p in o["open_ports"]}, 65535),
            "4096 hosts x 1000 ports, 1/4 dead": (
                a["block"],
                "1-1000",
                {(h, p) for h in live for p in a["open_ports"] if p <= 1000},
                4096 * 1000,
            ),
        }
        for name, (targets, ports, truth, probes) in rows.items():
            for _ in range(args.repeat):
                for method in ("connect", "syn"):
                    took, found, stats, rss = _run(lab, targets, ports, method)
                    missed, invented = len(truth - found), len(found - truth)
                    rss_mb = f"{rss:.0f}" if rss else "–"
                    lines.append(
                        f"| {name} | {method} | {took:.2f} | {probes / took:,.0f} | {len(found)} | {missed} | "
                        f"{invented} | {stats.get('attempts', '–')} | {stats.get('spoofed', '–')} | {rss_mb} |"
                    )
                    print(lines[-1], file=sys.stderr)
    table = "\n".join(lines) + "\n"
    print(table)
    Path(args.out).write_text("# SYN vs connect\n\n" + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

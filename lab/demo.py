"""The demo: build a small lab, scan it with portlens from the scanner namespace, show the result.

    python -m lab.demo [--out demo-out]

Only the lab's own hosts are scanned (198.18.0.0/15, 2001:db8::/32), from a namespace with no
default route; the lab is removed afterwards.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from . import Lab

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "demo-out"))
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with Lab.create(tag="demo", parts=("open", "filt", "hostile")) as lab:
        t = lab.truth
        targets = [t["open"]["v4"], t["open"]["v6"], t["filt"]["v4"], t["hostile"]["v4"]]
        scope = "198.18.0.0/15,2001:db8::/32"
        print(f"lab up: scanning {', '.join(targets)} (all 65535 TCP ports each) from {lab.scanner_ns}")
        cmd = [
            sys.executable,
            "-m",
            "portlens.cli",
            "scan",
            *targets,
            "-p",
            "all",
            "--scope",
            scope,
            "-o",
            str(out / "report.json"),
            "-o",
            str(out / "ports.jsonl"),
        ]
        rc = subprocess.run(lab.in_scanner_cmd(cmd), cwd=ROOT).returncode
    if rc == 0:
        print(f"\nreport: {out / 'report.json'} (read it back with portlens.load), ports: {out / 'ports.jsonl'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())

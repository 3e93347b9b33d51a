"""The demo: build a small lab, scan it with portlens from the scanner namespace, assess it, write the reports.

    python -m lab.demo [--out demo-out]

Only the lab's own hosts are scanned (198.18.0.0/15, 2001:db8::/32), from a namespace with no
default route; the lab is removed afterwards. Besides the lab's fixed hosts, three addresses of
its AnyIP block play a small estate (`estate`): a camera, a server with risky services and a PLC,
and the lab's ``svc`` part adds real Debian servers (vsftpd, samba, redis, xrdp, ...), each weak
member next to its hardened twin, so that service identification and its checks have real work.
The notebook ``notebooks/assessment.ipynb`` uses the same estate.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from . import Lab

ROOT = Path(__file__).resolve().parent.parent
# svc: real Debian servers (weak members and their hardened twins) for service identification
PARTS = ("open", "filt", "anyip", "hostile", "svc")
# offsets in the AnyIP block (all live: the lab kills index % 4 == 3) -> role, extra listening ports
# (every address of the block already answers on 80 and 443)
ESTATE = {10: ("camera", [554, 37777]), 20: ("server", [21, 23, 445, 3389, 6379, 31337]), 30: ("plc", [502])}


@contextlib.contextmanager
def estate(lab: Lab, ready_timeout: float = 15.0) -> Iterator[dict[str, list[int]]]:
    """Start listeners for the estate inside the lab's AnyIP namespace; yield ``{address: open ports}``
    (camera, server, PLC in that order); stop them on exit."""
    block = ipaddress.ip_network(lab.truth["anyip"]["block"])
    layout = {str(block.network_address + i): ports for i, (_, ports) in ESTATE.items()}
    assert not set(layout) & set(lab.truth["anyip"]["dead"])
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
            ready, _, _ = select.select([proc.stdout], [], [], ready_timeout)
            if not ready or proc.stdout.readline().strip() != b"ready":
                raise RuntimeError("an estate listener did not start")
        yield {addr: sorted([*ports, 80, 443]) for addr, ports in layout.items()}
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()


def baseline_toml(lab: Lab) -> str:
    """A baseline for the estate: the web tier (the AnyIP block) may expose 80 and 443, nothing else
    (every other open port of a scan assessed with it is "unexpected", so scan only the estate)."""
    block = lab.truth["anyip"]["block"]
    return (
        f'[baseline]\nname = "lab web tier"\n\n[tags]\nweb = ["{block}"]\n\n'
        '[[expect]]\nhost_tags = ["web"]\nports = ["80/tcp", "443/tcp"]\nnote = "the web tier may expose 80 and 443"\n'
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "demo-out"))
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with Lab.create(tag="demo", parts=PARTS) as lab, estate(lab) as hosts:
        t = lab.truth
        targets = [t["open"]["v4"], t["open"]["v6"], t["filt"]["v4"], t["hostile"]["v4"], *hosts]
        targets += [t["svc"]["weak"], t["svc"]["hard"]]
        scope = "198.18.0.0/15,2001:db8::/32"
        print(f"lab up: scanning {', '.join(targets)} (all 65535 TCP ports each) from {lab.scanner_ns}")
        cmd = [sys.executable, "-m", "portlens.cli", "scan", *targets, "-p", "all", "--scope", scope]
        cmd += ["--services", "--service-timeout", "2", "--assess"]
        cmd += ["-o", str(out / "report.json"), "-o", str(out / "ports.jsonl"), "-o", str(out / "report.html")]
        cmd += ["-o", str(out / "report.md"), "-o", str(out / "report.findings.csv")]
        rc = subprocess.run(lab.in_scanner_cmd(cmd), cwd=ROOT).returncode
    if rc in (0, 3):  # 3: findings at or above --fail-on (not given here, kept for clarity)
        print(f"\nscan: {out / 'report.json'} (read it back with portlens.load), ports: {out / 'ports.jsonl'}")
        print(f"HTML report: {out / 'report.html'} (one self-contained file: open it in a browser)")
        print(f"Markdown: {out / 'report.md'}, findings CSV: {out / 'report.findings.csv'}")
        return 0
    return rc


if __name__ == "__main__":
    sys.exit(main())

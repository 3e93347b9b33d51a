"""portlens SYN and connect scans against masscan and nmap -sS, side by side on one lab, in one run.

    python -m bench.syn [--rows host,block,slash16] [--tools ...] [--masscan-rates 50000,100000,...]
                        [--timeout 900] [--repeat N] [--out bench/syn-results.md]

Rows: one host x 65535 ports; the 4096-host AnyIP block x 1000 ports (4 M probes, a quarter of the
hosts dead); a /16 of AnyIP hosts x the top 100 ports (6.5 M probes; the anyip namespace is made to
answer for all of 198.19.0.0/16, its /20 keeping its dead quarter). Every tool is a separate process
in the lab's scanner namespace (as `bench.run` runs them), timed around the process and killed,
with its process group, past ``--timeout``; open ports are compared with the lab's ground truth
(missed: open in the lab, not reported; invented: reported, not open).

Peers: masscan at each ``--masscan-rates`` step (packets per second), ``nmap -sS --min-rate 20000``
and ``nmap -sS -T4``. A peer that is not installed gets a "not run" line (``apt-get install masscan
nmap``; ``scripts/sysdeps.sh bench`` installs both).

masscan sends from its own stack through libpcap, so it is told everything the kernel would have
worked out: the scanner namespace's interface towards the target (``-e``), that interface's address
(``--adapter-ip``) and the MAC address of the next hop (``--router-mac``: the target namespace's end
of the veth, since the scanner namespace has no default route and no router to look up). Its targets
are checked to lie in the lab's 198.18.0.0/15 before it is started, and it is given nothing else to
scan.
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.run import ROOT, TIMEOUT, Found, _timed, nmap_run
from lab import Lab

LAB_V4 = ipaddress.IPv4Network("198.18.0.0/15")
SLASH16 = "198.19.0.0/16"
MASSCAN_RATES = (50_000, 100_000, 200_000, 400_000)
# masscan waits this long after its last SYN for stragglers (its default is 10 s): a lab reply takes
# well under a millisecond, and the wait is counted in its wall time as portlens's timeouts are.
MASSCAN_WAIT = 2

Outcome = tuple[float, Found, dict[str, object], float | None]

# Written above the table, so that the results file always says how it was made.
HOWTO = """## How to run it

```sh
scripts/sysdeps.sh bench                 # nmap, masscan (apt-get install masscan nmap), GNU time
python -m bench.syn                      # every row, every tool: writes this file (the lead's full run)
python -m bench.syn --rows host --tools "portlens syn,masscan --rate 100000" --out /tmp/s.md   # a quick check
```

Rows (`--rows`, comma list): `host` (one host x 65535 ports), `block` (the 4096-host AnyIP block x
1000 ports, 4 M probes, a quarter of the hosts dead), `slash16` (198.19.0.0/16 x portlens's top 100
ports, 6.5 M probes; the anyip namespace answers for the whole /16, 1024 hosts of its /20 dead).
Tools (`--tools`, comma list; default all): `portlens connect`, `portlens syn`, `nmap -sS --min-rate
20000`, `nmap -sS -T4` and `masscan --rate R` for each R of `--masscan-rates` (default
50000,100000,200000,400000). Every run is one process in the lab's scanner namespace, killed with
its process group after `--timeout` seconds (default 900; the table then says "timed out"); a tool
that is not installed gets a "not run" line. `--tag` names the lab (default `bsyn`; give another
when a second lab with that tag may be up). nmap scans the blocks with its default host discovery
(portlens discovers too) and one host with `-Pn`. masscan is given the scanner namespace's
interface (`-e`), its address (`--adapter-ip`) and the MAC of the veth's far end (`--router-mac`),
read from the lab, since the namespace has no default route; its targets are checked to lie in
198.18.0.0/15 before it starts, and its wall time includes its `--wait 2` for late replies. Missed
and invented ports are counted against the lab's ground truth for every tool, masscan's from its
`-oL` list.
"""


@dataclass(frozen=True)
class Row:
    targets: str
    ports: str  # portlens's spelling; peers get the same ports as an explicit list
    port_list: list[int]
    truth: Found
    probes: int


def _portlens(lab: Lab, row: Row, method: str, timeout: float) -> Outcome:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "r.json"
        argv = [sys.executable, "-m", "portlens.cli", "scan", row.targets, "-p", row.ports, "-q", "--method", method]
        took, _, _, rss = _timed(lab, [*argv, "-o", str(out)], timeout)
        doc = json.loads(out.read_text())
    found = {(p["host"], p["port"]) for p in doc["ports"] if p["state"] == "open"}
    return took, found, doc.get("stats", {}), rss


def _port_text(ports: list[int]) -> str:
    """Ports as ranges (``1-1000``), the way nmap and masscan take a long list best."""
    out, start = [], None
    for i, p in enumerate(ports):
        if start is None:
            start = p
        if i + 1 == len(ports) or ports[i + 1] != p + 1:
            out.append(str(p) if start == p else f"{start}-{p}")
            start = None
    return ",".join(out)


def _nmap(lab: Lab, row: Row, extra: list[str], timeout: float) -> Outcome:
    if not shutil.which("nmap"):
        raise FileNotFoundError("nmap is not installed (apt-get install nmap)")
    # Host discovery as nmap does by default for a block (portlens discovers too); one address is
    # scanned without it, as portlens does.
    head = ("-sS", "-Pn") if "/" not in row.targets else ("-sS",)
    took, found, rss = nmap_run(lab, row.targets, _port_text(row.port_list), extra, head, timeout)
    return took, found, {}, rss


def _ip_json(*argv: str) -> list[dict[str, Any]]:
    p = subprocess.run(["ip", "-j", *argv], capture_output=True, text=True, check=True, timeout=30)
    out: list[dict[str, Any]] = json.loads(p.stdout or "[]")
    return out


def masscan_link(lab: Lab, target: str) -> tuple[str, str, str]:
    """(interface, its address, next hop's MAC) of the scanner namespace's route to ``target``.

    The next hop is the route's gateway, else the target itself; its MAC is read from whichever of
    the lab's namespaces holds that address (the far end of the scanner's veth)."""
    route = _ip_json("-n", lab.scanner_ns, "route", "get", target)[0]
    dev, src = str(route["dev"]), str(route["prefsrc"])
    hop = str(route.get("gateway", target))
    for ns in lab.namespaces:
        if ns == lab.scanner_ns:
            continue
        for link in _ip_json("-n", ns, "addr", "show"):
            if any(a.get("local") == hop for a in link.get("addr_info", [])):
                return dev, src, str(link["address"])
    raise RuntimeError(f"no lab namespace holds {hop}, the next hop to {target}")


def masscan_open(text: str) -> Found:
    """The open (host, port) pairs of masscan's list output (``-oL``: ``open tcp PORT HOST TIME``)."""
    found: Found = set()
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 4 and f[0] == "open" and f[1] == "tcp":
            found.add((f[3], int(f[2])))
    return found


def _masscan(lab: Lab, row: Row, rate: int, timeout: float) -> Outcome:
    exe = shutil.which("masscan")
    if not exe:
        raise FileNotFoundError("masscan is not installed (apt-get install masscan)")
    # Never anything outside the lab: masscan sends raw frames and trusts what it is given.
    net = ipaddress.ip_network(row.targets, strict=False)
    if not (isinstance(net, ipaddress.IPv4Network) and net.subnet_of(LAB_V4)):
        raise RuntimeError(f"refusing to run masscan on {row.targets}: outside {LAB_V4}")
    dev, src, mac = masscan_link(lab, str(net.network_address))
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "m.txt"
        argv = [exe, row.targets, "-p", _port_text(row.port_list), "--rate", str(rate), "--wait", str(MASSCAN_WAIT)]
        argv += ["-e", dev, "--adapter-ip", src, "--router-mac", mac, "-oL", str(out)]
        took, _, _, rss = _timed(lab, argv, timeout)
        found = masscan_open(out.read_text() if out.exists() else "")
    return took, found, {}, rss


Tool = Callable[[Lab, Row, float], Outcome]


def tools(masscan_rates: list[int]) -> dict[str, Tool]:
    t: dict[str, Tool] = {
        "portlens connect": lambda lab, row, to: _portlens(lab, row, "connect", to),
        "portlens syn": lambda lab, row, to: _portlens(lab, row, "syn", to),
        "nmap -sS --min-rate 20000": lambda lab, row, to: _nmap(lab, row, ["--min-rate", "20000"], to),
        "nmap -sS -T4": lambda lab, row, to: _nmap(lab, row, ["-T4"], to),
    }
    for r in masscan_rates:
        t[f"masscan --rate {r}"] = functools.partial(_masscan_at, r)
    return t


def _masscan_at(rate: int, lab: Lab, row: Row, timeout: float) -> Outcome:
    return _masscan(lab, row, rate, timeout)


def _top100() -> list[int]:
    from portlens import _core

    return sorted(_core.ScanRequest(["198.18.1.2"], "top-100").ports)


def rows(lab: Lab, wanted: list[str]) -> dict[str, Row]:
    o, a = lab.truth["open"], lab.truth["anyip"]
    dead = set(a["dead"])
    out: dict[str, Row] = {}
    if "host" in wanted:
        out["one host x 65535 ports"] = Row(
            o["v4"], "1-65535", list(range(1, 65536)), {(o["v4"], p) for p in o["open_ports"]}, 65535
        )
    if "block" in wanted:
        live = [str(ip) for ip in ipaddress.ip_network(a["block"]) if str(ip) not in dead]
        out["4096 hosts x 1000 ports, 1/4 dead"] = Row(
            a["block"],
            "1-1000",
            list(range(1, 1001)),
            {(h, p) for h in live for p in a["open_ports"] if p <= 1000},
            4096 * 1000,
        )
    if "slash16" in wanted:
        # As bench.run's memory rows: every address of the /16 answers, but the /20's dead quarter.
        ns = f"pl-{lab.tag}-anyip"
        subprocess.run(["ip", "-n", ns, "route", "add", "local", SLASH16, "dev", "lo"], check=True)
        subprocess.run(["ip", "-n", lab.scanner_ns, "route", "add", SLASH16, "via", a["gateway"]], check=True)
        top = _top100()
        live = [str(ip) for ip in ipaddress.ip_network(SLASH16) if str(ip) not in dead]
        out["/16 x top 100 ports, 1024 dead"] = Row(
            SLASH16, "top-100", top, {(h, p) for h in live for p in a["open_ports"] if p in top}, 65536 * len(top)
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="host,block,slash16", help="comma list of host, block, slash16")
    ap.add_argument("--tools", default=None, help="comma list of tool names (default: all; see the table)")
    ap.add_argument(
        "--masscan-rates", default=",".join(map(str, MASSCAN_RATES)), help="masscan --rate steps, packets/s"
    )
    ap.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds each run may take before it is killed")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each (tool, row)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "syn-results.md"))
    ap.add_argument("--tag", default="bsyn", help="the lab's tag (distinct from any other lab running)")
    args = ap.parse_args(argv)
    wanted = [r.strip() for r in args.rows.split(",") if r.strip()]
    if unknown := set(wanted) - {"host", "block", "slash16"}:
        ap.error(f"unknown rows: {', '.join(sorted(unknown))}")
    all_tools = tools([int(r) for r in args.masscan_rates.split(",") if r.strip()])
    chosen = list(all_tools) if args.tools is None else [t.strip() for t in args.tools.split(",") if t.strip()]
    if unknown := set(chosen) - set(all_tools):
        ap.error(f"unknown tools: {', '.join(sorted(unknown))}; known: {', '.join(all_tools)}")
    lines = [
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}; lab: veth links between network namespaces; "
        f"timeout {args.timeout:.0f} s a run.",
        "",
        "| scenario | tool | wall s | probes/s | open found | missed | invented | attempts | spoofed | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    with Lab.create(tag=args.tag, parts=("open", "anyip")) as lab:
        for name, row in rows(lab, wanted).items():
            for _ in range(args.repeat):
                for tool in chosen:
                    try:
                        took, found, stats, rss = all_tools[tool](lab, row, args.timeout)
                    except subprocess.TimeoutExpired:
                        lines.append(f"| {name} | {tool} | timed out after {args.timeout:.0f} s | | | | | | | |")
                    except (FileNotFoundError, RuntimeError) as e:
                        lines.append(f"| {name} | {tool} | not run: {str(e)[:100]} | | | | | | | |")
                    else:
                        missed, invented = len(row.truth - found), len(found - row.truth)
                        rss_mb = f"{rss:.0f}" if rss else "–"
                        lines.append(
                            f"| {name} | {tool} | {took:.2f} | {row.probes / took:,.0f} | {len(found)} | {missed} | "
                            f"{invented} | {stats.get('attempts', '–')} | {stats.get('spoofed', '–')} | {rss_mb} |"
                        )
                    print(lines[-1], file=sys.stderr, flush=True)
    table = "\n".join(lines) + "\n"
    print(table)
    Path(args.out).write_text("# SYN vs connect (and the peers)\n\n" + HOWTO + "\n" + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

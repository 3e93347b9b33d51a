"""Scanning under network defences: portlens against nmap and RustScan, side by side, on one lab, in one run.

    python -m bench.defences [--seed S] [--only PREFIX ...] [--tools a,b] [--out bench/defences-results.md]

The lab's defence parts (``limit``, ``shared``, ``relay``; see ``lab/defences.py``) put SYN rate limits, random
loss, a drop-closed firewall, an upstream shared limiter and a high-RTT lossy relay in front of the targets.  Each
scenario is put in force again (same settings, same seed, a fresh token bucket) before every tool, and every tool
runs as its own process in the lab's scanner namespace, timed around the whole process (``/usr/bin/time`` for
the peak RSS) as ``bench/run.py`` does; nmap and RustScan are run and parsed by ``bench/run.py``'s own helpers.

The *physical bound* of a limited scenario is the number of SYNs that must pass the limiter (one per scanned port
of each host behind one bucket) divided by its rate; lost SYNs are dropped before the limiter and cost it no
token, so loss does not change the bound.  Loss-only rows are compared with portlens's time on the same host
without any defence ("unl."). A tool gets ``max(120 s, 10 x bound)`` and is killed (its whole process group)
after that.

Seeds: every scenario's open ports (and the random scenarios' parameters) come from seeds derived from ``--seed``
(a random one if not given); all of them are printed and written to the results.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import Lab
from lab.defences import LIMIT_V4, random_defence

from . import run as peers
from .proc import env

ROOT = Path(__file__).resolve().parent.parent
MIN_TIMEOUT = 120.0
TARGET_BOUND = 25.0  # s: the random scenarios are trimmed to about this bound (and stay under 30 s)

Found = set[tuple[str, int]]


@dataclass
class Scenario:
    name: str
    part: str
    settings: dict[str, Any]  # keyword arguments of lab.set_defence (seed included)
    hosts: list[str]  # scanned addresses (a contiguous range of one /24)
    ports: list[int]
    bound: float | None  # s; None: no limiter
    unlimited: bool = False  # loss only: compare with portlens's time without defences
    note: str = ""
    truth: Found = field(default_factory=set)  # the open (host, port) pairs, once the lab has set them


@dataclass
class Run:
    scenario: str
    tool: str
    seconds: float | None
    found: Found = field(default_factory=set)
    missed: int = 0
    invented: int = 0
    rss_mb: float | None = None
    note: str = ""
    stats: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- running tools


class Timeout(Exception):
    pass


_timeout = MIN_TIMEOUT


def _timed(lab: Lab, argv: list[str]) -> tuple[float, str, str, float | None]:
    """``bench.run._timed`` with this scenario's timeout, killing the whole process group when it expires
    (``ip netns exec`` execs ``/usr/bin/time``, whose child would outlive a kill of the direct child)."""
    timer = ["/usr/bin/time", "-f", "MAXRSS %M"]
    start = time.perf_counter()
    p = subprocess.Popen(
        lab.in_scanner_cmd(timer + argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env(),
        start_new_session=True,
    )
    try:
        out, err = p.communicate(timeout=_timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise Timeout(f"timed out after {_timeout:.0f} s") from None
    took = time.perf_counter() - start
    m = re.search(r"MAXRSS (\d+)", err)
    rss = int(m.group(1)) / 1024 if m else None
    if p.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({p.returncode}): {err[-2000:]}")
    return took, out, err, rss


peers._timed = _timed  # bench.run's nmap and RustScan helpers run through the timeout above


def portlens_run(lab: Lab, targets: str, ports: str) -> tuple[float, Found, float | None, dict[str, Any]]:
    """The CLI, as a user runs it; returns its open ports and what the JSON says about loss and rate."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "r.json"
        took, _, _, rss = _timed(
            lab, [sys.executable, "-m", "portlens.cli", "scan", targets, "-p", ports, "-q", "-o", str(out)]
        )
        doc = json.loads(out.read_text())
    found = {(p["host"], p["port"]) for p in doc["ports"] if p["state"] == "open"}
    hosts = [h for h in doc.get("hosts", []) if h.get("stats")]
    tot = {k: sum(h["stats"].get(k) or 0 for h in hosts) for k in ("probes", "retransmissions", "pilots", "unresolved")}
    rates = [h["stats"]["rate"] for h in hosts if h["stats"].get("rate")]
    stats = {
        **tot,
        "hosts_with_stats": len(hosts),
        "hosts_up": sum(h.get("state", "up") == "up" for h in doc.get("hosts", [])),
        "rate_cuts": sum(h["stats"].get("rate_cuts") or 0 for h in hosts),
        "max_drop_rate": max((h["stats"].get("drop_rate") or 0 for h in hosts), default=0),
        "host_rate_median": sorted(rates)[len(rates) // 2] if rates else None,
        "scan_rate": doc.get("stats", {}).get("scan_rate"),
        "scan_rate_cuts": doc.get("stats", {}).get("scan_rate_cuts"),
        "attempts": doc.get("stats", {}).get("attempts"),  # every try, also to hosts never listed
        "warnings": list(doc.get("warnings", [])),
        "status": doc.get("status"),
    }
    return took, found, rss, stats


def _portlens(lab: Lab, sc: Scenario) -> tuple[float, Found, float | None, dict[str, Any]]:
    return portlens_run(lab, _range(sc.hosts), _ports(sc.ports))


def _nmap(extra: list[str]) -> Callable[[Lab, Scenario], tuple[float, Found, float | None, dict[str, Any]]]:
    def go(lab: Lab, sc: Scenario) -> tuple[float, Found, float | None, dict[str, Any]]:
        return (*peers.nmap_run(lab, _range(sc.hosts), _ports(sc.ports), extra), {})

    return go


def _rustscan(lab: Lab, sc: Scenario) -> tuple[float, Found, float | None, dict[str, Any]]:
    return (*peers.rustscan_run(lab, ",".join(sc.hosts), _ports(sc.ports)), {})


TOOLS = {
    "portlens": _portlens,
    "nmap -sT -T4": _nmap(["-T4"]),
    "nmap -sT --min-rate 20000": _nmap(["--min-rate", "20000"]),
    "rustscan": _rustscan,
}


def _range(hosts: list[str]) -> str:
    """``a.b.c.x-y`` (portlens and nmap both read it); the hosts are contiguous in one /24."""
    if len(hosts) == 1:
        return hosts[0]
    first, last = hosts[0], hosts[-1]
    assert first.rsplit(".", 1)[0] == last.rsplit(".", 1)[0], hosts
    return f"{first}-{last.rsplit('.', 1)[1]}"


def _ports(ports: list[int]) -> str:
    if ports == list(range(ports[0], ports[-1] + 1)):
        return f"{ports[0]}-{ports[-1]}"
    return ",".join(map(str, ports))


# --------------------------------------------------------------------------- scenarios


def _bound(n_hosts: int, n_ports: int, limit: int | None, per_host: bool) -> float | None:
    if limit is None:
        return None
    return n_ports * (1 if per_host else n_hosts) / limit


RISK = 1e-4  # the chance portlens accepts that an open port was lost on every try (congestion.rs)


def exact_bound(sc: Scenario, truth: Found) -> float | None:
    """The least time any scanner needs to keep portlens's promise behind this limiter: every try
    that reaches the limiter costs a token; an answering port needs 1 / (1 - p) tries on average,
    and a silent one (a closed port behind drop-closed) ``max(2, ⌈log 1e-4 / log p⌉)``, where ``p``
    is the chance that a try or its answer is lost at random. Without random loss and drop-closed
    it is the plain bound (one SYN a port); otherwise it is what that promise costs at best.
    """
    kw = sc.settings
    limit = kw.get("syn_limit")
    if not limit:
        return None
    syn_loss, loss = kw.get("syn_loss_pct", 0) / 100, kw.get("loss_pct", 0) / 100
    # Random drops of SYNs happen before the limiter (they cost no token), answers after it.
    passes = (1 - syn_loss) * (1 - loss)
    p = 1 - passes * (1 - loss)
    silent_tries = max(2, math.ceil(math.log(RISK) / math.log(p))) if p > 0 else 2
    open_by_host: dict[str, int] = {}
    for h, _ in truth:
        open_by_host[h] = open_by_host.get(h, 0) + 1
    tokens = []
    for h in sc.hosts:
        n_open = open_by_host.get(h, 0)
        n_silent = len(sc.ports) - n_open if kw.get("drop_closed") else 0
        answering = len(sc.ports) - n_silent
        tokens.append(passes * (answering / (1 - p) + n_silent * silent_tries))
    per_host = kw.get("per_host", sc.part != "shared")  # lab.set_defence's default
    return float(max(tokens) if per_host else sum(tokens)) / float(limit)


def scenarios(lab: Lab, seed: int) -> list[Scenario]:
    import portlens

    rng = random.Random(seed)

    def s() -> int:  # one seed per scenario, printed
        return rng.randrange(1 << 32)

    one = [LIMIT_V4[0]]
    allp = list(range(1, 65536))
    out = [
        Scenario("no defence, 65535 ports", "limit", {"seed": s()}, one, allp, None),
        Scenario(
            "SYN limit 300/s burst 20, 6000 ports",
            "limit",
            {"seed": s(), "syn_limit": 300, "burst": 20, "port_range": (1, 6000)},
            one,
            list(range(1, 6001)),
            6000 / 300,
        ),
        Scenario(
            "SYN limit 3000/s, 65535 ports",
            "limit",
            {"seed": s(), "syn_limit": 3000, "burst": 20},
            one,
            allp,
            65535 / 3000,
        ),
        Scenario(
            "SYN limit 20000/s, 65535 ports",
            "limit",
            {"seed": s(), "syn_limit": 20000, "burst": 50},
            one,
            allp,
            65535 / 20000,
        ),
    ]
    for pct in (1, 5, 20):
        out.append(
            Scenario(
                f"SYN loss {pct} %, 65535 ports", "limit", {"seed": s(), "syn_loss_pct": pct}, one, allp, None, True
            )
        )
    # upstream router, one bucket for 128 hosts x portlens's top-100 (open ports drawn among them)
    top = sorted(portlens.top_ports("top-100"))
    sseed = s()
    srng = random.Random(sseed)
    shosts = [f"198.19.64.{i}" for i in range(1, 129)]
    sopen = {h: sorted(srng.sample(top, srng.randint(1, 8))) for h in shosts}
    out.append(
        Scenario(
            "shared 2000/s, 128 hosts x top-100",
            "shared",
            {"seed": sseed, "hosts": 128, "syn_limit": 2000, "burst": 20, "open_ports": sopen},
            shosts,
            top,
            128 * 100 / 2000,
        )
    )
    out.append(
        Scenario(
            "SYN limit 2000/s + drop closed, 10000 ports",
            "limit",
            {"seed": s(), "syn_limit": 2000, "burst": 20, "drop_closed": True, "port_range": (1, 10000)},
            one,
            list(range(1, 10001)),
            10000 / 2000,
        )
    )
    rhosts = [f"198.19.96.{i}" for i in range(1, 17)]
    out.append(
        Scenario(
            "relay 100 ms one way, 3 % loss, 16 hosts x 1000 ports",
            "relay",
            {"seed": s(), "hosts": 16, "delay_ms": 100, "loss_pct": 3, "port_range": (1, 1000)},
            rhosts,
            list(range(1, 1001)),
            None,
        )
    )
    for part in ("limit", "shared", "relay"):
        out.append(_random_scenario(part, s()))
    return out


def _random_scenario(part: str, seed: int) -> Scenario:
    """``random_defence(part, seed)``, its port range (and if need be its hosts) trimmed to a ~25 s bound."""
    kw = random_defence(part, seed)
    limit, per_host = kw["syn_limit"], kw["per_host"]
    n_hosts = 3 if part == "limit" else min(kw["hosts"], 255)  # limit: its three IPv4 addresses
    trimmed = []
    if part != "limit" and n_hosts != kw["hosts"]:
        trimmed.append(f"hosts {kw['hosts']} -> {n_hosts}")
    per_port = (1 if per_host else n_hosts) / limit  # s of bound per scanned port
    if not per_host and 10 * per_port > TARGET_BOUND:  # even 10 ports are too slow: fewer hosts
        n = max(1, int(TARGET_BOUND * limit / 10))
        if part != "limit":
            trimmed.append(f"hosts {n_hosts} -> {n}")
            n_hosts = n
            per_port = n_hosts / limit
    n_ports = max(10, min(65535, int(TARGET_BOUND / per_port)))
    trimmed.append(f"ports 1-{n_ports}")
    kw["port_range"] = (1, n_ports)
    if part != "limit":
        kw["hosts"] = n_hosts
        base = "198.19.64." if part == "shared" else "198.19.96."
        hosts = [f"{base}{i}" for i in range(1, n_hosts + 1)]
    else:
        hosts = list(LIMIT_V4)
    desc = (
        f"{limit}/s burst {kw['burst']} {'per host' if per_host else 'one bucket'}"
        + (f", SYN loss {kw['syn_loss_pct']} %" if kw["syn_loss_pct"] else "")
        + (f", loss {kw['loss_pct']} %" if kw["loss_pct"] else "")
        + (", drop closed" if kw["drop_closed"] else "")
        + (f", {kw['delay_ms']}±{kw['jitter_ms']} ms" if part == "relay" else "")
    )
    name = f"random {part} #{seed}: {desc}, {len(hosts)} hosts x {n_ports} ports"
    bound = _bound(len(hosts), n_ports, limit, per_host)
    return Scenario(name, part, kw, hosts, list(range(1, n_ports + 1)), bound, note="trimmed: " + ", ".join(trimmed))


def truth_of(lab: Lab, sc: Scenario) -> Found:
    t = lab.truth[sc.part]
    scanned = set(sc.ports)
    return {(h, p) for h in sc.hosts for p in t["open_ports"].get(h, []) if p in scanned}


# --------------------------------------------------------------------------- report


def _fmt_s(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def _pl_note(st: dict[str, Any], n_ports: int, n_hosts: int) -> str:
    if not st:
        return ""
    bits = [f"hosts up {st['hosts_up']}/{n_hosts}"] if st.get("hosts_up") != n_hosts else []
    if st.get("hosts_with_stats"):
        bits += [f"{st['probes'] / max(1, n_ports):.2f} probes/port", f"{st['retransmissions']} retx"]
    elif st.get("attempts") is not None:  # no host answered: only the scan's own count
        bits.append(f"{st['attempts'] / max(1, n_ports):.2f} tries/port, no host listed")
    if st.get("rate_cuts"):
        bits.append(f"{st['rate_cuts']} cuts")
    if st.get("host_rate_median"):
        bits.append(f"host rate {st['host_rate_median']:.0f}/s")
    if st.get("scan_rate"):
        bits.append(f"scan rate {st['scan_rate']:.0f}/s")
    if st.get("max_drop_rate"):
        bits.append(f"drop {st['max_drop_rate']:.2f}")
    if st.get("unresolved"):
        bits.append(f"{st['unresolved']} unresolved")
    if st.get("warnings"):
        bits.append(f"{len(st['warnings'])} warning(s)")
    return ", ".join(bits)


def render(scs: list[Scenario], runs: list[Run], seed: int, unl: float | None) -> str:
    byname = {sc.name: sc for sc in scs}
    lines = [
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}; lab: veth links between network namespaces, nftables defences "
        f"(lab/defences.py). Run seed: `{seed}` (`python -m bench.defences --seed {seed}`).",
        "",
        "Bound: SYNs that must pass the limiter ÷ its rate (one per port, times the hosts behind one bucket); "
        "loss-only rows: portlens's time without defences (unl.). Timeout per tool: max(120 s, 10 × bound).",
        "",
        "Exact bound: the least time a scanner needs to *keep the promise* behind the limiter (`exact_bound`): "
        "with random loss p, an answering port costs 1/(1−p) tries and a port silent behind drop-closed "
        "max(2, ⌈log 10⁻⁴ / log p⌉), each try that reaches the limiter a token. It equals the bound without "
        "loss or drop-closed. A tool faster than it has missed ports or accepted more risk.",
        "",
        "| scenario | tool | wall s | found | missed | invented | bound s | time ÷ bound | exact bound s "
        "| time ÷ exact | peak RSS MB | portlens stats |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    truths = {sc.name: sc.truth for sc in scs if sc.truth}
    for r in runs:  # runs recorded before scenarios kept their truth: an exact run's ports
        if r.seconds and not (r.missed or r.invented):
            truths.setdefault(r.scenario, r.found)
    for r in runs:
        sc = byname[r.scenario]
        exact = exact_bound(sc, truths[sc.name]) if sc.name in truths else None
        bound = sc.bound if sc.bound is not None else (unl if sc.unlimited else None)
        bcell = "–" if bound is None else (f"unl. {bound:.2f}" if sc.bound is None else _fmt_s(bound))
        if r.seconds is None:
            cells = f"{r.note} | – | – | – | {bcell} | – | {_fmt_s(exact)} | – | – |"
            lines.append(f"| {r.scenario} | {r.tool} | {cells} |")
            continue
        ratio = f"{r.seconds / bound:.2f}" if bound else "–"
        ratio_exact = f"{r.seconds / exact:.2f}" if exact else "–"
        rss = f"{r.rss_mb:.0f}" if r.rss_mb else "–"
        note = _pl_note(r.stats, len(sc.hosts) * len(sc.ports), len(sc.hosts)) if r.tool == "portlens" else r.note
        lines.append(
            f"| {r.scenario} | {r.tool} | {_fmt_s(r.seconds)} | {len(r.found)} | {r.missed} | {r.invented} | "
            f"{bcell} | {ratio} | {_fmt_s(exact)} | {ratio_exact} | {rss} | {note} |"
        )
    lines += ["", "Scenario seeds and settings (`lab.set_defence(part, **settings)`):", ""]
    for sc in scs:
        if not any(r.scenario == sc.name for r in runs):
            continue
        kw = {k: v for k, v in sc.settings.items() if k != "open_ports"}
        extra = f" ({sc.note})" if sc.note else ""
        ops = " open_ports drawn from the seed among the scanned ports" if "open_ports" in sc.settings else ""
        lines.append(f"- {sc.name}: part `{sc.part}`, `{json.dumps(kw)}`{ops}{extra}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    global _timeout
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, help="run seed (default: random, printed)")
    ap.add_argument("--only", action="append", help="scenario name prefix (repeatable)")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma list of tools")
    ap.add_argument("--out", default=str(ROOT / "bench" / "defences-results.md"))
    ap.add_argument("--render", metavar="JSON", help="only write the table again from a run's raw JSON")
    args = ap.parse_args(argv)
    if args.render:
        return rerender(Path(args.render), Path(args.out))
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    print(f"bench.defences: run seed {seed}", file=sys.stderr)
    runs: list[Run] = []
    unl: float | None = None
    with Lab.create(tag="bdef", parts=("limit", "shared", "relay")) as lab:
        scs = scenarios(lab, seed)
        for sc in scs:
            if args.only and not any(sc.name.startswith(o) for o in args.only) and not sc.name.startswith("no defence"):
                continue
            print(f"== {sc.name} (seed {sc.settings.get('seed')}, bound {_fmt_s(sc.bound)} s)", file=sys.stderr)
            bound = sc.bound if sc.bound is not None else (unl if sc.unlimited else None)
            _timeout = max(MIN_TIMEOUT, 10 * bound) if bound else MIN_TIMEOUT
            for tool in args.tools.split(","):
                lab.set_defence(sc.part, **sc.settings)  # the same scenario, a fresh bucket, for every tool
                truth = sc.truth = truth_of(lab, sc)
                time.sleep(1.0)
                try:
                    took, found, rss, stats = TOOLS[tool](lab, sc)
                except Timeout as e:
                    runs.append(Run(sc.name, tool, None, note=str(e)))
                    print(f"   {tool:28} {e}", file=sys.stderr)
                    continue
                except (FileNotFoundError, RuntimeError) as e:
                    runs.append(Run(sc.name, tool, None, note=f"not run: {str(e)[:80]}"))
                    print(f"   {tool:28} not run: {e}", file=sys.stderr)
                    continue
                r = Run(sc.name, tool, took, found, len(truth - found), len(found - truth), rss, stats=stats)
                runs.append(r)
                if tool == "portlens" and sc.name.startswith("no defence"):
                    unl = took
                extra = f"  {_pl_note(stats, len(sc.hosts) * len(sc.ports), len(sc.hosts))}" if stats else ""
                print(
                    f"   {tool:28} {took:8.2f} s  open {len(truth)}  missed {r.missed}  invented {r.invented}{extra}",
                    file=sys.stderr,
                )
                warnings = stats.get("warnings", [])
                for w in warnings[:3]:
                    print(f"      warning: {w}", file=sys.stderr)
                if len(warnings) > 3:
                    print(f"      ... and {len(warnings) - 3} more warnings", file=sys.stderr)
    table = render(scs, runs, seed, unl)
    print(table)
    Path(args.out).write_text("# Benchmark results: scanning under network defences\n\n" + table)
    raw = ROOT / "bench" / "out" / "defences.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(
        json.dumps(
            {
                "seed": seed,
                "scenarios": [{**sc.__dict__, "settings": dict(sc.settings), "truth": sorted(sc.truth)} for sc in scs],
                "runs": [{**r.__dict__, "found": sorted(r.found)} for r in runs],
            },
            indent=1,
            default=str,
        )
    )
    return 0


def rerender(raw: Path, out: Path) -> int:
    """The table of an earlier run, from its ``bench/out/defences.json`` (e.g. after the table changed)."""
    doc = json.loads(raw.read_text())
    fields = Scenario.__dataclass_fields__
    scs = [Scenario(**{k: v for k, v in d.items() if k in fields}) for d in doc["scenarios"]]
    for sc in scs:
        sc.truth = {(h, p) for h, p in sc.truth}
        if isinstance(sc.settings.get("port_range"), list):
            sc.settings["port_range"] = tuple(sc.settings["port_range"])
    runs = [Run(**{**d, "found": {(h, p) for h, p in d["found"]}}) for d in doc["runs"]]
    unl = next((r.seconds for r in runs if r.tool == "portlens" and r.scenario.startswith("no defence")), None)
    table = render(scs, runs, doc["seed"], unl)
    out.write_text("# Benchmark results: scanning under network defences\n\n" + table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``relay`` part: a high-RTT lossy path built in user space (this kernel has no netem).

Topology (see ``lab/__init__.py``)::

    scan --198.18.10.0/24-- relay [TUN A <-relay program-> TUN B] --198.18.11.0/24-- relay_t (198.19.96.0/24)

Policy routing in the relay namespace sends what arrives from the scanner into TUN A and what arrives from
the hosts into TUN B; the relay program (``lab/relay.c``, compiled with gcc into the lab's run folder when
the part is built) holds each packet for ``delay_ms`` +- ``jitter_ms``, drops ``loss_pct`` % of them, and
writes it to the other device, whose rules forward it on.  Only lab addresses are routed, and the program
drops (and counts) any packet whose source or destination is outside 198.18.0.0/15 / 2001:db8::/32.

Started as one of the lab's servers::

    ip netns exec pl-<tag>-relay python3 -m lab.relay serve --bin B --tun-a A --tun-b B --conf C --status S
        --lab-tag TAG --parent PID

a single-threaded supervisor that runs the compiled program as its child with ``argv[0] = "lab.relay"`` (so a
later cleanup recognises it by its command line) and ``PR_SET_PDEATHSIG`` (safe here: the parent-death signal
follows the parent THREAD, and the supervisor has one), forwards SIGHUP/SIGUSR1 to it, and stops it on SIGTERM
or as soon as the lab process is gone.  Settings change at run time without a restart: :func:`configure`
rewrites the conf file and sends SIGHUP, then waits until the status file shows the new generation.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import Lab

SOURCE = Path(__file__).with_name("relay.c")
TXQUEUELEN = 10000  # TUN default is 500: a burst the program has not read yet must not overflow it


def _paths(lab: Lab) -> dict[str, Path]:
    d = lab.run_dir
    return {"bin": d / "relay", "conf": d / "relay.conf", "status": d / "relay.status"}


def _devices(lab: Lab) -> tuple[str, str, str, str]:
    """(scanner-side veth, hosts-side veth, TUN A, TUN B) in the relay namespace."""
    from .core import _PART_LETTER

    p = f"pl{lab._hash4}{_PART_LETTER['relay']}"
    return lab._veths("relay")[2], f"{p}2", f"{p}4", f"{p}5"


def compile_relay(dest: Path) -> Path:
    """gcc the relay program into ``dest`` (a fraction of a second; no other build step)."""
    from .core import LabError

    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise LabError("the relay part needs gcc (Debian: build-essential)")
    r = subprocess.run([gcc, "-O2", "-Wall", "-o", str(dest), str(SOURCE)], capture_output=True, text=True)
    if r.returncode != 0:
        raise LabError(f"gcc {SOURCE} failed:\n{r.stderr}")
    return dest


def _routing(lab: Lab, ns: str) -> None:
    """Scanner -> TUN A, TUN B -> hosts, hosts -> TUN B, TUN A -> scanner: each direction crosses the
    program once.  Rules by input device, ahead of the main table; only lab ranges are routed."""
    from .core import _run
    from .defences import RELAY_BLOCK, SPECS, _sysctl

    spec = SPECS["relay"]
    scan_if, inner_if, tun_a, tun_b = _devices(lab)
    scanner_net, hosts_gw = f"198.18.{spec.net}.0/24", f"198.18.{spec.inner}.2"
    # Strict reverse-path checks would drop what comes out of a TUN (its source is routed elsewhere).
    for key in ("all", "default"):
        _sysctl(ns, f"net.ipv4.conf.{key}.rp_filter", "0")
    _sysctl(ns, "net.ipv4.ip_forward", "1")
    for tun in (tun_a, tun_b):
        _run(["ip", "-n", ns, "tuntap", "add", "dev", tun, "mode", "tun"])
        # IPv4 only: no router solicitations or MLD reports from the TUNs (the program would count them unsafe)
        _sysctl(ns, f"net.ipv6.conf.{tun}.disable_ipv6", "1")
        _run(["ip", "-n", ns, "link", "set", "dev", tun, "txqueuelen", str(TXQUEUELEN), "up"])
    table = [
        (scan_if, ["route", "add", str(RELAY_BLOCK), "dev", tun_a]),
        (tun_b, ["route", "add", str(RELAY_BLOCK), "via", hosts_gw, "dev", inner_if]),
        (inner_if, ["route", "add", scanner_net, "dev", tun_b]),
        (tun_a, ["route", "add", scanner_net, "dev", scan_if]),
    ]
    for i, (iif, route) in enumerate(table):
        _run(["ip", "-n", ns, "rule", "add", "pref", str(100 + i), "iif", iif, "lookup", str(100 + i)])
        _run(["ip", "-n", ns, *route, "table", str(100 + i)])


def build_relay(lab: Lab) -> None:
    """TUN devices, policy routing and the relay program of the ``relay`` part (its links exist)."""
    ns = f"pl-{lab.tag}-relay"
    paths = _paths(lab)
    compile_relay(paths["bin"])
    _routing(lab, ns)
    _write_conf(paths["conf"], 0, {"delay_ms": 0, "jitter_ms": 0, "loss_pct": 0.0, "seed": 0})
    _, _, tun_a, tun_b = _devices(lab)
    args = ["serve", "--bin", str(paths["bin"]), "--tun-a", tun_a, "--tun-b", tun_b]
    lab._start_server("relay", [*args, "--conf", str(paths["conf"]), "--status", str(paths["status"])], "lab.relay")


def _write_conf(path: Path, gen: int, d: dict[str, Any]) -> None:
    line = f"{gen} {d['delay_ms'] * 1000} {d['jitter_ms'] * 1000} {round(d['loss_pct'] * 100)} {d['seed'] % (1 << 64)}"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(line + "\n")
    os.replace(tmp, path)


def _relay_pid(lab: Lab) -> int:
    from .core import LabError

    for srv in lab._servers:
        if srv.kind == "relay" and srv.proc.poll() is None:
            return srv.proc.pid
    raise LabError("the relay program is not running")


def tun_dropped(lab: Lab) -> list[int]:
    """Packets the kernel dropped at [TUN A, TUN B] because the program did not read them in time (its queue
    of :data:`TXQUEUELEN` was full): loss the relay added of its own, non-zero only when overloaded."""
    from .core import _run

    ns, (_, _, tun_a, tun_b) = f"pl-{lab.tag}-relay", _devices(lab)
    return [
        json.loads(_run(["ip", "-s", "-j", "-n", ns, "link", "show", "dev", t]))[0]["stats64"]["tx"]["dropped"]
        for t in (tun_a, tun_b)
    ]


def status(lab: Lab, fresh: bool = True) -> dict[str, Any]:
    """The relay's counters (per direction [scanner->hosts, hosts->scanner]): relayed, lost (the configured
    loss), unsafe (outside the lab ranges), overflow, write_errors, queued, max_queued, tun_dropped (see
    :func:`tun_dropped`); and its settings."""
    path = _paths(lab)["status"]
    before = path.stat().st_mtime_ns if fresh and path.exists() else None
    if fresh:
        os.kill(_relay_pid(lab), signal.SIGUSR1)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and (not path.exists() or path.stat().st_mtime_ns == before):
            time.sleep(0.002)
    return {**json.loads(path.read_text()), "tun_dropped": tun_dropped(lab)}


def configure(lab: Lab, d: dict[str, Any], timeout: float = 10.0) -> None:
    """Put delay, jitter and loss in force: new conf generation, SIGHUP, wait for the status to show it."""
    from .core import LabError

    paths = _paths(lab)
    gen = int(paths["conf"].read_text().split()[0]) + 1
    _write_conf(paths["conf"], gen, d)
    signalled = 0.0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            st = json.loads(paths["status"].read_text())
        except (OSError, ValueError):  # not started yet (it reads the conf at start) or being replaced
            st = None
        if st is not None and st.get("gen") == gen:
            return
        # The status exists: the program's handler is in place.  Resent now and then: a reload is idempotent.
        if st is not None and time.monotonic() - signalled > 0.25:
            os.kill(_relay_pid(lab), signal.SIGHUP)
            signalled = time.monotonic()
        time.sleep(0.005)
    raise LabError(f"relay did not take conf generation {gen} within {timeout}s")


# --------------------------------------------------------------------------- main


def _pdeathsig() -> None:
    """In the child before exec: SIGTERM when its parent (this single-threaded supervisor) dies."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def serve(a: argparse.Namespace) -> int:
    """Run the relay program as a child with a parent-death signal; forward SIGHUP/SIGUSR1 to it; stop it on
    SIGTERM or as soon as the lab (``--parent``) is gone."""
    stop: list[int] = []
    box: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: object) -> None:
        if box and box[0].poll() is None:  # one that comes before the child exists is lost: configure() resends
            box[0].send_signal(signum)

    # Handlers before the child exists: configure() signals only once the child wrote its status file.
    for sig in (signal.SIGHUP, signal.SIGUSR1):
        signal.signal(sig, forward)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _s, _f: stop.append(1))
    args = [a.tun_a, a.tun_b, a.conf, a.status, "--lab-tag", a.lab_tag, "--parent", str(os.getpid())]
    # argv[0] "lab.relay": a later cleanup recognises the program by its command line
    box.append(
        subprocess.Popen(["lab.relay", *args], executable=a.bin, stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig)
    )
    child = box[0]
    while not stop and child.poll() is None and os.getppid() == a.parent:
        time.sleep(0.5)
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(3.0)
        except subprocess.TimeoutExpired:
            child.kill()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m lab.relay")
    ap.add_argument("cmd", choices=("serve",))
    for opt in ("--bin", "--tun-a", "--tun-b", "--conf", "--status"):
        ap.add_argument(opt, required=True)
    ap.add_argument("--lab-tag", default="", help="marker for cleanup only")
    ap.add_argument("--parent", type=int, default=0, help="exit when this parent is gone")
    return serve(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

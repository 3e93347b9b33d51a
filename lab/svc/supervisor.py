"""The ``svc`` supervisor: starts every daemon family, waits until all ports accept, stops them all."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .brokers import _mosquitto
from .certs import make_certs
from .common import _Supervisor
from .databases import _mariadb, _memcached, _postgres, _postgres_prep, _redis
from .desktop import _vnc, _xrdp
from .files import _samba, _vsftpd
from .shells import _sshd, _telnet_loop
from .standins import _standins
from .truth import HARD, SERVICES, WEAK
from .web import _nginx

READY_TIMEOUT = 90.0


def _port_open(addr: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.3)
        return s.connect_ex((addr, port)) == 0


async def _main(root: Path, parent: int) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sv = _Supervisor(root)
    stop_telnet = threading.Event()
    telnet_children: list[subprocess.Popen[bytes]] = []
    telnet_sock = None
    servers: list[asyncio.AbstractServer] = []
    try:
        pg_prep = _postgres_prep(sv)
        certs = make_certs(root / "certs")
        _vsftpd(sv, "ftp-weak", WEAK, SERVICES["ftp-weak"]["port"], anonymous=True)
        _vsftpd(sv, "ftp-hard", HARD, SERVICES["ftp-hard"]["port"], anonymous=False)
        _redis(sv, "redis-weak", WEAK, SERVICES["redis-weak"]["port"], None)
        _redis(sv, "redis-hard", HARD, SERVICES["redis-hard"]["port"], os.urandom(12).hex())
        _samba(sv, "smb-weak", WEAK, "445 139", weak=True)
        _samba(sv, "smb-hard", HARD, "445", weak=False)
        _sshd(sv, "ssh-weak", WEAK, SERVICES["ssh-weak"]["port"], weak=True)
        _sshd(sv, "ssh-hard", HARD, SERVICES["ssh-hard"]["port"], weak=False)
        _nginx(sv, certs)
        _mariadb(sv, WEAK, SERVICES["mariadb"]["port"])
        _mosquitto(sv, "mqtt-weak", WEAK, SERVICES["mqtt-weak"]["port"], anonymous=True)
        _mosquitto(sv, "mqtt-hard", HARD, SERVICES["mqtt-hard"]["port"], anonymous=False)
        _memcached(sv, WEAK, SERVICES["memcached"]["port"])
        _vnc(sv, "vnc-weak", WEAK, SERVICES["vnc-weak"]["port"], None)
        _vnc(sv, "vnc-hard", HARD, SERVICES["vnc-hard"]["port"], "labpass1")
        _xrdp(sv, WEAK, SERVICES["rdp-weak"]["port"], certs)
        telnet_sock = _telnet_loop(WEAK, SERVICES["telnet"]["port"], stop_telnet, telnet_children)
        servers = await _standins(certs)
        deadline = time.monotonic() + 60
        while pg_prep.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if pg_prep.returncode != 0:
            raise RuntimeError(f"initdb failed: {(sv.logs / 'prep-postgres.log').read_text()[-2000:]}")
        _postgres(sv, WEAK, SERVICES["postgresql"]["port"])
        pending = {k: (s["addr"], s["port"]) for k, s in SERVICES.items()}
        deadline = time.monotonic() + READY_TIMEOUT
        while pending:
            for k, (a, p) in list(pending.items()):
                if await loop.run_in_executor(None, _port_open, a, p):
                    del pending[k]
            dead = sv.dead()
            if dead or time.monotonic() > deadline:
                logs = {n: (sv.logs / f"{n}.log").read_text(errors="replace")[-1500:] for n in dead}
                raise RuntimeError(f"services not up: {sorted(pending)}; exited: {dead}; logs: {logs}")
            if pending:
                await asyncio.sleep(0.1)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
        while not stop.is_set() and (parent <= 0 or os.getppid() == parent):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        return 0
    except Exception as e:  # noqa: BLE001 - reported to the lab builder
        print(f"lab.services: {e}", file=sys.stderr)
        return 1
    finally:
        stop_telnet.set()
        for s in servers:
            s.close()
        if telnet_sock is not None:
            telnet_sock.close()
        for c in telnet_children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(c.pid, signal.SIGKILL)
        sv.stop()


def server_main(prog: str, argv: list[str] | None, run: Callable[[Path, int], int]) -> int:
    """The command line of a lab server process (`prog run --dir D [--parent PID]`): `run(folder,
    parent pid)`, which exits when the parent is gone. `--lab-tag` only marks it for cleanup."""
    ap = argparse.ArgumentParser(prog=prog)
    ap.add_argument("command", choices=("run",))
    ap.add_argument("--dir", required=True, help="folder for configurations, data and logs")
    ap.add_argument("--lab-tag", default="", help="marker for cleanup only")
    ap.add_argument("--parent", type=int, default=0, help="exit when this parent is gone")
    args = ap.parse_args(argv)
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    return run(root, args.parent if args.parent > 0 else os.getppid())


def main(argv: list[str] | None = None) -> int:
    return server_main("python3 -m lab.services", argv, lambda root, parent: asyncio.run(_main(root, parent)))

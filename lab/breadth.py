"""The ``breadth`` lab part: real servers that identification met only as ``unknown`` (issue 14).

One target namespace (``pl-<tag>-breadth``) holds two addresses, ``WEAK`` (198.18.13.2) and
``HARD`` (198.18.13.3), each server on its standard port and on an odd one (identification goes by
protocol, never by port number):

* Samba as Windows has shipped it since 2017: SMB1 off. ``WEAK``: minimum dialect SMB 2.1
  (``SMB2_10``), signing not required; ``HARD``: minimum SMB 3.0 (``SMB3``), signing mandatory.
* DNS over UDP and TCP: BIND 9 on ``WEAK`` (recursion for anyone: an open resolver), dnsmasq on
  ``HARD`` (no recursion); both answer ``version.bind`` CHAOS TXT.
* snmpd: on ``WEAK`` port 161 and an odd one with only a private community (``public`` is never
  answered; an SNMPv3 engine discovery still is); on ``HARD`` an odd UDP port with ``public``.
* MariaDB that refuses the scanner's host (``root@localhost`` only): its error packet is all a
  scanner gets.

Started inside the namespace by :class:`lab.Lab` as
``ip netns exec pl-<tag>-breadth python3 -m lab.breadth run --dir RUN_DIR/breadth ...``: it writes each
server's configuration under ``--dir``, starts them (each in its own process group), waits until
each port answers, prints ``ready`` and stops them all on SIGTERM or when its parent is gone.

:data:`SERVICES` is the ground truth: address, port, transport, expected name, product and the
Debian package whose version the service must report.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .services import _private, _Supervisor, _write
from .svc.files import samba
from .svc.supervisor import server_main

WEAK = "198.18.13.2"
HARD = "198.18.13.3"
NET = 13  # 198.18.13.0/24 (scanner .1)
SNMP_PRIVATE = "portlens-lab-private"

#: key -> what runs there and what the scanner must find (``proto``: "tcp" or "udp").
SERVICES: dict[str, dict[str, Any]] = {
    "smb21": {"addr": WEAK, "port": 445, "proto": "tcp", "name": "smb", "product": "Samba smbd", "deb": "samba"},
    "smb21-odd": {"addr": WEAK, "port": 10445, "proto": "tcp", "name": "smb", "product": "Samba smbd", "deb": "samba"},
    "smb3": {"addr": HARD, "port": 445, "proto": "tcp", "name": "smb", "product": "Samba smbd", "deb": "samba"},
    "smb3-odd": {"addr": HARD, "port": 10445, "proto": "tcp", "name": "smb", "product": "Samba smbd", "deb": "samba"},
    "bind-tcp": {"addr": WEAK, "port": 53, "proto": "tcp", "name": "domain", "product": "ISC BIND", "deb": "bind9"},
    "bind-tcp-odd": {
        "addr": WEAK,
        "port": 10053,
        "proto": "tcp",
        "name": "domain",
        "product": "ISC BIND",
        "deb": "bind9",
    },
    "bind-udp": {"addr": WEAK, "port": 53, "proto": "udp", "name": "domain", "product": "ISC BIND", "deb": "bind9"},
    "bind-udp-odd": {
        "addr": WEAK,
        "port": 10053,
        "proto": "udp",
        "name": "domain",
        "product": "ISC BIND",
        "deb": "bind9",
    },
    "dnsmasq-tcp": {
        "addr": HARD,
        "port": 53,
        "proto": "tcp",
        "name": "domain",
        "product": "dnsmasq",
        "deb": "dnsmasq-base",
    },
    "dnsmasq-udp": {
        "addr": HARD,
        "port": 53,
        "proto": "udp",
        "name": "domain",
        "product": "dnsmasq",
        "deb": "dnsmasq-base",
    },
    "snmp-private": {"addr": WEAK, "port": 161, "proto": "udp", "name": "snmp", "product": "net-snmp", "deb": "snmpd"},
    "snmp-private-odd": {
        "addr": WEAK,
        "port": 10161,
        "proto": "udp",
        "name": "snmp",
        "product": "net-snmp",
        "deb": "snmpd",
    },
    "snmp-odd": {"addr": HARD, "port": 10161, "proto": "udp", "name": "snmp", "product": "net-snmp", "deb": "snmpd"},
    "mariadb-refusing": {
        "addr": HARD,
        "port": 13306,
        "proto": "tcp",
        "name": "mysql",
        "product": "MariaDB",
        "deb": "mariadb-server",
    },
}

#: Debian packages the servers come from (scripts/sysdeps.sh installs them).
PACKAGES = ("samba", "bind9", "dnsmasq-base", "snmpd", "mariadb-server")

READY_TIMEOUT = 90.0


def truth() -> dict[str, Any]:
    """What ``lab.truth["breadth"]`` holds."""
    return {"weak": WEAK, "hard": HARD, "services": {k: dict(v) for k, v in SERVICES.items()}}


def build(lab: Any) -> None:
    """Addresses and the supervisor of the ``breadth`` part (its link, with ``WEAK``, already exists)."""
    part = "breadth"
    ns = f"pl-{lab.tag}-{part}"
    _, _, target_if = lab._veths(part)
    lab._addr(ns, f"{HARD}/24", target_if)
    lab._start_server(part, ["run", "--dir", str(lab.run_dir / part)], module="lab.breadth")
    lab.truth[part] = truth()


# --------------------------------------------------------------------------- servers


def _samba(sv: _Supervisor, name: str, addr: str, min_protocol: str, signing: str) -> None:
    policy = f"server min protocol = {min_protocol}\n  server signing = {signing}\n"
    samba(sv, name, addr, "445 10445", policy, workgroup="PORTLENSLAB")


def _named(sv: _Supervisor, addr: str) -> None:
    d = sv.root / "named"
    d.mkdir(parents=True, exist_ok=True)
    conf = _write(
        d / "named.conf",
        f"""options {{
  directory "{d}";
  pid-file "{d}/named.pid";
  listen-on port 53 {{ {addr}; }};
  listen-on port 10053 {{ {addr}; }};
  listen-on-v6 {{ none; }};
  recursion yes;
  allow-recursion {{ any; }};
  allow-query {{ any; }};
  dnssec-validation no;
}};
controls {{ }};
""",
    )
    # -f: foreground; -u: none (root inside the lab's namespace); a private /run for its default files
    sv.start("named", _private("/run/named", ["/usr/sbin/named", "-f", "-c", str(conf), "-n", "1"]))


def _dnsmasq(sv: _Supervisor, addr: str, port: int) -> None:
    d = sv.root / f"dnsmasq-{port}"
    d.mkdir(parents=True, exist_ok=True)
    argv = ["/usr/sbin/dnsmasq", "--keep-in-foreground", "--no-daemon", "--conf-file=/dev/null", "--no-resolv"]
    argv += ["--no-hosts", f"--listen-address={addr}", "--bind-interfaces", f"--port={port}", "--user=root"]
    argv += [f"--pid-file={d / 'dnsmasq.pid'}"]
    sv.start(f"dnsmasq-{port}", argv)


def _snmpd(sv: _Supervisor, name: str, addr: str, ports: list[int], community: str) -> None:
    d = sv.root / name
    d.mkdir(parents=True, exist_ok=True)
    listen = ",".join(f"udp:{addr}:{p}" for p in ports)
    conf = _write(d / "snmpd.conf", f"agentAddress {listen}\nrocommunity {community} default\n", 0o600)
    argv = ["/usr/sbin/snmpd", "-f", "-C", "-c", str(conf), "-Lf", str(d / "snmpd.log"), "-p", str(d / "snmpd.pid")]
    # the persistent state (engine boots) goes to the run folder, not /var/lib/snmp; no MIB files read
    sv.start(name, [*argv, "-I", "-smux"], env={**os.environ, "SNMP_PERSISTENT_DIR": str(d), "MIBS": ""})


def _mariadb(sv: _Supervisor, addr: str, port: int) -> subprocess.Popen[bytes]:
    """A MariaDB with its grant tables: root@localhost only, so the scanner's host is refused."""
    d = sv.root / "mariadb"
    data = d / "data"
    if not (data / "mysql").exists():
        data.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={data}",
                "--user=root",
                "--auth-root-authentication-method=socket",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    argv = ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={d / 'mysqld.sock'}"]
    argv += [f"--port={port}", f"--bind-address={addr}", "--user=root", f"--pid-file={d / 'mysqld.pid'}"]
    argv += ["--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=16M"]
    argv += [f"--tmpdir={d}", "--log-error=" + str(d / "error.log")]
    return sv.start("mariadb", argv)


# --------------------------------------------------------------------------- readiness


def _tcp_open(addr: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.3)
        return s.connect_ex((addr, port)) == 0


def _udp_bound(addr: str, port: int) -> bool:
    """Something is bound to the UDP port here (``ss`` in this namespace)."""
    out = subprocess.run(["ss", "-Hlun", f"src {addr}:{port}"], capture_output=True, text=True, timeout=10).stdout
    return bool(out.strip())


def _ready(s: dict[str, Any]) -> bool:
    return _tcp_open(s["addr"], s["port"]) if s["proto"] == "tcp" else _udp_bound(s["addr"], s["port"])


def run(root: Path, parent: int) -> int:
    stop = False

    def _stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sv = _Supervisor(root)
    try:
        _samba(sv, "smb21", WEAK, "SMB2_10", "auto")
        _samba(sv, "smb3", HARD, "SMB3", "mandatory")
        _named(sv, WEAK)
        _dnsmasq(sv, HARD, 53)
        _snmpd(sv, "snmp-private", WEAK, [161, 10161], SNMP_PRIVATE)
        _snmpd(sv, "snmp-odd", HARD, [10161], "public")
        _mariadb(sv, HARD, SERVICES["mariadb-refusing"]["port"])
        pending = dict(SERVICES)
        deadline = time.monotonic() + READY_TIMEOUT
        while pending:
            for k, s in list(pending.items()):
                if _ready(s):
                    del pending[k]
            dead = sv.dead()
            if dead or time.monotonic() > deadline:
                logs = {n: (sv.logs / f"{n}.log").read_text(errors="replace")[-1500:] for n in dead}
                raise RuntimeError(f"breadth servers not up: {sorted(pending)}; exited: {dead}; logs: {logs}")
            if pending:
                time.sleep(0.1)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
        while not stop and (parent <= 0 or os.getppid() == parent):
            time.sleep(0.5)
        return 0
    except Exception as e:  # noqa: BLE001 - reported to the lab builder
        print(f"lab.breadth: {e}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
            sv.stop()


def main(argv: list[str] | None = None) -> int:
    return server_main("python3 -m lab.breadth", argv, run)


if __name__ == "__main__":
    sys.exit(main())

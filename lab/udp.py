"""The lab's UDP services and discovery targets: the ``udp`` and ``sparse`` parts (see ``lab/__init__.py``).

Built by :class:`lab.Lab` (``_build_udp`` / ``_build_sparse`` call :func:`build_udp` / :func:`build_sparse`).
The ``udp`` part runs real Debian servers (dnsmasq, snmpd, chronyd, memcached, in.tftpd) with config files in
the lab's run folder, all children of one supervisor started as::

    ip netns exec pl-<tag>-udp python3 -m lab.udp serve --spec FILE --lab-tag TAG --parent PID

The supervisor starts every daemon at once (each with ``PR_SET_PDEATHSIG``), prints ``ready`` once every
expected socket is bound, serves the resolver's in-lab upstream (a tiny DNS responder on ``127.0.0.53``
inside the namespace, so that recursion really works without leaving the lab), and stops its daemons on
SIGTERM or as soon as its parent is gone.  The daemons share its process group, so the lab's
``killpg`` reaches them too.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ipaddress
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import Lab

# --------------------------------------------------------------------------- the udp part

UDP_V4, UDP_V6 = "198.18.5.2", "2001:db8:5::2"
AUTH_V4, AUTH_V6 = "198.18.5.3", "2001:db8:5::3"
FILT_V4, FILT_V6 = "198.18.5.4", "2001:db8:5::4"
DEAD_V4, DEAD_V6 = "198.18.5.5", "2001:db8:5::5"
UDP_OPEN = [53, 69, 123, 161, 11211]
UDP_TCP_OPEN = [53, 11211]
UDP_SERVICES = {53: "domain", 69: "tftp", 123: "ntp", 161: "snmp", 11211: "memcache"}
AUTH_OPEN = [53]
AUTH_SILENT = [161]
AUTH_TCP_OPEN = [53]
DROP_PORTS = list(range(1000, 1010))
PROHIBITED_PORTS = list(range(2000, 2010))
SNMP_SYSDESCR = "portlens lab snmpd 198.18.5.2 (community public)"
SNMP_SYSNAME = "udp.portlens.lab"
AUTH_SNMP_SYSDESCR = "portlens lab hardened snmpd 198.18.5.3"
DNS_ZONE = "portlens.lab"
DNS_RECORDS = {f"www.{DNS_ZONE}": [AUTH_V4, AUTH_V6]}
UPSTREAM = ("127.0.0.53", 53)  # the resolver's upstream: the supervisor, on the namespace's loopback
UPSTREAM_A, UPSTREAM_AAAA = "198.18.5.99", "2001:db8:5::99"
UPSTREAM_TXT = "portlens lab upstream"
NTP_STRATUM = 8
TFTP_FILE, TFTP_TEXT = "hello.txt", b"portlens lab tftp\n"

# --------------------------------------------------------------------------- the sparse part

SPARSE_BLOCK = ipaddress.IPv4Network("198.19.32.0/20")
SPARSE_GATEWAY = "198.18.6.2"
SPARSE_OPEN = [22]
SPARSE_CLOSED = [80, 443]

#: Kernel defaults of the per-peer ICMP error rate limit (ms), and of the namespace-wide ICMP budget.
ICMP_DEFAULTS = {
    "net.ipv4.icmp_ratelimit": 1000,
    "net.ipv6.icmp.ratelimit": 100,
    "net.ipv4.icmp_msgs_per_sec": 1000,
    "net.ipv4.icmp_msgs_burst": 50,
}
ICMP_UNLIMITED_BUDGET = {"net.ipv4.icmp_msgs_per_sec": 1_000_000, "net.ipv4.icmp_msgs_burst": 100_000}

DAEMONS = {
    "dnsmasq": "dnsmasq-base",
    "snmpd": "snmpd",
    "chronyd": "chrony",
    "memcached": "memcached",
    "in.tftpd": "tftpd-hpa",
}


def sparse_groups() -> dict[str, list[str]]:
    """The live addresses of the sparse block, by what they answer.

    Live: block index % 10 == 1 (410 of 4096; the rest is dead: every packet dropped). Among the live ones,
    index % 30 == 1 answers only ICMP echo (``ping_only``: all else dropped), index % 30 == 11 answers only
    TCP (``tcp_only``: ICMP dropped, 22 open, 80/443 closed), index % 30 == 21 answers both (``both``).
    """
    base = int(SPARSE_BLOCK.network_address)
    groups: dict[str, list[str]] = {"ping_only": [], "tcp_only": [], "both": []}
    names = {1: "ping_only", 11: "tcp_only", 21: "both"}
    for i in range(1, SPARSE_BLOCK.num_addresses, 10):
        groups[names[i % 30]].append(str(ipaddress.IPv4Address(base + i)))
    return groups


def sparse_live() -> list[str]:
    """Every live address of the sparse block, in address order."""
    live = [a for group in sparse_groups().values() for a in group]
    return sorted(live, key=lambda a: int(ipaddress.IPv4Address(a)))


@cache
def _versions() -> dict[str, str]:
    """Versions of the installed daemons, as their replies show them."""

    def out(argv: list[str]) -> str:
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
        except OSError:
            return ""
        return r.stdout + r.stderr

    def grab(pattern: str, text: str) -> str:
        m = re.search(pattern, text)
        return m.group(1) if m else ""

    return {
        "dnsmasq": grab(r"Dnsmasq version (\S+)", out(["dnsmasq", "--version"])),
        "memcached": grab(r"memcached (\S+)", out(["memcached", "-V"])),
        "chrony": grab(r"chronyd \(chrony\) version (\S+)", out(["chronyd", "-v"])),
        "snmpd": grab(r"NET-SNMP version:\s+(\S+)", out(["snmpd", "-v"])),
    }


def _missing_daemons() -> list[str]:
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return [pkg for exe, pkg in DAEMONS.items() if shutil.which(exe, path=path) is None]


# --------------------------------------------------------------------------- building


def _start_supervisor(lab: Lab, part: str, spec_path: Path) -> None:
    """Start ``python -m lab.udp serve`` in the part's namespace, registered like the lab's own servers."""
    lab._start_server(part, ["serve", "--spec", str(spec_path)], module="lab.udp")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def build_udp(lab: Lab) -> None:
    """Addresses, nft rules, configs and the supervisor of the ``udp`` part (its link already exists)."""
    from .core import LabError

    missing = _missing_daemons()
    if missing:
        raise LabError(f"the udp lab part needs {' '.join(missing)} (scripts/sysdeps.sh test installs them)")
    ns, _, target_if = lab._veths("udp")
    for addr in (f"{AUTH_V4}/24", f"{FILT_V4}/24", f"{DEAD_V4}/24"):
        lab._addr(ns, addr, target_if)
    for addr in (f"{AUTH_V6}/64", f"{FILT_V6}/64", f"{DEAD_V6}/64"):
        lab._addr(ns, addr, target_if)
    drop, rej = f"{DROP_PORTS[0]}-{DROP_PORTS[-1]}", f"{PROHIBITED_PORTS[0]}-{PROHIBITED_PORTS[-1]}"
    lab._nft(
        ns,
        f"""
table inet portlens {{
    chain input {{
        type filter hook input priority 0; policy accept;
        ip daddr {FILT_V4} udp dport {drop} drop
        ip6 daddr {FILT_V6} udp dport {drop} drop
        ip daddr {FILT_V4} udp dport {rej} reject with icmp type admin-prohibited
        ip6 daddr {FILT_V6} udp dport {rej} reject with icmpv6 type admin-prohibited
        ip daddr {DEAD_V4} drop
        ip6 daddr {DEAD_V6} icmpv6 type nd-neighbor-solicit accept
        ip6 daddr {DEAD_V6} drop
    }}
}}
""",
    )
    conf = lab.run_dir / "udp"
    conf.mkdir(mode=0o755, exist_ok=True)
    tftp = conf / "tftp"
    tftp.mkdir(mode=0o755)
    (tftp / TFTP_FILE).write_bytes(TFTP_TEXT)
    community = secrets.token_hex(8)
    # group=root: the switch to group "dip" would clear PR_SET_PDEATHSIG
    common_dns = "port=53\nbind-interfaces\nno-hosts\nno-poll\nno-resolv\nuser=root\ngroup=root\npid-file=\n"
    dns_rec = _write(
        conf / "dnsmasq-recursive.conf",
        common_dns + f"listen-address={UDP_V4}\nlisten-address={UDP_V6}\nserver={UPSTREAM[0]}#{UPSTREAM[1]}\n",
    )
    www = f"www.{DNS_ZONE}"
    dns_auth = _write(
        conf / "dnsmasq-auth.conf",
        common_dns
        + f"listen-address={AUTH_V4}\nlisten-address={AUTH_V6}\n"
        + f"auth-server=ns.{DNS_ZONE},{AUTH_V4},{AUTH_V6}\nauth-zone={DNS_ZONE}\n"
        + f"host-record={www},{','.join(DNS_RECORDS[www])}\n",
    )
    snmp_pub = _write(
        conf / "snmpd-public.conf",
        f"agentAddress udp:{UDP_V4}:161,udp6:[{UDP_V6}]:161\n"
        "rocommunity public default\nrocommunity6 public default\n"
        f"sysDescr {SNMP_SYSDESCR}\nsysName {SNMP_SYSNAME}\nsysLocation portlens lab\n"
        "sysContact lab@portlens.invalid\nsysServices 72\n",
    )
    snmp_hard = _write(
        conf / "snmpd-hardened.conf",
        f"agentAddress udp:{AUTH_V4}:161,udp6:[{AUTH_V6}]:161\n"
        f"rocommunity {community} default\nrocommunity6 {community} default\n"
        f"sysDescr {AUTH_SNMP_SYSDESCR}\n",
    )
    chrony = _write(
        conf / "chrony.conf",
        f"bindaddress {UDP_V4}\nbindaddress {UDP_V6}\nport 123\ncmdport 0\nbindcmdaddress /\n"
        f"allow all\nlocal stratum {NTP_STRATUM}\npidfile {conf / 'chronyd.pid'}\n",
    )
    for d in ("snmp-public", "snmp-hardened"):
        (conf / d).mkdir(mode=0o700)

    def snmpd(name: str, cfg: Path) -> dict[str, Any]:
        return {
            "name": name,
            "argv": [
                "snmpd",
                "-f",
                "-C",
                "-c",
                str(cfg),
                "-Lf",
                str(conf / f"{name}.log"),
                "-p",
                str(conf / f"{name}.pid"),
            ]
            + ["-I", "-smux"],
            "env": {"SNMP_PERSISTENT_DIR": str(conf / name), "MIBS": ""},
        }

    udp = [(UDP_V4, p) for p in (53, 123, 161, 11211)] + [(UDP_V6, p) for p in (53, 123, 161, 11211)]
    daemons: list[dict[str, Any]] = [
        {"name": "dnsmasq-recursive", "argv": ["dnsmasq", "-k", "-C", str(dns_rec)]},
        {"name": "dnsmasq-auth", "argv": ["dnsmasq", "-k", "-C", str(dns_auth)]},
        snmpd("snmp-public", snmp_pub),
        snmpd("snmp-hardened", snmp_hard),
        {"name": "chronyd", "argv": ["chronyd", "-d", "-x", "-u", "root", "-f", str(chrony)]},
        {
            "name": "memcached",
            "argv": ["memcached", "-u", "root", "-m", "8", "-c", "256", "-t", "1", "-p", "11211", "-U", "11211"]
            + ["-l", f"{UDP_V4},[{UDP_V6}]"],
        },
        {"name": "tftpd-v4", "argv": ["in.tftpd", "-L", "-4", "-u", "root", "-a", f"{UDP_V4}:69", "-s", str(tftp)]},
        {"name": "tftpd-v6", "argv": ["in.tftpd", "-L", "-6", "-u", "root", "-a", f"[{UDP_V6}]:69", "-s", str(tftp)]},
    ]
    sockets = [["udp", a, p] for a, p in udp]
    sockets += [["udp", a, 69] for a in (UDP_V4, UDP_V6)]
    sockets += [["udp", a, p] for a in (AUTH_V4, AUTH_V6) for p in (53, 161)]
    sockets += [["tcp", a, p] for a in (UDP_V4, UDP_V6) for p in UDP_TCP_OPEN]
    sockets += [["tcp", a, 53] for a in (AUTH_V4, AUTH_V6)]
    spec = {"daemons": daemons, "sockets": sockets, "log_dir": str(conf), "upstream": list(UPSTREAM)}
    spec_path = _write(conf / "spec.json", json.dumps(spec, indent=1))
    _start_supervisor(lab, "udp", spec_path)
    v = _versions()
    lab.truth["udp"] = {
        "ns": ns,
        "v4": UDP_V4,
        "v6": UDP_V6,
        "auth": AUTH_V4,
        "auth_v6": AUTH_V6,
        "filt": FILT_V4,
        "filt_v6": FILT_V6,
        "dead": DEAD_V4,
        "dead_v6": DEAD_V6,
        "open_ports": list(UDP_OPEN),
        "tcp_open_ports": list(UDP_TCP_OPEN),
        "services": {str(p): n for p, n in UDP_SERVICES.items()},
        "auth_open_ports": list(AUTH_OPEN),
        "auth_silent_ports": list(AUTH_SILENT),
        "auth_tcp_open_ports": list(AUTH_TCP_OPEN),
        "drop_ports": list(DROP_PORTS),
        "prohibited_ports": list(PROHIBITED_PORTS),
        "snmp_community": "public",
        "snmp_sysdescr": SNMP_SYSDESCR,
        "snmp_sysname": SNMP_SYSNAME,
        "auth_snmp_community": community,
        "auth_snmp_sysdescr": AUTH_SNMP_SYSDESCR,
        "dns_version_bind": f"dnsmasq-{v['dnsmasq']}",
        "dns_zone": DNS_ZONE,
        "dns_records": {k: list(a) for k, a in DNS_RECORDS.items()},
        "dns_upstream": {"A": UPSTREAM_A, "AAAA": UPSTREAM_AAAA, "TXT": UPSTREAM_TXT},
        "ntp_stratum": NTP_STRATUM,
        "ntp_mode7": False,
        "tftp_file": TFTP_FILE,
        "tftp_reply_from_other_port": True,
        "versions": dict(v),
        "icmp_ratelimit_ms": {"v4": ICMP_DEFAULTS["net.ipv4.icmp_ratelimit"], "v6": 100},
        "icmp_shared_bucket": [UDP_V4, AUTH_V4, FILT_V4],
    }


def build_sparse(lab: Lab) -> None:
    """The ``sparse`` part: AnyIP /20 behind 198.18.6.2, 90 % dead, live ones split by what they answer."""
    from .core import _assert_lab_addr, _run

    ns, scan_if, _ = lab._veths("sparse")
    block = str(SPARSE_BLOCK)
    _assert_lab_addr(str(SPARSE_BLOCK.network_address))
    _run(["ip", "-n", ns, "route", "add", "local", block, "dev", "lo"])
    _run(["ip", "-n", lab.scanner_ns, "route", "add", block, "via", SPARSE_GATEWAY, "dev", scan_if])
    g = sparse_groups()
    live = sparse_live()

    def elements(addrs: list[str]) -> str:
        return ", ".join(addrs)

    lab._nft(
        ns,
        f"""
table ip portlens {{
    set live {{ type ipv4_addr; elements = {{ {elements(live)} }} }}
    set ping_only {{ type ipv4_addr; elements = {{ {elements(g["ping_only"])} }} }}
    set tcp_only {{ type ipv4_addr; elements = {{ {elements(g["tcp_only"])} }} }}
    chain input {{
        type filter hook input priority 0; policy accept;
        ip daddr {block} ip daddr != @live drop
        ip daddr @ping_only icmp type echo-request accept
        ip daddr @ping_only drop
        ip daddr @tcp_only meta l4proto icmp drop
    }}
}}
""",
    )
    lab._start_server("sparse", ["listen", "--addr", "0.0.0.0", "--ports", ",".join(map(str, SPARSE_OPEN))])
    lab.truth["sparse"] = {
        "block": block,
        "gateway": SPARSE_GATEWAY,
        "live": live,
        "ping_only": g["ping_only"],
        "tcp_only": g["tcp_only"],
        "both": g["both"],
        "live_count": len(live),
        "dead_count": SPARSE_BLOCK.num_addresses - len(live),
        "open_ports": list(SPARSE_OPEN),
        "closed_ports": list(SPARSE_CLOSED),
    }


# --------------------------------------------------------------------------- ICMP rate limit


def _sysctl(ns: str, keys: list[str]) -> dict[str, int]:
    from .core import _run

    out = _run(["ip", "netns", "exec", ns, "sysctl", *keys])
    values = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        values[key.strip()] = int(value.strip())
    return values


def set_icmp_ratelimit(lab: Lab, part: str, ms: int | None) -> dict[str, int]:
    """Set the per-peer ICMP error rate limit of ``part``'s namespace; returns the previous values.

    ``ms`` goes to ``net.ipv4.icmp_ratelimit`` and ``net.ipv6.icmp.ratelimit`` (Linux lets an error through
    per peer every ``ms`` after a burst of 6).  ``0`` also lifts the namespace-wide ICMP budget
    (``net.ipv4.icmp_msgs_per_sec``/``_burst``, 1000/s after 50, which otherwise still drops errors of a
    fast scan); ``None`` restores the kernel defaults (1000 ms for IPv4, 100 ms for IPv6, budget 1000/50).
    """
    from .core import _run

    lab._require_open()
    if part not in lab.parts:
        raise ValueError(f"part {part!r} is not in this lab ({', '.join(lab.parts)})")
    if ms is not None and (not isinstance(ms, int) or ms < 0):
        raise ValueError(f"ms must be a non-negative int or None, got {ms!r}")
    ns = f"pl-{lab.tag}-{part}"
    old = _sysctl(ns, list(ICMP_DEFAULTS))
    if ms is None:
        new = dict(ICMP_DEFAULTS)
    else:
        new = {"net.ipv4.icmp_ratelimit": ms, "net.ipv6.icmp.ratelimit": ms}
        new.update(ICMP_UNLIMITED_BUDGET if ms == 0 else {k: ICMP_DEFAULTS[k] for k in ICMP_UNLIMITED_BUDGET})
    _run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *(f"{k}={v}" for k, v in new.items())])
    return old


@contextlib.contextmanager
def icmp_ratelimit(lab: Lab, part: str, ms: int | None) -> Iterator[None]:
    """``with icmp_ratelimit(lab, "udp", 0): ...`` sets the limit and puts the old values back."""
    from .core import _run

    old = set_icmp_ratelimit(lab, part, ms)
    try:
        yield
    finally:
        if not lab._closed:
            ns = f"pl-{lab.tag}-{part}"
            _run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *(f"{k}={v}" for k, v in old.items())])


# --------------------------------------------------------------------------- the supervisor


def _proc_net_addr(addr: str) -> str:
    """An address as /proc/net/{udp,tcp}[6] prints it (32-bit words in host byte order, hex)."""
    packed = socket.inet_pton(socket.AF_INET6 if ":" in addr else socket.AF_INET, addr)
    return "".join(f"{struct.unpack('=I', packed[i : i + 4])[0]:08X}" for i in range(0, len(packed), 4))


def _bound_sockets() -> set[tuple[str, str, int]]:
    """(proto, address as /proc prints it, port) of every bound UDP socket and listening TCP socket."""
    found = set()
    for proto, files in (("udp", ("udp", "udp6")), ("tcp", ("tcp", "tcp6"))):
        for name in files:
            try:
                lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                fields = line.split()
                if len(fields) < 4 or (proto == "tcp" and fields[3] != "0A"):
                    continue
                addr, _, port = fields[1].partition(":")
                found.add((proto, addr, int(port, 16)))
    return found


def _dns_answer(query: bytes) -> bytes | None:
    """The in-lab upstream: answers every query (A, AAAA, TXT, NS; others with no data), no AA, RA set."""
    if len(query) < 17 or query[2] & 0x80:
        return None
    i = 12
    while i < len(query) and query[i]:
        if query[i] & 0xC0:
            return None
        i += query[i] + 1
    if i + 5 > len(query):
        return None
    qname_end = i + 1
    qtype, qclass = struct.unpack("!HH", query[qname_end : qname_end + 4])
    question = query[12 : qname_end + 4]
    rdata = b""
    if qclass == 1 and qtype == 1:
        rdata = socket.inet_pton(socket.AF_INET, UPSTREAM_A)
    elif qclass == 1 and qtype == 28:
        rdata = socket.inet_pton(socket.AF_INET6, UPSTREAM_AAAA)
    elif qtype == 16:
        rdata = bytes([len(UPSTREAM_TXT)]) + UPSTREAM_TXT.encode()
    elif qtype == 2:
        rdata = b"".join(bytes([len(p)]) + p.encode() for p in ("ns", "upstream", "lab")) + b"\0"
    flags = 0x8000 | (query[2] & 0x79) << 8 | 0x80  # QR, opcode and RD copied, RA
    answer = b""
    if rdata:
        answer = struct.pack("!HHHIH", 0xC00C, qtype, qclass, 60, len(rdata)) + rdata
    return query[:2] + struct.pack("!HHHHH", flags, 1, 1 if answer else 0, 0, 0) + question + answer


def _pdeathsig() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the supervisor


def serve(spec: dict[str, Any], parent_pid: int, ready_timeout: float = 20.0) -> int:
    stop: list[int] = []
    wake_r, wake_w = os.pipe()  # the signal handler wakes select() at once
    os.set_blocking(wake_w, False)

    def on_signal(signum: int, _frame: object) -> None:
        stop.append(signum)
        with contextlib.suppress(OSError):
            os.write(wake_w, b"x")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    parent = parent_pid if parent_pid > 0 else os.getppid()
    log_dir = Path(spec["log_dir"])
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.bind((spec["upstream"][0], int(spec["upstream"][1])))
    up.setblocking(False)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for d in spec["daemons"]:
            with open(log_dir / f"{d['name']}.out", "wb") as log:
                procs[d["name"]] = subprocess.Popen(
                    d["argv"],
                    env={**os.environ, **d.get("env", {})},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_pdeathsig,  # noqa: PLW1509 - single-threaded here
                )
        want = {(p, _proc_net_addr(a), int(port)) for p, a, port in spec["sockets"]}
        deadline = time.monotonic() + ready_timeout
        while True:
            missing = want - _bound_sockets()
            dead = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
            if not missing:
                break
            if dead or time.monotonic() > deadline or stop:
                for name in dead or procs:
                    tail = (log_dir / f"{name}.out").read_text(errors="replace")[-1500:]
                    print(f"{name}: exit {dead.get(name)}; output:\n{tail}", file=sys.stderr)
                print(f"not bound: {sorted(missing)}", file=sys.stderr)
                return 1
            time.sleep(0.02)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
        reported: set[str] = set()
        while not stop and os.getppid() == parent:
            r, _, _ = select.select([up.fileno(), wake_r], [], [], 0.5)
            for _ in range(64 if up.fileno() in r else 0):
                try:
                    query, peer = up.recvfrom(4096)
                except (BlockingIOError, InterruptedError):
                    break
                reply = _dns_answer(query)
                if reply is not None:
                    with contextlib.suppress(OSError):
                        up.sendto(reply, peer)
            for name, p in procs.items():
                if p.poll() is not None and name not in reported:
                    reported.add(name)
                    print(f"{name} exited with {p.returncode}", file=sys.stderr)
        return 0
    finally:
        up.close()
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        end = time.monotonic() + 3.0
        for p in procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.0, end - time.monotonic()))
            if p.poll() is None:
                p.kill()
                p.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m lab.udp")
    ap.add_argument("cmd", choices=("serve",))
    ap.add_argument("--spec", required=True)
    ap.add_argument("--lab-tag", default="", help="marker for cleanup only")
    ap.add_argument("--parent", type=int, default=0, help="exit when this parent is gone")
    args = ap.parse_args(argv)
    return serve(json.loads(Path(args.spec).read_text()), args.parent)


if __name__ == "__main__":
    sys.exit(main())

"""The lab: a scanner network namespace wired to target namespaces with known ground truth.

See the package docstring (``lab/__init__.py``) for the API and the topology.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import ipaddress
import itertools
import json
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .constants import HOSTILE_BASE, HOSTILE_PORTS

PARTS = ("open", "filt", "anyip", "hostile", "udp", "sparse")
#: Parts built only on request (``parts=`` or :meth:`Lab.add_part`): real services, slower to start; the
#: network defences of lab/defences.py (SYN limiters, loss, a high-RTT relay), reconfigured at run time.
OPTIONAL_PARTS = ("svc", "limit", "shared", "relay", "breadth")
CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/var/run/netns")
RUN_ROOT = Path("/run")
REPO_ROOT = Path(__file__).resolve().parent.parent

# Link of part N: 198.18.N.0/24 (scanner .1, target .2) and, for v6 parts, 2001:db8:N::/64.
# The defence parts also use 198.18.9.0/24 and 198.18.11.0/24 (links to their hosts' namespaces).
_PART_NET = {"open": 1, "filt": 2, "anyip": 3, "hostile": 4, "udp": 5, "sparse": 6, "svc": 12}
_PART_NET |= {"limit": 7, "shared": 8, "relay": 10, "breadth": 13}
_PART_LETTER = {"open": "a", "filt": "b", "anyip": "c", "hostile": "d", "udp": "e", "sparse": "f", "svc": "s"}
_PART_LETTER |= {"limit": "g", "shared": "h", "relay": "i", "breadth": "j"}
_PART_V6 = {"open": True, "filt": False, "anyip": False, "hostile": True, "udp": True, "sparse": False, "svc": False}
_PART_V6 |= {"limit": True, "shared": False, "relay": False, "breadth": False}

OPEN_SEED = 20240601
FILT_SEED = 20240602
OPEN_COUNT = 40
FILT_COUNT = 5
FILT_RESET = list(range(6000, 6010))
FILT_ICMP = list(range(7000, 7010))
ANYIP_BLOCK = ipaddress.IPv4Network("198.19.0.0/20")
ANYIP_OPEN = [80, 443]
ANYIP_CLOSED = [22]

LAB_V4 = ipaddress.IPv4Network("198.18.0.0/15")
LAB_V6 = ipaddress.IPv6Network("2001:db8::/32")

_TAG_RE = re.compile(r"^[A-Za-z0-9_]{1,24}$")
_CMD_TIMEOUT = 30.0


class LabError(RuntimeError):
    """A lab command failed, a server did not come up, or a safety check did not hold."""


# --------------------------------------------------------------------------- ground truth


def open_ports(seed: int = OPEN_SEED, count: int = OPEN_COUNT) -> list[int]:
    """The reproducible port set of the ``open`` target: < 1024, > 60000 and 65535 included."""
    rng = random.Random(seed)
    ports = {65535, rng.randint(1, 1023), rng.randint(60001, 65534)}
    while len(ports) < count:
        ports.add(rng.randint(1, 65535))
    return sorted(ports)


def filt_ports(seed: int = FILT_SEED, count: int = FILT_COUNT) -> list[int]:
    """The reproducible open ports of the ``filt`` target (never in the reset/ICMP ranges)."""
    rng = random.Random(seed)
    avoid = set(FILT_RESET) | set(FILT_ICMP)
    ports: set[int] = set()
    while len(ports) < count:
        p = rng.randint(1, 65535)
        if p not in avoid:
            ports.add(p)
    return sorted(ports)


def anyip_dead() -> list[str]:
    """Addresses of the AnyIP block that never answer: block index % 4 == 3 (1024 of 4096)."""
    base = int(ANYIP_BLOCK.network_address)
    return [str(ipaddress.IPv4Address(base + i)) for i in range(ANYIP_BLOCK.num_addresses) if i % 4 == 3]


# --------------------------------------------------------------------------- helpers


def _check_tag(tag: str) -> str:
    if not isinstance(tag, str) or not _TAG_RE.match(tag):
        raise ValueError(f"lab tag must match {_TAG_RE.pattern} (no '-'), got {tag!r}")
    return tag


def ns_prefix(tag: str) -> str:
    return f"pl-{_check_tag(tag)}-"


def run_dir(tag: str) -> Path:
    return RUN_ROOT / f"portlens-lab-{_check_tag(tag)}"


def _run(argv: Sequence[str], input: str | None = None, timeout: float = _CMD_TIMEOUT) -> str:
    try:
        r = subprocess.run(list(argv), check=False, input=input, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise LabError(f"timed out after {timeout}s: {' '.join(argv)}") from e
    if r.returncode != 0:
        raise LabError(f"command failed ({r.returncode}): {' '.join(argv)}\n{r.stderr.strip()}")
    return r.stdout


def _assert_lab_addr(addr: str) -> None:
    ip = ipaddress.ip_interface(addr).ip
    net = LAB_V4 if ip.version == 4 else LAB_V6
    if ip not in net:
        raise LabError(f"refusing address outside the lab ranges: {addr}")


def _list_namespaces(prefix: str) -> list[str]:
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(prefix))


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _is_server_of(pid: int, tag: str) -> bool:
    args = _cmdline(pid)
    # lab.udp, lab.services: the supervisors of the udp and svc parts; lab.relay: the relay program's argv[0]
    if not {"lab.servers", "lab.udp", "lab.services", "lab.relay"} & set(args):
        return False
    return any(a == "--lab-tag" and b == tag for a, b in itertools.pairwise(args))


def _is_up_of(pid: int, tag: str) -> bool:
    args = _cmdline(pid)
    return "lab" in args and "up" in args and any(a == "--tag" and b == tag for a, b in itertools.pairwise(args))


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def _terminate_pid(pid: int, grace: float = 3.0) -> None:
    """SIGTERM a process (its group if it leads one), SIGKILL after ``grace`` seconds."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    use_group = pgid == pid and pgid != os.getpgrp()
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            if use_group:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if _gone(pid):
                return
            time.sleep(0.05)


def _stray_servers(tag: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and _is_server_of(int(entry), tag):
            pids.append(int(entry))
    return pids


def _left_in_namespaces(names: Iterable[str]) -> list[int]:
    """Processes still living in the given (target) namespaces: servers that outlived their
    supervisor (a daemon that drops privileges loses its parent-death signal), found by their
    network namespace rather than by a command line they may rewrite."""
    inodes = set()
    for name in names:
        try:
            inodes.add(os.stat(os.path.join(NETNS_DIR, name)).st_ino)
        except OSError:
            pass
    pids = []
    for entry in os.listdir("/proc") if inodes else []:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino in inodes:
                pids.append(int(entry))
        except OSError:
            pass
    return pids


def _read_pidfile(tag: str) -> dict[str, Any]:
    try:
        data = json.loads((run_dir(tag) / "pids.json").read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def sweep(tag: str, *, stop_owner: bool = True) -> list[str]:
    """Remove everything a lab with ``tag`` may have left: clean up by name.

    Stops the ``python -m lab up`` process recorded as owner (if ``stop_owner``), the
    servers recorded in ``/run/portlens-lab-<tag>/pids.json`` and any other ``lab.servers``
    process whose command line carries ``--lab-tag <tag>``, then whatever still lives in the
    lab's target namespaces (daemons that dropped privileges); deletes every namespace named
    ``pl-<tag>-*`` and the run folder.  Returns the names of the namespaces deleted.
    """
    prefix = ns_prefix(tag)
    record = _read_pidfile(tag)
    owner = record.get("owner")
    if stop_owner and isinstance(owner, int) and owner != os.getpid() and _is_up_of(owner, tag):
        _terminate_pid(owner, grace=15.0)  # it closes its own lab on SIGTERM
    for entry in record.get("servers", []):
        pid = entry.get("pid") if isinstance(entry, dict) else None
        if isinstance(pid, int) and _is_server_of(pid, tag):
            _terminate_pid(pid)
    for pid in _stray_servers(tag):
        _terminate_pid(pid)
    scanner = f"{prefix}scan"
    for pid in _left_in_namespaces(n for n in _list_namespaces(prefix) if n != scanner):
        _terminate_pid(pid, grace=2.0)
    deleted = []
    for name in _list_namespaces(prefix):
        try:
            _run(["ip", "netns", "del", name])
            deleted.append(name)
        except LabError:
            pass
    shutil.rmtree(run_dir(tag), ignore_errors=True)
    return deleted


# --------------------------------------------------------------------------- the lab


class _Server:
    def __init__(self, kind: str, ns: str, proc: subprocess.Popen[bytes], err_path: Path):
        self.kind = kind
        self.ns = ns
        self.proc = proc
        self.err_path = err_path

    def stderr_tail(self, limit: int = 4000) -> str:
        try:
            return self.err_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""


class Lab:
    """A running lab.  Build it with :meth:`Lab.create`; see ``lab/__init__.py``."""

    def __init__(self, tag: str, parts: Sequence[str]) -> None:
        self.tag = _check_tag(tag)
        self.parts = tuple(parts)
        self.scanner_ns = f"pl-{tag}-scan"
        self.namespaces: list[str] = []  # created by us, in creation order
        self.truth: dict[str, Any] = {}
        self.run_dir = run_dir(tag)
        self._servers: list[_Server] = []
        self._closed = False
        self._owner_pid: int | None = None
        self._saved_netns: tuple[int, int] | None = None  # (thread ident, fd of old netns)
        self._hash4 = hashlib.sha1(tag.encode()).hexdigest()[:4]

    # ----------------------------------------------------------------- public API

    @classmethod
    def create(cls, tag: str | None = None, parts: Iterable[str] = PARTS, ready_timeout: float = 15.0) -> Lab:
        """Sweep stale ``pl-<tag>-*`` namespaces, then build the lab and start its servers.

        ``tag`` (letters, digits, ``_``; default ``p<pid>``) must be unique among labs running
        at the same time.  ``parts`` picks a subset of ``open, filt, anyip, hostile``.
        On any failure everything made so far is removed and :class:`LabError` is raised.
        """
        tag = _check_tag(tag if tag is not None else f"p{os.getpid()}")
        parts = tuple(parts)
        unknown = [p for p in parts if p not in PARTS + OPTIONAL_PARTS]
        if unknown or len(set(parts)) != len(parts):
            raise ValueError(f"parts must be distinct names from {PARTS + OPTIONAL_PARTS}, got {parts}")
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces, nftables)")
        sweep(tag)
        lab = cls(tag, parts)
        atexit.register(lab.close)
        try:
            lab._build(ready_timeout)
        except BaseException:
            lab.close()
            raise
        return lab

    def add_part(self, part: str, ready_timeout: float = 90.0) -> None:
        """Build one more part into this running lab, linked to its scanner namespace (e.g. the
        optional ``svc`` part, whose real services take a while to start)."""
        self._require_open()
        if part not in PARTS + OPTIONAL_PARTS or part in self.parts:
            raise ValueError(f"cannot add part {part!r} to a lab with parts {self.parts}")
        first = len(self._servers)
        self.parts = (*self.parts, part)
        self._build_link(part)
        getattr(self, f"_build_{part}")()
        self._save_pidfile()
        self._check_no_default_route()
        self._wait_links(ready_timeout)
        self._wait_ready(ready_timeout, self._servers[first:])
        self._save_pidfile()

    def enter_scanner(self) -> None:
        """Move the calling thread into the scanner namespace with ``setns(2)``.

        Call it from the main thread before starting threads that must scan from inside
        (threads already running stay where they are; new threads inherit the namespace;
        child processes inherit it too).  :meth:`close` moves this thread back.
        """
        self._require_open()
        libc = ctypes.CDLL(None, use_errno=True)
        old = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        fd = os.open(str(NETNS_DIR / self.scanner_ns), os.O_RDONLY | os.O_CLOEXEC)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                os.close(old)
                raise OSError(err, f"setns({self.scanner_ns}): {os.strerror(err)}")
        finally:
            os.close(fd)
        if self._saved_netns is None:
            self._saved_netns = (threading.get_ident(), old)
        else:
            os.close(old)

    def in_scanner_cmd(self, argv: Sequence[str]) -> list[str]:
        """``argv`` prefixed so that it runs inside the scanner namespace."""
        return ["ip", "netns", "exec", self.scanner_ns, *argv]

    def close(self) -> None:
        """Stop every server, delete every namespace made; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._leave_scanner()
        for srv in self._servers:
            self._stop_server(srv)
        self._servers.clear()
        try:
            for pid in _stray_servers(self.tag):
                _terminate_pid(pid)
            for pid in _left_in_namespaces(n for n in self.namespaces if n != self.scanner_ns):
                _terminate_pid(pid, grace=2.0)
        except OSError:
            pass
        for name in reversed(self.namespaces):
            try:
                _run(["ip", "netns", "del", name])
            except LabError as e:
                if name in _list_namespaces(name):
                    print(f"lab: could not delete namespace {name}: {e}", file=sys.stderr)
        self.namespaces.clear()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> Lab:  # noqa: PYI034 (typing.Self needs 3.11)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "up"
        return f"<Lab tag={self.tag} parts={','.join(self.parts)} {state}>"

    # ----------------------------------------------------------------- building

    def _require_open(self) -> None:
        if self._closed:
            raise LabError("lab is closed")

    def _leave_scanner(self) -> None:
        if self._saved_netns is None:
            return
        ident, fd = self._saved_netns
        self._saved_netns = None
        try:
            if ident == threading.get_ident():
                libc = ctypes.CDLL(None, use_errno=True)
                libc.setns(fd, CLONE_NEWNET)
        finally:
            os.close(fd)

    def _add_ns(self, name: str) -> None:
        _run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        _run(["ip", "-n", name, "link", "set", "lo", "up"])

    def _addr(self, ns: str, addr: str, dev: str) -> None:
        _assert_lab_addr(addr)
        extra = ["nodad"] if ":" in addr else []
        _run(["ip", "-n", ns, "addr", "add", addr, "dev", dev, *extra])

    def _nft(self, ns: str, script: str) -> None:
        _run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script)

    def _save_pidfile(self) -> None:
        self.run_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        data = {
            "tag": self.tag,
            "creator": os.getpid(),
            "owner": self._owner_pid,
            "namespaces": self.namespaces,
            "servers": [{"pid": s.proc.pid, "ns": s.ns, "kind": s.kind} for s in self._servers],
        }
        _write_json(self.run_dir / "pids.json", data)

    def set_owner(self, pid: int | None) -> None:
        """Record ``pid`` as the owner that ``python -m lab down`` should SIGTERM (CLI use)."""
        self._owner_pid = pid
        self._save_pidfile()

    def _build(self, ready_timeout: float) -> None:
        self.run_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        self._add_ns(self.scanner_ns)
        self._save_pidfile()
        self.truth["scanner"] = {"ns": self.scanner_ns, "tag": self.tag}
        for part in self.parts:
            self._build_link(part)
            getattr(self, f"_build_{part}")()
            self._save_pidfile()
        self._check_no_default_route()
        self._wait_links(ready_timeout)
        self._wait_ready(ready_timeout)
        self._save_pidfile()

    def _veths(self, part: str) -> tuple[str, str, str]:
        letter = _PART_LETTER[part]
        return (f"pl-{self.tag}-{part}", f"pl{self._hash4}{letter}0", f"pl{self._hash4}{letter}1")

    def _build_link(self, part: str) -> None:
        ns, scan_if, target_if = self._veths(part)
        n = _PART_NET[part]
        self._add_ns(ns)
        # Created directly inside the scanner namespace, peer directly in the target one:
        # nothing ever appears in the root namespace.
        _run(
            [
                "ip",
                "-n",
                self.scanner_ns,
                "link",
                "add",
                scan_if,
                "type",
                "veth",
                "peer",
                "name",
                target_if,
                "netns",
                ns,
            ]
        )
        self._addr(self.scanner_ns, f"198.18.{n}.1/24", scan_if)
        self._addr(ns, f"198.18.{n}.2/24", target_if)
        if _PART_V6[part]:
            self._addr(self.scanner_ns, f"2001:db8:{n}::1/64", scan_if)
            self._addr(ns, f"2001:db8:{n}::2/64", target_if)
        _run(["ip", "-n", self.scanner_ns, "link", "set", scan_if, "up"])
        _run(["ip", "-n", ns, "link", "set", target_if, "up"])

    def _wait_links(self, timeout: float) -> None:
        """Wait until both ends of every veth have carrier (operstate UP).

        A fresh veth pair reports NO-CARRIER for up to about a second (linkwatch); a SYN sent
        meanwhile is lost and only retransmitted after 1 s, which would make the first
        connect of a test look filtered.
        """
        pending = []
        for part in self.parts:
            ns, scan_if, target_if = self._veths(part)
            pending += [(self.scanner_ns, scan_if), (ns, target_if)]
        deadline = time.monotonic() + timeout
        while pending:
            ns, dev = pending[0]
            info = json.loads(_run(["ip", "-j", "-n", ns, "link", "show", "dev", dev]) or "[]")
            if info and info[0].get("operstate") == "UP":
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise LabError(f"link {dev} in {ns} has no carrier after {timeout}s: {info}")
            time.sleep(0.02)

    def _start_server(self, part: str, args: list[str], module: str = "lab.servers") -> None:
        """Start ``python -m MODULE ARGS`` in the part's namespace as one of the lab's servers (stopped
        with the lab, or when this process is gone)."""
        ns = f"pl-{self.tag}-{part}"
        err_path = self.run_dir / f"{part}.stderr"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env["PYTHONUNBUFFERED"] = "1"
        argv = [
            "ip",
            "netns",
            "exec",
            ns,
            sys.executable,
            "-m",
            module,
            *args,
            "--lab-tag",
            self.tag,
            "--parent",
            str(os.getpid()),
        ]
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(
                argv,
                cwd=str(REPO_ROOT),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )
        self._servers.append(_Server(part, ns, proc, err_path))

    def _wait_ready(self, timeout: float, servers: list[_Server] | None = None) -> None:
        deadline = time.monotonic() + timeout
        for srv in self._servers if servers is None else servers:
            out = srv.proc.stdout
            assert out is not None
            buf = b""
            fd = out.fileno()
            os.set_blocking(fd, False)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if srv.proc.poll() is not None or left <= 0:
                    why = (
                        f"exited with status {srv.proc.returncode}"
                        if srv.proc.poll() is not None
                        else f"not ready after {timeout}s"
                    )
                    raise LabError(
                        f"lab server {srv.kind!r} in {srv.ns} {why}; stdout={buf!r}\nstderr:\n{srv.stderr_tail()}"
                    )
                select.select([fd], [], [], min(left, 0.2))
                try:
                    chunk = os.read(fd, 4096)
                except BlockingIOError:
                    continue
                if not chunk and srv.proc.poll() is None:
                    time.sleep(0.05)
                buf += chunk
            if buf.split(b"\n", 1)[0].strip() != b"ready":
                raise LabError(
                    f"lab server {srv.kind!r} in {srv.ns} said {buf!r}, not 'ready'\nstderr:\n{srv.stderr_tail()}"
                )
            out.close()

    @staticmethod
    def _stop_server(srv: _Server) -> None:
        proc = srv.proc
        if proc.stdout is not None and not proc.stdout.closed:
            proc.stdout.close()
        if proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def _check_no_default_route(self) -> None:
        for fam in ("-4", "-6"):
            out = _run(["ip", fam, "-n", self.scanner_ns, "route", "show", "default"])
            if out.strip():
                raise LabError(f"scanner namespace has a default route ({fam}): {out.strip()}")

    # ----------------------------------------------------------------- the parts

    def _build_open(self) -> None:
        ports = open_ports()
        v4, v6 = "198.18.1.2", "2001:db8:1::2"
        self._start_server("open", ["listen", "--addr", v4, "--addr", v6, "--ports", ",".join(map(str, ports))])
        self.truth["open"] = {"v4": v4, "v6": v6, "open_ports": ports}

    def _build_filt(self) -> None:
        ns = f"pl-{self.tag}-filt"
        ports = filt_ports()
        v4 = "198.18.2.2"
        plist = ", ".join(map(str, ports))
        self._nft(
            ns,
            f"""
table ip portlens {{
    chain input {{
        type filter hook input priority 0; policy drop;
        ct state established,related accept
        iif "lo" accept
        tcp dport {{ {plist} }} accept
        tcp dport {FILT_RESET[0]}-{FILT_RESET[-1]} reject with tcp reset
        tcp dport {FILT_ICMP[0]}-{FILT_ICMP[-1]} reject with icmp type port-unreachable
    }}
}}
""",
        )
        self._start_server("filt", ["listen", "--addr", v4, "--ports", ",".join(map(str, ports))])
        self.truth["filt"] = {
            "v4": v4,
            "open_ports": ports,
            "reset_ports": list(FILT_RESET),
            "icmp_ports": list(FILT_ICMP),
        }

    def _build_anyip(self) -> None:
        ns, scan_if, _ = self._veths("anyip")
        block = str(ANYIP_BLOCK)
        _assert_lab_addr(str(ANYIP_BLOCK.network_address))
        _run(["ip", "-n", ns, "route", "add", "local", block, "dev", "lo"])
        _run(["ip", "-n", self.scanner_ns, "route", "add", block, "via", "198.18.3.2", "dev", scan_if])
        dead = anyip_dead()
        self._nft(
            ns,
            f"""
table ip portlens {{
    set dead {{
        type ipv4_addr
        elements = {{ {", ".join(dead)} }}
    }}
    chain input {{
        type filter hook input priority 0; policy accept;
        ip daddr @dead drop
    }}
}}
""",
        )
        self._start_server("anyip", ["listen", "--addr", "0.0.0.0", "--ports", ",".join(map(str, ANYIP_OPEN))])
        self.truth["anyip"] = {
            "block": block,
            "gateway": "198.18.3.2",
            "open_ports": list(ANYIP_OPEN),
            "closed_ports": list(ANYIP_CLOSED),
            "dead": dead,
            "live_count": ANYIP_BLOCK.num_addresses - len(dead),
        }

    def _build_hostile(self) -> None:
        v4, v6 = "198.18.4.2", "2001:db8:4::2"
        self._start_server("hostile", ["hostile", "--addr", v4, "--addr", v6, "--base", str(HOSTILE_BASE)])
        self.truth["hostile"] = {"v4": v4, "v6": v6, "ports": dict(HOSTILE_PORTS)}

    def _build_udp(self) -> None:
        from .udp import build_udp

        build_udp(self)

    def _build_svc(self) -> None:
        from .services import build

        build(self)

    def _build_breadth(self) -> None:
        from .breadth import build

        build(self)

    def _build_sparse(self) -> None:
        from .udp import build_sparse

        build_sparse(self)

    def _build_limit(self) -> None:
        from .defences import build

        build(self, "limit")

    def _build_shared(self) -> None:
        from .defences import build

        build(self, "shared")

    def _build_relay(self) -> None:
        from .defences import build

        build(self, "relay")

    def set_defence(self, part: str, **settings: Any) -> dict[str, Any]:
        """Put one defence scenario in force in ``part`` (``limit``, ``shared``, ``relay``) at once and return
        ``lab.truth[part]`` (what is in force, open ports included); see :func:`lab.defences.set_defence`."""
        from .defences import set_defence

        return set_defence(self, part, **settings)

    def set_icmp_ratelimit(self, part: str, ms: int | None) -> dict[str, int]:
        """Set the ICMP error rate limit of ``part``'s namespace (0: none, None: kernel default); see
        :func:`lab.udp.set_icmp_ratelimit`.  Returns the previous sysctl values."""
        from .udp import set_icmp_ratelimit

        return set_icmp_ratelimit(self, part, ms)


__all__ = ["OPTIONAL_PARTS", "PARTS", "Lab", "LabError", "anyip_dead", "filt_ports", "open_ports", "sweep"]

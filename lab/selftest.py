"""Self-test of the lab: ``python3 -m lab.selftest`` (root).

Creates a lab tagged ``self``, probes it from inside the scanner namespace with plain sockets
(bounded counts, 1 s connect timeouts), checks ``enter_scanner``, the failure and cleanup
paths and the CLI (``up``/``down``, crash recovery), and asserts that nothing named
``pl-self*-`` is left.  Exit status 0 when every check passed.

``python3 -m lab.selftest --probe`` is the part that runs inside the scanner namespace: it
reads the truth as JSON on stdin and prints one ``PASS``/``FAIL``/``INFO`` line per check.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

from . import selftest_udp
from .core import REPO_ROOT, Lab, LabError, _list_namespaces, _stray_servers

TAG = "self"
CONNECT_TIMEOUT = 1.0


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, name: str, detail: str = "") -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
        return ok

    @staticmethod
    def info(text: str) -> None:
        print(f"INFO {text}", flush=True)


# --------------------------------------------------------------------------- probing


def _family(addr: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def connect(addr: str, port: int, timeout: float = CONNECT_TIMEOUT) -> tuple[str, float, socket.socket | None]:
    """One TCP connect: ("open"|"timeout"|errno name, seconds, the socket when open)."""
    s = socket.socket(_family(addr), socket.SOCK_STREAM)
    s.settimeout(timeout)
    t0 = time.monotonic()
    try:
        s.connect((addr, port))
    except TimeoutError:
        s.close()
        return "timeout", time.monotonic() - t0, None
    except OSError as e:
        s.close()
        name = errno.errorcode.get(e.errno or 0, str(e.errno))
        return name, time.monotonic() - t0, None
    return "open", time.monotonic() - t0, s


def outcome(addr: str, port: int, timeout: float = CONNECT_TIMEOUT) -> str:
    res, _, s = connect(addr, port, timeout)
    if s is not None:
        s.close()
    return res


def expect_all(c: Checks, name: str, targets: list[tuple[str, int]], want: set[str]) -> None:
    bad = []
    for addr, port in targets:
        res = outcome(addr, port)
        if res not in want:
            bad.append(f"{addr}:{port}={res}")
    c.check(not bad, f"{name} ({len(targets)} connects, want {'/'.join(sorted(want))})", ", ".join(bad[:10]))


def read_for(s: socket.socket, seconds: float, limit: int) -> tuple[bytes, str]:
    """Read up to ``limit`` bytes for at most ``seconds``: (data, "eof"|"timeout"|error)."""
    data = bytearray()
    deadline = time.monotonic() + seconds
    while len(data) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(data), "timeout"
        s.settimeout(left)
        try:
            chunk = s.recv(min(65536, limit - len(data)))
        except TimeoutError:
            return bytes(data), "timeout"
        except OSError as e:
            return bytes(data), errno.errorcode.get(e.errno or 0, str(e))
        if not chunk:
            return bytes(data), "eof"
        data += chunk
    return bytes(data), "limit"


def probe_open(c: Checks, t: dict[str, Any]) -> None:
    ports = t["open_ports"]
    c.check(
        len(ports) == 40 and min(ports) < 1024 and 65535 in ports and any(p > 60000 for p in ports[:-1]),
        "open: truth has 40 ports incl. <1024, >60000, 65535",
    )
    for fam in ("v4", "v6"):
        expect_all(c, f"open {fam}: every listed port connects", [(t[fam], p) for p in ports], {"open"})
    rng = random.Random(7)
    others = [1, 1023, 65534]
    while len(others) < 10:
        p = rng.randint(1, 65535)
        if p not in ports and p not in others:
            others.append(p)
    others = [p for p in others if p not in ports]
    for fam in ("v4", "v6"):
        expect_all(c, f"open {fam}: unlisted ports refuse", [(t[fam], p) for p in others], {"ECONNREFUSED"})


def probe_filt(c: Checks, t: dict[str, Any]) -> None:
    v4 = t["v4"]
    expect_all(c, "filt: open ports connect", [(v4, p) for p in t["open_ports"]], {"open"})
    expect_all(
        c, "filt: tcp-reset ports refuse", [(v4, t["reset_ports"][0]), (v4, t["reset_ports"][-1])], {"ECONNREFUSED"}
    )
    res, secs, s = connect(v4, t["icmp_ports"][0])
    if s is not None:
        s.close()
    c.info(f"filt: ICMP port-unreachable on tcp/{t['icmp_ports'][0]} gives {res} after {secs * 1000:.1f} ms")
    c.check(res in ("ECONNREFUSED", "EHOSTUNREACH"), "filt: icmp-rejected port fails fast", res)
    listed = set(t["open_ports"]) | set(t["reset_ports"]) | set(t["icmp_ports"])
    dropped = [p for p in (22, 9999) if p not in listed]
    expect_all(c, "filt: other ports are dropped (time out)", [(v4, p) for p in dropped], {"timeout"})


def probe_anyip(c: Checks, t: dict[str, Any]) -> None:
    block = ipaddress.IPv4Network(t["block"])
    base = int(block.network_address)
    dead = set(t["dead"])
    expected = {str(ipaddress.IPv4Address(base + i)) for i in range(4096) if i % 4 == 3}
    c.check(dead == expected and t["live_count"] == 3072, "anyip: truth lists 1024 dead, 3072 live")
    live = [str(ipaddress.IPv4Address(base + i)) for i in (1, 2, 4, 2049, 4092)]
    expect_all(
        c, "anyip: live addresses connect on 80 and 443", [(a, p) for a in live for p in t["open_ports"]], {"open"}
    )
    expect_all(c, "anyip: live addresses refuse 22", [(a, 22) for a in live[:2]], {"ECONNREFUSED"})
    dead_sample = [str(ipaddress.IPv4Address(base + i)) for i in (3, 4095)]
    expect_all(
        c, "anyip: dead addresses time out on 80 and 22", [(a, p) for a in dead_sample for p in (80, 22)], {"timeout"}
    )


def probe_hostile(c: Checks, t: dict[str, Any]) -> None:
    ports = t["ports"]
    for fam in ("v4", "v6"):
        addr = t[fam]
        for kind, port in ports.items():
            res, _, s = connect(addr, port)
            if kind == "reset" and res == "ECONNRESET":
                # The RST can beat connect()'s own completion check: still "accepted, reset".
                c.check(True, f"hostile {fam} reset accepts, resets (RST seen by connect)")
                continue
            if not c.check(s is not None, f"hostile {fam} {kind} accepts", res):
                continue
            assert s is not None
            try:
                if kind == "tarpit":
                    data, how = read_for(s, 1.0, 1)
                    c.check(data == b"" and how == "timeout", f"hostile {fam} tarpit silent", how)
                elif kind == "flood":
                    data, how = read_for(s, 5.0, 1 << 20)
                    c.check(
                        len(data) == 1 << 20 and set(data) == {ord("A")},
                        f"hostile {fam} flood sends >= 1 MiB of 'A'",
                        f"{len(data)} {how}",
                    )
                elif kind == "garbage":
                    data, how = read_for(s, 3.0, 1 << 16)
                    c.check(
                        len(data) > 0 and how == "eof", f"hostile {fam} garbage then close", f"{len(data)} bytes, {how}"
                    )
                elif kind == "reset":
                    data, how = read_for(s, 3.0, 1)
                    c.check(how == "ECONNRESET", f"hostile {fam} reset after accept", how)
                elif kind == "drip":
                    data, how = read_for(s, 2.5, 100)
                    c.check(2 <= len(data) <= 4, f"hostile {fam} drip ~1 byte/s", f"{data!r} in 2.5 s")
                elif kind == "script":
                    data, how = read_for(s, 3.0, 4096)
                    c.check(
                        data == b"<script>alert(1)</script>\r\n" and how == "eof",
                        f"hostile {fam} script banner",
                        f"{data!r} {how}",
                    )
            finally:
                s.close()
    # The tarpit holds many connections at once.
    held = []
    try:
        for _ in range(200):
            res, _, s = connect(t["v4"], ports["tarpit"])
            if s is None:
                break
            held.append(s)
        c.check(len(held) == 200, "hostile tarpit holds 200 simultaneous connections", str(len(held)))
    finally:
        for s in held:
            s.close()


def probe_no_route(c: Checks) -> None:
    for addr in ("198.51.100.1", "2001:db8:ffff::1"):
        res, secs, s = connect(addr, 80)
        if s is not None:
            s.close()
        c.check(
            res == "ENETUNREACH" and secs < 0.2,
            f"no route: {addr} fails with ENETUNREACH at once",
            f"{res} in {secs:.3f} s",
        )


def probe(truth: dict[str, Any]) -> int:
    c = Checks()
    for part, fn in (("open", probe_open), ("filt", probe_filt), ("anyip", probe_anyip), ("hostile", probe_hostile)):
        if part in truth:
            fn(c, truth[part])
    selftest_udp.probe_parts(c, truth)  # the udp and sparse parts
    probe_no_route(c)
    print(f"PROBE {c.passed} {c.failed}", flush=True)
    return 0 if c.failed == 0 else 1


# --------------------------------------------------------------------------- outside checks


def check_enter_scanner(c: Checks, lab: Lab) -> None:
    mine = os.stat("/proc/self/ns/net").st_ino
    pid = os.fork()
    if pid == 0:  # child: no threads here, so setns moves the whole (single-threaded) process
        code = 1
        try:
            lab.enter_scanner()
            inside = os.stat("/proc/self/ns/net").st_ino
            want = os.stat(f"/var/run/netns/{lab.scanner_ns}").st_ino
            res = outcome(lab.truth["open"]["v4"], lab.truth["open"]["open_ports"][0])
            code = 0 if (inside == want and res == "open") else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    c.check(
        os.waitstatus_to_exitcode(status) == 0,
        "enter_scanner: child in scanner netns reaches open target",
        f"exit {os.waitstatus_to_exitcode(status)}",
    )
    c.check(os.stat("/proc/self/ns/net").st_ino == mine, "enter_scanner: parent not moved")


def check_routes(c: Checks, lab: Lab) -> None:
    for fam in ("-4", "-6"):
        out = subprocess.run(
            ["ip", fam, "-n", lab.scanner_ns, "route", "show", "default"],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
        )
        c.check(
            out.returncode == 0 and out.stdout.strip() == "",
            f"scanner has no default route ({fam})",
            out.stdout.strip(),
        )


def check_failure_cleanup(c: Checks) -> None:
    class Broken(Lab):
        def _build_hostile(self) -> None:
            raise LabError("injected failure")

    try:
        Broken.create(tag="self_f", parts=("open", "hostile"))
        c.check(False, "half-way failure raises")
    except LabError as e:
        c.check("injected" in str(e), "half-way failure raises", str(e))
    c.check(
        _list_namespaces("pl-self_f-") == [] and _stray_servers("self_f") == [],
        "half-way failure leaves no namespace, no server",
    )

    class BadServer(Lab):
        def _build_open(self) -> None:  # bind an address that is not there
            self._start_server("open", ["listen", "--addr", "198.18.99.9", "--ports", "1"])

    try:
        BadServer.create(tag="self_f", parts=("open",), ready_timeout=10)
        c.check(False, "server start failure raises with stderr")
    except LabError as e:
        c.check(
            "Cannot assign requested address" in str(e),
            "server start failure raises with stderr",
            str(e).splitlines()[0],
        )
    c.check(_list_namespaces("pl-self_f-") == [], "server failure leaves no namespace")


def _wait(pred: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return bool(pred())


def _start_up(tag: str, json_path: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "lab", "up", "--tag", tag, "--json", json_path, "--parts", "open,hostile"],
        cwd=str(REPO_ROOT),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def check_cli(c: Checks) -> None:
    tag = "self_cli"
    prefix = f"pl-{tag}-"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "truth.json")
        # 1. up, then down by name: down asks the up process to close.
        up = _start_up(tag, path)
        ok = _wait(lambda: os.path.exists(path) or up.poll() is not None, 20)
        c.check(
            ok and os.path.exists(path),
            "cli up writes truth JSON",
            "" if os.path.exists(path) else (up.stderr.read() if up.stderr else ""),
        )
        if os.path.exists(path):
            with open(path) as f:
                truth = json.load(f)
            c.check(set(truth) == {"scanner", "open", "hostile"}, "cli up --parts respected", str(sorted(truth)))
        c.check(len(_list_namespaces(prefix)) == 3, "cli up made 3 namespaces")
        down = subprocess.run(
            [sys.executable, "-m", "lab", "down", "--tag", tag],
            cwd=str(REPO_ROOT),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        c.check(down.returncode == 0, "cli down succeeds", down.stdout.strip())
        try:
            rc = up.wait(timeout=15)
        except subprocess.TimeoutExpired:
            up.kill()
            rc = up.wait()
        c.check(rc == 0, "cli up exits 0 when down stops it", f"rc={rc}")
        c.check(_list_namespaces(prefix) == [] and _stray_servers(tag) == [], "after down: no namespace, no server")

        # 2. up crashes (SIGKILL): servers leave by themselves, a new create sweeps the rest.
        os.unlink(path)
        up = _start_up(tag, path)
        _wait(lambda: os.path.exists(path) or up.poll() is not None, 20)
        up.send_signal(signal.SIGKILL)
        up.wait()
        c.check(len(_list_namespaces(prefix)) == 3, "after crash: namespaces left behind")
        c.check(_wait(lambda: _stray_servers(tag) == [], 5), "after crash: servers exit once their parent is gone")
        lab = Lab.create(tag=tag, parts=("open",))
        names = _list_namespaces(prefix)
        lab.close()
        c.check(
            names == [f"{prefix}open", f"{prefix}scan"],
            "stale sweep: create after crash replaces leftovers",
            " ".join(names),
        )
        c.check(_list_namespaces(prefix) == [], "stale sweep lab closed cleanly")

        # 3. up stopped with SIGTERM cleans up.
        os.unlink(path)
        up = _start_up(tag, path)
        _wait(lambda: os.path.exists(path) or up.poll() is not None, 20)
        up.send_signal(signal.SIGTERM)
        try:
            rc = up.wait(timeout=20)
        except subprocess.TimeoutExpired:
            up.kill()
            rc = up.wait()
        c.check(
            rc == 0 and _list_namespaces(prefix) == [] and _stray_servers(tag) == [],
            "cli up on SIGTERM closes the lab",
            f"rc={rc}",
        )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--probe"]:
        return probe(json.load(sys.stdin))
    c = Checks()
    t0 = time.monotonic()
    lab = Lab.create(tag=TAG)
    inodes = selftest_udp._ns_inodes(TAG)
    try:
        c.info(f"lab {TAG} up in {time.monotonic() - t0:.2f} s: {' '.join(lab.namespaces)}")
        check_routes(c, lab)
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        proc = subprocess.run(
            lab.in_scanner_cmd([sys.executable, "-m", "lab.selftest", "--probe"]),
            input=json.dumps(lab.truth),
            capture_output=True,
            text=True,
            cwd=str(REPO_ROOT),
            env=env,
            timeout=300,
            check=False,
        )
        tail = ""
        for line in proc.stdout.splitlines():
            if line.startswith("PROBE "):
                _, p, f = line.split()
                c.passed += int(p)
                c.failed += int(f)
                tail = line
            else:
                print(line, flush=True)
        if not tail:
            c.check(False, "probe in scanner namespace ran", proc.stderr[-2000:])
        check_enter_scanner(c, lab)
        selftest_udp.check_outside(c, lab)
    finally:
        lab.close()
        lab.close()  # twice is fine
    c.check(_list_namespaces(f"pl-{TAG}-") == [], f"no pl-{TAG}-* namespace left")
    c.check(_stray_servers(TAG) == [], f"no server of lab {TAG} left")
    c.check(not os.path.exists(lab.run_dir), "run folder removed")
    selftest_udp.check_after_close(c, TAG, inodes)
    check_failure_cleanup(c)
    selftest_udp.check_supervisor_crash(c)
    check_cli(c)
    print(f"selftest: {c.passed} passed, {c.failed} failed in {time.monotonic() - t0:.1f} s", flush=True)
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

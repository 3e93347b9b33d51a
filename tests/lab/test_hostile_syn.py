"""The SYN method against hostile packets and signals: malformed and truncated replies, a flood of
forgeries at the rate one Python process can send, and scans stopped by Ctrl-C, SIGTERM and
`cancel()`. Results must stay exact, forgeries counted as ``spoofed``, memory bounded, and the raw
sockets and threads of a scan gone once it ends.

Packets come from the lab's hostile namespace, which these scans never probe (as in
tests/lab/test_syn.py), to the scanner's own addresses on that link.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import portlens
from lab import Lab
from tests.factories import ROOT
from tests.lab.test_syn import _our_ports

# Sent from the hostile namespace: malformed packets (none may count or change a state), then the
# well-formed forgeries (each must count as spoofed exactly once); prints how many of those.
_MALFORMED = r"""
import random, socket, struct, sys
scanner4, scanner6, target4, target6, first, last, n = sys.argv[1:8]
first, last, n = int(first), int(last), int(n)
rng = random.Random(15)

def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def seg(offset, flags, size=20, sport=80):
    s = struct.pack("!HHIIBBHHH", sport, rng.randint(first, last), rng.getrandbits(32), rng.getrandbits(32),
                    offset << 4, flags, 1024, 0, 0)
    return (s + bytes(40))[:size]

def probe():  # the start of a SYN of ours, as an ICMP error quotes it: our port, then the target's
    return struct.pack("!HHI", rng.randint(first, last), 80, rng.getrandbits(32)) + bytes(12)

def ip4(proto, payload, ihl=5, src=None, dst=None, total=None, pad=True):
    src = socket.inet_aton(src or "0.0.0.0")
    dst = socket.inet_aton(dst or scanner4)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total or 20 + len(payload), 0, 0, 64, proto, 0, src, dst)
    return h + (bytes(max(0, ihl * 4 - 20)) if pad else b"") + payload  # no pad: a header past the end

def quote4(inner_ihl=5, proto=6, tcp_bytes=8):
    inner = ip4(proto, probe()[:tcp_bytes], ihl=inner_ihl, src=scanner4, dst=target4, total=44, pad=False)
    return struct.pack("!BBHI", 3, 3, 0, 0) + inner

u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.connect((scanner4, 9))
own4 = u.getsockname()[0]  # the kernel's source for what we send; forgeries need no other
raw4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
def send4(pkt):
    try:
        raw4.sendto(pkt, (scanner4, 0))
    except OSError:
        pass  # the kernel refuses some of them (an IHL past the end): nothing to hear then

tcp6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_TCP)
icmp6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)  # the kernel sums it

def quote6(next_header=6, size=None):
    t6 = socket.inet_pton(socket.AF_INET6, target6)
    s6 = socket.inet_pton(socket.AF_INET6, scanner6)
    tcp = probe()
    if next_header == 0:  # a hop-by-hop header (8 bytes of padding) before the TCP segment
        tcp = bytes([6, 0, 1, 4, 0, 0, 0, 0]) + tcp
    inner = struct.pack("!IHBB", 6 << 28, len(tcp), next_header, 64) + s6 + t6 + tcp
    return (struct.pack("!BBHI", 1, 4, 0, 0) + inner)[: size or 10**6]

for _ in range(n):
    for offset in (0, 1, 4, 15):  # TCP data offset below 5 words, or past the segment
        send4(ip4(6, seg(offset, 0x12)))
        tcp6.sendto(seg(offset, 0x12), (scanner6, 0))
    for size in (8, 13, 19):  # TCP headers cut short
        send4(ip4(6, seg(5, 0x12, size)))
        tcp6.sendto(seg(5, 0x14, size), (scanner6, 0))
    send4(ip4(6, seg(5, 0x12), ihl=4))   # IP header length below 5 words
    send4(ip4(6, seg(5, 0x12), ihl=15, pad=False))  # ... and past the packet's end
    for q in (quote4(inner_ihl=4), quote4(inner_ihl=15), quote4(proto=17), quote4(tcp_bytes=4),
              quote4(tcp_bytes=0), quote4()[:6]):  # ICMP errors quoting what no probe of ours is
        send4(ip4(1, q))
    for q in (quote6(next_header=0), quote6(size=30), quote6(size=50)):
        icmp6.sendto(q, (scanner6, 0))

# the controls: well formed, to our ports, with numbers that answer no probe
sent = 0
for _ in range(n):
    for flags in (0x12, 0x14):
        s = seg(5, flags)
        pseudo = socket.inet_aton(own4) + socket.inet_aton(scanner4) + struct.pack("!BBH", 0, 6, len(s))
        s = s[:16] + struct.pack("!H", csum(pseudo + s)) + s[18:]
        send4(ip4(6, s, src=own4))
        tcp6.sendto(seg(5, flags), (scanner6, 0))
        sent += 2
    send4(ip4(1, quote4()))
    icmp6.sendto(quote6(), (scanner6, 0))
    sent += 2
print(sent, flush=True)
"""


def _scanner_address(family: socket.AddressFamily, peer: str) -> str:
    """The scanner's address on the link to ``peer`` (where packets from there come to)."""
    with socket.socket(family, socket.SOCK_DGRAM) as u:
        u.connect((peer, 9))
        return str(u.getsockname()[0])


def _in_hostile(lab: Lab, script: str, *args: str, timeout: float = 60) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ip", "netns", "exec", f"pl-{lab.tag}-hostile", sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_running(scan: portlens.Scan) -> None:
    deadline = time.monotonic() + 10
    while scan.progress().done == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert scan.progress().done > 0


def _assert_exact(r: portlens.ScanResult, truth: dict[str, Any], hosts: list[str]) -> None:
    assert r.status == "complete"
    for host in hosts:
        assert sorted(p.port for p in r.open_ports() if p.host == host) == truth["open"]["open_ports"], host
    assert r.counts["closed"] == len(hosts) * (65535 - len(truth["open"]["open_ports"]))
    assert r.counts["filtered"] == 0


def test_malformed_and_truncated_replies_change_nothing(lab: Lab, truth: dict[str, Any]) -> None:
    """IP header lengths below 5 words or past the end, TCP data offsets below 5 or past the
    segment, cut headers, ICMP errors quoting cut or foreign packets (IPv6 with an extension header,
    UDP, an inner IHL past the end): none counts or changes a state; only the well-formed forgeries
    sent after them count, each once."""
    hosts = [truth["open"]["v4"], truth["open"]["v6"]]
    stranger = truth["hostile"]
    scanner4 = _scanner_address(socket.AF_INET, stranger["v4"])
    scanner6 = _scanner_address(socket.AF_INET6, stranger["v6"])
    first, last = _our_ports()
    scan = portlens.start(hosts, ports="all", method="syn", rate=30000)
    _wait_running(scan)
    inject = _in_hostile(lab, _MALFORMED, scanner4, scanner6, *hosts, str(first), str(last), "50")
    out, err = inject.communicate(timeout=60)
    assert inject.returncode == 0, err
    sent = int(out)
    assert scan.progress().done < scan.progress().total, "the scan must still be running to hear them"
    r = scan.result()
    _assert_exact(r, truth, hosts)
    assert r.stats["spoofed"] == sent == 50 * 6


_FLOOD = r"""
import random, socket, struct, sys, time
target, first, last, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
rng = random.Random(16)
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
pkts = [struct.pack("!HHIIBBHHH", 80, rng.randint(first, last), rng.getrandbits(32), rng.getrandbits(32),
                    0x50, 0x12, 1024, 0, 0) for _ in range(4096)]
print("ready", flush=True)
sent, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    for p in pkts:
        try:
            s.sendto(p, (target, 0))
            sent += 1
        except OSError:  # the link's queue is full: that is line rate
            pass
print(sent, flush=True)
"""


@contextmanager
def _peak_rss() -> Iterator[list[int]]:
    """The largest resident set of this process while the block runs, sampled every 20 ms."""
    peak = [0]
    stop = threading.Event()

    def rss() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], rss())

    t = threading.Thread(target=sample)
    t.start()
    try:
        yield peak
    finally:
        stop.set()
        t.join()


def test_a_flood_of_forgeries_during_a_scan(lab: Lab, truth: dict[str, Any]) -> None:
    """Forged SYN-ACKs to our ports as fast as one process sends them, for the whole scan: the
    results stay exact, the forgeries are counted (some may be dropped by the socket's buffer
    before being read), and memory stays flat (no per-reply state)."""
    host = truth["open"]["v4"]
    scanner = _scanner_address(socket.AF_INET, truth["hostile"]["v4"])
    first, last = _our_ports()
    flood = _in_hostile(lab, _FLOOD, scanner, str(first), str(last), "4")
    try:
        assert flood.stdout is not None and flood.stdout.readline().strip() == "ready"
        base = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        with _peak_rss() as peak:
            r = portlens.scan(host, ports="all", method="syn", rate=20000)
        out, err = flood.communicate(timeout=30)
    finally:
        if flood.poll() is None:
            flood.kill()
            flood.wait()
    assert flood.returncode == 0, err
    sent = int(out)
    print(f"flood: {sent} forgeries sent, {r.stats['spoofed']} counted, peak RSS +{(peak[0] - base) >> 20} MiB")
    _assert_exact(r, truth, [host])
    assert sent > 100_000  # it was a flood
    assert 0 < r.stats["spoofed"] <= sent
    assert peak[0] - base < 64 << 20


def _sockets_and_threads() -> tuple[int, int]:
    fds = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except FileNotFoundError:  # the listing's own descriptor
            pass
    return fds, len(os.listdir("/proc/self/task"))


def _settled(before: tuple[int, int], wait: float = 2.0) -> tuple[int, int]:
    """Sockets and threads once the scan's have gone (its threads stop within 50 ms of its end)."""
    deadline = time.monotonic() + wait
    now = _sockets_and_threads()
    while now != before and time.monotonic() < deadline:
        time.sleep(0.02)
        now = _sockets_and_threads()
    return now


def test_stopped_syn_scans_close_their_raw_sockets_and_threads(truth: dict[str, Any]) -> None:
    """Ten scans cancelled at different points, and five stopped by Ctrl-C in their progress callback
    (one that raises again while the partial result is read, as a second Ctrl-C would: before, a bare
    KeyboardInterrupt escaped and the partial result was lost): no raw socket or thread left over."""
    host = truth["open"]["v4"]
    portlens.scan(host, ports="1-10", method="syn")  # the runtime's own threads, started once
    time.sleep(0.5)  # that scan's threads and sockets go within 50 ms of its end
    before = _sockets_and_threads()
    for i in range(10):
        s = portlens.start(host, ports="all", method="syn", rate=20000)
        time.sleep(0.05 + 0.03 * i)
        during = _sockets_and_threads()
        assert during[0] > before[0], "the scan's raw sockets are open"
        s.cancel()
        assert s.result().status == "cancelled"
        assert _settled(before) == before, f"try {i}"

    def ctrl_c(p: portlens.Progress) -> None:
        if p.done > 2000:
            raise KeyboardInterrupt

    for i in range(5):
        with pytest.raises(portlens.ScanInterrupted) as e:
            portlens.scan(host, ports="all", method="syn", rate=20000, progress=ctrl_c)
        partial = e.value.result
        assert partial.status == "cancelled" and partial.counts["closed"] >= 2000
        assert _settled(before) == before, f"Ctrl-C {i}"


def test_a_failing_scan_stops_probing(truth: dict[str, Any]) -> None:
    """A progress callback that raises something else than Ctrl-C (or a store that refuses a write)
    fails the scan; before, its probes went on unseen (raw sockets open, packets sent) for as long
    as the exception, and with it the scan, was alive."""
    host = truth["open"]["v4"]
    portlens.scan(host, ports="1-10", method="syn")
    time.sleep(0.5)
    before = _sockets_and_threads()

    def broken(p: portlens.Progress) -> None:
        if p.done > 2000:
            raise RuntimeError("a bug in the caller's callback")

    with pytest.raises(RuntimeError, match="callback") as e:
        portlens.scan(host, ports="all", method="syn", rate=20000, progress=broken)
    assert e.value.__traceback__ is not None  # the scan's frames are still referenced here
    assert _settled(before, 1.0) == before


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["sigint", "sigterm"])
def test_signals_end_a_syn_scan_on_the_command_line(
    truth: dict[str, Any], tmp_path: Path, signum: int, code: int
) -> None:
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "portlens.cli", "scan", truth["open"]["v4"], "-p", "all", "--syn", "--rate", "5000"]
        + ["-o", str(out), "-q"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2)  # a few thousand probes in
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert time.monotonic() - sent < 5
    assert proc.returncode == code and "Traceback" not in err, err
    doc = portlens.load(out)
    assert isinstance(doc, portlens.ScanResult) and doc.status == "cancelled"
    assert 0 < sum(doc.counts.values()) < 65535

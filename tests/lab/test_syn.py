"""SYN scans (``method="syn"``): the same states as connect scans on the lab, replies validated
without per-probe state, never a completed handshake, and a clear error without CAP_NET_RAW."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import warnings
from typing import Any

import pytest

import portlens
from lab import Lab
from portlens.compat import nmap
from tests.factories import run_cli
from tests.lab.test_scan_lab import icmp_unlimited  # noqa: F401 - fixture

ALL = ["open", "closed", "filtered"]


def _states(r: portlens.ScanResult) -> dict[tuple[str, int], str]:
    return {(p.host, p.port): p.state for p in r.ports}


def _both(targets: str, **options: Any) -> tuple[portlens.ScanResult, portlens.ScanResult]:
    syn = portlens.scan(targets, method="syn", **options)
    connect = portlens.scan(targets, method="connect", **options)
    assert syn.options["method"] == "syn" and connect.options["method"] == "connect"
    assert syn.status == connect.status == "complete"
    return syn, connect


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_all_ports_of_one_host_equal_connect(truth: dict[str, Any], family: str) -> None:
    host = truth["open"][family]
    syn, connect = _both(host, ports="all", keep=ALL)
    assert _states(syn) == _states(connect)
    assert sorted(p.port for p in syn.open_ports()) == truth["open"]["open_ports"]
    assert syn.counts == connect.counts
    by_state = {(p.state, p.reason) for p in syn.ports}
    assert by_state == {("open", "syn-ack"), ("closed", "reset")}, by_state
    assert all(p.rtt is not None and p.rtt < 1 for p in syn.ports)
    assert syn.stats["spoofed"] == 0


def test_filtered_host_equal_connect(truth: dict[str, Any], icmp_unlimited: None) -> None:  # noqa: F811
    t = truth["filt"]
    syn, connect = _both(t["v4"], ports="all", keep=ALL, min_rtt_timeout=0.05)
    assert _states(syn) == _states(connect)
    by_port = {p.port: p for p in syn.ports}
    assert sorted(p for p, v in by_port.items() if v.state == "open") == t["open_ports"]
    for port in t["reset_ports"]:
        assert (by_port[port].state, by_port[port].reason) == ("closed", "reset")
    # the ICMP error quotes our SYN, whose sequence number validates it
    for port in t["icmp_ports"]:
        assert (by_port[port].state, by_port[port].reason) == ("filtered", "port-unreach")
    special = set(t["open_ports"]) | set(t["reset_ports"]) | set(t["icmp_ports"])
    silent = [v for p, v in by_port.items() if p not in special]
    assert all((v.state, v.reason, v.rtt) == ("filtered", "no-response", None) for v in silent)


def test_anyip_block_equal_connect(truth: dict[str, Any]) -> None:
    t = truth["anyip"]
    syn, connect = _both(t["block"], ports="22,80,443", keep=ALL)
    assert _states(syn) == _states(connect)
    up = {h.address for h in syn.hosts if h.state == "up"}
    assert up == {h.address for h in connect.hosts if h.state == "up"}
    assert len(up) == t["live_count"] and not up & set(t["dead"])
    assert syn.counts["open"] == t["live_count"] * len(t["open_ports"])


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_hostile_servers_equal_connect(truth: dict[str, Any], family: str) -> None:
    t = truth["hostile"]
    ports = ",".join(str(p) for p in t["ports"].values())
    syn, connect = _both(t[family], ports=ports, keep=ALL)
    assert _states(syn) == _states(connect)
    assert {p.port for p in syn.open_ports()} == set(t["ports"].values())


_INJECT = r"""
import random, socket, struct, sys
dst, first, last, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.connect((dst, 9))
src = u.getsockname()[0]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
rng = random.Random(15)
for i in range(n):
    for flags in (0x12, 0x14):  # SYN-ACK, RST-ACK with an ack that answers no probe
        seg = struct.pack("!HHIIBBHHH", 80, rng.randint(first, last), rng.getrandbits(32), rng.getrandbits(32),
                          0x50, flags, 1024, 0, 0)
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(seg))
        seg = seg[:16] + struct.pack("!H", csum(pseudo + seg)) + seg[18:]
        s.sendto(seg, (dst, 0))
print(2 * n)
"""


def _our_ports() -> tuple[int, int]:
    """The SYN method's source ports: above the kernel's ephemeral range (probe::syn::cookie::Ports)."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        _lo, hi = map(int, f.read().split())
    assert hi <= 65535 - 1024, "the lab keeps Linux's default range"
    return hi + 1, 65535


def test_spoofed_replies_from_an_unprobed_namespace_are_rejected_and_counted(lab: Lab, truth: dict[str, Any]) -> None:
    host = truth["open"]["v4"]
    stranger = truth["hostile"]["v4"]  # a lab namespace this scan never probes
    # the scanner's address on the stranger's link: where its packets come to
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.connect((stranger, 9))
    scanner = u.getsockname()[0]
    u.close()
    first, last = _our_ports()
    scan = portlens.start(host, ports="all", method="syn", rate=20000, keep=ALL)
    deadline = time.monotonic() + 10
    while scan.progress().done == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    inject = subprocess.run(
        ["ip", "netns", "exec", f"pl-{lab.tag}-hostile", sys.executable, "-c", _INJECT, scanner, str(first), str(last)]
        + ["200"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    sent = int(inject.stdout)
    assert scan.progress().done < scan.progress().total, "the scan must still be running to hear them"
    time.sleep(0.2)
    r = scan.result()
    assert r.status == "complete"
    assert r.stats["spoofed"] == sent == 400
    # none of them changed a state: the open set is the truth, every other port closed
    assert sorted(p.port for p in r.open_ports()) == truth["open"]["open_ports"]
    assert r.counts["closed"] == 65535 - len(truth["open"]["open_ports"])


_LISTENER = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(128)
print("ready", flush=True)
sys.stdin.readline()  # the scan is done
time.sleep(0.3)
s.setblocking(False)
n = 0
while True:
    try:
        c, _ = s.accept()
    except BlockingIOError:
        break
    n += 1
    c.close()
print(n, flush=True)
"""


def _accepts(lab: Lab, host: str, port: int, method: str) -> tuple[int, portlens.ScanResult]:
    """Connections a listener of the lab accepted while `method` scanned it (three tries)."""
    p = subprocess.Popen(
        ["ip", "netns", "exec", f"pl-{lab.tag}-open", sys.executable, "-c", _LISTENER, host, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None and p.stdin is not None
        assert p.stdout.readline().strip() == "ready"
        results = [portlens.scan(host, ports=str(port), method=method) for _ in range(3)]
        out, _ = p.communicate("done\n", timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert all([x.port for x in r.open_ports()] == [port] for r in results)
    return int(out.strip()), results[-1]


def test_syn_scan_never_completes_a_handshake(lab: Lab, truth: dict[str, Any]) -> None:
    host = truth["open"]["v4"]
    port = next(p for p in range(40000, 41000) if p not in truth["open"]["open_ports"])
    accepted, r = _accepts(lab, host, port, "syn")
    assert accepted == 0
    assert r.ports[0].reason == "syn-ack"
    # the control: the same listener counts a connect scan's handshakes
    accepted, _ = _accepts(lab, host, port, "connect")
    assert accepted == 3


_UNPRIVILEGED = ["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", sys.executable, "-c"]


def test_without_cap_net_raw_syn_raises_and_auto_connects(truth: dict[str, Any]) -> None:
    host, port = truth["open"]["v4"], truth["open"]["open_ports"][0]
    code = f"""
import json, portlens
try:
    portlens.scan({host!r}, ports="{port}", method="syn")
    raised = None
except portlens.OptionError as e:
    raised = [str(e), e.item]
r = portlens.scan({host!r}, ports="{port}", method="auto")
# the method is TCP's: a UDP scan needs no raw socket
u = portlens.scan({host!r}, ports="9", protocol="udp", method="syn", keep=["closed"])
print(json.dumps([raised, r.options["method"], [p.port for p in r.open_ports()], u.counts["closed"]]))
"""
    out = subprocess.run([*_UNPRIVILEGED, code], capture_output=True, text=True, timeout=60, check=True)
    raised, method, open_ports, udp_closed = json.loads(out.stdout)
    assert raised is not None and "CAP_NET_RAW" in raised[0] and raised[1] == "method"
    assert method == "connect" and open_ports == [port]
    assert udp_closed == 1
    # with the capability, auto is SYN
    assert portlens.scan(host, ports=str(port), method="auto").options["method"] == "syn"


def test_method_option_is_checked() -> None:
    with pytest.raises(portlens.OptionError, match="method"):
        portlens.scan("198.18.1.2", ports="22", method="stealth")
    with pytest.raises(portlens.OptionError, match="method"):
        portlens.scan("198.18.1.2", ports="22", method=True)
    assert portlens.scan("198.18.1.2", ports="22").options["method"] == "connect", "the default stays connect"


def test_cli_syn(truth: dict[str, Any], tmp_path: Any) -> None:
    host = truth["open"]["v4"]
    out = tmp_path / "r.json"
    p = run_cli("scan", host, "-p", "all", "--syn", "-q", "-o", str(out))
    assert p.returncode == 0, p.stderr
    r = portlens.load(out)
    assert r.options["method"] == "syn"
    assert sorted(x.port for x in r.open_ports()) == truth["open"]["open_ports"]
    xml = tmp_path / "r.xml"
    p = run_cli("scan", host, "-p", "1-100", "--method", "syn", "-q", "-o", str(xml))
    assert p.returncode == 0, p.stderr
    text = xml.read_text()
    assert 'type="syn"' in text and 'reason="reset"' in text


def test_compat_sS_runs_a_syn_scan(truth: dict[str, Any]) -> None:
    host, port = truth["open"]["v4"], truth["open"]["open_ports"][0]
    nm = nmap.PortScanner()
    with warnings.catch_warnings():
        warnings.simplefilter("error", nmap.CompatWarning)  # -sS is honoured in full now
        nm.scan(host, f"{port},1", "-sS -Pn")
    assert nm[host]["tcp"][port]["state"] == "open" and nm[host]["tcp"][port]["reason"] == "syn-ack"
    assert nm[host]["tcp"][1]["state"] == "closed" and nm[host]["tcp"][1]["reason"] == "reset"
    assert nm.scaninfo()["tcp"]["method"] == "syn"
    nm.scan(host, f"{port},1", "-sT -Pn")
    assert nm.scaninfo()["tcp"]["method"] == "connect" and nm[host]["tcp"][1]["reason"] == "conn-refused"
    with pytest.raises(nmap.NmapArgumentError, match="more than one type of TCP scan"):
        nm.scan(host, str(port), "-sS -sT")

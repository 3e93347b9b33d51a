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


# -- source= and interface= (nmap's -S and -e) ----------------------------------------------------
# A second address of the scanner on the open target's link: not the route's preferred source
# (198.18.1.1), so a probe that carries it proves the override was used, and replies to it still
# come back by the same veth.
SECOND = "198.18.1.3"


def _route(dst: str) -> tuple[str, str]:
    """(device, preferred source) of the scanner namespace's route to ``dst``."""
    out = subprocess.run(["ip", "-j", "route", "get", dst], capture_output=True, text=True, check=True, timeout=10)
    r = json.loads(out.stdout)[0]
    return r["dev"], r["prefsrc"]


@pytest.fixture
def second_source(lab: Lab, truth: dict[str, Any]) -> Any:
    dev, prefsrc = _route(truth["open"]["v4"])
    assert prefsrc != SECOND
    subprocess.run(["ip", "addr", "add", f"{SECOND}/32", "dev", dev], check=True, timeout=10)
    try:
        yield dev
    finally:
        subprocess.run(["ip", "addr", "del", f"{SECOND}/32", "dev", dev], check=True, timeout=10)


_COUNT_SYNS = """
table ip plsource {
    chain input {
        type filter hook input priority -10; policy accept;
        ip saddr %s tcp flags & (syn | ack) == syn counter
    }
}
"""


def _syns_from(ns: str, action: str) -> int:
    """SYNs from SECOND counted by the target namespace ``ns`` (``add``: set the counter up first)."""
    if action == "add":
        subprocess.run(
            ["ip", "netns", "exec", ns, "nft", "-f", "-"], input=_COUNT_SYNS % SECOND, text=True, check=True, timeout=10
        )
        return 0
    out = subprocess.run(
        ["ip", "netns", "exec", ns, "nft", "-j", "list", "table", "ip", "plsource"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    subprocess.run(["ip", "netns", "exec", ns, "nft", "delete", "table", "ip", "plsource"], check=True, timeout=10)
    for item in json.loads(out.stdout)["nftables"]:
        for expr in item.get("rule", {}).get("expr", []):
            if "counter" in expr:
                return int(expr["counter"]["packets"])
    raise AssertionError(f"no counter in {out.stdout}")


@pytest.mark.parametrize("method", ["syn", "connect"])
def test_source_and_interface_give_the_same_result_from_that_address(
    lab: Lab, truth: dict[str, Any], second_source: str, method: str
) -> None:
    host, target_ns = truth["open"]["v4"], f"pl-{lab.tag}-open"
    plain = portlens.scan(host, ports="all", method=method)
    _syns_from(target_ns, "add")
    given = portlens.scan(host, ports="all", method=method, source=SECOND, interface=second_source)
    seen = _syns_from(target_ns, "count")
    assert given.status == plain.status == "complete"
    assert sorted(p.port for p in given.open_ports()) == truth["open"]["open_ports"]
    assert given.counts == plain.counts
    assert (given.options["source"], given.options["interface"]) == (SECOND, second_source)
    assert (plain.options["source"], plain.options["interface"]) == (None, None)
    # every probe left from the address given (a connect retried nothing; a SYN may be retried)
    assert seen >= 65535, seen


@pytest.mark.parametrize("method", ["syn", "connect"])
def test_ipv6_source_and_interface(truth: dict[str, Any], method: str) -> None:
    host = truth["open"]["v6"]
    dev, src = _route(host)
    r = portlens.scan(host, ports="1-2000,60000-65535", method=method, source=src, interface=dev)
    expected = [p for p in truth["open"]["open_ports"] if p <= 2000 or p >= 60000]
    assert sorted(p.port for p in r.open_ports()) == expected
    assert r.options["source"] == src and r.status == "complete"


def test_connect_from_source_is_the_peer_a_listener_sees(lab: Lab, truth: dict[str, Any], second_source: str) -> None:
    host = truth["open"]["v4"]
    port = next(p for p in range(41000, 42000) if p not in truth["open"]["open_ports"])
    code = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8); s.settimeout(20)
print("ready", flush=True)
c, peer = s.accept(); print(peer[0], flush=True); c.close(); s.close()
"""
    p = subprocess.Popen(
        ["ip", "netns", "exec", f"pl-{lab.tag}-open", sys.executable, "-c", code, host, str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        r = portlens.scan(host, ports=str(port), method="connect", source=SECOND)
        out, _ = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert [x.port for x in r.open_ports()] == [port]
    assert out.strip() == SECOND


@pytest.mark.parametrize("method", ["syn", "connect"])
def test_interface_is_where_probes_leave(truth: dict[str, Any], method: str) -> None:
    """Bound to another link's interface, probes to the open host never reach it (the kernel
    looks for it on that link): nothing is open, where the routing table's interface finds it."""
    host, port = truth["open"]["v4"], truth["open"]["open_ports"][0]
    elsewhere, _ = _route(truth["hostile"]["v4"])
    right, _ = _route(host)
    assert elsewhere != right
    ok = portlens.scan(host, ports=str(port), method=method, interface=right)
    assert [p.port for p in ok.open_ports()] == [port]
    wrong = portlens.scan(
        host, ports=str(port), method=method, interface=elsewhere, max_retries=1, max_rtt_timeout=0.5, keep=ALL
    )
    assert wrong.open_ports() == [] and [p.state for p in wrong.ports] == ["filtered"]


def _refused(**options: Any) -> portlens.OptionError:
    with pytest.raises(portlens.OptionError) as e:
        portlens.scan("198.18.1.2", ports="22", **options)
    return e.value


@pytest.mark.parametrize("method", ["syn", "connect"])
def test_bad_source_or_interface_is_an_option_error(truth: dict[str, Any], method: str) -> None:
    e = _refused(method=method, source="198.18.1.77")  # a lab address the scanner does not have
    assert e.item == "source" and "not an address of this host" in str(e)
    e = _refused(method=method, interface="nosuch0")
    assert e.item == "interface" and "nosuch0" in str(e)
    # the scanner's own IPv6 address on the open link: local, but not of an IPv4 target's family
    _, v6src = _route(truth["open"]["v6"])
    e = _refused(method=method, source=v6src)
    assert e.item == "source" and "IPv6" in str(e) and "198.18.1.2" in str(e)
    for bad in ("198.18.1", "0.0.0.0", "not an address", 5):
        assert _refused(method=method, source=bad).item == "source", bad
    assert _refused(method=method, interface="a/b").item == "interface"
    assert _refused(method=method, interface="\ud800").item == "interface"  # not UTF-8: refused by name


def test_cli_and_compat_source_and_interface(truth: dict[str, Any], second_source: str, tmp_path: Any) -> None:
    host, port = truth["open"]["v4"], truth["open"]["open_ports"][0]
    out = tmp_path / "r.json"
    p = run_cli("scan", host, "-p", str(port), "--syn", "-S", SECOND, "-e", second_source, "-q", "-o", str(out))
    assert p.returncode == 0, p.stderr
    r = portlens.load(out)
    assert (r.options["source"], r.options["interface"]) == (SECOND, second_source)
    assert [x.port for x in r.open_ports()] == [port]
    p = run_cli("scan", host, "-p", str(port), "--source-ip", "198.18.1.77", "-q")
    assert p.returncode == 2 and "source" in p.stderr and "198.18.1.77" in p.stderr, p.stderr
    p = run_cli("scan", host, "-p", str(port), "--interface", "nosuch0", "-q")
    assert p.returncode == 2 and "interface" in p.stderr and "nosuch0" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    nm = nmap.PortScanner()
    nm.scan(host, str(port), f"-sS -Pn -S {SECOND} -e {second_source}")
    assert nm[host]["tcp"][port]["state"] == "open"
    with pytest.raises(nmap.NmapArgumentError, match="interface.*nosuch0"):
        nm.scan(host, str(port), "-sS -Pn -e nosuch0")

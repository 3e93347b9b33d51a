"""Host discovery against the lab's ``sparse`` block (4096 addresses, 410 live) and the ``udp`` link."""

from __future__ import annotations

import ipaddress
from typing import Any

import portlens

PORTS = "1-40"  # 22 open, the rest closed on hosts that answer TCP
TCP_UP = {"syn-ack", "conn-refused"}


def _hosts(r: portlens.ScanResult, state: str) -> dict[str, str | None]:
    return {h.address: h.reason for h in r.hosts if h.state == state}


def test_sparse_block_with_discovery(truth: dict[str, Any]) -> None:
    t = truth["sparse"]
    every = {str(a) for a in ipaddress.ip_network(t["block"])}
    live = set(t["live"])
    r = portlens.scan(t["block"], ports=PORTS)  # more than one address: discovery is on by default
    assert r.status == "complete"
    assert r.hosts_total == 4096
    assert (r.hosts_up, r.hosts_down) == (t["live_count"], t["dead_count"]) == (410, 3686)
    up, down = _hosts(r, "up"), _hosts(r, "down")
    assert set(up) == live
    assert set(down) == every - live
    assert set(down.values()) == {"no-response"}
    assert {up[a] for a in t["ping_only"]} == {"echo-reply"}  # TCP and UDP dropped, echo answered
    assert {up[a] for a in t["tcp_only"]} <= TCP_UP  # ICMP dropped
    assert {up[a] for a in t["both"]} <= TCP_UP | {"echo-reply"}
    # Ports of down hosts are not scanned, hence not counted; ping-only hosts drop every port.
    answering = len(t["tcp_only"]) + len(t["both"])
    assert r.counts == {
        "open": answering,
        "closed": answering * 39,
        "filtered": len(t["ping_only"]) * 40,
        "open|filtered": 0,
    }
    assert {(p.host, p.port) for p in r.open_ports()} == {(a, 22) for a in t["tcp_only"] + t["both"]}
    assert all(h.counts["open"] == 0 and h.counts["closed"] == 0 for h in r.hosts if h.state == "down")
    # dead hosts cost only the discovery probes
    assert r.stats["attempts"] < r.hosts_total * r.ports_per_host / 2, dict(r.stats)

    off = portlens.scan(t["block"], ports=PORTS, discovery=False)
    assert off.hosts_down == 0
    assert {(p.host, p.port) for p in off.open_ports()} == {(p.host, p.port) for p in r.open_ports()}
    assert off.counts["open"] == r.counts["open"] and off.counts["closed"] == r.counts["closed"]
    assert off.counts["filtered"] == 4096 * 40 - r.counts["open"] - r.counts["closed"]  # every silent pair
    assert off.stats["attempts"] >= 4096 * 40
    assert r.stats["attempts"] < off.stats["attempts"] / 4, (dict(r.stats), dict(off.stats))
    # without discovery, a host that answers only ICMP echo is never seen
    assert {h.address for h in off.hosts if h.state == "up"} == set(t["tcp_only"] + t["both"])


def test_discovery_on_the_udp_link_v4_and_v6(truth: dict[str, Any]) -> None:
    """The udp link: .2/.3/.4 (and ::2/::3/::4) up, .5 (::5) assigned but dropping everything."""
    t = truth["udp"]
    v4 = ([t["v4"], t["auth"], t["filt"]], t["dead"])
    v6 = ([t["v6"], t["auth_v6"], t["filt_v6"]], t["dead_v6"])
    for up, dead in (v4, v6):
        r = portlens.scan(", ".join([*up, dead]), ports="22,53")
        assert (r.hosts_up, r.hosts_down) == (3, 1), r.hosts
        reasons = _hosts(r, "up")
        assert set(reasons) == set(up)
        assert set(reasons.values()) <= TCP_UP | {"echo-reply"}
        assert _hosts(r, "down") == {dead: "no-response"}
        assert {(p.host, p.port) for p in r.open_ports()} == {(up[0], 53), (up[1], 53)}  # dnsmasq on .2 and .3


def test_single_address_skips_discovery(truth: dict[str, Any]) -> None:
    dead = truth["udp"]["dead"]
    r = portlens.scan(dead, ports="80,443")
    assert r.hosts_down == 0
    assert r.counts == {"open": 0, "closed": 0, "filtered": 2, "open|filtered": 0}  # scanned, not discovered
    assert all(h.state != "down" for h in r.hosts)
    # asked for explicitly, discovery finds it down and scans no port
    r = portlens.scan(dead, ports="80,443", discovery=True)
    assert r.hosts_down == 1
    assert [(h.address, h.state, h.reason) for h in r.hosts] == [(dead, "down", "no-response")]
    assert r.counts == {"open": 0, "closed": 0, "filtered": 0, "open|filtered": 0}
    # and a live single address is scanned without discovery probes: one attempt per port
    host = truth["udp"]["v4"]
    r = portlens.scan(host, ports="22,53")
    assert r.stats["attempts"] == 2
    assert [(h.address, h.state) for h in r.hosts] == [(host, "up")]


def test_discovery_pings_are_the_scans_answers_for_their_ports(truth: dict[str, Any]) -> None:
    """A TCP ping that got a SYN-ACK or RST to 22, 80 or 443 is that port's scan result: a live
    host is not connected to twice on the same port, so discovery costs no more than -Pn here."""
    t = truth["anyip"]
    ports = "22,80,443"  # exactly discovery's ping ports
    r = portlens.scan(t["block"], ports=ports, keep=["open", "closed"])
    off = portlens.scan(t["block"], ports=ports, discovery=False, keep=["open", "closed"])
    key = {(p.host, p.port, p.state, p.reason) for p in off.ports}
    assert {(p.host, p.port, p.state, p.reason) for p in r.ports} == key
    assert r.counts["open"] == t["live_count"] * 2 and r.counts["closed"] == t["live_count"]
    # live: 3 pings each, reused; dead: 2 attempts x 3 pings -- the same as -Pn's 2 tries x 3 ports
    assert r.stats["attempts"] <= off.stats["attempts"], (dict(r.stats), dict(off.stats))
    assert all(p.rtt is not None and p.attempts >= 1 for p in r.ports)

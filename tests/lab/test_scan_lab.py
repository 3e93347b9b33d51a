"""Exact states, reasons and open sets against the lab's ground truth."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

import portlens
from lab import Lab


def _open(r: portlens.ScanResult, host: str | None = None) -> list[int]:
    return sorted(p.port for p in r.open_ports(host))


def test_all_ports_of_one_host_v4(truth: dict[str, Any]) -> None:
    host = truth["open"]["v4"]
    r = portlens.scan(host, ports="all")
    assert r.status == "complete"
    assert _open(r) == truth["open"]["open_ports"]
    n_open = len(truth["open"]["open_ports"])
    assert r.counts == {"open": n_open, "closed": 65535 - n_open, "filtered": 0, "open|filtered": 0}
    assert all(p.reason in ("syn-ack", "syn-ack-reset") for p in r.ports)
    (h,) = r.hosts
    assert h.address == host and h.counts["open"] == n_open and h.rtt is not None


def test_all_ports_of_one_host_v6(truth: dict[str, Any]) -> None:
    host = truth["open"]["v6"]
    r = portlens.scan(host, ports="all")
    assert _open(r) == truth["open"]["open_ports"]
    assert r.counts["closed"] == 65535 - len(truth["open"]["open_ports"])
    assert r.ports[0].host == host


@pytest.fixture
def icmp_unlimited(lab: Lab) -> Iterator[None]:
    """Lift the filtered host's ICMP rate limit (Linux sends about one error per second per peer
    after a burst of six) so that every rejected port's ICMP error comes back."""
    ns = f"pl-{lab.tag}-filt"
    key = "net.ipv4.icmp_ratelimit"
    old = subprocess.run(
        ["ip", "netns", "exec", ns, "sysctl", "-n", key], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"{key}=0"], check=True)
    yield
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"{key}={old}"], check=True)


def test_filtered_host_states_and_reasons(truth: dict[str, Any], icmp_unlimited: None) -> None:
    t = truth["filt"]
    r = portlens.scan(t["v4"], ports="all", keep=["open", "closed", "filtered"], min_rtt_timeout=0.05)
    by_port = {p.port: p for p in r.ports}
    assert len(by_port) == 65535
    assert sorted(p for p, v in by_port.items() if v.state == "open") == t["open_ports"]
    for port in t["reset_ports"]:
        assert (by_port[port].state, by_port[port].reason) == ("closed", "conn-refused")
    for port in t["icmp_ports"]:
        assert (by_port[port].state, by_port[port].reason) == ("filtered", "port-unreach")
    special = set(t["open_ports"]) | set(t["reset_ports"]) | set(t["icmp_ports"])
    silent = [v for p, v in by_port.items() if p not in special]
    assert all((v.state, v.reason, v.rtt) == ("filtered", "no-response", None) for v in silent)
    assert r.counts == {
        "open": len(t["open_ports"]),
        "closed": len(t["reset_ports"]),
        "filtered": 65535 - len(t["open_ports"]) - len(t["reset_ports"]),
        "open|filtered": 0,
    }


def test_anyip_block_with_dead_hosts(truth: dict[str, Any]) -> None:
    t = truth["anyip"]
    dead = set(t["dead"])
    live = t["live_count"]
    # discovery (on by default for many hosts): dead hosts are down and cost only the pings
    r = portlens.scan(t["block"], ports="22,80,443", keep=["open", "closed"])
    assert r.hosts_total == 4096
    assert r.hosts_up == live == 4096 - len(dead)
    assert r.hosts_down == len(dead)
    assert {h.address for h in r.hosts if h.state == "down"} == dead
    assert all(h.reason == "no-response" for h in r.hosts if h.state == "down")
    assert all(h.reason in ("syn-ack", "conn-refused") for h in r.hosts if h.state == "up")
    for h in r.hosts:
        if h.state == "up":
            assert h.counts == {"open": 2, "closed": 1, "filtered": 0, "open|filtered": 0}, h
    assert r.counts == {"open": 2 * live, "closed": live, "filtered": 0, "open|filtered": 0}
    assert {p.port for p in r.ports if p.state == "closed"} == {22}
    # without discovery every address is port-scanned: dead ones come out filtered
    r2 = portlens.scan(t["block"], ports="22,80,443", discovery=False)
    assert r2.hosts_up == live and r2.hosts_down == 0
    assert r2.counts == {"open": 2 * live, "closed": live, "filtered": 3 * len(dead), "open|filtered": 0}
    assert sorted((p.host, p.port) for p in r2.ports) == sorted((p.host, p.port) for p in r.ports if p.state == "open")


def test_hostile_servers_are_open_and_the_scan_ends(truth: dict[str, Any]) -> None:
    t = truth["hostile"]
    ports = sorted(t["ports"].values())
    for host in (t["v4"], t["v6"]):
        r = portlens.scan(host, ports=",".join(map(str, ports)))
        assert _open(r) == ports, host
        assert r.elapsed < 10


def test_excludes_and_multiple_targets(truth: dict[str, Any]) -> None:
    a, b = truth["open"]["v4"], truth["hostile"]["v4"]
    tarpit = truth["hostile"]["ports"]["tarpit"]
    first = truth["open"]["open_ports"][0]
    r = portlens.scan(f"{a}, {b}", ports=f"{first},{tarpit}", exclude=[b])
    assert r.hosts_total == 1
    assert [(p.host, p.port) for p in r.ports] == [(a, first)]


def test_rate_limit_is_respected(truth: dict[str, Any]) -> None:
    r = portlens.scan(truth["open"]["v4"], ports="1-300", rate=1000.0)
    # 300 probes at 1000/s take at least ~0.3 s; the result is still exact
    assert r.elapsed >= 0.25
    assert _open(r) == [p for p in truth["open"]["open_ports"] if p <= 300]


def test_per_host_cap_and_sequential_order(truth: dict[str, Any]) -> None:
    r = portlens.scan(truth["open"]["v4"], ports="1-2000", max_per_host=8, randomize=False)
    assert _open(r) == [p for p in truth["open"]["open_ports"] if p <= 2000]


@pytest.mark.parametrize("concurrency", [1, 7, 64])
def test_small_concurrency_is_exact(truth: dict[str, Any], concurrency: int) -> None:
    ports = truth["open"]["open_ports"][:5] + [1, 2, 3]
    r = portlens.scan(truth["open"]["v4"], ports=ports, concurrency=concurrency)
    assert _open(r) == sorted(truth["open"]["open_ports"][:5])


def test_rate_limited_icmp_rejects_stay_filtered(truth: dict[str, Any]) -> None:
    """With the default ICMP rate limit some rejects come back as silence: still filtered, never
    closed, and the ones that did answer say so."""
    t = truth["filt"]
    r = portlens.scan(t["v4"], ports="7000-7009,6000-6009", keep=["closed", "filtered"])
    states = {p.port: (p.state, p.reason) for p in r.ports}
    assert all(states[p] in {("filtered", "port-unreach"), ("filtered", "no-response")} for p in t["icmp_ports"])
    assert all(states[p] == ("closed", "conn-refused") for p in t["reset_ports"])

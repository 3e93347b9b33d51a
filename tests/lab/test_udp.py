"""UDP scanning against the lab's real servers (dnsmasq, snmpd, chronyd, memcached, in.tftpd): exact states,
reasons, service facts and checks, per the ground truth of the ``udp`` lab part."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

import portlens
from lab import Lab

ALL = ["open", "closed", "filtered", "open|filtered"]
OPEN = ("open", "udp-response")
CLOSED = ("closed", "port-unreach")
SILENT = ("open|filtered", "no-response")
PROHIBITED = ("filtered", "admin-prohibited")


@pytest.fixture
def icmp_unlimited(lab: Lab) -> Iterator[None]:
    """No ICMP rate limit in the udp namespace: every closed port's port-unreachable comes back at once."""
    lab.set_icmp_ratelimit("udp", 0)
    yield
    lab.set_icmp_ratelimit("udp", None)


def _udp(host: str, ports: Any, **kw: Any) -> portlens.ScanResult:
    return portlens.scan(host, ports=ports, protocol="udp", keep=ALL, **kw)


def _states(r: portlens.ScanResult, protocol: str = "udp") -> dict[int, tuple[str, str]]:
    return {p.port: (p.state, p.reason) for p in r.ports if p.protocol == protocol}


def _one(r: portlens.ScanResult, port: int) -> portlens.PortResult:
    (p,) = [p for p in r.ports if p.port == port and p.protocol == "udp"]
    return p


def _service(p: portlens.PortResult) -> Mapping[str, Any]:
    assert p.service is not None, p
    return p.service


def _check(p: portlens.PortResult, check_id: str) -> dict[str, Any] | None:
    checks = [c for c in (p.service or {}).get("checks") or [] if c["id"] == check_id]
    assert len(checks) <= 1, checks
    return checks[0] if checks else None


def _facts(service: Mapping[str, Any], check: Mapping[str, Any] | None = None) -> str:
    parts = [str(service.get(k) or "") for k in ("product", "version", "extrainfo")]
    if check is not None:
        parts += [str(v) for v in check.get("evidence", {}).values()]
    return " ".join(parts)


@pytest.mark.parametrize("fam", ["v4", "v6"])
def test_service_host_exact_states(truth: dict[str, Any], fam: str, icmp_unlimited: None) -> None:
    t = truth["udp"]
    host, quiet = t[fam], list(range(1, 21))
    r = _udp(host, quiet + t["open_ports"])
    assert r.status == "complete"
    assert _states(r) == {**{p: OPEN for p in t["open_ports"]}, **{p: CLOSED for p in quiet}}
    assert all(p.protocol == "udp" and p.host == host for p in r.ports)
    assert r.counts == {"open": len(t["open_ports"]), "closed": len(quiet), "filtered": 0, "open|filtered": 0}
    names = {p.port: _service(p)["name"] for p in r.ports if p.state == "open"}
    assert names == {int(port): name for port, name in t["services"].items()}
    assert all(p.rtt is not None for p in r.ports)
    assert [h.address for h in r.hosts] == [host]


@pytest.mark.parametrize("fam", ["filt", "filt_v6"])
def test_dropping_vs_rejecting_host(truth: dict[str, Any], fam: str, icmp_unlimited: None) -> None:
    t = truth["udp"]
    closed = list(range(3000, 3010))
    r = _udp(t[fam], t["drop_ports"] + t["prohibited_ports"] + closed)
    expected = {
        **{p: SILENT for p in t["drop_ports"]},
        **{p: PROHIBITED for p in t["prohibited_ports"]},
        **{p: CLOSED for p in closed},
    }
    assert _states(r) == expected
    assert all(p.rtt is None for p in r.ports if p.state == "open|filtered")
    assert r.counts == {"open": 0, "closed": 10, "filtered": 10, "open|filtered": 10}


def test_tftp_is_open(truth: dict[str, Any]) -> None:
    """in.tftpd answers the RRQ with an ERROR packet sent from a new port (its transfer ID), not from 69."""
    for host in (truth["udp"]["v4"], truth["udp"]["v6"]):
        p = _one(_udp(host, [69]), 69)
        assert (p.state, p.reason) == OPEN, p
        assert _service(p)["name"] == "tftp"


def test_snmp_public_vs_hardened_twin(truth: dict[str, Any]) -> None:
    t = truth["udp"]
    for host in (t["v4"], t["v6"]):
        p = _one(_udp(host, [161]), 161)
        assert (p.state, p.reason) == OPEN
        assert _service(p)["name"] == "snmp"
        check = _check(p, "snmp-default-community")
        assert check is not None and check["outcome"] == "vulnerable", p.service
        assert check["evidence"]["sysDescr"] == t["snmp_sysdescr"]
    for host in (t["auth"], t["auth_v6"]):
        # snmpd drops a wrong community without a word, but answers the SNMPv3 engine discovery sent
        # beside it with a Report (issue 14): open, net-snmp's engine, and `public` refused
        p = _one(_udp(host, [161]), 161)
        assert (p.state, p.reason) == OPEN, p
        service = _service(p)
        assert (service["name"], service["product"]) == ("snmp", "net-snmp"), service
        assert "SNMPv3 engine 80001f88" in service["extrainfo"] and "enterprise 8072" in service["extrainfo"], service
        check = _check(p, "snmp-default-community")
        assert check is not None and check["outcome"] == "ok", p.service


def test_dns_recursive_vs_authoritative_only(truth: dict[str, Any]) -> None:
    t = truth["udp"]
    for host in (t["v4"], t["v6"]):
        p = _one(_udp(host, [53]), 53)
        assert (p.state, p.reason) == OPEN
        service = _service(p)
        assert service["name"] == "domain"
        check = _check(p, "dns-open-resolver")
        assert check is not None and check["outcome"] == "vulnerable", service
        assert t["versions"]["dnsmasq"] in _facts(service), service  # version.bind: "dnsmasq-2.90"
    for host in (t["auth"], t["auth_v6"]):
        # authoritative only: REFUSED without RA, still an answer
        p = _one(_udp(host, [53]), 53)
        assert (p.state, p.reason) == OPEN
        assert _service(p)["name"] == "domain"
        check = _check(p, "dns-open-resolver")
        assert check is None or check["outcome"] != "vulnerable", p.service


def test_ntp_and_memcached_facts(truth: dict[str, Any]) -> None:
    t = truth["udp"]
    r = _udp(t["v4"], [123, 11211])
    ntp, mc = _one(r, 123), _one(r, 11211)
    assert (ntp.state, ntp.reason) == OPEN and _service(ntp)["name"] == "ntp"
    mode7 = _check(ntp, "ntp-monlist")  # chronyd ignores mode 7 requests
    assert mode7 is None or mode7["outcome"] != "vulnerable", ntp.service
    assert (mc.state, mc.reason) == OPEN and _service(mc)["name"] == "memcache"
    check = _check(mc, "memcached-udp")
    assert check is not None and check["outcome"] == "vulnerable", mc.service
    assert t["versions"]["memcached"] in _facts(_service(mc), check)


def test_top_100_udp(truth: dict[str, Any], icmp_unlimited: None) -> None:
    t = truth["udp"]
    listed = set(portlens.top_ports("top-100", protocol="udp"))
    assert len(listed) == 100
    assert {53, 69, 123, 161} <= listed
    r = _udp(t["v4"], "top-100")
    want_open = sorted(set(t["open_ports"]) & listed)
    assert sorted(p.port for p in r.ports if p.state == "open") == want_open
    assert r.counts == {"open": len(want_open), "closed": 100 - len(want_open), "filtered": 0, "open|filtered": 0}


def test_rate_limited_closed_ports_are_confirmed(lab: Lab, truth: dict[str, Any]) -> None:
    """Default ICMP rate limit (about 1 port-unreachable per second after a burst of 6): the engine paces its
    retries and confirms every closed port; ``udp_fast`` stops waiting and says open|filtered instead."""
    t = truth["udp"]
    lab.set_icmp_ratelimit("udp", None)
    ports = list(range(3000, 3020))
    slow = _udp(t["filt"], ports, udp_fast=False)
    assert _states(slow) == {p: CLOSED for p in ports}
    assert slow.counts == {"open": 0, "closed": 20, "filtered": 0, "open|filtered": 0}
    assert slow.elapsed < 45
    time.sleep(7)  # the peer's ICMP tokens refill (burst of 6)
    ports = list(range(3100, 3120))
    fast = _udp(t["filt"], ports, udp_fast=True)
    states = _states(fast)
    assert set(states) == set(ports)
    assert set(states.values()) <= {CLOSED, SILENT}
    assert list(states.values()).count(CLOSED) >= 1
    assert list(states.values()).count(SILENT) >= 1  # unconfirmed: reported honestly, never as closed
    assert fast.elapsed < min(6.0, slow.elapsed / 2), (fast.elapsed, slow.elapsed)


def test_tcp_and_udp_in_one_scan(truth: dict[str, Any]) -> None:
    t = truth["udp"]
    r = portlens.scan(t["v4"], ports="53,11211,T:22,U:69,U:123,U:161", protocol="both", keep=ALL)
    assert _states(r, "tcp") == {53: ("open", "syn-ack"), 11211: ("open", "syn-ack"), 22: ("closed", "conn-refused")}
    assert _states(r, "udp") == {p: OPEN for p in (53, 69, 123, 161, 11211)}
    assert r.counts == {"open": 7, "closed": 1, "filtered": 0, "open|filtered": 0}
    assert {p.protocol for p in r.open_ports()} == {"tcp", "udp"}

"""Identification breadth on real Debian servers (issue 14; lab part ``breadth``, ``lab/breadth.py``).

Samba with SMB1 off (minimum SMB 2.1, and SMB 3 with signing mandatory), BIND 9 and dnsmasq over TCP and
UDP, snmpd answering only a private community, MariaDB refusing the scanner's host: each on its
standard port and on an odd one, each named with the product ``nmap -sV`` names (bench/breadth.py runs
nmap beside portlens) and the version of the installed Debian package where the server tells it.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

import pytest

import portlens
from lab import Lab
from lab.breadth import HARD, SERVICES, WEAK

BUDGET = 5.0  # the default service_timeout
ALL = ["open", "closed", "filtered", "open|filtered"]  # every state kept in the results


@pytest.fixture(scope="module")
def breadth(lab: Lab) -> dict[str, Any]:
    if "breadth" not in lab.parts:
        lab.add_part("breadth", ready_timeout=120.0)
    truth: dict[str, Any] = lab.truth["breadth"]
    return truth


def _deb(package: str) -> str:
    """The installed Debian version of ``package`` without its epoch ("1:9.18.49-1~deb12u3" -> "9.18.49-1~deb12u3")."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return out.split(":", 1)[-1]


def _upstream(package: str) -> str:
    return _deb(package).rsplit("-", 1)[0]


def _scan(proto: str, keys: list[str], **kw: Any) -> tuple[dict[str, portlens.PortResult], float]:
    ports = sorted({SERVICES[k]["port"] for k in keys})
    started = time.monotonic()
    r = portlens.scan([WEAK, HARD], ports=ports, protocol=proto, keep=ALL, **kw)
    return {f"{p.host}:{p.port}": p for p in r.ports}, time.monotonic() - started


@pytest.fixture(scope="module")
def tcp(breadth: dict[str, Any]) -> tuple[dict[str, portlens.PortResult], float]:
    return _scan("tcp", [k for k, s in SERVICES.items() if s["proto"] == "tcp"], services=True)


@pytest.fixture(scope="module")
def udp(breadth: dict[str, Any]) -> tuple[dict[str, portlens.PortResult], float]:
    return _scan("udp", [k for k, s in SERVICES.items() if s["proto"] == "udp"], services=True)


def _service(found: dict[str, portlens.PortResult], key: str) -> dict[str, Any]:
    s = SERVICES[key]
    p = found[f"{s['addr']}:{s['port']}"]
    assert p.state == "open", p
    assert p.service is not None, p
    return dict(p.service)


def _check(service: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(c for c in service["checks"] if c["id"] == check_id)


@pytest.mark.parametrize("key", [k for k, s in SERVICES.items() if s["proto"] == "tcp"])
def test_tcp_named_with_nmaps_product(tcp: tuple[dict[str, portlens.PortResult], float], key: str) -> None:
    service = _service(tcp[0], key)
    assert service["status"] == "identified", service
    assert (service["name"], service["product"]) == (SERVICES[key]["name"], SERVICES[key]["product"]), service
    # within the budget, odd ports included
    assert service["elapsed"] < BUDGET, service


@pytest.mark.parametrize("key", [k for k, s in SERVICES.items() if s["proto"] == "udp"])
def test_udp_named_with_nmaps_product(udp: tuple[dict[str, portlens.PortResult], float], key: str) -> None:
    service = _service(udp[0], key)
    assert (service["name"], service["product"]) == (SERVICES[key]["name"], SERVICES[key]["product"]), service


def test_dns_versions_are_the_debian_packages(
    tcp: tuple[dict[str, portlens.PortResult], float], udp: tuple[dict[str, portlens.PortResult], float]
) -> None:
    for found, keys in ((tcp[0], ["bind-tcp", "bind-tcp-odd"]), (udp[0], ["bind-udp", "bind-udp-odd"])):
        for key in keys:
            service = _service(found, key)
            # BIND says its whole Debian version ("9.18.49-1~deb12u3-Debian"), as nmap reports it
            assert service["version"] == _deb("bind9"), service
            assert "Debian Linux" in service["extrainfo"], service
    for found, key in ((tcp[0], "dnsmasq-tcp"), (udp[0], "dnsmasq-udp")):
        service = _service(found, key)
        assert service["version"] == _upstream("dnsmasq-base"), service


def test_smb2_and_smb3_only_samba(tcp: tuple[dict[str, portlens.PortResult], float]) -> None:
    for key, netbios, signing in (
        ("smb21", "SMB21", "vulnerable"),
        ("smb21-odd", "SMB21", "vulnerable"),
        ("smb3", "SMB3", "ok"),
        ("smb3-odd", "SMB3", "ok"),
    ):
        service = _service(tcp[0], key)
        # SMB2 does not tell Samba's version (nmap guesses one); the NTLMSSP challenge names the host
        assert service["version"] is None, service
        assert f"NetBIOS name {netbios}" in service["extrainfo"], service
        assert service["extrainfo"].startswith("SMB 3.1.1 dialect"), service
        assert _check(service, "smbv1")["outcome"] == "ok", service
        assert _check(service, "smb-signing-not-required")["outcome"] == signing, service


def test_mariadb_refusing_the_scanner(tcp: tuple[dict[str, portlens.PortResult], float]) -> None:
    service = _service(tcp[0], "mariadb-refusing")
    # error 1130 instead of a handshake: MariaDB named, no version to tell (nmap: "MariaDB (unauthorized)")
    assert "error 1130" in service["extrainfo"] and "not allowed to connect" in service["extrainfo"], service
    assert service["version"] is None, service


def test_snmpv3_discovery_without_the_community(udp: tuple[dict[str, portlens.PortResult], float]) -> None:
    for key in ("snmp-private", "snmp-private-odd"):
        private = _service(udp[0], key)
        assert "SNMPv3 engine 80001f88" in private["extrainfo"], private
        assert "enterprise 8072" in private["extrainfo"], private
        assert _check(private, "snmp-default-community")["outcome"] == "ok", private
    public = _service(udp[0], "snmp-odd")
    assert _check(public, "snmp-default-community")["outcome"] == "vulnerable", public
    assert "SNMPv3 engine" in public["extrainfo"], public


def test_udp_odd_ports_need_services(breadth: dict[str, Any]) -> None:
    """Without ``services=True`` a server on an odd UDP port gets only the empty datagram and stays
    open|filtered; SNMP on 161 answers the SNMPv3 discovery sent there in any UDP scan."""
    found, _ = _scan("udp", ["snmp-private", "snmp-odd", "bind-udp-odd"])
    for key in ("snmp-odd", "bind-udp-odd", "snmp-private-odd"):
        s = SERVICES[key]
        assert found[f"{s['addr']}:{s['port']}"].state == "open|filtered", found
    assert found[f"{WEAK}:161"].state == "open", found


def test_services_scan_is_quick(
    tcp: tuple[dict[str, portlens.PortResult], float], udp: tuple[dict[str, portlens.PortResult], float]
) -> None:
    # nmap -sV takes about 50 s on these TCP ports (bench/breadth.py); 1/5 of that is 10 s
    assert tcp[1] < 2 * BUDGET, tcp[1]
    assert udp[1] < 2 * BUDGET, udp[1]

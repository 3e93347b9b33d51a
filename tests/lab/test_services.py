"""Service identification and misconfiguration checks, proven on real servers (lab part ``svc``).

Every weakness runs next to a hardened twin (``lab/services.py``: 198.18.12.2 weak, 198.18.12.3
hardened): each check must fire on the weak member and stay silent on the twin. Entries marked
``real: False`` are stand-ins written from the protocol specification, for products Debian does
not ship (MongoDB, Elasticsearch, CouchDB, the Docker Engine API, kubelet, an RTSP camera, a DVR
web interface, an RDP server that enforces NLA).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import portlens
from lab import Lab
from lab.services import HARD, SERVICES
from tests.factories import run_cli

BUDGET = 8.0  # seconds per port (the engine's service_timeout)


@pytest.fixture(scope="session")
def svc(lab: Lab) -> dict[str, Any]:
    """Start the real services once per session, in a namespace linked to the scanner's."""
    if "svc" not in lab.parts:
        lab.add_part("svc", ready_timeout=120.0)
    truth: dict[str, Any] = lab.truth["svc"]
    return truth


@pytest.fixture(scope="session")
def found(svc: dict[str, Any]) -> dict[str, portlens.PortResult]:
    """One scan of every service port of both hosts, identification on (run concurrently)."""
    ports = sorted({s["port"] for s in svc["services"].values()})
    started = time.monotonic()
    r = portlens.scan([svc["weak"], svc["hard"]], ports=ports, services=True, service_timeout=BUDGET)
    elapsed = time.monotonic() - started
    # Dozens of services at once: far less than one budget per port.
    assert elapsed < 4 * BUDGET, elapsed
    return {f"{p.host}:{p.port}": p for p in r.ports}


def _label(key: str) -> str:
    """Test ids say which servers are stand-ins written from the protocol specification."""
    return key if SERVICES[key].get("real", True) else f"{key}-standin"


def _upstream(package: str) -> str:
    """The upstream version of an installed Debian package ("1:9.2p1-2+deb12u10" -> "9.2p1")."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return out.split(":", 1)[-1].rsplit("-", 1)[0]


def _service(found: dict[str, portlens.PortResult], key: str) -> dict[str, Any]:
    s = SERVICES[key]
    port = found.get(f"{s['addr']}:{s['port']}")
    assert port is not None, f"{key}: port {s['port']} not open"
    assert port.service is not None, f"{key}: no service record"
    return dict(port.service)


def _checks(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in service["checks"]}


@pytest.mark.parametrize("key", sorted(SERVICES), ids=_label)
def test_identified_by_protocol(found: dict[str, portlens.PortResult], key: str) -> None:
    expect = SERVICES[key]
    service = _service(found, key)
    assert service["status"] == "identified", service
    assert service["name"] == expect["name"], service
    assert service["method"] in ("banner", "probe"), service
    assert service["conf"] >= 6
    if "product" in expect:
        assert service["product"] == expect["product"], service
    assert service["elapsed"] <= BUDGET + 0.5


@pytest.mark.parametrize("key", sorted(k for k, v in SERVICES.items() if v["checks"]), ids=_label)
def test_checks_fire_on_the_weak_member_only(found: dict[str, portlens.PortResult], key: str) -> None:
    service = _service(found, key)
    checks = _checks(service)
    for check_id, outcome in SERVICES[key]["checks"].items():
        assert check_id in checks, f"{key}: {check_id} not run: {service['checks']}"
        got = checks[check_id]
        assert got["outcome"] == outcome, f"{key}: {check_id}: {got}"
        assert got["evidence"], f"{key}: {check_id} has no evidence"
    if SERVICES[key]["addr"] == HARD:
        # A hardened twin raises nothing at all.
        vulnerable = [c for c in service["checks"] if c["outcome"] == "vulnerable"]
        assert not vulnerable, f"{key}: {vulnerable}"


def test_exactly_the_truth_is_open(found: dict[str, portlens.PortResult]) -> None:
    """Every service is up, and nothing else answers on either host (the scan covers every port of
    the truth on both addresses)."""
    assert set(found) == {f"{s['addr']}:{s['port']}" for s in SERVICES.values()}


@pytest.mark.parametrize("key", sorted(k for k, v in SERVICES.items() if "deb" in v))
def test_version_is_the_debian_packages(found: dict[str, portlens.PortResult], key: str) -> None:
    service = _service(found, key)
    assert service["version"] == _upstream(SERVICES[key]["deb"]), service


def test_the_default_policy_rates_what_the_checks_confirm(found: dict[str, portlens.PortResult]) -> None:
    """The check ids are the ones the risk policy knows (policy/contract.py): a confirmed weakness
    raises its rule or escalates the exposure finding on the weak member, never on the twin."""
    a = portlens.assess(list(found.values()))
    rules: dict[str, set[str]] = {}
    worst: dict[str, str] = {}
    order = ["info", "low", "medium", "high", "critical"]
    for f in a.findings:
        where = f"{f.host}:{f.port}"
        rules.setdefault(where, set()).add(f.rule)
        if order.index(f.severity) > order.index(worst.get(where, "info")):
            worst[where] = f.severity

    def at(key: str) -> str:
        return f"{SERVICES[key]['addr']}:{SERVICES[key]['port']}"

    tls = {"tls-certificate-expired", "tls-certificate-self-signed", "tls-weak-protocol", "tls-weak-cipher"}
    assert tls <= rules[at("https-weak")], rules[at("https-weak")]
    assert not tls & rules.get(at("https-hard"), set()), rules.get(at("https-hard"))
    assert "smb-signing-not-required" in rules[at("smb-weak")]
    assert "smb-signing-not-required" not in rules[at("smb-hard")]
    # Exposure findings escalate to critical only where the check confirmed the weakness.
    for weak, hard in [("smb-weak", "smb-hard"), ("rdp-weak", "rdp-hard"), ("vnc-weak", "vnc-hard")]:
        assert worst[at(weak)] == "critical" and worst[at(hard)] != "critical", (weak, worst[at(weak)], worst[at(hard)])
    for weak, hard in [("redis-weak", "redis-hard"), ("mongodb-weak", "mongodb-hard"), ("ftp-weak", "ftp-hard")]:
        assert order.index(worst[at(weak)]) > order.index(worst[at(hard)]), (weak, worst[at(weak)], worst[at(hard)])


def test_versions_and_evidence(found: dict[str, portlens.PortResult]) -> None:
    ssh = _service(found, "ssh-weak")
    assert ssh["version"] and ssh["cpe"] and ssh["cpe"][0].startswith("cpe:2.3:a:openbsd:openssh:")
    weak_algs = _checks(ssh)["ssh-weak-algorithms"]["evidence"]
    assert "diffie-hellman-group1-sha1" in weak_algs["kex"]
    assert "hmac-md5" in weak_algs["macs"] and "aes128-cbc" in weak_algs["ciphers"]
    redis = _service(found, "redis-weak")
    assert redis["version"] and _checks(redis)["redis-no-auth"]["evidence"]["redis_version"] == redis["version"]
    assert _service(found, "mariadb")["version"]
    assert _service(found, "ftp-weak")["version"]
    assert _service(found, "https-weak")["product"] == "nginx"
    rdp = _checks(_service(found, "rdp-weak"))["rdp-nla-not-enforced"]["evidence"]
    assert "rdp" in rdp["offered"].split(",") or "tls" in rdp["offered"].split(",")
    assert (
        "HYBRID_REQUIRED_BY_SERVER"
        in _checks(_service(found, "rdp-hard"))["rdp-nla-not-enforced"]["evidence"]["tls_only"]
    )
    camera = _checks(_service(found, "camera-web"))["http-device-signature"]["evidence"]
    assert "Hikvision" in camera["device"]


def test_tls_facts(found: dict[str, portlens.PortResult], svc: dict[str, Any]) -> None:
    weak = _service(found, "https-weak")["tls"]
    assert weak["expired"] and weak["self_signed"]
    assert weak["subject"] == weak["issuer"] == "CN=svc-weak.lab.invalid"
    assert weak["not_after"].startswith("2021-01-01") and weak["not_before"].startswith("2020-01-01")
    assert f"IP:{svc['weak']}" in weak["sans"]
    assert weak["version"] in ("TLSv1.2", "TLSv1.3") and weak["cipher"]
    weak_checks = _checks(_service(found, "https-weak"))
    assert weak_checks["tls-weak-protocol"]["evidence"]["accepted"] in ("TLSv1.0", "TLSv1.1")
    accepted = weak_checks["tls-weak-cipher"]["evidence"]["accepted"]
    assert any(w in accepted for w in ("3DES", "RC4", "_DES_", "EXPORT", "NULL", "anon")), accepted
    hard = _service(found, "https-hard")["tls"]
    assert not hard["expired"] and not hard["self_signed"]
    assert hard["issuer"] == "CN=portlens lab test CA" and hard["subject"] == "CN=svc-hard.lab.invalid"
    assert "DNS:svc-hard.lab.invalid" in hard["sans"]
    assert hard["version"] == "TLSv1.3"


def test_hostile_servers_end_unknown_in_time(truth: dict[str, Any]) -> None:
    hostile = truth["hostile"]
    budget = 2.0
    started = time.monotonic()
    r = portlens.scan(hostile["v4"], ports=sorted(hostile["ports"].values()), services=True, service_timeout=budget)
    assert time.monotonic() - started < budget + 5
    by_port = {p.port: p for p in r.ports}
    for kind, port in hostile["ports"].items():
        p = by_port.get(port)
        assert p is not None, kind
        assert p.service is not None
        s = dict(p.service)
        assert s["status"] == "unknown", (kind, s)
        assert s["method"] == "port" and s["conf"] == 3
        assert not s["checks"], (kind, s)
        assert s["elapsed"] <= budget + 0.3, (kind, s["elapsed"])
    assert dict(by_port[hostile["ports"]["script"]].service or {})["banner"] == "<script>alert(1)</script>\\r\\n"


def test_cli_services_flag(svc: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "svc.json"
    ports = f"{SERVICES['redis-weak']['port']},{SERVICES['ftp-weak']['port']}"
    r = run_cli("scan", svc["weak"], "-p", ports, "--services", "-q", "-o", str(out))
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    services = {p["port"]: p["service"] for p in data["ports"]}
    assert services[SERVICES["redis-weak"]["port"]]["name"] == "redis"
    assert services[SERVICES["ftp-weak"]["port"]]["name"] == "ftp"
    assert {c["id"]: c["outcome"] for c in services[SERVICES["ftp-weak"]["port"]]["checks"]} == {
        "ftp-anonymous": "vulnerable"
    }
    # The summary names product, version and the confirmed weaknesses.
    r = run_cli("scan", svc["weak"], "-p", ports, "--services")
    assert r.returncode == 0, r.stderr
    assert f"ftp vsftpd {_upstream('vsftpd')}  [ftp-anonymous]" in r.stdout, r.stdout
    assert "[redis-no-auth]" in r.stdout, r.stdout


def test_user_fingerprint_files_come_first(svc: dict[str, Any], tmp_path: Path) -> None:
    """PORTLENS_FINGERPRINTS: the user's TOML (the data file's format) and Rapid7 recog XML files
    are tried before the built-in patterns."""
    mine = tmp_path / "mine.toml"
    mine.write_text(
        '[[fingerprint]]\nservice = "ssh"\nfield = "banner"\npattern = \'^SSH-2.0-OpenSSH_([\\d.]+p\\d+)\'\n'
        'product = "Lab OpenSSH"\nversion = "$1-lab"\n'
    )
    recog = tmp_path / "recog.xml"
    recog.write_text(
        '<?xml version="1.0"?>\n'
        '<fingerprints matches="ftp.banner"><fingerprint pattern="vsFTPd ([\\d.]+)">'
        '<param pos="0" name="service.product" value="Lab vsftpd"/><param pos="1" name="service.version"/>'
        "</fingerprint></fingerprints>\n"
        '<fingerprints matches="http_header.server"><fingerprint pattern="^nginx/([\\d.]+)$">'
        '<param pos="0" name="service.product" value="Lab nginx"/><param pos="1" name="service.version"/>'
        "</fingerprint></fingerprints>\n"
    )
    out = tmp_path / "fp.json"
    keys = ("ssh-weak", "ftp-weak", "http-weak")
    ports = ",".join(str(SERVICES[k]["port"]) for k in keys)
    env = {**os.environ, "PORTLENS_FINGERPRINTS": f"{mine}:{recog}"}
    r = run_cli("scan", svc["weak"], "-p", ports, "--services", "-q", "-o", str(out), env=env)
    assert r.returncode == 0, r.stderr
    got = {p["port"]: p["service"] for p in json.loads(out.read_text())["ports"]}
    ssh, ftp, http = (got[SERVICES[k]["port"]] for k in keys)
    assert (ssh["product"], ssh["version"]) == ("Lab OpenSSH", f"{_upstream('openssh-server')}-lab"), ssh
    assert (ftp["product"], ftp["version"]) == ("Lab vsftpd", _upstream("vsftpd")), ftp
    assert (http["product"], http["version"]) == ("Lab nginx", _upstream("nginx-light")), http


def test_start_and_scan_async_carry_the_service(svc: dict[str, Any]) -> None:
    """The streaming and the asyncio entry points take ``services=`` like `scan`."""
    port = SERVICES["redis-weak"]["port"]
    streamed = list(portlens.start(svc["weak"], ports=[port], services=True, service_timeout=BUDGET))
    assert [dict(p.service or {})["name"] for p in streamed] == ["redis"]
    r = asyncio.run(portlens.scan_async(svc["weak"], ports=[port], services=True, service_timeout=BUDGET))
    checks = _checks(dict(r.ports[0].service or {}))
    assert checks["redis-no-auth"]["outcome"] == "vulnerable"

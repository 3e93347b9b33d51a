"""Distribution backports: CVEs decided by the distribution's advisory for the installed package.

Fixtures (tests/data/advisories), in the published formats, written for Debian 12's OpenSSH: an
NVD CVE 2.0 file with five OpenSSH CVEs whose upstream ranges cover 9.2p1 (regreSSHion,
Terrapin, CVE-2023-51385, CVE-2025-26465 and the "unimportant" row-hammer CVE-2023-51767), the
Debian Security Tracker JSON and OSV records (Debian:12, Debian:11, Ubuntu 22.04/24.04,
AlmaLinux 9, and a PyPI record that must be skipped) with Debian's fixed revisions.

The lab's real OpenSSH (Debian's openssh-server, ``lab/services.py``) announces its package
revision; what must be reported is computed from ``dpkg-query`` and the fixtures, so the test
holds whatever stable update the machine has. Older revisions are announced by a banner server
(``lab.servers banners``) and identified by the real engine.
"""

from __future__ import annotations

import ipaddress
import json
import os
import select
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import portlens
from lab import Lab
from lab.services import SERVICES
from portlens.policy import PolicyError, VulnDB
from portlens.policy.advisories import AdvisoryDB, load, parse_ecosystem
from portlens.policy.pkgversion import compare
from tests.factories import ROOT, Port, run_cli, stop_process

DATA = ROOT / "tests" / "data" / "advisories"
NVD = DATA / "nvdcve-2.0-openssh.json"
TRACKER = DATA / "debian-security-tracker.json"
OSV = DATA / "osv-openssh.json"
TODAY = date(2026, 12, 1)
RULE = "known-vulnerable-software"
ALL5 = {"CVE-2024-6387", "CVE-2023-48795", "CVE-2023-51385", "CVE-2025-26465", "CVE-2023-51767"}
# Debian 12's fixed revisions in the fixtures; CVE-2023-51767 is open and "unimportant"
FIXED_DEB12 = {
    "CVE-2024-6387": "1:9.2p1-2+deb12u3",
    "CVE-2023-48795": "1:9.2p1-2+deb12u2",
    "CVE-2023-51385": "1:9.2p1-2+deb12u2",
    "CVE-2025-26465": "1:9.2p1-2+deb12u5",
}


def ssh_port(version: str, distro: dict[str, Any] | None, host: str = "198.18.5.1") -> Port:
    up, p = version.split("p") if "p" in version else (version, "")
    cpe = f"cpe:2.3:a:openbsd:openssh:{up}:{'p' + p if p else '*'}:*:*:*:*:*:*"
    service = {"name": "ssh", "product": "OpenSSH", "version": version, "cpe": [cpe], "method": "banner", "conf": 10}
    return Port(host, 22, service={**service, "distro": distro})


def debian(revision: str | None, release: str | None = "12") -> dict[str, Any]:
    return {"name": "debian", "release": release, "codename": None, "revision": revision, "evidence": "fixture"}


def vuln_findings(a: portlens.Assessment) -> list[portlens.Finding]:
    return [f for f in a.findings if f.rule == RULE]


def reported(a: portlens.Assessment) -> set[str]:
    return {c for f in vuln_findings(a) for c in f.cves}


def expected_for(installed: str) -> set[str]:
    """The fixtures' CVEs a Debian 12 package version is still affected by (dpkg's order)."""
    return {cve for cve, fixed in FIXED_DEB12.items() if compare(installed, fixed, "dpkg") < 0}


# ------------------------------------------------------------------------------------------ loading


def test_both_formats_load_and_other_ecosystems_are_skipped() -> None:
    tracker = load(TRACKER)
    assert {(a.cve, a.release, a.status) for a in tracker.items if a.package == "openssh" and a.release == "12"} == {
        ("CVE-2024-6387", "12", "fixed"),
        ("CVE-2023-48795", "12", "fixed"),
        ("CVE-2023-51385", "12", "fixed"),
        ("CVE-2025-26465", "12", "fixed"),
        ("CVE-2023-51767", "12", "open"),
    }
    assert not [a for a in tracker.items if not a.cve.startswith("CVE-")]  # TEMP- ids name no CVE
    # bullseye was never affected by regreSSHion: fixed_version "0"
    (never,) = [a for a in tracker.items if a.cve == "CVE-2024-6387" and a.release == "11"]
    assert never.status == "not-affected"
    osv = load(OSV)
    assert osv.skipped == 1  # the PyPI record
    assert {(a.distro, a.release) for a in osv.items if a.cve == "CVE-2024-6387"} == {
        ("debian", "12"),
        ("ubuntu", "22.04"),
        ("ubuntu", "24.04"),
        ("almalinux", "9"),  # CVEs of an ALSA record are its "related" ids
    }
    assert parse_ecosystem("Ubuntu:Pro:18.04:LTS") == ("ubuntu", "18.04")
    assert parse_ecosystem("Red Hat:enterprise_linux:9::appstream") == ("rhel", "9")
    assert parse_ecosystem("Rocky Linux:9") == ("rocky", "9")
    assert parse_ecosystem("PyPI") is None and parse_ecosystem("Alpine:v3.20") is None


def test_osv_zip_per_ecosystem(tmp_path: Path) -> None:
    """osv.dev's Debian:12/all.zip holds one record per member; all of them are read."""
    records = json.loads(OSV.read_text())
    path = tmp_path / "all.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for r in records:
            z.writestr(f"{r['id']}.json", json.dumps(r))
        z.writestr("README.txt", "not JSON, not read")
    db = VulnDB.load([NVD, path])
    assert len(db.advisories) == len(load(OSV)) and db.advisories.skipped == 1
    a = portlens.assess([ssh_port("9.2p1", debian("2+deb12u2"))], vulns=db, today=TODAY)
    assert reported(a) == {"CVE-2024-6387", "CVE-2025-26465"}


# ------------------------------------------------------------------------------------------ matching


@pytest.mark.parametrize("data", [TRACKER, OSV], ids=["debian-tracker", "osv"])
@pytest.mark.parametrize(
    "revision", ["2", "2+deb12u1", "2+deb12u2", "2+deb12u3", "2+deb12u4", "2+deb12u5", "2+deb12u7", "2+deb12u10"]
)
def test_each_cve_is_decided_by_the_debian_revision(data: Path, revision: str) -> None:
    release = "12" if "deb12" in revision else None  # "Debian-2" names no release: found by upstream version
    a = portlens.assess([ssh_port("9.2p1", debian(revision, release))], vulns=[NVD, data], today=TODAY)
    want = expected_for(f"1:9.2p1-{revision}")
    assert reported(a) == want
    (f,) = vuln_findings(a)
    if want:
        assert f.confidence == 1.0  # every CVE decided by the advisory
        for c in f.evidence["cves"]:
            assert c["basis"] == "advisory" and c["rationale"].startswith("matched via advisory")
            assert FIXED_DEB12[c["id"]] in c["rationale"] and f"1:9.2p1-{revision}" in c["rationale"]
    else:
        assert (f.severity, f.cves, f.confidence) == ("info", (), 1.0)
        assert f.title == "OpenSSH 9.2p1: 5 CVEs fixed by the distribution (not reported)"
    hidden = {x["id"]: x["rationale"] for x in f.evidence.get("not_reported", [])}
    assert set(hidden) == ALL5 - want  # every CVE is either reported or said why not
    assert "unimportant" in hidden["CVE-2023-51767"]
    for cve in ALL5 - want - {"CVE-2023-51767"}:
        assert hidden[cve].startswith(f"not reported: fixed in the distribution revision {FIXED_DEB12[cve]}")


def test_without_advisories_the_match_stays_with_lower_confidence() -> None:
    plain = portlens.assess([ssh_port("9.2p1", None)], vulns=NVD, today=TODAY)
    backport = portlens.assess([ssh_port("9.2p1", debian("2+deb12u10"))], vulns=NVD, today=TODAY)
    (p,), (b,) = vuln_findings(plain), vuln_findings(backport)
    assert set(p.cves) == set(b.cves) == ALL5  # the finding stays
    assert b.severity == p.severity == "high"
    assert b.confidence == pytest.approx(p.confidence / 2) and p.confidence == 1.0
    for c in b.evidence["cves"]:
        assert c["basis"] == "version-only"
        assert c["rationale"].startswith("version-only match; the distribution may have backported the fix")
    assert "may have backported" in b.rationale
    assert all(c["rationale"] == "version-only match (the banner names no distribution)" for c in p.evidence["cves"])
    # advisories of another distribution do not decide, and say so
    ubuntu = {"name": "ubuntu", "release": None, "revision": "3ubuntu13.5", "evidence": "x"}
    u = portlens.assess([ssh_port("9.6p1", ubuntu)], vulns=[NVD, TRACKER], today=TODAY)
    (uf,) = vuln_findings(u)
    assert uf.confidence == 0.5
    assert all("do not cover Ubuntu" in c["rationale"] for c in uf.evidence["cves"])


def test_a_host_named_by_another_banner(tmp_path: Path) -> None:
    """nginx on Debian announces "nginx/1.22.1" only; the same host's SSH banner says Debian 12: the
    nginx match stays, version-only, with half the confidence, and says why."""
    record = json.loads(NVD.read_text())["vulnerabilities"][1]  # Terrapin, re-aimed at nginx for the test
    record["cve"]["id"] = "CVE-2099-4487"
    record["cve"]["configurations"][0]["nodes"][0]["cpeMatch"] = [
        {"vulnerable": True, "criteria": "cpe:2.3:a:f5:nginx:*:*:*:*:*:*:*:*", "versionEndExcluding": "1.25.3"}
    ]
    feed = tmp_path / "nginx.json"
    feed.write_text(json.dumps({"format": "NVD_CVE", "version": "2.0", "vulnerabilities": [record]}))
    nginx = {
        "name": "http",
        "product": "nginx",
        "version": "1.22.1",
        "cpe": ["cpe:2.3:a:f5:nginx:1.22.1:*:*:*:*:*:*:*"],
    }
    web = Port("198.18.5.1", 80, service=nginx)
    alone = portlens.assess([web], vulns=[feed], today=TODAY)
    (f,) = vuln_findings(alone)
    assert f.confidence == 1.0 and f.evidence["cves"][0]["rationale"].endswith("(the banner names no distribution)")
    both = portlens.assess([web, ssh_port("9.2p1", debian("2+deb12u10"))], vulns=[feed, TRACKER], today=TODAY)
    (g,) = [x for x in vuln_findings(both) if x.port == 80]
    assert g.confidence == 0.5 and g.cves == ("CVE-2099-4487",)
    assert "the host runs Debian 12, as another of its banners says" in g.evidence["cves"][0]["rationale"]


def test_ubuntu_release_found_by_upstream_version() -> None:
    """An Ubuntu revision rarely names its release: the releases whose advisories ship the same
    upstream version (8.9p1: 22.04 only) decide."""
    ubuntu = {"name": "ubuntu", "release": None, "revision": "3ubuntu0.6", "evidence": "x"}
    a = portlens.assess([ssh_port("8.9p1", ubuntu)], vulns=[NVD, OSV], today=TODAY)
    (f,) = vuln_findings(a)
    regre = next(c for c in f.evidence["cves"] if c["id"] == "CVE-2024-6387")
    assert regre["basis"] == "advisory" and "Ubuntu 22.04" in regre["rationale"]
    fixed = {**ubuntu, "revision": "3ubuntu0.10"}
    b = portlens.assess([ssh_port("8.9p1", fixed)], vulns=[NVD, OSV], today=TODAY)
    assert "CVE-2024-6387" not in reported(b)


def test_rpm_distribution_with_a_known_release() -> None:
    """rpm ordering: AlmaLinux 9 fixed CVE-2024-6387 in 8.7p1-38.el9_4.1."""
    alma = {"name": "almalinux", "release": "9", "revision": "38.el9", "evidence": "x"}
    a = portlens.assess([ssh_port("8.7p1", alma)], vulns=[NVD, OSV], today=TODAY)
    regre = next(c for f in vuln_findings(a) for c in f.evidence["cves"] if c["id"] == "CVE-2024-6387")
    assert regre["basis"] == "advisory" and "8.7p1-38.el9_4.1" in regre["rationale"]
    patched = {**alma, "revision": "38.el9_4.1"}
    b = portlens.assess([ssh_port("8.7p1", patched)], vulns=[NVD, OSV], today=TODAY)
    assert "CVE-2024-6387" not in reported(b)


def test_advisory_alone_reports_without_nvd() -> None:
    """With the distribution's advisories and no NVD file, an unfixed package is still reported."""
    a = portlens.assess([ssh_port("9.2p1", debian("2+deb12u1"))], advisories=[TRACKER], today=TODAY)
    (f,) = vuln_findings(a)
    assert set(f.cves) == set(FIXED_DEB12)
    assert all(c["basis"] == "advisory" for c in f.evidence["cves"])
    with pytest.raises(PolicyError, match="advisories= takes OSV"):
        portlens.assess([], advisories=[NVD])


def test_versions_that_are_not_of_the_scheme_decide_nothing(tmp_path: Path) -> None:
    """An advisory whose fixed version dpkg cannot read (data from elsewhere) is not trusted either way."""
    record = {
        "id": "DEBIAN-CVE-2024-6387",
        "upstream": ["CVE-2024-6387"],
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "openssh"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "not a version!"}]}],
            }
        ],
    }
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(record))
    a = portlens.assess([ssh_port("9.2p1", debian("2+deb12u10"))], vulns=[NVD, path], today=TODAY)
    (f,) = vuln_findings(a)
    regre = next(c for c in f.evidence["cves"] if c["id"] == "CVE-2024-6387")
    assert regre["basis"] == "version-only" and "no advisory" in regre["rationale"]


def test_ubuntu_negligible_is_not_reported(tmp_path: Path) -> None:
    """Ubuntu's "negligible" priority, like Debian's "unimportant": affected, no fix planned, not reported."""
    record = {
        "id": "UBUNTU-CVE-2023-51767",
        "upstream": ["CVE-2023-51767"],
        "severity": [{"type": "Ubuntu", "score": "negligible"}],
        "affected": [
            {
                "package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "openssh"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
            }
        ],
    }
    path = tmp_path / "ubuntu.json"
    path.write_text(json.dumps([record, json.loads(OSV.read_text())[5]]))
    ubuntu = {"name": "ubuntu", "release": "22.04", "revision": "3ubuntu0.10", "evidence": "x"}
    a = portlens.assess([ssh_port("8.9p1", ubuntu)], vulns=[NVD, path], today=TODAY)
    (f,) = vuln_findings(a)
    hidden = {x["id"]: x["rationale"] for x in f.evidence["not_reported"]}
    assert "unimportant" in hidden["CVE-2023-51767"] and "CVE-2024-6387" in hidden
    assert "CVE-2023-51767" not in f.cves


def test_many_ports_are_matched_quickly() -> None:
    """The applicable releases are found once per (distribution, package, version), not per CVE."""
    import time

    db = VulnDB.load([NVD, TRACKER, OSV])
    ports = [
        ssh_port("9.2p1", debian(f"2+deb12u{i % 12}", None), host=f"198.18.{i // 250}.{i % 250}") for i in range(1000)
    ]
    started = time.monotonic()
    a = portlens.assess(ports, vulns=db, today=TODAY)
    assert time.monotonic() - started < 30
    assert len(vuln_findings(a)) == 1000


def test_hostile_service_records_are_ignored() -> None:
    """A scan file from elsewhere: a distro record of the wrong shape decides nothing."""
    for bad in ("debian", {"name": "Debian; rm -rf"}, {"name": "debian", "revision": "2+deb12u10<script>"}, ["x"]):
        a = portlens.assess([ssh_port("9.2p1", bad)], vulns=[NVD, TRACKER], today=TODAY)  # type: ignore[arg-type]
        (f,) = vuln_findings(a)
        assert set(f.cves) == ALL5  # falls back to the version-only match, nothing hidden
        assert "not_reported" not in f.evidence


# ------------------------------------------------------------------------------------------ hostile files


def _zip_bomb(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(3):
            # valid OSV records padded with 40 MiB of spaces each (~40 KiB packed): only their sum is too much
            z.writestr(f"r{i}.json", b'{"id": "X", "affected": []' + b" " * (40 << 20) + b"}")


@pytest.mark.parametrize(
    "name,content,problem",
    [
        ("broken.json", b'{"openssh": {', "invalid JSON"),
        ("list.json", b"[1, 2]", "expected a JSON object .* OSV records"),
        ("osv-list.json", b'[{"id": "X", "affected": []}, 3]', "an OSV record must be a JSON object"),
        ("nvd-like.json", b'{"vulnerabilities": 3}', "no 'vulnerabilities' list"),
        ("osv-noid.json", b'{"affected": []}', "has no 'id'"),
        ("osv-badaff.json", b'{"id": "X", "affected": [{"package": 3}]}', "has no 'package' object"),
        (
            "osv-event.json",
            b'{"id": "X", "affected": [{"package": {"ecosystem": "Debian:12", "name": "a"},'
            b' "ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": 3}]}]}]}',
            "range event of unknown kind or type",
        ),
        ("tracker.json", b'{"openssh": {"CVE-2024-6387": {"releases": {"bookworm": 7}}}}', "must be an object"),
        ("latin1.json", '{"a": "\u00e9"}'.encode("latin-1"), "not UTF-8"),
        ("deep.json", b"[" * 100000 + b"]" * 100000, "nested too deeply"),
        ("empty.zip", b"PK\x05\x06" + b"\x00" * 18, "holds no .json file"),
        ("notzip.zip", b"this is not a zip", "not a readable zip archive"),
    ],
)
def test_malformed_advisory_files(tmp_path: Path, name: str, content: bytes, problem: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(PolicyError, match=problem) as e:
        VulnDB.load([path])
    assert isinstance(e.value, ValueError) and isinstance(e.value, portlens.PortlensError)
    assert str(path) in str(e.value)


def test_zip_bomb_fifo_directory_and_huge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = tmp_path / "bomb.zip"
    _zip_bomb(bomb)
    assert bomb.stat().st_size < 2 << 20
    with pytest.raises(PolicyError, match="decompression bomb"):
        VulnDB.load([bomb])
    fifo = tmp_path / "feed.json"
    os.mkfifo(fifo)
    with pytest.raises(PolicyError, match="not a regular file \\(a FIFO\\)"):
        VulnDB.load([fifo])
    with pytest.raises(PolicyError, match="a directory"):
        VulnDB.load([tmp_path])
    huge = tmp_path / "huge.json"
    huge.write_bytes(b"[" + b" " * (3 << 20) + b"]")
    monkeypatch.setenv("PORTLENS_MAX_INPUT_MB", "2")
    with pytest.raises(PolicyError, match="larger than 2 MiB"):
        VulnDB.load([huge])
    # the same cap applies to the members of a zip together
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(3):
            z.writestr(f"r{i}.json", b'{"id": "X", "affected": []' + b" " * (1 << 20) + b"}")
    with pytest.raises(PolicyError, match="decompresses to more than 2 MiB"):
        VulnDB.load([many])


def test_a_bad_file_loses_nothing_already_loaded(tmp_path: Path) -> None:
    """Loading is all or nothing per call; a good VulnDB stays usable after a bad file is refused."""
    good = VulnDB.load([NVD, TRACKER])
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{")
    with pytest.raises(PolicyError):
        VulnDB.load([NVD, bad])
    assert len(good) == 5 and len(good.advisories) == len(load(TRACKER))
    a = portlens.assess([ssh_port("9.2p1", debian("2+deb12u2"))], vulns=good, today=TODAY)
    assert reported(a) == expected_for("1:9.2p1-2+deb12u2")


def test_advisory_loader_is_fast_on_a_large_tracker(tmp_path: Path) -> None:
    """A tracker file the size of Debian's (tens of thousands of CVE x release rows) loads in seconds."""
    import time

    doc = {
        f"pkg{i}": {
            f"CVE-2020-{i * 10 + j:05d}": {
                "releases": {"bookworm": {"status": "resolved", "fixed_version": f"1.{j}-1"}}
            }
            for j in range(10)
        }
        for i in range(5000)
    }
    path = tmp_path / "tracker.json"
    path.write_text(json.dumps(doc))
    started = time.monotonic()
    db = load(path)
    assert isinstance(db, AdvisoryDB) and len(db) == 50000
    assert time.monotonic() - started < 20


# ------------------------------------------------------------------------------------------ the lab


@pytest.fixture(scope="module")
def svc(lab: Lab) -> dict[str, Any]:
    if "svc" not in lab.parts:
        lab.add_part("svc", ready_timeout=120.0)
    truth: dict[str, Any] = lab.truth["svc"]
    return truth


def _dpkg_version(package: str) -> str:
    return subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()


def test_lab_banners_keep_the_debian_revision(svc: dict[str, Any]) -> None:
    """Real Debian servers: the revision a banner shows equals the installed package's; servers
    whose banners name no distribution get none (nothing is invented)."""
    with_revision = {"ssh-hard": "openssh-server", "ssh-weak": "openssh-server", "mariadb": "mariadb-server"}
    without = ["http-weak", "ftp-weak", "redis-weak", "memcached"]
    keys = [*with_revision, *without]
    result = portlens.scan(
        sorted({SERVICES[k]["addr"] for k in keys}),
        ports=sorted({SERVICES[k]["port"] for k in keys}),
        services=True,
        service_timeout=8.0,
    )
    by = {(p.host, p.port): p.service for p in result.ports}
    for key, package in with_revision.items():
        service = by[(SERVICES[key]["addr"], SERVICES[key]["port"])]
        assert service is not None
        installed = _dpkg_version(package)
        assert service["distro"]["name"] == "debian", service
        assert service["distro"]["revision"] == installed.rsplit("-", 1)[1], (service["distro"], installed)
        assert installed.split(":")[-1].startswith(service["version"])
    for key in without:
        service = by[(SERVICES[key]["addr"], SERVICES[key]["port"])]
        assert service is not None and service["status"] == "identified" and service["distro"] is None, service


def test_lab_openssh_patched_debian_package(svc: dict[str, Any], tmp_path: Path) -> None:
    """The lab's real sshd: its service record keeps the Debian revision, and with the advisories no
    CVE is reported that the installed package has fixed (zero false findings); without them, the
    same CVEs are reported version-only at half confidence."""
    keys = ["ssh-weak", "ssh-hard"]
    targets = sorted({SERVICES[k]["addr"] for k in keys})
    ports = sorted({SERVICES[k]["port"] for k in keys})
    result = portlens.scan(targets, ports=ports, services=True, service_timeout=8.0)
    installed = _dpkg_version("openssh-server")  # "1:9.2p1-2+deb12u10"
    revision = installed.rsplit("-", 1)[1]
    by = {(p.host, p.port): p for p in result.ports}
    for k in keys:
        p = by[(SERVICES[k]["addr"], SERVICES[k]["port"])]
        assert p.service is not None
        distro = p.service["distro"]
        assert distro["name"] == "debian" and distro["revision"] == revision, p.service
        if "deb12" in revision:
            assert (distro["release"], distro["codename"]) == ("12", "bookworm")
    want = expected_for(installed)
    for data in (TRACKER, OSV):
        a = portlens.assess(result, vulns=[NVD, data], today=TODAY)
        assert reported(a) == want, data
        for f in vuln_findings(a):
            hidden = {x["id"] for x in f.evidence.get("not_reported", [])}
            assert hidden == ALL5 - want
    bare = portlens.assess(result, vulns=[NVD], today=TODAY)
    found = vuln_findings(bare)
    assert len(found) == 2 and all(set(f.cves) == ALL5 and f.confidence == 0.5 for f in found)
    # the command line: --advisories, and the reports carry each CVE's rationale
    scan_file = tmp_path / "scan.json"
    result.to_json(scan_file)
    out = tmp_path / "report.md"
    cli = run_cli("assess", str(scan_file), "--vulns", str(NVD), "--advisories", str(TRACKER), "--json")
    assert cli.returncode == 0, cli.stderr
    doc = json.loads(cli.stdout)
    rows = [f for f in doc["findings"] if f["rule"] == RULE]
    assert {c for f in rows for c in f["cves"]} == want
    assert all(x["rationale"] for f in rows for x in f["evidence"].get("not_reported", []))
    assessed = portlens.assess(result, vulns=[NVD, TRACKER], today=TODAY)
    assessed.to_markdown(out)
    text = out.read_text()
    html = assessed.to_html()
    assert "why each CVE was or was not reported" in text
    for cve in ALL5 - want:
        row = next(line for line in text.splitlines() if f"| {cve} |" in line)
        assert "| no |" in row and "not reported:" in row
        assert cve in html
    assert "not reported: fixed in the distribution revision" in html
    # the scan file keeps service.distro in the published schema
    import jsonschema

    schema = json.loads((ROOT / "python/portlens/report/schemas/scan-1.schema.json").read_text())
    jsonschema.validate(json.loads(scan_file.read_text()), schema)


@pytest.fixture(scope="module")
def old_banners(lab: Lab, truth: dict[str, Any]) -> Iterator[tuple[str, dict[int, str]]]:
    """Older OpenSSH packages as their banners announce them, on a live AnyIP address."""
    block = ipaddress.ip_network(truth["anyip"]["block"])
    addr = str(block.network_address + 40)
    assert addr not in set(truth["anyip"]["dead"])
    banners = {
        2201: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u1",
        2202: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2",
        2203: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
        2204: "SSH-2.0-OpenSSH_9.2p1 Debian-2",
        2205: "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6",
    }
    argv = [sys.executable, "-m", "lab.servers", "banners", "--addr", addr]
    for port, text in banners.items():
        argv += ["--banner", f"{port}={text}\\r\\n"]
    argv += ["--lab-tag", lab.tag, "--parent", str(os.getpid())]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        ["ip", "netns", "exec", f"pl-{lab.tag}-anyip", *argv],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 15.0)
        assert ready and proc.stdout.readline().strip() == b"ready", "banner server did not start"
        yield addr, banners
    finally:
        stop_process(proc)


def test_older_revisions_are_reported(old_banners: tuple[str, dict[int, str]]) -> None:
    """The engine reads each banner's revision; the CVEs Debian fixed later are reported via the
    advisory, the ones fixed earlier are not."""
    addr, banners = old_banners
    result = portlens.scan(addr, ports=sorted(banners), services=True, service_timeout=5.0)
    by = {p.port: p for p in result.ports}
    assert set(by) == set(banners)
    for port, text in banners.items():
        assert by[port].service is not None and by[port].service["distro"]["evidence"] in text
    a = portlens.assess(result, vulns=[NVD, TRACKER, OSV], today=TODAY)
    per_port = {f.port: set(f.cves) for f in vuln_findings(a)}
    assert per_port[2201] == expected_for("1:9.2p1-2+deb12u1") == set(FIXED_DEB12)
    assert per_port[2202] == {"CVE-2024-6387", "CVE-2025-26465"}
    assert per_port[2203] == {"CVE-2025-26465"}
    assert per_port[2204] == set(FIXED_DEB12)  # "Debian-2": the release found by the upstream version
    assert "CVE-2024-6387" in per_port[2205]
    ubuntu = next(f for f in vuln_findings(a) if f.port == 2205)
    regre = next(c for c in ubuntu.evidence["cves"] if c["id"] == "CVE-2024-6387")
    assert regre["basis"] == "advisory" and "3ubuntu0.10" in regre["rationale"]
    # the other CVEs have no Ubuntu advisory in the fixtures: version-only, and said so
    assert all(c["basis"] == "version-only" for c in ubuntu.evidence["cves"] if c["id"] != "CVE-2024-6387")

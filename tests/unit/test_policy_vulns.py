"""Known-vulnerable software: version ordering, CPE matching, NVD CVE 2.0 and CISA KEV files.

The feeds in tests/data/policy are small files in the real formats: two real OpenSSH records
(CVE-2023-38408, CVE-2024-6387, ranges as NVD writes them) and test records (CVE-2099-*) for the
range keys, a platform ("running on") configuration, an exact version, a rejected record and
NVD's own KEV fields.
"""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import date
from pathlib import Path

import pytest

import portlens
from portlens.policy import Policy, PolicyError, VulnDB, compare_versions
from portlens.policy.cpe import CpeError, criteria_matches, parse_cpe
from portlens.policy.vulns import derive_cpes
from tests.factories import Port

DATA = Path(__file__).parent.parent / "data" / "policy"
NVD = DATA / "nvdcve-2.0-sample.json"
KEV = DATA / "known_exploited_vulnerabilities.json"


@pytest.fixture(scope="module")
def db() -> VulnDB:
    return VulnDB.load([NVD, KEV])


def cves(db: VulnDB, *cpes: str, host: tuple[str, ...] = ()) -> list[str]:
    targets = [parse_cpe(c) for c in cpes]
    return [m.cve.id for m in db.match(targets, targets + [parse_cpe(h) for h in host])]


# ------------------------------------------------------------------------------------------ versions


@pytest.mark.parametrize(
    "a,b,expected",
    [
        ("1.0", "1.0.0", 0),
        ("1.01", "1.1", 0),
        ("1.10", "1.9", 1),
        ("8.9p1", "9.3p2", -1),
        ("9.3p1", "9.3p2", -1),
        ("9.3", "9.3p1", -1),
        ("9.3p2", "9.3.1", -1),
        ("1.0rc1", "1.0", -1),
        ("1.0alpha2", "1.0beta1", -1),
        ("1.0-beta2", "1.0rc1", -1),
        ("1.0.0-dev", "1.0.0-alpha", -1),
        ("1.0.2", "1.0.2k", -1),
        ("1.0.2k", "1.0.2l", -1),
        ("1.0.2o", "1.0.2p", -1),
        ("1.0.2zd", "1.0.3", -1),
        ("v2.4.1", "2.4.1", 0),
        ("2.4.41-foo", "2.4.41", -1),
        ("15.2(4)M3", "15.2(4)M10", -1),
        ("5.5.800_build210628", "5.5.800", 1),
        ("2024.06.01", "2024.6.1", 0),
        ("1.0final", "1.0", 0),
    ],
)
def test_version_order(a: str, b: str, expected: int) -> None:
    assert compare_versions(a, b) == expected
    assert compare_versions(b, a) == -expected


def test_version_order_is_a_total_order_on_a_sample() -> None:
    sample = ["1.0rc1", "1.0", "1.0.0.1", "1.0p1", "1.0a", "1.0.1", "1.1b2", "1.1", "2", "10.0", "1.0-dev"]
    ordered = sorted(sample, key=__import__("functools").cmp_to_key(compare_versions))
    assert ordered == ["1.0-dev", "1.0rc1", "1.0", "1.0.0.1", "1.0p1", "1.0a", "1.0.1", "1.1b2", "1.1", "2", "10.0"]


# ------------------------------------------------------------------------------------------ CPE


def test_cpe_parsing() -> None:
    c = parse_cpe("cpe:2.3:a:openbsd:openssh:8.9:p1:*:*:*:*:*:*")
    assert (c.part, c.vendor, c.product, c.version, c.update) == ("a", "openbsd", "openssh", "8.9", "p1")
    uri = parse_cpe("cpe:/a:openbsd:openssh:8.9p1")
    assert (uri.version, uri.update, uri.edition) == ("8.9p1", "*", "*")
    packed = parse_cpe("cpe:/o:microsoft:windows_10:-::~~~~x64~:en")
    assert (packed.version, packed.target_hw, packed.language) == ("-", "x64", "en")
    esc = parse_cpe(r"cpe:2.3:a:acme:tool\:pro:1.0:*:*:*:*:*:*:*")
    assert esc.value("product") == "tool:pro"
    for bad in ("openssh 8.9", "cpe:2.3:a:x", "cpe:2.3:z:v:p:1:*:*:*:*:*:*:*", "cpe:2.3:a:*:*:1:*:*:*:*:*:*:*"):
        with pytest.raises(CpeError):
            parse_cpe(bad)


def test_cpe_attribute_matching_does_not_guess() -> None:
    crit = parse_cpe("cpe:2.3:a:example:widgetd:*:*:*:*:*:linux:*:*")
    assert criteria_matches(crit, {}, parse_cpe("cpe:2.3:a:example:widgetd:1.0:*:*:*:*:linux:*:*"))
    assert not criteria_matches(crit, {}, parse_cpe("cpe:2.3:a:example:widgetd:1.0:*:*:*:*:windows:*:*"))
    # the criteria asks for linux, the target does not say: no match
    assert not criteria_matches(crit, {}, parse_cpe("cpe:2.3:a:example:widgetd:1.0:*:*:*:*:*:*:*"))
    wild = parse_cpe("cpe:2.3:a:example:widget*:1.?:*:*:*:*:*:*:*")
    assert criteria_matches(wild, {}, parse_cpe("cpe:2.3:a:example:widgetd:1.4:*:*:*:*:*:*:*"))
    assert not criteria_matches(wild, {}, parse_cpe("cpe:2.3:a:example:widgetd:1.40:*:*:*:*:*:*:*"))


# ------------------------------------------------------------------------------------------ NVD ranges


@pytest.mark.parametrize(
    "cpe,expected",
    [
        # CVE-2023-38408: versionEndExcluding 9.3, plus 9.3 (no update) and 9.3p1 exactly
        ("cpe:2.3:a:openbsd:openssh:8.4:p1:*:*:*:*:*:*", {"CVE-2023-38408"}),
        ("cpe:2.3:a:openbsd:openssh:9.3:-:*:*:*:*:*:*", {"CVE-2023-38408", "CVE-2024-6387"}),
        ("cpe:2.3:a:openbsd:openssh:9.3:p1:*:*:*:*:*:*", {"CVE-2023-38408", "CVE-2024-6387"}),
        ("cpe:/a:openbsd:openssh:9.3p1", {"CVE-2023-38408", "CVE-2024-6387"}),  # same release, one field
        ("cpe:2.3:a:openbsd:openssh:9.3:p2:*:*:*:*:*:*", {"CVE-2024-6387"}),
        # CVE-2024-6387: versionEndExcluding 4.4; versionStartIncluding 8.5p1 .. versionEndExcluding 9.8p1
        ("cpe:2.3:a:openbsd:openssh:4.3:p2:*:*:*:*:*:*", {"CVE-2023-38408", "CVE-2024-6387"}),
        ("cpe:2.3:a:openbsd:openssh:4.4:p1:*:*:*:*:*:*", {"CVE-2023-38408"}),
        ("cpe:2.3:a:openbsd:openssh:8.5:p1:*:*:*:*:*:*", {"CVE-2023-38408", "CVE-2024-6387"}),
        ("cpe:2.3:a:openbsd:openssh:9.7:p1:*:*:*:*:*:*", {"CVE-2024-6387"}),
        ("cpe:2.3:a:openbsd:openssh:9.8:p1:*:*:*:*:*:*", set()),
        ("cpe:2.3:a:openbsd:openssh:*:*:*:*:*:*:*:*", set()),  # version unknown: no range matches
        # CVE-2099-0001: versionStartExcluding 1.0, versionEndIncluding 1.4.2
        ("cpe:2.3:a:example:widgetd:1.0:*:*:*:*:*:*:*", set()),
        ("cpe:2.3:a:example:widgetd:1.0.1:*:*:*:*:*:*:*", {"CVE-2099-0001"}),
        ("cpe:2.3:a:example:widgetd:1.4.2:*:*:*:*:*:*:*", {"CVE-2099-0001"}),
        ("cpe:2.3:a:example:widgetd:1.4.2a:*:*:*:*:*:*:*", set()),
        ("cpe:2.3:a:example:widgetd:1.4.3:*:*:*:*:*:*:*", set()),
        # CVE-2099-0003: exactly 2.0 beta1 (version 2.0, update beta1)
        ("cpe:2.3:a:example:widgetd:2.0:beta1:*:*:*:*:*:*", {"CVE-2099-0003"}),
        ("cpe:2.3:a:example:widgetd:2.0beta1:*:*:*:*:*:*:*", {"CVE-2099-0003"}),
        ("cpe:2.3:a:example:widgetd:2.0:*:*:*:*:*:*:*", set()),
        # CVE-2099-0004: versionStartIncluding 3.0, versionEndExcluding 3.2 (KEV)
        ("cpe:2.3:a:example:widgetd:3.0:*:*:*:*:*:*:*", {"CVE-2099-0004"}),
        ("cpe:2.3:a:example:widgetd:3.1.9:*:*:*:*:*:*:*", {"CVE-2099-0004"}),
        ("cpe:2.3:a:example:widgetd:3.2:*:*:*:*:*:*:*", set()),
        ("cpe:2.3:a:example:widgetd:3.2rc1:*:*:*:*:*:*:*", {"CVE-2099-0004"}),
        # CVE-2099-0006: every version of the gizmo, even an unknown one
        ("cpe:2.3:h:example:gizmo:-:*:*:*:*:*:*:*", {"CVE-2099-0006"}),
        ("cpe:2.3:a:other:thing:1.0:*:*:*:*:*:*:*", set()),
    ],
)
def test_nvd_version_ranges_at_their_edges(db: VulnDB, cpe: str, expected: set[str]) -> None:
    assert set(cves(db, cpe)) == expected


def test_rejected_records_never_match(db: VulnDB) -> None:
    assert "CVE-2099-0005" not in db.cves
    assert len(db) == 7 and set(db.kev) == {"CVE-2099-0004", "CVE-2021-36260"}


def test_platform_configurations(db: VulnDB) -> None:
    gadget = "cpe:2.3:a:example:gadget:1.5:*:*:*:*:*:*:*"
    (m,) = db.match([parse_cpe(gadget)])
    assert m.cve.id == "CVE-2099-0002" and m.conditions == ("cpe:2.3:o:microsoft:windows:*:*:*:*:*:*:*:*",)
    on_windows = db.match(
        [parse_cpe(gadget)], [parse_cpe(gadget), parse_cpe("cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*")]
    )
    assert [x.conditions for x in on_windows] == [()]
    assert cves(db, gadget, host=("cpe:2.3:o:canonical:ubuntu_linux:22.04:*:*:*:*:*:*:*",)) == []
    assert cves(db, "cpe:2.3:a:example:gadget:2.1:*:*:*:*:*:*:*") == []


def test_severity_from_cvss_and_kev(db: VulnDB) -> None:
    def sev(cpe: str) -> dict[str, tuple[str, bool]]:
        return {m.cve.id: (m.severity, m.exploited) for m in db.match([parse_cpe(cpe)])}

    assert sev("cpe:2.3:a:openbsd:openssh:9.3:p1:*:*:*:*:*:*") == {
        "CVE-2023-38408": ("critical", False),  # CVSS 9.8
        "CVE-2024-6387": ("high", False),  # 8.1, from the only (secondary) metric
    }
    assert sev("cpe:2.3:a:example:widgetd:1.2:*:*:*:*:*:*:*") == {"CVE-2099-0001": ("medium", False)}
    assert sev("cpe:2.3:a:example:widgetd:2.0:beta1:*:*:*:*:*:*") == {"CVE-2099-0003": ("low", False)}  # CVSS v2 3.5
    assert sev("cpe:2.3:a:example:widgetd:3.1:*:*:*:*:*:*:*") == {"CVE-2099-0004": ("high", True)}  # 5.4, but KEV
    assert sev("cpe:2.3:h:example:gizmo:-:*:*:*:*:*:*:*") == {"CVE-2099-0006": ("high", True)}  # NVD cisaExploitAdd
    # without the KEV file, the medium CVE stays medium
    assert {m.severity for m in VulnDB.load(NVD).match([parse_cpe("cpe:2.3:a:example:widgetd:3.1:*:*:*:*:*:*:*")])} == {
        "medium"
    }


def test_cpe_from_product_name() -> None:
    assert [str(c) for c in derive_cpes("OpenSSH", "8.9p1")] == ["cpe:2.3:a:openbsd:openssh:8.9:p1:*:*:*:*:*:*"]
    assert [c.vendor for c in derive_cpes("nginx", "1.18.0")] == ["f5", "nginx"]
    assert derive_cpes("OpenSSH", None) == [] and derive_cpes("SomethingElse", "1.0") == []
    assert derive_cpes("OpenSSH", "unknown") == []


# ------------------------------------------------------------------------------------------ findings


def test_assess_reports_known_vulnerable_software(db: VulnDB) -> None:
    ports = [
        Port("198.18.5.1", 22, service={"name": "ssh", "product": "OpenSSH", "version": "9.3p1"}),  # CPE derived
        Port("198.18.5.1", 8080, service={"name": "http", "cpe": ["cpe:2.3:a:example:widgetd:3.1:*:*:*:*:*:*:*"]}),
        Port("198.18.5.2", 22, service={"name": "ssh", "product": "OpenSSH", "version": "9.8p1"}),
    ]
    a = portlens.assess(ports, vulns=db, today=date(2025, 6, 1))
    found = [f for f in a.findings if f.rule == "known-vulnerable-software"]
    assert [(f.host, f.port, f.severity, f.cves) for f in found] == [
        ("198.18.5.1", 22, "critical", ("CVE-2023-38408", "CVE-2024-6387")),
        ("198.18.5.1", 8080, "high", ("CVE-2099-0004",)),
    ]
    ssh, widget = found
    assert ssh.title == "OpenSSH 9.3p1: 2 known vulnerabilities"
    assert ssh.evidence["cpe_source"] == "product-name" and ssh.confidence == pytest.approx(0.8)
    first = ssh.evidence["cves"][0]
    assert (first["id"], first["cvss"], first["known_exploited"]) == ("CVE-2023-38408", 9.8, False)
    assert "https://nvd.nist.gov/vuln/detail/CVE-2024-6387" in ssh.references
    assert widget.title.endswith("(1 known exploited)") and widget.confidence == 1.0
    assert widget.evidence["cves"][0]["kev"]["due_date"] == "2024-05-22"
    assert any(r.practice == "patch" and "CVE-2099-0004" in r.text for r in widget.remediation)
    assert "https://www.cisa.gov/known-exploited-vulnerabilities-catalog" in widget.references
    # nothing is guessed without data
    assert not [f for f in portlens.assess(ports).findings if f.rule == "known-vulnerable-software"]


def test_conditional_match_has_half_the_confidence(db: VulnDB) -> None:
    p = Port("198.18.5.3", 9000, service={"name": "gadget", "cpe": ["cpe:/a:example:gadget:1.5"]})
    (f,) = [f for f in portlens.assess([p], vulns=db).findings if f.rule == "known-vulnerable-software"]
    assert f.confidence == 0.5 and f.evidence["cves"][0]["unverified_conditions"]
    os_port = Port("198.18.5.3", 22, service={"name": "ssh", "cpe": ["cpe:/o:microsoft:windows:-"]})
    (g,) = [f for f in portlens.assess([p, os_port], vulns=db).findings if f.rule == "known-vulnerable-software"]
    assert g.confidence == 1.0 and "unverified_conditions" not in g.evidence["cves"][0]


def test_feeds_named_in_a_policy_file_compressed_feeds_and_cli_style_lists(tmp_path: Path) -> None:
    pol = Policy.load(DATA / "with-vulns.toml")
    assert pol.vuln_files == (str(DATA / "nvdcve-2.0-sample.json"), str(DATA / "known_exploited_vulnerabilities.json"))
    p = Port("198.18.5.4", 443, service={"name": "https", "cpe": ["cpe:2.3:a:example:widgetd:3.0:*:*:*:*:*:*:*"]})
    a = portlens.assess([p], policy=pol)
    assert [f.cves for f in a.findings if f.rule == "known-vulnerable-software"] == [("CVE-2099-0004",)]
    gz = tmp_path / "nvdcve-2.0-sample.json.gz"
    with open(NVD, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert len(VulnDB.load([str(gz)])) == 7
    b = portlens.assess([p], vulns=[str(gz), str(KEV)])
    assert [f.severity for f in b.findings if f.rule == "known-vulnerable-software"] == ["high"]


def test_broken_vulnerability_files(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"vulnerabilities": [\n  {"cve": {"id": "CVE-1"}},\n  oops\n]}\n')
    with pytest.raises(PolicyError) as info:
        VulnDB.load(bad)
    assert (info.value.path, info.value.line) == (str(bad), 3) and "invalid JSON" in str(info.value)
    old = tmp_path / "nvdcve-1.1-2020.json"
    old.write_text(json.dumps({"CVE_data_type": "CVE", "CVE_Items": []}))
    with pytest.raises(PolicyError, match="1.1"):
        VulnDB.load(old)
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"vulnerabilities": [{"name": "x"}]}))
    with pytest.raises(PolicyError, match="neither KEV"):
        VulnDB.load(odd)
    with pytest.raises(PolicyError, match="cannot read"):
        VulnDB.load(tmp_path / "missing.json")
    policy = tmp_path / "p.toml"
    policy.write_text('[policy]\nname = "p"\n[vulns]\nfiles = ["kev.json"]\n')
    with pytest.raises(PolicyError) as info:
        Policy.load(policy)
    assert (info.value.path, info.value.line) == (str(policy), 4) and "does not exist" in str(info.value)

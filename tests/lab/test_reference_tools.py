"""portlens's TLS and SSH facts against two reference tools, on every TLS and SSH service of the lab.

`sslyze` (TLS: every protocol version and cipher suite it accepts, the certificate) and
`ssh-audit` (SSH: the server's KEXINIT algorithm lists, with its own verdicts), both from PyPI
(the ``test`` extra), run as commands from the scanner namespace against the lab's real nginx,
OpenSSH and the kubelet stand-ins (``lab/services.py``). The facts portlens reports must equal
theirs; where the *verdicts* differ, the difference must be one of the documented policy
differences (`SSH_POLICY_DIFFERENCES`, README "Reference tools"), so a new disagreement fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import portlens
from lab import Lab
from lab.services import SERVICES

TLS_KEYS = sorted(k for k, v in SERVICES.items() if v.get("tls"))
SSH_KEYS = sorted(k for k, v in SERVICES.items() if v["name"] == "ssh")
BUDGET = 8.0

#: sslyze's names of the protocol versions, and portlens's
VERSIONS = [
    ("ssl_2_0_cipher_suites", "SSLv2"),
    ("ssl_3_0_cipher_suites", "SSLv3"),
    ("tls_1_0_cipher_suites", "TLSv1.0"),
    ("tls_1_1_cipher_suites", "TLSv1.1"),
    ("tls_1_2_cipher_suites", "TLSv1.2"),
    ("tls_1_3_cipher_suites", "TLSv1.3"),
]
WEAK_VERSIONS = ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1")
#: what portlens's tls-weak-cipher check calls weak (src/services/tls.rs), by IANA suite name
WEAK_SUITE_WORDS = ("_RC4_", "_3DES_", "_DES_", "_DES40_", "EXPORT", "_NULL_", "_anon_")

#: ssh-audit fails these, portlens's ssh-weak-algorithms does not (a policy choice, README):
#: the NIST curves are not broken; SHA-1 in an HMAC is not affected by SHA-1 collisions.
#: portlens flags these, ssh-audit only warns: CBC modes (Lucky13-style plaintext recovery on SSH).
SSH_POLICY_DIFFERENCES: dict[str, str] = {
    "ecdh-sha2-nistp256": "ssh-audit fails NIST P-curves (suspected backdoor); portlens does not: no known weakness",
    "ecdh-sha2-nistp384": "ssh-audit fails NIST P-curves (suspected backdoor); portlens does not: no known weakness",
    "ecdh-sha2-nistp521": "ssh-audit fails NIST P-curves (suspected backdoor); portlens does not: no known weakness",
    "hmac-sha1": "ssh-audit fails SHA-1 MACs; portlens does not: HMAC-SHA1 is not broken by SHA-1 collisions",
    "hmac-sha1-etm@openssh.com": "ssh-audit fails SHA-1 MACs; portlens does not: HMAC-SHA1 is not broken by collisions",
    "aes128-cbc": "portlens flags CBC ciphers (CVE-2008-5161 plaintext recovery); ssh-audit only warns",
    "aes192-cbc": "portlens flags CBC ciphers (CVE-2008-5161 plaintext recovery); ssh-audit only warns",
    "aes256-cbc": "portlens flags CBC ciphers (CVE-2008-5161 plaintext recovery); ssh-audit only warns",
}


def _tool(name: str) -> str:
    """The reference tool's command: on PATH, or installed next to this Python (the venv's bin)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed: pip install '.[test]' (or pip install {name})")
    return found


@pytest.fixture(scope="module")
def svc(lab: Lab) -> dict[str, Any]:
    if "svc" not in lab.parts:
        lab.add_part("svc", ready_timeout=120.0)
    truth: dict[str, Any] = lab.truth["svc"]
    return truth


@pytest.fixture(scope="module")
def portlens_found(svc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    keys = TLS_KEYS + SSH_KEYS
    addrs = sorted({SERVICES[k]["addr"] for k in keys})
    ports = sorted({SERVICES[k]["port"] for k in keys})
    r = portlens.scan(addrs, ports=ports, services=True, service_timeout=BUDGET)
    by = {(p.host, p.port): p for p in r.ports}
    out = {}
    for k in keys:
        p = by.get((SERVICES[k]["addr"], SERVICES[k]["port"]))
        assert p is not None and p.service is not None, k
        out[k] = dict(p.service)
    return out


def _checks(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in service["checks"]}


# ------------------------------------------------------------------------------------------ TLS


@pytest.fixture(scope="module")
def sslyze(svc: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """sslyze's scan of every TLS service (one run, all targets)."""
    out = tmp_path_factory.mktemp("sslyze") / "scan.json"
    targets = [f"{SERVICES[k]['addr']}:{SERVICES[k]['port']}" for k in TLS_KEYS]
    argv = [_tool("sslyze"), "--quiet", "--json_out", str(out), "--certinfo"]
    argv += ["--sslv2", "--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3", *targets]
    run = subprocess.run(
        argv, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONWARNINGS": "ignore"}
    )
    assert run.returncode == 0, run.stderr[-2000:]
    doc = json.loads(out.read_text())
    results = {}
    for r in doc["server_scan_results"]:
        loc = r["server_location"]
        key = next(
            k for k in TLS_KEYS if (SERVICES[k]["addr"], SERVICES[k]["port"]) == (loc["ip_address"], loc["port"])
        )
        assert r["scan_status"] == "COMPLETED", (key, r.get("connectivity_error_trace"))
        results[key] = r["scan_result"]
    assert set(results) == set(TLS_KEYS)
    return results


def _accepted(scan: dict[str, Any]) -> dict[str, list[str]]:
    """portlens version name -> the suites sslyze saw accepted."""
    out = {}
    for field, name in VERSIONS:
        r = scan[field]
        assert r["status"] == "COMPLETED", (field, r.get("error_trace"))
        out[name] = [c["cipher_suite"]["name"] for c in r["result"]["accepted_cipher_suites"]]
    return out


def _suite(name: str) -> str:
    """portlens writes TLS 1.3 suites as rustls does (TLS13_AES_256_GCM_SHA384); sslyze as IANA does."""
    return "TLS_" + name[len("TLS13_") :] if name.startswith("TLS13_") else name


@pytest.mark.parametrize("key", TLS_KEYS)
def test_tls_facts_equal_sslyze(key: str, portlens_found: dict[str, dict[str, Any]], sslyze: dict[str, Any]) -> None:
    service, scan = portlens_found[key], sslyze[key]
    tls = service["tls"]
    accepted = _accepted(scan)
    versions = [v for v, suites in accepted.items() if suites]
    # the session portlens negotiates: sslyze's highest version, one of the suites sslyze saw there
    assert tls["version"] == versions[-1], (tls, versions)
    assert _suite(tls["cipher"]) in accepted[tls["version"]], (tls["cipher"], accepted[tls["version"]])
    checks = _checks(service)
    # protocol versions accepted: TLS 1.1 and older
    weak_versions = [v for v in WEAK_VERSIONS if accepted[v]]
    proto = checks["tls-weak-protocol"]
    assert (proto["outcome"] == "vulnerable") == bool(weak_versions), (proto, weak_versions)
    if weak_versions:
        assert proto["evidence"]["accepted"] == weak_versions[-1]
        assert proto["evidence"]["cipher"] in accepted[weak_versions[-1]]
    # weak cipher suites accepted, over every version sslyze tried
    weak_suites = {(v, s) for v, suites in accepted.items() for s in suites if any(w in s for w in WEAK_SUITE_WORDS)}
    cipher = checks["tls-weak-cipher"]
    assert (cipher["outcome"] == "vulnerable") == bool(weak_suites), (cipher, sorted(weak_suites))
    if weak_suites:
        assert (cipher["evidence"]["version"], cipher["evidence"]["accepted"]) in weak_suites
    # the certificate
    deployment = scan["certificate_info"]["result"]["certificate_deployments"][0]
    leaf = deployment["received_certificate_chain"][0]
    assert tls["not_before"] == leaf["not_valid_before"] and tls["not_after"] == leaf["not_valid_after"]
    assert tls["subject"] == leaf["subject"]["rfc4514_string"] and tls["issuer"] == leaf["issuer"]["rfc4514_string"]
    san = leaf["subject_alternative_name"]
    theirs = {f"DNS:{n}" for n in san.get("dns_names") or []} | {f"IP:{a}" for a in san.get("ip_addresses") or []}
    assert set(tls["sans"]) == theirs
    self_signed = leaf["subject"]["rfc4514_string"] == leaf["issuer"]["rfc4514_string"]
    assert tls["self_signed"] == self_signed and (checks["tls-self-signed"]["outcome"] == "vulnerable") == self_signed
    expired = datetime.fromisoformat(leaf["not_valid_after"].replace("Z", "+00:00")) < datetime.now(timezone.utc)
    assert tls["expired"] == expired and (checks["tls-expired"]["outcome"] == "vulnerable") == expired
    # sslyze's own verdict on trust: every lab certificate is untrusted by the public stores, and
    # portlens gives no trust verdict (README "Reference tools": no trust store is bundled)
    assert not any(p["was_validation_successful"] for p in deployment["path_validation_results"])
    assert "tls-untrusted" not in checks


# ------------------------------------------------------------------------------------------ SSH


@pytest.fixture(scope="module")
def ssh_audit(svc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for k in SSH_KEYS:
        s = SERVICES[k]
        argv = [_tool("ssh-audit"), "-j", "--skip-rate-test", "-t", "10", "-p", str(s["port"]), s["addr"]]
        run = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        # ssh-audit exits 0 (good), 1 (warnings), 2 (failures) or 3 (unknown); its JSON is the answer
        assert run.returncode in (0, 1, 2, 3), run.stderr[-2000:]
        out[k] = json.loads(run.stdout)
    return out


def _portlens_ssh(service: dict[str, Any]) -> tuple[dict[str, list[str]], set[str]]:
    ev = _checks(service)["ssh-weak-algorithms"]["evidence"]
    lists = {sect: ev[f"offered_{sect}"].split(",") for sect in ("kex", "hostkey", "ciphers", "macs")}
    weak = {a for sect in ("kex", "hostkey", "ciphers", "macs") for a in ev.get(sect, "").split(",") if a}
    return lists, weak


@pytest.mark.parametrize("key", SSH_KEYS)
def test_ssh_algorithm_lists_equal_ssh_audit(
    key: str, portlens_found: dict[str, dict[str, Any]], ssh_audit: dict[str, Any]
) -> None:
    service, audit = portlens_found[key], ssh_audit[key]
    lists, weak = _portlens_ssh(service)
    theirs = {
        sect: [a["algorithm"] for a in audit[name]]
        for sect, name in (("kex", "kex"), ("hostkey", "key"), ("ciphers", "enc"), ("macs", "mac"))
    }
    assert lists == theirs  # the same algorithms, in the server's order
    assert audit["banner"]["raw"] == service["banner"].replace("\\r\\n", "").strip()
    assert service["distro"]["evidence"] == audit["banner"]["comments"]  # "Debian-2+deb12u10"
    # verdicts: ssh-audit's failures and portlens's weak algorithms differ only as documented
    failed = {
        a["algorithm"] for name in ("kex", "key", "enc", "mac") for a in audit[name] if a.get("notes", {}).get("fail")
    }
    differences = failed ^ weak
    undocumented = differences - set(SSH_POLICY_DIFFERENCES)
    assert not undocumented, {a: ("ssh-audit fails" if a in failed else "portlens flags") for a in undocumented}
    # and the documented ones go the way documented
    for a in differences:
        assert ("portlens flags" in SSH_POLICY_DIFFERENCES[a]) == (a in weak), a
    assert (_checks(service)["ssh-weak-algorithms"]["outcome"] == "vulnerable") == bool(weak)


def test_every_documented_difference_is_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Reference tools", 1)[1].split("\n## ", 1)[0]
    for algorithm in SSH_POLICY_DIFFERENCES:
        assert f"`{algorithm}`" in section, algorithm
    assert "trust" in section

"""Risk policy: default rules, escalation, overrides, baselines, acceptances, scoring, policy files.

All unit tests here assess constructed results (no packets). Ports with a ``service`` mapping use a
stand-in of `PortResult` carrying the attribute service identification adds (see
``portlens.policy.contract``).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import portlens
from portlens.policy import CHECKS, PRACTICES, SEVERITIES, WEIGHTS, Policy, PolicyError, Rule
from portlens.policy.contract import read_service
from tests.factories import Port

DATA = Path(__file__).parent.parent / "data" / "policy"
TODAY = date(2025, 6, 1)


def svc(name: str | None = None, *checks: tuple[str, str], **kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"method": "probe", "conf": 1.0, **kw}
    if name is not None:
        d["name"] = name
    if checks:
        d["checks"] = [{"id": c, "outcome": o, "evidence": {"seen": c}} for c, o in checks]
    return d


def run(*ports: Any, **kw: Any) -> portlens.Assessment:
    kw.setdefault("today", TODAY)
    return portlens.assess(list(ports), **kw)


def by_rule(a: portlens.Assessment, rule: str) -> list[portlens.Finding]:
    return [f for f in a.findings if f.rule == rule]


def one(a: portlens.Assessment, rule: str) -> portlens.Finding:
    found = by_rule(a, rule)
    assert len(found) == 1, [(f.rule, f.where) for f in a.findings]
    return found[0]


DEFAULT = Policy.default()
EXPOSURE = [r for r in DEFAULT.rules if r.kind == "exposure"]


# ------------------------------------------------------------------------------------------ the default policy


def test_default_policy_is_data_shipped_in_the_package() -> None:
    import importlib.resources

    text = importlib.resources.files("portlens.policy").joinpath("default.toml").read_text()
    assert "[[rule]]" in text
    assert DEFAULT.layers == ("default",)
    assert len(DEFAULT.rules) >= 50
    kinds = {r.kind for r in DEFAULT.rules}
    assert kinds == {
        "exposure",
        "check",
        "unrated-check",
        "vulnerability",
        "unexpected-port",
        "open-port",
        "segmentation",
    }


@pytest.mark.parametrize("rule", DEFAULT.rules, ids=lambda r: r.id)
def test_every_default_rule_cites_its_source_and_says_what_to_do(rule: Rule) -> None:
    assert rule.source.strip(), rule.id
    assert rule.rationale.strip()
    assert rule.remediation and all(r.practice in PRACTICES for r in rule.remediation)
    assert all(ref.startswith("https://") for ref in rule.references)
    for esc in rule.escalations:
        assert SEVERITIES.index(esc.severity) >= SEVERITIES.index(rule.severity), rule.id
        assert all(c in CHECKS for c in esc.checks), esc.checks
    assert all(c in CHECKS for c in rule.checks)


@pytest.mark.parametrize("rule", EXPOSURE, ids=lambda r: r.id)
def test_every_exposure_rule_fires_on_its_identified_service(rule: Rule) -> None:
    """Keyed on the service, whatever the port: the port here is one no rule lists."""
    name = sorted(rule.services)[0]
    a = run(Port("198.18.7.1", 40001, rule.protocol or "tcp", service=svc(name, conf=0.9)))
    f = one(a, rule.id)
    assert (f.severity, f.service, f.port, f.confidence) == (rule.severity, name, 40001, 0.9)
    assert f.evidence["matched_by"] == "service"
    assert f.source == rule.source and f.remediation and f.rationale


@pytest.mark.parametrize("rule", [r for r in EXPOSURE if r.ports is not None], ids=lambda r: r.id)
def test_every_exposure_rule_falls_back_to_its_port_with_lower_confidence(rule: Rule) -> None:
    assert rule.ports is not None
    lo, _, proto = rule.ports.ranges[0]
    a = run(Port("198.18.7.1", lo, proto or rule.protocol or "tcp"))
    f = one(a, rule.id)
    assert f.severity == rule.severity
    assert f.confidence == pytest.approx(0.7 * rule.confidence)
    assert f.evidence["matched_by"] == "port"
    assert f.evidence["service"]["identified_by"] == "port-number"


ESCALATIONS = [(r, e, c) for r in EXPOSURE for e in r.escalations for c in e.checks]


@pytest.mark.parametrize("rule,esc,check", ESCALATIONS, ids=lambda x: getattr(x, "id", None) or str(x)[:20])
def test_every_escalation_fires_only_when_its_check_is_vulnerable(rule: Rule, esc: Any, check: str) -> None:
    name = sorted(rule.services)[0]
    proto = rule.protocol or "tcp"
    hit = one(run(Port("198.18.7.1", 40002, proto, service=svc(name, (check, "vulnerable")))), rule.id)
    assert hit.severity == esc.severity
    assert hit.confidence == 1.0
    assert hit.evidence["confirmed"] == [{"check": check, "evidence": {"seen": check}}]
    if esc.title:
        assert hit.title == esc.title
    for outcome in ("ok", "unknown"):
        calm = one(run(Port("198.18.7.1", 40002, proto, service=svc(name, (check, outcome)))), rule.id)
        assert calm.severity == rule.severity and calm.title == rule.title
        assert calm.evidence["checks"] == {check: outcome}


def test_named_escalations_from_the_issue() -> None:
    cases = {
        ("smb", "smbv1"): ("smb-exposed", "critical"),
        ("rdp", "rdp-nla-not-enforced"): ("rdp-exposed", "critical"),
        ("ftp", "ftp-anonymous"): ("ftp-cleartext", "high"),
        ("redis", "redis-no-auth"): ("redis-exposed", "critical"),
        ("mongodb", "mongodb-no-auth"): ("mongodb-exposed", "critical"),
        ("docker", "docker-api-no-auth"): ("docker-api-exposed", "critical"),
        ("vnc", "vnc-no-auth"): ("vnc-exposed", "critical"),
        ("snmp", "snmp-default-community"): ("snmp-exposed", "high"),
        ("ssh", "ssh-weak-algorithms"): ("ssh-exposed", "medium"),
        ("mqtt", "mqtt-anonymous"): ("mqtt-exposed", "high"),
    }
    for (name, check), (rule, severity) in cases.items():
        f = one(run(Port("198.18.7.1", 4000, service=svc(name, (check, "vulnerable")))), rule)
        assert f.severity == severity, (name, check)


@pytest.mark.parametrize("rule", [r for r in DEFAULT.rules if r.kind == "check"], ids=lambda r: r.id)
def test_every_check_rule_fires_on_any_service(rule: Rule) -> None:
    check = sorted(rule.checks)[0]
    a = run(Port("198.18.7.1", 8443, service=svc("https", (check, "vulnerable"))))
    f = one(a, rule.id)
    assert f.severity == rule.severity and f.confidence == 1.0
    assert f.evidence["confirmed"][0]["check"] == check
    assert not by_rule(run(Port("198.18.7.1", 8443, service=svc("https", (check, "ok")))), rule.id)


def test_cleartext_and_device_and_ics_ports_by_number() -> None:
    a = run(*(Port("198.18.7.9", p) for p in (23, 21, 110, 143, 37777, 34567, 502, 102, 20000, 554)))
    got = {(f.port, f.rule, f.severity) for f in a.findings if f.port is not None}
    assert got == {
        (23, "telnet-cleartext", "high"),
        (21, "ftp-cleartext", "medium"),
        (110, "pop3-cleartext", "medium"),
        (143, "imap-cleartext", "medium"),
        (37777, "dahua-dvr-exposed", "high"),
        (34567, "xiongmai-dvr-exposed", "critical"),
        (502, "ics-critical-protocol-exposed", "critical"),
        (102, "ics-critical-protocol-exposed", "critical"),
        (20000, "ics-critical-protocol-exposed", "critical"),
        (554, "rtsp-camera-exposed", "high"),
    }
    assert all("cleartext" in f.tags for f in a.findings if f.port in (23, 21, 110, 143))


def test_the_identified_service_wins_over_the_port_number() -> None:
    a = run(
        Port("198.18.7.1", 4000, service=svc("ms-wbt-server")),  # RDP on 4000 is RDP
        Port("198.18.7.1", 445, service=svc("http")),  # HTTP on 445 is not SMB
    )
    assert one(a, "rdp-exposed").port == 4000
    assert one(a, "http-cleartext").port == 445
    assert not by_rule(a, "smb-exposed")


def test_product_match_finds_a_dvr_behind_plain_http() -> None:
    a = run(Port("198.18.7.1", 80, service=svc("http", product="DVRDVS-Webs")))
    assert one(a, "hikvision-exposed").evidence["matched_by"] == "product"
    assert one(a, "http-cleartext").severity == "low"


def test_unrated_vulnerable_check_is_not_dropped_and_open_ports_are_counted() -> None:
    a = run(
        Port("198.18.7.1", 9999, service=svc("acme", ("acme-backdoor", "vulnerable"), ("acme-other", "ok"))),
        Port("198.18.7.1", 31337),
    )
    f = one(a, "unrated-check")
    assert f.title.endswith("acme-backdoor") and f.severity == "low"
    info = one(a, "open-port")
    assert (info.port, info.severity) == (31337, "info")
    assert "open-port" not in {f.rule for f in a.findings if f.port == 9999}


@pytest.mark.parametrize(
    ("service", "port", "check", "rule", "severity"),
    [
        ("x11", 6000, "x11-no-auth", "x11-exposed", "high"),
        ("etcd", 2379, "etcd-no-auth", "etcd-exposed", "critical"),
        ("couchdb", 5984, "couchdb-no-auth", "couchdb-exposed", "critical"),
        ("memcached", 11211, "memcached-no-auth", "memcached-exposed", "high"),
        ("telnet", 23, "telnet-cleartext", "telnet-cleartext", "high"),
        ("netbios", 139, "smbv1", "netbios-exposed", "critical"),
        ("imap", 143, "cleartext-no-starttls", "imap-cleartext", "medium"),
        ("http", 80, "http-device-signature", "device-web-interface", "high"),
    ],
)
def test_every_check_the_engine_reports_is_rated(service: str, port: int, check: str, rule: str, severity: str) -> None:
    """What service identification confirms is rated by a rule of its own, never left as "unrated"."""
    a = run(Port("198.18.7.1", port, service=svc(service, (check, "vulnerable"))))
    f = one(a, rule)
    assert f.severity == severity and [c["check"] for c in f.evidence["confirmed"]] == [check]
    assert not by_rule(a, "unrated-check")


# ------------------------------------------------------------------------------------------ the contract


def test_contract_is_read_defensively() -> None:
    class Obj:
        service = {
            "name": "SSL/HTTP",
            "conf": 8,
            "checks": [{"id": "tls-expired", "outcome": "VULNERABLE"}, {"id": "x", "outcome": "maybe"}, {"nope": 1}],
        }

    v = read_service(Obj(), "https", 0.7)
    assert (v.name, v.identified, v.conf) == ("https", True, 0.8)
    assert v.vulnerable("tls-expired") and v.checks["x"]["outcome"] == "unknown" and len(v.checks) == 2
    for unidentified in ({"name": "tcpwrapped"}, {"name": "unknown"}, {"name": "ssh", "method": "port"}, None, "junk"):

        class P:
            service = unidentified

        v = read_service(P(), "ssh", 0.7)
        assert (v.name, v.identified, v.conf) == ("ssh", False, 0.7), unidentified

    class NoAttr:
        pass

    assert read_service(NoAttr(), None, 0.7).name is None


def test_a_real_port_result_without_service_is_assessed_by_port_number() -> None:
    p = portlens.PortResult("198.18.7.1", 3389, "tcp", "open", "syn-ack")
    closed = portlens.PortResult("198.18.7.1", 445, "tcp", "closed", "conn-refused")
    a = run(p, closed)
    assert [(f.rule, f.port) for f in a.findings] == [("rdp-exposed", 3389)]


# ------------------------------------------------------------------------------------------ ids, order, scoring


def test_finding_ids_are_stable_and_distinct() -> None:
    ports = [Port("198.18.7.1", 445), Port("198.18.7.1", 3389), Port("198.18.7.2", 445)]
    a, b = run(*ports), run(*reversed(ports))
    assert [f.id for f in a.findings] == [f.id for f in b.findings]
    assert len({f.id for f in a.findings}) == 3
    assert a.to_dict() == b.to_dict()
    assert one(a, "rdp-exposed").id == portlens.policy.finding_id("rdp-exposed", "198.18.7.1", 3389, "tcp")
    json.dumps(a.to_dict())


def test_findings_sorted_by_severity_then_host_then_port() -> None:
    a = run(
        Port("198.18.7.10", 22, service=svc("ssh")),
        Port("198.18.7.2", 3389, service=svc("rdp")),
        Port("198.18.7.10", 502),
        Port("198.18.7.2", 23, service=svc("telnet")),
        Port("198.18.7.2", 445, service=svc("smb", ("smbv1", "vulnerable"))),
    )
    assert [(f.severity, f.host, f.port) for f in a.findings] == [
        ("critical", "198.18.7.2", 445),
        ("critical", "198.18.7.10", 502),
        ("high", "198.18.7.2", 23),
        ("high", "198.18.7.2", 3389),
        ("high", "198.18.7.10", None),  # ICS next to an IT host
        ("low", "198.18.7.10", 22),
    ]


def test_score_formula_and_riskiest_host_first() -> None:
    assert WEIGHTS == {"info": 1, "low": 10, "medium": 100, "high": 1000, "critical": 10000}
    one_critical = [Port("198.18.8.1", 6379, service=svc("redis", ("redis-no-auth", "vulnerable")))]
    many_lows = [Port("198.18.10.2", 40000 + i, service=svc("ssh")) for i in range(50)]  # another subnet
    a = run(*many_lows, *one_critical)
    assert [h.host for h in a.hosts] == ["198.18.8.1", "198.18.10.2"]
    assert a.hosts[0].score == 10000 and a.hosts[1].score == 50 * 10
    assert a.score == 10000 + 500
    assert a.counts == {"critical": 1, "high": 0, "medium": 0, "low": 50, "info": 0}
    assert a.hosts[0].counts["critical"] == 1 and a.hosts[0].max_severity == "critical"
    assert a.hosts[1].open_ports == 50
    # confidence scales: the same exposure known only by its port number weighs 0.7
    b = run(Port("198.18.8.3", 3389))
    assert b.score == pytest.approx(700)
    assert b.findings[0].weight == pytest.approx(700)


def test_accepts_a_saved_and_loaded_scan_result(tmp_path: Path) -> None:
    ports = tuple(portlens.PortResult("198.18.7.1", p, "tcp", "open", "syn-ack") for p in (21, 3389))
    host = portlens.HostResult("198.18.7.1", "dvr.lab.invalid", {"open": 2, "closed": 0, "filtered": 0}, 0.001, ports)
    now = datetime.now(timezone.utc)
    result = portlens.ScanResult(ports, (host,), {"open": 2}, "complete", now, now, 1, 2)
    path = tmp_path / "scan.json"
    result.to_json(str(path))
    a = portlens.assess(portlens.load(str(path)), today=TODAY)
    assert [(f.rule, f.port, f.hostname) for f in a.findings] == [
        ("rdp-exposed", 3389, "dvr.lab.invalid"),
        ("ftp-cleartext", 21, "dvr.lab.invalid"),
    ]


# ------------------------------------------------------------------------------------------ segmentation


def test_segmentation_hints_only_on_a_shared_subnet() -> None:
    camera, server = Port("198.18.7.20", 554), Port("198.18.7.21", 445, service=svc("smb"))
    a = run(camera, server)
    f = one(a, "segment-camera")
    assert (f.host, f.port, f.severity) == ("198.18.7.20", None, "medium")
    assert f.evidence["subnet"] == "198.18.7.0/24" and f.evidence["peers"] == [{"host": "198.18.7.21", "roles": ["it"]}]
    assert f.confidence == pytest.approx(0.7)  # the camera is known by its port only
    # another /24, or only cameras: no hint
    assert not by_rule(run(camera, Port("198.18.6.21", 445)), "segment-camera")
    assert not by_rule(run(camera, Port("198.18.7.22", 554), Port("198.18.7.22", 22)), "segment-camera")
    # ICS and databases too
    b = run(Port("198.18.7.30", 502), Port("198.18.7.31", 5432), server)
    assert one(b, "segment-ics").severity == "high"
    assert one(b, "segment-database").host == "198.18.7.31"
    # the subnet size is policy data
    wide = Policy.loads("[policy]\nname = 'w'\n[segmentation]\nipv4_prefix = 16\n", "wide.toml")
    assert one(run(camera, Port("198.18.6.21", 445), policy=wide), "segment-camera")


# ------------------------------------------------------------------------------------------ policy files


def test_policy_file_adds_rules_overrides_and_accepts_risks() -> None:
    pol = Policy.load(DATA / "policy.toml")
    assert pol.wants_default and "smb-exposed" not in pol
    ports = [
        Port("198.18.9.5", 8291, service=svc("acme-admin", ("acme-default-password", "vulnerable"))),
        Port("198.18.9.5", 22, service=svc("ssh")),  # dmz: ssh -> medium
        Port("198.18.1.5", 22, service=svc("ssh")),  # elsewhere: low
        Port("198.18.9.5", 80, service=svc("http")),  # http rule disabled
        Port("198.18.9.7", 23),  # telnet accepted until 2025-12-31
        Port("198.18.9.8", 21),  # ftp acceptance expired on 2025-01-31
    ]
    a = portlens.assess(ports, policy=pol, today=TODAY)
    assert a.policy == ("default", str(DATA / "policy.toml"))
    acme = one(a, "acme-admin-exposed")
    assert (acme.severity, acme.title) == ("critical", "ACME appliance accepts its default password")
    ssh = {f.host: f.severity for f in by_rule(a, "ssh-exposed")}
    assert ssh == {"198.18.9.5": "medium", "198.18.1.5": "low"}
    assert acme.source == "ACME hardening guide 2.1" and acme.confidence == 1.0
    assert not by_rule(a, "http-cleartext")
    assert one(a, "open-port").port == 80  # nothing else speaks about port 80 any more
    # suppressed until expiry, not scored
    assert not by_rule(a, "telnet-cleartext")
    (sup,) = a.suppressed
    assert sup.rule == "telnet-cleartext" and sup.acceptance is not None
    assert (sup.acceptance.owner, sup.acceptance.expires) == ("ops@example.org", "2025-12-31")
    assert a.score == pytest.approx(sum(f.weight for f in a.findings))
    # an expired acceptance no longer hides the finding, and says so
    ftp = one(a, "ftp-cleartext")
    assert "acceptance-expired" in ftp.tags
    assert ftp.evidence["acceptance_expired"]["expires"] == "2025-01-31"
    # an acceptance holds through its expiry date, and stops the day after
    assert [f.rule for f in portlens.assess(ports, policy=pol, today=date(2025, 12, 31)).suppressed] == [
        "telnet-cleartext"
    ]
    later = portlens.assess(ports, policy=pol, today=date(2026, 1, 1))
    assert one(later, "telnet-cleartext").severity == "high" and not later.suppressed


def test_merge_and_extends() -> None:
    extra = Policy.loads(
        """
[[rule]]
id = "grafana-exposed"
title = "Grafana reachable"
severity = "medium"
services = ["grafana"]
ports = ["3000/tcp"]
remediation = ["restrict-source: internal only"]
""",
        "extra.toml",
    )
    merged = DEFAULT.merge(extra)
    assert "grafana-exposed" in merged and "smb-exposed" in merged
    a = portlens.assess([Port("198.18.7.1", 3000), Port("198.18.7.1", 445)], policy=merged, today=TODAY)
    assert {f.rule for f in a.findings} == {"grafana-exposed", "smb-exposed"}
    # a later layer replaces a rule of the same id as a whole
    stricter = DEFAULT.merge(
        Policy.loads('[[rule]]\nid = "ssh-exposed"\ntitle = "SSH"\nseverity = "high"\nports = [22]\n')
    )
    assert one(portlens.assess([Port("198.18.7.1", 22)], policy=stricter), "ssh-exposed").severity == "high"
    # extends = "none": only the file's own rules
    alone = Policy.loads(
        '[policy]\nextends = "none"\n' + '[[rule]]\nid = "x"\ntitle = "X"\nseverity = "low"\nports = [445]\n'
    )
    a = portlens.assess([Port("198.18.7.1", 445)], policy=alone)
    assert [f.rule for f in a.findings] == ["x"]


def test_policy_changed_in_python() -> None:
    pol = DEFAULT.changed("ssh-exposed", severity="high")
    assert one(portlens.assess([Port("198.18.7.1", 22)], policy=pol), "ssh-exposed").severity == "high"
    assert DEFAULT.rule("ssh-exposed").severity == "low"


RULE_A = '[[rule]]\nid = "a"\ntitle = "A"\nseverity = "low"\nports = [1]\n'


def _error(text: str, name: str = "bad.toml") -> PolicyError:
    with pytest.raises(PolicyError) as info:
        Policy.loads(text, name).resolved()
    return info.value


@pytest.mark.parametrize(
    "text,line,words",
    [
        ('[[rule]]\nid = "a"\ntitle = "A"\nseverity = "hgh"\nports = [1]\n', 4, ["severity 'hgh'", "critical"]),
        ('[[rule]]\nid = "a"\ntitle = "A"\nseverty = "high"\nports = [1]\n', 4, ["unknown key 'severty'"]),
        ('[[rule]]\nid = "a"\ntitle = "A"\nseverity = "high"\n', 1, ["needs 'services', 'ports' or 'product'"]),
        ('[[rule]]\nid = "a"\ntitle = "A"\nseverity = "low"\nports = ["80-70000"]\n', 5, ["65535"]),
        (
            '[[rule]]\nid = "a"\ntitle = "A"\nseverity = "low"\nports = [1]\nhosts = ["10.0.0.300/8"]\n',
            6,
            ["10.0.0.300"],
        ),
        ('[[rule]]\nid = "a"\ntitle = "A"\nseverity = "low"\nports = [1]\nremediation = ["pray: hard"]\n', 6, ["pray"]),
        (
            '[[rule]]\nid = "a"\ntitle = "A"\nseverity = "low"\nports = [1]\n\n[[rule.escalate]]\nseverity = "high"\n',
            7,
            ["'check'"],
        ),
        ('[[override]]\nrule = "no-such-rule"\nseverity = "low"\n', 1, ["unknown rule 'no-such-rule'"]),
        ('\n\n[[accept]]\nrule = "ssh-exposed"\nowner = "me"\nreason = "why"\n', 3, ["'expires'"]),
        ('[[accept]]\nrule = "ssh-exposed"\nowner = "me"\nreason = "r"\nexpires = "next year"\n', 5, ["not a date"]),
        ('[tags]\nweb = ["198.18.1.0/33"]\n', 2, ["tag 'web'"]),
        ("[policy]\nport_confidence = 2\n", 2, ["(0, 1]"]),
        (RULE_A + '[[rule]]\nid = "a"\ntitle = "B"\nseverity = "low"\nports = [2]\n', 7, ["defined twice"]),
    ],
)
def test_broken_policy_files_name_file_line_and_problem(text: str, line: int, words: list[str]) -> None:
    e = _error(text)
    assert (e.path, e.line) == ("bad.toml", line), str(e)
    assert str(e).startswith(f"bad.toml:{line}: ")
    for w in words:
        assert w in str(e), str(e)
    assert isinstance(e, ValueError) and isinstance(e, portlens.PortlensError)


def test_toml_syntax_error_carries_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[policy]\nname = "x"\n\n[[rule]\nid = "a"\n')
    with pytest.raises(PolicyError) as info:
        Policy.load(path)
    e = info.value
    assert (e.path, e.line) == (str(path), 4) and e.col is not None
    assert str(e).startswith(f"{path}:4:{e.col}: invalid TOML")
    with pytest.raises(PolicyError, match="cannot read"):
        Policy.load(tmp_path / "missing.toml")


# ------------------------------------------------------------------------------------------ baselines


def test_baseline_unexpected_open_ports() -> None:
    base = portlens.Baseline.load(DATA / "baseline.toml")
    ports = [
        Port("198.18.9.2", 80),  # web tier: expected
        Port("198.18.9.2", 443),
        Port("198.18.9.2", 8081),  # the port someone opened once
        Port("198.18.9.5", 2222, service=svc("ssh")),  # bastion: ssh expected by service, any port
        Port("198.18.9.5", 3389),  # bastion: not expected
        Port("198.18.9.40", 80),  # outside every entry: nothing expected
    ]
    a = portlens.assess(ports, baseline=base, today=TODAY)
    unexpected = [(f.host, f.port) for f in by_rule(a, "unexpected-open-port")]
    assert unexpected == [("198.18.9.2", 8081), ("198.18.9.5", 3389), ("198.18.9.40", 80)]
    f = by_rule(a, "unexpected-open-port")[0]
    assert f.severity == "medium" and f.evidence["baseline"] == "test network"
    assert f.evidence["expected_here"][0]["note"] == "the web tier may expose 80 and 443"
    # expected ports still carry their own risk findings; nothing is reported twice as "open port"
    assert {f.rule for f in a.findings if f.port == 80 and f.host == "198.18.9.2"} == {"http-cleartext"}
    assert not [f for f in a.findings if f.rule == "open-port" and f.port == 8081]
    # the same baseline built in Python
    py = portlens.Baseline().with_tags({"web": ["198.18.9.0/28"]}).expect(host_tags="web", ports="80,443")
    py = py.expect(hosts="198.18.9.5", services=["ssh"])
    b = portlens.assess(ports, baseline=py, today=TODAY)
    assert [(f.host, f.port) for f in by_rule(b, "unexpected-open-port")] == unexpected


def test_baseline_errors_are_located() -> None:
    with pytest.raises(PolicyError) as info:
        portlens.Baseline.loads('[[expect]]\nhosts = ["198.18.9.5"]\nnote = "x"\n', "b.toml")
    assert (info.value.path, info.value.line) == ("b.toml", 1) and "'ports'" in str(info.value)
    with pytest.raises(PolicyError) as info:
        portlens.Baseline.loads("[[expect]]\nports = [80]\n", "b.toml")
    assert "which hosts" in str(info.value)


def test_every_kind_of_default_rule_is_exercised() -> None:
    """Guard: a new default rule kind needs a test of its own above."""
    tested = {"exposure", "check", "unrated-check", "vulnerability", "unexpected-port", "open-port", "segmentation"}
    assert {r.kind for r in DEFAULT.rules} <= tested
    assert [f.name for f in dataclasses.fields(portlens.Finding)][:14] == [
        "id",
        "rule",
        "title",
        "severity",
        "host",
        "port",
        "protocol",
        "service",
        "evidence",
        "rationale",
        "remediation",
        "references",
        "confidence",
        "tags",
    ]

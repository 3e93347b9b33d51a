"""Policies as data: rules, overrides and risk acceptances read from TOML.

A policy file (all tables optional)::

    [policy]
    name = "acme"
    extends = "default"          # "default" (the built-in rules come first) or "none"
    port_confidence = 0.7        # confidence when a service is known only from its port number

    [tags]                       # host tags: name = hosts (addresses, CIDR blocks, host names)
    dmz = ["198.18.1.0/24"]

    [segmentation]
    ipv4_prefix = 24             # what counts as "the same subnet"
    ipv6_prefix = 64

    [vulns]
    files = ["known_exploited_vulnerabilities.json", "nvdcve-2.0-2024.json.gz"]  # relative to this file

    [[rule]]                     # a new rule (an existing id is replaced as a whole)
    id = "vendor-admin-port"
    title = "Vendor admin service exposed"
    severity = "high"
    services = ["acme-admin"]    # identified service names ...
    ports = ["8291/tcp"]         # ... or, when the service is not identified, the port
    host_tags = ["dmz"]          # scope: hosts / host_tags / protocol
    rationale = "..."
    remediation = ["restrict-source: allow only the management network"]
    source = "internal standard 4.2"

    [[rule.escalate]]            # raise the severity when a check confirms a weakness
    check = "acme-default-password"
    severity = "critical"

    [[override]]                 # change a rule, everywhere or for some hosts/ports
    rule = "ssh-exposed"
    host_tags = ["dmz"]
    severity = "medium"

    [[accept]]                   # accept a risk until a date: matching findings are suppressed
    rule = "telnet-cleartext"    # and/or finding = "PL-..." (a finding's stable id)
    hosts = ["198.18.1.7"]
    owner = "ops@example.org"
    reason = "legacy PLC gateway, replacement ordered"
    expires = 2025-12-31

Rule kinds: ``exposure`` (default: a service or port is open), ``check`` (a check reported the
weakness, whatever the service), ``unrated-check`` (a vulnerable check no other rule uses),
``vulnerability`` (known-vulnerable software from the vulnerability data), ``unexpected-port``
(an open port outside the baseline), ``open-port`` (an open port nothing else speaks about) and
``segmentation`` (hosts of ``roles`` on the same subnet as hosts of ``peers``; a host's roles
are the ``role:NAME`` tags of its exposure findings).
"""

from __future__ import annotations

import functools
import importlib.resources
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ._toml import Doc, check_keys, load_toml, loads_toml
from .contract import canonical_service
from .model import PRACTICES, SEVERITIES, Acceptance, PolicyError, Remedy
from .regex import Pattern, compile_user
from .scope import HostSet, PortSet, ScopeSyntaxError, TagMap, parse_hosts, parse_ports, str_list

__all__ = ["KINDS", "Escalation", "Rule", "Override", "AcceptRule", "Policy", "parse_remedies"]

KINDS = ("exposure", "check", "unrated-check", "vulnerability", "unexpected-port", "open-port", "segmentation")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_RULE_KEYS = (
    "id",
    "kind",
    "title",
    "severity",
    "services",
    "ports",
    "product",
    "protocol",
    "hosts",
    "host_tags",
    "checks",
    "confidence",
    "roles",
    "peers",
    "rationale",
    "remediation",
    "references",
    "source",
    "tags",
    "enabled",
    "escalate",
)
_ESCALATE_KEYS = ("check", "severity", "title", "rationale", "remediation", "references")
_CHANGE_KEYS = ("severity", "enabled", "confidence", "title", "rationale", "remediation", "references", "tags")
_SCOPE_KEYS = ("hosts", "host_tags", "ports")
_ACCEPT_KEYS = ("rule", "finding", "hosts", "host_tags", "ports", "owner", "reason", "expires")
_TOP_KEYS = ("policy", "tags", "segmentation", "vulns", "rule", "override", "accept")
_POLICY_KEYS = ("name", "description", "extends", "port_confidence")
DEFAULT_PORT_CONFIDENCE = 0.7


@dataclass(frozen=True)
class Escalation:
    checks: tuple[str, ...]
    severity: str
    title: str | None = None
    rationale: str | None = None
    remediation: tuple[Remedy, ...] = ()
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    """One rule of a policy (see the module docstring for the file format)."""

    id: str
    title: str
    severity: str
    kind: str = "exposure"
    services: frozenset[str] = frozenset()
    ports: PortSet | None = None
    product: Pattern | None = None  # RE2 (linear time): `portlens.policy.regex`
    protocol: str | None = None
    hosts: HostSet | None = None
    host_tags: frozenset[str] = frozenset()
    checks: frozenset[str] = frozenset()
    escalations: tuple[Escalation, ...] = ()
    confidence: float = 1.0
    roles: frozenset[str] = frozenset()
    peers: frozenset[str] = frozenset()
    rationale: str = ""
    remediation: tuple[Remedy, ...] = ()
    references: tuple[str, ...] = ()
    source: str = ""
    tags: tuple[str, ...] = ()
    enabled: bool = True
    origin: str = ""

    def in_scope(self, host: str, hostname: str | None, host_tags: frozenset[str], protocol: str | None) -> bool:
        if self.hosts is not None and not self.hosts.contains(host, hostname):
            return False
        if self.host_tags and not self.host_tags & host_tags:
            return False
        return self.protocol is None or protocol is None or self.protocol == protocol

    @property
    def role_tags(self) -> frozenset[str]:
        return frozenset(t[5:] for t in self.tags if t.startswith("role:"))


@dataclass(frozen=True)
class Override:
    """Changes to a rule's findings, for all of them or those in scope (hosts, host_tags, ports)."""

    rule: str
    changes: Mapping[str, Any]
    hosts: HostSet | None = None
    host_tags: frozenset[str] = frozenset()
    ports: PortSet | None = None
    origin: str = ""
    origin_path: str = ""
    origin_line: int | None = None

    def applies(
        self, host: str, hostname: str | None, tags: frozenset[str], port: int | None, proto: str | None
    ) -> bool:
        if self.hosts is not None and not self.hosts.contains(host, hostname):
            return False
        if self.host_tags and not self.host_tags & tags:
            return False
        return self.ports is None or (port is not None and self.ports.contains(port, proto))


@dataclass(frozen=True)
class AcceptRule:
    """A risk acceptance and what it covers."""

    acceptance: Acceptance
    expires: date
    hosts: HostSet | None = None
    host_tags: frozenset[str] = frozenset()
    ports: PortSet | None = None
    origin_path: str = ""
    origin_line: int | None = None

    def covers(
        self,
        rule: str,
        finding_id: str,
        host: str,
        hostname: str | None,
        tags: frozenset[str],
        port: int | None,
        proto: str | None,
    ) -> bool:
        a = self.acceptance
        if a.rule is not None and a.rule != rule:
            return False
        if a.finding is not None and a.finding != finding_id:
            return False
        if self.hosts is not None and not self.hosts.contains(host, hostname):
            return False
        if self.host_tags and not self.host_tags & tags:
            return False
        return self.ports is None or (port is not None and self.ports.contains(port, proto))


# ------------------------------------------------------------------------------------------ parsing


def parse_remedies(value: Any) -> tuple[Remedy, ...]:
    """``["vpn: reach it through a VPN", {practice = "mfa", text = "..."}]`` -> Remedy tuple."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError('remediation must be a list of "practice: text" strings')
    out = []
    for item in value:
        if isinstance(item, str):
            practice, sep, text = item.partition(":")
            if not sep:
                raise ValueError(f'remediation step {item!r}: write it as "practice: text"')
        elif isinstance(item, dict) and set(item) <= {"practice", "text"} and "text" in item:
            practice, text = str(item.get("practice", "")), str(item["text"])
        else:
            raise ValueError(f"remediation step {item!r} is neither a string nor {{practice, text}}")
        practice = practice.strip().lower()
        if practice not in PRACTICES:
            raise ValueError(f"remediation practice {practice!r} is not one of: {', '.join(PRACTICES)}")
        if not text.strip():
            raise ValueError(f"remediation step for {practice!r} has no text")
        out.append(Remedy(practice, text.strip()))
    return tuple(out)


class _Reader:
    """Typed field readers that raise located errors."""

    def __init__(self, doc: Doc, where: tuple[str | int, ...], table: Mapping[str, Any], what: str) -> None:
        self.doc, self.where, self.table, self.what = doc, where, table, what

    def err(self, key: str | None, problem: str) -> PolicyError:
        where = self.where if key is None else (*self.where, key)
        return self.doc.error(where, f"{self.what}: {problem}")

    def text(self, key: str, required: bool = False, default: str | None = None) -> str | None:
        v = self.table.get(key)
        if v is None:
            if required:
                raise self.err(None, f"'{key}' is required")
            return default
        if not isinstance(v, str) or (required and not v.strip()):
            raise self.err(key, f"'{key}' must be a non-empty string")
        return v.strip()

    def strings(self, key: str) -> tuple[str, ...]:
        v = self.table.get(key)
        if v is None:
            return ()
        items = str_list(v)
        if items is None:
            raise self.err(key, f"'{key}' must be a list of strings")
        return tuple(items)

    def severity(self, key: str = "severity", required: bool = True) -> str | None:
        v = self.text(key, required=required)
        if v is None:
            return None
        s = v.lower()
        if s not in SEVERITIES:
            raise self.err(key, f"severity {v!r} is not one of: {', '.join(SEVERITIES)}")
        return s

    def confidence(self, key: str = "confidence") -> float | None:
        v = self.table.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < float(v) <= 1:
            raise self.err(key, f"'{key}' must be a number in (0, 1], not {v!r}")
        return float(v)

    def boolean(self, key: str) -> bool | None:
        v = self.table.get(key)
        if v is None:
            return None
        if not isinstance(v, bool):
            raise self.err(key, f"'{key}' must be true or false")
        return v

    def remedies(self, key: str = "remediation") -> tuple[Remedy, ...]:
        try:
            return parse_remedies(self.table.get(key))
        except ValueError as e:
            raise self.err(key, str(e)) from None

    def ports(self, key: str = "ports") -> PortSet | None:
        if key not in self.table:
            return None
        try:
            return parse_ports(self.table[key])
        except ScopeSyntaxError as e:
            raise self.err(key, str(e)) from None

    def hosts(self, key: str = "hosts") -> HostSet | None:
        if key not in self.table:
            return None
        try:
            return parse_hosts(self.table[key])
        except ScopeSyntaxError as e:
            raise self.err(key, str(e)) from None

    def rule_id(self, key: str, required: bool = True) -> str | None:
        v = self.text(key, required=required)
        if v is not None and not _ID.match(v):
            raise self.err(key, f"{key} {v!r} must be lower case letters, digits, '.', '_' or '-'")
        return v


def _parse_rule(doc: Doc, index: int, table: Any) -> Rule:
    where: tuple[str | int, ...] = ("rule", index)
    if not isinstance(table, dict):
        raise doc.error(where, "each [[rule]] must be a table")
    rid = table.get("id") if isinstance(table.get("id"), str) else f"#{index + 1}"
    r = _Reader(doc, where, table, f"rule {rid!r}")
    check_keys(doc, where, table, _RULE_KEYS, f"rule {rid!r}")
    rule_id = r.rule_id("id")
    assert rule_id is not None
    kind = (r.text("kind") or "exposure").lower()
    if kind not in KINDS:
        raise r.err("kind", f"kind {kind!r} is not one of: {', '.join(KINDS)}")
    product = r.text("product")
    pattern = None
    if product is not None:
        try:
            pattern = compile_user(product)
        except ValueError as e:
            raise r.err("product", f"'product' is not a valid regular expression: {e}") from None
    protocol = r.text("protocol")
    if protocol is not None and protocol.lower() not in ("tcp", "udp", "sctp"):
        raise r.err("protocol", f"protocol {protocol!r} is not tcp, udp or sctp")
    checks = r.strings("checks")
    services = frozenset(s for s in (canonical_service(x) for x in r.strings("services")) if s)
    ports = r.ports()
    if kind == "exposure" and not (services or ports or pattern):
        raise r.err(None, "an exposure rule needs 'services', 'ports' or 'product'")
    if kind == "check" and not checks:
        raise r.err(None, "a check rule needs 'checks' (the check ids it reports)")
    roles, peers = frozenset(r.strings("roles")), frozenset(r.strings("peers"))
    if kind == "segmentation" and not (roles and peers):
        raise r.err(None, "a segmentation rule needs 'roles' and 'peers'")
    escalations = []
    raw_esc = table.get("escalate", [])
    if not isinstance(raw_esc, list):
        raise r.err("escalate", "'escalate' must be an array of tables ([[rule.escalate]])")
    for j, esc in enumerate(raw_esc):
        ew: tuple[str | int, ...] = (*where, "escalate", j)
        if not isinstance(esc, dict):
            raise doc.error(ew, f"rule {rule_id!r}: each [[rule.escalate]] must be a table")
        check_keys(doc, ew, esc, _ESCALATE_KEYS, f"escalation of rule {rule_id!r}")
        er = _Reader(doc, ew, esc, f"escalation of rule {rule_id!r}")
        esc_checks = er.strings("check")
        if not esc_checks:
            raise er.err(None, "'check' (a check id, or a list of them) is required")
        sev = er.severity()
        assert sev is not None
        escalations.append(
            Escalation(
                checks=esc_checks,
                severity=sev,
                title=er.text("title"),
                rationale=er.text("rationale"),
                remediation=er.remedies(),
                references=er.strings("references"),
            )
        )
    severity = r.severity()
    title = r.text("title", required=True)
    assert severity is not None and title is not None
    return Rule(
        id=rule_id,
        title=title,
        severity=severity,
        kind=kind,
        services=services,
        ports=ports,
        product=pattern,
        protocol=protocol.lower() if protocol else None,
        hosts=r.hosts(),
        host_tags=frozenset(r.strings("host_tags")),
        checks=frozenset(checks),
        escalations=tuple(escalations),
        confidence=r.confidence() or 1.0,
        roles=roles,
        peers=peers,
        rationale=r.text("rationale") or "",
        remediation=r.remedies(),
        references=r.strings("references"),
        source=r.text("source") or "",
        tags=r.strings("tags"),
        enabled=True if r.boolean("enabled") is None else bool(r.boolean("enabled")),
        origin=doc.origin(where),
    )


def _parse_override(doc: Doc, index: int, table: Any) -> Override:
    where: tuple[str | int, ...] = ("override", index)
    if not isinstance(table, dict):
        raise doc.error(where, "each [[override]] must be a table")
    check_keys(doc, where, table, ("rule", *_SCOPE_KEYS, *_CHANGE_KEYS), f"override #{index + 1}")
    r = _Reader(doc, where, table, f"override #{index + 1}")
    rule = r.rule_id("rule")
    assert rule is not None
    changes: dict[str, Any] = {}
    if "severity" in table:
        changes["severity"] = r.severity()
    if "enabled" in table:
        changes["enabled"] = r.boolean("enabled")
    if "confidence" in table:
        changes["confidence"] = r.confidence()
    for key in ("title", "rationale"):
        if key in table:
            changes[key] = r.text(key, required=True)
    if "remediation" in table:
        changes["remediation"] = r.remedies()
    for key in ("references", "tags"):
        if key in table:
            changes[key] = r.strings(key)
    if not changes:
        raise r.err(None, f"nothing to change; give one of: {', '.join(_CHANGE_KEYS)}")
    return Override(
        rule=rule,
        changes=changes,
        hosts=r.hosts(),
        host_tags=frozenset(r.strings("host_tags")),
        ports=r.ports(),
        origin=doc.origin(where),
        origin_path=doc.path,
        origin_line=doc.locator.line(where),
    )


def _parse_accept(doc: Doc, index: int, table: Any) -> AcceptRule:
    where: tuple[str | int, ...] = ("accept", index)
    if not isinstance(table, dict):
        raise doc.error(where, "each [[accept]] must be a table")
    check_keys(doc, where, table, _ACCEPT_KEYS, f"risk acceptance #{index + 1}")
    r = _Reader(doc, where, table, f"risk acceptance #{index + 1}")
    rule = r.rule_id("rule", required=False)
    finding = r.text("finding")
    if rule is None and finding is None:
        raise r.err(None, "say what is accepted: 'rule' (a rule id) and/or 'finding' (a finding id)")
    owner, reason = r.text("owner", required=True), r.text("reason", required=True)
    assert owner is not None and reason is not None
    raw = table.get("expires")
    if raw is None:
        raise r.err(None, "'expires' (a date such as 2025-12-31) is required: accepted risks are reviewed")
    if isinstance(raw, datetime):
        expires = raw.date()
    elif isinstance(raw, date):
        expires = raw
    elif isinstance(raw, str):
        try:
            expires = date.fromisoformat(raw.strip())
        except ValueError:
            raise r.err("expires", f"'expires' {raw!r} is not a date such as 2025-12-31") from None
    else:
        raise r.err("expires", f"'expires' must be a date such as 2025-12-31, not {raw!r}")
    return AcceptRule(
        acceptance=Acceptance(
            owner=owner,
            reason=reason,
            expires=expires.isoformat(),
            rule=rule,
            finding=finding,
            origin=doc.origin(where),
        ),
        expires=expires,
        hosts=r.hosts(),
        host_tags=frozenset(r.strings("host_tags")),
        ports=r.ports(),
        origin_path=doc.path,
        origin_line=doc.locator.line(where),
    )


def parse_tags(doc: Doc, raw: Any) -> TagMap:
    if raw is None:
        return TagMap()
    if not isinstance(raw, dict):
        raise doc.error(("tags",), "[tags] must be a table of tag = [hosts]")
    sets: dict[str, HostSet] = {}
    for name, hosts in raw.items():
        try:
            sets[name] = parse_hosts(hosts)
        except ScopeSyntaxError as e:
            raise doc.error(("tags", name), f"tag {name!r}: {e}") from None
    return TagMap(sets)


# ------------------------------------------------------------------------------------------ Policy


class Policy:
    """A risk policy: rules, overrides, risk acceptances, host tags and settings.

    ``Policy.default()`` is the built-in policy (``default.toml`` in this package, built from
    shared/RISK-KNOWLEDGE.md, every rule citing its source). ``Policy.load(path)`` reads a file;
    unless it says ``extends = "none"``, `portlens.assess` puts the default policy under it.
    ``a.merge(b)`` layers ``b`` over ``a``: rules with the same id are replaced, everything else
    adds up.
    """

    def __init__(
        self,
        rules: Iterable[Rule] = (),
        *,
        overrides: Iterable[Override] = (),
        acceptances: Iterable[AcceptRule] = (),
        tags: TagMap | None = None,
        settings: Mapping[str, Any] | None = None,
        vuln_files: Iterable[str] = (),
        layers: Iterable[str] = (),
        wants_default: bool = False,
    ) -> None:
        self._rules: dict[str, Rule] = {}
        for rule in rules:
            self._rules[rule.id] = rule
        self.overrides: tuple[Override, ...] = tuple(overrides)
        self.acceptances: tuple[AcceptRule, ...] = tuple(acceptances)
        self.tags = tags or TagMap()
        self.settings: dict[str, Any] = dict(settings or {})
        self.vuln_files: tuple[str, ...] = tuple(vuln_files)
        self.layers: tuple[str, ...] = tuple(layers)
        self.wants_default = wants_default
        self._vulns: Any = None

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def default(cls) -> Policy:
        """The built-in policy (a fresh copy: changing it does not change the next one)."""
        return _default_policy().merge(Policy())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Policy:
        """Read a policy file; errors name the file, the line and the problem (`PolicyError`)."""
        return cls._from_doc(load_toml(path))

    @classmethod
    def loads(cls, text: str, name: str = "<string>") -> Policy:
        """Read a policy from TOML text (``name`` is used in error messages)."""
        return cls._from_doc(loads_toml(text, name))

    @classmethod
    def _from_doc(cls, doc: Doc, layer: str | None = None) -> Policy:
        data = doc.data
        check_keys(doc, (), data, _TOP_KEYS, "a policy file")
        settings: dict[str, Any] = {}
        head = data.get("policy", {})
        if not isinstance(head, dict):
            raise doc.error(("policy",), "[policy] must be a table")
        check_keys(doc, ("policy",), head, _POLICY_KEYS, "[policy]")
        r = _Reader(doc, ("policy",), head, "[policy]")
        for key in ("name", "description"):
            if r.text(key) is not None:
                settings[key] = r.text(key)
        extends = (r.text("extends") or "default").lower()
        if extends not in ("default", "none"):
            raise r.err("extends", f'\'extends\' must be "default" or "none", not {extends!r}')
        pc = r.confidence("port_confidence")
        if pc is not None:
            settings["port_confidence"] = pc
        seg = data.get("segmentation", {})
        if not isinstance(seg, dict):
            raise doc.error(("segmentation",), "[segmentation] must be a table")
        check_keys(doc, ("segmentation",), seg, ("ipv4_prefix", "ipv6_prefix"), "[segmentation]")
        for key, top in (("ipv4_prefix", 32), ("ipv6_prefix", 128)):
            if key in seg:
                v = seg[key]
                if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= top:
                    raise doc.error(("segmentation", key), f"[segmentation]: {key} must be an integer 0-{top}")
                settings[key] = v
        vuln_files: list[str] = []
        vulns = data.get("vulns", {})
        if not isinstance(vulns, dict):
            raise doc.error(("vulns",), "[vulns] must be a table")
        check_keys(doc, ("vulns",), vulns, ("files",), "[vulns]")
        files = _Reader(doc, ("vulns",), vulns, "[vulns]").strings("files")
        base = Path(doc.path).parent if not doc.path.startswith("<") else Path(".")
        for f in files:
            p = Path(f).expanduser()
            p = p if p.is_absolute() else base / p
            if not p.is_file():
                raise doc.error(("vulns", "files"), f"[vulns]: vulnerability data file {str(p)!r} does not exist")
            vuln_files.append(str(p))
        raw_rules = data.get("rule", [])
        if not isinstance(raw_rules, list):
            raise doc.error(("rule",), "rules are written as [[rule]] tables")
        rules: list[Rule] = []
        seen: dict[str, int] = {}
        for i, t in enumerate(raw_rules):
            rule = _parse_rule(doc, i, t)
            if rule.id in seen:
                raise doc.error(
                    ("rule", i, "id"), f"rule id {rule.id!r} is defined twice (first as rule #{seen[rule.id] + 1})"
                )
            seen[rule.id] = i
            rules.append(rule)
        overrides = [_parse_override(doc, i, t) for i, t in enumerate(_array(doc, data, "override"))]
        accepts = [_parse_accept(doc, i, t) for i, t in enumerate(_array(doc, data, "accept"))]
        return cls(
            rules,
            overrides=overrides,
            acceptances=accepts,
            tags=parse_tags(doc, data.get("tags")),
            settings=settings,
            vuln_files=vuln_files,
            layers=(layer or doc.path,),
            wants_default=extends == "default" and layer != "default",
        )

    # -- combination --------------------------------------------------------------------------
    def merge(self, other: Policy) -> Policy:
        """A new policy: ``other`` layered over this one."""
        return Policy(
            [*self._rules.values(), *other._rules.values()],
            overrides=(*self.overrides, *other.overrides),
            acceptances=(*self.acceptances, *other.acceptances),
            tags=self.tags.merge(other.tags),
            settings={**self.settings, **other.settings},
            vuln_files=(*self.vuln_files, *other.vuln_files),
            layers=(*self.layers, *other.layers),
            wants_default=self.wants_default or other.wants_default,
        )

    def resolved(self) -> Policy:
        """This policy with the default one under it when a layer asks for it; references checked."""
        policy = self
        if self.wants_default and "default" not in self.layers:
            policy = Policy.default().merge(self)
        policy.check()
        return policy

    def check(self) -> None:
        """Overrides and acceptances must name rules that exist."""
        for o in self.overrides:
            if o.rule not in self._rules:
                raise PolicyError(f"override of unknown rule {o.rule!r}", o.origin_path, o.origin_line)
        for a in self.acceptances:
            rule = a.acceptance.rule
            if rule is not None and rule not in self._rules:
                raise PolicyError(f"risk acceptance of unknown rule {rule!r}", a.origin_path, a.origin_line)

    def vulns(self) -> Any:
        """The vulnerability data the policy's ``[vulns] files`` name (a `VulnDB`, loaded once), or None."""
        if self._vulns is None and self.vuln_files:
            from .vulns import VulnDB

            self._vulns = VulnDB.load(self.vuln_files)
        return self._vulns

    # -- reading ------------------------------------------------------------------------------
    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(self._rules.values())

    def rule(self, rule_id: str) -> Rule:
        return self._rules[rule_id]

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._rules

    @property
    def name(self) -> str:
        return str(self.settings.get("name", "+".join(self.layers) or "policy"))

    @property
    def port_confidence(self) -> float:
        return float(self.settings.get("port_confidence", DEFAULT_PORT_CONFIDENCE))

    @property
    def prefixes(self) -> tuple[int, int]:
        return int(self.settings.get("ipv4_prefix", 24)), int(self.settings.get("ipv6_prefix", 64))

    def with_rule(self, rule: Rule) -> Policy:
        """A copy with ``rule`` added (or replacing the rule of the same id)."""
        p = self.merge(Policy())
        p._rules[rule.id] = rule
        return p

    def changed(self, rule_id: str, **changes: Any) -> Policy:
        """A copy where rule ``rule_id`` has the given fields changed (``severity="medium"`` ...)."""
        return self.with_rule(replace(self._rules[rule_id], **changes))

    def __repr__(self) -> str:
        n_rules, n_over, n_acc = len(self._rules), len(self.overrides), len(self.acceptances)
        return f"<Policy {self.name}: {n_rules} rules, {n_over} overrides, {n_acc} acceptances>"


def _array(doc: Doc, data: Mapping[str, Any], key: str) -> Sequence[Any]:
    v = data.get(key, [])
    if not isinstance(v, list):
        raise doc.error((key,), f"write {key} entries as [[{key}]] tables")
    return v


@functools.lru_cache(maxsize=1)
def _default_policy() -> Policy:
    resource = importlib.resources.files("portlens.policy").joinpath("default.toml")
    text = resource.read_text(encoding="utf-8")
    return Policy._from_doc(loads_toml(text, "portlens/policy/default.toml"), layer="default")

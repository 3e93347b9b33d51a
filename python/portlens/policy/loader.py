"""Reading a policy file's tables (TOML, `portlens.policy._toml`) into rules, overrides and
acceptances, with errors located by file, line and key."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from ._toml import Doc, check_keys
from .contract import canonical_service
from .definitions import KINDS, AcceptRule, Escalation, Override, Rule
from .model import PRACTICES, SEVERITIES, Acceptance, PolicyError, Remedy
from .regex import compile_user
from .scope import HostSet, PortSet, ScopeSyntaxError, TagMap, parse_hosts, parse_ports, str_list

__all__ = ["Reader", "parse_remedies", "parse_rule", "parse_override", "parse_accept", "parse_tags", "table_array"]

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
TOP_KEYS = ("policy", "tags", "segmentation", "vulns", "rule", "override", "accept")
POLICY_KEYS = ("name", "description", "extends", "port_confidence")


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


class Reader:
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


def parse_rule(doc: Doc, index: int, table: Any) -> Rule:
    where: tuple[str | int, ...] = ("rule", index)
    if not isinstance(table, dict):
        raise doc.error(where, "each [[rule]] must be a table")
    rid = table.get("id") if isinstance(table.get("id"), str) else f"#{index + 1}"
    r = Reader(doc, where, table, f"rule {rid!r}")
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
        er = Reader(doc, ew, esc, f"escalation of rule {rule_id!r}")
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


def parse_override(doc: Doc, index: int, table: Any) -> Override:
    where: tuple[str | int, ...] = ("override", index)
    if not isinstance(table, dict):
        raise doc.error(where, "each [[override]] must be a table")
    check_keys(doc, where, table, ("rule", *_SCOPE_KEYS, *_CHANGE_KEYS), f"override #{index + 1}")
    r = Reader(doc, where, table, f"override #{index + 1}")
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


def parse_accept(doc: Doc, index: int, table: Any) -> AcceptRule:
    where: tuple[str | int, ...] = ("accept", index)
    if not isinstance(table, dict):
        raise doc.error(where, "each [[accept]] must be a table")
    check_keys(doc, where, table, _ACCEPT_KEYS, f"risk acceptance #{index + 1}")
    r = Reader(doc, where, table, f"risk acceptance #{index + 1}")
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


def table_array(doc: Doc, data: Mapping[str, Any], key: str) -> Sequence[Any]:
    v = data.get(key, [])
    if not isinstance(v, list):
        raise doc.error((key,), f"write {key} entries as [[{key}]] tables")
    return v

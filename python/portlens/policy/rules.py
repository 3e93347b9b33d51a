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
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ._toml import Doc, check_keys, load_toml, loads_toml
from .definitions import DEFAULT_PORT_CONFIDENCE, KINDS, AcceptRule, Escalation, Override, Rule
from .loader import (
    POLICY_KEYS,
    TOP_KEYS,
    Reader,
    parse_accept,
    parse_override,
    parse_remedies,
    parse_rule,
    parse_tags,
    table_array,
)
from .model import PolicyError
from .scope import TagMap

__all__ = ["KINDS", "Escalation", "Rule", "Override", "AcceptRule", "Policy", "parse_remedies"]

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
        check_keys(doc, (), data, TOP_KEYS, "a policy file")
        settings: dict[str, Any] = {}
        head = data.get("policy", {})
        if not isinstance(head, dict):
            raise doc.error(("policy",), "[policy] must be a table")
        check_keys(doc, ("policy",), head, POLICY_KEYS, "[policy]")
        r = Reader(doc, ("policy",), head, "[policy]")
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
        files = Reader(doc, ("vulns",), vulns, "[vulns]").strings("files")
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
            rule = parse_rule(doc, i, t)
            if rule.id in seen:
                raise doc.error(
                    ("rule", i, "id"), f"rule id {rule.id!r} is defined twice (first as rule #{seen[rule.id] + 1})"
                )
            seen[rule.id] = i
            rules.append(rule)
        overrides = [parse_override(doc, i, t) for i, t in enumerate(table_array(doc, data, "override"))]
        accepts = [parse_accept(doc, i, t) for i, t in enumerate(table_array(doc, data, "accept"))]
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


@functools.lru_cache(maxsize=1)
def _default_policy() -> Policy:
    resource = importlib.resources.files("portlens.policy").joinpath("default.toml")
    text = resource.read_text(encoding="utf-8")
    return Policy._from_doc(loads_toml(text, "portlens/policy/default.toml"), layer="default")

"""`assess`: from a scan result, a policy and a baseline to findings, scores and suppressions."""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from .baseline import Baseline
from .contract import ServiceView, read_service
from .cpe import Cpe, CpeError, parse_cpe
from .model import Assessment, Finding, PolicyError, Remedy, severity_rank
from .rules import Override, Policy, Rule
from .scope import TagMap, addr_key
from .scoring import host_scores, severity_counts
from .vulns import VulnDB, VulnMatch, derive_cpes

__all__ = ["assess", "finding_id"]


def finding_id(rule: str, host: str, port: int | None, protocol: str | None, extra: str = "") -> str:
    """The stable id of a finding: the same rule, host, port and protocol give the same id in every scan."""
    key = "|".join((rule, host.lower(), "" if port is None else str(port), protocol or "", extra))
    return "PL-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _port_name(port: int, protocol: str) -> str | None:
    if protocol != "tcp" or not 1 <= port <= 65535:
        return None
    from .._core import service_name

    return service_name(port)


def _dedup(items: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(items))


@dataclass
class _Port:
    host: str
    hostname: str | None
    port: int
    protocol: str
    reason: str
    view: ServiceView
    targets: list[Cpe]
    cpe_source: str


class _Run:
    def __init__(self, policy: Policy, baseline: Baseline | None, vulns: VulnDB | None, today: date) -> None:
        self.policy = policy
        self.baseline = baseline
        self.vulns = vulns
        self.today = today
        self.tags: TagMap = policy.tags.merge(baseline.tags) if baseline is not None else policy.tags
        rules = [r for r in policy.rules if r.enabled]
        self.kinds: dict[str, list[Rule]] = {}
        for r in rules:
            self.kinds.setdefault(r.kind, []).append(r)
        self.overrides: dict[str, list[Override]] = {}
        for o in policy.overrides:
            self.overrides.setdefault(o.rule, []).append(o)
        self.findings: list[Finding] = []
        self.roles: dict[str, dict[str, float]] = {}  # host -> role -> confidence

    # -- building findings --------------------------------------------------------------------
    def emit(
        self,
        rule: Rule,
        host: str,
        hostname: str | None,
        host_tags: frozenset[str],
        port: int | None,
        protocol: str | None,
        service: str | None,
        *,
        evidence: Mapping[str, Any],
        confidence: float,
        severity: str | None = None,
        title: str | None = None,
        rationale: str | None = None,
        remediation: Sequence[Remedy] = (),
        references: Sequence[str] = (),
        cves: Sequence[str] = (),
        extra: str = "",
    ) -> Finding | None:
        f = Finding(
            id=finding_id(rule.id, host, port, protocol, extra),
            rule=rule.id,
            title=title or rule.title,
            severity=severity or rule.severity,
            host=host,
            hostname=hostname,
            port=port,
            protocol=protocol,
            service=service,
            evidence=dict(evidence),
            rationale=rationale if rationale is not None else rule.rationale,
            remediation=_dedup([*remediation, *rule.remediation]),
            references=_dedup([*references, *rule.references]),
            confidence=round(min(max(confidence, 0.0), 1.0), 3),
            tags=_dedup(rule.tags),
            source=rule.source,
            cves=tuple(cves),
        )
        for o in self.overrides.get(rule.id, ()):
            if not o.applies(host, hostname, host_tags, port, protocol):
                continue
            ch = dict(o.changes)
            if ch.pop("enabled", True) is False:
                return None
            if "confidence" in ch:
                ch["confidence"] = round(ch["confidence"] * f.confidence / (rule.confidence or 1.0), 3)
            for key in ("remediation", "references", "tags"):
                if key in ch:
                    ch[key] = tuple(ch[key])
            ev = dict(f.evidence)
            ev.setdefault("overridden_by", []).append(o.origin)
            f = replace(f, evidence=ev, **ch)
        self.findings.append(f)
        return f

    # -- one port -----------------------------------------------------------------------------
    @staticmethod
    def _exposure(rule: Rule, p: _Port) -> tuple[str, float] | None:
        """How the rule matches the port (service, product or port number) and the confidence."""
        v = p.view
        if rule.ports is not None and not rule.services and rule.product is None:
            return ("port", 1.0) if rule.ports.contains(p.port, p.protocol) else None
        if rule.product is not None and v.product and rule.product.search(v.product):
            return ("product", v.conf)
        if v.identified:
            return ("service", v.conf) if v.name in rule.services else None
        if rule.services and rule.ports is not None and rule.ports.contains(p.port, p.protocol):
            return ("port", v.conf)
        return None

    def _base_evidence(self, p: _Port, matched_by: str) -> dict[str, Any]:
        ev: dict[str, Any] = {
            "state": "open",
            "reason": p.reason,
            "matched_by": matched_by,
            "service": p.view.evidence(),
        }
        if not p.view.identified:
            ev["port_name"] = _port_name(p.port, p.protocol)
        if p.view.checks:
            ev["checks"] = {cid: c["outcome"] for cid, c in sorted(p.view.checks.items())}
        return ev

    def port(
        self,
        p: _Port,
        host_tags: frozenset[str],
        host_cpes: Sequence[Cpe],
        host_distro: Mapping[str, Any] | None = None,
    ) -> None:
        v = p.view
        emitted: list[Finding] = []
        consumed: set[str] = set()
        args = (p.host, p.hostname, host_tags, p.port, p.protocol)

        def scoped(kind: str) -> list[Rule]:
            return [r for r in self.kinds.get(kind, ()) if r.in_scope(p.host, p.hostname, host_tags, p.protocol)]

        for rule in scoped("exposure"):
            how = self._exposure(rule, p)
            if how is None:
                continue
            matched_by, conf = how
            ev = self._base_evidence(p, matched_by)
            fired = [e for e in rule.escalations if any(v.vulnerable(c) for c in e.checks)]
            severity, title, rationale = rule.severity, rule.title, rule.rationale
            remediation: list[Remedy] = []
            references: list[str] = []
            if fired:
                conf = 1.0  # a check confirmed the weakness on this very port
                confirmed = []
                for e in sorted(fired, key=lambda e: -severity_rank(e.severity)):
                    for c in e.checks:
                        if v.vulnerable(c):
                            consumed.add(c)
                            confirmed.append({"check": c, "evidence": dict(v.checks[c].get("evidence", {}))})
                    if severity_rank(e.severity) > severity_rank(severity):
                        severity = e.severity
                    if e.title and title == rule.title:  # the most severe escalation names the finding
                        title = e.title
                    if e.rationale:
                        rationale = f"{rationale} {e.rationale}".strip()
                    remediation.extend(e.remediation)
                    references.extend(e.references)
                ev["confirmed"] = confirmed
            f = self.emit(
                rule,
                *args,
                v.name,
                evidence=ev,
                confidence=rule.confidence * conf,
                severity=severity,
                title=title,
                rationale=rationale,
                remediation=remediation,
                references=references,
            )
            if f is not None:
                emitted.append(f)
                for role in rule.role_tags:
                    roles = self.roles.setdefault(p.host, {})
                    roles[role] = max(roles.get(role, 0.0), f.confidence)

        for rule in scoped("check"):
            hits = sorted(c for c in rule.checks if v.vulnerable(c))
            if not hits or ((rule.services or rule.ports or rule.product) and self._exposure(rule, p) is None):
                continue
            consumed.update(hits)
            ev = self._base_evidence(p, "check")
            ev["confirmed"] = [{"check": c, "evidence": dict(v.checks[c].get("evidence", {}))} for c in hits]
            f = self.emit(rule, *args, v.name, evidence=ev, confidence=rule.confidence)
            if f is not None:
                emitted.append(f)

        leftover = sorted(c for c in v.checks if v.vulnerable(c) and c not in consumed)
        for rule in scoped("unrated-check"):
            for c in leftover:
                ev = self._base_evidence(p, "check")
                ev["confirmed"] = [{"check": c, "evidence": dict(v.checks[c].get("evidence", {}))}]
                f = self.emit(
                    rule, *args, v.name, evidence=ev, confidence=rule.confidence, title=f"{rule.title}: {c}", extra=c
                )
                if f is not None:
                    emitted.append(f)

        if self.vulns and p.targets:
            matches, fixed = self.vulns.match_port(p.targets, host_cpes, p.view, host_distro)
            if matches or fixed:
                for rule in scoped("vulnerability"):
                    f = self._vuln_finding(rule, p, host_tags, matches, fixed)
                    if f is not None:
                        emitted.append(f)

        if self.baseline is not None:
            expected = self.baseline.expected(p.host, p.hostname, host_tags, p.port, p.protocol, v.name)
            if expected is None:
                covering = self.baseline.covering(p.host, p.hostname, host_tags)
                for rule in scoped("unexpected-port"):
                    ev = self._base_evidence(p, "baseline")
                    ev["baseline"] = self.baseline.name
                    ev["expected_here"] = [e.to_dict() for e in covering]
                    f = self.emit(rule, *args, v.name, evidence=ev, confidence=rule.confidence)
                    if f is not None:
                        emitted.append(f)

        if not emitted:
            for rule in scoped("open-port"):
                ev = self._base_evidence(p, "open-port")
                name = v.name or ev.get("port_name")
                title = f"{rule.title}: {p.port}/{p.protocol}" + (f" ({name})" if name else "")
                self.emit(rule, *args, v.name, evidence=ev, confidence=rule.confidence, title=title)

    def _vuln_finding(
        self,
        rule: Rule,
        p: _Port,
        host_tags: frozenset[str],
        matches: list[VulnMatch],
        fixed: Sequence[Mapping[str, Any]] = (),
    ) -> Finding | None:
        if not matches:
            return self._backported_finding(rule, p, host_tags, fixed)
        matches = sorted(matches, key=lambda m: (not m.exploited, -(m.cve.cvss or 0.0), m.cve.id))
        severity = max((m.severity for m in matches), key=severity_rank)
        worst = [m for m in matches if m.severity == severity]
        confidence = max(m.weight for m in worst) * p.view.conf * rule.confidence
        if p.cpe_source == "product-name":
            confidence *= 0.8
        exploited = [m for m in matches if m.exploited]
        product = " ".join(x for x in (p.view.product, p.view.version) if x) or p.targets[0].value("product")
        n = len(matches)
        title = f"{product}: {n} known vulnerabilit{'y' if n == 1 else 'ies'}"
        if exploited:
            title += f" ({len(exploited)} known exploited)"
        ev = self._base_evidence(p, "cpe")
        ev["cpe"] = [str(t) for t in p.targets]
        ev["cpe_source"] = p.cpe_source
        ev["cves"] = [m.to_dict() for m in matches]
        if fixed:
            ev["not_reported"] = [dict(x) for x in fixed]
        ev["vulnerability_data"] = list(self.vulns.sources) if self.vulns else []
        remediation = [
            Remedy("patch", f"KEV {m.cve.id}: {m.kev.required_action}")
            for m in exploited
            if m.kev is not None and m.kev.required_action
        ]
        references = [f"https://nvd.nist.gov/vuln/detail/{m.cve.id}" for m in matches]
        if exploited:
            references.append("https://www.cisa.gov/known-exploited-vulnerabilities-catalog")
        return self.emit(
            rule,
            p.host,
            p.hostname,
            host_tags,
            p.port,
            p.protocol,
            p.view.name,
            evidence=ev,
            confidence=confidence,
            severity=severity,
            title=title,
            rationale=f"{rule.rationale} {_vuln_summary(matches, fixed)}".strip(),
            remediation=remediation[:5],
            references=references,
            cves=[m.cve.id for m in matches],
        )

    def _backported_finding(
        self, rule: Rule, p: _Port, host_tags: frozenset[str], fixed: Sequence[Mapping[str, Any]]
    ) -> Finding | None:
        """Every CVE the upstream version matched is fixed in the installed distribution revision:
        nothing to report but the record of why (info, no CVE), so a report says it was looked at."""
        product = " ".join(x for x in (p.view.product, p.view.version) if x) or p.targets[0].value("product")
        n = len(fixed)
        ev = self._base_evidence(p, "cpe")
        ev["cpe"] = [str(t) for t in p.targets]
        ev["cpe_source"] = p.cpe_source
        ev["cves"] = []
        ev["not_reported"] = [dict(x) for x in fixed]
        ev["vulnerability_data"] = list(self.vulns.sources) if self.vulns else []
        return self.emit(
            rule,
            p.host,
            p.hostname,
            host_tags,
            p.port,
            p.protocol,
            p.view.name,
            evidence=ev,
            confidence=p.view.conf * rule.confidence,
            severity="info",
            title=f"{product}: {n} CVE{'' if n == 1 else 's'} fixed by the distribution (not reported)",
            rationale=_vuln_summary([], fixed),
            references=[f"https://nvd.nist.gov/vuln/detail/{x['id']}" for x in fixed][:20],
            extra="backported",
        )

    # -- across hosts -------------------------------------------------------------------------
    def segmentation(self, hostnames: Mapping[str, str | None], host_tags: Mapping[str, frozenset[str]]) -> None:
        v4, v6 = self.policy.prefixes
        subnets: dict[str, list[str]] = {}
        for host in self.roles:
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:
                continue
            block = ipaddress.ip_network(f"{ip}/{v4 if ip.version == 4 else v6}", strict=False)
            subnets.setdefault(str(block), []).append(host)
        for rule in self.kinds.get("segmentation", ()):
            for net, hosts in sorted(subnets.items()):
                for host in sorted(hosts, key=addr_key):
                    roles = self.roles[host]
                    mine = sorted(set(roles) & rule.roles)
                    if not mine or not rule.in_scope(host, hostnames.get(host), host_tags.get(host, frozenset()), None):
                        continue
                    peers = [
                        h
                        for h in sorted(hosts, key=addr_key)
                        if h != host and set(self.roles[h]) & rule.peers and not set(self.roles[h]) & rule.roles
                    ]
                    if not peers:
                        continue
                    own_conf = max(roles[r] for r in mine)
                    peer_conf = max(c for h in peers for r, c in self.roles[h].items() if r in rule.peers)
                    ev = {
                        "subnet": net,
                        "roles": mine,
                        "peers": [{"host": h, "roles": sorted(set(self.roles[h]) & rule.peers)} for h in peers[:50]],
                        "peer_count": len(peers),
                    }
                    self.emit(
                        rule,
                        host,
                        hostnames.get(host),
                        host_tags.get(host, frozenset()),
                        None,
                        None,
                        None,
                        evidence=ev,
                        confidence=rule.confidence * own_conf * peer_conf,
                    )

    def accept(self, host_tags: Mapping[str, frozenset[str]]) -> tuple[list[Finding], list[Finding]]:
        active, suppressed = [], []
        for f in self.findings:
            tags = host_tags.get(f.host, frozenset())
            covering = [
                a
                for a in self.policy.acceptances
                if a.covers(f.rule, f.id, f.host, f.hostname, tags, f.port, f.protocol)
            ]
            valid = [a for a in covering if a.expires >= self.today]
            if valid:
                suppressed.append(replace(f, acceptance=valid[0].acceptance))
            elif covering:
                expired = max(covering, key=lambda a: a.expires)
                ev = dict(f.evidence)
                ev["acceptance_expired"] = expired.acceptance.to_dict()
                active.append(replace(f, evidence=ev, tags=(*f.tags, "acceptance-expired")))
            else:
                active.append(f)
        return active, suppressed


def _vuln_summary(matches: Sequence[VulnMatch], fixed: Sequence[Mapping[str, Any]]) -> str:
    """Why each CVE was or was not reported, counted (each CVE's own reason is in the evidence)."""
    via = [m for m in matches if m.basis == "advisory"]
    risky = [m for m in matches if m.backport_risk]
    plain = [m for m in matches if m.basis != "advisory" and not m.backport_risk]
    parts = []
    if via:
        parts.append(f"{len(via)} matched via the distribution's advisory (installed package older than the fix)")
    if risky:
        parts.append(
            f"{len(risky)} version-only (the distribution may have backported the fix; half confidence"
            " — supply its advisories, OSV or the Debian Security Tracker, with --advisories to decide)"
        )
    if plain:
        parts.append(f"{len(plain)} version-only (the banner names no distribution)")
    if fixed:
        parts.append(
            f"{len(fixed)} not reported: fixed in the installed distribution revision, never affected"
            " or rated unimportant by the distribution"
        )
    return ("CVEs: " + "; ".join(parts) + ".") if parts else ""


def _sort_key(f: Finding) -> tuple[Any, ...]:
    return (
        -severity_rank(f.severity),
        addr_key(f.host),
        -1 if f.port is None else f.port,
        f.protocol or "",
        f.rule,
        f.id,
    )


def _targets(view: ServiceView) -> tuple[list[Cpe], str]:
    cpes = []
    for text in view.cpes:
        try:
            cpes.append(parse_cpe(text))
        except CpeError:
            continue
    if cpes:
        return cpes, "service"
    derived = derive_cpes(view.product, view.version)
    return derived, "product-name" if derived else ""


def assess(
    result: Any,
    policy: Policy | str | os.PathLike[str] | None = None,
    baseline: Baseline | str | os.PathLike[str] | None = None,
    *,
    vulns: VulnDB | str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
    advisories: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
    today: date | None = None,
) -> Assessment:
    """Assess a scan result against a risk policy (default: `Policy.default()`) and an optional baseline.

    ``result`` is a `ScanResult` (from `portlens.scan` or `portlens.load`) or any iterable of port
    results; only open ports count. ``policy`` and ``baseline`` may be objects or file paths.
    ``vulns``: a `VulnDB` or paths of CISA KEV / NVD CVE JSON 2.0 files, added to any the policy
    names; OSV and Debian Security Tracker files are recognised there too. ``advisories``: paths of
    distribution advisories (OSV JSON or osv.dev's zip per ecosystem, the Debian Security Tracker
    JSON), which decide CVEs by the package revision a banner shows (``service.distro``).
    ``today`` decides which risk acceptances have expired (default: today's date).
    """
    pol = Policy.default() if policy is None else policy if isinstance(policy, Policy) else Policy.load(policy)
    pol = pol.resolved()
    base = baseline if baseline is None or isinstance(baseline, Baseline) else Baseline.load(baseline)
    db: VulnDB | None = pol.vulns()
    if vulns is not None:
        extra = vulns if isinstance(vulns, VulnDB) else VulnDB.load(vulns)
        db = extra if db is None else db.merge(extra)
    if advisories is not None:
        ads = VulnDB.load(advisories)
        if ads.cves or ads.kev:
            raise PolicyError(
                "advisories= takes OSV and Debian Security Tracker files; give NVD and KEV files as vulns="
            )
        db = ads if db is None else db.merge(ads)
    run = _Run(pol, base, db, today or date.today())

    ports = getattr(result, "ports", result)
    hostnames: dict[str, str | None] = {}
    for h in getattr(result, "hosts", ()) or ():
        hostnames[h.address] = h.hostname
    by_host: dict[str, list[Any]] = {}
    for p in ports:
        if getattr(p, "state", "open") != "open":
            continue
        by_host.setdefault(p.host, []).append(p)
        if getattr(p, "hostname", None):
            hostnames.setdefault(p.host, p.hostname)
        elif p.host not in hostnames:
            hostnames[p.host] = None
    host_tags: dict[str, frozenset[str]] = {}
    for host in sorted(by_host, key=addr_key):
        tags = run.tags.tags_for(host, hostnames.get(host))
        host_tags[host] = tags
        items = []
        for p in sorted(by_host[host], key=lambda p: (p.port, p.protocol)):
            proto = str(p.protocol or "tcp").lower()
            view = read_service(p, _port_name(p.port, proto), pol.port_confidence)
            targets, source = _targets(view)
            items.append(_Port(host, hostnames.get(host), p.port, proto, str(p.reason), view, targets, source))
        host_cpes = [c for item in items for c in item.targets]
        # the distribution one banner names (the most precise one) stands for the whole host
        named = [item.view.distro for item in items if item.view.distro]
        host_distro = max(
            named, key=lambda d: (d.get("release") is not None, d.get("revision") is not None), default=None
        )
        for item in items:
            run.port(item, tags, host_cpes, host_distro)
    run.segmentation(hostnames, host_tags)
    active, suppressed = run.accept(host_tags)
    active.sort(key=_sort_key)
    suppressed.sort(key=_sort_key)
    hosts = host_scores(active, {h: len(ps) for h, ps in by_host.items()}, hostnames)
    return Assessment(
        findings=tuple(active),
        suppressed=tuple(suppressed),
        hosts=hosts,
        score=round(sum(h.score for h in hosts), 2),
        counts=severity_counts(active),
        policy=pol.layers,
        as_of=run.today.isoformat(),
    )

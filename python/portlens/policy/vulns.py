"""Known-vulnerable software: CVE data the user supplies, matched against identified products.

Two file formats are read, both as published (plain, ``.gz`` or ``.zip``):

* the CISA Known Exploited Vulnerabilities catalog (``known_exploited_vulnerabilities.json``:
  ``{"catalogVersion", "vulnerabilities": [{"cveID", "vendorProject", "product", ...}]}``);
* NVD CVE JSON 2.0 feeds or API responses (``{"format": "NVD_CVE", "version": "2.0",
  "vulnerabilities": [{"cve": {"id", "metrics", "configurations", ...}}]}``).

A port's products are its service's CPEs (or, failing those, a CPE derived from a well-known
product name and version). A CVE matches when one of its configurations holds: every
``cpeMatch`` is evaluated against the CPEs seen on the host (see :mod:`.cpe` for versions and
ranges), nodes combine with their ``operator`` (and ``negate``), configurations with theirs. A
vulnerable criteria must match this port's CPE. A platform condition (``vulnerable: false``) that
nothing seen on the host can confirm or refute -- a library, or an OS when no OS CPE is known --
leaves the match "conditional": it is reported with half the confidence and the condition in the
evidence. The KEV catalog (and NVD's own ``cisaExploitAdd``) marks CVEs known to be exploited;
KEV alone matches nothing, since it carries no versions. Without data files nothing is matched.

Distribution backports (`advisories`): the same files may be OSV records (JSON, or osv.dev's zip
per ecosystem) and the Debian Security Tracker JSON. When a port's banner names its distribution
and package revision (``service.distro``), each CVE is decided by that distribution's advisory
for the package, with its version ordering (dpkg, rpm): reported "via advisory" when the
installed revision is older than the fix, not reported (and said so in the evidence) when it is
not. A CVE matched on the upstream version alone on a server whose banner names a distribution
is reported "version-only" with half the confidence, since the distribution may have backported
the fix. Each CVE in a finding carries its ``basis`` and ``rationale``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..files.read import ReadError, read_json
from . import advisories as adv
from .advisories import AdvisoryDB
from .contract import ServiceView
from .cpe import ANY, Cpe, CpeError, criteria_matches, parse_cpe
from .model import SEVERITIES, PolicyError, severity_rank

__all__ = ["KevEntry", "CveRecord", "VulnMatch", "VulnDB", "derive_cpes", "cvss_severity"]

_TRUE, _FALSE, _UNKNOWN = 1, 0, -1
_METRICS = ("cvssMetricV40", "cvssMetricV31", "cvssMetricV30", "cvssMetricV2")


@dataclass(frozen=True)
class KevEntry:
    cve: str
    vendor: str = ""
    product: str = ""
    name: str = ""
    date_added: str = ""
    due_date: str = ""
    required_action: str = ""
    ransomware: str = ""


@dataclass(frozen=True)
class CveRecord:
    id: str
    description: str = ""
    cvss: float | None = None
    cvss_version: str | None = None
    vector: str | None = None
    nvd_severity: str | None = None
    configurations: tuple[Mapping[str, Any], ...] = field(default=(), hash=False, compare=False)
    cisa_exploit_add: str | None = None


@dataclass(frozen=True)
class VulnMatch:
    """A CVE that applies to a port's product."""

    cve: CveRecord
    kev: KevEntry | None
    criteria: str
    range: Mapping[str, str]
    target: str
    conditions: tuple[str, ...] = ()  # platform criteria that could not be verified
    # "version-only" (the upstream version is in an NVD range) or "advisory" (the distribution's
    # advisory says the installed package is affected); why, in words
    basis: str = "version-only"
    rationale: str = ""
    backport_risk: bool = False  # version-only on a distribution that may have backported the fix
    advisory: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)

    @property
    def weight(self) -> float:
        """How much this match is to be believed: halved for an unverified platform condition and
        for a version-only match on a distribution package."""
        return (0.5 if self.conditions else 1.0) * (0.5 if self.backport_risk else 1.0)

    @property
    def exploited(self) -> bool:
        return self.kev is not None or self.cve.cisa_exploit_add is not None

    @property
    def severity(self) -> str:
        sev = cvss_severity(self.cve.cvss) or self.cve.nvd_severity or "medium"
        if self.exploited and severity_rank(sev) < severity_rank("high"):
            sev = "high"
        return sev

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.cve.id,
            "severity": self.severity,
            "cvss": self.cve.cvss,
            "cvss_version": self.cve.cvss_version,
            "vector": self.cve.vector,
            "known_exploited": self.exploited,
            "matched": self.criteria,
            "target": self.target,
            "basis": self.basis,
            "rationale": self.rationale,
        }
        if self.advisory:
            d["advisory"] = dict(self.advisory)
        if self.range:
            d["range"] = dict(self.range)
        if self.kev is not None:
            d["kev"] = {
                "date_added": self.kev.date_added,
                "due_date": self.kev.due_date,
                "required_action": self.kev.required_action,
                "ransomware": self.kev.ransomware,
            }
        if self.conditions:
            d["unverified_conditions"] = list(self.conditions)
        if self.cve.description:
            d["description"] = self.cve.description[:300]
        return d


def _parse_feed(doc: Any, path: str, cves: list[CveRecord], kev: list[KevEntry]) -> None:
    if not isinstance(doc, Mapping):
        raise PolicyError(
            "expected a JSON object (a KEV catalog, an NVD CVE 2.0 feed, OSV records"
            " or the Debian Security Tracker JSON)",
            path,
        )
    if "CVE_Items" in doc:
        raise PolicyError("this is an NVD JSON 1.1 feed (retired); use the NVD CVE JSON 2.0 feeds", path)
    items = doc.get("vulnerabilities")
    if not isinstance(items, list):
        raise PolicyError(
            "no 'vulnerabilities' list: not a KEV catalog, an NVD CVE 2.0 feed, OSV records"
            " nor the Debian Security Tracker",
            path,
        )
    first = items[0] if items else {}
    if "catalogVersion" in doc or (isinstance(first, Mapping) and "cveID" in first):
        kev.extend(_parse_kev(doc, path))
    elif doc.get("format") == "NVD_CVE" or (isinstance(first, Mapping) and "cve" in first) or not items:
        cves.extend(_parse_nvd(doc, path))
    else:
        raise PolicyError("unrecognised entries: neither KEV (cveID) nor NVD 2.0 (cve.id)", path)


def cvss_severity(score: float | None) -> str | None:
    """CVSS qualitative rating (v3/v4): 0 none (info), 0.1-3.9 low, 4-6.9 medium, 7-8.9 high, 9+ critical."""
    if score is None:
        return None
    if score == 0:
        return "info"
    if score < 4.0:
        return "low"
    if score < 7.0:
        return "medium"
    if score < 9.0:
        return "high"
    return "critical"


# ------------------------------------------------------------------------------------------ reading


def _read_json(path: str) -> Any:
    """A feed: ``.json``, ``.json.gz`` or a ``.zip`` holding one, through `portlens.files` (size,
    inflated size and inflation ratio capped; errors located, never quoting the data)."""
    try:
        return read_json(path, "vulnerability data", decompress=True)
    except ReadError as e:
        raise PolicyError(e.located, path, e.line, e.col) from None


def _clean_config(cfg: Any) -> Mapping[str, Any] | None:
    """A configuration in the shape the matcher walks (lists of mappings, version bounds as text),
    or None: a feed is data from elsewhere, and a wrong shape must not fail an assessment later."""
    if not isinstance(cfg, Mapping) or not isinstance(cfg.get("nodes"), list):
        return None
    nodes = []
    for node in cfg["nodes"]:
        if not isinstance(node, Mapping):
            continue
        matches = node.get("cpeMatch")
        matches = [
            {k: v if k == "vulnerable" or v is None or isinstance(v, str) else str(v) for k, v in m.items()}
            for m in (matches if isinstance(matches, list) else [])
            if isinstance(m, Mapping)
        ]
        nodes.append({**node, "cpeMatch": matches})
    return {**cfg, "nodes": nodes}


def _cvss(metrics: Any) -> tuple[float | None, str | None, str | None, str | None]:
    if not isinstance(metrics, Mapping):
        return None, None, None, None
    for key in _METRICS:
        entries = metrics.get(key)
        if not isinstance(entries, list) or not entries:
            continue
        usable = [e for e in entries if isinstance(e, Mapping)]
        primary = [e for e in usable if e.get("type") == "Primary"]
        if not usable:
            continue
        entry = (primary or usable)[0]
        data = entry.get("cvssData", {})
        score = data.get("baseScore")
        raw = str(data.get("baseSeverity") or entry.get("baseSeverity") or "").lower()
        sev = "info" if raw == "none" else raw if raw in SEVERITIES else None
        return (
            float(score) if isinstance(score, (int, float)) else None,
            str(data.get("version") or key[len("cvssMetricV") :]),
            data.get("vectorString"),
            sev,
        )
    return None, None, None, None


def _parse_nvd(doc: Mapping[str, Any], path: str) -> list[CveRecord]:
    out = []
    for i, item in enumerate(doc.get("vulnerabilities") or []):
        cve = item.get("cve") if isinstance(item, Mapping) else None
        if not isinstance(cve, Mapping) or not isinstance(cve.get("id"), str):
            raise PolicyError(f"vulnerabilities[{i}] has no cve.id: not an NVD CVE JSON 2.0 record", path)
        if cve.get("vulnStatus") == "Rejected":
            continue
        desc = next(
            (
                d.get("value", "")
                for d in cve.get("descriptions") or []
                if isinstance(d, Mapping) and d.get("lang") == "en"
            ),
            "",
        )
        configs = cve.get("configurations") or []
        if not isinstance(configs, list):
            raise PolicyError(f"{cve['id']}: 'configurations' must be a list", path)
        score, version, vector, sev = _cvss(cve.get("metrics"))
        out.append(
            CveRecord(
                id=cve["id"],
                description=str(desc),
                cvss=score,
                cvss_version=version,
                vector=vector,
                nvd_severity=sev,
                configurations=tuple(c for c in map(_clean_config, configs) if c is not None),
                cisa_exploit_add=cve.get("cisaExploitAdd"),
            )
        )
    return out


def _parse_kev(doc: Mapping[str, Any], path: str) -> list[KevEntry]:
    out = []
    for i, v in enumerate(doc.get("vulnerabilities") or []):
        if not isinstance(v, Mapping) or not isinstance(v.get("cveID"), str):
            raise PolicyError(f"vulnerabilities[{i}] has no cveID: not a CISA KEV catalog entry", path)
        out.append(
            KevEntry(
                cve=v["cveID"],
                vendor=str(v.get("vendorProject", "")),
                product=str(v.get("product", "")),
                name=str(v.get("vulnerabilityName", "")),
                date_added=str(v.get("dateAdded", "")),
                due_date=str(v.get("dueDate", "")),
                required_action=str(v.get("requiredAction", "")),
                ransomware=str(v.get("knownRansomwareCampaignUse", "")),
            )
        )
    return out


def _load_doc(doc: Any, where: str, cves: list[CveRecord], kev: list[KevEntry], advisories: list[Any]) -> int:
    """One parsed document of any supported format; returns the OSV records of other ecosystems."""
    if adv.looks_like_advisories(doc):
        return adv.parse_advisories(doc, where, advisories)
    _parse_feed(doc, where, cves, kev)
    return 0


# ------------------------------------------------------------------------------------------ matching


def _tri_or(values: Iterable[int]) -> int:
    vals = list(values)
    return _TRUE if _TRUE in vals else _UNKNOWN if _UNKNOWN in vals else _FALSE


def _tri_and(values: Iterable[int]) -> int:
    vals = list(values)
    return _FALSE if _FALSE in vals else _UNKNOWN if _UNKNOWN in vals else _TRUE


def _negate(v: int) -> int:
    return v if v == _UNKNOWN else (_TRUE if v == _FALSE else _FALSE)


class VulnDB:
    """CVE records (NVD) and known-exploited entries (KEV), indexed by vendor and product."""

    def __init__(
        self,
        cves: Iterable[CveRecord] = (),
        kev: Iterable[KevEntry] = (),
        sources: Iterable[str] = (),
        advisories: AdvisoryDB | None = None,
    ):
        self.advisories: AdvisoryDB = advisories if advisories is not None else AdvisoryDB()
        self.cves: dict[str, CveRecord] = {c.id: c for c in cves}
        self.kev: dict[str, KevEntry] = {k.cve: k for k in kev}
        self.sources: tuple[str, ...] = tuple(sources)
        self._index: dict[tuple[str, str], set[str]] = {}
        self._wild: set[str] = set()
        self._parsed: dict[str, Cpe | None] = {}
        for rec in self.cves.values():
            for cfg in rec.configurations:
                for node in cfg.get("nodes") or []:
                    for m in node.get("cpeMatch") or [] if isinstance(node, Mapping) else []:
                        if not isinstance(m, Mapping) or not m.get("vulnerable", False):
                            continue
                        c = self._cpe(m.get("criteria"))
                        if c is None:
                            continue
                        if "*" in c.vendor + c.product or "?" in c.vendor + c.product:
                            self._wild.add(rec.id)
                        else:
                            self._index.setdefault((c.value("vendor"), c.value("product")), set()).add(rec.id)

    @classmethod
    def load(cls, paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> VulnDB:
        """Read KEV catalogs, NVD CVE JSON 2.0 feeds, OSV records (JSON or osv.dev's zip per
        ecosystem) and the Debian Security Tracker JSON (the format of each file is recognised)."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        cves: list[CveRecord] = []
        kev: list[KevEntry] = []
        advisories: list[adv.Advisory] = []
        skipped = 0
        sources = []
        for p in paths:
            path = os.fspath(p)
            try:
                if path.endswith(".zip"):
                    for label, doc in adv.iter_zip_documents(path):
                        skipped += _load_doc(doc, label, cves, kev, advisories)
                else:
                    skipped += _load_doc(_read_json(path), path, cves, kev, advisories)
            except (TypeError, AttributeError, KeyError, ValueError, RecursionError) as e:
                if isinstance(e, PolicyError):
                    raise
                # the kind of problem only: a feed's values are not echoed
                raise PolicyError(f"malformed vulnerability data ({type(e).__name__})", path) from None
            sources.append(path)
        return cls(cves, kev, sources, AdvisoryDB(advisories, [], skipped))

    def merge(self, other: VulnDB) -> VulnDB:
        return VulnDB(
            [*self.cves.values(), *other.cves.values()],
            [*self.kev.values(), *other.kev.values()],
            (*self.sources, *other.sources),
            self.advisories.merge(other.advisories),
        )

    def __bool__(self) -> bool:
        return bool(self.cves) or bool(self.advisories)

    def __len__(self) -> int:
        return len(self.cves)

    def _cpe(self, text: Any) -> Cpe | None:
        if not isinstance(text, str):
            return None
        if text not in self._parsed:
            try:
                self._parsed[text] = parse_cpe(text)
            except CpeError:
                self._parsed[text] = None
        return self._parsed[text]

    def _entry(self, m: Mapping[str, Any], targets: Sequence[Cpe], host: Sequence[Cpe]) -> tuple[int, list[Any]]:
        """Evaluate one cpeMatch: (truth, [(criteria, range, target)] for this port's CPEs)."""
        c = self._cpe(m.get("criteria"))
        if c is None:
            return _FALSE, []
        vulnerable = bool(m.get("vulnerable", False))
        hits = []
        if vulnerable:
            for t in targets:
                if criteria_matches(c, m, t):
                    rng = {k: str(m[k]) for k in m if k.startswith("version") and m[k] not in (None, "")}
                    hits.append((str(m.get("criteria")), rng, str(t)))
        if hits or any(criteria_matches(c, m, h) for h in host):
            return _TRUE, hits
        if vulnerable or (c.part in ("o", "h") and any(h.part == c.part for h in host)):
            return _FALSE, []
        return _UNKNOWN, []

    def _config(
        self, cfg: Mapping[str, Any], targets: Sequence[Cpe], host: Sequence[Cpe]
    ) -> tuple[int, list[Any], list[str]]:
        node_values, hits, unknown = [], [], []
        for node in cfg.get("nodes") or []:
            if not isinstance(node, Mapping):
                continue
            values = []
            for m in node.get("cpeMatch") or []:
                if not isinstance(m, Mapping):
                    continue
                v, h = self._entry(m, targets, host)
                values.append(v)
                hits.extend(h)
                if v == _UNKNOWN:
                    unknown.append(str(m.get("criteria")))
            op = str(node.get("operator", "OR")).upper()
            value = _tri_and(values) if op == "AND" else _tri_or(values)
            node_values.append(_negate(value) if node.get("negate") else value)
        if not node_values:
            return _FALSE, [], []
        op = str(cfg.get("operator", "OR" if len(node_values) == 1 else "AND")).upper()
        value = _tri_and(node_values) if op == "AND" else _tri_or(node_values)
        if cfg.get("negate"):
            value = _negate(value)
        return value, hits, unknown

    def match(self, targets: Sequence[Cpe], host: Sequence[Cpe] = ()) -> list[VulnMatch]:
        """The CVEs whose configurations hold for this port's CPEs (``targets``), given every CPE
        seen on the host (``host``, which should include ``targets``)."""
        host = list(host) or list(targets)
        candidates: set[str] = set(self._wild)
        for t in targets:
            candidates |= self._index.get((t.value("vendor"), t.value("product")), set())
        out = []
        for cve_id in sorted(candidates):
            rec = self.cves[cve_id]
            best: VulnMatch | None = None
            for cfg in rec.configurations:
                value, hits, unknown = self._config(cfg, targets, host)
                if value == _FALSE or not hits:
                    continue
                criteria, rng, target = hits[0]
                m = VulnMatch(
                    rec, self.kev.get(cve_id), criteria, rng, target, tuple(unknown) if value == _UNKNOWN else ()
                )
                if best is None or (best.conditions and not m.conditions):
                    best = m
            if best is not None:
                out.append(best)
        return out

    def match_port(
        self,
        targets: Sequence[Cpe],
        host: Sequence[Cpe],
        view: ServiceView,
        host_distro: Mapping[str, Any] | None = None,
    ) -> tuple[list[VulnMatch], list[dict[str, Any]]]:
        """The CVEs to report for one port, each with its basis and rationale, and those not
        reported because the distribution's advisory says the installed package is fixed.
        ``host_distro`` is the distribution another banner of the same host names: a service whose
        own banner names none (nginx on Debian says ``nginx/1.22.1``) is then most likely that
        distribution's package, so a version-only match keeps only half the confidence too."""
        nvd = self.match(targets, host) if self.cves else []
        distro: Mapping[str, Any] | None = view.distro
        from_host = False
        if not distro and host_distro and host_distro.get("name"):
            distro, from_host = {k: v for k, v in host_distro.items() if k != "revision"}, True
        if not distro:
            why = "version-only match (the banner names no distribution)"
            return [replace(m, rationale=why) for m in nvd], []
        name = distro["name"]
        label = distro_label(distro)
        upstream = (view.version or "").split()[0] if view.version else ""
        packages = tuple(dict.fromkeys(p for t in targets for p in adv.package_names(t.value("product"), name)))
        installed = view.package_version
        db = self.advisories
        if from_host:
            reason = f"the host runs {label}, as another of its banners says, but this one gives no package revision"
        elif not db:
            reason = "no distribution advisories were supplied"
        elif not db.covers(name):
            reason = f"the advisories supplied do not cover {label}"
        elif not installed:
            reason = f"the banner names {label} but not the package revision"
        elif not packages:
            reason = f"portlens knows no {label} package of this product"
        else:
            reason = ""
        out: list[VulnMatch] = []
        hidden: list[dict[str, Any]] = []
        seen: set[str] = set()

        def judge(cve: str) -> adv.Judgement | None:
            if reason or installed is None:
                return None
            return db.judge(cve, name, distro.get("release"), packages, installed, upstream)

        for m in nvd:
            seen.add(m.cve.id)
            j = judge(m.cve.id)
            if j is None:
                why = reason or f"no advisory of {label} {'/'.join(packages)} decides {m.cve.id}"
                out.append(
                    replace(
                        m,
                        rationale=f"version-only match; the distribution may have backported the fix ({why})",
                        backport_risk=True,
                    )
                )
            elif j.affected:
                out.append(replace(m, basis="advisory", rationale=j.rationale(), advisory=j.to_dict()))
            else:
                hidden.append({"id": m.cve.id, "rationale": j.rationale(), **j.to_dict()})
        if not reason and installed is not None:
            # CVEs only the distribution's advisories know of (or whose NVD range misses this version)
            for cve in db.cves_for(name, distro.get("release"), packages, upstream):
                if cve in seen:
                    continue
                j = judge(cve)
                if j is None or not j.affected:
                    continue
                a = j.advisories[0]
                rec = self.cves.get(cve) or CveRecord(id=cve, description=a.summary, nvd_severity=a.severity)
                out.append(
                    VulnMatch(
                        rec,
                        self.kev.get(cve),
                        f"{a.distro}:{a.release or '*'}/{a.package}",
                        {"fixed": j.fixed} if j.fixed else {},
                        j.installed,
                        basis="advisory",
                        rationale=j.rationale(),
                        advisory=j.to_dict(),
                    )
                )
        return out, hidden


def distro_label(distro: Mapping[str, Any]) -> str:
    """ "Debian 12 (bookworm)", "Ubuntu", "AlmaLinux 9"."""
    return adv.label(str(distro.get("name", "")), distro.get("release"), distro.get("codename"))


# ------------------------------------------------------------------------------------------ product names

# Product names as banners announce them -> (part, vendor, product) as the NVD dictionary names
# them. Used only when service identification gives no CPE. Several entries where NVD used more
# than one vendor name over time.
_PRODUCTS: tuple[tuple[re.Pattern[str], tuple[tuple[str, str, str], ...]], ...] = tuple(
    (re.compile(p, re.IGNORECASE), names)
    for p, names in (
        (r"openssh", (("a", "openbsd", "openssh"),)),
        (r"dropbear(\s*ssh[d]?)?", (("a", "dropbear_ssh_project", "dropbear_ssh"),)),
        (r"nginx", (("a", "f5", "nginx"), ("a", "nginx", "nginx"))),
        (r"apache(\s*(httpd|http\s*server))?", (("a", "apache", "http_server"),)),
        (r"(apache\s*)?tomcat", (("a", "apache", "tomcat"),)),
        (r"microsoft[-\s]iis(\s*httpd)?", (("a", "microsoft", "internet_information_services"),)),
        (r"lighttpd", (("a", "lighttpd", "lighttpd"),)),
        (r"vsftpd", (("a", "beasts", "vsftpd"),)),
        (r"proftpd", (("a", "proftpd", "proftpd"),)),
        (r"exim(\s*smtpd)?", (("a", "exim", "exim"),)),
        (r"postfix(\s*smtpd)?", (("a", "postfix", "postfix"),)),
        (r"dovecot(\s*(pop3d|imapd))?", (("a", "dovecot", "dovecot"),)),
        (r"redis(\s*server)?", (("a", "redis", "redis"), ("a", "redislabs", "redis"))),
        (r"mysql", (("a", "oracle", "mysql"), ("a", "mysql", "mysql"))),
        (r"mariadb", (("a", "mariadb", "mariadb"),)),
        (r"postgresql", (("a", "postgresql", "postgresql"),)),
        (r"mongodb", (("a", "mongodb", "mongodb"),)),
        (r"elasticsearch", (("a", "elastic", "elasticsearch"),)),
        (r"(apache\s*)?couchdb", (("a", "apache", "couchdb"),)),
        (r"memcached", (("a", "memcached", "memcached"),)),
        (r"samba(\s*smbd)?", (("a", "samba", "samba"),)),
        (r"(eclipse\s*)?mosquitto", (("a", "eclipse", "mosquitto"),)),
        (r"isc\s*bind|bind", (("a", "isc", "bind"),)),
        (r"dnsmasq", (("a", "thekelleys", "dnsmasq"),)),
    )
)


def derive_cpes(product: str | None, version: str | None) -> list[Cpe]:
    """CPEs for a well-known product name and version ("OpenSSH", "8.9p1"); [] when unknown."""
    if not product or not version:
        return []
    name = product.strip()
    v = version.strip().split()[0] if version.strip() else ""
    if not v or not v[0].isdigit():
        return []
    for pattern, names in _PRODUCTS:
        if pattern.fullmatch(name):
            update = ANY
            if names[0][2] == "openssh":  # NVD writes OpenSSH 8.9p1 as version 8.9, update p1
                m = re.fullmatch(r"(\d+(?:\.\d+)*)(p\d+)?", v)
                if m is None:
                    return []
                v, update = m.group(1), m.group(2) or ANY
            out = []
            for part, vendor, prod in names:
                try:
                    out.append(parse_cpe(f"cpe:2.3:{part}:{vendor}:{prod}:{_fs(v)}:{_fs(update)}:*:*:*:*:*:*"))
                except CpeError:
                    return []
            return out
    return []


def _fs(value: str) -> str:
    if value in (ANY, "-"):
        return value
    return "".join(ch if ch.isalnum() or ch in "_.-" else "\\" + ch for ch in value.lower())

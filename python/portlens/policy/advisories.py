"""Distribution advisories: which package revision of a distribution release fixed a CVE.

Debian, Ubuntu and the RPM distributions fix a CVE by patching the version they ship, so the
upstream version a banner shows ("OpenSSH 9.2p1") says nothing about the fix; the package
revision does ("Debian-2+deb12u10", kept by service identification as ``service.distro``). The
distributions publish, per release and package, the version that fixed each CVE. Two formats are
read, as published, from files the user supplies (nothing is fetched):

* **OSV** (osv.dev): one record per file (``DEBIAN-CVE-2024-6387.json``), a list or ``{"vulns":
  [...]}`` of records, or the zip osv.dev publishes per ecosystem (``Debian:12/all.zip``,
  ``Ubuntu/all.zip``, ``AlmaLinux/all.zip``: one JSON record per member). A record's CVEs are its
  ``id``, ``aliases`` and ``upstream`` entries that are CVE ids; each ``affected[]`` entry names a
  ``package`` (``ecosystem`` "Debian:12", "Ubuntu:22.04:LTS", "AlmaLinux:9", "Rocky Linux:9",
  "Red Hat:enterprise_linux:9::appstream"...; ``name`` the source package) and ``ranges`` of type
  ``ECOSYSTEM`` whose ``events`` (``introduced``, ``fixed``, ``last_affected``, ``limit``) are
  versions in the ecosystem's own syntax, ordered by dpkg or rpm rules (`pkgversion`). Records of
  other ecosystems (PyPI, npm...) are skipped and counted.
* **The Debian Security Tracker JSON** (``https://security-tracker.debian.org/tracker/data/json``):
  ``{source package: {CVE: {"releases": {codename: {"status": "resolved"|"open"|"undetermined",
  "fixed_version": "1:9.2p1-2+deb12u3", "urgency": ...}}}}}``. A fixed version ``0`` means the
  release was never affected.

The installed package version is the banner's upstream version and revision
(``9.2p1`` + ``2+deb12u10``); banners never show the epoch, so the advisory's epoch is taken
(a package keeps its epoch within a release). The release is the banner's when it tells
(``deb12u10`` -> Debian 12); when it does not, the releases whose advisories name the same
upstream version are consulted, and they must agree.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..files.read import ReadError, loads_json, read_json, read_zip_members
from .model import PolicyError
from .pkgversion import PackageVersionError, compare, split_evr

__all__ = [
    "Advisory",
    "AdvisoryDB",
    "Judgement",
    "SCHEMES",
    "label",
    "looks_like_advisories",
    "package_names",
    "parse_ecosystem",
]

_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
_KIND = "vulnerability data"

#: distribution -> version ordering
SCHEMES: Mapping[str, str] = {
    "debian": "dpkg",
    "ubuntu": "dpkg",
    "raspbian": "dpkg",
    "rhel": "rpm",
    "centos": "rpm",
    "almalinux": "rpm",
    "rocky": "rpm",
    "fedora": "rpm",
    "oracle": "rpm",
    "amazon": "rpm",
    "suse": "rpm",
}
#: whose advisories a derivative reads (Raspbian rebuilds Debian's packages with the same revisions)
_ADVISORIES_OF = {"raspbian": "debian"}

DEBIAN_CODENAMES: Mapping[str, str] = {
    "wheezy": "7",
    "jessie": "8",
    "stretch": "9",
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
    "sid": "sid",
}

#: CPE product (as `vulns.derive_cpes` and the fingerprints name it) -> source package names,
#: per packaging family. Only products whose distribution package is unambiguous.
_PACKAGES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "openssh": {"dpkg": ("openssh",), "rpm": ("openssh",)},
    "dropbear_ssh": {"dpkg": ("dropbear",), "rpm": ("dropbear",)},
    "nginx": {"dpkg": ("nginx",), "rpm": ("nginx",)},
    "http_server": {"dpkg": ("apache2",), "rpm": ("httpd",)},
    "lighttpd": {"dpkg": ("lighttpd",), "rpm": ("lighttpd",)},
    "vsftpd": {"dpkg": ("vsftpd",), "rpm": ("vsftpd",)},
    "proftpd": {"dpkg": ("proftpd-dfsg",), "rpm": ("proftpd",)},
    "postfix": {"dpkg": ("postfix",), "rpm": ("postfix",)},
    "exim": {"dpkg": ("exim4",), "rpm": ("exim",)},
    "dovecot": {"dpkg": ("dovecot",), "rpm": ("dovecot",)},
    "redis": {"dpkg": ("redis",), "rpm": ("redis",)},
    "mariadb": {
        "dpkg": ("mariadb", "mariadb-10.11", "mariadb-10.6", "mariadb-10.5", "mariadb-10.3"),
        "rpm": ("mariadb",),
    },
    "memcached": {"dpkg": ("memcached",), "rpm": ("memcached",)},
    "samba": {"dpkg": ("samba",), "rpm": ("samba",)},
    "mosquitto": {"dpkg": ("mosquitto",), "rpm": ("mosquitto",)},
    "bind": {"dpkg": ("bind9",), "rpm": ("bind",)},
    "dnsmasq": {"dpkg": ("dnsmasq",), "rpm": ("dnsmasq",)},
}


_NAMES = {
    "debian": "Debian",
    "ubuntu": "Ubuntu",
    "raspbian": "Raspbian",
    "rhel": "Red Hat Enterprise Linux",
    "centos": "CentOS",
    "almalinux": "AlmaLinux",
    "rocky": "Rocky Linux",
    "fedora": "Fedora",
    "oracle": "Oracle Linux",
    "amazon": "Amazon Linux",
    "suse": "SUSE",
    "freebsd": "FreeBSD",
}


def label(distro: str, release: str | None = None, codename: str | None = None) -> str:
    """ "Debian 12 (bookworm)", "Ubuntu", "AlmaLinux 9"."""
    out = _NAMES.get(distro, distro)
    if release:
        out += f" {release}"
        if codename:
            out += f" ({codename})"
    return out


def package_names(cpe_product: str, distro: str) -> tuple[str, ...]:
    """The distribution's source package names of a product (by its CPE product name)."""
    scheme = SCHEMES.get(distro)
    return _PACKAGES.get(cpe_product, {}).get(scheme or "", ())


def parse_ecosystem(ecosystem: str) -> tuple[str, str | None] | None:
    """OSV ecosystem -> (distribution, release or None); None for ecosystems that are not a
    distribution portlens orders ("PyPI", "Alpine:v3.19")."""
    parts = [p.strip() for p in ecosystem.split(":")]
    head = parts[0].lower()
    rest = [p for p in parts[1:] if p]
    if head == "debian":
        return "debian", rest[0] if rest else None
    if head == "ubuntu":
        # "Ubuntu:22.04:LTS", "Ubuntu:Pro:18.04:LTS", "Ubuntu:Pro:FIPS:20.04:LTS"
        release = next((p for p in rest if re.fullmatch(r"\d\d\.\d\d", p)), None)
        return "ubuntu", release
    if head == "almalinux":
        return "almalinux", rest[0] if rest else None
    if head == "rocky linux":
        return "rocky", rest[0] if rest else None
    if head == "red hat":
        # "Red Hat:enterprise_linux:9::appstream": the major release
        release = next((p.split(".")[0] for p in rest if p[:1].isdigit()), None)
        return "rhel", release
    if head in ("opensuse", "suse"):
        return "suse", None
    if head in ("fedora", "oracle linux", "amazon linux"):
        return {"fedora": "fedora", "oracle linux": "oracle", "amazon linux": "amazon"}[head], rest[0] if rest else None
    return None


@dataclass(frozen=True)
class Advisory:
    """One CVE in one package of one distribution release, as one advisory says."""

    cve: str
    distro: str
    release: str | None
    package: str
    status: str  # "fixed", "open" (no fix yet), "not-affected", "undetermined", "ranges"
    fixed: str | None = None
    events: tuple[tuple[str, str], ...] = ()  # OSV range events (kind, version), in the file's order
    source: str = ""  # "OSV DEBIAN-CVE-2024-6387" / "Debian Security Tracker"
    origin: str = ""  # the file
    severity: str | None = None
    summary: str = field(default="", compare=False)
    # the distribution rates it "unimportant" (Debian: no security impact worth a fix, e.g. a
    # local-only flaw in a disabled feature); an open one is then not reported
    unimportant: bool = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "source": self.source,
            "distro": self.distro,
            "release": self.release,
            "package": self.package,
            "status": self.status,
        }
        if self.fixed:
            d["fixed"] = self.fixed
        if self.events:
            d["events"] = [{k: v} for k, v in self.events]
        if self.unimportant:
            d["urgency"] = "unimportant"
        return d

    def affects(self, installed: str, scheme: str) -> bool | None:
        """Is the installed package version affected (None: the advisory cannot tell)?"""
        if self.status == "not-affected":
            return False
        if self.status == "open":
            return True
        if self.status == "undetermined":
            return None
        if self.status == "fixed" and self.fixed:
            return _cmp(installed, self.fixed, scheme) < 0
        if self.events:
            return _in_ranges(installed, self.events, scheme)
        return None


def _with_epoch(installed: str, other: str, scheme: str) -> str:
    """The installed version with the other's epoch when it shows none (banners never do)."""
    if ":" in installed:
        return installed
    epoch, _, _ = split_evr(other, scheme)
    return f"{epoch}:{installed}" if epoch else installed


def _cmp(installed: str, version: str, scheme: str) -> int:
    return compare(_with_epoch(installed, version, scheme), version, scheme)


def _in_ranges(installed: str, events: Sequence[tuple[str, str]], scheme: str) -> bool:
    """OSV's evaluation of ECOSYSTEM events: affected from an ``introduced`` up to (not including)
    the next ``fixed``/``limit``, or up to and including a ``last_affected``."""
    affected = False
    ordered = sorted(
        events,
        key=lambda e: (0,) if e[1] == "0" else (1, _Key(e[1], scheme)),
    )
    for kind, version in ordered:
        if kind == "introduced":
            if version == "0" or _cmp(installed, version, scheme) >= 0:
                affected = True
        elif kind in ("fixed", "limit"):
            if _cmp(installed, version, scheme) >= 0:
                affected = False
        elif kind == "last_affected" and _cmp(installed, version, scheme) > 0:
            affected = False
    return affected


class _Key:
    """Sort key of a package version in a scheme."""

    def __init__(self, version: str, scheme: str) -> None:
        self.version, self.scheme = version, scheme

    def __lt__(self, other: _Key) -> bool:
        return compare(self.version, other.version, self.scheme) < 0


@dataclass(frozen=True)
class Judgement:
    """What the advisories say about one CVE for one installed package."""

    affected: bool
    installed: str  # the package version compared (with the advisory's epoch)
    advisories: tuple[Advisory, ...]
    unimportant: bool = False  # affected, but the distribution rates it unimportant: not reported

    @property
    def fixed(self) -> str | None:
        """The fixed version an advisory names (an OSV range's first ``fixed`` event)."""
        for a in self.advisories:
            if a.fixed:
                return a.fixed
            for kind, version in a.events:
                if kind == "fixed":
                    return version
        return None

    def rationale(self) -> str:
        a = self.advisories[0]
        codename = (
            next((c for c, n in DEBIAN_CODENAMES.items() if n == a.release), None) if a.distro == "debian" else None
        )
        where = f"{label(a.distro, a.release, codename)} {a.package}"
        if self.unimportant:
            return f"not reported: {where} is affected but the distribution rates it unimportant ({a.source})"
        if self.affected:
            if a.status == "open":
                return f"matched via advisory: {where} has no fix yet ({a.source}); installed {self.installed}"
            fixed = self.fixed
            fix = f"fixed in {fixed}" if fixed else "affected range"
            return f"matched via advisory: {where} {fix} ({a.source}); installed {self.installed} is older"
        if a.status == "not-affected":
            return f"not reported: {where} was never affected ({a.source})"
        return (
            f"not reported: fixed in the distribution revision {self.fixed or '(outside the affected range)'} "
            f"of {where} ({a.source}); installed {self.installed}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"installed": self.installed, "advisories": [a.to_dict() for a in self.advisories[:5]]}


class AdvisoryDB:
    """Advisories indexed by (distribution, package) and by CVE."""

    def __init__(self, advisories: Iterable[Advisory] = (), sources: Iterable[str] = (), skipped: int = 0) -> None:
        self.items: list[Advisory] = list(advisories)  # duplicates (two sources agreeing) only repeat a verdict
        self.sources: tuple[str, ...] = tuple(sources)
        self.skipped = skipped  # OSV records of ecosystems portlens does not order
        self._by_pkg: dict[tuple[str, str], list[Advisory]] = {}
        self._by_cve: dict[tuple[str, str, str], list[Advisory]] = {}
        for a in self.items:
            self._by_pkg.setdefault((a.distro, a.package), []).append(a)
            self._by_cve.setdefault((a.distro, a.package, a.cve), []).append(a)
        # (distro, release, packages, upstream) -> applicable releases: the same for every CVE of a port
        self._release_cache: dict[tuple[str, str | None, tuple[str, ...], str], list[str | None]] = {}

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def merge(self, other: AdvisoryDB) -> AdvisoryDB:
        return AdvisoryDB([*self.items, *other.items], (*self.sources, *other.sources), self.skipped + other.skipped)

    def covers(self, distro: str) -> bool:
        d = _ADVISORIES_OF.get(distro, distro)
        return any(k[0] == d for k in self._by_pkg)

    def _releases(
        self, distro: str, release: str | None, packages: Sequence[str], upstream: str, scheme: str
    ) -> list[str | None]:
        """The releases whose advisories apply: the banner's, else those that ship the same upstream."""
        if release is not None:
            return [release]
        key = (distro, release, tuple(packages), upstream)
        cached = self._release_cache.get(key)
        if cached is not None:
            return cached
        out: list[str | None] = []
        for pkg in packages:
            for a in self._by_pkg.get((distro, pkg), ()):
                versions = [a.fixed] if a.fixed else [v for _, v in a.events if v != "0"]
                for v in versions:
                    try:
                        same = split_evr(v, scheme)[1] == upstream
                    except PackageVersionError:
                        continue
                    if same and a.release not in out:
                        out.append(a.release)
        self._release_cache[key] = out
        return out

    def judge(
        self, cve: str, distro: str, release: str | None, packages: Sequence[str], installed: str, upstream: str
    ) -> Judgement | None:
        """What the advisories say about ``cve`` for the installed package (None: nothing that decides)."""
        scheme = SCHEMES.get(distro)
        if scheme is None:
            return None
        d = _ADVISORIES_OF.get(distro, distro)
        releases = self._releases(d, release, packages, upstream, scheme)
        found = [a for pkg in packages for a in self._by_cve.get((d, pkg, cve), ()) if a.release in releases]
        verdicts: dict[bool, list[Advisory]] = {}
        for a in found:
            try:
                v = a.affects(installed, scheme)
            except PackageVersionError:
                v = None  # a version in the data that is not of the scheme decides nothing
            if v is not None:
                verdicts.setdefault(v, []).append(a)
        if len(verdicts) != 1:  # nothing decides, or the releases disagree
            return None
        affected, ads = next(iter(verdicts.items()))
        unimportant = affected and all(a.unimportant for a in ads)
        ref = next((a.fixed for a in ads if a.fixed), None) or next((v for _, v in ads[0].events if v != "0"), None)
        shown = _with_epoch(installed, ref, scheme) if ref else installed
        return Judgement(affected and not unimportant, shown, tuple(ads), unimportant)

    def cves_for(self, distro: str, release: str | None, packages: Sequence[str], upstream: str) -> list[str]:
        """Every CVE the advisories name for these packages in the applicable releases."""
        scheme = SCHEMES.get(distro)
        if scheme is None:
            return []
        d = _ADVISORIES_OF.get(distro, distro)
        releases = self._releases(d, release, packages, upstream, scheme)
        return sorted({a.cve for pkg in packages for a in self._by_pkg.get((d, pkg), ()) if a.release in releases})

    def first(self, cve: str, distro: str, packages: Sequence[str]) -> Advisory | None:
        d = _ADVISORIES_OF.get(distro, distro)
        return next((a for p in packages for a in self._by_pkg.get((d, p), ()) if a.cve == cve), None)


# ------------------------------------------------------------------------------------------ reading


def looks_like_advisories(doc: Any) -> bool:
    """Is a parsed JSON document OSV or the Debian Security Tracker (rather than NVD or KEV)?"""
    if isinstance(doc, list):
        # a list of OSV records (what osv.dev's API and exports give); its later entries are checked when parsed
        return bool(doc) and isinstance(doc[0], Mapping) and "affected" in doc[0]
    if not isinstance(doc, Mapping):
        return False
    if "affected" in doc or (isinstance(doc.get("vulns"), list) and "vulnerabilities" not in doc):
        return True
    return _is_tracker(doc)


def _is_tracker(doc: Mapping[str, Any]) -> bool:
    if not doc or "vulnerabilities" in doc:
        return False
    for _, cves in list(doc.items())[:20]:
        if not isinstance(cves, Mapping):
            return False
        for _, entry in list(cves.items())[:5]:
            if isinstance(entry, Mapping) and "releases" in entry:
                return True
    return False


def _cves_of(record: Mapping[str, Any]) -> list[str]:
    ids = [record.get("id")]
    for key in ("aliases", "upstream", "related"):  # RHSA/ALSA records list their CVEs as related
        value = record.get(key)
        if isinstance(value, list):
            ids.extend(value)
    out = []
    for i in ids:
        if isinstance(i, str):
            m = _CVE.search(i)
            if m and m.group() not in out:
                out.append(m.group())
    return out


def _osv_severity(record: Mapping[str, Any], affected: Mapping[str, Any]) -> str | None:
    for holder in (
        affected.get("ecosystem_specific"),
        affected.get("database_specific"),
        record.get("database_specific"),
    ):
        if isinstance(holder, Mapping):
            for key in ("severity", "urgency"):
                v = holder.get(key)
                if isinstance(v, str) and v.lower() in ("low", "medium", "moderate", "high", "critical", "important"):
                    return {"moderate": "medium", "important": "high"}.get(v.lower(), v.lower())
    for sev in record.get("severity") or []:
        if isinstance(sev, Mapping) and str(sev.get("type", "")).lower() == "ubuntu":
            v = str(sev.get("score", "")).lower()
            if v in ("low", "medium", "high", "critical"):
                return v
    return None


def _parse_osv(record: Any, where: str, out: list[Advisory]) -> int:
    """Advisories of one OSV record; returns 1 when its ecosystems are none portlens orders."""
    if not isinstance(record, Mapping):
        raise PolicyError("an OSV record must be a JSON object", where)
    rid = record.get("id")
    if not isinstance(rid, str) or not rid:
        raise PolicyError("an OSV record has no 'id'", where)
    if record.get("withdrawn"):
        return 0
    affected = record.get("affected")
    if not isinstance(affected, list):
        raise PolicyError(f"OSV record {rid[:60]!r} has no 'affected' list", where)
    cves = _cves_of(record)
    summary = str(record.get("summary") or record.get("details") or "")[:300]
    used = False
    for k, aff in enumerate(affected):
        if not isinstance(aff, Mapping) or not isinstance(aff.get("package"), Mapping):
            raise PolicyError(f"{rid[:60]} affected[{k}] has no 'package' object", where)
        pkg = aff["package"]
        eco, name = pkg.get("ecosystem"), pkg.get("name")
        if not isinstance(eco, str) or not isinstance(name, str):
            raise PolicyError(f"{rid[:60]} affected[{k}].package needs 'ecosystem' and 'name' strings", where)
        parsed = parse_ecosystem(eco)
        if parsed is None:
            continue
        used = True
        distro, release = parsed
        events: list[tuple[str, str]] = []
        ranges = aff.get("ranges") or []
        if not isinstance(ranges, list):
            raise PolicyError(f"{rid[:60]} affected[{k}].ranges must be a list", where)
        for r in ranges:
            if not isinstance(r, Mapping) or r.get("type") != "ECOSYSTEM":
                continue  # GIT and SEMVER ranges do not order distribution packages
            for e in r.get("events") or []:
                if not isinstance(e, Mapping) or len(e) != 1:
                    raise PolicyError(f"{rid[:60]} has a range event that is not one {{kind: version}}", where)
                ((kind, version),) = e.items()
                if kind not in ("introduced", "fixed", "last_affected", "limit") or not isinstance(version, str):
                    raise PolicyError(f"{rid[:60]} has a range event of unknown kind or type", where)
                events.append((kind, version))
        if not events:
            continue
        sev = _osv_severity(record, aff)
        spec = aff.get("ecosystem_specific")
        # Debian's "unimportant" urgency, Ubuntu's "negligible" priority: no fix is planned
        raw_severity = record.get("severity")
        severities: list[Any] = raw_severity if isinstance(raw_severity, list) else []
        minor = (isinstance(spec, Mapping) and str(spec.get("urgency", "")).lower() == "unimportant") or any(
            isinstance(sev, Mapping)
            and str(sev.get("type", "")).lower() == "ubuntu"
            and str(sev.get("score", "")).lower() == "negligible"
            for sev in severities
        )
        for cve in cves:
            out.append(
                Advisory(
                    cve,
                    distro,
                    release,
                    name,
                    "ranges",
                    None,
                    tuple(events),
                    f"OSV {rid[:80]}",
                    where,
                    sev,
                    summary,
                    minor,
                )
            )
    return 0 if used else 1


def _parse_tracker(doc: Mapping[str, Any], where: str, out: list[Advisory]) -> None:
    for package, cves in doc.items():
        if not isinstance(cves, Mapping):
            raise PolicyError("Debian tracker entry of a package must be an object", where)
        for cve, entry in cves.items():
            if not isinstance(cve, str) or not _CVE.fullmatch(cve):
                continue  # TEMP-... ids name no CVE
            if not isinstance(entry, Mapping) or not isinstance(entry.get("releases", {}), Mapping):
                raise PolicyError(f"{cve}: 'releases' must be an object", where)
            for codename, rel in entry.get("releases", {}).items():
                if not isinstance(rel, Mapping):
                    raise PolicyError(f"{cve}: release {str(codename)[:20]!r} must be an object", where)
                status = str(rel.get("status", ""))
                fixed = rel.get("fixed_version")
                fixed = fixed if isinstance(fixed, str) and fixed else None
                if status == "resolved" and fixed == "0":
                    kind, fixed = "not-affected", None
                elif status == "resolved" and fixed:
                    kind = "fixed"
                elif status == "open":
                    kind = "open"
                else:
                    kind = "undetermined"
                urgency = str(rel.get("urgency", "")).replace("*", "")
                sev = urgency if urgency in ("low", "medium", "high") else None
                release = DEBIAN_CODENAMES.get(str(codename), str(codename))
                out.append(
                    Advisory(
                        cve,
                        "debian",
                        release,
                        str(package),
                        kind,
                        fixed,
                        (),
                        "Debian Security Tracker",
                        where,
                        sev,
                        str(entry.get("description") or "")[:300],
                        urgency == "unimportant",
                    )
                )


def parse_advisories(doc: Any, where: str, out: list[Advisory]) -> int:
    """Add the advisories of one parsed document; returns how many OSV records were of other ecosystems."""
    if isinstance(doc, list):
        return sum(_parse_osv(r, f"{where}[{i}]", out) for i, r in enumerate(doc))
    if isinstance(doc, Mapping) and "affected" in doc:
        return _parse_osv(doc, where, out)
    if isinstance(doc, Mapping) and isinstance(doc.get("vulns"), list):
        return sum(_parse_osv(r, f"{where}[{i}]", out) for i, r in enumerate(doc["vulns"]))
    if isinstance(doc, Mapping) and _is_tracker(doc):
        _parse_tracker(doc, where, out)
        return 0
    raise PolicyError("not an OSV record nor the Debian Security Tracker JSON", where)


def iter_zip_documents(path: str) -> Iterator[tuple[str, Any]]:
    """(member name, parsed JSON) of every ``.json`` member of a zip archive (osv.dev's per-ecosystem zip)."""
    try:
        for member, data in read_zip_members(path, _KIND):
            label = f"{path}!{member[:100]}"
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise PolicyError("not UTF-8 text", label) from None
            yield label, loads_json(text, label, _KIND)
    except ReadError as e:
        raise PolicyError(e.located, e.path, e.line, e.col) from None


def load_file(path: str) -> tuple[list[Advisory], int]:
    """The advisories of one file (OSV JSON or zip, Debian tracker JSON, optionally .gz)."""
    out: list[Advisory] = []
    skipped = 0
    try:
        if path.endswith(".zip"):
            for label, doc in iter_zip_documents(path):
                skipped += parse_advisories(doc, label, out)
        else:
            try:
                doc = read_json(path, _KIND, decompress=True)
            except ReadError as e:
                raise PolicyError(e.located, path, e.line, e.col) from None
            skipped += parse_advisories(doc, path, out)
    except (TypeError, AttributeError, KeyError, ValueError, RecursionError) as e:
        if isinstance(e, PolicyError):
            raise
        raise PolicyError(f"malformed advisory data ({type(e).__name__})", path) from None
    return out, skipped


def load(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> AdvisoryDB:
    """Read OSV and Debian Security Tracker files into an `AdvisoryDB`."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    items: list[Advisory] = []
    skipped = 0
    sources = []
    for p in paths:
        path = os.fspath(p)
        got, sk = load_file(path)
        items.extend(got)
        skipped += sk
        sources.append(path)
    return AdvisoryDB(items, sources, skipped)

"""CPE names: parsing CPE 2.3 formatted strings and 2.2 URIs, and matching NVD ``cpeMatch`` criteria.

Attribute matching follows the CPE name-matching rules (NISTIR 7696) for what NVD criteria use:
``*`` (ANY) in the criteria matches anything; a specific value in the criteria does not match a
target that left the attribute unknown (``*``) -- nothing is guessed; ``-`` (NA) matches NA or an
unknown target value. Values are compared case-insensitively after unescaping; ``*`` and ``?``
inside a criteria value are wildcards.

Versions: a criteria with version ``*`` and range keys (``versionStartIncluding`` /
``versionStartExcluding`` / ``versionEndIncluding`` / ``versionEndExcluding``) matches a target
whose version lies in the range by :func:`portlens.policy.versions.compare_versions`; the target's
``update`` is part of its version there when it is set ("8.9" + "p1" -> "8.9p1"), since NVD writes
range ends such as ``9.3p2``. A criteria with version ``*`` and no range matches every version,
also an unknown one. A specific criteria version must equal the target's (literally, or as
version+update on either side). A target with an unknown version matches no range.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .versions import compare_versions

__all__ = ["ANY", "NA", "Cpe", "CpeError", "parse_cpe", "criteria_matches", "effective_version"]

ANY, NA = "*", "-"
FIELDS = (
    "part",
    "vendor",
    "product",
    "version",
    "update",
    "edition",
    "language",
    "sw_edition",
    "target_sw",
    "target_hw",
    "other",
)
RANGE_KEYS = ("versionStartIncluding", "versionStartExcluding", "versionEndIncluding", "versionEndExcluding")


class CpeError(ValueError):
    """A string is not a CPE name."""


@dataclass(frozen=True)
class Cpe:
    """A CPE name; each attribute is ``*`` (ANY), ``-`` (NA) or a value in the formatted-string form
    (lower case, escapes kept so that an escaped ``\\*`` is not a wildcard)."""

    part: str
    vendor: str
    product: str
    version: str = ANY
    update: str = ANY
    edition: str = ANY
    language: str = ANY
    sw_edition: str = ANY
    target_sw: str = ANY
    target_hw: str = ANY
    other: str = ANY

    def __str__(self) -> str:
        return "cpe:2.3:" + ":".join(getattr(self, f) for f in FIELDS)

    def value(self, attr: str) -> str:
        """The unescaped value of an attribute (``*`` and ``-`` as they are)."""
        return _unescape(getattr(self, attr))


def _split_fs(body: str) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            cur.append(body[i : i + 2])
            i += 2
            continue
        if ch == ":":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _escape(value: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_.-" else "\\" + ch for ch in value)


def parse_cpe(text: str) -> Cpe:
    """Parse ``cpe:2.3:a:vendor:product:version:...`` or a 2.2 URI ``cpe:/a:vendor:product:version``."""
    s = text.strip()
    low = s.lower()
    if low.startswith("cpe:2.3:"):
        values = _split_fs(s[8:])
        if len(values) != 11:
            raise CpeError(f"{text!r}: a CPE 2.3 name has 11 attributes after 'cpe:2.3:', found {len(values)}")
        values = [v.lower() if v else ANY for v in values]
    elif low.startswith("cpe:/"):
        comps = [urllib.parse.unquote(c).lower() for c in s[5:].split(":")]
        if len(comps) > 7:
            raise CpeError(f"{text!r}: a CPE 2.2 URI has at most 7 components")
        comps += [""] * (7 - len(comps))

        def fs(value: str) -> str:
            return ANY if value == "" else NA if value == "-" else _escape(value)

        values = [fs(c) for c in comps[:5]] + [ANY] * 6
        edition = comps[5]
        if edition.startswith("~"):  # packed: ~edition~sw_edition~target_sw~target_hw~other
            packed = (edition.split("~")[1:] + [""] * 5)[:5]
            values[5] = fs(packed[0])
            values[7:11] = [fs(p) for p in packed[1:]]
        else:
            values[5] = fs(edition)
        values[6] = fs(comps[6])
    else:
        raise CpeError(f"{text!r} is not a CPE name (expected 'cpe:2.3:...' or 'cpe:/...')")
    if values[0] not in ("a", "o", "h", ANY):
        raise CpeError(f"{text!r}: part must be a, o or h, not {values[0]!r}")
    if values[1] in (ANY, NA) and values[2] in (ANY, NA):
        raise CpeError(f"{text!r}: vendor and product are both unspecified")
    return Cpe(*values)


def _has_wildcard(value: str) -> bool:
    return re.search(r"(?<!\\)[*?]", value) is not None


def _pattern(value: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            out.append(re.escape(value[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def attr_matches(criteria: str, target: str) -> bool:
    """One attribute: criteria value against target value (both formatted-string form)."""
    if criteria == ANY:
        return True
    if criteria == NA:
        return target in (NA, ANY)
    if target in (ANY, NA):
        return False
    if _has_wildcard(criteria):
        return _pattern(criteria).fullmatch(_unescape(target)) is not None
    return _unescape(criteria) == _unescape(target)


def effective_version(cpe: Cpe) -> str | None:
    """Version and update as one version string ("8.9" + "p1" -> "8.9p1"); None when unknown."""
    version = cpe.value("version")
    if version in (ANY, NA, ""):
        return None
    update = cpe.value("update")
    if update in (ANY, NA, ""):
        return version
    return version + update if update[0].isalpha() else f"{version}-{update}"


def _version_matches(criteria: Cpe, ranges: Mapping[str, Any], target: Cpe) -> bool:
    bounds = {k: str(ranges[k]) for k in RANGE_KEYS if ranges.get(k) not in (None, "")}
    if criteria.version == ANY:
        if not bounds:
            return attr_matches(criteria.update, target.update)
        if criteria.update != ANY and not attr_matches(criteria.update, target.update):
            return False
        tv = effective_version(target)
        if tv is None:
            return False
        if "versionStartIncluding" in bounds and compare_versions(tv, bounds["versionStartIncluding"]) < 0:
            return False
        if "versionStartExcluding" in bounds and compare_versions(tv, bounds["versionStartExcluding"]) <= 0:
            return False
        if "versionEndIncluding" in bounds and compare_versions(tv, bounds["versionEndIncluding"]) > 0:
            return False
        return not ("versionEndExcluding" in bounds and compare_versions(tv, bounds["versionEndExcluding"]) >= 0)
    if criteria.version == NA:
        return target.version == NA and attr_matches(criteria.update, target.update)
    if target.version in (ANY, NA):
        return False
    if _has_wildcard(criteria.version):
        return _pattern(criteria.version).fullmatch(target.value("version")) is not None and attr_matches(
            criteria.update, target.update
        )
    if criteria.value("version") == target.value("version") and attr_matches(criteria.update, target.update):
        return True
    # the same release written two ways: version "8.9" update "p1" vs version "8.9p1"
    if criteria.update in (ANY, NA) and target.update in (ANY, NA):
        return False
    return effective_version(criteria) == effective_version(target)


def criteria_matches(criteria: Cpe, match: Mapping[str, Any], target: Cpe) -> bool:
    """Does the target CPE fall under an NVD ``cpeMatch`` entry (criteria plus version range)?"""
    for attr in ("part", "vendor", "product", "edition", "language", "sw_edition", "target_sw", "target_hw", "other"):
        if not attr_matches(getattr(criteria, attr), getattr(target, attr)):
            return False
    return _version_matches(criteria, match, target)

"""Distribution package versions, ordered the way the distribution's package manager orders them.

A distribution's advisory says "fixed in ``1:9.2p1-2+deb12u3``"; whether the installed
``1:9.2p1-2+deb12u10`` is at least that is decided by the distribution's own ordering, not by
upstream version rules (``2+deb12u10`` is newer than ``2+deb12u3``; ``1.0~rc1`` is older than
``1.0``). Two orderings, written from their specifications:

* **dpkg** (Debian, Ubuntu, Raspbian; Debian Policy 5.6.12 and dpkg's ``verrevcmp``): a version is
  ``[epoch:]upstream[-revision]``; epochs compare as numbers, then upstream, then revision, each
  by alternating runs of non-digits (compared character by character, letters before other
  characters, ``~`` before everything, even the end) and digits (compared as numbers). An absent
  revision equals ``0``.
* **rpm** (RHEL, AlmaLinux, Rocky, Fedora, SUSE, Amazon; ``rpmvercmp``): ``[epoch:]version[-release]``;
  segments of digits or of letters, separators ignored, a number is newer than letters, ``~``
  sorts before anything and ``^`` after the end but before any further segment. A release that
  one side leaves out is not compared (rpm's rule when a dependency names no release).

`compare(a, b, scheme)` gives -1, 0 or 1; invalid versions raise `PackageVersionError`.
"""

from __future__ import annotations

import functools
import re

__all__ = ["SCHEMES", "PackageVersionError", "compare", "dpkg_compare", "rpm_compare", "split_evr"]

SCHEMES = ("dpkg", "rpm")
_MAX = 256  # no real package version is longer; longer text is refused, not compared
_DPKG_CHARS = re.compile(r"[A-Za-z0-9.+~:-]+")
_RPM_CHARS = re.compile(r"[A-Za-z0-9._+~^:-]+")


class PackageVersionError(ValueError):
    """A string is not a package version of the scheme."""


def split_evr(version: str, scheme: str = "dpkg") -> tuple[int, str, str | None]:
    """(epoch, upstream, revision or None) of ``[epoch:]upstream[-revision]``."""
    v = version.strip()
    pattern = _DPKG_CHARS if scheme == "dpkg" else _RPM_CHARS
    if not v or len(v) > _MAX or not pattern.fullmatch(v):
        raise PackageVersionError(f"not a {scheme} package version: {v[:40]!r}")
    epoch = 0
    if ":" in v:
        head, v = v.split(":", 1)
        if not head.isdigit() or len(head) > 9:
            raise PackageVersionError(f"the epoch of a {scheme} version must be a number: {version[:40]!r}")
        epoch = int(head)
    if scheme == "rpm" and ":" in v:
        raise PackageVersionError(f"more than one ':' in an rpm version: {version[:40]!r}")
    upstream, revision = (v.rsplit("-", 1) if "-" in v else (v, None)) if scheme == "dpkg" else _rpm_split(v)
    if not upstream or revision == "":
        raise PackageVersionError(f"empty version or revision in {version[:40]!r}")
    if scheme == "dpkg" and not upstream[0].isdigit():
        # dpkg only warns here, but an advisory's version that does not start with a digit is a
        # data error, and a banner's would be a misparse: refuse rather than order it somewhere
        raise PackageVersionError(f"a dpkg upstream version starts with a digit: {version[:40]!r}")
    return epoch, upstream, revision


def _rpm_split(v: str) -> tuple[str, str | None]:
    if "-" not in v:
        return v, None
    upstream, release = v.rsplit("-", 1)
    return upstream, release


# ------------------------------------------------------------------------------------------ dpkg


def _order(c: str) -> int:
    """dpkg's weight of one character of a non-digit run ('' is the end of the string)."""
    if c == "":
        return 0
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    if c == "~":
        return -1
    return ord(c) + 256


def _verrevcmp(a: str, b: str) -> int:
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        first_diff = 0
        while (i < la and not a[i].isdigit()) or (j < lb and not b[j].isdigit()):
            ac = _order(a[i]) if i < la else 0
            bc = _order(b[j]) if j < lb else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        while i < la and a[i] == "0":
            i += 1
        while j < lb and b[j] == "0":
            j += 1
        while i < la and j < lb and a[i].isdigit() and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < la and a[i].isdigit():
            return 1
        if j < lb and b[j].isdigit():
            return -1
        if first_diff:
            return -1 if first_diff < 0 else 1
    return 0


@functools.lru_cache(maxsize=65536)
def dpkg_compare(a: str, b: str) -> int:
    """dpkg's ordering (``dpkg --compare-versions a lt b`` is ``dpkg_compare(a, b) < 0``)."""
    ea, ua, ra = split_evr(a, "dpkg")
    eb, ub, rb = split_evr(b, "dpkg")
    if ea != eb:
        return -1 if ea < eb else 1
    return _verrevcmp(ua, ub) or _verrevcmp(ra or "", rb or "")


# ------------------------------------------------------------------------------------------ rpm


def _rpmvercmp(a: str, b: str) -> int:
    if a == b:
        return 0
    i = j = 0
    la, lb = len(a), len(b)

    def sep(s: str, k: int, n: int) -> int:
        while k < n and not (s[k].isascii() and s[k].isalnum()) and s[k] not in "~^":
            k += 1
        return k

    while i < la or j < lb:
        i, j = sep(a, i, la), sep(b, j, lb)
        ca = a[i] if i < la else ""
        cb = b[j] if j < lb else ""
        if ca == "~" or cb == "~":  # tilde: before everything, even the end
            if ca != "~":
                return 1
            if cb != "~":
                return -1
            i, j = i + 1, j + 1
            continue
        if ca == "^" or cb == "^":  # caret: after the end, before any other segment
            if ca == "":
                return -1
            if cb == "":
                return 1
            if ca != "^":
                return 1
            if cb != "^":
                return -1
            i, j = i + 1, j + 1
            continue
        if not (ca and cb):
            break
        si, sj = i, j
        if ca.isdigit():
            while i < la and a[i].isdigit():
                i += 1
            while j < lb and b[j].isdigit():
                j += 1
            isnum = True
        else:
            while i < la and a[i].isascii() and a[i].isalpha():
                i += 1
            while j < lb and b[j].isascii() and b[j].isalpha():
                j += 1
            isnum = False
        if j == sj:  # different kinds of segment: a number is newer than letters
            return 1 if isnum else -1
        x, y = a[si:i], b[sj:j]
        if isnum:
            x, y = x.lstrip("0"), y.lstrip("0")
            if len(x) != len(y):
                return -1 if len(x) < len(y) else 1
        if x != y:
            return -1 if x < y else 1
    ra, rb = a[i:] if i < la else "", b[j:] if j < lb else ""
    if not ra and not rb:
        return 0
    return 1 if ra else -1


@functools.lru_cache(maxsize=65536)
def rpm_compare(a: str, b: str) -> int:
    """rpm's ordering of ``[epoch:]version[-release]`` (rpmvercmp on each part)."""
    ea, va, ra = split_evr(a, "rpm")
    eb, vb, rb = split_evr(b, "rpm")
    if ea != eb:
        return -1 if ea < eb else 1
    c = _rpmvercmp(va, vb)
    if c or ra is None or rb is None:
        return c
    return _rpmvercmp(ra, rb)


def compare(a: str, b: str, scheme: str) -> int:
    """-1, 0 or 1 as package version ``a`` is older than, equal to or newer than ``b`` in ``scheme``."""
    if scheme == "dpkg":
        return dpkg_compare(a, b)
    if scheme == "rpm":
        return rpm_compare(a, b)
    raise PackageVersionError(f"unknown version scheme {scheme!r} (expected one of {', '.join(SCHEMES)})")

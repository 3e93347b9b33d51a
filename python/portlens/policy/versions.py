"""Ordering of arbitrary vendor version strings, as NVD version ranges need it.

`packaging` implements PEP 440, which rejects or misorders most vendor versions ("8.9p1",
"1.0.2k", "15.2(4)M3", "2.4.41-beta"). This comparator follows the approach of repology's
libversion, adapted to what NVD ranges contain:

* a version is split into components: runs of digits and runs of letters; every other
  character (``.``, ``-``, ``_``, ``+``, ``(``, space, ...) only separates. A leading ``v`` before a
  digit is dropped. Case is ignored.
* each component gets a rank, and components compare by rank first::

      pre-release word  <  zero / padding  <  post-release word  <  letter suffix  <  number > 0

  - numbers compare numerically (``1.10 > 1.9``, ``1.01 == 1.1``);
  - pre-release words: dev/snapshot < alpha/a < beta/b < (other words) < pre/preview < rc/c;
    unknown words count as pre-release (``2.0-foo < 2.0``);
  - post-release words (p, patch, pl, post, sp, u, update, r, rev, errata, fix, hotfix, build) are
    equal to one another: ``9.3p2 > 9.3 > 9.3rc1`` and ``9.3p2 < 9.3.1``;
  - a single letter right after a number and not followed by a digit is a letter suffix, even
    one that could be a word (OpenSSL's ``1.0.2p``): ``1.0.2 < 1.0.2k < 1.0.2p < 1.0.3``;
  - release words (final, ga, release, stable) count as zero.
* the shorter version is padded with zero components, so ``1.0 == 1.0.0`` and ``1.0 > 1.0rc1``.
"""

from __future__ import annotations

import functools
import re

__all__ = ["compare_versions", "version_key"]

_PRE, _ZERO, _POST, _LETTER, _NONZERO = 0, 1, 2, 3, 4
_PRE_WORDS = {
    "dev": 0,
    "snapshot": 0,
    "nightly": 0,
    "alpha": 10,
    "a": 10,
    "beta": 20,
    "b": 20,
    "pre": 30,
    "preview": 30,
    "rc": 40,
    "c": 40,
    "cr": 40,
}
_UNKNOWN_PRE = 25
_POST_WORDS = frozenset(
    {"p", "patch", "pl", "post", "sp", "u", "update", "r", "rev", "revision", "errata", "fix", "hotfix", "build"}
)
_RELEASE_WORDS = frozenset({"final", "ga", "release", "stable"})
_TOKEN = re.compile(r"\d+|[a-z]+")

Component = tuple[int, int, str]
_PAD: Component = (_ZERO, 0, "")


@functools.lru_cache(maxsize=65536)
def version_key(version: str) -> tuple[Component, ...]:
    """The components of ``version`` (without trailing zeros); compare them with `compare_versions`."""
    s = version.strip().lower()
    if len(s) > 1 and s[0] == "v" and s[1].isdigit():
        s = s[1:]
    out: list[Component] = []
    for m in _TOKEN.finditer(s):
        t = m.group()
        if t.isdigit():
            n = int(t)
            out.append((_NONZERO, n, "") if n else _PAD)
            continue
        start, end = m.span()
        after_digit = start > 0 and s[start - 1].isdigit()
        before_digit = end < len(s) and s[end].isdigit()
        if len(t) == 1 and after_digit and not before_digit:
            out.append((_LETTER, 0, t))
        elif t in _RELEASE_WORDS:
            out.append(_PAD)
        elif t in _POST_WORDS:
            out.append((_POST, 0, ""))
        elif t in _PRE_WORDS:
            out.append((_PRE, _PRE_WORDS[t], ""))
        else:
            out.append((_PRE, _UNKNOWN_PRE, t))
    while out and out[-1] == _PAD:
        out.pop()
    return tuple(out)


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as version ``a`` is older than, equal to or newer than ``b``."""
    ka, kb = version_key(a), version_key(b)
    for i in range(max(len(ka), len(kb))):
        ca = ka[i] if i < len(ka) else _PAD
        cb = kb[i] if i < len(kb) else _PAD
        if ca != cb:
            return -1 if ca < cb else 1
    return 0

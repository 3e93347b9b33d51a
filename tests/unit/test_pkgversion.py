"""portlens's dpkg and rpm version orderings (policy/pkgversion.py) against the package managers'
own: `dpkg --compare-versions` and rpm's `rpm.vercmp`, on hand-picked and random pairs."""

from __future__ import annotations

import random
import re
import subprocess

import pytest

from portlens.policy.pkgversion import PackageVersionError, compare, dpkg_compare, rpm_compare, split_evr

SEED = 20261207


def _dpkg(a: str, b: str) -> int:
    """dpkg's verdict: -1, 0 or 1."""
    for op, value in (("lt", -1), ("eq", 0)):
        if subprocess.run(["dpkg", "--compare-versions", a, op, b], timeout=30).returncode == 0:
            return value
    return 1


def _rpm(pairs: list[tuple[str, str]]) -> list[int]:
    """rpm's verdicts for many pairs in one process (rpm's Lua `rpm.vercmp`, the library's rpmvercmp
    on EVR strings)."""
    out: list[int] = []
    for at in range(0, len(pairs), 400):  # an argument is at most 128 KiB
        body = "".join(f"print(rpm.vercmp({a!r}, {b!r}), ' ')\n" for a, b in pairs[at : at + 400])
        run = subprocess.run(
            ["rpm", "--eval", "%{lua:\n" + body + "}"], capture_output=True, text=True, timeout=120, check=True
        )
        out.extend(int(x) for x in run.stdout.split())
    return out


# Debian Policy's and dpkg's own examples, and the revisions that matter for backports
DPKG_CASES = [
    ("1:9.2p1-2+deb12u3", "1:9.2p1-2+deb12u10"),
    ("1:9.2p1-2+deb12u10", "1:9.2p1-2+deb12u10"),
    ("1:9.2p1-2", "1:9.2p1-2+deb12u1"),
    ("9.2p1-2+deb12u10", "1:9.2p1-2"),
    ("1.0~rc1", "1.0"),
    ("1.0~~", "1.0~"),
    ("1.0", "1.0-0"),
    ("1.0", "1.0+b1"),
    ("1.0-1", "1.0-1ubuntu0.1"),
    ("1:8.9p1-3ubuntu0.10", "1:8.9p1-3ubuntu0.6"),
    ("2.4.62-1~deb12u2", "2.4.62-1~deb12u1"),
    ("1.22.1-9+deb12u12", "1.22.1-9+deb12u3"),
    ("10.11.6-0+deb12u1", "1:10.11.6-0+deb12u1"),
    ("1.2.3a", "1.2.3"),
    ("1.2.3.", "1.2.3"),
    ("0001", "1"),
    ("1.0-a", "1.0-A"),
    ("3.0.19-1~deb12u2", "3.0.19-1"),
]

RPM_CASES = [
    ("1.0", "1.0~rc1"),
    ("1.0^git1", "1.0"),
    ("1.0^git1", "1.0.1"),
    ("1.0~rc1^git1", "1.0~rc1"),
    ("2.4.37-62.module_el8.10.0+3875+97ee0abc", "2.4.37-51.module_el8.7.0+1059+126e9251"),
    ("8.7p1-38.el9", "8.7p1-38.el9_4.1"),
    ("1:8.0p1-19.el8_8", "8.0p1-25.el8"),
    ("1.0a", "1.0"),
    ("1.0", "1.0.0"),
    ("1.0.a", "1.0.1"),
    ("1_0", "1.0"),
    ("01", "1"),
    ("a", "1"),
]


@pytest.mark.parametrize(("a", "b"), DPKG_CASES)
def test_dpkg_examples(a: str, b: str) -> None:
    assert dpkg_compare(a, b) == _dpkg(a, b), (a, b)
    assert dpkg_compare(b, a) == -_dpkg(a, b), (b, a)


def test_the_backport_that_matters() -> None:
    """Debian fixed CVE-2024-6387 in 1:9.2p1-2+deb12u3; the lab's -2+deb12u10 is later, -2+deb12u2 earlier."""
    assert compare("1:9.2p1-2+deb12u10", "1:9.2p1-2+deb12u3", "dpkg") == 1
    assert compare("1:9.2p1-2+deb12u2", "1:9.2p1-2+deb12u3", "dpkg") == -1
    # the upstream-only reading would say the opposite of the first line (10 < 3 as text)
    assert "2+deb12u10" < "2+deb12u3"


def _random_version(rng: random.Random, scheme: str) -> str:
    """Versions built from the pieces real ones are made of, so that pairs often share prefixes."""
    pieces = ["1", "2", "10", "0", "9", "p1", "a", "b", "rc", "~", "~rc1", ".", ".", "+", "deb12u", "ubuntu", "el"]
    if scheme == "rpm":
        pieces += ["^", "_", "^git"]
    else:
        pieces += ["+b", ":"]  # ':' is allowed in a dpkg upstream when there is an epoch
    up = rng.choice(["1", "2", "9", "10", "0"]) + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))
    if scheme == "dpkg" and ":" in up and rng.random() < 0.5:
        up = up.replace(":", ".")
    v = up
    if scheme == "dpkg" and ":" in up:
        v = f"{rng.randint(0, 2)}:{up}"  # a ':' in the upstream part needs an epoch
    elif rng.random() < 0.3:
        v = f"{rng.randint(0, 2)}:{up}"
    if rng.random() < 0.6:
        rev = rng.choice(["1", "2", "0", "10"]) + "".join(rng.choice(pieces[:-3]) for _ in range(rng.randint(0, 4)))
        v = f"{v}-{rev.replace(':', '')}"
    return v


def _zeros(v: str) -> str:
    """The same version with a leading zero on every number after the epoch (equal in both orders)."""
    epoch, sep, rest = v.rpartition(":")
    return epoch + sep + re.sub(r"(\d+)", r"0\1", rest)


def _valid(v: str, scheme: str) -> bool:
    try:
        split_evr(v, scheme)
    except PackageVersionError:
        return False
    return True


def test_dpkg_agrees_with_dpkg_on_random_pairs() -> None:
    rng = random.Random(SEED)
    pairs = []
    while len(pairs) < 1500:
        a, b = _random_version(rng, "dpkg"), _random_version(rng, "dpkg")
        if rng.random() < 0.3:  # same upstream, other revision: the backport case
            b = a.rsplit("-", 1)[0] + "-" + _random_version(rng, "dpkg").split("-")[-1].replace(":", "")
        elif rng.random() < 0.1:  # equal in dpkg's order, other text: leading zeros
            b = _zeros(a)
        if _valid(a, "dpkg") and _valid(b, "dpkg"):
            pairs.append((a, b))
    wrong = [(a, b, dpkg_compare(a, b), _dpkg(a, b)) for a, b in pairs if dpkg_compare(a, b) != _dpkg(a, b)]
    assert not wrong, wrong[:10]
    # the sample is not trivial: all three outcomes occur many times
    outcomes = [dpkg_compare(a, b) for a, b in pairs]
    assert min(outcomes.count(x) for x in (-1, 0, 1)) > 20


@pytest.mark.parametrize(("a", "b"), RPM_CASES)
def test_rpm_examples(a: str, b: str) -> None:
    assert [rpm_compare(a, b), rpm_compare(b, a)] == _rpm([(a, b), (b, a)]), (a, b)


def test_rpm_agrees_with_rpm_on_random_pairs() -> None:
    rng = random.Random(SEED + 1)
    pairs = []
    while len(pairs) < 3000:
        a, b = _random_version(rng, "rpm"), _random_version(rng, "rpm")
        if rng.random() < 0.3:
            b = a.rsplit("-", 1)[0] + "-" + _random_version(rng, "rpm").split("-")[-1].split(":")[-1]
        elif rng.random() < 0.1:
            b = _zeros(a)
        if "-" not in a or "-" not in b:
            continue  # rpm.vercmp compares a missing release as older; portlens skips it (see below)
        if _valid(a, "rpm") and _valid(b, "rpm"):
            pairs.append((a, b))
    theirs = _rpm(pairs)
    assert len(theirs) == len(pairs)
    wrong = [(a, b, rpm_compare(a, b), t) for (a, b), t in zip(pairs, theirs, strict=True) if rpm_compare(a, b) != t]
    assert not wrong, wrong[:10]
    outcomes = [rpm_compare(a, b) for a, b in pairs]
    assert min(outcomes.count(x) for x in (-1, 0, 1)) > 20


def test_rpm_missing_release_is_not_compared() -> None:
    """An advisory that names a version without release matches every release of it (rpm's rule
    for dependencies), so "2.4.37" is not older than "2.4.37-62.el8"."""
    assert rpm_compare("2.4.37", "2.4.37-62.el8") == 0
    assert rpm_compare("2.4.36", "2.4.37-62.el8") == -1


@pytest.mark.parametrize(
    "bad",
    ["", " ", "a1.0", "1.0-", "x:1.0", "1.0 2", "1.0\n2", "é1", "1" * 300, "1:2:3" + "\x00", "-1"],
)
def test_invalid_versions_are_refused(bad: str) -> None:
    with pytest.raises(PackageVersionError):
        dpkg_compare(bad, "1.0")
    with pytest.raises(PackageVersionError):
        compare("1.0", "1.0", "apk")

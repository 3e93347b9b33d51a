"""Hostile targets, exclusions, scopes and port specs (issue 13), through the API and the CLI.

Every case asserts the typed error (or the correct result on the lab), no traceback and bounded
time; the 10 MB inputs also run in a child under an address-space limit. Inputs that could be valid
are given with exclusions that remove every address (``0.0.0.0/0`` and ``::/0``), or only lab
addresses are scanned: nothing here reaches beyond the lab.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import portlens
from portlens import _core
from portlens import exceptions as exc
from tests.factories import ROOT

EVERYTHING = ["0.0.0.0/0", "::/0"]  # excluding these guarantees that no packet is sent


MB10 = 10 << 20


CHILD_AS = 1536 << 20  # address space of the child that parses 10 MB inputs


# -- the hostile inputs, with their outcome -----------------------------------------------------------
LIBC = "the C library would read"


# (targets, exclude, scope, allow_large, expected exception, text in the message)
HOSTILE: list[tuple[str, list[str] | None, list[str] | None, bool, type[Exception], str]] = [
    # numeric forms that libc (getaddrinfo, ping, curl) accepts: refused, with what libc would do
    ("0xC6120502", None, None, False, exc.TargetError, f"{LIBC} 0xC6120502 as 198.18.5.2"),
    ("0XC6120502", None, None, False, exc.TargetError, "as 198.18.5.2"),
    ("3323068674", None, None, False, exc.TargetError, f"{LIBC} 3323068674 as 198.18.1.2"),
    ("198.18.1", None, None, False, exc.TargetError, "as 198.18.0.1"),
    ("198.1179906", None, None, False, exc.TargetError, "as 198.18.1.2"),
    ("0300.0022.01.02", None, None, False, exc.TargetError, "as 192.18.1.2"),
    ("010.18.1.1", None, None, False, exc.TargetError, "leading zero"),
    ("198.18.1.0x2", None, None, False, exc.TargetError, "as 198.18.1.2"),
    ("0xc6.0x12.0x01.0x02", None, None, False, exc.TargetError, "as 198.18.1.2"),
    ("0x7f.1", None, None, False, exc.TargetError, "as 127.0.0.1"),
    ("0x7f.1.", None, None, False, exc.TargetError, "neither a hostname nor"),
    ("0", None, None, False, exc.TargetError, "as 0.0.0.0"),
    ("0xC6120502/24", None, None, False, exc.TargetError, "as 198.18.5.2"),
    ("0x7f.0.0.1-5", None, None, False, exc.TargetError, "as 127.0.0.1"),
    ("198.18.1.1", ["0xC6120502"], None, False, exc.TargetError, "as 198.18.5.2"),
    ("198.18.1.1", None, ["0xC6120000/15"], False, exc.TargetError, "as 198.18.0.0"),
    # IPv4-mapped IPv6 is the IPv4 address: excluded as IPv4, scoped as IPv4
    ("::ffff:198.18.5.2", ["198.18.5.2"], None, False, exc.TargetError, "no targets left"),
    ("::ffff:c612:502", ["198.18.5.2"], None, False, exc.TargetError, "no targets left"),
    ("[::ffff:198.18.5.2]", ["198.18.5.0/24"], None, False, exc.TargetError, "no targets left"),
    ("::ffff:198.18.5.0/120", ["198.18.5.0-255"], None, False, exc.TargetError, "no targets left"),
    ("198.18.5.2", ["::ffff:198.18.5.2"], None, False, exc.TargetError, "no targets left"),
    ("198.18.5.2 !::ffff:c612:502", None, None, False, exc.TargetError, "no targets left"),
    ("::ffff:10.0.0.1", None, ["198.18.0.0/15"], False, exc.ScopeError, "outside the authorised scope"),
    ("::ffff:198.18.5.2", None, ["::/0"], False, exc.ScopeError, "outside the authorised scope"),
    ("::ffff:0:0/95", None, None, True, exc.TargetError, "IPv4-mapped addresses"),
    ("::fffe:ffff:ffff-::ffff:0.0.0.5", None, None, False, exc.TargetError, "IPv4-mapped addresses"),
    ("::ffff:1.2.3.256", None, None, False, exc.TargetError, "malformed IPv6"),
    ("::ffff:0:0/96", None, None, False, exc.TargetTooLargeError, "4294967296 addresses"),
    # zone ids
    ("fe80::1%eth0", None, None, False, exc.TargetError, "zone"),
    ("[fe80::1%25eth0]", None, None, False, exc.TargetError, "zone"),
    ("fe80::1%", None, None, False, exc.TargetError, "zone"),
    ("::ffff:198.18.1.1%lo", None, None, False, exc.TargetError, "zone"),
    # huge
    ("198.18.0.0/0", None, None, False, exc.TargetTooLargeError, "4294967296 addresses"),
    ("0.0.0.0-255.255.255.255", None, None, False, exc.TargetTooLargeError, "more than the limit"),
    ("::/0", None, None, True, exc.TargetTooLargeError, "more than the limit"),
    ("2001:db8::/24", None, None, True, exc.TargetTooLargeError, "more than the limit"),
    ("2001:db8::-2001:db9::", None, None, True, exc.TargetTooLargeError, "more than the limit"),
    ("198.18.1.1/99999999999999999999", None, None, False, exc.TargetError, "too long for IPv4"),
    # empty and stray punctuation
    ("", None, None, False, exc.TargetError, "empty item"),
    (" , ", None, None, False, exc.TargetError, "empty item"),
    ("198.18.1.1,,198.18.1.2", None, None, False, exc.TargetError, "extra comma"),
    ("!", None, None, False, exc.TargetError, "must be followed"),
    ("!!198.18.1.1", None, None, False, exc.TargetError, "double '!'"),
    ("198.18.1.1", ["!198.18.1.1"], None, False, exc.TargetError, "not allowed in the exclude list"),
    ("198.18.1.1", [""], None, False, exc.TargetError, "empty item"),
    ("198.18.1.1", None, ["!198.18.0.0/15"], False, exc.TargetError, "not allowed in a scope"),
    ("198.18.1.1", None, ["lab.example"], False, exc.TargetError, "not hostnames"),
    ("198.18.1.1", None, ["# nothing"], False, exc.OptionError, "no networks"),
    ("[]", None, None, False, exc.TargetError, "brackets are only used around IPv6"),
    ("[[::1]]", None, None, False, exc.TargetError, "unbalanced brackets"),
    ("1.2.3.4-1.2.3.4-1.2.3.4", None, None, False, exc.TargetError, "exactly one '-'"),
    # unicode digits, homoglyphs, controls
    ("\uff11\uff19\uff18.18.1.1", None, None, False, exc.TargetError, "only ASCII"),
    ("198.18.1.\u0661", None, None, False, exc.TargetError, "only ASCII"),
    ("\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com", None, None, False, exc.TargetError, "only ASCII"),
    ("ex\u0430mple.com", None, None, False, exc.TargetError, "only ASCII"),
    ("\u202e198.18.1.1", None, None, False, exc.TargetError, "invalid character"),
    ("198.18.1.1\u200b", None, None, False, exc.TargetError, "invalid character"),
    ("198.18\x00.1.1", None, None, False, exc.TargetError, "invalid character"),
    ("lab\x00.example", None, None, False, exc.TargetError, "invalid character"),
    ("host_name.example", None, None, False, exc.TargetError, "invalid character '_'"),
]


def test_there_are_at_least_forty_hostile_inputs() -> None:
    assert len(HOSTILE) >= 40


def _cli_args(case: tuple[Any, ...]) -> list[str]:
    targets, exclude, scope, allow_large, _, _ = case
    args = ["scan", "-p", "80", "-q"]
    for e in exclude or []:
        args.append(f"--exclude={e}")
    args.append(f"--scope={','.join(scope) if scope is not None else '198.18.0.0/15,2001:db8::/32'}")
    if allow_large:
        args.append("--allow-large")
    return [*args, "--", targets]


@pytest.mark.timeout(120)
def test_hostile_input_through_the_cli() -> None:
    """The same inputs on the command line: exit 2, the message, no traceback (run side by side)."""
    cases = [c for c in HOSTILE if "\x00" not in c[0] and not any("\x00" in x for x in (c[1] or []))]
    procs = []
    for case in cases:
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "portlens.cli", *_cli_args(case)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
        )
        if len(procs) % 8 == 0:
            procs[-8].wait(timeout=60)  # at most eight at a time on two cores
    for case, p in zip(cases, procs, strict=True):
        out, err = p.communicate(timeout=60)
        assert p.returncode == 2, (case, p.returncode, out, err)
        assert "Traceback" not in err, err
        assert case[5] in err.replace("\n", " "), (case, err)
    assert len(cases) >= 40


def test_nul_bytes_reach_the_cli_only_as_errors() -> None:
    # argv cannot carry NUL; a file line can: the targets file reader refuses it with its position.
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"portlens-nul-{os.getpid()}.txt"
    path.write_bytes(b"198.18.1.1\n198.18\x00.1.1\n")
    try:
        p = subprocess.run(
            [sys.executable, "-m", "portlens.cli", "scan", "-p", "80", f"@{path}"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
    finally:
        path.unlink()
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert f"{path}:2:" in p.stderr and "invalid target" in p.stderr and "198.18" not in p.stderr, p.stderr


# -- 10 MB inputs: bounded time and memory --------------------------------------------------------------
BIG = {
    "commas": '","*MB',
    "spaces": '" "*MB',
    "one item": '"1"*MB',
    "hostname": '"a"*MB',
    "labels": '"a."*(MB//2)',
    "brackets": '"["*MB',
    "colons": '":"*MB',
    "dashes": '"1-"*(MB//2)',
    "bangs": '"!"*MB',
    "items": '"198.18.1.1,"*(MB//11)+","',
    "zero width": '"\\u200b"*(MB//3)',
    "NULs": '"\\x00"*MB',
    "too many items": '"::1 "*(MB//4)',
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("what", list(BIG))
def test_a_10mb_input_is_refused_in_bounded_time_and_memory(what: str) -> None:
    # Whatever the input, every address is excluded: a text that parsed would end "no targets left".
    code = f"""
import time, portlens
MB = {MB10}
s = {BIG[what]}
ALL = {EVERYTHING!r}
start = time.monotonic()
LAB = "198.18.1.1"
CASES = ((s, {{"exclude": ALL}}), (LAB, {{"exclude": [s, *ALL]}}), (LAB, {{"scope": [s], "exclude": ALL}}))
for target, kw in CASES:
    try:
        portlens.scan(target, ports="80", **kw)
        print("scanned")
    except portlens.InputError as e:
        assert len(str(e)) < 4000, len(str(e))
        print(type(e).__name__, "items" if "items;" in str(e) else "")
try:
    portlens.parse_ports(s)
except portlens.InputError as e:
    assert len(str(e)) < 4000, len(str(e))
    print(type(e).__name__)
print("elapsed", time.monotonic() - start)
"""
    p = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=ROOT,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (CHILD_AS, CHILD_AS)),
    )
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-2000:]
    lines = p.stdout.split()
    assert "scanned" not in lines and lines.count("PortSpecError") == 1, p.stdout
    assert lines.count("TargetError") + lines.count("OptionError") == 3, p.stdout
    if what == "too many items":
        assert lines.count("items") == 3, p.stdout
    assert float(lines[-1]) < 30, p.stdout


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789-,!tTuU: aAlLop\u00a0\uff11\x00", max_size=40))
def test_any_port_text_is_a_list_or_a_port_spec_error(spec: str) -> None:
    try:
        ports = _core.parse_ports(spec)
    except exc.PortSpecError as e:
        assert str(e) and len(str(e)) < 2000
        return
    assert ports and ports == sorted(set(ports)) and 0 < ports[0] and ports[-1] <= 65535


@st.composite
def _port_items(draw: Callable[..., Any]) -> tuple[str, set[int], set[int]]:
    items: list[str] = []
    inc: set[int] = set()
    exc_: set[int] = set()
    for _ in range(draw(st.integers(1, 5))):
        a, b = sorted(draw(st.tuples(st.integers(1, 65535), st.integers(1, 65535))))
        form = draw(st.sampled_from(["one", "range", "open", "upto"]))
        text, ports = {
            "one": (str(a), {a}),
            "range": (f"{a}-{b}", set(range(a, b + 1))),
            "open": (f"{b}-", set(range(b, 65536))),
            "upto": (f"-{a}", set(range(1, a + 1))),
        }[form]
        if items and draw(st.booleans()):
            items.append("!" + text)
            exc_ |= ports
        else:
            items.append(text)
            inc |= ports
    return ",".join(items), inc, exc_


@settings(max_examples=150, deadline=None)
@given(_port_items())
def test_port_specs_match_a_set_model(case: tuple[str, set[int], set[int]]) -> None:
    spec, inc, ex = case
    want = sorted(inc - ex)
    if not want:
        with pytest.raises(exc.PortSpecError):
            portlens.parse_ports(spec)
    else:
        assert portlens.parse_ports(spec) == want

"""Hostile targets, exclusions, scopes and port specs (issue 13), through the API and the CLI.

Every case asserts the typed error (or the correct result on the lab), no traceback and bounded
time; the 10 MB inputs also run in a child under an address-space limit. Inputs that could be valid
are given with exclusions that remove every address (``0.0.0.0/0`` and ``::/0``), or only lab
addresses are scanned: nothing here reaches beyond the lab.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import portlens
from portlens import exceptions as exc
from tests.factories import ROOT
from tests.unit.test_hostile_targets import EVERYTHING, HOSTILE


def _fails(targets: Any, kind: type[Exception], *, within: float = 5.0, **options: Any) -> Exception:
    """``portlens.scan(targets)`` raises ``kind`` (an InputError) quickly, with a short message."""
    options.setdefault("ports", "80")
    start = time.monotonic()
    with pytest.raises(kind) as info:
        portlens.scan(targets, **options)
    assert time.monotonic() - start < within
    err = info.value
    assert isinstance(err, portlens.InputError) and isinstance(err, ValueError), type(err)
    assert 0 < len(str(err)) < 4000
    return err


def _id(case: tuple[Any, ...]) -> str:
    return repr(case[0][:28]) + ("+ex" if case[1] else "") + ("+scope" if case[2] else "")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", HOSTILE, ids=[_id(c) for c in HOSTILE])
def test_hostile_input_through_the_api(case: tuple[Any, ...]) -> None:
    targets, exclude, scope, allow_large, kind, text = case
    options: dict[str, Any] = {"allow_large": allow_large}
    if exclude is not None:
        options["exclude"] = exclude
    if scope is not None:
        options["scope"] = scope
    elif kind is not exc.ScopeError:
        options["scope"] = ["198.18.0.0/15", "2001:db8::/32"]  # whatever else happens, only the lab
    err = _fails(targets, kind, **options)
    assert type(err) is kind, f"{type(err).__name__}: {err}"
    assert text in str(err), str(err)


# -- the lab: mapped addresses are scanned as the IPv4 host they are ------------------------------------
def test_a_mapped_target_is_scanned_as_its_ipv4_host(truth: dict[str, Any]) -> None:
    v4, port = truth["open"]["v4"], truth["open"]["open_ports"][0]
    hexed = "::ffff:{:x}:{:x}".format(*divmod(int(ipaddress.IPv4Address(v4)), 1 << 16))
    r = portlens.scan([f"::ffff:{v4}", hexed, v4, f"[::ffff:{v4}]"], ports=[port], discovery=False)
    assert [(p.host, p.port, p.state) for p in r.ports] == [(v4, port, "open")]
    assert [h.address for h in r.hosts] == [v4]


def test_a_mapped_exclusion_removes_the_ipv4_host(truth: dict[str, Any]) -> None:
    v4, filt = truth["open"]["v4"], truth["filt"]["v4"]
    port = truth["open"]["open_ports"][0]
    everything = ["open", "closed", "filtered"]
    r = portlens.scan([v4, filt], ports=[port], exclude=[f"::ffff:{filt}"], discovery=False, keep=everything)
    assert {p.host for p in r.ports} == {v4}


def test_a_mapped_scope_authorises_the_ipv4_host(truth: dict[str, Any]) -> None:
    v4, port = truth["open"]["v4"], truth["open"]["open_ports"][0]
    r = portlens.scan(v4, ports=[port], scope=[f"::ffff:{v4}/128"], discovery=False)
    assert [(p.host, p.port) for p in r.ports] == [(v4, port)]
    _fails(f"::ffff:{v4}", exc.ScopeError, ports=[port], scope=[truth["open"]["v6"]])


def test_the_cli_reports_a_mapped_target_as_ipv4(truth: dict[str, Any], tmp_path: Path) -> None:
    v4, port = truth["open"]["v4"], truth["open"]["open_ports"][0]
    out = tmp_path / "r.json"
    p = subprocess.run(
        [sys.executable, "-m", "portlens.cli", "scan", "-q", "-Pn", "-p", str(port), "-o", str(out), f"::ffff:{v4}"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert p.returncode == 0, p.stderr
    assert [(x["host"], x["port"]) for x in json.loads(out.read_text())["ports"]] == [(v4, port)]


def test_an_excluded_hostname_is_excluded_at_every_address(truth: dict[str, Any]) -> None:
    """``localhost`` (the scanner namespace's own, never scanned: it is excluded) at each of its
    addresses; the lab host alone is scanned."""
    v4, port = truth["open"]["v4"], truth["open"]["open_ports"][0]
    loopbacks = sorted({str(a[4][0]) for a in socket.getaddrinfo("localhost", None)})
    r = portlens.scan([v4, *loopbacks], ports=[port], exclude=["localhost"], discovery=False)
    assert {p.host for p in r.ports} == {v4}
    _fails(loopbacks, exc.TargetError, exclude=["LOCALHOST"])


# -- ports ----------------------------------------------------------------------------------------------
BAD_PORTS = [
    ("0", "port 0"),
    ("65536", "out of range"),
    ("0x50", "write ports in decimal"),
    ("+80", "without a sign"),
    ("\uff18\uff10", "ASCII digits"),
    ("1-2-3", "single '-'"),
    ("S:1", "SCTP"),
    ("X:1", "unknown protocol prefix"),
    ("U:53", "UDP ports are not supported"),
    ("", "empty port specification"),
    (",", "empty item"),
    ("80,,81", "empty item"),
    ("!", "nothing to exclude"),
    ("!!80", "only once"),
    ("top-9999", "unknown named set"),
    ("!1-65535,1", "every port was excluded"),
    ("8 0", "unexpected whitespace"),
    ("80\x00", "not a number"),
    ("9" * 100_000, "out of range"),
]


@pytest.mark.parametrize(("spec", "text"), BAD_PORTS, ids=[repr(s[:16]) for s, _ in BAD_PORTS])
def test_bad_port_specs(spec: str, text: str) -> None:
    with pytest.raises(exc.PortSpecError, match=None) as info:
        portlens.parse_ports(spec)
    assert text in str(info.value) and len(str(info.value)) < 1000
    _fails("198.18.1.1", exc.PortSpecError, ports=spec)


# -- targets: properties --------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="0123456789abcdefxX.:/-[]!,% \t\u00a0\uff11\u0430_@#", max_size=30))
def test_any_target_text_fails_typed_before_a_packet(text: str) -> None:
    """Everything is excluded, so a valid text ends in "no targets left": any text is an InputError."""
    text = text.replace("@", "")  # no files
    try:
        portlens.scan(text, ports="80", exclude=EVERYTHING, resolve_timeout=2.0)
    except portlens.InputError as e:
        assert str(e) and len(str(e)) < 4000
    else:  # pragma: no cover - would mean a scan ran
        pytest.fail(f"{text!r} was scanned")


def _c_number(value: int, base: str) -> str:
    return {"dec": str(value), "oct": f"0{value:o}", "hex": f"0x{value:x}"}[base]


@st.composite
def _libc_forms(draw: Callable[..., Any]) -> str:
    parts = draw(st.integers(1, 4))
    widths = {1: [32], 2: [8, 24], 3: [8, 8, 16], 4: [8, 8, 8, 8]}[parts]
    nums = [draw(st.integers(0, (1 << w) - 1)) for w in widths]
    return ".".join(_c_number(n, draw(st.sampled_from(["dec", "oct", "hex"]))) for n in nums)


@settings(max_examples=200, deadline=None)
@given(_libc_forms())
def test_libc_numeric_forms_are_dotted_decimal_or_refused_never_resolved(text: str) -> None:
    libc = socket.inet_ntoa(socket.inet_aton(text))
    if text == libc:
        _fails(text, exc.TargetError, exclude=EVERYTHING)  # a plain address, then excluded
        return
    err = _fails(text, exc.TargetError, exclude=EVERYTHING)
    assert type(err) is exc.TargetError  # never a ResolveError: it did not go to the resolver
    assert "leading zero" in str(err) or f"as {libc}" in str(err), (text, libc, str(err))


@st.composite
def _notations(draw: Callable[..., Any], address: str) -> str:
    value = int(ipaddress.IPv4Address(address))
    hi, lo = divmod(value, 1 << 16)
    notation: str = draw(
        st.sampled_from(
            [
                address,
                f"::ffff:{address}",
                f"::ffff:{hi:x}:{lo:x}",
                f"[::ffff:{address}]",
                f"0:0:0:0:0:ffff:{hi:04x}:{lo:04x}",
                f"{address}/32",
                f"::ffff:{address}/128",
                f"{address}-{address.rsplit('.', 1)[1]}",
                f"::ffff:{address}-{address}",
            ]
        )
    )
    return notation


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_an_address_excluded_in_any_notation_is_never_scanned(truth: dict[str, Any], data: st.DataObject) -> None:
    address = truth["open"]["v4"]
    target = data.draw(_notations(address))
    excluded = data.draw(_notations(address))
    where = data.draw(st.sampled_from(["exclude", "bang"]))
    if where == "exclude":
        err = _fails(target, exc.TargetError, exclude=[excluded])
    else:
        err = _fails(f"{target} !{excluded}", exc.TargetError)
    assert "no targets left" in str(err)


# -- PORTLENS_FINGERPRINTS: the engine's own file reads -------------------------------------------------
@pytest.mark.timeout(60)
def test_unusable_fingerprint_files_fail_the_scan_before_a_packet(truth: dict[str, Any], tmp_path: Path) -> None:
    """A FIFO, a device, or a file that does not parse, named in PORTLENS_FINGERPRINTS: an
    OptionError (exit 2) naming the file and the problem, never its content, and no hang."""
    fifo = tmp_path / "fp.fifo"
    os.mkfifo(fifo)
    secret = tmp_path / "secret.toml"
    secret.write_text("root:$6$hunter2SECRETsalt$hash:19000:0:99999:7:::\n")
    host, port = truth["open"]["v4"], truth["open"]["open_ports"][0]
    for files, problem in [
        (str(fifo), "not a regular file (a FIFO)"),
        ("/dev/zero", "not a regular file (a character device)"),
        (str(secret), "not a fingerprint file (TOML error at line 1, column"),
    ]:
        start = time.monotonic()
        p = subprocess.run(
            [sys.executable, "-m", "portlens.cli", "scan", "-q", "-Pn", "--services", "-p", str(port), host],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
            env={**os.environ, "PORTLENS_FINGERPRINTS": files},
        )
        assert time.monotonic() - start < 20
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        assert "PORTLENS_FINGERPRINTS" in p.stderr and f"{files}: {problem}" in p.stderr, p.stderr
        assert "hunter2" not in p.stderr and "$6$" not in p.stderr, p.stderr
    # Without --services the variable is not read.
    p = subprocess.run(
        [sys.executable, "-m", "portlens.cli", "scan", "-q", "-Pn", "-p", str(port), host],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={**os.environ, "PORTLENS_FINGERPRINTS": str(fifo)},
    )
    assert p.returncode == 0, p.stderr


def test_a_hostname_from_a_file_that_does_not_resolve_is_located_not_quoted(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("198.18.1.1\n  No-Such-Secret.portlens.invalid  # x\n")
    err = _fails(f"@{path}", exc.ResolveError, resolve_timeout=2.0, within=10.0)
    assert type(err) is exc.ResolveError
    assert str(err).startswith(f"targets file {path}:2:3: cannot resolve the hostname there"), str(err)
    assert "secret" not in str(err).lower() and err.item is None, str(err)
    # A name given directly is still named.
    err = _fails("no-such-host.portlens.invalid", exc.ResolveError, resolve_timeout=2.0, within=10.0)
    assert "no-such-host.portlens.invalid" in str(err)

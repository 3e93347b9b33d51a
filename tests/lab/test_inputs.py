"""Malformed input fails fast with a typed error that says what and where; nothing is sent."""

from __future__ import annotations

import pytest

import portlens
from portlens import exceptions as exc

BAD_TARGETS = [
    ("", exc.TargetError),
    (",", exc.TargetError),
    ("198.18.1", exc.TargetError),
    ("198.18.1.256", exc.TargetError),
    ("198.18.1.-1", exc.TargetError),
    ("198.18.1.1/33", exc.TargetError),
    ("198.18.1.1/", exc.TargetError),
    ("/24", exc.TargetError),
    ("198.18.1.50-10", exc.TargetError),
    ("198.18.1.1-2001:db8::1", exc.TargetError),
    ("198.18.1.1-300", exc.TargetError),
    ("2001:db8::/129", exc.TargetError),
    ("2001:db8:::1", exc.TargetError),
    ("[2001:db8::1", exc.TargetError),
    ("-", exc.TargetError),
    ("198.18.1.1--5", exc.TargetError),
    ("a..b", exc.TargetError),
    ("-host", exc.TargetError),
    ("host-", exc.TargetError),
    ("a" * 64 + ".example", exc.TargetError),
    ("ho$t", exc.TargetError),
    ("@", exc.TargetError),
    ("@/nonexistent/targets.txt", exc.TargetError),
    ("0.0.0.0/0", exc.TargetTooLargeError),
    ("::/0", exc.TargetTooLargeError),
    ("2001:db8::/64", exc.TargetTooLargeError),
    ("!", exc.TargetError),
    ("198.18.1.0/24,!198.18.1.0/24", exc.TargetError),
    ("\uff11\uff19\uff18.18.1.1", exc.TargetError),
    ("198.18.1.1\x00", exc.TargetError),
    ("9" * 100_000, exc.TargetError),
    ("nothing-here.invalid", exc.ResolveError),
]


@pytest.mark.parametrize(("spec", "kind"), BAD_TARGETS, ids=[repr(s[:24]) for s, _ in BAD_TARGETS])
def test_bad_targets(spec: str, kind: type[Exception]) -> None:
    with pytest.raises(kind) as info:
        portlens.scan(spec, ports="80")
    err = info.value
    assert isinstance(err, portlens.PortlensError)
    assert isinstance(err, ValueError)
    assert str(err)
    if kind is not exc.ResolveError and spec.strip(",! ") and len(spec) < 1000:
        # the message names the offending item (or says that nothing was left)
        if err.item is None:
            assert "no targets left" in str(err)
        else:
            assert err.item.strip("[@!") in spec or spec in str(err)


BAD_PORTS = [
    "",
    ",",
    "0",
    "65536",
    "70000",
    "-5-",
    "10-5",
    "a",
    "80,,443",
    "1-2-3",
    "top-5000",
    "U:53",
    "!",
    "!!80",
    "80 443 x",
    "1e3",
    "0x50",
    "+80",
    "\uff18\uff10",
    "80\x00",
    "9" * 1_000_000,
    "all,!all",
    " - - ",
    "99999999999999999999",
]


@pytest.mark.parametrize("spec", BAD_PORTS, ids=[repr(s[:16]) for s in BAD_PORTS])
def test_bad_ports(spec: str) -> None:
    with pytest.raises(exc.PortSpecError) as info:
        portlens.scan("198.18.1.2", ports=spec)
    assert "port" in str(info.value).lower()
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"rate": 0.0}, "rate"),
        ({"rate": float("nan")}, "rate"),
        ({"min_rtt_timeout": -1.0}, "min_rtt_timeout"),
        ({"min_rtt_timeout": 5.0, "max_rtt_timeout": 1.0}, "min_rtt_timeout"),
        ({"max_per_host": 0}, "max_per_host"),
        ({"keep": ["opened"]}, "keep"),
        ({"min_retries": 5, "max_retries": 2}, "max_retries"),
    ],
)
def test_bad_options(options: dict[str, object], name: str) -> None:
    with pytest.raises(exc.OptionError) as info:
        portlens.scan("198.18.1.2", ports="80", **options)
    assert name in str(info.value)


def test_unknown_option_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        portlens.scan("198.18.1.2", ports="80", colour="blue")


def test_scope_refuses_before_sending() -> None:
    with pytest.raises(exc.ScopeError) as info:
        portlens.scan("198.18.1.0/24", ports="80", scope=["198.18.2.0/24"])
    assert "198.18.1" in str(info.value)
    with pytest.raises(exc.ScopeError):
        # a range that is only partly inside
        portlens.scan("198.18.1.250-198.18.2.5", ports="80", scope=["198.18.2.0/24"])
    with pytest.raises(exc.ScopeError):
        # a hostname is checked by the address it resolves to
        portlens.scan("localhost", ports="80", scope=["198.18.0.0/15"])


def test_huge_range_is_lazy() -> None:
    # 2^24 lab addresses (no route to them from the scanner namespace) are accepted and walked
    # lazily; cancel right away.
    s = portlens.start("2001:db8:ff::/104", ports="80")
    s.cancel()
    r = s.result()
    assert r.status == "cancelled"
    assert r.hosts_total == 1 << 24

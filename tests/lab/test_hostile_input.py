"""Hostile option values, at every door (issue 13, options part): the Python API, the command line,
the python-nmap compat layer, profiles read from the store and Dask planning all go through one
table (`portlens._options`). Each case asserts the typed error naming the option (or the correct
result), no traceback, and bounded time; the command-line cases run in a child under an
address-space limit. Scans go only to the lab's hosts.
"""

from __future__ import annotations

import asyncio
import decimal
import fractions
import itertools
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import portlens
from portlens import _options, distributed
from portlens._scan import _request
from portlens.compat import nmap
from tests.factories import run_cli

CHILD_AS = 1 << 30  # address space of a CLI child: a hostile value must not make it grow


BIG = 10**5000  # int() of its text is refused by Python itself (4300 digits)


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_AS, CHILD_AS))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    p = run_cli(*args, timeout=30, preexec_fn=_limited)
    assert "Traceback" not in p.stderr, p.stderr
    return p


class Endless:
    """An iterator that never ends (a generator someone forgot to bound)."""

    def __iter__(self) -> Endless:
        return self

    def __next__(self) -> str:
        return "open"


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


@pytest.fixture(scope="module")
def host(truth: dict[str, Any]) -> str:
    return str(truth["open"]["v4"])


@pytest.fixture(scope="module")
def port(truth: dict[str, Any]) -> int:
    return int(truth["open"]["open_ports"][0])


# -- the Python API ---------------------------------------------------------------------------------
API_BAD: list[tuple[str, Any, str]] = [
    # (option, value, what the message says about the value)
    ("concurrency", 99999999999999999999, "too large"),
    ("concurrency", 1 << 64, "too large"),
    ("concurrency", BIG, "integer of"),
    ("concurrency", 0, "too small"),
    ("concurrency", -1, "negative"),
    ("concurrency", True, "bool"),
    ("concurrency", "5", "str"),
    ("concurrency", 5.0, "float"),
    ("concurrency", float("nan"), "float"),
    ("concurrency", [8], "list"),
    ("concurrency", b"8", "bytes"),
    ("max_retries", 300, "too large"),
    ("max_retries", 255, "too large"),  # attempts (1 + retries) are counted in a byte
    ("max_retries", -1, "negative"),
    ("max_retries", False, "bool"),
    ("min_retries", 256, "too large"),
    ("min_retries", 1.5, "float"),
    ("seed", -1, "negative"),
    ("seed", 1 << 64, "too large"),
    ("seed", "42", "str"),
    ("seed", True, "bool"),
    ("rate", float("nan"), "NaN"),
    ("rate", float("inf"), "infinite"),
    ("rate", float("-inf"), "infinite"),
    ("rate", 1e400, "infinite"),
    ("rate", BIG, "too large"),
    ("rate", -BIG, "negative"),
    ("rate", 0, "zero"),
    ("rate", -5, "negative"),
    ("rate", 1e-300, "too small"),  # one probe every 1e300 s: the pacer's interval would overflow
    ("rate", 1e10, "too large"),
    ("rate", "1000", "str"),
    ("rate", True, "bool"),
    ("rate", 1j, "complex"),
    ("rate", decimal.Decimal("NaN"), "NaN"),
    ("rate", np.float64("nan"), "NaN"),
    ("max_per_host", 0, "too small"),
    ("max_per_host", 1 << 62, "too large"),  # beyond tokio's semaphore: a panic in every probe task
    ("max_per_host", "10", "str"),
    ("service_timeout", 1e19, "too large"),
    ("service_timeout", 86400.5, "too large"),
    ("service_timeout", sys.maxsize, "too large"),  # "no timeout" to a Python user
    ("service_timeout", 0, "zero"),
    ("service_timeout", -0.5, "negative"),
    ("service_timeout", float("inf"), "infinite"),
    ("initial_rtt_timeout", float("nan"), "NaN"),
    ("initial_rtt_timeout", "1s", "str"),
    ("min_rtt_timeout", 0.0, "zero"),
    ("max_rtt_timeout", 1e6, "too large"),
    ("resolve_timeout", None.__class__, "type"),
    ("resolve_timeout", 1e100, "too large"),
    ("icmp_interval", -1, "negative"),
    ("icmp_interval", float("nan"), "NaN"),
    ("max_hosts", 0, "too small"),
    ("max_hosts", 1 << 128, "too large"),
    ("max_hosts", -1, "negative"),
    ("randomize", 1, "int"),
    ("randomize", "no", "str"),
    ("allow_large", "yes", "str"),
    ("services", 2, "int"),
    ("udp_fast", 0, "int"),
    ("discovery", "auto", "str"),
    ("protocol", "TCP", "not one of"),
    ("protocol", 6, "int"),
    ("protocol", ["tcp"], "list"),
    ("keep", "opened", "not one of"),
    ("keep", ["open", 1], "int"),
    ("keep", {"open": 1}, "dict"),
    ("keep", b"open", "bytes"),
    ("keep", Endless(), "more than"),
    ("exclude", 5, "int"),
    ("exclude", [BadRepr()], "BadRepr"),
    ("exclude", itertools.repeat("198.18.99.1"), "more than"),
    ("scope", 198, "int"),
    ("scope", [None], "NoneType"),
    ("exclude_ports", 25, "int"),
    ("exclude_ports", ["25"], "list"),
]


@pytest.mark.parametrize(("name", "value", "kind"), API_BAD, ids=[f"{n}={k}" for n, _, k in API_BAD])
def test_api_refuses_with_the_option_named(host: str, port: int, name: str, value: Any, kind: str) -> None:
    started = time.monotonic()
    with pytest.raises(portlens.OptionError) as err:
        portlens.scan(host, ports=str(port), **{name: value})
    assert time.monotonic() - started < 5
    text = str(err.value)
    assert text.startswith(f"invalid option {name}: ") and kind in text, text
    assert err.value.item == name and isinstance(err.value, ValueError)
    assert len(text) < 400  # the value is quoted short, whatever it is


PORTS_BAD: list[Any] = [[True], [80.0], ["80"], [-1], [0], [65536], [BIG], [None], itertools.count(1), 80, b"80"]


@pytest.mark.parametrize("ports", PORTS_BAD, ids=[_options._shown(p)[:20] for p in PORTS_BAD])
def test_api_refuses_port_lists_that_are_not_ports(host: str, ports: Any) -> None:
    started = time.monotonic()
    with pytest.raises(portlens.PortSpecError):
        portlens.scan(host, ports=ports)
    assert time.monotonic() - started < 5


def test_start_and_scan_async_refuse_the_same(host: str, port: int) -> None:
    with pytest.raises(portlens.OptionError, match="invalid option seed: -1 is negative"):
        portlens.start(host, str(port), seed=-1)
    with pytest.raises(portlens.OptionError, match="invalid option rate: NaN"):
        asyncio.run(portlens.scan_async(host, str(port), rate=float("nan")))


def test_accepted_values_are_normalised_and_recorded(truth: dict[str, Any], host: str, port: int) -> None:
    """Edge values that are right: numpy integers, fractions, tuples, the ranges' ends; None is the
    engine's default. The result records what the engine used."""
    closed = min(set(range(1, 1000)) - set(truth["open"]["open_ports"]))
    r = portlens.scan(
        host,
        ports=(np.int64(port), closed),
        concurrency=np.int32(64),
        rate=fractions.Fraction(5000),
        max_per_host=None,
        max_retries=254,
        min_retries=0,
        seed=(1 << 64) - 1,
        keep=("open", "closed"),
        exclude=("198.18.250.1",),
        service_timeout=86400,
        discovery=None,
        randomize=False,
        icmp_interval=-0.0,
    )
    o = r.options
    assert (o["concurrency"], o["rate"], o["max_retries"], o["min_retries"]) == (64, 5000.0, 254, 0)
    assert o["seed"] == (1 << 64) - 1 and o["keep"] == ["open", "closed"] and o["randomize"] is False
    assert o["service_timeout"] == 86400.0 and o["max_per_host"] is None and o["exclude"] == ["198.18.250.1"]
    assert {(p.port, p.state) for p in r.ports} == {(port, "open"), (closed, "closed")}
    engine = _options.defaults()
    plain = portlens.scan(host, ports=str(port), concurrency=None, max_retries=None)
    assert (plain.options["concurrency"], plain.options["max_retries"]) == (
        engine["concurrency"],
        engine["max_retries"],
    )


def test_an_unknown_option_stays_a_type_error(host: str) -> None:
    with pytest.raises(TypeError):
        portlens.scan(host, ports="80", shard_probes=5)  # a Dask option, not a local scan's


# -- the command line ---------------------------------------------------------------------------------
CLI_BAD: list[tuple[list[str], str]] = [
    (["--concurrency", "99999999999999999999"], "concurrency: 99999999999999999999 is too large"),
    (["--concurrency", "9" * 5000], "concurrency"),
    (["--concurrency", "0x10"], "concurrency: '0x10' is not an integer"),
    (["--concurrency", "1e3"], "concurrency: '1e3' is not an integer"),
    (["--concurrency", "8.5"], "concurrency: '8.5' is not an integer"),
    (["--max-retries", "300"], "max_retries: 300 is too large"),
    (["--max-retries", "-1"], "max_retries: -1 is negative"),
    (["--min-retries", "abc"], "min_retries: 'abc' is not an integer"),
    (["--seed", "-1"], "seed: -1 is negative"),
    (["--seed", "18446744073709551616"], "seed: 18446744073709551616 is too large"),
    (["--rate", "nan"], "rate: NaN"),
    (["--rate", "1e400"], "rate: '1e400' is too large"),
    (["--rate", "inf"], "rate: 'inf' is infinite"),
    (["--rate=-Infinity"], "rate: '-Infinity' is infinite"),
    (["--rate", "0"], "rate: 0.0 is zero"),
    (["--rate", "abc"], "rate: 'abc' is not a number"),
    (["--rate", ""], "rate: '' is not a number"),
    (["--service-timeout", "1e19"], "service_timeout: 1e+19 is too large"),
    (["--service-timeout", "0"], "service_timeout: 0.0 is zero"),
    (["--initial-rtt-timeout", "nan"], "initial_rtt_timeout: NaN"),
    (["--min-rtt-timeout", "-1"], "min_rtt_timeout: -1.0 is negative"),
    (["--max-rtt-timeout", "86401"], "max_rtt_timeout: 86401.0 is too large"),
    (["--max-per-host", "0"], "max_per_host: 0 is too small"),
    (["--max-per-host", "-5"], "max_per_host: -5 is negative"),
    (["--keep", "opened"], "keep: 'opened' is not one of them"),
    (["--keep", "open,everything"], "keep: 'everything' is not one of them"),
]


@pytest.mark.parametrize(("flags", "says"), CLI_BAD, ids=[" ".join(f)[:40] for f, _ in CLI_BAD])
def test_cli_refuses_with_the_apis_message(host: str, flags: list[str], says: str) -> None:
    started = time.monotonic()
    p = cli("scan", host, "-p", "80", "-q", *flags)
    assert p.returncode == 2, p.stderr
    assert f"invalid option {says}" in p.stderr, p.stderr
    assert time.monotonic() - started < 30


def test_cli_message_is_the_apis(host: str) -> None:
    with pytest.raises(portlens.OptionError) as err:
        portlens.scan(host, ports="80", max_retries=300)
    p = cli("scan", host, "-p", "80", "--max-retries", "300")
    assert str(err.value) in p.stderr


def test_cli_accepts_the_ranges_ends(host: str, port: int, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    p = cli(
        "scan", host, "-p", str(port), "-q", "-o", str(out), "--max-retries", "254", "--seed",
        "18446744073709551615", "--rate", "1e9", "--keep", "open,closed", "--service-timeout", "86400",
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    o = json.loads(out.read_text())["options"]
    assert (o["max_retries"], o["seed"], o["rate"], o["keep"]) == (254, (1 << 64) - 1, 1e9, ["open", "closed"])
    assert o["concurrency"] == _options.defaults()["concurrency"]  # unset: the engine's default


# -- python-nmap compat ---------------------------------------------------------------------------------
COMPAT_BAD: list[tuple[str, str]] = [
    ("-T9", "-T9"),
    ("--max-retries -1", "--max-retries"),
    ("--max-retries 300", "--max-retries"),
    ("--max-retries=abc", "--max-retries"),
    ("--min-rate abc", "--min-rate"),
    ("--min-rate nan", "--min-rate"),
    ("--max-rate 1e400", "--max-rate"),
    ("--max-rate 0", "--max-rate"),
    ("--max-parallelism 99999999999999999999", "--max-parallelism"),
    ("--max-parallelism 0", "--max-parallelism"),
    ("--host-timeout 99999999h", "--host-timeout"),
    ("--host-timeout " + "9" * 400, "--host-timeout"),
    ("--scan-delay 0.0000000001ms", "--scan-delay"),
    ("--initial-rtt-timeout 0", "--initial-rtt-timeout"),
    ("--max-rtt-timeout 25h", "--max-rtt-timeout"),
    ("--top-ports 0", "--top-ports"),
    ("--top-ports " + "9" * 5000, "--top-ports"),
    ("-v" + "9" * 5000, "-v" + "9" * 5000),
    ("-T" + "9" * 5000, "-T" + "9" * 5000),
    ("-s" + "Z" * 5000, "-s" + "Z" * 5000),
]


@pytest.mark.parametrize(("arguments", "item"), COMPAT_BAD, ids=[a[:30] for a, _ in COMPAT_BAD])
def test_compat_refuses_before_scanning(host: str, arguments: str, item: str) -> None:
    nm = nmap.PortScanner()
    started = time.monotonic()
    with pytest.raises(nmap.NmapArgumentError) as err:
        nm.scan(host, "80", arguments)
    assert time.monotonic() - started < 5
    assert err.value.item == item and isinstance(err.value, portlens.OptionError)
    assert isinstance(err.value, nmap.PortScannerError) and nm.all_hosts() == []
    assert len(str(err.value)) < 400


@pytest.mark.parametrize("timeout", [float("nan"), -1, float("inf"), 1e10, "5", True, [1]])
def test_compat_timeout_argument(host: str, timeout: Any) -> None:
    with pytest.raises(nmap.NmapArgumentError, match="timeout"):
        nmap.PortScanner().scan(host, "80", "-sT -Pn", timeout=timeout)


def test_compat_accepted_values_scan(host: str, port: int) -> None:
    nm = nmap.PortScanner()
    got = nm.scan(host, f"{port},1", "-sT -Pn --max-retries 254 --max-parallelism 64 --min-rate 1e5 --max-rate 1e9")
    assert got["scan"][host]["tcp"][port]["state"] == "open"


# -- profiles read from the store ---------------------------------------------------------------------
PROFILE_BAD: list[tuple[dict[str, Any], str]] = [
    ({"rate": float("nan")}, "rate: NaN"),
    ({"rate": "1e400"}, "rate: '1e400' is too large"),
    ({"concurrency": 99999999999999999999}, "concurrency: 99999999999999999999 is too large"),
    ({"concurrency": "abc"}, "concurrency: 'abc' is not an integer"),
    ({"max_retries": 300}, "max_retries: 300 is too large"),
    ({"seed": -1}, "seed: -1 is negative"),
    ({"service_timeout": 1e19}, "service_timeout: 1e+19 is too large"),
    ({"keep": ["everything"]}, "keep: 'everything' is not one of them"),
    ({"no_randomize": "yes"}, "option no_randomize is 'yes'"),
    ({"discovery": 1}, "option discovery is 1"),
    ({"protocol": "sctp"}, "option protocol is 'sctp'"),
    ({"exclude": "198.18.1.1"}, "option exclude is '198.18.1.1'; expected a list of strings"),
    ({"exclude_ports": 25}, "option exclude_ports is 25"),
]


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'history.db'}"


@pytest.mark.parametrize(("options", "says"), PROFILE_BAD, ids=[next(iter(o)) + "-" + s[:12] for o, s in PROFILE_BAD])
def test_a_profile_with_bad_options_fails_on_use(host: str, store_url: str, options: dict[str, Any], says: str) -> None:
    with portlens.store.open(store_url) as store:  # as if edited in the database: no check on the way in
        store.add_profile("edited", [host], "80", options=options)
    p = cli("scan", "--profile", "edited", "--db", store_url, "-q")
    assert p.returncode == 2, p.stderr
    assert "profile 'edited'" in p.stderr and says in p.stderr, p.stderr


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [("targets", '"198.18.1.2"', "targets"), ("targets", "[1, 2]", "targets"), ("options", "[1]", "options")],
)
def test_a_profile_with_a_bad_column_fails_on_use(store_url: str, column: str, value: str, says: str) -> None:
    import sqlalchemy as sa

    with portlens.store.open(store_url) as store:
        store.add_profile("edited", ["198.18.1.2"], "80")
        with store.engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE profiles SET {column} = :v WHERE name = 'edited'"), {"v": value})
    p = cli("scan", "--profile", "edited", "--db", store_url, "-q")
    assert p.returncode == 2 and f"profile 'edited': its {says}" in p.stderr, p.stderr


def test_a_good_profile_scans_with_its_options(host: str, port: int, store_url: str, tmp_path: Path) -> None:
    p = cli("profile", "add", "good", host, "-p", str(port), "--rate", "5000", "--max-retries", "2", "--db", store_url)
    assert p.returncode == 0, p.stderr
    with portlens.store.open(store_url) as store:
        assert dict(store.profile("good").options) == {"rate": 5000.0, "max_retries": 2}
    p = cli("profile", "add", "bad", host, "--rate", "nan", "--db", store_url)
    assert p.returncode == 2 and "invalid option rate: NaN" in p.stderr
    out = tmp_path / "r.json"
    p = cli("scan", "--profile", "good", "--db", store_url, "-q", "--max-retries", "3", "-o", str(out))
    assert p.returncode == 0, p.stderr
    o = json.loads(out.read_text())["options"]
    assert (o["rate"], o["max_retries"]) == (5000.0, 3)  # the command line wins


# -- Dask: checked on the client before a client connects or a shard exists ---------------------------------
DASK_BAD: list[tuple[dict[str, Any], str]] = [
    ({"rate": float("nan")}, "rate"),
    ({"concurrency": True}, "concurrency"),
    ({"max_retries": 300}, "max_retries"),
    ({"service_timeout": 1e19}, "service_timeout"),
    ({"shard_probes": 0}, "shard_probes"),
    ({"shard_probes": True}, "shard_probes"),
    ({"shard_probes": 1.5}, "shard_probes"),
    ({"retries": -1}, "retries"),
    ({"retries": "3"}, "retries"),
    ({"workers_timeout": float("inf")}, "workers_timeout"),
    ({"workers_timeout": 0}, "workers_timeout"),
]


@pytest.mark.parametrize(("options", "name"), DASK_BAD, ids=[f"{n}" for _, n in DASK_BAD])
def test_dask_refuses_before_connecting(
    host: str, options: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_cluster(*args: Any, **kw: Any) -> Any:
        raise AssertionError("a client was connected for a scan with a bad option")

    monkeypatch.setattr(distributed, "connect", no_cluster)
    with pytest.raises(portlens.OptionError) as err:
        distributed.start(host, "80", executor="tcp://198.18.250.1:8786", **options)
    assert err.value.item == name and f"invalid option {name}:" in str(err.value)


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"shard_probes": 0}, "shard_probes"),
        ({"shard_probes": "1000"}, "shard_probes"),
        ({"slots": 0}, "slots"),
        ({"slots": True}, "slots"),
        ({"rate": -1}, "rate"),
        ({"max_per_host": 0}, "max_per_host"),
    ],
)
def test_dask_plan_refuses(host: str, kw: dict[str, Any], name: str) -> None:
    with pytest.raises(portlens.OptionError) as err:
        distributed.plan(host, "1-100", **kw)
    assert err.value.item == name


def test_dask_plan_shares_the_checked_rate(host: str) -> None:
    plan = distributed.plan(host, "1-100", slots=4, shard_probes=10, rate=fractions.Fraction(400), seed=np.uint64(7))
    assert plan.options["rate"] == pytest.approx(400 / min(4, plan.shards)) and plan.options["seed"] == 7
    assert all(type(v) in (int, float, bool, str, list) for v in plan.options.values())


# -- properties ---------------------------------------------------------------------------------------
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 140), max_value=1 << 140),
    st.integers(min_value=-3, max_value=300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1e-6, max_value=1e5),
    st.text(max_size=12),
    st.sampled_from(["open", "closed", "tcp", "udp", "both", "nan", "1e400", "-1", "5"]),
    st.binary(max_size=4),
    st.lists(st.sampled_from(["open", "closed", "filtered", "opened", "198.18.1.9"]), max_size=3),
    st.tuples(st.integers()),
    st.decimals(allow_nan=True),
    st.fractions(),
    st.complex_numbers(),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


NAMES = st.sampled_from(sorted(_options.ENGINE))


def _same(name: str, given: Any, recorded: Any) -> bool:
    if isinstance(recorded, float) and isinstance(given, float):
        return math.isclose(recorded, given, rel_tol=1e-9, abs_tol=1e-9)  # durations: nanoseconds
    return bool(recorded == given)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(options=st.dictionaries(NAMES, VALUES, max_size=4))
def test_random_options_are_refused_by_name_or_round_trip(host: str, options: dict[str, Any]) -> None:
    """Random values of random types: only `OptionError` naming one of the options, or accepted and
    recorded as checked (what `result.options` holds: `Scan` records the request's options)."""
    try:
        request = _request(host, "80", dict(options))
    except portlens.OptionError as e:  # one of them, or its pair (min_retries=11 > max_retries=10)
        assert e.item in _options.ENGINE and str(e).startswith(f"invalid option {e.item}: "), str(e)
        return
    except portlens.InputError as e:  # a target or port list given as an exclude or a scope
        assert options.keys() & {"exclude", "scope", "exclude_ports"}, str(e)
        return
    recorded = request.options()
    for name, value in options.items():
        if value is None:
            assert name not in recorded or recorded[name] == _options.defaults().get(name)
        elif name == "keep":  # recorded once each, in the engine's order
            assert set(recorded[name]) == set(_options.check(name, value))
        elif name in recorded and name not in ("exclude", "scope"):
            assert _same(name, _options.check(name, value), recorded[name]), (name, value, recorded[name])

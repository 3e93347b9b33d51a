"""Scan options, checked once for every front end: the API (`portlens.scan`, `start`, `scan_async`),
the command line, the python-nmap compat layer, profiles read from the store and Dask shards.

`OPTIONS` is the one table: each option's kind and range. The ranges are what the engine takes
(``u8`` retries, a ``u64`` seed, durations up to ``_core.MAX_SECONDS``, a day) narrowed where a
larger value would not be a setting but a hang or an overflow further down. A value of the wrong
type (a bool where a number is wanted, a str, a float for an integer), NaN, an infinity, a negative
number or one out of range raises `OptionError` naming the option and what is wrong with the value.

``None`` means "the engine's default" for every option (there is no other copy of the defaults:
`defaults()` asks the engine). "No limit" is always spelt out: ``rate=None`` (no rate limit),
``max_per_host=None`` (no per-host cap); no duration is unlimited.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any

from . import _core
from .exceptions import OptionError, PortSpecError

__all__ = ["OPTIONS", "ENGINE", "check", "check_all", "parse", "port_spec", "defaults", "MAX_SECONDS"]

MAX_SECONDS: float = _core.MAX_SECONDS
MAX_SLOTS = 1 << 30  # probes in flight: beyond the most file descriptors Linux gives a process (fs.nr_open)
MAX_RATE = 1e9  # probes per second: beyond any link (10 GbE carries about 1.5e7 SYNs a second)
MIN_RATE = 1 / MAX_SECONDS  # one probe a day: the gap between two probes is a duration too
MAX_ITEMS = 1 << 20  # items of a list option (an endless iterator is refused, not read forever)
STATES = ("open", "closed", "filtered", "open|filtered")


def _shown(value: object) -> str:
    """The value as the message quotes it: short, and never a 5000-digit integer."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"{'a negative' if value < 0 else 'an'} integer of {value.bit_length()} bits"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a hostile __repr__: say what it is
        return f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: object) -> str:
    name = type(value).__name__
    return f"an {name}" if name[:1] in "aeiou" else f"a {name}"


@dataclass(frozen=True)
class Spec:
    """One option's kind. `check` takes a Python value, `parse` the text of a command line."""

    help: str  # what the value is, for messages ("probes in flight")

    def expected(self) -> str:
        raise NotImplementedError

    def check(self, name: str, value: Any) -> Any:
        raise NotImplementedError

    def parse(self, name: str, text: str) -> Any:
        return self.check(name, text)

    def fail(self, name: str, problem: str, value: object) -> OptionError:
        return OptionError(f"invalid option {name}: {problem}; expected {self.expected()}", _shown(value), name)

    def wrong_type(self, name: str, value: object) -> OptionError:
        return self.fail(name, f"got {_kind(value)} ({_shown(value)})", value)


@dataclass(frozen=True)
class Int(Spec):
    low: int
    high: int

    def expected(self) -> str:
        return f"an integer from {self.low} to {self.high} ({self.help})"

    def check(self, name: str, value: Any) -> int:
        if isinstance(value, bool) or isinstance(value, float) or isinstance(value, str):
            raise self.wrong_type(name, value)
        try:
            n = operator.index(value)  # int, and numpy's integers
        except TypeError:
            raise self.wrong_type(name, value) from None
        if n < self.low:
            raise self.fail(name, f"{_shown(n)} is {'negative' if n < 0 else 'too small'}", n)
        if n > self.high:
            raise self.fail(name, f"{_shown(n)} is too large", n)
        return n

    def parse(self, name: str, text: str) -> int:
        t = text.strip()
        if not re.fullmatch(r"[+-]?[0-9]+", t):
            raise self.fail(name, f"{_shown(text)} is not an integer", text)
        if len(t.lstrip("+-").lstrip("0")) > 40:  # int() refuses 4300 digits; no option takes 40
            raise self.fail(name, f"{_shown(text[:20] + '...')} is {'negative' if t[0] == '-' else 'too large'}", text)
        return self.check(name, int(t))


@dataclass(frozen=True)
class Real(Spec):
    low: float
    high: float
    low_open: bool = False  # the low bound itself is refused (a timeout of 0)
    unit: str = "a number"
    bounds: str = ""  # the range in words, when ``low``..``high`` alone says it badly

    def expected(self) -> str:
        low = f"more than {self.low:g}" if self.low_open else f"from {self.low:g}"
        return f"{self.unit} ({self.help}), {self.bounds or f'{low} to {self.high:g}'}"

    def check(self, name: str, value: Any) -> float:
        if isinstance(value, bool) or isinstance(value, str) or isinstance(value, complex):
            raise self.wrong_type(name, value)
        if not isinstance(value, (int, float)):
            try:
                value = operator.index(value)
            except TypeError:
                try:
                    value = float(value)  # Decimal, Fraction, numpy's floats
                except (TypeError, ValueError):
                    raise self.wrong_type(name, value) from None
                except OverflowError:
                    raise self.fail(name, f"{_shown(value)} is too large", value) from None
        try:
            x = float(value)
        except OverflowError:  # an int beyond a float
            raise self.fail(name, f"{_shown(value)} is {'negative' if value < 0 else 'too large'}", value) from None
        if math.isnan(x):
            raise self.fail(name, "NaN is not a number", value)
        if math.isinf(x):
            raise self.fail(name, f"{_shown(value)} is infinite", value)
        if x < 0 and self.low >= 0:
            raise self.fail(name, f"{_shown(value)} is negative", value)
        if x < self.low or (self.low_open and x == self.low):
            raise self.fail(name, f"{_shown(value)} is {'zero' if x == 0 else 'too small'}", value)
        if x > self.high:
            raise self.fail(name, f"{_shown(value)} is too large", value)
        return x + 0.0  # -0.0 is 0

    def parse(self, name: str, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise self.fail(name, f"{_shown(text)} is not a number", text) from None
        if math.isinf(value):  # "1e400" is read as an infinity: say what was given
            raise self.fail(name, f"{_shown(text)} is {'infinite' if 'inf' in text.lower() else 'too large'}", text)
        return self.check(name, value)


def seconds(help: str, zero: bool = False) -> Real:
    """A duration, up to the engine's ceiling; 0 only where it means something."""
    bounds = f"from 0 to {MAX_SECONDS:g} (a day)" if zero else f"more than 0, at most {MAX_SECONDS:g} (a day)"
    return Real(help, 0.0, MAX_SECONDS, not zero, "seconds", bounds)


@dataclass(frozen=True)
class Flag(Spec):
    def expected(self) -> str:
        return f"True or False ({self.help})"

    def check(self, name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.wrong_type(name, value)
        return value


@dataclass(frozen=True)
class Choice(Spec):
    choices: tuple[str, ...]

    def expected(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices) + f" ({self.help})"

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise self.wrong_type(name, value)
        if value not in self.choices:
            raise self.fail(name, f"{_shown(value)} is not one of them", value)
        return value


@dataclass(frozen=True)
class Text(Spec):
    def expected(self) -> str:
        return f"a string ({self.help})"

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise self.wrong_type(name, value)
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate: the engine takes UTF-8 only
            raise self.fail(name, "the text is not valid Unicode (a lone surrogate)", value) from None
        return value


@dataclass(frozen=True)
class Texts(Spec):
    """A string (one item) or an iterable of strings; the command line's text is one item."""

    choices: tuple[str, ...] = ()

    def expected(self) -> str:
        what = ("any of " + ", ".join(self.choices)) if self.choices else "strings"
        return f"a string or a list of {what} ({self.help})"

    def check(self, name: str, value: Any) -> list[str]:
        if isinstance(value, str):
            items = [value]
        elif isinstance(value, (bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
            raise self.wrong_type(name, value)
        else:
            items = list(itertools.islice(value, MAX_ITEMS + 1))
            if len(items) > MAX_ITEMS:
                raise self.fail(name, f"more than {MAX_ITEMS} items", value)
        for item in items:
            if not isinstance(item, str):
                raise self.fail(name, f"an item is {_kind(item)} ({_shown(item)})", value)
            if self.choices and item not in self.choices:
                raise self.fail(name, f"{_shown(item)} is not one of them", value)
        return items

    def parse(self, name: str, text: str) -> list[str]:
        if not self.choices:
            return self.check(name, text)
        return self.check(name, [t.strip() for t in text.split(",") if t.strip()])


_PROBES = "probes in flight at most"
OPTIONS: dict[str, Spec] = {
    # the engine's (`_core.ScanRequest`)
    "exclude": Texts("targets to skip"),
    "exclude_ports": Text("ports to skip"),
    "scope": Texts("the authorised networks"),
    "concurrency": Int(_PROBES, 1, MAX_SLOTS),
    "rate": Real("at most", MIN_RATE, MAX_RATE, False, "probes per second", "from 1/86400 (one a day) to 1e9"),
    "max_per_host": Int(_PROBES + " against one host", 1, MAX_SLOTS),
    "initial_rtt_timeout": seconds("the wait for a reply before any RTT is known"),
    "min_rtt_timeout": seconds("the shortest wait for a reply"),
    "max_rtt_timeout": seconds("the longest wait for a reply"),
    "min_retries": Int("retries of a silent port at least", 0, _core.MAX_RETRIES),
    "max_retries": Int("retries of a silent port at most", 0, _core.MAX_RETRIES),
    "randomize": Flag("probe in a random order"),
    "seed": Int("seed of the probe order", 0, (1 << 64) - 1),
    "keep": Texts("port states kept one by one", STATES),
    "max_hosts": Int("addresses at most without allow_large", 1, (1 << 128) - 1),
    "allow_large": Flag("allow more addresses than max_hosts"),
    "resolve_timeout": seconds("to resolve the hostnames"),
    "services": Flag("identify the services on open ports"),
    "service_timeout": seconds("per open port, to identify its service"),
    "protocol": Choice("what to scan", ("tcp", "udp", "both")),
    "udp_fast": Flag("do not wait out ICMP rate limits"),
    "discovery": Flag("host discovery first"),
    "icmp_interval": seconds("between two UDP probes of a host that rate-limits ICMP", zero=True),
    "method": Choice("how TCP ports are probed; syn needs CAP_NET_RAW", ("connect", "syn", "auto")),
    "source": Text("an address of this host to send TCP probes from, as nmap's -S"),
    "interface": Text("the network interface to send and receive TCP probes on, as nmap's -e"),
    # Dask's (`portlens.distributed`)
    "shard_probes": Int("probes per shard", 1, 1 << 40),
    "retries": Int("resubmissions of a failed shard", 0, 1000),
    "workers_timeout": seconds("to wait for a first Dask worker"),
    # python-nmap's (`portlens.compat.nmap`): 0 is nmap's "no limit"
    "timeout": seconds("for the whole scan; 0: no limit", zero=True),
    "host_timeout": seconds("per host; 0: no limit", zero=True),
}
ENGINE = frozenset(OPTIONS) - {"shard_probes", "retries", "workers_timeout", "timeout", "host_timeout"}


def check(name: str, value: Any) -> Any:
    """``value`` of option ``name``, checked and normalised (a list for list options, a float for
    numbers); `OptionError` when it is wrong."""
    return OPTIONS[name].check(name, value)


def parse(name: str, text: str) -> Any:
    """The command line's ``text`` for option ``name``, converted and checked as `check` does."""
    return OPTIONS[name].parse(name, text)


def check_all(options: dict[str, Any], names: frozenset[str] = ENGINE) -> dict[str, Any]:
    """Check the options of ``names`` (default: the engine's) in ``options``, in place: values
    normalised, ``None`` (the engine's default) removed. Other names are left for the callee to
    refuse (an unknown keyword is a TypeError, as for any function)."""
    for name in list(options):
        if name not in names:
            continue
        if options[name] is None:
            del options[name]
        else:
            options[name] = check(name, options[name])
    return options


def port_spec(ports: Iterable[Any]) -> str:
    """An iterable of port numbers (``ports=[22, 80]``) as a port specification; `PortSpecError`
    for an item that is not an integer from 1 to 65535 (a bool, a float, a str, -1)."""
    if isinstance(ports, (bytes, bytearray, Mapping)) or not isinstance(ports, Iterable):
        raise PortSpecError(f"ports must be a string or an iterable of port numbers, not {_kind(ports)}")
    items = list(itertools.islice(ports, MAX_ITEMS + 1))
    if len(items) > MAX_ITEMS:
        raise PortSpecError(f"ports: more than {MAX_ITEMS} items")
    out = []
    for p in items:
        try:
            n = -1 if isinstance(p, (bool, float, str)) else operator.index(p)
        except TypeError:
            n = -1
        if not 1 <= n <= 65535:
            raise PortSpecError(f"invalid port {_shown(p)}: expected an integer from 1 to 65535", item=_shown(p))
        out.append(str(n))
    if not out:
        raise PortSpecError("no ports given")
    return ",".join(out)


@cache
def defaults() -> Mapping[str, Any]:
    """The engine's defaults, as a scan records its options, read-only (help text and docs show them).
    The engine is asked: its ``ScanConfig`` holds the one copy, and `_core.ScanRequest` takes ``None``
    for every option it has not been given."""
    return MappingProxyType(_core.ScanRequest(["192.0.2.1"], "1").options())

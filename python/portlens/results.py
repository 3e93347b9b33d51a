"""What a scan returns: plain, frozen, picklable data built from the engine's batches."""

from __future__ import annotations

import ipaddress
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import index
from typing import Any, overload

__all__ = [
    "PortResult",
    "PortColumns",
    "PortTable",
    "HostResult",
    "ScanResult",
    "HostColumns",
    "ARROW_COLUMNS",
    "ports_table",
    "STATES",
    "HOST_STATS",
    "addr_key",
    "port_key",
    "host_key",
    "by_host",
    "merge",
]

STATES = ("open", "closed", "filtered", "open|filtered")
#: The keys of ``HostResult.stats``, in the engine's order.
HOST_STATS = (
    "probes",
    "retransmissions",
    "pilots",
    "samples",
    "lost",
    "drop_rate",
    "rate",
    "rate_cuts",
    "unresolved",
)


@dataclass(frozen=True, slots=True)
class PortResult:
    """One probed port. ``rtt`` is in seconds (None when nothing answered)."""

    host: str
    port: int
    protocol: str
    state: str
    reason: str
    rtt: float | None = None
    attempts: int = 1
    hostname: str | None = None
    # what answers on the port (name, product, version, method, conf, ...), when known; not hashed
    service: Mapping[str, Any] | None = field(default=None, hash=False)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "host": self.host,
            "hostname": self.hostname,
            "port": self.port,
            "protocol": self.protocol,
            "state": self.state,
            "reason": self.reason,
            "rtt": self.rtt,
            "attempts": self.attempts,
        }
        if self.service is not None:
            d["service"] = dict(self.service)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PortResult:
        return cls(
            host=str(d["host"]),
            port=int(d["port"]),
            protocol=str(d.get("protocol", "tcp")),
            state=str(d["state"]),
            reason=str(d.get("reason", "")),
            rtt=None if d.get("rtt") is None else float(d["rtt"]),
            attempts=int(d.get("attempts", 1)),
            hostname=d.get("hostname"),
            service=None if d.get("service") is None else dict(d["service"]),
        )


def utf8_text(text: str) -> str:
    """``text`` with any lone surrogate (``"\\udcff"``, which a JSON document may carry as an escape
    and Python keeps) replaced by U+FFFD: Arrow, SQLite and PostgreSQL take only text that encodes
    as UTF-8. Text that encodes is returned as it is (the cheap case: every engine string)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def utf8_value(value: Any) -> Any:
    """`utf8_text` over a JSON-like value (strings, and those inside lists and mappings, keys too)."""
    if isinstance(value, str):
        return utf8_text(value)
    if isinstance(value, Mapping):
        return {utf8_value(k): utf8_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [utf8_value(v) for v in value]
    return value


# -- port results as columns ------------------------------------------------------------------------------
_NO_RTT = float("nan")  # rtt None is stored as NaN (an answer never takes NaN seconds)


def _intern(words: list[str], ids: dict[str, int], word: str) -> int:
    """The code of ``word`` in a column's vocabulary (``words``, indexed by ``ids``), added if new:
    the few distinct states, reasons and hostnames of millions of rows are kept once."""
    i = ids.get(word)
    if i is None:
        i = ids[word] = len(words)
        words.append(word)
    return i


class PortTable:
    """The storage of `PortColumns`: one compact array per field, strings as indices into small
    vocabularies ((host, hostname) pairs; protocol, state and reason words), and the rare service
    records in a side table keyed by row. About 26 bytes a row instead of a ~200-byte object."""

    def __init__(self) -> None:
        self.host = array("I")  # index into `hosts`
        self.port = array("i")
        self.protocol = array("H")  # the three word columns: indices into `words`
        self.state = array("H")
        self.reason = array("H")
        self.rtt = array("d")
        self.attempts = array("i")
        self.hosts: list[tuple[str, str | None]] = []
        self.words: list[str] = []
        self.services: dict[int, Mapping[str, Any]] = {}
        self._host_ids: dict[tuple[str, str | None], int] = {}
        self._word_ids: dict[str, int] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}  # the id maps are rebuilt

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._host_ids = {h: i for i, h in enumerate(self.hosts)}
        self._word_ids = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.port)

    def _word(self, word: str) -> int:
        return _intern(self.words, self._word_ids, word)

    def append(
        self,
        host: str,
        port: int,
        protocol: str,
        state: str,
        reason: str,
        rtt: float | None,
        attempts: int,
        hostname: str | None,
        service: Mapping[str, Any] | None,
    ) -> None:
        key = (host, hostname)
        h = self._host_ids.get(key)
        if h is None:
            h = self._host_ids[key] = len(self.hosts)
            self.hosts.append(key)
        if service is not None:
            self.services[len(self.port)] = service
        self.port.append(port)  # first: a port out of range fails before any column grew
        self.host.append(h)
        self.protocol.append(self._word(protocol))
        self.state.append(self._word(state))
        self.reason.append(self._word(reason))
        self.rtt.append(_NO_RTT if rtt is None else rtt)
        self.attempts.append(attempts)

    def add(self, p: PortResult) -> None:
        self.append(p.host, p.port, p.protocol, p.state, p.reason, p.rtt, p.attempts, p.hostname, p.service)

    def add_rows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """The engine's rows (`_core._PortRow`), without a `PortResult` each."""
        for r in rows:
            self.append(
                r["host"], r["port"], r["protocol"], r["state"], r["reason"], r["rtt"], r["attempts"],
                r["hostname"], r["service"],
            )  # fmt: skip

    def row(self, i: int) -> PortResult:
        host, hostname = self.hosts[self.host[i]]
        words, rtt = self.words, self.rtt[i]
        return PortResult(
            host,
            self.port[i],
            words[self.protocol[i]],
            words[self.state[i]],
            words[self.reason[i]],
            None if rtt != rtt else rtt,  # NaN: no answer
            self.attempts[i],
            hostname,
            self.services.get(i),
        )

    def sorted(self, keys: dict[str, tuple[int, int]] | None = None) -> PortTable:
        """A copy in `port_key` order (by address, port, protocol; stable). ``keys`` caches
        `addr_key` by address (filled here, for the caller to reuse)."""
        n = len(self)
        # one address parse per distinct host; equal addresses (another hostname) share a rank
        keys = {} if keys is None else keys
        hk = []
        for address, _ in self.hosts:
            k = keys.get(address)
            if k is None:
                k = keys[address] = addr_key(address)
            hk.append(k)
        by_addr = sorted(range(len(self.hosts)), key=hk.__getitem__)
        rank = array("I", bytes(4 * len(self.hosts)))
        r, last = -1, None
        for h in by_addr:
            k = hk[h]
            if k != last:
                r, last = r + 1, k
            rank[h] = r
        by_word = sorted(range(len(self.words)), key=self.words.__getitem__)
        wrank = array("I", bytes(4 * len(self.words)))
        for i, w in enumerate(by_word):
            wrank[w] = i
        if n and (min(self.port) < 0 or max(self.port) > 0xFFFF):
            row_keys: Sequence[Any] = [
                (rank[h], p, wrank[w]) for h, p, w in zip(self.host, self.port, self.protocol, strict=True)
            ]
        else:  # one 64-bit key a row: rank, port, protocol
            row_keys = array(
                "Q",
                (
                    (rank[h] << 32) | (p << 16) | wrank[w]
                    for h, p, w in zip(self.host, self.port, self.protocol, strict=True)
                ),
            )
        order = _argsort(row_keys)
        out = PortTable()
        out.hosts, out.words = self.hosts, self.words
        out._host_ids, out._word_ids = self._host_ids, self._word_ids
        for name in ("host", "port", "protocol", "state", "reason", "rtt", "attempts"):
            setattr(out, name, _take(getattr(self, name), order))
        if self.services:
            where = {old: new for new, old in enumerate(order) if old in self.services}
            out.services = {where[old]: s for old, s in self.services.items()}
        return out


def _argsort(keys: Sequence[Any]) -> Sequence[int]:
    """The stable order of ``keys``: by `_order` for one 64-bit key a row (an ``array``)."""
    if isinstance(keys, array):
        return _order(keys, len(keys))
    return sorted(range(len(keys)), key=keys.__getitem__)


def _order(keys: Iterable[int], n: int) -> array[int]:
    """The stable order of ``n`` non-negative integer keys, as compact indices: each key is sorted
    as one integer with its row's index in the low bits (equal keys keep their order). At the end
    of a /16 scan, when its memory peaks, this holds one integer a row; ``sorted(range(n),
    key=...)`` held two and a list of keys, and numpy's argsort its import (13 MB) and the list
    from ``tolist()``."""
    shift = max(n - 1, 1).bit_length()
    mask = (1 << shift) - 1
    packed = sorted([(k << shift) | i for i, k in enumerate(keys)])
    return array("Q", (v & mask for v in packed))


def _take(col: array[Any], order: Sequence[int]) -> array[Any]:
    return array(col.typecode, map(col.__getitem__, order))


class PortColumns(Sequence[PortResult]):
    """Port results stored as columns (`PortTable`), read as a sequence of `PortResult`: each is
    built when it is read (indexing, iteration), so a scan with millions of results holds arrays,
    not millions of objects. A `PortColumns` may be a window (``start``, ``stop``) on shared
    columns: a host's ports are a window on its scan's. It compares equal to any sequence of the
    same port results (a tuple of them, as older code built)."""

    __slots__ = ("_c", "_start", "_stop")

    def __init__(self, columns: PortTable | None = None, start: int = 0, stop: int | None = None) -> None:
        self._c = columns if columns is not None else PortTable()
        self._start = start
        self._stop = len(self._c) if stop is None else stop

    @classmethod
    def of(cls, ports: Iterable[PortResult]) -> PortColumns:
        """Columns of these port results, in their order."""
        if isinstance(ports, PortColumns) and ports._start == 0 and ports._stop == len(ports._c):
            return ports
        c = PortTable()
        for p in ports:
            c.add(p)
        return cls(c)

    def __reduce__(self) -> tuple[Any, ...]:
        if self._start or self._stop != len(self._c):
            return (PortColumns.of, (tuple(self),))  # a window travels as its own rows
        return (PortColumns, (self._c, 0, self._stop))

    def __len__(self) -> int:
        return self._stop - self._start

    @overload
    def __getitem__(self, i: int) -> PortResult: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[PortResult, ...]: ...
    def __getitem__(self, i: int | slice) -> PortResult | tuple[PortResult, ...]:
        if isinstance(i, slice):
            return tuple(self._c.row(self._start + k) for k in range(*i.indices(len(self))))
        n = len(self)
        k = index(i)  # TypeError for what is not an integer, as a tuple raises
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(f"port result index {i} out of range ({n} results)")
        return self._c.row(self._start + k)

    def __iter__(self) -> Iterator[PortResult]:
        row = self._c.row
        for i in range(self._start, self._stop):
            yield row(i)

    def __bool__(self) -> bool:
        return self._stop > self._start

    def __eq__(self, other: object) -> bool:
        if other is self:
            return True
        if isinstance(other, PortColumns) and other._c is self._c:
            if (other._start, other._stop) == (self._start, self._stop):
                return True
        elif not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"<PortColumns: {len(self)} port results>"

    def window(self, start: int, stop: int) -> PortColumns:
        """Rows ``start`` to ``stop`` of this sequence, sharing its columns. Unlike a slice, the
        bounds must lie within it (``0 <= start <= stop <= len``): a window reads the shared columns
        directly, and one reaching outside would show another host's rows."""
        start, stop = index(start), index(stop)
        if not 0 <= start <= stop <= len(self):
            raise IndexError(f"window {start}:{stop} is not within 0:{len(self)}")
        return PortColumns(self._c, self._start + start, self._start + stop)

    def sorted(self, keys: dict[str, tuple[int, int]] | None = None) -> PortColumns:
        """The same port results in `port_key` order (new columns); ``keys``: see `PortTable.sorted`."""
        c = self._c if (self._start, self._stop) == (0, len(self._c)) else PortColumns.of(tuple(self))._c
        return PortColumns(c.sorted(keys))

    def _bounds(self) -> dict[str, tuple[int, int]]:
        """Each address's rows (start, stop) in this sequence when they are contiguous (a sorted
        sequence); an empty dict when some are not."""
        hosts, col = self._c.hosts, self._c.host
        bounds: dict[str, tuple[int, int]] = {}
        a, first = None, 0
        for i in range(self._start, self._stop):
            b = hosts[col[i]][0]
            if b != a:
                if a is not None:
                    bounds[a] = (first - self._start, i - self._start)
                if b in bounds:
                    return {}
                a, first = b, i
        if a is not None:
            bounds[a] = (first - self._start, self._stop - self._start)
        return bounds

    def by_host(self) -> dict[str, Sequence[PortResult]]:
        """The port results of each address, in order: windows when they are contiguous (a sorted
        sequence), else tuples."""
        bounds = self._bounds()
        if not bounds and self:
            return {a: tuple(g) for a, g in by_host(self).items()}
        return {a: self.window(first, stop) for a, (first, stop) in bounds.items()}

    def to_arrow(self) -> Any:
        """These port results as a pyarrow Table (`ARROW_COLUMNS`); needs the ``arrow`` extra."""
        return ports_table(self)

    def where(self, state: str | None = None, host: str | None = None) -> list[PortResult]:
        """The port results of ``state`` (and ``host``), building only those."""
        c = self._c
        code = None if state is None else c._word_ids.get(state)
        if state is not None and code is None:
            return []
        hosts = None if host is None else {i for i, (h, _) in enumerate(c.hosts) if h == host}
        states, col = c.state, c.host
        return [
            c.row(i)
            for i in range(self._start, self._stop)
            if (code is None or states[i] == code) and (hosts is None or col[i] in hosts)
        ]


# -- Arrow --------------------------------------------------------------------------------------------------
#: The columns of `ScanResult.to_arrow` (the CSV report's): the port result's fields, then the service
#: record's name, product, version, CPEs (space-separated) and banner; null where there is none.
ARROW_COLUMNS = (
    ("host", "string"),
    ("hostname", "string"),
    ("port", "uint16"),
    ("protocol", "string"),
    ("state", "string"),
    ("reason", "string"),
    ("rtt", "float64"),
    ("attempts", "uint8"),
    ("service", "string"),
    ("product", "string"),
    ("version", "string"),
    ("cpe", "string"),
    ("banner", "string"),
)


def _service_fields(svc: Mapping[str, Any]) -> tuple[Any, ...]:
    cpe = svc.get("cpe") or []
    return (
        svc.get("name"),
        svc.get("product"),
        svc.get("version"),
        cpe if isinstance(cpe, str) else " ".join(str(c) for c in cpe),
        svc.get("banner"),
    )


def ports_table(ports: Sequence[PortResult]) -> Any:
    """Port results as a pyarrow Table (`ARROW_COLUMNS`). The arrays are made from the columns'
    buffers (codes into small vocabularies, decoded by Arrow), never from an object per row."""
    from ._lazy import optional

    pa = optional("pyarrow", "arrow")
    pc = optional("pyarrow.compute", "arrow")
    cols = ports if isinstance(ports, PortColumns) else PortColumns.of(ports)
    c, start, n = cols._c, cols._start, len(cols)

    def raw(col: array[Any], kind: Any) -> Any:
        return pa.Array.from_buffers(kind, len(col), [None, pa.py_buffer(col)]).slice(start, n)

    def words(codes: array[Any], vocab: Sequence[str | None], kind: Any) -> Any:
        text = [None if w is None else utf8_text(w) for w in vocab]
        return pa.DictionaryArray.from_arrays(raw(codes, kind), pa.array(text, pa.string())).dictionary_decode()

    rtt = raw(c.rtt, pa.float64())
    try:
        port = raw(c.port, pa.int32()).cast(pa.uint16())
        attempts = raw(c.attempts, pa.int32()).cast(pa.uint8())
    except pa.ArrowInvalid as e:
        raise ValueError(f"a port or attempts value does not fit Arrow's uint16/uint8: {e}") from None
    arrays = {
        "host": words(c.host, [h for h, _ in c.hosts], pa.uint32()),
        "hostname": words(c.host, [name for _, name in c.hosts], pa.uint32()),
        "port": port,
        "protocol": words(c.protocol, c.words, pa.uint16()),
        "state": words(c.state, c.words, pa.uint16()),
        "reason": words(c.reason, c.words, pa.uint16()),
        "rtt": pc.if_else(pc.is_nan(rtt), pa.scalar(None, pa.float64()), rtt),
        "attempts": attempts,
    }
    rows = sorted(i for i in c.services if start <= i < start + n)
    names = [name for name, _ in ARROW_COLUMNS[8:]]
    if rows:  # the rare service records: their values, taken into place by a nullable index
        index, valid = array("i", bytes(4 * n)), bytearray((n + 7) // 8)
        for j, i in enumerate(rows):
            index[i - start] = j
            valid[(i - start) >> 3] |= 1 << ((i - start) & 7)
        take = pa.Array.from_buffers(pa.int32(), n, [pa.py_buffer(valid), pa.py_buffer(index)])
        values = list(zip(*(_service_fields(c.services[i]) for i in rows), strict=True))
        for name, vals in zip(names, values, strict=True):
            strings = [None if v is None else utf8_text(str(v)) for v in vals]
            arrays[name] = pc.take(pa.array(strings, pa.string()), take)
    else:
        for name in names:
            arrays[name] = pa.nulls(n, pa.string())
    schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in ARROW_COLUMNS])
    return pa.Table.from_arrays([arrays[name] for name, _ in ARROW_COLUMNS], schema=schema)


@dataclass(frozen=True, slots=True)
class HostResult:
    """A host: "up" (it answered, with its port counts and kept port results) or "down" (host
    discovery got no answer, so its ports were not scanned). ``reason`` says what decided it."""

    address: str
    hostname: str | None
    counts: Mapping[str, int]
    rtt: float | None
    #: a tuple, or a window on the scan's `PortColumns`
    ports: Sequence[PortResult] = ()
    state: str = "up"
    reason: str | None = None
    #: How the host was probed over TCP (keys in ``HOST_STATS``): probes and retransmissions sent,
    #: pilots, samples and lost (tries whose fate is known, and those dropped), ``drop_rate``,
    #: the paced ``rate`` at the end (None: never limited), ``rate_cuts``, and ``unresolved``
    #: (ports called filtered only because ``max_retries`` was reached while loss was high).
    #: None for a down host, or a result from an older file.
    stats: Mapping[str, Any] | None = None

    @property
    def open_ports(self) -> list[int]:
        return sorted(p.port for p in self.ports if p.state == "open")

    def to_dict(self) -> dict[str, Any]:
        d = {
            "address": self.address,
            "hostname": self.hostname,
            "state": self.state,
            "reason": self.reason,
            "counts": dict(self.counts),
            "rtt": self.rtt,
        }
        if self.stats is not None:
            d["stats"] = dict(self.stats)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], ports: Sequence[PortResult] = ()) -> HostResult:
        """A host of `to_dict`'s form; ``ports``: its port results (not part of the dict)."""
        return cls(
            address=d["address"],
            hostname=d.get("hostname"),
            counts=dict(d["counts"]),
            rtt=d.get("rtt"),
            ports=tuple(ports),
            state=d.get("state", "up"),
            reason=d.get("reason"),
            stats=None if d.get("stats") is None else dict(d["stats"]),
        )

    def _repr_html_(self) -> str:
        from .report.display import host_html

        return host_html(self)


class HostColumns(Sequence[HostResult]):
    """The hosts of a scan stored as columns, read as a sequence of `HostResult` built on access:
    a /16's 65,536 host records are a few arrays, not 65,536 objects with their own dicts. Equal to
    any sequence of the same host results."""

    def __init__(self, ports: PortColumns) -> None:
        """``ports``: the scan's port results, sorted (`PortColumns.sorted`): a host's are a window."""
        self.address: list[str] = []
        self.hostname: list[str | None] = []
        self.word = array("H")  # state and reason: indices into `words` (reason None is "")
        self.reason = array("H")
        self.counts = array("q")  # len(STATES) per host
        self.rtt = array("d")  # NaN: None
        self.has_stats = array("b")
        self.stats_int = array("Q")  # the integer fields of HOST_STATS per host, then the floats
        self.stats_float = array("d")
        self.words: list[str] = []
        self._word_ids: dict[str, int] = {}
        self._ports = ports
        # each host's window on `ports`: two integers a host, not a PortColumns object each
        self._bounds = ports._bounds()
        self.first = array("q")
        self.last = array("q")

    _INTS = tuple(i for i, k in enumerate(HOST_STATS) if k not in ("drop_rate", "rate"))
    _FLOATS = tuple(i for i, k in enumerate(HOST_STATS) if k in ("drop_rate", "rate"))

    def _code(self, word: str) -> int:
        return _intern(self.words, self._word_ids, word)

    def append(
        self,
        address: str,
        hostname: str | None,
        state: str,
        reason: str | None,
        counts: Sequence[int],
        rtt: float | None,
        stats: Sequence[Any] | None,
    ) -> None:
        first, last = self._bounds.get(address, (0, 0))
        self.first.append(first)
        self.last.append(last)
        self.address.append(address)
        self.hostname.append(hostname)
        self.word.append(self._code(state))
        self.reason.append(self._code("" if reason is None else reason))
        self.counts.extend(counts)
        self.rtt.append(_NO_RTT if rtt is None else rtt)
        self.has_stats.append(stats is not None)
        if stats is None:
            self.stats_int.extend(0 for _ in self._INTS)
            self.stats_float.extend(_NO_RTT for _ in self._FLOATS)
        else:
            self.stats_int.extend(stats[i] for i in self._INTS)
            self.stats_float.extend(_NO_RTT if stats[i] is None else stats[i] for i in self._FLOATS)

    def reorder(self, order: Sequence[int]) -> None:
        """Put the hosts in ``order`` (indices of the present order); the last step of building:
        the windows of hosts yet to come are forgotten."""
        self._bounds = {}
        k, ni, nf = len(STATES), len(self._INTS), len(self._FLOATS)
        self.address = [self.address[i] for i in order]
        self.hostname = [self.hostname[i] for i in order]
        for name in ("word", "reason", "rtt", "has_stats", "first", "last"):
            setattr(self, name, _take(getattr(self, name), order))
        for name, w in (("counts", k), ("stats_int", ni), ("stats_float", nf)):
            col = getattr(self, name)
            setattr(self, name, array(col.typecode, (col[i * w + j] for i in order for j in range(w))))

    def __len__(self) -> int:
        return len(self.address)

    def _row(self, i: int) -> HostResult:
        k, ni, nf = len(STATES), len(self._INTS), len(self._FLOATS)
        stats: dict[str, Any] | None = None
        if self.has_stats[i]:
            values: list[Any] = [None] * len(HOST_STATS)
            for j, at in enumerate(self._INTS):
                values[at] = self.stats_int[i * ni + j]
            for j, at in enumerate(self._FLOATS):
                v = self.stats_float[i * nf + j]
                values[at] = None if v != v else v
            stats = dict(zip(HOST_STATS, values, strict=True))
        rtt, reason, address = self.rtt[i], self.words[self.reason[i]], self.address[i]
        return HostResult(
            address=address,
            hostname=self.hostname[i],
            counts=dict(zip(STATES, self.counts[i * k : i * k + k], strict=True)),
            rtt=None if rtt != rtt else rtt,
            ports=self._ports.window(self.first[i], self.last[i]) if self.last[i] > self.first[i] else (),
            state=self.words[self.word[i]],
            reason=reason or None,
            stats=stats,
        )

    @overload
    def __getitem__(self, i: int) -> HostResult: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[HostResult, ...]: ...
    def __getitem__(self, i: int | slice) -> HostResult | tuple[HostResult, ...]:
        if isinstance(i, slice):
            return tuple(self._row(k) for k in range(*i.indices(len(self))))
        n = len(self)
        k = index(i)  # TypeError for what is not an integer, as a tuple raises
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(f"host index {i} out of range ({n} hosts)")
        return self._row(k)

    def __iter__(self) -> Iterator[HostResult]:
        for i in range(len(self)):
            yield self._row(i)

    def __eq__(self, other: object) -> bool:
        if other is self:
            return True
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"<HostColumns: {len(self)} hosts>"

    def up(self) -> int:
        """How many hosts are up, without building them."""
        code = self._word_ids.get("up")
        return 0 if code is None else self.word.count(code)

    def find(self, address: str) -> HostResult | None:
        try:
            return self._row(self.address.index(address))
        except ValueError:
            return None


@dataclass(frozen=True)
class ScanResult:
    """The outcome of a scan.

    ``ports`` holds the port results of the kept states (open by default), sorted by host and
    port; every state is counted in ``counts``. ``hosts`` lists the hosts that answered.
    ``status`` is "complete", or "cancelled" for a scan stopped early (Ctrl-C, ``cancel()``).
    ``hosts`` lists up hosts first, then the hosts discovery found down.
    """

    #: a `PortColumns` for a scan's result (port results built as they are read), or a tuple
    ports: Sequence[PortResult]
    #: a `HostColumns` for a scan's result, or a tuple
    hosts: Sequence[HostResult]
    counts: Mapping[str, int]
    status: str
    started: datetime
    finished: datetime
    hosts_total: int
    ports_per_host: int
    options: Mapping[str, Any] = field(default_factory=dict)
    stats: Mapping[str, Any] = field(default_factory=dict)
    #: What the user should know about the result's completeness (e.g. hosts whose loss left
    #: silent ports uncertain at ``max_retries``), each with what to do about it.
    warnings: tuple[str, ...] = ()

    @property
    def elapsed(self) -> float:
        return (self.finished - self.started).total_seconds()

    @property
    def hosts_up(self) -> int:
        if isinstance(self.hosts, HostColumns):
            return self.hosts.up()
        return sum(1 for h in self.hosts if h.state == "up")

    @property
    def hosts_down(self) -> int:
        """Hosts host discovery found down (counted even beyond those listed in ``hosts``)."""
        return int(self.stats.get("hosts_down") or 0)

    def __iter__(self) -> Iterator[PortResult]:
        return iter(self.ports)

    def __len__(self) -> int:
        return len(self.ports)

    def open_ports(self, host: str | None = None) -> list[PortResult]:
        if isinstance(self.ports, PortColumns):  # only the rows that match are built
            return self.ports.where(state="open", host=host)
        return [p for p in self.ports if p.state == "open" and (host is None or p.host == host)]

    def host(self, address: str) -> HostResult | None:
        if isinstance(self.hosts, HostColumns):
            return self.hosts.find(address)
        return next((h for h in self.hosts if h.address == address), None)

    def to_dict(self) -> dict[str, Any]:
        from .report.jsonfmt import result_to_dict

        return result_to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScanResult:
        """A result of `to_dict`'s form (its ``schema`` is checked by `portlens.load`, not here)."""
        c = PortTable()
        for p in d["ports"]:  # as `PortResult.from_dict` reads one, without the object
            rtt, service = p.get("rtt"), p.get("service")
            c.append(
                str(p["host"]),
                int(p["port"]),
                str(p.get("protocol", "tcp")),
                str(p["state"]),
                str(p.get("reason", "")),
                None if rtt is None else float(rtt),
                int(p.get("attempts", 1)),
                p.get("hostname"),
                None if service is None else dict(service),
            )
        ports = PortColumns(c)
        grouped = ports.by_host()
        return cls(
            ports=ports,
            hosts=tuple(HostResult.from_dict(h, grouped.get(h["address"], ())) for h in d["hosts"]),
            counts=dict(d["counts"]),
            status=d["status"],
            started=datetime.fromisoformat(d["started"]),
            finished=datetime.fromisoformat(d["finished"]),
            hosts_total=int(d["hosts_total"]),
            ports_per_host=int(d["ports_per_host"]),
            options=dict(d.get("options", {})),
            stats=dict(d.get("stats", {})),
            warnings=tuple(str(w) for w in d.get("warnings", ())),
        )

    def to_json(self, path: str | None = None) -> str:
        """The versioned JSON document (schema ``portlens.scan/1``); also written to ``path``."""
        from .report.jsonfmt import dumps_result, write_text

        text = dumps_result(self)
        if path is not None:
            write_text(path, text)
        return text

    def to_nmap_xml(self, path: str | None = None) -> str:
        """nmap's XML format (``-oX``), read by python-nmap, python-libnmap, DefectDojo and others;
        also written to ``path``. `portlens.load_nmap_xml` reads it back."""
        from .report.jsonfmt import write_text
        from .report.nmap_xml import to_nmap_xml

        text = to_nmap_xml(self)
        if path is not None:
            write_text(path, text)
        return text

    def to_markdown(self, path: str | None = None) -> str:
        """The scan as Markdown (summary and a table of the kept ports); also written to ``path``."""
        from .report.jsonfmt import write_text
        from .report.markdown import result_markdown

        text = result_markdown(self)
        if path is not None:
            write_text(path, text)
        return text

    def to_csv(self, path: str | None = None) -> str:
        """One CSV row per kept port result; also written to ``path``."""
        from .report.csvfmt import result_csv
        from .report.jsonfmt import write_text

        text = result_csv(self)
        if path is not None:
            write_text(path, text)
        return text

    def to_arrow(self) -> Any:
        """The kept port results as a pyarrow Table, one row per port, columns ``ARROW_SCHEMA``
        (the CSV report's, with service fields as columns); built from the columns without an
        object per row. Needs pyarrow (``pip install 'portlens[arrow]'``)."""
        return ports_table(self.ports)

    def to_pandas(self) -> Any:
        """The kept port results as a pandas DataFrame (one row per port; service fields as
        columns), converted from `to_arrow` (needs the ``pandas`` extra, which brings pyarrow)."""
        from .report.display import ports_frame

        return ports_frame(self, "pandas")

    def to_polars(self) -> Any:
        """`to_pandas`, as a polars DataFrame (from `to_arrow`; the ``polars`` extra)."""
        from .report.display import ports_frame

        return ports_frame(self, "polars")

    def _repr_html_(self) -> str:
        from .report.display import result_html

        return result_html(self)

    def summary(self) -> str:
        """A short human-readable table."""
        from .report.text import summary_table

        return summary_table(self)

    def __repr__(self) -> str:
        c = self.counts
        return (
            f"<ScanResult {self.status}: {self.hosts_up}/{self.hosts_total} hosts up, "
            f"{c.get('open', 0)} open, {c.get('closed', 0)} closed, {c.get('filtered', 0)} filtered "
            f"in {self.elapsed:.2f}s>"
        )


def build_result(
    ports: Iterable[PortResult],
    summary: Mapping[str, Any],
    options: Mapping[str, Any],
    started: datetime,
    finished: datetime,
    strings: dict[str, str] | None = None,
) -> ScanResult:
    """Assemble a ScanResult from streamed port results (a `PortColumns`, or any port results) and
    the engine's summary; ``strings`` shares address strings with the port results. Ports and hosts
    are kept as columns (`PortColumns`, `HostColumns`)."""
    found = ports if isinstance(ports, PortColumns) else PortColumns.of(ports)
    keys: dict[str, tuple[int, int]] = {}  # one address parse per host
    ports_sorted = found.sorted(keys)
    share = (strings if strings is not None else {}).setdefault
    for address, _ in ports_sorted._c.hosts:
        share(address, address)
    hosts = HostColumns(ports_sorted)
    for address, hostname, state, reason, counts, srtt, host_stats in summary["hosts"]:
        hosts.append(share(address, address), hostname, state, reason, counts, srtt, host_stats)
    # up hosts first, then by address: one integer key a host
    up = hosts._word_ids.get("up")

    def order_key(i: int) -> int:
        address = hosts.address[i]
        version, number = keys.get(address) or addr_key(address)
        return ((hosts.word[i] != up) << 140) | (version << 130) | number

    hosts.reorder(_order(map(order_key, range(len(hosts))), len(hosts)))
    return ScanResult(
        ports=ports_sorted,
        hosts=hosts,
        counts=dict(summary["counts"]),
        status=summary["status"],
        started=started,
        finished=finished,
        hosts_total=int(summary["hosts_total"]),
        ports_per_host=int(summary["ports_per_host"]),
        options=dict(options),
        stats={
            **dict(summary["progress"]),
            "hosts_down": summary.get("hosts_down"),
            "fd_limit": summary["fd_limit"],
            "max_concurrency": summary["max_concurrency"],
            "scan_rate": summary["scan_rate"],
            "scan_rate_cuts": summary["scan_rate_cuts"],
        },
        warnings=tuple(summary["warnings"]),
    )


# -- one result pipeline: the order of results, and merging the results of parts of one scan ---------------
def addr_key(address: str) -> tuple[int, int]:
    """Sort key of an address: IPv4 before IPv6, numerically; anything else (a name) last."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return (9, 0)
    return (ip.version, int(ip))


def port_key(p: PortResult) -> tuple[tuple[int, int], int, str]:
    """Sort key of a port result: by address (`addr_key`), port, protocol."""
    return (addr_key(p.host), p.port, p.protocol)


def host_key(h: HostResult) -> tuple[bool, tuple[int, int]]:
    """Sort key of a host: up hosts first, then by address."""
    return (h.state != "up", addr_key(h.address))


def by_host(ports: Iterable[PortResult]) -> dict[str, list[PortResult]]:
    """Port results grouped by host, in the order given."""
    out: dict[str, list[PortResult]] = {}
    for p in ports:
        out.setdefault(p.host, []).append(p)
    return out


def add_counts(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Per-state counts summed."""
    out: dict[str, int] = {}
    for c in counts:
        for state, n in c.items():
            out[state] = out.get(state, 0) + int(n)
    return out


def add_host_stats(acc: Mapping[str, Any] | None, part: Mapping[str, Any]) -> dict[str, Any]:
    """One host's probing statistics over parts of a scan: counters summed, the drop rate
    recomputed from them, the slowest paced rate kept (None: no part was ever limited)."""
    out = dict(acc or {})
    for k, v in part.items():
        if k not in ("drop_rate", "rate"):
            out[k] = int(out.get(k) or 0) + int(v or 0)
    rates = [r for r in ((acc or {}).get("rate"), part.get("rate")) if r is not None]
    out["rate"] = min(rates) if rates else None
    out["drop_rate"] = out["lost"] / out["samples"] if out.get("samples") else None
    return out


def merge_hosts(
    parts: Iterable[Iterable[HostResult]],
    ports: Mapping[str, Sequence[PortResult]],
    hostnames: Mapping[str, str] | None = None,
) -> tuple[HostResult, ...]:
    """One host per address over the parts (in their order): counts summed, "up" if any part found
    it up (with that part's reason), one RTT (the first part's that has one), statistics added;
    ``ports`` by host (`by_host`), ``hostnames`` as resolved once for the whole scan."""
    names = hostnames or {}
    acc: dict[str, dict[str, Any]] = {}
    for part in parts:
        for h in part:
            e = acc.get(h.address)
            if e is None:
                e = acc[h.address] = {
                    "hostname": names.get(h.address, h.hostname),
                    "state": h.state,
                    "reason": h.reason,
                    "counts": [],
                    "rtt": None,
                    "stats": None,
                }
            elif h.state == "up" and e["state"] != "up":
                e["state"], e["reason"] = h.state, h.reason
            e["counts"].append(h.counts)
            if e["rtt"] is None:
                e["rtt"] = h.rtt
            if h.stats is not None:
                e["stats"] = add_host_stats(e["stats"], h.stats)
    hosts = [
        HostResult(
            address=address,
            hostname=e["hostname"],
            counts=add_counts(e["counts"]),
            rtt=e["rtt"],
            ports=tuple(ports.get(address, ())),
            state=e["state"],
            reason=e["reason"],
            stats=e["stats"],
        )
        for address, e in acc.items()
    ]
    return tuple(sorted(hosts, key=host_key))


def merge(parts: Sequence[ScanResult], **fields: Any) -> ScanResult:
    """One result from the results of parts of one scan (Dask shards, per-host scans): ports sorted
    (`port_key`), hosts merged by address (`merge_hosts`), counts summed, the earliest start and the
    latest end, "complete" only if every part is. ``fields`` set any other field of the result
    (``hosts_total``, ``options``, ``stats``, ``status``...), which otherwise come from the parts.
    """
    if not parts and "started" not in fields:
        raise ValueError("merge() of no parts needs started= and finished=")
    columns = PortTable()  # the parts' port results as columns, sorted (`port_key`)
    for r in parts:
        for p in r.ports:
            columns.add(p)
    ports = PortColumns(columns.sorted())
    hostnames = fields.pop("hostnames", None)
    values: dict[str, Any] = {
        "ports": ports,
        "hosts": merge_hosts((r.hosts for r in parts), ports.by_host(), hostnames),
        "counts": add_counts(r.counts for r in parts) if parts else {"open": 0, "closed": 0, "filtered": 0},
        "status": "complete" if all(r.status == "complete" for r in parts) else "cancelled",
        "hosts_total": sum(r.hosts_total for r in parts),
        "ports_per_host": parts[0].ports_per_host if parts else 0,
        "options": dict(parts[0].options) if parts else {},
        "stats": {},
        "warnings": tuple(dict.fromkeys(w for r in parts for w in r.warnings)),
    }
    if parts:
        values["started"] = min(r.started for r in parts)
        values["finished"] = max(r.finished for r in parts)
    values.update(fields)
    return ScanResult(**values)

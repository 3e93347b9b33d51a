"""Scale a scan out on a Dask cluster: coarse shards, each run by the Rust engine on a worker.

    from dask.distributed import Client
    import portlens

    with Client("tcp://scheduler:8786") as client:
        result = portlens.scan("198.18.0.0/16", ports="top-1000", executor=client)

The client resolves and scope-checks the targets once (nothing is sent), then cuts the
(address × port) space into shards of about ``shard_probes`` probes: blocks of consecutive
addresses × ranges of the port list. Each shard is a plain dict that a worker turns into an
ordinary `portlens.scan`; the worker sends back ``ScanResult.to_dict()``. The client merges every
shard exactly once, keyed by shard id, into one `ScanResult`.

Why nothing is lost or counted twice: a shard covers a fixed set of (address, port) pairs, so
running it again after a worker died, or after it raised, covers the same pairs and nothing else;
the merge accepts exactly one delivery per shard id and ignores any other, and the scan is
complete only when every shard id has been merged. A shard whose worker died is rescheduled by
Dask (``distributed.scheduler.allowed-failures``); a shard that raised, came back incomplete, or
was given up by Dask (``KilledWorker``) is resubmitted here, up to ``retries`` times.

Limits that promise something about the load on the network travel split: ``rate`` is divided by
the number of shards allowed to run at once (the cluster's threads, or the shards if fewer), and
at most that many are ever submitted, so the cluster as a whole never exceeds it; ``max_per_host``
is divided the same way when one host's ports span several shards. ``concurrency`` (sockets in
flight) is a limit of each worker process, as on one machine, and travels unchanged.

With ``save=`` the scan is recorded in the history store when it starts and every merged shard's
ports are written as they arrive, as a local scan's batches are.

This module is importable without Dask; Dask is imported when a scan starts
(``pip install 'portlens[dask]'``).
"""

from __future__ import annotations

import dataclasses
import importlib
import ipaddress
import math
import os
import queue
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

import portlens
from portlens import HostResult, PortResult, Progress, ScanResult

from ._options import check, check_all
from ._scan import _request, _sink

__all__ = [
    "DEFAULT_SHARD_PROBES",
    "DistributedScan",
    "PortChunk",
    "ShardFailure",
    "ShardPlan",
    "connect",
    "plan",
    "run_shard",
    "scan",
    "start",
]

ProgressCallback = Callable[[Progress], object]

#: Probes (host × port pairs) per shard: a few seconds of engine work. Besides Dask's per-task cost
#: (milliseconds), every shard pays fixed waits of its own engine: host discovery waits about a
#: second for silent addresses, RTTs are learnt afresh, and the last silent probes wait out a
#: timeout and a retry. Large shards amortise them (see bench/dask_overhead.py).
DEFAULT_SHARD_PROBES = 1 << 18
#: The smallest shard a rate limit may shrink shards to.
MIN_SHARD_PROBES = 256
#: Under a rate limit, shards shrink so that one takes at most this long at its share of the rate.
RATE_LIMITED_SHARD_SECONDS = 30.0
#: Seconds to wait for a finished shard's result to arrive (it may be recomputed if its worker died).
FETCH_TIMEOUT = 120.0

# Options that the client applies before cutting shards: they must not be applied twice.
_CLIENT_SIDE = ("exclude", "exclude_ports")


def _dask() -> Any:
    """The ``distributed`` module, imported on first use so that ``import portlens`` never needs it."""
    try:
        return importlib.import_module("distributed")
    except ImportError as e:
        raise portlens.OptionError(
            "scanning on a Dask cluster needs Dask: pip install 'portlens[dask]'", item="executor"
        ) from e


def connect(address: str, timeout: float = 30.0) -> Any:
    """A ``dask.distributed.Client`` connected to the scheduler at ``address`` (``tcp://host:8786``)."""
    dask = _dask()
    try:
        return dask.Client(address, timeout=timeout)
    except (OSError, TimeoutError) as e:
        raise portlens.ScanError(f"cannot reach the Dask scheduler at {address!r}: {e}") from e


# --------------------------------------------------------------------------------------- shards


def _ip(version: int, value: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)


def _address_blocks(intervals: Sequence[tuple[str, str, int]], size: int) -> Iterator[list[str]]:
    """Consecutive runs of ``size`` addresses (the last one shorter) as target items, lazily:
    a /8 is a handful of intervals, never a list of addresses."""
    block: list[str] = []
    room = size
    for first, last, _count in intervals:
        a = ipaddress.ip_address(first)
        lo, hi = int(a), int(ipaddress.ip_address(last))
        while lo <= hi:
            take = min(room, hi - lo + 1)
            start, end = _ip(a.version, lo), _ip(a.version, lo + take - 1)
            block.append(str(start) if take == 1 else f"{start}-{end}")
            lo += take
            room -= take
            if room == 0:
                yield block
                block, room = [], size
    if block:
        yield block


def _port_spec(ports: Sequence[int]) -> str:
    """Sorted ports as a compact specification: ``1-1024,8080``."""
    parts: list[str] = []
    i = 0
    while i < len(ports):
        j = i
        while j + 1 < len(ports) and ports[j + 1] == ports[j] + 1:
            j += 1
        parts.append(str(ports[i]) if i == j else f"{ports[i]}-{ports[j]}")
        i = j + 1
    return ",".join(parts)


def _split(items: Sequence[int], n: int) -> list[Sequence[int]]:
    """``items`` in ``n`` consecutive chunks whose sizes differ by at most one."""
    q, r = divmod(len(items), n)
    out, at = [], 0
    for i in range(n):
        size = q + (1 if i < r else 0)
        out.append(items[at : at + size])
        at += size
    return out


@dataclass(frozen=True)
class PortChunk:
    """A consecutive range of one protocol's port list."""

    protocol: str
    spec: str
    count: int


@dataclass(frozen=True)
class ShardPlan:
    """How a scan is cut: ``port_chunks`` × address blocks of ``hosts_per_shard`` addresses.

    Iterating yields the shards lazily, as plain picklable dicts ``{"id", "chunk", "targets",
    "ports", "probes", "options"}``, port range by port range (so that the shards running at the
    same time hold different hosts, as the engine's probe order spreads the load on each host).
    """

    intervals: tuple[tuple[str, str, int], ...]
    hostnames: Mapping[str, str]
    hosts: int
    ports_per_host: int
    port_chunks: tuple[PortChunk, ...]
    hosts_per_shard: int
    shard_probes: int
    slots: int
    options: Mapping[str, Any]
    recorded: Mapping[str, Any] = field(default_factory=dict)  # the scan's options, as a local scan records them

    @property
    def address_blocks(self) -> int:
        return math.ceil(self.hosts / self.hosts_per_shard) if self.hosts else 0

    @property
    def shards(self) -> int:
        return self.address_blocks * len(self.port_chunks)

    @property
    def probes(self) -> int:
        """Probes if every host is port-scanned (host discovery may leave fewer)."""
        return self.hosts * self.ports_per_host

    @property
    def split_limits(self) -> bool:
        """Whether a limit (``rate``, ``max_per_host``) was divided among concurrent shards."""
        return self.options.get("rate") is not None or (
            self.options.get("max_per_host") is not None and len(self.port_chunks) > 1
        )

    def __iter__(self) -> Iterator[dict[str, Any]]:
        sid = 0
        for ci, chunk in enumerate(self.port_chunks):
            options = dict(self.options)
            if "protocol" in self.recorded:
                options["protocol"] = chunk.protocol
            for block in _address_blocks(self.intervals, self.hosts_per_shard):
                yield {
                    "id": sid,
                    "chunk": ci,
                    "targets": block,
                    "ports": chunk.spec,
                    "probes": sum(_range_len(t) for t in block) * chunk.count,
                    "options": options,
                }
                sid += 1


def _range_len(item: str) -> int:
    """Number of addresses in one target item (``a-b`` or ``a``)."""
    if "-" not in item:
        return 1
    first, last = item.split("-", 1)
    return int(ipaddress.ip_address(last)) - int(ipaddress.ip_address(first)) + 1


def plan(
    targets: str | Iterable[str],
    ports: str | Iterable[int] = "top-1000",
    *,
    slots: int = 1,
    shard_probes: int = DEFAULT_SHARD_PROBES,
    **options: Any,
) -> ShardPlan:
    """Validate a scan, resolve its targets (nothing is sent) and cut it into shards.

    ``slots``: how many shards may run at once (the cluster's threads); ``rate`` is divided by
    it (by the number of shards when there are fewer) and, when a host's ports span shards,
    ``max_per_host`` too.

    Sizing: each protocol's port list is cut into equal consecutive ranges of at most
    ``shard_probes`` ports, an address block holds ``shard_probes // ports in the largest range``
    addresses (at least one), so a shard is about ``shard_probes`` probes. Under a ``rate`` limit,
    shards also shrink to a ``slots``-th of the scan, so that every slot gets a share of the rate,
    and to ``RATE_LIMITED_SHARD_SECONDS`` of work at their share (neither below
    ``MIN_SHARD_PROBES``), so that a retry or a progress step is never hours long.

    Decisions a local scan takes from the whole target set are taken here, once, and sent with
    every shard: host discovery (by default on when there is more than one address) stays on
    for a shard of one address.
    """
    shard_probes = check("shard_probes", shard_probes)
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise portlens.OptionError(f"slots must be an integer of at least 1, got {slots!r}", item="slots")
    opts = dict(options)
    request = _request(targets, ports, opts)  # validates every option, normalises opts in place
    resolved = request.resolve()
    recorded = dict(request.options())
    hosts = int(resolved["total"])
    protocol = recorded.get("protocol", "tcp")
    lists = []
    if protocol in ("tcp", "both"):
        lists.append(("tcp", tuple(int(p) for p in request.ports)))
    if protocol in ("udp", "both"):
        lists.append(("udp", tuple(int(p) for p in request.udp_ports)))

    shard_opts = {k: v for k, v in opts.items() if k not in _CLIENT_SIDE}
    if "discovery" in recorded and shard_opts.get("discovery") is None:
        shard_opts["discovery"] = hosts > 1  # the engine's default, decided on the whole target set
    rate = shard_opts.get("rate")
    size = shard_probes
    if rate is not None:
        # Under a rate every slot should get a shard (the rate is shared among them), and a shard
        # should be at most RATE_LIMITED_SHARD_SECONDS long at its share.
        probes = hosts * sum(len(plist) for _, plist in lists)
        size = min(size, max(MIN_SHARD_PROBES, math.ceil(probes / slots)))
        size = min(size, max(MIN_SHARD_PROBES, int(float(rate) / slots * RATE_LIMITED_SHARD_SECONDS)))
    chunks = [
        PortChunk(proto, _port_spec(c), len(c))
        for proto, plist in lists
        if plist
        for c in _split(plist, math.ceil(len(plist) / size))
    ]
    hosts_per_shard = max(1, size // max((c.count for c in chunks), default=1))
    shards = math.ceil(hosts / hosts_per_shard) * len(chunks)
    if rate is not None:
        # At most min(slots, shards) shards run at once (one attempt per shard, `slots` in flight):
        # each gets that share, so a scan of fewer shards than slots still runs at the full rate.
        shard_opts["rate"] = float(rate) / max(1, min(slots, shards))

    mph = shard_opts.get("max_per_host")
    if mph is not None and len(chunks) > 1:
        # Up to min(chunks, slots) shards of the same host may run at once: share the cap.
        shard_opts["max_per_host"] = max(1, int(mph) // min(len(chunks), slots))
    return ShardPlan(
        intervals=tuple((str(a), str(b), int(n)) for a, b, n in resolved["intervals"]),
        hostnames=dict(resolved["hostnames"]),
        hosts=hosts,
        ports_per_host=sum(len(plist) for _, plist in lists),
        port_chunks=tuple(chunks),
        hosts_per_shard=hosts_per_shard,
        shard_probes=size,
        slots=slots,
        options=shard_opts,
        recorded=recorded,
    )


def run_shard(shard: Mapping[str, Any]) -> dict[str, Any]:
    """Run one shard on this process (a Dask worker) and return plain data.

    Idempotent in what it covers: the same shard always probes the same (address, port) pairs, so
    a rerun after a failure reports on those pairs and no others.
    """
    result = portlens.scan(list(shard["targets"]), str(shard["ports"]), **dict(shard["options"]))
    return {"id": shard["id"], "worker": f"{socket.gethostname()}:{os.getpid()}", "result": result.to_dict()}


# --------------------------------------------------------------------------------------- driver


@dataclass(frozen=True)
class ShardFailure:
    """One failed attempt of a shard (it was resubmitted unless ``attempt`` was the last)."""

    shard: int
    attempt: int
    error: str
    kind: str


def _add_host_stats(acc: dict[str, Any] | None, shard: Mapping[str, Any]) -> dict[str, Any]:
    """One host's probing statistics over its port-range shards: counters summed, the drop rate
    recomputed from them, the slowest paced rate kept (None: no shard was ever limited)."""
    out = dict(acc or {})
    for k, v in shard.items():
        if k not in ("drop_rate", "rate"):
            out[k] = int(out.get(k) or 0) + int(v or 0)
    rates = [r for r in ((acc or {}).get("rate"), shard.get("rate")) if r is not None]
    out["rate"] = min(rates) if rates else None
    out["drop_rate"] = out["lost"] / out["samples"] if out.get("samples") else None
    return out


@dataclass
class _Merged:
    """What the result keeps of a shard besides its port results."""

    worker: str
    chunk: int
    planned: int  # probes if every host of the shard is port-scanned
    counts: dict[str, int]
    hosts: list[dict[str, Any]]
    stats: dict[str, Any]
    warnings: list[str] = dataclasses.field(default_factory=list)


@dataclass
class _Flight:
    shard: dict[str, Any]
    future: Any
    attempt: int
    submitted: float = field(default_factory=time.monotonic)


def _addr_key(address: str) -> tuple[int, int]:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return (9, 0)
    return (ip.version, int(ip))


class DistributedScan:
    """A scan running on a Dask cluster; the same interface as `portlens.Scan`.

    Iterate it to get port results shard by shard as they are merged, then call `result()`;
    `cancel()` stops it (the shards merged so far stay, status "cancelled").
    ``Progress.concurrency`` counts the shards in flight. With a ``sink`` (a
    `portlens.store.ScanWriter`) every merged shard's ports are written as they arrive, and the
    result when it is built, exactly as a local scan saved with ``save=``.
    """

    def __init__(
        self,
        client: Any,
        shard_plan: ShardPlan,
        options: Mapping[str, Any],
        *,
        progress: ProgressCallback | None = None,
        progress_interval: float = 0.5,
        retries: int = 3,
        window: int | None = None,
        sink: Any = None,
    ) -> None:
        self._client = client
        self._sink = sink
        self.plan = shard_plan
        self._options = dict(options)
        self._callback = progress
        self._interval = progress_interval
        self._retries = retries
        # With a divided limit never more shards in flight than slots: the limit then holds even if
        # workers join during the scan. Without one, a second round keeps every thread busy.
        self._window = window or (shard_plan.slots if shard_plan.split_limits else 2 * shard_plan.slots)
        self._id = uuid.uuid4().hex[:12]
        self._shards = iter(shard_plan)
        self._flights: dict[int, _Flight] = {}
        self._events: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self._merged: dict[int, _Merged] = {}  # shard id -> its one accepted delivery
        self._found: list[PortResult] = []
        self._pending: deque[PortResult] = deque()
        self._duplicates = 0
        self._submissions = 0
        self.failures: list[ShardFailure] = []
        self._started = datetime.now(timezone.utc)
        self._t0 = time.monotonic()
        self._last_report = 0.0
        self._ended = False
        self._cancelled = False
        self._result: ScanResult | None = None
        self.owns_client = False  # set by `start` when it connected the client itself
        self._fill()
        self._ended = not self._flights

    # -- submission ------------------------------------------------------------------------------
    def _key(self, sid: int, attempt: int) -> str:
        return f"portlens-shard-{self._id}-{sid}-a{attempt}"

    def _submit(self, shard: dict[str, Any], attempt: int) -> None:
        sid = int(shard["id"])
        # Dask's own retries stay off: a failed attempt comes back here, is recorded, and is
        # resubmitted under a new key, so there is one code path for every kind of failure.
        future = self._client.submit(run_shard, shard, key=self._key(sid, attempt), pure=False, retries=0)
        self._flights[sid] = _Flight(shard, future, attempt)
        self._submissions += 1
        future.add_done_callback(lambda f, sid=sid: self._events.put((sid, f)))

    def _fill(self) -> None:
        while len(self._flights) < self._window:
            shard = next(self._shards, None)
            if shard is None:
                return
            self._submit(shard, 1)

    # -- settling --------------------------------------------------------------------------------
    def _step(self, timeout: float) -> None:
        try:
            sid, future = self._events.get(timeout=timeout)
        except queue.Empty:
            if self._sink is not None:
                self._sink.add(())  # a pending batch whose time has come
            self._report()
            return
        flight = self._flights.get(sid)
        if flight is None or flight.future is not future:
            return  # a cancelled or superseded attempt
        del self._flights[sid]
        try:
            self._settle(flight)
        except BaseException:
            self._cancelled = True
            self._abort()
            raise
        self._fill()
        if not self._flights:
            self._ended = True
            self._close_client()
        self._report(force=self._ended)

    def _settle(self, flight: _Flight) -> None:
        sid = int(flight.shard["id"])
        future = flight.future
        try:
            payload = future.result(timeout=FETCH_TIMEOUT)
            if payload.get("id") != sid:
                raise portlens.ScanError(f"shard {sid}: a worker answered for shard {payload.get('id')!r}")
            status = payload["result"]["status"]
            if status != "complete":
                raise portlens.ScanError(f"shard {sid} came back {status!r}")
        except portlens.InputError:
            raise  # deterministic: the same shard would fail again
        except Exception as e:  # a lost worker, KilledWorker, a cancelled future, an engine error
            self._retry(flight, e)
            return
        finally:
            future.release()
        self._merge(flight.shard, payload)

    def _retry(self, flight: _Flight, error: BaseException) -> None:
        sid = int(flight.shard["id"])
        self.failures.append(ShardFailure(sid, flight.attempt, str(error) or repr(error), type(error).__name__))
        if flight.attempt > self._retries:
            raise portlens.ScanError(
                f"shard {sid} (targets {', '.join(flight.shard['targets'])}, ports {flight.shard['ports']}) "
                f"failed {flight.attempt} times; last error: {type(error).__name__}: {error}"
            ) from error
        self._submit(flight.shard, flight.attempt + 1)

    def _merge(self, shard: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
        sid = int(shard["id"])
        if sid in self._merged:
            # Exactly once per shard id: a second delivery of a deterministic shard is the same
            # data again and must not be counted twice.
            self._duplicates += 1
            return
        r = payload["result"]
        names = self.plan.hostnames
        ports = []
        for p in r["ports"]:
            port = PortResult.from_dict(p)
            hostname = names.get(port.host, port.hostname)
            if hostname != port.hostname:
                port = dataclasses.replace(port, hostname=hostname)
            ports.append(port)
        self._merged[sid] = _Merged(
            worker=str(payload.get("worker", "")),
            chunk=int(shard["chunk"]),
            planned=int(shard["probes"]),
            counts={k: int(v) for k, v in r["counts"].items()},
            hosts=list(r["hosts"]),
            stats=dict(r["stats"]),
            warnings=[str(w) for w in r.get("warnings", ())],
        )
        self._found.extend(ports)
        self._pending.extend(ports)
        if self._sink is not None:
            self._sink.add(ports)

    def _abort(self) -> None:
        futures = [f.future for f in self._flights.values()]
        self._flights.clear()
        self._shards = iter(())
        self._ended = True
        if futures:
            try:
                self._client.cancel(futures)
            except Exception:  # the cluster may be gone already; nothing is left to stop then
                pass
        self._close_client()

    def _close_client(self) -> None:
        if self.owns_client:
            self.owns_client = False
            self._client.close()

    # -- streaming -------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[PortResult]:
        return self

    def __next__(self) -> PortResult:
        while not self._pending:
            if self._ended:
                raise StopIteration
            self._step(self._interval)
        return self._pending.popleft()

    @property
    def found(self) -> list[PortResult]:
        """Port results merged so far."""
        return list(self._found)

    @property
    def shard_workers(self) -> dict[int, str]:
        """For each merged shard, the worker (``host:pid``) whose delivery was accepted."""
        return {sid: m.worker for sid, m in self._merged.items()}

    # -- control ---------------------------------------------------------------------------------
    def progress(self) -> Progress:
        merged = self._merged.values()
        done = sum(int(m.stats.get("done") or 0) for m in merged)
        # finished shards count what they really probed (discovery may have left hosts out),
        # the others what they would probe
        total = self.plan.probes - sum(m.planned - int(m.stats.get("total") or 0) for m in merged)
        elapsed = time.monotonic() - self._t0
        return Progress(
            done=done,
            total=total,
            open=sum(m.counts.get("open", 0) for m in merged),
            rate=done / elapsed if elapsed > 0 else 0.0,
            elapsed=elapsed,
            retries=sum(int(m.stats.get("retries") or 0) for m in merged),
            concurrency=len(self._flights),
        )

    def _report(self, force: bool = False) -> None:
        if self._callback is None:
            return
        now = time.monotonic()
        if force or now - self._last_report >= self._interval:
            self._last_report = now
            self._callback(self.progress())

    def cancel(self) -> None:
        """Stop now: shards in flight are cancelled; `result()` returns the merged ones."""
        if not self._ended or self._flights:
            self._cancelled = True
        self._abort()

    def result(self) -> ScanResult:
        """Wait for every shard (reading any results not yet iterated) and return the merge."""
        if self._result is None:
            while not self._ended:
                self._step(self._interval)
            self._pending.clear()
            self._result = self._build()
            if self._sink is not None:
                self._sink.finish(self._result)  # "complete", or "incomplete" when cancelled
        return self._result

    @property
    def saved_id(self) -> int | None:
        """The id of this scan in the store it is saved to (``save=``), else None."""
        return None if self._sink is None else int(self._sink.id)

    def _close_sink(self) -> None:
        """Write what was merged and leave the saved scan "incomplete" (no result was built)."""
        if self._sink is not None and self._result is None:
            self._sink.close()

    def _build(self) -> ScanResult:
        merged = [self._merged[sid] for sid in sorted(self._merged)]
        complete = not self._cancelled and len(merged) == self.plan.shards
        counts: dict[str, int] = {}
        for m in merged:
            for state, n in m.counts.items():
                counts[state] = counts.get(state, 0) + n
        if not merged:
            counts = {"open": 0, "closed": 0, "filtered": 0}
        ports = tuple(sorted(self._found, key=lambda p: (_addr_key(p.host), p.port, p.protocol)))
        by_host: dict[str, list[PortResult]] = {}
        for p in ports:
            by_host.setdefault(p.host, []).append(p)
        finished = datetime.now(timezone.utc)
        elapsed = (finished - self._started).total_seconds()
        return ScanResult(
            ports=ports,
            hosts=self._hosts(merged, by_host),
            counts=counts,
            status="complete" if complete else "cancelled",
            started=self._started,
            finished=finished,
            hosts_total=self.plan.hosts,
            ports_per_host=self.plan.ports_per_host,
            options=self._options,
            stats=self._stats(merged, elapsed),
            warnings=tuple(dict.fromkeys(w for m in merged for w in m.warnings)),
        )

    def _hosts(self, merged: list[_Merged], by_host: Mapping[str, list[PortResult]]) -> tuple[HostResult, ...]:
        """One host per address over its port-range shards: counts summed, "up" if any shard found
        it up (with that shard's reason), one RTT (the lowest shard id's)."""
        acc: dict[str, dict[str, Any]] = {}
        for m in merged:
            for h in m.hosts:
                address = h["address"]
                state = h.get("state", "up")
                e = acc.get(address)
                if e is None:
                    e = acc[address] = {
                        "hostname": self.plan.hostnames.get(address, h.get("hostname")),
                        "state": state,
                        "reason": h.get("reason"),
                        "counts": {},
                        "rtt": None,
                        "stats": None,
                    }
                elif state == "up" and e["state"] != "up":
                    e["state"], e["reason"] = state, h.get("reason")
                for k, n in h["counts"].items():
                    e["counts"][k] = e["counts"].get(k, 0) + int(n)
                if e["rtt"] is None:
                    e["rtt"] = h.get("rtt")
                if h.get("stats") is not None:
                    e["stats"] = _add_host_stats(e["stats"], h["stats"])
        hosts = [
            HostResult(
                address=address,
                hostname=e["hostname"],
                counts=e["counts"],
                rtt=e["rtt"],
                ports=tuple(by_host.get(address, ())),
                state=e["state"],
                reason=e["reason"],
                stats=e["stats"],
            )
            for address, e in acc.items()
        ]
        return tuple(sorted(hosts, key=lambda h: (h.state != "up", _addr_key(h.address))))

    def _stats(self, merged: list[_Merged], elapsed: float) -> dict[str, Any]:
        """The engine's stats over all shards: counters summed, limits as min/max, per-address
        counts (``hosts_down``) from the first port range only (each address once), plus the
        shards' own bookkeeping."""
        stats: dict[str, Any] = {}
        for key in dict.fromkeys(k for m in merged for k in m.stats):
            values = [m.stats.get(key) for m in merged]
            if key == "hosts_down":
                first = [m.stats.get(key) for m in merged if m.chunk == 0]
                stats[key] = None if all(v is None for v in first) else sum(int(v or 0) for v in first)
            elif key in ("fd_limit",):
                stats[key] = min((v for v in values if v is not None), default=None)
            elif key in ("concurrency", "max_concurrency"):
                stats[key] = max((v for v in values if v is not None), default=None)
            elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                stats[key] = sum(values)
            else:
                stats[key] = next((v for v in values if v is not None), None)
        done = int(stats.get("done") or 0)
        stats.update(
            {
                "elapsed": elapsed,
                "rate": done / elapsed if elapsed > 0 else 0.0,
                "shards": self.plan.shards,
                "shards_merged": len(merged),
                "shard_submissions": self._submissions,
                "shard_failures": len(self.failures),
                "duplicate_deliveries": self._duplicates,
                "workers_used": len({m.worker for m in merged}),
            }
        )
        return stats

    def __enter__(self) -> DistributedScan:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._ended:
            self.cancel()
        self._close_sink()


# --------------------------------------------------------------------------------------- entry points


def _slots(client: Any, timeout: float) -> int:
    """Threads of the cluster's workers (waiting up to ``timeout`` for a first worker)."""
    nthreads = dict(client.nthreads())
    if not nthreads:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (TimeoutError, OSError) as e:
            raise portlens.ScanError(f"no Dask worker joined within {timeout:g} s") from e
        nthreads = dict(client.nthreads())
    return max(1, sum(int(n) for n in nthreads.values()))


def start(
    targets: str | Iterable[str],
    ports: str | Iterable[int] = "top-1000",
    *,
    executor: Any,
    progress: ProgressCallback | None = None,
    shard_probes: int = DEFAULT_SHARD_PROBES,
    retries: int = 3,
    workers_timeout: float = 60.0,
    save: Any = None,
    profile: str | None = None,
    **options: Any,
) -> DistributedScan:
    """Start a scan on the Dask cluster of ``executor``: a ``dask.distributed.Client``, or a
    scheduler address (``tcp://host:8786``) for which a client is connected and then closed when
    the scan ends.

    Options are those of `portlens.scan`, plus ``shard_probes`` (the size of a shard, see
    `plan`), ``retries`` (resubmissions of a failed shard) and ``workers_timeout`` (seconds to
    wait for a first worker). Input errors are raised here, before any shard is submitted.

    ``save`` and ``profile`` as for `portlens.scan`: the scan is recorded in the store when it
    starts, each shard's ports are written as the shard is merged, and the result at the end (a scan
    cancelled or failed stays "incomplete" with the shards merged until then).
    """
    if profile is not None and save is None:
        raise TypeError("profile= names the target set a saved scan belongs to: give save= too")
    # every option is checked before a client connects or a shard exists (plan() checks them again)
    check_all(dict(options))
    shard_probes, retries = check("shard_probes", shard_probes), check("retries", retries)
    workers_timeout = check("workers_timeout", workers_timeout)
    if isinstance(executor, str):
        client = connect(executor)
        try:
            s = start(
                targets,
                ports,
                executor=client,
                progress=progress,
                shard_probes=shard_probes,
                retries=retries,
                workers_timeout=workers_timeout,
                save=save,
                profile=profile,
                **options,
            )
        except BaseException:
            client.close()
            raise
        s.owns_client = True
        if s._ended:
            s._close_client()
        return s
    dask = _dask()
    targets = targets if isinstance(targets, str) else list(targets)  # iterables are read once
    ports = ports if isinstance(ports, str) else [int(p) for p in ports]
    if not isinstance(executor, dask.Client):
        raise portlens.OptionError(
            f"executor must be a dask.distributed.Client, not {type(executor).__name__}", item="executor"
        )
    slots = _slots(executor, workers_timeout)
    shard_plan = plan(targets, ports, slots=slots, shard_probes=shard_probes, **options)
    recorded = dict(shard_plan.recorded)
    recorded.update(
        {
            "executor": "dask",
            "scheduler": getattr(executor.scheduler, "address", None),
            "slots": slots,
            "shards": shard_plan.shards,
            "shard_probes": shard_plan.shard_probes,
            "rate_per_shard": shard_plan.options.get("rate"),
            "max_per_host_per_shard": shard_plan.options.get("max_per_host"),
        }
    )
    sink = _sink(save, profile, recorded)
    try:
        return DistributedScan(executor, shard_plan, recorded, progress=progress, retries=retries, sink=sink)
    except BaseException:
        if sink is not None:
            sink.close()
        raise


def scan(
    targets: str | Iterable[str],
    ports: str | Iterable[int] = "top-1000",
    *,
    executor: Any,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> ScanResult:
    """`portlens.scan` on a Dask cluster: ``executor`` is a ``dask.distributed.Client`` or the
    address of a scheduler (a client is then connected for this scan and closed after it).

    Ctrl-C cancels the shards in flight and raises `portlens.ScanInterrupted` whose ``.result``
    holds the shards merged so far (status "cancelled").
    """
    s = start(targets, ports, executor=executor, progress=progress, **options)
    try:
        return s.result()
    except KeyboardInterrupt:
        s.cancel()
        raise portlens.ScanInterrupted(s.result()) from None
    except BaseException:
        s.cancel()  # e.g. a progress callback raised: leave nothing running on the cluster
        s._close_sink()  # what was merged stays saved, "incomplete"
        raise

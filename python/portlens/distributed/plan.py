"""Planning a Dask scan: the targets resolved once on the client (nothing is sent) and the
(address × port) space cut into shards, plain dicts a worker turns into an ordinary scan.

Planning needs no Dask (`portlens.distributed.runner` runs the plan on a cluster).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._options import check
from .._scan import build_request
from ..exceptions import OptionError

__all__ = ["DEFAULT_SHARD_PROBES", "MIN_SHARD_PROBES", "RATE_LIMITED_SHARD_SECONDS", "PortChunk", "ShardPlan", "plan"]

#: Probes (host × port pairs) per shard: a few seconds of engine work. Besides Dask's per-task cost
#: (milliseconds), every shard pays fixed waits of its own engine: host discovery waits about a
#: second for silent addresses, RTTs are learnt afresh, and the last silent probes wait out a
#: timeout and a retry. Large shards amortise them (see bench/dask_overhead.py).
DEFAULT_SHARD_PROBES = 1 << 18
#: The smallest shard a rate limit may shrink shards to.
MIN_SHARD_PROBES = 256
#: Under a rate limit, shards shrink so that one takes at most this long at its share of the rate.
RATE_LIMITED_SHARD_SECONDS = 30.0
# Options that the client applies before cutting shards: they must not be applied twice.
_CLIENT_SIDE = ("exclude", "exclude_ports")


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
        raise OptionError(f"slots must be an integer of at least 1, got {slots!r}", item="slots")
    opts = dict(options)
    request = build_request(targets, ports, opts)  # validates every option, normalises opts in place
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

"""What a scan returns: plain, frozen, picklable data built from the engine's batches."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from operator import attrgetter
from typing import Any

__all__ = [
    "PortResult",
    "HostResult",
    "ScanResult",
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


@dataclass(frozen=True, slots=True)
class HostResult:
    """A host: "up" (it answered, with its port counts and kept port results) or "down" (host
    discovery got no answer, so its ports were not scanned). ``reason`` says what decided it."""

    address: str
    hostname: str | None
    counts: Mapping[str, int]
    rtt: float | None
    ports: tuple[PortResult, ...] = ()
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


@dataclass(frozen=True)
class ScanResult:
    """The outcome of a scan.

    ``ports`` holds the port results of the kept states (open by default), sorted by host and
    port; every state is counted in ``counts``. ``hosts`` lists the hosts that answered.
    ``status`` is "complete", or "cancelled" for a scan stopped early (Ctrl-C, ``cancel()``).
    ``hosts`` lists up hosts first, then the hosts discovery found down.
    """

    ports: tuple[PortResult, ...]
    hosts: tuple[HostResult, ...]
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
        return [p for p in self.ports if p.state == "open" and (host is None or p.host == host)]

    def host(self, address: str) -> HostResult | None:
        return next((h for h in self.hosts if h.address == address), None)

    def to_dict(self) -> dict[str, Any]:
        from .report.jsonfmt import result_to_dict

        return result_to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScanResult:
        """A result of `to_dict`'s form (its ``schema`` is checked by `portlens.load`, not here)."""
        ports = [PortResult.from_dict(p) for p in d["ports"]]
        grouped = by_host(ports)
        return cls(
            ports=tuple(ports),
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

    def to_pandas(self) -> Any:
        """The kept port results as a pandas DataFrame (one row per port; service fields as columns)."""
        from .report.display import ports_frame

        return ports_frame(self, "pandas")

    def to_polars(self) -> Any:
        """`to_pandas`, as a polars DataFrame."""
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
    ports: list[PortResult],
    summary: Mapping[str, Any],
    options: Mapping[str, Any],
    started: datetime,
    finished: datetime,
    strings: dict[str, str] | None = None,
) -> ScanResult:
    """Assemble a ScanResult from streamed port results and the engine's summary; ``strings`` shares
    address strings with the port results."""
    keys: dict[str, tuple[int, int]] = {}  # one address parse per host, not per port

    def port_key(p: PortResult) -> tuple[tuple[int, int], int, str]:
        k = keys.get(p.host)
        if k is None:
            k = keys[p.host] = addr_key(p.host)
        return (k, p.port, p.protocol)

    ports_sorted = tuple(sorted(ports, key=port_key))
    strings = strings if strings is not None else {}
    by_host = {h: tuple(g) for h, g in groupby(ports_sorted, key=attrgetter("host"))}  # sorted by host
    # Hosts with the same counts share one (read-only) mapping: most hosts of a big scan look alike.
    counts_of: dict[tuple[int, ...], Mapping[str, int]] = {}
    share = strings.setdefault
    hosts = []
    stats_of: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for address, hostname, state, reason, counts, srtt, host_stats in summary["hosts"]:
        key = tuple(counts)
        shared = counts_of.get(key)
        if shared is None:
            shared = counts_of[key] = dict(zip(STATES, key, strict=True))
        st = None
        if host_stats is not None:
            st = stats_of.get(host_stats)
            if st is None:
                st = stats_of[host_stats] = dict(zip(HOST_STATS, host_stats, strict=True))
        hosts.append(
            HostResult(
                address=share(address, address),
                hostname=hostname,
                counts=shared,
                rtt=srtt,
                ports=by_host.get(address, ()),
                state=share(state, state),
                reason=reason if reason is None else share(reason, reason),
                stats=st,
            )
        )
    return ScanResult(
        ports=ports_sorted,
        hosts=tuple(sorted(hosts, key=lambda h: (h.state != "up", keys.get(h.address) or addr_key(h.address)))),
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
    ports = tuple(sorted((p for r in parts for p in r.ports), key=port_key))
    hostnames = fields.pop("hostnames", None)
    values: dict[str, Any] = {
        "ports": ports,
        "hosts": merge_hosts((r.hosts for r in parts), by_host(ports), hostnames),
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

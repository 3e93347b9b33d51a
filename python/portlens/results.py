"""What a scan returns: plain, frozen, picklable data built from the engine's batches."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from operator import attrgetter
from typing import Any

__all__ = ["PortResult", "HostResult", "ScanResult", "STATES", "HOST_STATS"]

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

    def _repr_html_(self) -> str:
        from .notebook import host_html

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
        from .notebook import ports_frame

        return ports_frame(self, "pandas")

    def to_polars(self) -> Any:
        """`to_pandas`, as a polars DataFrame."""
        from .notebook import ports_frame

        return ports_frame(self, "polars")

    def _repr_html_(self) -> str:
        from .notebook import result_html

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
            k = keys[p.host] = _addr_key(p.host)
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
        hosts=tuple(sorted(hosts, key=lambda h: (h.state != "up", keys.get(h.address) or _addr_key(h.address)))),
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


def _addr_key(address: str) -> tuple[int, int]:
    import ipaddress

    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return (9, 0)
    return (ip.version, int(ip))


def _port_key(p: PortResult) -> tuple[tuple[int, int], int, str]:
    return (_addr_key(p.host), p.port, p.protocol)

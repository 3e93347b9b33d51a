"""Typed stubs of the compiled engine (checked against it by mypy.stubtest in `make lint`)."""

from collections.abc import Awaitable
from typing import Any, TypedDict, final

__all__ = [
    "CoreScan",
    "ScanRequest",
    "parse_ports",
    "service_name",
    "start_scan",
    "start_scan_async",
    "top_ports",
    "__version__",
    "MAX_SECONDS",
    "MAX_RETRIES",
]

__version__: str
MAX_SECONDS: float  # the longest duration any option takes (a day)
MAX_RETRIES: int  # the most retries (a port's tries are counted in a byte)

# The private names below (a leading underscore) are the shapes of what the engine returns; they
# exist only here, for the type checker (import them under `typing.TYPE_CHECKING`).

class _PortRow(TypedDict):
    """One port result (`CoreScan.next_batch`); `portlens._scan` makes a `PortResult` of it."""

    host: str
    port: int
    protocol: str  # "tcp" or "udp"
    state: str  # "open", "closed", "filtered", "open|filtered"
    reason: str
    rtt: float | None  # seconds; None without an answer
    attempts: int  # probes it took (1: the first)
    hostname: str | None  # the name the host was given by
    # The service record (services=True, open ports), keys as `json.loads` gives them: typed by
    # `portlens.policy.contract.ServiceInfo` (with `DistroInfo` for "distro": the distribution and
    # package revision a banner names).
    service: dict[str, Any] | None

class _Progress(TypedDict):
    """A running scan's counters (`CoreScan.progress`, and a summary's "progress")."""

    total: int  # probes to send
    done: int
    open: int
    elapsed: float  # seconds
    rate: float  # probes per second
    attempts: int  # connect attempts, retries included
    retries: int
    resource_waits: int  # times the kernel refused a socket and the probe was re-queued
    concurrency: int  # probes in flight the limiter allows now
    spoofed: int  # SYN scans: replies to our probe ports that answered no probe of the scan, dropped

# a host's (probes, retransmissions, pilots, samples, lost, drop rate, rate, rate cuts, unresolved):
# the names are `portlens.results.HOST_STATS`
_HostStats = tuple[int, int, int, int, int, float | None, float | None, int, int]
# (address, hostname, "up" or "down", reason, counts of open, closed, filtered, open|filtered,
# smoothed RTT in seconds, stats): a tuple, one per host, as a /16 has 65536 of them
_HostRow = tuple[str, str | None, str, str, tuple[int, int, int, int], float | None, _HostStats | None]

class _Summary(TypedDict):
    """The end of a scan (`CoreScan.summary`)."""

    status: str  # "complete" or "cancelled"
    hosts_total: int
    ports_per_host: int
    hosts: list[_HostRow]
    counts: dict[str, int]  # per port state
    hosts_down: int | None  # None without host discovery
    progress: _Progress
    fd_limit: int
    max_concurrency: int
    scan_rate: float | None
    scan_rate_cuts: int
    warnings: list[str]

class _Resolved(TypedDict):
    """The checked targets (`ScanRequest.resolve`), used to split a scan into shards."""

    intervals: list[tuple[str, str, int]]  # (first, last, count)
    hostnames: dict[str, str]  # address: the name it was given by
    total: int

@final
class ScanRequest:
    """Validated scan options; invalid ones raise before any packet is sent."""

    def __new__(
        cls,
        targets: list[str],
        ports: str = "top-1000",
        *,
        exclude: list[str] | None = None,
        exclude_ports: str = "",
        scope: list[str] | None = None,
        # None: the engine's default (the one copy of them; `options()` reports them)
        concurrency: int | None = None,
        rate: float | None = None,
        max_per_host: int | None = None,
        initial_rtt_timeout: float | None = None,
        min_rtt_timeout: float | None = None,
        max_rtt_timeout: float | None = None,
        min_retries: int | None = None,
        max_retries: int | None = None,
        randomize: bool | None = None,
        seed: int | None = None,
        keep: list[str] | None = None,
        max_hosts: int | None = None,
        allow_large: bool | None = None,
        resolve_timeout: float | None = None,
        services: bool | None = None,
        service_timeout: float | None = None,
        protocol: str = "tcp",
        udp_fast: bool | None = None,
        discovery: bool | None = None,
        icmp_interval: float | None = None,
        method: str | None = None,  # "connect", "syn" (raw sockets: CAP_NET_RAW) or "auto"
        source: str | None = None,  # an address of this host (OptionError otherwise)
        interface: str | None = None,  # an interface of this host (SO_BINDTODEVICE)
    ) -> ScanRequest: ...
    @property
    def ports(self) -> list[int]:
        """The TCP ports this request probes, ascending."""
    @property
    def udp_ports(self) -> list[int]:
        """The UDP ports this request probes, ascending."""
    def resolve(self) -> _Resolved:
        """Resolve and check the targets without scanning: intervals, hostnames, total."""
    def options(self) -> dict[str, Any]:
        """The options as plain values."""
    def resumed(self, checkpoint: str) -> ScanRequest:
        """The same request continuing an interrupted scan from `CoreScan.checkpoint()`'s JSON."""

@final
class CoreScan:
    """A running scan; dropping it cancels the scan."""

    def next_batch(self, timeout: float = 0.1, max: int = 4096) -> list[_PortRow] | None:
        """Results found since the last call (maybe none); None once the scan ended and all were read."""
    def next_batch_async(self, max: int = 4096) -> Awaitable[list[_PortRow] | None]: ...
    def cancel(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...
    def progress(self) -> _Progress: ...
    def checkpoint(self) -> str:
        """Where the scan is (JSON: seed, watermark per batch, results sent), to resume it."""
    def summary(self) -> _Summary:
        """Wait for the end and return the summary; raises ScanError if the scan failed."""
    def summary_async(self) -> Awaitable[_Summary]: ...

def start_scan(request: ScanRequest) -> CoreScan:
    """Resolve targets (Ctrl-C aware) and start the scan."""

def start_scan_async(request: ScanRequest) -> Awaitable[CoreScan]: ...
def parse_ports(spec: str, exclude: str = "") -> list[int]:
    """Expand a port specification to sorted ports."""

def top_ports(name: str, protocol: str = "tcp") -> list[int]:
    """A named port list ("top-100", "top-1000") of "tcp" or "udp", in priority order."""

def service_name(port: int, protocol: str = "tcp") -> str | None:
    """The common service name of a port, if known."""

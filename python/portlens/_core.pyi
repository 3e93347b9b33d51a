"""Typed stubs of the compiled engine (checked against it by mypy.stubtest in `make lint`)."""

from collections.abc import Awaitable
from typing import Any, final

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

# (host, port, protocol, state, reason, rtt seconds, attempts, hostname, service record as JSON)
# The service record's keys are typed by `portlens.policy.contract.ServiceInfo` (with
# `DistroInfo` for "distro": the distribution and package revision a banner names).
_Row = tuple[str, int, str, str, str, float | None, int, str | None, str | None]

@final
class ScanRequest:
    """Validated scan options; invalid ones raise before any packet is sent."""

    def __new__(
        cls,
        targets: list[str],
        ports: str = "top-1000",
        *,
        exclude: list[str] = ...,
        exclude_ports: str = "",
        scope: list[str] | None = None,
        concurrency: int = 8192,
        rate: float | None = None,
        max_per_host: int | None = None,
        initial_rtt_timeout: float = 1.0,
        min_rtt_timeout: float = 0.1,
        max_rtt_timeout: float = 3.0,
        min_retries: int = 1,
        max_retries: int = 10,
        randomize: bool = True,
        seed: int | None = None,
        keep: list[str] = ...,
        max_hosts: int = ...,
        allow_large: bool = False,
        resolve_timeout: float = 5.0,
        services: bool = False,
        service_timeout: float = 5.0,
        protocol: str = "tcp",
        udp_fast: bool = False,
        discovery: bool | None = None,
        icmp_interval: float = 1.05,
    ) -> ScanRequest: ...
    @property
    def ports(self) -> list[int]:
        """The TCP ports this request probes, ascending."""
    @property
    def udp_ports(self) -> list[int]:
        """The UDP ports this request probes, ascending."""
    def resolve(self) -> dict[str, Any]:
        """Resolve and check the targets without scanning: intervals, hostnames, total."""
    def options(self) -> dict[str, Any]:
        """The options as plain values."""

@final
class CoreScan:
    """A running scan; dropping it cancels the scan."""

    def next_batch(self, timeout: float = 0.1, max: int = 4096) -> list[_Row] | None:
        """Results found since the last call (maybe none); None once the scan ended and all were read."""
    def next_batch_async(self, max: int = 4096) -> Awaitable[list[_Row] | None]: ...
    def cancel(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...
    def progress(self) -> dict[str, Any]: ...
    def summary(self) -> dict[str, Any]:
        """Wait for the end and return the summary; raises ScanError if the scan failed."""
    def summary_async(self) -> Awaitable[dict[str, Any]]: ...

def start_scan(request: ScanRequest) -> CoreScan:
    """Resolve targets (Ctrl-C aware) and start the scan."""

def start_scan_async(request: ScanRequest) -> Awaitable[CoreScan]: ...
def parse_ports(spec: str, exclude: str = "") -> list[int]:
    """Expand a port specification to sorted ports."""

def top_ports(name: str, protocol: str = "tcp") -> list[int]:
    """A named port list ("top-100", "top-1000") of "tcp" or "udp", in priority order."""

def service_name(port: int, protocol: str = "tcp") -> str | None:
    """The common service name of a port, if known."""

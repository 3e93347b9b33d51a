"""portlens: find what listens on your networks, fast, from Python.

>>> import portlens
>>> result = portlens.scan("198.18.1.0/24", ports="top-100")   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import _scan
from ._core import __version__, parse_ports, service_name, top_ports
from ._lazy import attach
from ._scan import Scan
from .exceptions import (
    InputError,
    OptionError,
    PortlensError,
    PortSpecError,
    ResolveError,
    ResumeError,
    ScanError,
    ScanInterrupted,
    ScopeError,
    TargetError,
    TargetTooLargeError,
)
from .progress import Progress, ProgressArg, ProgressCallback
from .results import HostResult, PortResult, ScanResult

if TYPE_CHECKING:
    from . import store as store
    from .policy import Assessment, Baseline, Finding, Policy, PolicyError, assess
    from .report.jsonfmt import load
    from .report.nmap_xml import load_nmap_xml

__all__ = [
    "__version__",
    "scan",
    "scan_async",
    "start",
    "Scan",
    "Progress",
    "ScanResult",
    "HostResult",
    "PortResult",
    "load",
    "load_nmap_xml",
    "parse_ports",
    "top_ports",
    "service_name",
    "PortlensError",
    "InputError",
    "TargetError",
    "TargetTooLargeError",
    "ResolveError",
    "ScopeError",
    "PortSpecError",
    "OptionError",
    "ScanError",
    "ScanInterrupted",
    "ResumeError",
    "resume",
    "assess",
    "Policy",
    "Baseline",
    "Assessment",
    "Finding",
    "PolicyError",
]


# Loaded on first use, so that `import portlens` (and the CLI) starts fast: the policy engine,
# the readers, and the history store (SQLAlchemy).
_LAZY = {
    "assess": ".policy",
    "Policy": ".policy",
    "Baseline": ".policy",
    "Assessment": ".policy",
    "Finding": ".policy",
    "PolicyError": ".policy",
    "load": ".report.jsonfmt",
    "load_nmap_xml": ".report.nmap_xml",
}


__getattr__, __dir__ = attach(__name__, _LAZY, modules=("store",))


# -- the public API: the runner (`portlens._scan`) wired to progress bars, the store and Dask --------
def _bar(progress: ProgressArg) -> ProgressCallback | None:
    """What ``progress=`` means (`portlens.notebook.progress_callback`): a callable as is, True or
    "auto" a tqdm bar."""
    if progress is None or progress is False:
        return None  # no import here: the scan may already hold every free file descriptor
    from . import notebook

    return notebook.progress_callback(progress)


def _writer(save: Any, profile: str | None, options: dict[str, Any]) -> Any:
    """The store writer for ``save=`` (None without it)."""
    if save is None:
        return None
    from .store import begin_writer

    writer = begin_writer(save, profile, options)
    # resumable from the start: a scan killed before its first checkpoint is resumed from step 0
    writer.checkpoint({"kind": "local", "engine": None}, now=True)
    return writer


def _check_profile(profile: str | None, save: Any) -> None:
    if profile is not None and save is None:
        raise TypeError("profile= names the target set a saved scan belongs to: give save= too")


def _scan_of(
    core: Any,
    request: _scan.Request,
    bar: ProgressCallback | None,
    progress: ProgressArg,
    save: Any,
    profile: str | None,
) -> Scan:
    """A running `Scan` of the engine's ``core`` with its bar and its store writer (the scan is
    cancelled if the store cannot be opened)."""
    try:
        sink = _writer(save, profile, dict(request.options()))
    except BaseException:
        core.cancel()
        raise
    return Scan(core, dict(request.options()), bar, sink=sink, close_progress=bar is not progress)


def start(
    targets: str | Iterable[str],
    ports: str | Iterable[int] = "top-1000",
    *,
    progress: ProgressArg = None,
    save: Any = None,
    profile: str | None = None,
    **options: Any,
) -> Scan:
    """Start a scan and return it without waiting; iterate it to stream results.

    Options are those of `scan`.
    """
    _check_profile(profile, save)
    request = _scan.build_request(targets, ports, options)
    bar = _bar(progress)  # a wrong progress= is refused before the scan starts
    return _scan_of(request.start(), request, bar, progress, save, profile)


def scan(
    targets: str | Iterable[str],
    ports: str | Iterable[int] = "top-1000",
    *,
    progress: ProgressArg = None,
    executor: Any = None,
    save: Any = None,
    profile: str | None = None,
    **options: Any,
) -> ScanResult:
    """Scan the ports of ``targets`` (TCP by default) and return the result.

    ``targets``: addresses, CIDR blocks, ranges (``198.18.1.10-50``), hostnames, ``@file`` lists,
    ``!item`` excludes — one string (comma or space separated) or an iterable of them.
    ``ports``: ``"22,80,8000-8100"``, ``"all"``, ``"top-100"``, ``"top-1000"`` (default), ``"!25"``.

    Options: ``exclude``, ``exclude_ports``, ``scope`` (authorised networks: anything outside is
    refused before a packet is sent), ``concurrency``, ``rate`` (probes per second),
    ``max_per_host``, ``initial_rtt_timeout`` / ``min_rtt_timeout`` / ``max_rtt_timeout`` (seconds),
    ``min_retries`` / ``max_retries``, ``randomize``, ``seed``, ``keep`` (states listed one by one;
    default ``("open",)``, the rest are counted), ``max_hosts``, ``allow_large``, ``resolve_timeout``,
    ``protocol`` (``"tcp"``, ``"udp"`` or ``"both"``; named port sets follow the protocol and
    ``T:``/``U:`` prefixes pick one), ``udp_fast`` (do not wait out ICMP rate limits: unconfirmed UDP
    ports are ``open|filtered``), ``discovery`` (host discovery first; default: only for more than
    one address), ``services`` and ``service_timeout`` (identify what answers on open ports),
    ``method`` (``"connect"``, ``"syn"`` or ``"auto"``), ``source`` and ``interface`` (send TCP
    probes from this address of this host, on this interface: nmap's ``-S`` and ``-e``).
    Each is checked by one table (`portlens._options`: types, NaN, infinities, ranges; durations
    at most a day) and a wrong value raises `OptionError` naming it; ``None`` is the engine's default.

    ``progress``: a callable that receives `Progress` a few times a second, or ``True`` / ``"auto"``
    for a ``tqdm.auto`` progress bar (a widget in Jupyter, text on a terminal).

    The GIL is released while the scan runs, and it works inside a running event loop (Jupyter).
    Ctrl-C stops the scan within a fraction of a second and raises `ScanInterrupted` (a
    `KeyboardInterrupt`) whose ``.result`` holds what was found.

    ``executor``: a ``dask.distributed.Client`` (or a scheduler address) runs the scan in shards on
    that cluster and merges them into one result (see `portlens.distributed`; extra options
    ``shard_probes`` and ``retries``).

    ``save``: a `portlens.store.Store`, a store URL or a file path: the scan is saved while it runs
    (in batches) and marked complete at the end, or left "incomplete" if it is cancelled or dies;
    ``profile`` names the target set it belongs to (see `portlens.store`). With ``executor`` each
    shard is written when it is merged.
    """
    if executor is not None:
        from . import distributed
        from .progress import close_bar

        bar = _bar(progress)
        try:
            return distributed.scan(
                targets, ports, executor=executor, progress=bar, save=save, profile=profile, **options
            )
        finally:
            close_bar(bar, progress)
    return _scan.run(start(targets, ports, progress=progress, save=save, profile=profile, **options))


async def scan_async(
    targets: str | Iterable[str],
    ports: str | Iterable[int] = "top-1000",
    *,
    progress: ProgressArg = None,
    save: Any = None,
    profile: str | None = None,
    **options: Any,
) -> ScanResult:
    """Awaitable `scan` on the same engine; cancelling the awaiting task cancels the scan (a saved
    one stays "incomplete"). Batches are written to a ``save`` store from the event loop's thread."""
    _check_profile(profile, save)
    request = _scan.build_request(targets, ports, options)
    bar = _bar(progress)
    core = await request.start_async()
    return await _scan.run_async(_scan_of(core, request, bar, progress, save, profile))


def resume(scan_id: int, store: Any = None, *, progress: ProgressArg = None, **options: Any) -> ScanResult:
    """Resume saved scan ``scan_id`` of ``store`` (a `portlens.store.Store`, a URL or a path; None: the
    default store) after an interruption, and return its complete result; the scan's row in the store
    ends "complete", equal to an uninterrupted scan. Only what was not yet reported is probed again.

    ``options``: ``rate``, ``concurrency``, ``max_per_host``, the RTT timeouts, ``min_retries`` /
    ``max_retries``, ``service_timeout`` may change; any other option must equal the saved one
    (`OptionError`). A scan that ran on Dask needs ``executor=``. An unknown id raises
    `portlens.store.NotFoundError`, a complete scan or one without a usable checkpoint `ResumeError`.
    See `portlens._resume` for how it works.
    """
    from . import _resume

    bar = _bar(progress)
    return _resume.resume(scan_id, store, progress=bar, close_progress=bar is not progress, **options)

"""Running scans from Python: blocking, awaitable, and streamed (``for`` and ``async for``)."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

from . import _core
from ._options import check_all, port_spec
from .exceptions import ScanInterrupted
from .files.targets import Origins
from .files.targets import expand as expand_files
from .results import PortResult, ScanResult, build_result

__all__ = ["Progress", "Scan", "scan", "scan_async", "start"]

ProgressCallback = Callable[["Progress"], object]
# progress=: a callable, or True / "auto" for a tqdm.auto bar (a widget in Jupyter), or None
ProgressArg = ProgressCallback | bool | str | None


def _progress(progress: ProgressArg) -> ProgressCallback | None:
    if progress is None or progress is False:
        return None  # no import here: the scan may already hold every free file descriptor
    from .notebook import progress_callback

    return progress_callback(progress)


def _close_bar(callback: object, progress: ProgressArg) -> None:
    """Close a bar made for ``progress=True``/``"auto"`` (a caller's own callable is left alone)."""
    if callback is not progress and hasattr(callback, "close"):
        callback.close()


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot of a running scan: probes done of total, open ports found, probes per second."""

    done: int
    total: int
    open: int
    rate: float
    elapsed: float
    retries: int
    concurrency: int

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


def _targets(targets: str | Iterable[str]) -> list[str]:
    if isinstance(targets, str):
        return [targets]
    items = list(targets)
    if not all(isinstance(t, str) for t in items):
        raise TypeError("targets must be a string or an iterable of strings")
    return items


class Request:
    """The engine's scan request, with the ``@file`` lines it was given (`portlens.files.targets`):
    errors the engine raises about them are located by file and line, without their text."""

    def __init__(self, core: Any, origins: Origins, given: dict[str, Any]) -> None:
        self.core = core
        self.origins = origins
        self._given = given  # targets and exclude

    def __getattr__(self, name: str) -> Any:
        return getattr(self.core, name)

    def options(self) -> dict[str, Any]:
        """The engine's options, with the targets and excludes as given (``@file``, not its lines)."""
        options = dict(self.core.options())
        if self.origins:
            options.update((k, v) for k, v in self._given.items() if k in options)
        return options

    def resolve(self) -> Any:
        with self.origins.errors():
            return self.core.resolve()

    def start(self) -> Any:
        with self.origins.errors():
            return _core.start_scan(self.core)

    async def start_async(self) -> Any:
        with self.origins.errors():
            return await _core.start_scan_async(self.core)


def _request(targets: str | Iterable[str], ports: str | Iterable[int], options: dict[str, Any]) -> Request:
    """The engine's request; ``options`` are checked (`portlens._options`) and normalised in place."""
    if not isinstance(ports, str):
        ports = port_spec(ports)
    check_all(options)
    # @files are read here (portlens.files): the engine gets their lines
    given: dict[str, Any] = {"targets": _targets(targets)}
    given.update((k, list(options[k])) for k in ("exclude", "scope") if options.get(k) is not None)
    include, exclude, scope, origins = expand_files(given["targets"], given.get("exclude", []), given.get("scope"))
    if scope is not None:
        del given["scope"]
        options["scope"] = scope  # in place: Dask shards get the lines, not the file
    expanded = dict(options)
    if exclude or "exclude" in given:
        expanded["exclude"] = exclude
    with origins.errors():  # the scope is parsed now
        core = _core.ScanRequest(include, ports, **expanded)
    return Request(core, origins, given)


def _row(row: tuple[Any, ...], strings: dict[str, str]) -> PortResult:
    host, port, protocol, state, reason, rtt, attempts, hostname, service = row
    # one string object per distinct host, state, reason: a /16 has a few hundred thousand results
    share = strings.setdefault
    host, protocol, state, reason = (
        share(host, host),
        share(protocol, protocol),
        share(state, state),
        share(reason, reason),
    )
    if service is None:
        return PortResult(host, port, protocol, state, reason, rtt, attempts, hostname)
    return PortResult(host, port, protocol, state, reason, rtt, attempts, hostname, service=json.loads(service))


class Scan:
    """A running scan. Iterate it (``for`` or ``async for``) to get port results as they are found,
    then call `result()`. Leaving a ``with`` block or calling `cancel()` stops it; the results
    found so far stay available.
    """

    def __init__(
        self,
        core: Any,
        options: dict[str, Any],
        progress: ProgressArg = None,
        progress_interval: float = 0.2,
        sink: Any = None,
    ) -> None:
        self._core = core
        # a store.ScanWriter when saving (``save=``): results are written in batches as they come
        self._sink = sink
        self._options = options
        self._started = datetime.now(timezone.utc)
        self._found: list[PortResult] = []
        self._strings: dict[str, str] = {}
        self._pending: deque[PortResult] = deque()
        self._ended = False
        self._result: ScanResult | None = None
        self._callback = _progress(progress)
        self._progress_arg = progress
        self._interval = progress_interval
        self._last_report = 0.0

    # -- streaming -------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[PortResult]:
        return self

    def __next__(self) -> PortResult:
        while not self._pending:
            if self._ended:
                raise StopIteration
            self._take(self._core.next_batch(0.1))
        return self._pending.popleft()

    def __aiter__(self) -> AsyncIterator[PortResult]:
        return self

    async def __anext__(self) -> PortResult:
        while not self._pending:
            if self._ended:
                raise StopAsyncIteration
            self._take(await self._core.next_batch_async())
        return self._pending.popleft()

    def _take(self, batch: list[tuple[Any, ...]] | None) -> None:
        if batch is None:
            self._ended = True
        else:
            found = [_row(r, self._strings) for r in batch]
            self._found.extend(found)
            self._pending.extend(found)
            if self._sink is not None:
                self._sink.add(found)  # also on empty batches: a pending batch whose time has come
        self._report(force=self._ended)

    def _report(self, force: bool = False) -> None:
        if self._callback is None:
            return
        now = time.monotonic()
        if force or now - self._last_report >= self._interval:
            self._last_report = now
            self._callback(self.progress())
        if self._ended:
            _close_bar(self._callback, self._progress_arg)

    # -- control ---------------------------------------------------------------------------------
    def progress(self) -> Progress:
        p = self._core.progress()
        return Progress(
            done=p["done"],
            total=p["total"],
            open=p["open"],
            rate=p["rate"],
            elapsed=p["elapsed"],
            retries=p["retries"],
            concurrency=p["concurrency"],
        )

    def cancel(self) -> None:
        """Stop the scan now; `result()` then returns what was found, with status "cancelled"."""
        self._core.cancel()

    @property
    def found(self) -> list[PortResult]:
        """Port results read so far (also after a Ctrl-C)."""
        return list(self._found)

    def _drain(self) -> None:
        while not self._ended:
            self._take(self._core.next_batch(0.1))
        self._pending.clear()

    def result(self) -> ScanResult:
        """Wait for the end of the scan (reading any results not yet iterated) and return it."""
        if self._result is None:
            self._drain()
            summary = self._core.summary()
            self._result = self._build(summary)
        return self._result

    async def result_async(self) -> ScanResult:
        if self._result is None:
            while not self._ended:
                self._take(await self._core.next_batch_async())
            self._pending.clear()
            summary = await self._core.summary_async()
            self._result = self._build(summary)
        return self._result

    def _build(self, summary: dict[str, Any]) -> ScanResult:
        result = build_result(
            self._found, summary, self._options, self._started, datetime.now(timezone.utc), self._strings
        )
        if self._sink is not None:
            self._sink.finish(result)  # "complete", or "incomplete" when cancelled
        return result

    @property
    def saved_id(self) -> int | None:
        """The id of this scan in the store it is saved to (``save=``), else None."""
        return None if self._sink is None else int(self._sink.id)

    def __enter__(self) -> Scan:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._ended:
            self.cancel()
        if self._sink is not None and self._result is None:
            self._sink.close()  # what was read is written; the scan stays "incomplete"

    async def __aenter__(self) -> Scan:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._ended:
            self.cancel()
        if self._sink is not None and self._result is None:
            self._sink.close()


def _sink(save: Any, profile: str | None, options: Mapping[str, Any]) -> Any:
    """A writer that saves the scan as it runs into ``save`` (a `portlens.store.Store`, a URL or a path),
    or None."""
    if save is None:
        return None
    from . import store

    if isinstance(save, store.Store):
        return save.begin(options, profile)
    opened = store.open(save)
    try:
        writer = opened.begin(options, profile)
    except BaseException:
        opened.close()
        raise
    writer.owns_store()
    return writer


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
    if profile is not None and save is None:
        raise TypeError("profile= names the target set a saved scan belongs to: give save= too")
    request = _request(targets, ports, options)
    core = request.start()
    try:
        sink = _sink(save, profile, dict(request.options()))
    except BaseException:
        core.cancel()
        raise
    return Scan(core, dict(request.options()), progress, sink=sink)


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
    one address), ``services`` and ``service_timeout`` (identify what answers on open ports).
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

        bar = _progress(progress)
        try:
            return distributed.scan(
                targets, ports, executor=executor, progress=bar, save=save, profile=profile, **options
            )
        finally:
            _close_bar(bar, progress)
    s = start(targets, ports, progress=progress, save=save, profile=profile, **options)
    try:
        return s.result()
    except KeyboardInterrupt:
        s.cancel()
        partial = s.result()
        raise ScanInterrupted(partial) from None
    finally:
        if s._sink is not None and s._result is None:  # the scan failed: what was read stays saved
            s._sink.close()


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
    if profile is not None and save is None:
        raise TypeError("profile= names the target set a saved scan belongs to: give save= too")
    request = _request(targets, ports, options)
    core = await request.start_async()
    try:
        sink = _sink(save, profile, dict(request.options()))
    except BaseException:
        core.cancel()
        raise
    s = Scan(core, dict(request.options()), progress, sink=sink)
    try:
        return await s.result_async()
    finally:
        if s._result is None:
            s.cancel()
            if sink is not None:
                sink.close()

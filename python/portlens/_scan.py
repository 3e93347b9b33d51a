"""The scan runner: a request to the engine (`portlens._core`), and a running `Scan` that streams
port results (``for`` and ``async for``) and builds the `ScanResult`.

It reports progress to a callable and hands results to a `ResultSink`; which bar ``progress=True``
means, and which store ``save=`` writes to, are wired by the public API (`portlens/__init__.py`), so
the runner depends on no front end and on no library above the results.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Protocol, cast

from . import _core
from ._options import check_all, port_spec
from .exceptions import ScanInterrupted
from .files.targets import Origins
from .files.targets import expand as expand_files
from .progress import Progress, ProgressCallback
from .results import STATES, PortColumns, PortResult, PortTable, ScanResult, build_result

__all__ = ["Progress", "Request", "ResultSink", "Scan", "build_request", "run", "run_async"]


class ResultSink(Protocol):
    """Where a scan's port results go as they are found, besides its result: the history store's
    `portlens.store.ScanWriter` (``save=``) is one. The runner knows nothing else of it."""

    @property
    def id(self) -> int: ...

    def add(self, ports: Iterable[PortResult]) -> None:
        """A batch of results (also called with none: a pending batch whose time has come)."""

    def finish(self, result: ScanResult) -> object:
        """The scan ended with ``result`` ("complete", or "cancelled")."""

    def close(self) -> None:
        """The scan ended without a result (it failed or was left): what was written stays."""


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

    def __init__(self, core: _core.ScanRequest, origins: Origins, given: dict[str, Any]) -> None:
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

    def resolve(self) -> _core._Resolved:
        with self.origins.errors():
            return self.core.resolve()

    def start(self) -> _core.CoreScan:
        with self.origins.errors():
            return _core.start_scan(self.core)

    async def start_async(self) -> _core.CoreScan:
        with self.origins.errors():
            return await _core.start_scan_async(self.core)


def build_request(targets: str | Iterable[str], ports: str | Iterable[int], options: dict[str, Any]) -> Request:
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


class Scan:
    """A running scan. Iterate it (``for`` or ``async for``) to get port results as they are found,
    then call `result()`. Leaving a ``with`` block or calling `cancel()` stops it; the results
    found so far stay available.
    """

    def __init__(
        self,
        core: _core.CoreScan,
        options: dict[str, Any],
        progress: ProgressCallback | None = None,
        progress_interval: float = 0.2,
        sink: ResultSink | None = None,
        close_progress: bool = False,
        prior: Iterable[PortResult] = (),
        started: datetime | None = None,
    ) -> None:
        self._core = core
        # a store.ScanWriter when saving (``save=``): results are written in batches as they come
        self._sink = sink
        self._options = options
        self._started = started or datetime.now(timezone.utc)
        # a resumed scan (`portlens.resume`): the results stored before the interruption
        self._prior = list(prior)
        # checkpoints (`portlens.resume`): one is handed to the sink once every result it covers was
        self._checkpoints = getattr(sink, "checkpoint", None) if sink is not None else None
        self._received = 0
        self._checkpoint: dict[str, Any] | None = None
        self._last_checkpoint = 0.0
        self._checkpoint_every = 0.5  # seconds
        # every result read so far, as columns: a PortResult is built only when one is read
        self._columns = PortTable()
        self._next = 0  # the first result not yet iterated
        self._strings: dict[str, str] = {}
        self._ended = False
        self._result: ScanResult | None = None
        self._callback = progress
        self._close_progress = close_progress  # a bar made for this scan (progress=True) closes at its end
        self._interval = progress_interval
        self._last_report = 0.0

    # -- streaming -------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[PortResult]:
        return self

    def __next__(self) -> PortResult:
        while self._next >= len(self._columns):
            if self._ended:
                raise StopIteration
            self._take(self._core.next_batch(0.1))
        self._next += 1
        return self._columns.row(self._next - 1)

    def __aiter__(self) -> AsyncIterator[PortResult]:
        return self

    async def __anext__(self) -> PortResult:
        while self._next >= len(self._columns):
            if self._ended:
                raise StopAsyncIteration
            self._take(await self._core.next_batch_async())
        self._next += 1
        return self._columns.row(self._next - 1)

    def _take(self, batch: list[_core._PortRow] | None) -> None:
        if batch is None:
            self._ended = True
        else:
            columns = self._columns
            start = len(columns)
            columns.add_rows(batch)
            self._received += len(batch)
            if self._sink is not None:
                # also on empty batches: a pending batch whose time has come
                self._sink.add(PortColumns(columns, start, len(columns)))
            self._take_checkpoint()
        self._report(force=self._ended)

    def _take_checkpoint(self, final: bool = False) -> None:
        """Hand the sink the engine's checkpoint once every result sent before it was read (and
        added to the sink), and take the next one every half second. ``final``: the engine has
        ended and everything was read, so its checkpoint is exact now."""
        if self._checkpoints is None:
            return
        if final:
            self._checkpoint = json.loads(self._core.checkpoint())
        cp = self._checkpoint
        if cp is not None and self._received >= int(cp["sent"]):
            self._checkpoint = None
            self._checkpoints({"kind": "local", "engine": cp})
        now = time.monotonic()
        if self._checkpoint is None and not final and now - self._last_checkpoint >= self._checkpoint_every:
            self._checkpoint = json.loads(self._core.checkpoint())
            self._last_checkpoint = time.monotonic()
            # A discovery scan's checkpoint lists every host found up (a /16's is about a megabyte,
            # 10 ms to take and about three times that to write): space them so that this costs
            # a few percent of the scan at most.
            self._checkpoint_every = max(0.5, 200 * (self._last_checkpoint - now))

    def _report(self, force: bool = False) -> None:
        if self._callback is None:
            return
        now = time.monotonic()
        if force or now - self._last_report >= self._interval:
            self._last_report = now
            self._callback(self.progress())
        if self._ended and self._close_progress and hasattr(self._callback, "close"):
            self._callback.close()

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
        return list(PortColumns(self._columns))

    def _drain(self) -> None:
        while not self._ended:
            self._take(self._core.next_batch(0.1))
        self._next = len(self._columns)

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
            self._next = len(self._columns)
            summary = await self._core.summary_async()
            self._result = self._build(summary)
        return self._result

    def _build(self, summary: _core._Summary) -> ScanResult:
        found: Iterable[PortResult] = PortColumns(self._columns)
        whole = cast(Mapping[str, Any], summary)
        if self._prior:
            found, whole = with_prior(self._prior, list(found), summary)
        result = build_result(found, whole, self._options, self._started, datetime.now(timezone.utc), self._strings)
        if summary["status"] != "complete":
            self._take_checkpoint(final=True)
        if self._sink is not None:
            self._sink.finish(result)  # "complete", or "incomplete" when cancelled
        return result

    @property
    def saved_id(self) -> int | None:
        """The id of this scan in the store it is saved to (``save=``), else None."""
        return None if self._sink is None else int(self._sink.id)

    def close_sink(self) -> None:
        """If no result was built (the scan failed or was left), close the sink: what was read
        stays written, and a saved scan stays "incomplete"."""
        if self._sink is not None and self._result is None:
            self._sink.close()

    def __enter__(self) -> Scan:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._leave()

    async def __aenter__(self) -> Scan:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._leave()

    def _leave(self) -> None:
        """Leaving a ``with`` block: the scan stops; what was read is written, and a saved scan
        without a result stays "incomplete"."""
        if not self._ended:
            self.cancel()
        self.close_sink()


def run(s: Scan) -> ScanResult:
    """Wait for ``s`` and return its result. Ctrl-C cancels it and raises `ScanInterrupted` with the
    partial result; a scan that fails leaves what its sink wrote ("incomplete")."""
    try:
        return s.result()
    except KeyboardInterrupt:
        s.cancel()
        while True:
            try:
                partial = s.result()
                break
            except KeyboardInterrupt:
                # A second Ctrl-C (or a progress callback that raises again) while the cancelled
                # scan's last results are read: they are read anyway, or the caller would get a
                # bare KeyboardInterrupt and lose them. Each try reads a batch, and the cancelled
                # scan ends within a fraction of a second, so this ends.
                continue
        raise ScanInterrupted(partial) from None
    except BaseException:
        # Any other failure while waiting (the store refusing a write, a progress callback that
        # raised): the probes stop too, instead of going on unseen until the scan is collected.
        s.cancel()
        raise
    finally:
        s.close_sink()


async def run_async(s: Scan) -> ScanResult:
    """`run` for the event loop: cancelling the awaiting task cancels the scan (a saved one stays
    "incomplete")."""
    try:
        return await s.result_async()
    finally:
        if s._result is None:
            s.cancel()
            s.close_sink()


def with_prior(
    prior: Iterable[PortResult], found: list[PortResult], summary: Mapping[str, Any]
) -> tuple[list[PortResult], dict[str, Any]]:
    """A resumed scan's results: the stored ones, then those found now that are not among them (a
    probe above the checkpoint is made again); hosts with stored results only are listed from them."""
    ports = list(prior)
    keys = {(p.host, p.port, p.protocol) for p in ports}
    ports.extend(p for p in found if (p.host, p.port, p.protocol) not in keys)
    hosts = list(summary["hosts"])
    listed = {h[0] for h in hosts}
    extra: dict[str, list[PortResult]] = {}
    for p in ports:
        if p.host not in listed:
            extra.setdefault(p.host, []).append(p)
    for address, ps in extra.items():
        counts = tuple(sum(1 for p in ps if p.state == s) for s in STATES)
        hostname = next((p.hostname for p in ps if p.hostname), None)
        hosts.append((address, hostname, "up", None, counts, None, None))
    return ports, {**summary, "hosts": hosts}


# the name this function had (tests and older callers import it)
_request = build_request

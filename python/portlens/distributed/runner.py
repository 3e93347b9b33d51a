"""Running a planned scan (`portlens.distributed.plan`) on a Dask cluster: shards submitted, failed
ones resubmitted, each merged exactly once (`portlens.results.merge`), progress and the store
writer fed as shards arrive.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import queue
import socket
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

from .._options import check, check_all
from .._scan import ResultSink, Scan, build_request, run
from ..exceptions import InputError, OptionError, ScanError, ScanInterrupted
from ..progress import Progress, ProgressCallback
from ..results import PortResult, ScanResult, merge
from ..store import begin_writer
from .plan import DEFAULT_SHARD_PROBES, ShardPlan, plan

__all__ = ["DistributedScan", "ShardFailure", "connect", "run_shard", "scan", "start"]

#: Seconds to wait for a finished shard's result to arrive (it may be recomputed if its worker died).
FETCH_TIMEOUT = 120.0


def _dask() -> Any:
    """The ``distributed`` module, imported on first use so that ``import portlens`` never needs it."""
    try:
        return importlib.import_module("distributed")
    except ImportError as e:
        raise OptionError("scanning on a Dask cluster needs Dask: pip install 'portlens[dask]'", item="executor") from e


def connect(address: str, timeout: float = 30.0) -> Any:
    """A ``dask.distributed.Client`` connected to the scheduler at ``address`` (``tcp://host:8786``)."""
    dask = _dask()
    try:
        return dask.Client(address, timeout=timeout)
    except (OSError, TimeoutError) as e:
        raise ScanError(f"cannot reach the Dask scheduler at {address!r}: {e}") from e


def run_shard(shard: Mapping[str, Any]) -> dict[str, Any]:
    """Run one shard on this process (a Dask worker) and return plain data.

    Idempotent in what it covers: the same shard always probes the same (address, port) pairs, so
    a rerun after a failure reports on those pairs and no others.
    """
    request = build_request(list(shard["targets"]), str(shard["ports"]), dict(shard["options"]))
    result = run(Scan(request.start(), dict(request.options())))
    return {"id": shard["id"], "worker": f"{socket.gethostname()}:{os.getpid()}", "result": result.to_dict()}


# --------------------------------------------------------------------------------------- driver


@dataclass(frozen=True)
class ShardFailure:
    """One failed attempt of a shard (it was resubmitted unless ``attempt`` was the last)."""

    shard: int
    attempt: int
    error: str
    kind: str


@dataclass
class _Merged:
    """A shard's one accepted delivery: its result (hostnames as the client resolved them)."""

    worker: str
    chunk: int
    planned: int  # probes if every host of the shard is port-scanned
    result: ScanResult

    @property
    def stats(self) -> Mapping[str, Any]:
        return self.result.stats


@dataclass
class _Flight:
    shard: dict[str, Any]
    future: Any
    attempt: int
    submitted: float = field(default_factory=time.monotonic)


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
        sink: ResultSink | None = None,
        resumed: Mapping[int, ScanResult] | None = None,
        prior: Iterable[PortResult] = (),
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
        self._flights: dict[int, _Flight] = {}
        self._events: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self._merged: dict[int, _Merged] = {}  # shard id -> its one accepted delivery
        # A resumed scan (`portlens.resume`): the shards merged before the interruption count as
        # merged (their ports, stored, ride on the first of them) and only the others are submitted.
        prior_ports = tuple(prior)
        for sid, part in sorted((resumed or {}).items()):
            shard = next(s for s in shard_plan if int(s["id"]) == sid)
            part = dataclasses.replace(part, ports=prior_ports if not self._merged else ())
            self._merged[sid] = _Merged("resumed", int(shard["chunk"]), int(shard["probes"]), part)
        self._shards: Iterator[dict[str, Any]] = (s for s in shard_plan if int(s["id"]) not in self._merged)
        # what the store records with each merged shard (`portlens.resume`): the shards' results
        # without their ports (those are in the store's rows)
        self._done: dict[str, Any] = {str(sid): {**m.result.to_dict(), "ports": []} for sid, m in self._merged.items()}
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
                raise ScanError(f"shard {sid}: a worker answered for shard {payload.get('id')!r}")
            status = payload["result"]["status"]
            if status != "complete":
                raise ScanError(f"shard {sid} came back {status!r}")
        except InputError:
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
            raise ScanError(
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
        part = ScanResult.from_dict(payload["result"])
        names = self.plan.hostnames
        ports = []
        for port in part.ports:
            hostname = names.get(port.host, port.hostname)
            if hostname != port.hostname:
                port = dataclasses.replace(port, hostname=hostname)
            ports.append(port)
        self._merged[sid] = _Merged(
            worker=str(payload.get("worker", "")),
            chunk=int(shard["chunk"]),
            planned=int(shard["probes"]),
            result=dataclasses.replace(part, ports=tuple(ports)),
        )
        self._found.extend(ports)
        self._pending.extend(ports)
        if self._sink is not None:
            self._sink.add(ports)
            checkpoint = getattr(self._sink, "checkpoint", None)
            if checkpoint is not None:
                # after the shard's ports: both are committed in the same transaction
                self._done[str(sid)] = {**part.to_dict(), "ports": []}
                checkpoint({"kind": "dask", "shards": dict(self._done)})

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
            open=sum(m.result.counts.get("open", 0) for m in merged),
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
        finished = datetime.now(timezone.utc)
        elapsed = (finished - self._started).total_seconds()
        # one host per address over its port-range shards (`merge_hosts`), with the client's hostnames
        return merge(
            [m.result for m in merged],
            hostnames=self.plan.hostnames,
            status="complete" if complete else "cancelled",
            started=self._started,
            finished=finished,
            hosts_total=self.plan.hosts,
            ports_per_host=self.plan.ports_per_host,
            options=self._options,
            stats=self._stats(merged, elapsed),
        )

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
            raise ScanError(f"no Dask worker joined within {timeout:g} s") from e
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
        raise OptionError(f"executor must be a dask.distributed.Client, not {type(executor).__name__}", item="executor")
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
    sink = None if save is None else begin_writer(save, profile, recorded)
    try:
        if sink is not None:
            sink.checkpoint({"kind": "dask", "shards": {}}, now=True)  # resumable from the start
        return DistributedScan(executor, shard_plan, recorded, progress=progress, retries=retries, sink=sink)
    except BaseException:
        if sink is not None:
            sink.close()
        raise


#: What a Dask scan records besides the options of a local scan (`start`).
_PLAN_KEYS = ("executor", "scheduler", "slots", "shards", "shard_probes", "rate_per_shard", "max_per_host_per_shard")


def resume(
    store: Any,
    scan_id: int,
    checkpoint: Mapping[str, Any],
    options: Mapping[str, Any],
    recorded: Mapping[str, Any],
    port_spec: str,
    *,
    executor: Any,
    progress: ProgressCallback | None = None,
    owned: bool = False,
) -> DistributedScan:
    """Resume saved Dask scan ``scan_id`` (called by `portlens.resume`, which checked the row): the
    same shard plan again (the recorded slots and shard size), the shards the checkpoint names as
    merged kept, the others run. The stored UDP results stay: a shard is merged whole."""
    from ..exceptions import ResumeError
    from ..store.writer import reopen

    for name in ("rate", "max_per_host"):
        if name in options and options[name] != recorded.get(name):
            raise OptionError(f"{name} cannot change when resuming a Dask scan: it sizes the shards", item=name)
    opts = {k: v for k, v in options.items() if k not in _PLAN_KEYS}
    client = connect(executor) if isinstance(executor, str) else executor
    try:
        shard_plan = plan(
            list(recorded["targets"]),
            port_spec,
            slots=int(recorded["slots"]),
            shard_probes=int(recorded["shard_probes"]),
            **opts,
        )
        if shard_plan.shards != int(recorded["shards"]):
            raise ResumeError(
                f"scan #{scan_id}: its targets and ports now cut into {shard_plan.shards} shards, not "
                f"{recorded['shards']}: scan again instead",
                item=str(scan_id),
            )
        try:  # the shape was checked by portlens.resume; a shard's result may still be damaged
            parts = {int(sid): ScanResult.from_dict(d) for sid, d in checkpoint.get("shards", {}).items()}
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ResumeError(
                f"scan #{scan_id}: a merged shard's result cannot be read ({e}): scan again instead"
            ) from None
        if any(not 0 <= sid < shard_plan.shards for sid in parts):
            raise ResumeError(
                f"scan #{scan_id}: its checkpoint names shards its plan does not have: scan again instead"
            )
        sink, prior = reopen(store, scan_id, keep_udp=True, owns=owned)
        s = DistributedScan(client, shard_plan, recorded, progress=progress, sink=sink, resumed=parts, prior=prior)
    except BaseException:
        if client is not executor:
            client.close()
        raise
    if client is not executor:
        s.owns_client = True
        if s._ended:
            s._close_client()
    return s


def run_distributed(s: DistributedScan) -> ScanResult:
    """Wait for ``s``; Ctrl-C cancels it and raises `ScanInterrupted` with the merged shards."""
    try:
        return s.result()
    except KeyboardInterrupt:
        s.cancel()
        raise ScanInterrupted(s.result()) from None
    except BaseException:
        s.cancel()  # e.g. a progress callback raised: leave nothing running on the cluster
        s._close_sink()  # what was merged stays saved, "incomplete"
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

    Ctrl-C cancels the shards in flight and raises `ScanInterrupted` whose ``.result``
    holds the shards merged so far (status "cancelled").
    """
    return run_distributed(start(targets, ports, executor=executor, progress=progress, **options))

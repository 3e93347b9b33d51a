"""Resuming a saved scan that was interrupted (Ctrl-C, SIGTERM, a killed process, a lost machine).

A scan saved to the store (``save=`` / ``--save``) records, in its ``scans`` row, a *checkpoint*
with each batch of results it writes: TCP probes go out in the order of a keyed permutation, and the
engine reports the seed it used and, per batch of hosts, a watermark below which every probe is
finished and its result was handed over (`portlens._core.CoreScan.checkpoint`; the engine's design
is in ``src/engine/checkpoint.rs``). The checkpoint is written in the same transaction as (or after)
every result it covers, so after a SIGKILL whatever was committed is consistent.

`resume` rebuilds the scan's request from the recorded options, hands the engine the checkpoint,
and writes into the same ``scans`` row: the engine skips every probe below the watermarks, starts
its counters (closed/filtered counts, progress) where the interrupted run stopped, and the writer
drops results already stored (probes above the watermark that had finished before the interruption
are made again). UDP is run again whole (the stored UDP results are deleted first), as are host
discovery of the hosts not yet port-scanned. The row ends "complete", with one set of results
equal to an uninterrupted scan's: the same open ports and the same counts per state.

Per-host counts and statistics in the resumed result cover the resumed run (hosts all of whose
results came before the interruption are listed from their stored ports).

A Dask scan (``executor=``) records the shards it merged: `resume` re-runs the others only
(`portlens.distributed`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from . import _scan
from .exceptions import OptionError, ResumeError
from .progress import ProgressCallback
from .results import ScanResult

if TYPE_CHECKING:
    from .store import Store

__all__ = ["resume", "start", "ENGINE_FORMAT", "CHANGEABLE"]

#: The engine's checkpoint format (`checkpoint::FORMAT` in ``src/engine/checkpoint.rs``).
ENGINE_FORMAT = 1

#: Options a resumed scan may change: how fast and how patiently it probes, not what or in which order.
CHANGEABLE = frozenset(
    {
        "rate",
        "concurrency",
        "max_per_host",
        "initial_rtt_timeout",
        "min_rtt_timeout",
        "max_rtt_timeout",
        "min_retries",
        "max_retries",
        "service_timeout",
        "resolve_timeout",
        # where probes leave from (the host resuming may not have the saved scan's interface)
        "source",
        "interface",
    }
)

# Recorded options that are not arguments of a request (they are rebuilt into the port spec).
_NOT_ARGS = frozenset({"targets", "ports", "udp_ports", "exclude_ports"})


def _open(store: Store | str | os.PathLike[str] | None) -> tuple[Store, bool]:
    from .store import Store
    from .store import open as open_store

    if isinstance(store, Store):
        return store, False
    return open_store(store), True


def _port_spec(options: Mapping[str, Any]) -> str:
    """The port specification that gives back the recorded TCP and UDP port lists."""
    protocol = options.get("protocol") or "tcp"
    tcp, udp = options.get("ports") or "", options.get("udp_ports") or ""
    if protocol == "tcp":
        return str(tcp)
    if protocol == "udp":
        return str(udp)
    # a prefix applies to one item: every item gets its protocol's
    return ",".join([f"T:{i}" for i in str(tcp).split(",") if i] + [f"U:{i}" for i in str(udp).split(",") if i])


def _merged_options(recorded: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded options with ``overrides``; an option that changes what is probed, or in which
    order, raises `OptionError` (the same value as recorded is fine)."""
    options = {k: v for k, v in recorded.items() if k not in _NOT_ARGS}
    for name, value in overrides.items():
        if value is None or name in CHANGEABLE:
            if value is not None:
                options[name] = value
            continue
        if name in ("targets", "ports") or (name in recorded and value != recorded[name]):
            raise OptionError(
                f"{name}={value!r} differs from the saved scan's ({recorded.get(name)!r}): a resumed scan "
                f"probes the same targets and ports in the same order; only {', '.join(sorted(CHANGEABLE))} "
                "may change",
                item=name,
            )
        if name not in recorded:
            raise OptionError(f"{name} cannot be given when resuming a scan", item=name)
    return options


def _checkpoint_of(info: Mapping[str, Any], scan_id: int) -> Mapping[str, Any]:
    if info["status"] == "complete":
        raise ResumeError(f"scan #{scan_id} is complete: there is nothing to resume", item=str(scan_id))
    cp = info["checkpoint"]
    if not isinstance(cp, Mapping) or cp.get("kind") not in ("local", "dask"):
        raise ResumeError(
            f"scan #{scan_id} has no checkpoint: it was saved by a portlens without resumable scans "
            "(or by store.save); scan again instead",
            item=str(scan_id),
        )
    engine = cp.get("engine")
    if cp["kind"] == "local" and engine is not None and engine.get("format") != ENGINE_FORMAT:
        raise ResumeError(
            f"scan #{scan_id} was saved by a portlens whose checkpoints this one cannot read "
            f"(format {engine.get('format')!r}, this one reads {ENGINE_FORMAT}); scan again instead",
            item=str(scan_id),
        )
    return cp


def _prepare(
    store: Store, scan_id: int, overrides: Mapping[str, Any]
) -> tuple[Mapping[str, Any], Mapping[str, Any], dict[str, Any], Any]:
    """Check that ``scan_id`` can be resumed with ``overrides``: (its row, checkpoint, options,
    ScanInfo). Nothing is changed in the store yet."""
    from .store.schema import scans

    info = store.scan(scan_id)  # NotFoundError for an unknown id
    with store.engine.connect() as conn:
        row = dict(conn.execute(select(scans).where(scans.c.id == int(scan_id))).mappings().one())
    cp = _checkpoint_of(row, scan_id)
    recorded = dict(row["options"] or {})
    if not recorded.get("targets"):
        raise ResumeError(f"scan #{scan_id} has no recorded options to resume it with", item=str(scan_id))
    options = _merged_options(recorded, overrides)
    return row, cp, options, info


def start(
    scan_id: int,
    store: Store | str | os.PathLike[str] | None = None,
    *,
    progress: ProgressCallback | None = None,
    close_progress: bool = False,
    **overrides: Any,
) -> Any:
    """Resume saved scan ``scan_id`` of ``store`` (a `portlens.store.Store`, a URL or path; None: the
    default store) and return it running (a `portlens.Scan`, or a Dask scan's
    `portlens.distributed.DistributedScan` when it ran on Dask: give ``executor=`` then).

    ``overrides``: options in `CHANGEABLE` (``rate=``...); any other option must equal the saved
    one. Raises `NotFoundError` for an unknown id, `ResumeError` for a complete scan or one without
    a usable checkpoint, `OptionError` for a conflicting option; the store is unchanged then.
    """
    from .store.writer import reopen

    db, owned = _open(store)
    try:
        executor = overrides.pop("executor", None)
        row, cp, options, info = _prepare(db, int(scan_id), overrides)
        if cp["kind"] == "dask":
            from . import distributed

            if executor is None:
                raise OptionError(f"scan #{scan_id} ran on Dask: give executor= to resume it", item="executor")
            recorded = dict(row["options"])
            return distributed.runner.resume(
                db,
                int(scan_id),
                cp,
                options,
                recorded,
                _port_spec(recorded),
                executor=executor,
                progress=progress,
                owned=owned,
            )
        if executor is not None:
            raise OptionError(f"scan #{scan_id} ran locally: resume it without executor=", item="executor")
        recorded = dict(row["options"])
        request = _scan.build_request(list(recorded["targets"]), _port_spec(recorded), {**options, "allow_large": True})
        engine = cp.get("engine")
        if engine is not None:
            import json

            request = _scan.Request(request.core.resumed(json.dumps(engine)), request.origins, request._given)
        try:
            # the engine checks the checkpoint against the targets and ports before any probe
            core = request.start()
        except OptionError as e:
            if e.item != "resume":
                raise
            raise ResumeError(f"scan #{scan_id} cannot be resumed: {e.message}", item=str(scan_id)) from e
        try:
            writer, prior = reopen(db, int(scan_id), owns=owned)  # from here on the store changes
        except BaseException:
            core.cancel()
            raise
    except BaseException:
        if owned:
            db.close()
        raise
    return _scan.Scan(
        core,
        {**recorded, **{k: v for k, v in overrides.items() if v is not None}},
        progress,
        sink=writer,
        close_progress=close_progress,
        prior=prior,
        started=info.started,
    )


def resume(
    scan_id: int,
    store: Store | str | os.PathLike[str] | None = None,
    *,
    progress: ProgressCallback | None = None,
    close_progress: bool = False,
    **overrides: Any,
) -> ScanResult:
    """Resume saved scan ``scan_id`` (see `start`) and return its complete result; the store's row
    ends "complete". Ctrl-C interrupts it again (`ScanInterrupted`), and it can be resumed again."""
    s = start(scan_id, store, progress=progress, close_progress=close_progress, **overrides)
    if isinstance(s, _scan.Scan):
        return _scan.run(s)
    from .distributed.runner import run_distributed

    try:
        return run_distributed(s)
    finally:
        if close_progress and progress is not None and hasattr(progress, "close"):
            progress.close()

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


#: The largest id a store can hold (SQLite's and PostgreSQL's 64-bit signed integers).
_MAX_ID = (1 << 63) - 1


def _scan_id(value: Any) -> int:
    """A scan id as the user gave it: an int (not a bool, which Python counts as one) or its decimal
    text. A float is refused rather than truncated (1.5 is not scan #1)."""
    if isinstance(value, int) and not isinstance(value, bool):
        scan_id = value
    elif isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) <= 20:
        scan_id = int(value.strip())
    else:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise ResumeError(f"a scan id is a whole number (portlens history lists them), not {shown}", item="scan_id")
    if not 1 <= scan_id <= _MAX_ID:
        from .store import NotFoundError

        raise NotFoundError(f"no scan #{scan_id}: scan ids are 1 to {_MAX_ID}", item=str(scan_id))
    return scan_id


def _damaged(scan_id: int, why: str) -> ResumeError:
    return ResumeError(f"scan #{scan_id} cannot be resumed: {why}; scan again instead", item=str(scan_id))


def _check_options(recorded: Any, scan_id: int) -> dict[str, Any]:
    """The recorded options, if they have the shape a scan writes (a mapping with a list of target
    strings and port texts); the values themselves are checked by the options layer, as a new scan's."""
    if not isinstance(recorded, Mapping) or not recorded.get("targets"):
        raise ResumeError(f"scan #{scan_id} has no recorded options to resume it with", item=str(scan_id))
    targets = recorded["targets"]
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise _damaged(scan_id, "its recorded targets are not a list of target texts")
    for name in ("ports", "udp_ports", "protocol"):
        if recorded.get(name) is not None and not isinstance(recorded[name], str):
            raise _damaged(scan_id, f"its recorded {name} is not a text")
    return dict(recorded)


def _stored_counts(store: Store, scan_id: int) -> dict[str, int]:
    """TCP results stored for ``scan_id``, by state."""
    from sqlalchemy import func

    from .store.schema import scan_ports

    q = (
        select(scan_ports.c.state, func.count())
        .where(scan_ports.c.scan_id == scan_id, scan_ports.c.protocol == "tcp")
        .group_by(scan_ports.c.state)
    )
    with store.engine.connect() as conn:
        return {str(state): int(n) for state, n in conn.execute(q).all()}


def _check_counts(
    engine: Mapping[str, Any], recorded: Mapping[str, Any], stored: Mapping[str, int], scan_id: int
) -> None:
    """Every result below the checkpoint's watermarks was stored before the checkpoint (same
    transaction, or an earlier one): a kept state the checkpoint counts more of than the store holds
    means a checkpoint that is not this scan's (copied from another row, or edited). Resuming would
    skip probes whose results are nowhere and end "complete". Malformed counts are left to the
    engine, which refuses them."""
    from .results import STATES

    keep = recorded.get("keep") or ["open"]
    batches = engine.get("batches")
    if not isinstance(batches, list) or not isinstance(keep, list):
        return
    totals = [0] * len(STATES)
    for b in batches:
        counts = b.get("counts") if isinstance(b, Mapping) else None
        if not isinstance(counts, list) or len(counts) != len(STATES):
            return
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in counts):
            return
        totals = [t + n for t, n in zip(totals, counts, strict=True)]
    for state, n in zip(STATES, totals, strict=True):
        if state in keep and n > stored.get(state, 0):
            raise _damaged(
                scan_id,
                f"its checkpoint counts {n} {state} port(s) already probed, but the store holds "
                f"{stored.get(state, 0)}: the checkpoint is not this scan's",
            )


def _check_stored(store: Store, scan_id: int, recorded: Mapping[str, Any]) -> None:
    """The stored results become part of the resumed scan as they are: each must be one the scan
    could have found (a known state and protocol, a port of its lists, an address of its targets
    when they are addresses and networks; hostnames cannot be checked without resolving them).
    Rows written by something else (another scan's moved here, a hand edit) would otherwise end in a
    "complete" scan with an open port it never probed."""
    import ipaddress

    from ._core import parse_ports
    from .results import STATES
    from .store.schema import scan_ports

    mine = scan_ports.c.scan_id == scan_id

    def distinct(column: Any, *where: Any) -> set[Any]:
        with store.engine.connect() as conn:
            return {r[0] for r in conn.execute(select(column).where(mine, *where).distinct())}

    for state in distinct(scan_ports.c.state) - set(STATES):
        raise _damaged(scan_id, f"the store holds a result of state {str(state)[:40]!r}, which no scan gives")
    for protocol in distinct(scan_ports.c.protocol) - {"tcp", "udp"}:
        raise _damaged(scan_id, f"the store holds a result of protocol {str(protocol)[:40]!r}")
    for protocol, spec in (("tcp", recorded.get("ports")), ("udp", recorded.get("udp_ports"))):
        stored = distinct(scan_ports.c.port, scan_ports.c.protocol == protocol)
        try:
            allowed = set(parse_ports(spec)) if spec else set()
        except ValueError:
            raise _damaged(scan_id, f"its recorded {protocol} ports cannot be read") from None
        for port in sorted(stored - allowed)[:1]:
            raise _damaged(
                scan_id, f"the store holds a result of {protocol} port {port}, which the scan does not probe"
            )
    try:
        networks = [ipaddress.ip_network(t, strict=False) for t in recorded["targets"]]
    except ValueError:
        return  # ranges or hostnames: the engine's own checks of the checkpoint are what there is
    for n in list(networks):  # an IPv4-mapped target is scanned, and reported, as the IPv4 address
        mapped = n.network_address.ipv4_mapped if isinstance(n, ipaddress.IPv6Network) else None
        if mapped is not None and n.prefixlen >= 96:
            networks.append(ipaddress.ip_network(f"{mapped}/{n.prefixlen - 96}", strict=False))
    for host in sorted(distinct(scan_ports.c.host)):
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            raise _damaged(
                scan_id, f"the store holds a result of {str(host)[:60]!r}, which is not an address"
            ) from None
        if not any(ip.version == n.version and ip in n for n in networks):
            raise _damaged(scan_id, f"the store holds a result of {host}, which is not among the scan's targets")


def _checkpoint_of(info: Mapping[str, Any], scan_id: int) -> Mapping[str, Any]:
    from .store.schema import Unreadable

    if info["status"] == "complete":
        raise ResumeError(f"scan #{scan_id} is complete: there is nothing to resume", item=str(scan_id))
    cp = info["checkpoint"]
    if isinstance(cp, Unreadable):
        raise _damaged(scan_id, f"its checkpoint cannot be read ({cp.reason})")
    if not isinstance(cp, Mapping) or cp.get("kind") not in ("local", "dask"):
        raise ResumeError(
            f"scan #{scan_id} has no checkpoint: it was saved by a portlens without resumable scans "
            "(or by store.save); scan again instead",
            item=str(scan_id),
        )
    engine = cp.get("engine")
    if cp["kind"] == "local" and engine is not None and not isinstance(engine, Mapping):
        raise _damaged(scan_id, "its checkpoint's engine part is not an object")
    if cp["kind"] == "dask":
        shards = cp.get("shards", {})
        if not isinstance(shards, Mapping) or not all(
            isinstance(k, str) and k.isdecimal() and isinstance(v, Mapping) for k, v in shards.items()
        ):
            raise _damaged(scan_id, "its checkpoint's merged shards are not a map of shard numbers to results")
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
    from .store.rows import store_errors
    from .store.schema import scans

    info = store.scan(scan_id)  # NotFoundError for an unknown id
    with store_errors(store.url):
        with store.engine.connect() as conn:
            row = dict(conn.execute(select(scans).where(scans.c.id == int(scan_id))).mappings().one())
        cp = _checkpoint_of(row, scan_id)
        recorded = _check_options(row["options"], scan_id)
        row["options"] = recorded
        if cp["kind"] == "local" and isinstance(cp.get("engine"), Mapping):
            _check_counts(cp["engine"], recorded, _stored_counts(store, scan_id), scan_id)
        _check_stored(store, scan_id, recorded)
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
        scan_id = _scan_id(scan_id)
        row, cp, options, info = _prepare(db, scan_id, overrides)
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
        try:
            if engine is not None:
                import json

                # the engine reads the checkpoint here, and checks it against the targets and ports
                # in `start`, before any probe
                request = _scan.Request(request.core.resumed(json.dumps(engine)), request.origins, request._given)
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

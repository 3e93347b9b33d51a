"""`Store`: scans saved as they run, named target sets (profiles), history, retention and drift."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import ColumnElement, Connection, Engine, RowMapping, and_, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ..exceptions import OptionError
from ..results import STATES, HostResult, PortResult, ScanResult, by_host, host_key, port_key
from .engine import create, display_url, resolve_url, write_tx
from .errors import NotFoundError, StoreError
from .migrations import migrate
from .schema import profiles, scan_hosts, scan_ports, scans

if TYPE_CHECKING:
    from ..policy import Assessment, Baseline, Policy
    from .drift import Drift

__all__ = ["Store", "ScanWriter", "ScanInfo", "Profile", "target_key", "open_store"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _db(fn: _F) -> _F:
    """Database errors (server gone, disk full, locked for too long) become `StoreError`s."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except SQLAlchemyError as e:
            url = getattr(self, "url", None) or self.store.url
            raise StoreError(f"store {display_url(url)}: {_reason(e)}") from e

    return cast(_F, wrapper)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(value: datetime | None) -> datetime | None:
    """Timestamps come back naive from SQLite and in the session zone from PostgreSQL: make them UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _plain(value: Any) -> Any:
    """JSON-safe copy (options may hold paths or other objects)."""
    return json.loads(json.dumps(value, default=str))


def target_key(targets: Sequence[str], options: Mapping[str, Any]) -> str:
    """What makes two one-off scans "of the same targets": targets, excludes, ports and protocol."""
    doc = {
        "targets": sorted(str(t) for t in targets),
        "exclude": sorted(str(t) for t in (options.get("exclude") or ())),
        "ports": options.get("ports"),
        "udp_ports": options.get("udp_ports"),
        "protocol": options.get("protocol") or "tcp",
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Profile:
    """A named target set: what ``portlens scan --profile NAME`` scans, and how it is assessed.
    ``options``: the other ``portlens scan`` options, by their command-line names with ``_``
    (``{"rate": 500.0, "max_retries": 2, "discovery": False}``)."""

    name: str
    targets: tuple[str, ...]
    ports: str
    options: Mapping[str, Any] = field(default_factory=dict)
    policy: str | None = None
    baseline: str | None = None
    created: datetime | None = None
    updated: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "targets": list(self.targets),
            "ports": self.ports,
            "options": dict(self.options),
            "policy": self.policy,
            "baseline": self.baseline,
            "created": None if self.created is None else self.created.isoformat(),
            "updated": None if self.updated is None else self.updated.isoformat(),
        }


@dataclass(frozen=True)
class ScanInfo:
    """One saved scan, without its port results (`Store.load` reads those)."""

    id: int
    profile: str | None
    targets: tuple[str, ...]
    ports: str
    status: str  # "complete" or "incomplete"
    result_status: str | None  # the engine's status once finished ("complete", "cancelled")
    started: datetime
    finished: datetime | None
    updated: datetime
    open_ports: int
    counts: Mapping[str, int] = field(default_factory=dict)
    assessment: Mapping[str, Any] | None = None
    target_key: str = ""

    @property
    def group(self) -> tuple[str | None, str]:
        """The target set: scans of the same profile, or one-off scans of the same targets."""
        return (self.profile, self.target_key if self.profile is None else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "profile": self.profile,
            "targets": list(self.targets),
            "ports": self.ports,
            "status": self.status,
            "result_status": self.result_status,
            "started": self.started.isoformat(),
            "finished": None if self.finished is None else self.finished.isoformat(),
            "open_ports": self.open_ports,
            "counts": dict(self.counts),
            "assessment": None if self.assessment is None else dict(self.assessment),
        }


def _port_row(scan_id: int, p: PortResult) -> dict[str, Any]:
    return {
        "scan_id": scan_id,
        "host": p.host,
        "port": p.port,
        "protocol": p.protocol,
        "state": p.state,
        "reason": p.reason,
        "rtt": p.rtt,
        "attempts": p.attempts,
        "hostname": p.hostname,
        "service": None if p.service is None else _plain(dict(p.service)),
    }


def _assessment_summary(a: Assessment) -> dict[str, Any]:
    return {
        "score": a.score,
        "counts": dict(a.counts),
        "findings": len(a.findings),
        "suppressed": len(a.suppressed),
        "policy": list(a.policy),
        "as_of": a.as_of,
    }


class ScanWriter:
    """Writes one scan's port results to the store while it runs.

    `add` buffers and writes a batch in its own transaction every ``batch`` results or ``interval``
    seconds, so a scan that dies leaves an "incomplete" scan holding every batch written, and never
    half a batch. `finish` writes the rest, the hosts and the counts, and marks the scan complete (or
    leaves it incomplete when the engine's result was cancelled).
    """

    def __init__(self, store: Store, scan_id: int, *, batch: int = 500, interval: float = 0.5, owns: bool = False):
        self.store = store
        self.id = scan_id
        self.batch = batch
        self.interval = interval
        self._owns = owns
        self._buffer: list[dict[str, Any]] = []
        self._seen: set[tuple[str, int, str]] = set()
        self._last = time.monotonic()
        self.finished = False

    def owns_store(self) -> None:
        """Close the store when the scan is finished or closed (a store opened for this scan alone)."""
        self._owns = True

    def add(self, ports: Iterable[PortResult]) -> None:
        """Queue port results (duplicates are dropped); writes a batch when one is due. Calling it with
        nothing still writes a pending batch whose time has come."""
        for p in ports:
            key = (p.host, p.port, p.protocol)
            if key not in self._seen:
                self._seen.add(key)
                self._buffer.append(_port_row(self.id, p))
        if self._buffer and (len(self._buffer) >= self.batch or time.monotonic() - self._last >= self.interval):
            self.flush()

    @_db
    def flush(self) -> None:
        """Write what is queued, in one transaction."""
        rows, self._buffer = self._buffer, []
        self._last = time.monotonic()
        if not rows:
            return
        try:
            with write_tx(self.store.engine) as conn:
                self._write(conn, rows)
        except BaseException:
            self._buffer = rows + self._buffer  # kept for the next try
            raise

    def _write(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.execute(insert(scan_ports), rows)
        opened = sum(1 for r in rows if r["state"] == "open")
        conn.execute(
            update(scans).where(scans.c.id == self.id).values(open_ports=scans.c.open_ports + opened, updated=_now())
        )

    @_db
    def finish(self, result: ScanResult, assessment: Assessment | None = None) -> int:
        """Record the end of the scan; returns its id. Safe to call twice (the second does nothing)."""
        if self.finished:
            return self.id
        self.add(())
        for p in result.ports:
            key = (p.host, p.port, p.protocol)
            if key not in self._seen:
                self._seen.add(key)
                self._buffer.append(_port_row(self.id, p))
        rows, self._buffer = self._buffer, []
        with write_tx(self.store.engine) as conn:
            self._write(conn, rows)
            _write_end(conn, self.id, result, assessment)
        self.finished = True
        if self._owns:
            self.store.close()
        return self.id

    def close(self) -> None:
        """Write what is queued and leave the scan as it is (incomplete unless finished)."""
        try:
            self.flush()
        finally:
            if self._owns and not self.finished:
                self.store.close()


def _write_end(conn: Connection, scan_id: int, result: ScanResult, assessment: Assessment | None) -> None:
    if result.hosts:
        conn.execute(
            insert(scan_hosts),
            [
                {
                    "scan_id": scan_id,
                    "address": h.address,
                    "hostname": h.hostname,
                    "state": h.state,
                    "reason": h.reason,
                    "counts": dict(h.counts),
                    "rtt": h.rtt,
                    "stats": None if h.stats is None else _plain(dict(h.stats)),
                }
                for h in {h.address: h for h in result.hosts}.values()
            ],
        )
    open_count = conn.execute(
        select(func.count())
        .select_from(scan_ports)
        .where(scan_ports.c.scan_id == scan_id, scan_ports.c.state == "open")
    ).scalar_one()
    conn.execute(
        update(scans)
        .where(scans.c.id == scan_id)
        .values(
            status="complete" if result.status == "complete" else "incomplete",
            result_status=result.status,
            started=_utc(result.started),
            finished=_utc(result.finished),
            updated=_now(),
            hosts_total=result.hosts_total,
            ports_per_host=result.ports_per_host,
            open_ports=open_count,
            counts=_plain(dict(result.counts)),
            options=_plain(dict(result.options)),
            stats=_plain(dict(result.stats)),
            warnings=list(result.warnings) or None,
            assessment=None if assessment is None else _assessment_summary(assessment),
        )
    )


class Store:
    """Scan history in SQLite or PostgreSQL. Open it with `portlens.store.open`."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url

    def __repr__(self) -> str:
        return f"<portlens Store {display_url(self.url)}>"

    @property
    def backend(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- profiles --------------------------------------------------------------------------------
    @_db
    def add_profile(
        self,
        name: str,
        targets: str | Sequence[str],
        ports: str = "top-1000",
        *,
        options: Mapping[str, Any] | None = None,
        policy: str | os.PathLike[str] | None = None,
        baseline: str | os.PathLike[str] | None = None,
        replace: bool = False,
    ) -> Profile:
        """Save a named target set. Policy and baseline paths are stored absolute; ``replace=True``
        updates an existing profile (its scans stay with it)."""
        name = name.strip()
        if not name:
            raise NotFoundError("a profile needs a name", item=name)
        items = [targets] if isinstance(targets, str) else list(targets)
        if not items:
            raise NotFoundError(f"profile {name!r}: no targets", item=name)
        now = _now()
        row = {
            "targets": [str(t) for t in items],
            "ports": str(ports),
            "options": _plain(dict(options or {})),
            "policy": None if policy is None else str(Path(policy).expanduser().absolute()),
            "baseline": None if baseline is None else str(Path(baseline).expanduser().absolute()),
            "updated": now,
        }
        with write_tx(self.engine) as conn:
            exists = conn.execute(select(profiles.c.name).where(profiles.c.name == name)).first() is not None
            if exists and not replace:
                raise NotFoundError(f"profile {name!r} exists already (replace it with --replace)", item=name)
            if exists:
                conn.execute(update(profiles).where(profiles.c.name == name).values(**row))
            else:
                conn.execute(insert(profiles).values(name=name, created=now, **row))
        return self.profile(name)

    @_db
    def profile(self, name: str) -> Profile:
        with self.engine.connect() as conn:
            row = conn.execute(select(profiles).where(profiles.c.name == name)).mappings().first()
        if row is None:
            raise NotFoundError(f"no profile {name!r} in {display_url(self.url)}", item=name)
        return _profile(row)

    @_db
    def profiles(self) -> list[Profile]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(profiles).order_by(profiles.c.name)).mappings().all()
        return [_profile(r) for r in rows]

    @_db
    def remove_profile(self, name: str) -> bool:
        """Forget a profile; its saved scans stay (`prune` removes old ones)."""
        with write_tx(self.engine) as conn:
            return bool(conn.execute(delete(profiles).where(profiles.c.name == name)).rowcount)

    # -- saving ----------------------------------------------------------------------------------
    @_db
    def begin(
        self,
        options: Mapping[str, Any],
        profile: str | None = None,
        *,
        started: datetime | None = None,
        targets: Sequence[str] | None = None,
        batch: int = 500,
        interval: float = 0.5,
    ) -> ScanWriter:
        """Record the start of a scan (status "incomplete") and return its writer. ``options`` are
        the scan's options (``targets`` and ``ports`` among them, as `ScanResult.options` has them)."""
        tlist = [str(t) for t in (targets if targets is not None else options.get("targets") or ())]
        with write_tx(self.engine) as conn:
            scan_id = _insert_scan(conn, tlist, options, profile, started or _now())
        return ScanWriter(self, scan_id, batch=batch, interval=interval)

    @_db
    def save(self, result: ScanResult, profile: str | None = None, assessment: Assessment | None = None) -> int:
        """Save a finished (or cancelled) scan in one transaction; returns its id."""
        tlist = [str(t) for t in result.options.get("targets") or ()] or sorted({p.host for p in result.ports})
        with write_tx(self.engine) as conn:
            scan_id = _insert_scan(conn, tlist, result.options, profile, result.started)
            rows = list({(p.host, p.port, p.protocol): _port_row(scan_id, p) for p in result.ports}.values())
            for i in range(0, len(rows), 1000):
                conn.execute(insert(scan_ports), rows[i : i + 1000])
            _write_end(conn, scan_id, result, assessment)
        return scan_id

    @_db
    def set_assessment(self, scan_id: int, assessment: Assessment) -> None:
        """Keep an assessment's summary (score, counts by severity) with a saved scan, for `history`."""
        with write_tx(self.engine) as conn:
            conn.execute(
                update(scans).where(scans.c.id == int(scan_id)).values(assessment=_assessment_summary(assessment))
            )

    # -- reading ---------------------------------------------------------------------------------
    @_db
    def scans(
        self, profile: str | None = None, *, like: int | ScanInfo | None = None, status: str | None = None
    ) -> list[ScanInfo]:
        """Saved scans, oldest first: all of them, those of ``profile``, or those of the same target set
        as the scan ``like``; ``status`` keeps "complete" or "incomplete" ones."""
        q = select(scans)
        if profile is not None:
            q = q.where(scans.c.profile == profile)
        if like is not None:
            q = q.where(_group_clause(self.scan(like) if isinstance(like, int) else like))
        if status is not None:
            q = q.where(scans.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(scans.c.started, scans.c.id)).mappings().all()
        return [_info(r) for r in rows]

    @_db
    def scan(self, scan_id: int) -> ScanInfo:
        with self.engine.connect() as conn:
            row = conn.execute(select(scans).where(scans.c.id == int(scan_id))).mappings().first()
        if row is None:
            raise NotFoundError(f"no scan #{scan_id} in {display_url(self.url)}", item=str(scan_id))
        return _info(row)

    def latest(self, profile: str | None = None, *, complete: bool = True) -> ScanInfo | None:
        """The most recent scan (of ``profile``), complete ones only unless ``complete=False``."""
        found = self.scans(profile, status="complete" if complete else None)
        return found[-1] if found else None

    @_db
    def load(self, scan_id: int | ScanInfo) -> ScanResult:
        """A saved scan as a `ScanResult`; an incomplete one has status "incomplete" (or "cancelled")
        and holds the port results written before it stopped."""
        info = scan_id if isinstance(scan_id, ScanInfo) else self.scan(scan_id)
        with self.engine.connect() as conn:
            prow = conn.execute(select(scan_ports).where(scan_ports.c.scan_id == info.id)).mappings().all()
            hrow = conn.execute(select(scan_hosts).where(scan_hosts.c.scan_id == info.id)).mappings().all()
            srow = conn.execute(select(scans).where(scans.c.id == info.id)).mappings().one()
        ports = sorted(
            (
                PortResult(
                    host=r["host"],
                    port=r["port"],
                    protocol=r["protocol"],
                    state=r["state"],
                    reason=r["reason"],
                    rtt=r["rtt"],
                    attempts=r["attempts"],
                    hostname=r["hostname"],
                    service=r["service"],
                )
                for r in prow
            ),
            key=port_key,
        )
        grouped = by_host(ports)
        if hrow:
            hosts = [
                HostResult(
                    address=h["address"],
                    hostname=h["hostname"],
                    counts=dict(h["counts"] or {}),
                    rtt=h["rtt"],
                    ports=tuple(grouped.get(h["address"], ())),
                    state=h["state"],
                    reason=h["reason"],
                    stats=None if h["stats"] is None else dict(h["stats"]),
                )
                for h in hrow
            ]
            hosts.sort(key=host_key)
        else:  # never finished: the hosts its port results show
            hosts = [
                HostResult(
                    address=addr,
                    hostname=next((p.hostname for p in ps if p.hostname), None),
                    counts={s: sum(1 for p in ps if p.state == s) for s in STATES},
                    rtt=None,
                    ports=tuple(ps),
                )
                for addr, ps in grouped.items()
            ]
        counts = dict(srow["counts"] or {}) or {s: sum(1 for p in ports if p.state == s) for s in STATES}
        options = dict(srow["options"] or {}) or {"targets": list(info.targets), "ports": info.ports}
        return ScanResult(
            ports=tuple(ports),
            hosts=tuple(hosts),
            counts=counts,
            status=info.result_status or "incomplete",
            started=info.started,
            finished=info.finished or info.updated,
            hosts_total=int(srow["hosts_total"] or len(hosts)),
            ports_per_host=int(srow["ports_per_host"] or 0),
            options=options,
            stats=dict(srow["stats"] or {}),
            warnings=tuple(srow["warnings"] or ()),
        )

    # -- assessment, drift and history -----------------------------------------------------------
    def _policy_for(
        self,
        info: ScanInfo,
        policy: str | os.PathLike[str] | Policy | None,
        baseline: str | os.PathLike[str] | Baseline | None,
    ) -> tuple[Any, Any]:
        """Explicit policy/baseline first, else those of the scan's profile, else the default policy."""
        if info.profile is not None and (policy is None or baseline is None):
            try:
                prof = self.profile(info.profile)
            except NotFoundError:
                prof = None
            if prof is not None:
                policy = policy if policy is not None else prof.policy
                baseline = baseline if baseline is not None else prof.baseline
        return policy, baseline

    def assess(
        self,
        scan_id: int | ScanInfo,
        policy: str | os.PathLike[str] | Policy | None = None,
        baseline: str | os.PathLike[str] | Baseline | None = None,
    ) -> Assessment:
        """Assess a saved scan with ``policy``/``baseline``, or its profile's, or the default policy."""
        from ..policy import assess

        info = scan_id if isinstance(scan_id, ScanInfo) else self.scan(scan_id)
        pol, base = self._policy_for(info, policy, baseline)
        return assess(self.load(info), policy=pol, baseline=base)

    def last_two(self, profile: str | None = None) -> tuple[ScanInfo, ScanInfo]:
        """The two most recent complete scans of ``profile``, or of the target set of the latest scan."""
        done = self.scans(profile, status="complete")
        if not done:
            what = f"profile {profile!r}" if profile is not None else "this store"
            raise NotFoundError(f"no complete scan of {what} in {display_url(self.url)}", item=profile)
        last = done[-1]
        same = [s for s in done if s.group == last.group]
        if len(same) < 2:
            what = f"profile {profile!r}" if profile is not None else f"targets {' '.join(last.targets)}"
            raise NotFoundError(f"only one complete scan of {what}: nothing to compare yet", item=profile)
        return same[-2], same[-1]

    def diff(
        self,
        a: int | ScanInfo | None = None,
        b: int | ScanInfo | None = None,
        *,
        profile: str | None = None,
        policy: str | os.PathLike[str] | Policy | None = None,
        baseline: str | os.PathLike[str] | Baseline | None = None,
    ) -> Drift:
        """What changed from scan ``a`` to scan ``b`` (by default the last two complete scans of
        ``profile``, or of the latest scan's target set). Both are assessed with the same policy and
        baseline (explicit, else the profile's, else the default policy); findings match by id."""
        from ..policy import Baseline as BaselineType
        from ..policy import Policy as PolicyType
        from ..policy import assess
        from .drift import ScanRef, compute_drift

        if (a is None) != (b is None):
            raise NotFoundError("diff needs two scans, or none (the last two)")
        if a is None or b is None:
            ia, ib = self.last_two(profile)
        else:
            ia = a if isinstance(a, ScanInfo) else self.scan(a)
            ib = b if isinstance(b, ScanInfo) else self.scan(b)
        pol, base = self._policy_for(ib, policy, baseline)
        # read the files once for both scans
        pol_obj = pol if isinstance(pol, PolicyType) or pol is None else PolicyType.load(pol)
        base_obj = base if isinstance(base, BaselineType) or base is None else BaselineType.load(base)
        ra, rb = self.load(ia), self.load(ib)
        fa = assess(ra, policy=pol_obj, baseline=base_obj)
        fb = assess(rb, policy=pol_obj, baseline=base_obj)
        opened = {(p.host, p.port, p.protocol) for p in rb.ports if p.state == "open"} - {
            (p.host, p.port, p.protocol) for p in ra.ports if p.state == "open"
        }
        return compute_drift(
            ScanRef.of(ia),
            ScanRef.of(ib),
            ra,
            rb,
            fa,
            fb,
            seen_before=self._open_before(ia, opened),
        )

    @_db
    def _open_before(self, info: ScanInfo, keys: set[tuple[str, int, str]]) -> set[tuple[str, int, str]]:
        """Which of ``keys`` were open in some scan of ``info``'s target set before it."""
        if not keys:
            return set()
        earlier = select(scans.c.id).where(_group_clause(info), scans.c.started < info.started, scans.c.id != info.id)
        hosts = sorted({k[0] for k in keys})
        q = (
            select(scan_ports.c.host, scan_ports.c.port, scan_ports.c.protocol)
            .where(scan_ports.c.scan_id.in_(earlier), scan_ports.c.state == "open", scan_ports.c.host.in_(hosts))
            .distinct()
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return {(r[0], r[1], r[2]) for r in rows} & keys

    def history(
        self,
        profile: str | None = None,
        *,
        policy: str | os.PathLike[str] | Policy | None = None,
        baseline: str | os.PathLike[str] | Baseline | None = None,
    ) -> list[dict[str, Any]]:
        """Points for a chart of one target set over time, oldest first: ``{"id", "started" (ISO 8601),
        "status", "open_ports", "findings" (active findings), "by_severity", "score"}``. Findings come
        from the assessment saved with the scan, else from assessing it now (profile's policy)."""
        if profile is None:
            last = self.latest(complete=False)
            chosen = [] if last is None else self.scans(like=last)
        else:
            chosen = self.scans(profile)
        points = []
        for s in chosen:
            summary = s.assessment
            if summary is None:
                summary = _assessment_summary(self.assess(s, policy, baseline))
            points.append(
                {
                    "id": s.id,
                    "started": s.started.isoformat(),
                    "status": s.status,
                    "open_ports": s.open_ports,
                    "findings": int(summary.get("findings", 0)),
                    "by_severity": dict(summary.get("counts", {})),
                    "score": float(summary.get("score", 0.0)),
                }
            )
        return points

    @_db
    def prune(self, keep: int, profile: str | None = None) -> list[int]:
        """Keep the ``keep`` most recent scans of each target set (of ``profile`` only, if given);
        delete the older ones. Returns the ids deleted."""
        if keep < 0:
            raise NotFoundError(f"keep must be 0 or more, not {keep}", item=str(keep))
        groups: dict[tuple[str | None, str], list[ScanInfo]] = {}
        for s in self.scans(profile):
            groups.setdefault(s.group, []).append(s)
        doomed = [s.id for ss in groups.values() for s in (ss[: len(ss) - keep] if keep else ss)]
        if doomed:
            with write_tx(self.engine) as conn:
                for i in range(0, len(doomed), 500):
                    chunk = doomed[i : i + 500]
                    conn.execute(delete(scan_ports).where(scan_ports.c.scan_id.in_(chunk)))
                    conn.execute(delete(scan_hosts).where(scan_hosts.c.scan_id.in_(chunk)))
                    conn.execute(delete(scans).where(scans.c.id.in_(chunk)))
        return doomed


def _group_clause(info: ScanInfo) -> ColumnElement[bool]:
    if info.profile is not None:
        return scans.c.profile == info.profile
    return and_(scans.c.profile.is_(None), scans.c.target_key == info.target_key)


def _insert_scan(
    conn: Connection, targets: Sequence[str], options: Mapping[str, Any], profile: str | None, started: datetime
) -> int:
    now = _now()
    ports = options.get("ports")
    if options.get("protocol") in ("udp", "both") and options.get("udp_ports"):
        ports = f"{ports or ''} udp:{options.get('udp_ports')}".strip()
    res = conn.execute(
        insert(scans).values(
            profile=profile,
            target_key=target_key(targets, options),
            targets=list(targets),
            ports=str(ports or ""),
            status="incomplete",
            started=_utc(started) or now,
            updated=now,
            open_ports=0,
            options=_plain(dict(options)),
        )
    )
    assert res.inserted_primary_key is not None
    return int(res.inserted_primary_key[0])


def _profile(row: RowMapping) -> Profile:
    """A profile as stored; a row of the wrong shape (edited in the database) is an `OptionError`
    (the option values themselves are checked when the profile is used: `store.commands`)."""
    name, targets, options = row["name"], row["targets"], row["options"] or {}

    def wrong(what: str) -> OptionError:
        return OptionError(f"profile {name!r}: its {what} (edited in the store?)", item=str(name))

    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
        raise wrong("targets are not a list of strings")
    if not isinstance(row["ports"], str):
        raise wrong("ports are not a string")
    if not isinstance(options, dict):
        raise wrong("options are not a mapping")
    if not all(v is None or isinstance(v, str) for v in (row["policy"], row["baseline"])):
        raise wrong("policy or baseline is not a file name")
    return Profile(
        name=name,
        targets=tuple(targets),
        ports=row["ports"],
        options=dict(options),
        policy=row["policy"],
        baseline=row["baseline"],
        created=_utc(row["created"]),
        updated=_utc(row["updated"]),
    )


def _info(row: RowMapping) -> ScanInfo:
    started = _utc(row["started"])
    updated = _utc(row["updated"])
    assert started is not None and updated is not None
    return ScanInfo(
        id=int(row["id"]),
        profile=row["profile"],
        targets=tuple(row["targets"] or ()),
        ports=row["ports"],
        status=row["status"],
        result_status=row["result_status"],
        started=started,
        finished=_utc(row["finished"]),
        updated=updated,
        open_ports=int(row["open_ports"]),
        counts=dict(row["counts"] or {}),
        assessment=row["assessment"],
        target_key=row["target_key"],
    )


def open_store(url_or_path: str | os.PathLike[str] | None = None) -> Store:
    """Open (creating or upgrading as needed) the store at ``url_or_path``: a file path or
    ``sqlite:///...`` for SQLite, ``postgresql://user@host/db`` for PostgreSQL; None for the
    default file (`default_path`)."""
    url = resolve_url(url_or_path)
    engine = create(url)
    try:
        migrate(engine, display_url(url))
    except StoreError:
        engine.dispose()
        raise
    except (DBAPIError, SQLAlchemyError, OSError) as e:
        engine.dispose()
        raise StoreError(f"cannot open store {display_url(url)}: {_reason(e)}") from None
    return Store(engine, url)


def _reason(e: BaseException) -> str:
    if isinstance(e, DBAPIError) and e.orig is not None:
        return str(e.orig).strip().splitlines()[0]
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__

"""`Store`: scans saved as they run, named target sets (profiles), history, retention and drift."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ..results import STATES, HostResult, PortResult, ScanResult, by_host, host_key, port_key
from .engine import create, display_url, resolve_url, write_tx
from .errors import NotFoundError, StoreError
from .migrations import migrate
from .profiles import Profile, profile_from_row, target_key
from .rows import error_reason, plain, translate_errors, utc_now
from .scans import ScanInfo, group_clause, insert_scan, scan_info
from .schema import profiles, scan_hosts, scan_ports, scans
from .writer import ScanWriter, assessment_summary, port_row, write_end

if TYPE_CHECKING:
    from ..policy import Assessment, Baseline, Policy
    from .drift import Drift

__all__ = ["Store", "ScanWriter", "ScanInfo", "Profile", "target_key", "open_store"]


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
    @translate_errors
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
        now = utc_now()
        row = {
            "targets": [str(t) for t in items],
            "ports": str(ports),
            "options": plain(dict(options or {})),
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

    @translate_errors
    def profile(self, name: str) -> Profile:
        with self.engine.connect() as conn:
            row = conn.execute(select(profiles).where(profiles.c.name == name)).mappings().first()
        if row is None:
            raise NotFoundError(f"no profile {name!r} in {display_url(self.url)}", item=name)
        return profile_from_row(row)

    @translate_errors
    def profiles(self) -> list[Profile]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(profiles).order_by(profiles.c.name)).mappings().all()
        return [profile_from_row(r) for r in rows]

    @translate_errors
    def remove_profile(self, name: str) -> bool:
        """Forget a profile; its saved scans stay (`prune` removes old ones)."""
        with write_tx(self.engine) as conn:
            return bool(conn.execute(delete(profiles).where(profiles.c.name == name)).rowcount)

    # -- saving ----------------------------------------------------------------------------------
    @translate_errors
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
            scan_id = insert_scan(conn, tlist, options, profile, started or utc_now())
        return ScanWriter(self, scan_id, batch=batch, interval=interval)

    @translate_errors
    def save(self, result: ScanResult, profile: str | None = None, assessment: Assessment | None = None) -> int:
        """Save a finished (or cancelled) scan in one transaction; returns its id."""
        tlist = [str(t) for t in result.options.get("targets") or ()] or sorted({p.host for p in result.ports})
        with write_tx(self.engine) as conn:
            scan_id = insert_scan(conn, tlist, result.options, profile, result.started)
            rows = list({(p.host, p.port, p.protocol): port_row(scan_id, p) for p in result.ports}.values())
            for i in range(0, len(rows), 1000):
                conn.execute(insert(scan_ports), rows[i : i + 1000])
            write_end(conn, scan_id, result, assessment)
        return scan_id

    @translate_errors
    def set_assessment(self, scan_id: int, assessment: Assessment) -> None:
        """Keep an assessment's summary (score, counts by severity) with a saved scan, for `history`."""
        with write_tx(self.engine) as conn:
            conn.execute(
                update(scans).where(scans.c.id == int(scan_id)).values(assessment=assessment_summary(assessment))
            )

    # -- reading ---------------------------------------------------------------------------------
    @translate_errors
    def scans(
        self, profile: str | None = None, *, like: int | ScanInfo | None = None, status: str | None = None
    ) -> list[ScanInfo]:
        """Saved scans, oldest first: all of them, those of ``profile``, or those of the same target set
        as the scan ``like``; ``status`` keeps "complete" or "incomplete" ones."""
        q = select(scans)
        if profile is not None:
            q = q.where(scans.c.profile == profile)
        if like is not None:
            q = q.where(group_clause(self.scan(like) if isinstance(like, int) else like))
        if status is not None:
            q = q.where(scans.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(scans.c.started, scans.c.id)).mappings().all()
        return [scan_info(r) for r in rows]

    @translate_errors
    def scan(self, scan_id: int) -> ScanInfo:
        with self.engine.connect() as conn:
            row = conn.execute(select(scans).where(scans.c.id == int(scan_id))).mappings().first()
        if row is None:
            raise NotFoundError(f"no scan #{scan_id} in {display_url(self.url)}", item=str(scan_id))
        return scan_info(row)

    def latest(self, profile: str | None = None, *, complete: bool = True) -> ScanInfo | None:
        """The most recent scan (of ``profile``), complete ones only unless ``complete=False``."""
        found = self.scans(profile, status="complete" if complete else None)
        return found[-1] if found else None

    @translate_errors
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

    @translate_errors
    def _open_before(self, info: ScanInfo, keys: set[tuple[str, int, str]]) -> set[tuple[str, int, str]]:
        """Which of ``keys`` were open in some scan of ``info``'s target set before it."""
        if not keys:
            return set()
        earlier = select(scans.c.id).where(group_clause(info), scans.c.started < info.started, scans.c.id != info.id)
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
                summary = assessment_summary(self.assess(s, policy, baseline))
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

    @translate_errors
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
        raise StoreError(f"cannot open store {display_url(url)}: {error_reason(e)}") from None
    return Store(engine, url)

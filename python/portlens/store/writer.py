"""`ScanWriter`: a scan written in batches while it runs (``save=``), each in its own transaction, and
its end (result, hosts, assessment)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, Engine, func, insert, select, update

from ..results import PortResult, ScanResult
from .engine import write_tx
from .rows import plain, translate_errors, utc, utc_now
from .schema import scan_hosts, scan_ports, scans

if TYPE_CHECKING:
    from ..policy import Assessment


class Database(Protocol):
    """What a writer needs of its `portlens.store.Store`: the engine, and closing it when the writer owns it."""

    engine: Engine

    def close(self) -> None: ...


def port_row(scan_id: int, p: PortResult) -> dict[str, Any]:
    return {"scan_id": scan_id, **p.to_dict(), "service": None if p.service is None else plain(dict(p.service))}


def assessment_summary(a: Assessment) -> dict[str, Any]:
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

    def __init__(self, store: Database, scan_id: int, *, batch: int = 500, interval: float = 0.5, owns: bool = False):
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
                self._buffer.append(port_row(self.id, p))
        if self._buffer and (len(self._buffer) >= self.batch or time.monotonic() - self._last >= self.interval):
            self.flush()

    @translate_errors
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
            update(scans).where(scans.c.id == self.id).values(open_ports=scans.c.open_ports + opened, updated=utc_now())
        )

    @translate_errors
    def finish(self, result: ScanResult, assessment: Assessment | None = None) -> int:
        """Record the end of the scan; returns its id. Safe to call twice (the second does nothing)."""
        if self.finished:
            return self.id
        self.add(())
        for p in result.ports:
            key = (p.host, p.port, p.protocol)
            if key not in self._seen:
                self._seen.add(key)
                self._buffer.append(port_row(self.id, p))
        rows, self._buffer = self._buffer, []
        with write_tx(self.store.engine) as conn:
            self._write(conn, rows)
            write_end(conn, self.id, result, assessment)
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


def write_end(conn: Connection, scan_id: int, result: ScanResult, assessment: Assessment | None) -> None:
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
                    "stats": None if h.stats is None else plain(dict(h.stats)),
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
            started=utc(result.started),
            finished=utc(result.finished),
            updated=utc_now(),
            hosts_total=result.hosts_total,
            ports_per_host=result.ports_per_host,
            open_ports=open_count,
            counts=plain(dict(result.counts)),
            options=plain(dict(result.options)),
            stats=plain(dict(result.stats)),
            warnings=list(result.warnings) or None,
            assessment=None if assessment is None else assessment_summary(assessment),
        )
    )

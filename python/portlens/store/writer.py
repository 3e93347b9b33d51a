"""`ScanWriter`: a scan written in batches while it runs (``save=``), each in its own transaction, and
its end (result, hosts, assessment)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..results import PortResult, ScanResult, utf8_value
from .engine import write_tx
from .errors import StoreError
from .rows import plain, store_errors, translate_errors, utc, utc_now
from .schema import scan_hosts, scan_ports, scans

if TYPE_CHECKING:
    from ..policy import Assessment


class Database(Protocol):
    """What a writer needs of its `portlens.store.Store`: the engine, and closing it when the writer owns it."""

    engine: Engine

    def close(self) -> None: ...


def port_row(scan_id: int, p: PortResult) -> dict[str, Any]:
    # text columns take UTF-8 only (`utf8_value`); the JSON column escapes what it is given
    row = utf8_value(p.to_dict())
    return {"scan_id": scan_id, **row, "service": None if p.service is None else plain(dict(p.service))}


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
        self._checkpoint: Mapping[str, Any] | None = None  # to write with the next batch
        self._last = time.monotonic()
        self.finished = False

    def owns_store(self) -> None:
        """Close the store when the scan is finished or closed (a store opened for this scan alone)."""
        self._owns = True

    def resuming(self, keys: Iterable[tuple[str, int, str]]) -> None:
        """Continue a scan whose results under ``keys`` are stored already (`portlens.resume`):
        probes above the checkpoint are made again, and their results must not be written twice."""
        self._seen.update(keys)

    def checkpoint(self, checkpoint: Mapping[str, Any], *, now: bool = False) -> None:
        """Record where the scan is (`portlens.resume`), in the transaction of the next batch: the
        caller gives one only after `add` got every result it covers, so a checkpoint is never
        committed without them. ``now``: write it at once."""
        self._checkpoint = checkpoint
        if now:
            self.flush()

    def add(self, ports: Iterable[PortResult]) -> None:
        """Queue port results (duplicates are dropped); writes a batch when one is due. Calling it with
        nothing still writes a pending batch whose time has come."""
        for p in ports:
            key = (p.host, p.port, p.protocol)
            if key not in self._seen:
                self._seen.add(key)
                self._buffer.append(port_row(self.id, p))
        due = len(self._buffer) >= self.batch or time.monotonic() - self._last >= self.interval
        if (self._buffer or self._checkpoint is not None) and due:
            self.flush()

    @translate_errors
    def flush(self) -> None:
        """Write what is queued, in one transaction."""
        rows, self._buffer = self._buffer, []
        checkpoint, self._checkpoint = self._checkpoint, None
        self._last = time.monotonic()
        if not rows and checkpoint is None:
            return
        try:
            with write_tx(self.store.engine) as conn:
                self._write(conn, rows, checkpoint)
        except BaseException:
            self._buffer = rows + self._buffer  # kept for the next try
            if self._checkpoint is None:
                self._checkpoint = checkpoint
            raise

    def _write(self, conn: Connection, rows: list[dict[str, Any]], checkpoint: Mapping[str, Any] | None = None) -> None:
        if rows:
            try:
                conn.execute(insert(scan_ports), rows)
            except IntegrityError:
                # This writer drops the duplicates it knows of (`_seen`): a row already there was
                # written by another writer of the same scan since, such as a second resume of it.
                raise StoreError(
                    f"scan #{self.id} is being written by another process too (resumed twice at once?): "
                    "this one stops; the other goes on"
                ) from None
        opened = sum(1 for r in rows if r["state"] == "open")
        values: dict[str, Any] = {"open_ports": scans.c.open_ports + opened, "updated": utc_now()}
        if checkpoint is not None:
            values["checkpoint"] = plain(dict(checkpoint))
        conn.execute(update(scans).where(scans.c.id == self.id).values(**values))

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
        checkpoint, self._checkpoint = self._checkpoint, None
        with write_tx(self.store.engine) as conn:
            # a cancelled scan keeps its last checkpoint; a complete one needs none
            self._write(conn, rows, checkpoint)
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


def reopen(
    store: Database, scan_id: int, *, keep_udp: bool = False, owns: bool = False
) -> tuple[ScanWriter, list[PortResult]]:
    """A writer that continues saved scan ``scan_id`` (`portlens.resume`), and the results stored
    that stay. What the resumed scan makes again is dropped first: its hosts (written at its end), and
    its UDP results unless ``keep_udp`` (a local scan runs UDP again whole; a Dask shard is merged whole).
    The writer skips the results that stay: probes above the checkpoint are made again."""
    url = getattr(store, "url", None)
    if url is not None:  # a Store: its errors (read-only, locked too long) are `StoreError`s
        with store_errors(url):
            return _reopen(store, scan_id, keep_udp=keep_udp, owns=owns)
    return _reopen(store, scan_id, keep_udp=keep_udp, owns=owns)


def _reopen(store: Database, scan_id: int, *, keep_udp: bool, owns: bool) -> tuple[ScanWriter, list[PortResult]]:
    with write_tx(store.engine) as conn:
        # checked again under the write lock: another resume may have completed it since it was read
        status = conn.execute(select(scans.c.status).where(scans.c.id == scan_id)).scalar_one_or_none()
        if status == "complete":
            from ..exceptions import ResumeError

            raise ResumeError(f"scan #{scan_id} is complete: there is nothing to resume", item=str(scan_id))
        if not keep_udp:
            conn.execute(delete(scan_ports).where(scan_ports.c.scan_id == scan_id, scan_ports.c.protocol != "tcp"))
        conn.execute(delete(scan_hosts).where(scan_hosts.c.scan_id == scan_id))
    with store.engine.connect() as conn:
        rows = conn.execute(select(scan_ports).where(scan_ports.c.scan_id == scan_id)).mappings().all()
    prior = [PortResult.from_dict({k: v for k, v in r.items() if k != "scan_id"}) for r in rows]
    writer = ScanWriter(store, scan_id, owns=owns)
    writer.resuming((p.host, p.port, p.protocol) for p in prior)
    return writer, prior


def write_end(conn: Connection, scan_id: int, result: ScanResult, assessment: Assessment | None) -> None:
    if result.hosts:
        conn.execute(
            insert(scan_hosts),
            [
                {
                    "scan_id": scan_id,
                    "address": utf8_value(h.address),
                    "hostname": utf8_value(h.hostname),
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
            **({"checkpoint": None} if result.status == "complete" else {}),
        )
    )

"""Saved scans as listed: `ScanInfo`, and recording the start of a scan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, RowMapping, and_, insert

from .profiles import target_key
from .rows import plain, utc, utc_now
from .schema import scans

if TYPE_CHECKING:
    pass


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


def group_clause(info: ScanInfo) -> ColumnElement[bool]:
    if info.profile is not None:
        return scans.c.profile == info.profile
    return and_(scans.c.profile.is_(None), scans.c.target_key == info.target_key)


def insert_scan(
    conn: Connection, targets: Sequence[str], options: Mapping[str, Any], profile: str | None, started: datetime
) -> int:
    now = utc_now()
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
            started=utc(started) or now,
            updated=now,
            open_ports=0,
            options=plain(dict(options)),
        )
    )
    assert res.inserted_primary_key is not None
    return int(res.inserted_primary_key[0])


def scan_info(row: RowMapping) -> ScanInfo:
    started = utc(row["started"])
    updated = utc(row["updated"])
    assert started is not None and updated is not None
    return ScanInfo(
        id=int(row["id"]),
        profile=row["profile"],
        targets=tuple(row["targets"] or ()),
        ports=row["ports"],
        status=row["status"],
        result_status=row["result_status"],
        started=started,
        finished=utc(row["finished"]),
        updated=updated,
        open_ports=int(row["open_ports"]),
        counts=dict(row["counts"] or {}),
        assessment=row["assessment"],
        target_key=row["target_key"],
    )

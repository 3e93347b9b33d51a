"""The store's tables as the code reads and writes them (SQLAlchemy Core, one definition for SQLite
and PostgreSQL).

This is the *current* shape. A store on disk reaches it through `migrations`, whose steps are
frozen copies: when a table changes here, a new migration step brings old stores along, and a test
checks that a freshly migrated store matches these definitions on both backends.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, DateTime, Dialect, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.types import TypeDecorator

from .errors import StoreError

__all__ = [
    "Unreadable",
    "CheckpointJSON",
    "metadata",
    "schema_table",
    "profiles",
    "scans",
    "scan_ports",
    "scan_hosts",
    "SCAN_STATUSES",
]

#: A scan row's status: "incomplete" from its first write until `ScanWriter.finish` records a
#: complete engine result; a scan that was cancelled, crashed or killed stays "incomplete".
SCAN_STATUSES = ("incomplete", "complete")


class Unreadable:
    """A checkpoint whose stored text is not JSON (see `CheckpointJSON`): ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Unreadable({self.reason!r})"


class CheckpointJSON(TypeDecorator[Any]):
    """The checkpoint column: JSON, except that a value that cannot be read is `Unreadable`, not an
    error. Every read of a scan's row carries its checkpoint, and a damaged one must not make the
    history, reports and drift of that scan unreadable: only resuming it needs it (and refuses it)."""

    impl = JSON(none_as_null=True)
    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        inner = self.impl_instance.result_processor(dialect, coltype)
        if inner is None:
            return None

        def process(value: Any) -> Any:
            try:
                return inner(value)
            except StoreError as e:
                return Unreadable(str(e))

        return process


metadata = MetaData()

# One row per applied migration step (see `migrations`).
schema_table = Table(
    "portlens_schema",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(200), nullable=False),
    Column("applied", DateTime(timezone=True), nullable=False),
)

# Named target sets: what `portlens scan --profile NAME` runs.
profiles = Table(
    "profiles",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("targets", JSON, nullable=False),  # list of target strings
    Column("ports", Text, nullable=False),
    Column("options", JSON(none_as_null=True), nullable=False),  # scan command-line options, as tokens
    Column("policy", Text),  # absolute paths, so that cron can run from anywhere
    Column("baseline", Text),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
)

scans = Table(
    "scans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # the target set: a profile's name, or (profile NULL) the hash of targets, ports and protocol
    Column("profile", String(200)),
    Column("target_key", String(64), nullable=False),
    Column("targets", JSON, nullable=False),
    Column("ports", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("result_status", String(16)),  # the engine's "complete" / "cancelled"; NULL until finished
    Column("started", DateTime(timezone=True), nullable=False),
    Column("finished", DateTime(timezone=True)),
    Column("updated", DateTime(timezone=True), nullable=False),  # last batch written
    Column("hosts_total", Integer),
    Column("ports_per_host", Integer),
    Column("open_ports", Integer, nullable=False),
    Column("counts", JSON(none_as_null=True)),
    Column("options", JSON(none_as_null=True)),
    Column("stats", JSON(none_as_null=True)),
    Column("warnings", JSON(none_as_null=True)),
    Column("assessment", JSON(none_as_null=True)),  # summary: score, counts, policy, findings
    # where an incomplete scan got to, for `portlens.resume` (see `portlens.resume`); NULL once complete
    Column("checkpoint", CheckpointJSON()),
    Index("ix_scans_profile_started", "profile", "started"),
    Index("ix_scans_target_key_started", "target_key", "started"),
)

scan_ports = Table(
    "scan_ports",
    metadata,
    Column("scan_id", Integer, ForeignKey("scans.id", ondelete="CASCADE"), primary_key=True),
    Column("host", String(255), primary_key=True),
    Column("port", Integer, primary_key=True, autoincrement=False),
    Column("protocol", String(8), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("rtt", Float),
    Column("attempts", Integer, nullable=False),
    Column("hostname", Text),
    Column("service", JSON(none_as_null=True)),
    Index("ix_scan_ports_key", "host", "port", "protocol"),
)

scan_hosts = Table(
    "scan_hosts",
    metadata,
    Column("scan_id", Integer, ForeignKey("scans.id", ondelete="CASCADE"), primary_key=True),
    Column("address", String(255), primary_key=True),
    Column("hostname", Text),
    Column("state", String(8), nullable=False),
    Column("reason", String(32)),
    Column("counts", JSON(none_as_null=True)),
    Column("rtt", Float),
    Column("stats", JSON(none_as_null=True)),
)

"""Schema migrations: a short list of versioned steps, applied in order inside one transaction.

Why not Alembic: the store's schema belongs to the package, not to an application that edits it,
so there is nothing to autogenerate and no ``alembic.ini``/``env.py`` to ship; every user's store
must upgrade itself when a newer portlens opens it, from a cron job as well as a notebook. A table
of applied versions and plain SQLAlchemy Core steps does that with no extra dependency, on SQLite
and PostgreSQL alike:

- ``portlens_schema`` records each applied step (version, description, time). Its shape never
  changes.
- Each step is frozen once released: it builds its own tables (not the live ones in `schema`), so
  old stores replay exactly what they would have seen. A new step only adds.
- The steps run in one transaction (DDL is transactional on both backends): an interrupted or
  failed upgrade leaves the store as it was. Concurrent openers are serialised, on PostgreSQL by
  a transaction-scoped advisory lock, on SQLite by ``BEGIN IMMEDIATE`` (see `engine`).
- A store written by a newer portlens (a version above `LATEST`) is refused rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    inspect,
    select,
    text,
)

from .engine import write_tx
from .errors import StoreError
from .schema import schema_table

__all__ = ["STEPS", "LATEST", "Step", "migrate", "current_version"]

# pg_advisory_xact_lock key: the bytes of "portlens" as a 64-bit integer, shared by every opener
_PG_LOCK = int.from_bytes(b"portlens", "big") & 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True)
class Step:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1(conn: Connection) -> None:
    """Version 1: profiles, scans, their port results and hosts (frozen)."""
    md = MetaData()
    Table(
        "profiles",
        md,
        Column("name", String(200), primary_key=True),
        Column("targets", JSON, nullable=False),
        Column("ports", Text, nullable=False),
        Column("options", JSON(none_as_null=True), nullable=False),
        Column("policy", Text),
        Column("baseline", Text),
        Column("created", DateTime(timezone=True), nullable=False),
        Column("updated", DateTime(timezone=True), nullable=False),
    )
    Table(
        "scans",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("profile", String(200)),
        Column("target_key", String(64), nullable=False),
        Column("targets", JSON, nullable=False),
        Column("ports", Text, nullable=False),
        Column("status", String(16), nullable=False),
        Column("result_status", String(16)),
        Column("started", DateTime(timezone=True), nullable=False),
        Column("finished", DateTime(timezone=True)),
        Column("updated", DateTime(timezone=True), nullable=False),
        Column("hosts_total", Integer),
        Column("ports_per_host", Integer),
        Column("open_ports", Integer, nullable=False),
        Column("counts", JSON(none_as_null=True)),
        Column("options", JSON(none_as_null=True)),
        Column("stats", JSON(none_as_null=True)),
        Column("assessment", JSON(none_as_null=True)),
        Index("ix_scans_profile_started", "profile", "started"),
        Index("ix_scans_target_key_started", "target_key", "started"),
    )
    Table(
        "scan_ports",
        md,
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
    Table(
        "scan_hosts",
        md,
        Column("scan_id", Integer, ForeignKey("scans.id", ondelete="CASCADE"), primary_key=True),
        Column("address", String(255), primary_key=True),
        Column("hostname", Text),
        Column("state", String(8), nullable=False),
        Column("reason", String(32)),
        Column("counts", JSON(none_as_null=True)),
        Column("rtt", Float),
    )
    md.create_all(conn)


def _v2(conn: Connection) -> None:
    """Version 2: per-host probing statistics (loss, rate) and a scan's completeness warnings."""
    ops = conn.dialect.identifier_preparer
    for table, column in (("scan_hosts", "stats"), ("scans", "warnings")):
        # Plain DDL: both backends add a nullable column in place (JSON is TEXT on SQLite).
        kind = "JSON" if conn.dialect.name == "postgresql" else "TEXT"
        conn.execute(text(f"ALTER TABLE {ops.quote(table)} ADD COLUMN {ops.quote(column)} {kind}"))


def _v3(conn: Connection) -> None:
    """Version 3: a running scan's checkpoint, to resume it after an interruption."""
    ops = conn.dialect.identifier_preparer
    kind = "JSON" if conn.dialect.name == "postgresql" else "TEXT"
    conn.execute(text(f"ALTER TABLE {ops.quote('scans')} ADD COLUMN {ops.quote('checkpoint')} {kind}"))


STEPS: tuple[Step, ...] = (
    Step(1, "profiles, scans, scan_ports, scan_hosts", _v1),
    Step(2, "scan_hosts.stats, scans.warnings", _v2),
    Step(3, "scans.checkpoint", _v3),
)
LATEST = STEPS[-1].version


def current_version(conn: Connection) -> int:
    """The highest applied step (0 for an empty database)."""
    if not inspect(conn).has_table(schema_table.name):
        return 0
    return int(conn.execute(select(func.max(schema_table.c.version))).scalar() or 0)


def _check(version: int, url: str) -> None:
    if version > LATEST:
        raise StoreError(
            f"store {url} has schema version {version}, newer than this portlens knows ({LATEST}): upgrade portlens"
        )


def migrate(engine: Engine, url: str = "") -> int:
    """Bring the store up to `LATEST`; returns the version it is at. Safe to call concurrently."""
    with engine.connect() as conn:  # fast path, no write lock: already up to date
        with conn.begin():
            version = current_version(conn)
        _check(version, url)
        if version == LATEST:
            return version
    with write_tx(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
        schema_table.create(conn, checkfirst=True)
        version = current_version(conn)  # again, under the lock: another opener may have migrated
        _check(version, url)
        for step in STEPS:
            if step.version > version:
                step.apply(conn)
                conn.execute(
                    insert(schema_table).values(
                        version=step.version, description=step.description, applied=datetime.now(timezone.utc)
                    )
                )
                version = step.version
    return version

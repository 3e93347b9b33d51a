"""Opening a store: URL or path to a SQLAlchemy engine, the same code path for SQLite and PostgreSQL.

SQLite gets what a store written by a scan while others read it needs: WAL journaling (readers do
not block the writer), a busy timeout, foreign keys on, and transactions that start with ``BEGIN``
(deferred) for reads and ``BEGIN IMMEDIATE`` for writes, so two writers queue on the busy timeout
instead of failing on a lock upgrade. Python's sqlite3 module would otherwise open transactions
itself, late; the ``begin`` hook below takes that over (the recipe of SQLAlchemy's SQLite docs).
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from ..files.write import create_private, private_dir
from .errors import StoreError

__all__ = ["default_path", "resolve_url", "create", "write_tx", "display_url", "read_json"]

_PG_SCHEMES = ("postgresql", "postgres")


def default_path() -> Path:
    """``$PORTLENS_DB`` if set, else ``$XDG_DATA_HOME/portlens/history.db`` (XDG_DATA_HOME defaults
    to ``~/.local/share``)."""
    env = os.environ.get("PORTLENS_DB")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or ""
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "share"  # XDG: relative is ignored
    return root / "portlens" / "history.db"


def resolve_url(url_or_path: str | os.PathLike[str] | None) -> str:
    """A SQLAlchemy URL: ``postgresql://`` gets the psycopg (v3) driver, a path becomes SQLite."""
    if url_or_path is None:
        env = os.environ.get("PORTLENS_DB")
        if env and "://" in env:
            return resolve_url(env)
        url_or_path = default_path()
    text = os.fspath(url_or_path)
    if "://" not in text:
        return "sqlite:///" + str(Path(text).expanduser().absolute())
    scheme, rest = text.split("://", 1)
    if scheme in _PG_SCHEMES:
        return f"postgresql+psycopg://{rest}"
    if scheme == "postgresql+psycopg" or scheme == "sqlite" or scheme.startswith("sqlite+"):
        return text
    raise StoreError(f"store {text!r}: unsupported URL scheme {scheme!r} (use a file path, sqlite:// or postgresql://)")


def display_url(url: str) -> str:
    """The URL with any password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def create(url: str) -> Engine:
    """An engine for ``url`` (from `resolve_url`), with the per-backend settings."""
    try:
        u = make_url(url)
    except ArgumentError as e:
        raise StoreError(f"store {url!r}: {e}") from None
    if u.get_backend_name() == "sqlite":
        database = u.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            _private_file(database)
        engine = create_engine(url, connect_args={"timeout": 30.0}, json_deserializer=read_json)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except NoSuchModuleError as e:
        raise StoreError(f"store {display_url(url)}: {e}") from None
    except ModuleNotFoundError as e:
        raise StoreError(
            f"store {display_url(url)}: the PostgreSQL driver is missing ({e.name}): pip install 'portlens[postgres]'"
        ) from None


def read_json(text: str | bytes) -> Any:
    """A JSON column's value. SQLite keeps whatever was written to a file, and a file can be edited,
    truncated or written by another program: text that is not JSON (a blob, invalid UTF-8, a cut
    document, nesting past Python's recursion limit) is a `StoreError` naming the problem, not a
    decoder's traceback. (PostgreSQL checks JSON as it is written.)"""
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise StoreError(
            f"the store holds a value that is not JSON ({type(e).__name__}): the file was altered"
        ) from None


def _private_file(database: str) -> None:
    """The store's file: its directory created 0700, the file itself 0600 (SQLite gives its journal
    and WAL files the same mode), none of them a symlink (`portlens.files.write`)."""
    try:
        private_dir(Path(database).parent)
        create_private(database)
        for suffix in ("-wal", "-shm", "-journal"):
            if os.path.islink(database + suffix):
                raise OSError(errno.ELOOP, "refusing to write through a symlink", database + suffix)
    except OSError as e:
        raise StoreError(f"store {database!r}: {e.strerror or e}") from None


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    cur = dbapi_connection.cursor()
    try:
        cur.execute("PRAGMA busy_timeout = 30000")
        cur.execute("PRAGMA foreign_keys = ON")
        _wal(cur)
        cur.execute("PRAGMA synchronous = NORMAL")  # with WAL: never corrupt, at worst the last commit lost
    finally:
        cur.close()


def _wal(cur: Any, wait: float = 30.0) -> None:
    """Switch a new database to WAL (it stays so). The switch needs the database to itself and SQLite
    does not apply the busy timeout to it: when several processes create the store at once, retry."""
    deadline = time.monotonic() + wait
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get("portlens_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """One write transaction: committed at the end of the block, rolled back on any error."""
    with engine.connect() as conn:
        conn.execution_options(portlens_write=True)
        with conn.begin():
            yield conn

"""Scan history: every scan saved as it runs, named target sets, drift between scans, retention.

::

    import portlens
    store = portlens.store.open()                       # ~/.local/share/portlens/history.db
    store = portlens.store.open("postgresql://scanner@db.example.org/portlens")   # for teams
    store.add_profile("client-a-office", ["198.18.1.0/24"], "top-1000", policy="policy.toml")
    result = portlens.scan("198.18.1.0/24", save=store, profile="client-a-office")
    drift = store.diff(profile="client-a-office")       # the last two complete scans
    drift.opened                                         # newly opened since the last report
    drift.to_html("drift.html")
    store.history("client-a-office")                     # points for a chart

One code path on SQLAlchemy Core for SQLite (the default, a file under ``$XDG_DATA_HOME``) and
PostgreSQL (``postgresql://``, driver psycopg 3: ``pip install 'portlens[postgres]'``); the schema
upgrades itself on open (`migrations`). Scans are written in batches, each in its own transaction,
while they run: one that dies stays "incomplete" with what it had found.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # at run time these load on first use: SQLAlchemy costs a CLI start 0.2 s
    from .drift import SCHEMA as DRIFT_SCHEMA
    from .drift import Drift, PortChange, ScanRef, ServiceChange, SeverityChange, compute_drift
    from .engine import default_path, resolve_url
    from .errors import NotFoundError, StoreError
    from .migrations import LATEST as SCHEMA_VERSION
    from .profiles import Profile
    from .scans import ScanInfo
    from .store import Store
    from .writer import ScanWriter

__all__ = [
    "open",
    "begin_writer",
    "default_path",
    "resolve_url",
    "Store",
    "ScanWriter",
    "ScanInfo",
    "Profile",
    "Drift",
    "ScanRef",
    "PortChange",
    "ServiceChange",
    "SeverityChange",
    "compute_drift",
    "StoreError",
    "NotFoundError",
    "SCHEMA_VERSION",
    "DRIFT_SCHEMA",
]

_LAZY = {
    "DRIFT_SCHEMA": (".drift", "SCHEMA"),
    "Drift": (".drift", "Drift"),
    "PortChange": (".drift", "PortChange"),
    "ScanRef": (".drift", "ScanRef"),
    "ServiceChange": (".drift", "ServiceChange"),
    "SeverityChange": (".drift", "SeverityChange"),
    "compute_drift": (".drift", "compute_drift"),
    "default_path": (".engine", "default_path"),
    "resolve_url": (".engine", "resolve_url"),
    "NotFoundError": (".errors", "NotFoundError"),
    "StoreError": (".errors", "StoreError"),
    "SCHEMA_VERSION": (".migrations", "LATEST"),
    "Profile": (".profiles", "Profile"),
    "ScanInfo": (".scans", "ScanInfo"),
    "ScanWriter": (".writer", "ScanWriter"),
    "Store": (".store", "Store"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module, __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open(url_or_path: str | os.PathLike[str] | None = None) -> Store:  # noqa: A001 - the API's name
    """Open the store at ``url_or_path`` (a file path or ``sqlite:///...``, ``postgresql://...``;
    None: ``$PORTLENS_DB``, else ``$XDG_DATA_HOME/portlens/history.db``), creating or upgrading it."""
    from .store import open_store

    return open_store(url_or_path)


def begin_writer(save: Store | str | os.PathLike[str], profile: str | None, options: Mapping[str, Any]) -> ScanWriter:
    """A writer that saves a scan as it runs (``save=`` of `portlens.scan`, of a Dask scan): into
    ``save``, a `Store`, or a URL or path that is opened for it and closed when the writer is."""
    from .store import Store

    if isinstance(save, Store):
        return save.begin(options, profile)
    opened = open(save)
    try:
        writer = opened.begin(options, profile)
    except BaseException:
        opened.close()
        raise
    writer.owns_store()
    return writer

"""The history store while scanning the lab, on SQLite and on a real PostgreSQL server.

PostgreSQL: a throw-away cluster (Debian's ``postgresql`` package) made with ``initdb`` and run with
``pg_ctl`` as the ``postgres`` user in a temporary folder, listening on a unix socket in that folder
only (no TCP), started once for the session and stopped at its end; each test gets a new database.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import portlens
from tests.factories import ROOT, run_cli


def test_scan_hook_streams_batches_and_marks_incomplete(store_url: str, truth: dict[str, Any]) -> None:
    """`portlens.scan(save=...)` writes as results come; a scan left early (a `with` block exited)
    stays "incomplete" with what was read; `load` gives it back with that status."""
    host = truth["open"]["v4"]
    expected = truth["open"]["open_ports"]
    with portlens.store.open(store_url) as store:
        full = portlens.scan(host, ports="all", save=store, profile="lab")
        assert sorted(p.port for p in full.open_ports()) == expected
        done = store.latest("lab")
        assert done is not None and done.status == "complete" and done.open_ports == len(expected)
        assert done.counts["closed"] == 65535 - len(expected)
        with portlens.start(host, ports="all", save=store, profile="lab", rate=6000) as scan:
            seen = [next(scan) for _ in range(3)]
            scan_id = scan.saved_id
        assert scan_id is not None
        info = store.scan(scan_id)
        assert info.status == "incomplete" and info.result_status is None
        partial = store.load(scan_id)
        assert partial.status == "incomplete"
        assert {p.port for p in seen} <= {p.port for p in partial.ports} <= set(expected)
        assert store.latest("lab") == store.scan(done.id)  # the incomplete one is not "the last scan"
        assert [s.status for s in store.scans("lab")] == ["complete", "incomplete"]
    # a URL instead of a store: opened for the scan, closed at its end
    r = portlens.scan(host, ports="1-200", save=store_url)
    with portlens.store.open(store_url) as store:
        last = store.scans()[-1]
        assert last.status == "complete" and last.profile is None and last.open_ports == len(r.open_ports())


def test_default_store_follows_xdg_data_home(tmp_path: Path, truth: dict[str, Any]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PORTLENS_DB"}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    p = run_cli("scan", truth["open"]["v4"], "-p", "1-1000", "--save", env=env)
    assert p.returncode == 0, p.stderr
    db = tmp_path / "data" / "portlens" / "history.db"
    assert db.is_file() and f"sqlite:///{db}" in p.stdout
    with portlens.store.open(db) as store:
        assert [s.status for s in store.scans()] == ["complete"]


def test_a_killed_scan_leaves_an_incomplete_scan_and_a_sound_store(
    store_url: str, truth: dict[str, Any], tmp_path: Path
) -> None:
    """SIGKILL of ``portlens scan --save`` mid-way: the scan stays "incomplete" with a subset of the
    true open ports (every batch written whole), the store passes its integrity check and takes the
    next scan."""
    open_host, filt = truth["open"], truth["filt"]
    real = {(open_host["v4"], p) for p in open_host["open_ports"]} | {(filt["v4"], p) for p in filt["open_ports"]}
    argv = [sys.executable, "-m", "portlens.cli", "scan", open_host["v4"], filt["v4"], "-p", "all", "-Pn"]
    argv += ["--rate", "5000", "--save", "--db", store_url, "-q"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 45
        saved = 0
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            saved = _saved_ports(store_url)
            if saved >= 4:
                break
        assert proc.poll() is None, "the scan ended before it could be killed"
        assert saved >= 4, "no batch was written while the scan ran"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()
    if not store_url.startswith("postgresql"):
        with sqlite3.connect(store_url) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    with portlens.store.open(store_url) as store:
        (info,) = store.scans()
        assert info.status == "incomplete" and info.finished is None
        got = {(p.host, p.port) for p in store.load(info.id).ports}
        assert len(got) >= 4 and got <= real and info.open_ports == len(got)
    p = run_cli("history", "--db", store_url)
    assert p.returncode == 0 and "incomplete" in p.stdout
    p = run_cli("scan", open_host["v4"], "-p", "1-1000", "--save", "--db", store_url, "-q")
    assert p.returncode == 0, p.stderr
    with portlens.store.open(store_url) as store:
        assert [s.status for s in store.scans()] == ["incomplete", "complete"]


def _saved_ports(url: str) -> int:
    """Port results saved so far, read from another connection while the scan writes."""
    engine = sa.create_engine(portlens.store.resolve_url(url))
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("scan_ports"):
                return 0
            return int(conn.execute(sa.text("SELECT count(*) FROM scan_ports")).scalar_one())
    except sa.exc.OperationalError:
        return 0
    finally:
        engine.dispose()

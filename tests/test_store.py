"""The history store, the same tests on SQLite and on a real PostgreSQL server.

PostgreSQL: a throw-away cluster (Debian's ``postgresql`` package) made with ``initdb`` and run with
``pg_ctl`` as the ``postgres`` user in a temporary folder, listening on a unix socket in that folder
only (no TCP), started once for the session and stopped at its end; each test gets a new database.
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import portlens
from portlens.results import PortResult, ScanResult
from portlens.store import schema
from portlens.store.migrations import LATEST

from .conftest import ROOT, run_cli

BACKENDS = ("sqlite", "postgresql")


# -- a private PostgreSQL cluster ---------------------------------------------------------------------
class PgCluster:
    """initdb + pg_ctl as ``postgres`` in a temp folder; unix socket only."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
        if not found:
            pytest.fail("PostgreSQL is not installed: run scripts/sysdeps.sh test (Debian package postgresql)")
        self.bin = Path(found[-1]).parent
        self.user = pwd.getpwnam("postgres")
        self.dir = Path(tempfile.mkdtemp(prefix="portlens-pg-"))
        os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self._n = itertools.count(1)
        self.started = False
        self._pg(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        opts = f"-c listen_addresses='' -c unix_socket_directories='{self.dir}' -c fsync=off -c max_connections=50"
        self._pg(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "60", "start"
        )
        self.started = True

    def _pg(self, *argv: str) -> None:
        p = subprocess.run(
            argv,
            user=self.user.pw_uid,
            group=self.user.pw_gid,
            extra_groups=[],
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=90,
        )
        if p.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{argv[0]} failed: {p.stderr}\n{log}")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.dir}"

    def new_database(self) -> str:
        name = f"t{next(self._n)}"
        engine = sa.create_engine("postgresql+psycopg://postgres@/postgres", connect_args={"host": str(self.dir)})
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
        finally:
            engine.dispose()
        return self.url(name)

    def stop(self) -> None:
        if self.started:
            self.started = False
            self._pg(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


_CLUSTER: PgCluster | None = None


@pytest.fixture(scope="session")
def pg() -> Iterator[PgCluster]:
    global _CLUSTER
    if _CLUSTER is None:
        _CLUSTER = PgCluster()
    yield _CLUSTER
    if _CLUSTER is not None:
        _CLUSTER.stop()
        _CLUSTER = None


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store: a SQLite file, or a new database on the private PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "history.db")
    cluster: PgCluster = request.getfixturevalue("pg")
    return cluster.new_database()


# -- synthetic results ----------------------------------------------------------------------------------
T0 = datetime(2025, 3, 3, 6, 0, tzinfo=timezone.utc)


def result(
    ports: list[PortResult], when: datetime, targets: tuple[str, ...] = ("198.18.9.0/24",), status: str = "complete"
) -> ScanResult:
    return ScanResult(
        ports=tuple(ports),
        hosts=(),
        counts={"open": sum(p.state == "open" for p in ports), "closed": 10, "filtered": 0, "open|filtered": 0},
        status=status,
        started=when,
        finished=when + timedelta(seconds=3),
        hosts_total=3,
        ports_per_host=100,
        options={"targets": list(targets), "ports": "1-100", "protocol": "tcp"},
    )


def op(host: str, port: int, **service: Any) -> PortResult:
    return PortResult(host, port, "tcp", "open", "syn-ack", 0.001, 1, None, service=service or None)


POLICY = """
[[rule]]
id = "demo-admin"
title = "Demo admin console"
severity = "high"
services = ["demo-admin"]
ports = ["81/tcp"]
rationale = "an admin console"
remediation = ["close: close it"]
source = "test"

[[rule.escalate]]
check = "demo-weak"
severity = "critical"
"""


# -- tests --------------------------------------------------------------------------------------------
def test_migrations_build_the_schema_the_code_uses(store_url: str) -> None:
    """A fresh store migrates to LATEST with exactly the tables and columns of `schema`; opening it
    again (also from several threads at once) applies nothing twice; a newer schema is refused."""
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            portlens.store.open(store_url).close()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with portlens.store.open(store_url) as store:
        insp = sa.inspect(store.engine)
        for table in schema.metadata.sorted_tables:
            assert {c["name"] for c in insp.get_columns(table.name)} == {c.name for c in table.columns}, table.name
        with store.engine.connect() as conn:
            rows = conn.execute(sa.select(schema.schema_table.c.version)).scalars().all()
        assert rows == list(range(1, LATEST + 1))
        with store.engine.begin() as conn:
            conn.execute(sa.insert(schema.schema_table).values(version=99, description="future", applied=T0))
    with pytest.raises(portlens.store.StoreError, match="newer than this portlens"):
        portlens.store.open(store_url)


def test_save_load_roundtrip_and_history(store_url: str, tmp_path: Path) -> None:
    with portlens.store.open(store_url) as store:
        a = result([op("198.18.9.1", 22, name="ssh", product="OpenSSH"), op("198.18.9.2", 80)], T0)
        sid = store.save(a, profile="office")
        back = store.load(sid)
        assert back.ports == a.ports and back.status == "complete" and back.counts == a.counts
        assert back.started == a.started and back.options["targets"] == ["198.18.9.0/24"]
        info = store.scan(sid)
        assert (info.status, info.open_ports, info.profile, info.targets) == (
            "complete",
            2,
            "office",
            ("198.18.9.0/24",),
        )
        policy = tmp_path / "policy.toml"
        policy.write_text(POLICY)
        store.add_profile("office", ["198.18.9.0/24"], "1-100", policy=policy)
        b = result([op("198.18.9.1", 22), op("198.18.9.2", 80), op("198.18.9.3", 81)], T0 + timedelta(days=7))
        assessment = portlens.assess(b, policy=policy)
        store.save(b, profile="office", assessment=assessment)
        points = store.history("office")
        assert [p["open_ports"] for p in points] == [2, 3]
        assert points[1]["findings"] == len(assessment.findings) and points[1]["by_severity"]["high"] == 1
        assert points[0]["started"] == T0.isoformat() and points[0]["status"] == "complete"
        assert json.loads(json.dumps(points)) == points  # ready for a chart in the HTML report
        assert store.latest("office") is not None and store.latest("office").open_ports == 3  # type: ignore[union-attr]


def test_drift_services_and_severity_changes(store_url: str, tmp_path: Path) -> None:
    """Service fields and finding severities (same policy, a check that turns vulnerable) between two
    saved scans; a hostname and a product with markup come out as text in HTML and Markdown."""
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    evil = "<script>alert(1)</script>"
    tls_a = {"subject": "CN=old.example", "not_after": "2025-01-01T00:00:00Z"}
    tls_b = {"subject": "CN=new.example", "not_after": "2026-01-01T00:00:00Z"}
    a = [
        op("198.18.9.1", 443, name="https", product="nginx", version="1.22", tls=tls_a),
        op("198.18.9.3", 81, name="demo-admin", checks=[{"id": "demo-weak", "outcome": "ok"}]),
    ]
    b = [
        PortResult(
            "198.18.9.1",
            443,
            "tcp",
            "open",
            "syn-ack",
            0.001,
            1,
            evil,
            {"name": "https", "product": evil, "version": "1.22", "tls": tls_b},
        ),
        op("198.18.9.3", 81, name="demo-admin", checks=[{"id": "demo-weak", "outcome": "vulnerable"}]),
    ]
    with portlens.store.open(store_url) as store:
        store.add_profile("dmz", ["198.18.9.0/24"], "1-100", policy=policy)
        ia = store.save(result(a, T0), profile="dmz")
        ib = store.save(result(b, T0 + timedelta(days=7)), profile="dmz")
        drift = store.diff(ia, ib)
    d = drift.to_dict()
    assert d["schema"] == "portlens.drift/1" and d["a"]["id"] == ia and d["b"]["id"] == ib
    assert d["ports"] == {"opened": [], "closed": []}
    assert d["services"]["changed"] == [
        {"host": "198.18.9.1", "port": 443, "protocol": "tcp", "field": "product", "before": "nginx", "after": evil},
        {
            "host": "198.18.9.1",
            "port": 443,
            "protocol": "tcp",
            "field": "tls.not_after",
            "before": tls_a["not_after"],
            "after": tls_b["not_after"],
        },
        {
            "host": "198.18.9.1",
            "port": 443,
            "protocol": "tcp",
            "field": "tls.subject",
            "before": "CN=old.example",
            "after": "CN=new.example",
        },
    ]
    rule_id = portlens.policy.finding_id("demo-admin", "198.18.9.3", 81, "tcp")
    assert d["findings"]["severity_changed"] == [
        {
            "id": rule_id,
            "title": "Demo admin console",
            "host": "198.18.9.3",
            "port": 81,
            "before": "high",
            "after": "critical",
        }
    ]
    assert drift.alerts("critical") == [rule_id]  # raised past the bar
    assert drift.alerts("high") == []  # it was at or above high already
    page, md = drift.to_html(), drift.to_markdown()
    assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in md and "&lt;script&gt;" in md
    assert "\\x1b" in render_text_with_escape(drift)


def render_text_with_escape(drift: Any) -> str:
    """A banner with an ANSI escape must not reach the terminal raw."""
    from portlens.store.render import render

    d = drift.to_dict()
    d["services"]["changed"][0]["after"] = "\x1b[31mred"
    text = render(d, "text")
    assert "\x1b" not in text
    return text


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


def test_profiles_prune_and_cli(store_url: str, tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY)
    p = run_cli(
        "profile",
        "add",
        "office",
        "198.18.9.0/24",
        "-p",
        "1-100",
        "--rate",
        "500",
        "--policy",
        str(policy),
        "--db",
        store_url,
    )
    assert p.returncode == 0, p.stderr
    p = run_cli("profile", "add", "office", "198.18.9.0/24", "--db", store_url)
    assert p.returncode == 2 and "exists already" in p.stderr
    p = run_cli("profile", "list", "--json", "--db", store_url)
    (prof,) = json.loads(p.stdout)
    assert prof["targets"] == ["198.18.9.0/24"] and prof["ports"] == "1-100"
    assert prof["options"] == {"rate": 500.0} and prof["policy"] == str(policy)
    with portlens.store.open(store_url) as store:
        for week in range(5):
            store.save(result([op("198.18.9.1", 22)], T0 + timedelta(days=7 * week)), profile="office")
            store.save(result([op("198.18.9.1", 22)], T0 + timedelta(days=7 * week), targets=("198.18.8.1",)))
    p = run_cli("history", "--db", store_url, "--profile", "office")
    assert p.returncode == 0 and p.stdout.count("complete") == 5 and "198.18.9.0/24" in p.stdout
    p = run_cli("history", "prune", "--keep", "2", "--db", store_url)
    assert p.returncode == 0 and "pruned 6 scan(s)" in p.stdout, p.stdout
    with portlens.store.open(store_url) as store:
        kept = store.scans()
        assert len(kept) == 4
        assert [s.started for s in kept if s.profile == "office"] == [T0 + timedelta(days=21), T0 + timedelta(days=28)]
        with store.engine.connect() as conn:  # no orphans left
            orphans = conn.execute(
                sa.select(sa.func.count())
                .select_from(schema.scan_ports)
                .where(schema.scan_ports.c.scan_id.not_in(sa.select(schema.scans.c.id)))
            ).scalar_one()
        assert orphans == 0
    p = run_cli("profile", "rm", "office", "--db", store_url)
    assert p.returncode == 0
    with portlens.store.open(store_url) as store:
        assert store.profiles() == [] and len(store.scans("office")) == 2  # its scans stay
    p = run_cli("diff", "--db", store_url, "--profile", "nope")
    assert p.returncode == 2 and "no complete scan" in p.stderr


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

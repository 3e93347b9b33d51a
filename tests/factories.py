"""Shared test factories and stand-ins: the repository root, the CLI runner, hand-built scan results
(with hostile strings, for the reports), the stores the history tests run on (SQLite, and a private
PostgreSQL cluster), and synthetic port results. One module, so that tests do not copy them."""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import portlens
from portlens.results import HostResult, PortResult, ScanResult

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("sqlite", "postgresql")


def run_cli(*args: str, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run ``portlens`` in a child process (it inherits the scanner namespace)."""
    return subprocess.run(
        [sys.executable, "-m", "portlens.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        **kw,
    )


# -- a hand-built scan for the reports ---------------------------------------------------------
TODAY = date(2025, 6, 1)


XSS = "<script>window.__pwned=1</script>"


IMG = "CN=<img src=x onerror=window.__pwned=2>"


EVIL_HOST = "cam<b>01</b>.lab"


FORMULA = "=cmd|' /C calc'!A0 | `rm -rf` [x](javascript:alert(1))"


CAM, SRV, PLC, V6, QUIET = "198.18.9.10", "198.18.9.20", "198.18.9.30", "2001:db8:9::5", "198.18.9.40"


def svc(name: str, product: str | None = None, version: str | None = None, **kw: Any) -> dict[str, Any]:
    return {"name": name, "product": product, "version": version, "method": "probe", "conf": 0.9, "cpe": [], **kw}


def sample_result(drop: tuple[int, ...] = (), t0: datetime | None = None) -> ScanResult:
    """Four hosts with open ports (one IPv6) and one with none; ``drop`` leaves ports out (an earlier scan)."""
    tls = {"subject": IMG, "issuer": IMG, "not_after": "2020-01-01T00:00:00Z", "self_signed": True}
    vulnerable = [{"id": "tls-self-signed", "outcome": "vulnerable"}, {"id": "tls-expired", "outcome": "vulnerable"}]
    layout: dict[str, tuple[str | None, list[tuple[int, dict[str, Any] | None]]]] = {
        CAM: (
            EVIL_HOST,
            [
                (80, svc("http", "nginx", "1.22.1", banner="HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n" + XSS)),
                (554, svc("rtsp", "Dahua RTSP", banner="RTSP/1.0 200 OK")),
            ],
        ),
        SRV: (
            "files.lab",
            [
                (21, svc("ftp", "vsftpd", "3.0.3", checks=[{"id": "ftp-anonymous", "outcome": "vulnerable"}])),
                (23, svc("telnet", banner="Debian GNU/Linux 12\r\nlogin: ")),
                (443, svc("https", "nginx", "1.22.1", tls=tls, checks=vulnerable)),
                (445, svc("microsoft-ds", "Samba smbd", "4.17", checks=[{"id": "smbv1", "outcome": "vulnerable"}])),
                (3389, None),
                (6379, svc("redis", "Redis", "7.0.15", checks=[{"id": "redis-no-auth", "outcome": "ok"}])),
                (31337, svc("unknown", banner=FORMULA)),
            ],
        ),
        PLC: (None, [(502, None)]),
        V6: (None, [(22, svc("ssh", "OpenSSH", "7.4", banner="SSH-2.0-OpenSSH_7.4"))]),
    }
    ports: list[PortResult] = []
    hosts: list[HostResult] = []
    for host, (hostname, items) in layout.items():
        ps = tuple(
            PortResult(host, port, "tcp", "open", "syn-ack", 0.0004, 1, hostname, service=svc)
            for port, svc in items
            if port not in drop
        )
        ports += ps
        counts = {"open": len(ps), "closed": 1000 - len(ps), "filtered": 0, "open|filtered": 0}
        hosts.append(HostResult(host, hostname, counts, 0.0004, ps))
    hosts.append(HostResult(QUIET, None, {"open": 0, "closed": 1000, "filtered": 0, "open|filtered": 0}, 0.0003))
    start = t0 or datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
    return ScanResult(
        ports=tuple(ports),
        hosts=tuple(hosts),
        counts={"open": len(ports), "closed": 5000 - len(ports), "filtered": 0, "open|filtered": 0},
        status="complete",
        started=start,
        finished=start + timedelta(seconds=1.5),
        hosts_total=256,
        ports_per_host=1000,
        options={"targets": ["198.18.9.0/24", V6], "ports": "top-1000"},
    )


def sample_drift() -> dict[str, Any]:
    """A ``portlens.drift/1`` document as issue 7's Drift.to_dict() gives it, with hostile strings."""
    new = portlens.assess(sample_result(), today=TODAY).findings[0].to_dict()
    new["title"] = "New " + XSS
    return {
        "schema": "portlens.drift/1",
        "a": {"id": "scan-1", "started": "2025-05-01T12:00:00+00:00", "targets": ["198.18.9.0/24"]},
        "b": {"id": "scan-2", "started": "2025-06-01T12:00:00+00:00", "targets": ["198.18.9.0/24"]},
        "ports": {
            "opened": [
                {"host": SRV, "port": 6379, "protocol": "tcp", "event": "OPENED"},
                {"host": SRV, "port": 3389, "protocol": "tcp", "event": "REOPENED"},
            ],
            "closed": [{"host": CAM, "port": 8080, "protocol": "tcp", "event": "CLOSED"}],
        },
        "services": {
            "changed": [
                {"host": SRV, "port": 21, "protocol": "tcp", "field": "version", "before": "2.3.4", "after": XSS}
            ]
        },
        "findings": {
            "new": [new],
            "resolved": [{**new, "id": "PL-0000000000000000", "title": "Old telnet", "severity": "high"}],
            "severity_changed": [
                {
                    "id": "PL-1111111111111111",
                    "title": "TLS",
                    "host": SRV,
                    "port": 443,
                    "before": "low",
                    "after": "medium",
                }
            ],
        },
    }


HISTORY = [
    {"started": "2025-04-01T12:00:00+00:00", "open_ports": 7, "findings": 9},
    {"started": "2025-05-01T12:00:00+00:00", "open_ports": 9, "findings": 12},
    {"started": "2025-06-01T12:00:00+00:00", "open_ports": 12, "findings": 14},
]


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


# -- stand-ins ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Port:
    """A port result with the ``service`` mapping of the service/check contract (what the policy reads)."""

    host: str
    port: int
    protocol: str = "tcp"
    state: str = "open"
    reason: str = "syn-ack"
    hostname: str | None = None
    service: Mapping[str, Any] | None = None


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Stop a helper process the test started (terminate, then kill), and close its output."""
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()


@contextlib.contextmanager
def local_cluster(workers: int = 2, **scheduler_kwargs: Any) -> Iterator[tuple[Any, Any]]:
    """A Dask cluster of single-threaded worker processes (the machine has two cores) on the
    scanner namespace's own loopback (workers inherit the namespace), no dashboard; closed
    whatever happens, every wait bounded. Yields (cluster, client) once the workers are up."""
    import distributed  # the test extra installs it

    lc = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        timeout=60,
        # no dashboard; the scheduler's HTTP endpoint (health, metrics) on a free port instead of
        # 8787, so that two clusters can run at once without a "port in use" warning
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0", **scheduler_kwargs},
    )
    try:
        client = distributed.Client(lc, timeout=30)
        try:
            client.wait_for_workers(workers, timeout=60)
            yield lc, client
        finally:
            client.close(timeout=30)
    finally:
        lc.close(timeout=30)

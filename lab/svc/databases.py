"""Data stores: Redis, PostgreSQL, MariaDB and memcached."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .common import _Supervisor

PG_BIN = Path("/usr/lib/postgresql")


def _redis(sv: _Supervisor, name: str, addr: str, port: int, password: str | None) -> None:
    d = sv.root / name
    d.mkdir(parents=True, exist_ok=True)
    argv = ["redis-server", "--bind", addr, "--port", str(port), "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(d), "--daemonize", "no", "--protected-mode", "no", "--logfile", ""]
    if password:
        argv += ["--requirepass", password]
    sv.start(name, argv)


def _pg_bin() -> Path:
    versions = sorted(PG_BIN.glob("*/bin/postgres"))
    if not versions:
        raise RuntimeError("postgresql is not installed (scripts/sysdeps.sh)")
    return versions[-1].parent


#: Run as the postgres user in the same process (setpriv execs, runuser would fork and wait): the
#: server then is the supervisor's child, and dies with it (PR_SET_PDEATHSIG).
_AS_POSTGRES = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


def _postgres_prep(sv: _Supervisor) -> subprocess.Popen[bytes]:
    d = sv.root / "postgres"
    if d.exists():
        shutil.rmtree(d)
    (d / "sock").mkdir(parents=True)
    shutil.chown(d, "postgres", "postgres")
    shutil.chown(d / "sock", "postgres", "postgres")
    argv = [*_AS_POSTGRES, str(_pg_bin() / "initdb"), "-D", str(d / "data")]
    return sv.start("prep-postgres", [*argv, "-A", "trust", "--no-sync", "-E", "UTF8", "--locale", "C"])


def _postgres(sv: _Supervisor, addr: str, port: int) -> None:
    d = sv.root / "postgres"
    argv = [*_AS_POSTGRES, str(_pg_bin() / "postgres"), "-D", str(d / "data")]
    argv += ["-c", f"listen_addresses={addr}", "-p", str(port), "-c", f"unix_socket_directories={d / 'sock'}"]
    argv += ["-c", "fsync=off", "-c", "shared_buffers=16MB"]
    sv.start("postgres", argv)


def _mariadb(sv: _Supervisor, addr: str, port: int) -> None:
    d = sv.root / "mariadb"
    (d / "data").mkdir(parents=True, exist_ok=True)
    argv = ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={d / 'data'}", f"--socket={d / 'mysqld.sock'}"]
    argv += [f"--port={port}", f"--bind-address={addr}", "--user=root", f"--pid-file={d / 'mysqld.pid'}"]
    argv += ["--skip-grant-tables", "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=16M"]
    argv += [f"--tmpdir={d}", "--log-error=" + str(d / "error.log")]
    sv.start("mariadb", argv)


def _memcached(sv: _Supervisor, addr: str, port: int) -> None:
    sv.start("memcached", ["memcached", "-u", "nobody", "-l", addr, "-p", str(port), "-U", "0", "-m", "16"])

"""The ``svc`` lab part: real services from Debian's packages, each weakness next to a hardened twin.

One target namespace (``pl-<tag>-svc``) holds two addresses: ``WEAK`` (198.18.12.2) runs the
misconfigured member of every pair, ``HARD`` (198.18.12.3) its hardened twin.  Several services
listen on non-standard ports on purpose (identification must go by protocol, not by port).

Everything runs under one supervisor, started inside the namespace by :class:`lab.Lab` as::

    ip netns exec pl-<tag>-svc python3 -m lab.services run --dir RUN_DIR/svc --lab-tag TAG --parent PID

It writes every server's configuration under ``--dir``, starts the servers in parallel (each in
its own process group, killed with the supervisor), waits until every port accepts connections,
prints ``ready``, and on SIGTERM (or when its parent is gone) stops them all.  Servers that drop
privileges (mosquitto, postgres) lose the parent-death signal; :meth:`lab.Lab.close` and
:func:`lab.sweep` stop whatever still lives in the namespace.  An nft table lets each address
accept connections only on its own ports of :data:`SERVICES` (every other port resets), so the
truth is complete: nothing else is open on either host.

Where Debian ships no server (MongoDB, Elasticsearch, CouchDB, the Docker Engine API, kubelet,
an RTSP camera, an RDP server that enforces NLA, a DVR web interface) a **stand-in** written from
the protocol's specification answers instead; :data:`SERVICES` marks them ``real: False``.

:data:`SERVICES` is the ground truth the tests assert against: for each entry its address, port,
the expected service name and, per check id, the expected outcome.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WEAK = "198.18.12.2"
HARD = "198.18.12.3"
NET = 12  # 198.18.12.0/24 (scanner .1)

V = "vulnerable"
OK = "ok"

#: key -> what runs there and what the scanner must find.  ``checks`` maps check id -> outcome;
#: ``deb`` names the Debian package whose upstream version the service must report.
SERVICES: dict[str, dict[str, Any]] = {
    # FTP: vsftpd, anonymous login on and off
    "ftp-weak": {
        "addr": WEAK,
        "port": 2121,
        "name": "ftp",
        "product": "vsftpd",
        "deb": "vsftpd",
        "checks": {"ftp-anonymous": V},
    },
    "ftp-hard": {
        "addr": HARD,
        "port": 21,
        "name": "ftp",
        "product": "vsftpd",
        "deb": "vsftpd",
        "checks": {"ftp-anonymous": OK},
    },
    # Redis with and without requirepass
    "redis-weak": {
        "addr": WEAK,
        "port": 7379,
        "name": "redis",
        "product": "Redis",
        "deb": "redis-server",
        "checks": {"redis-no-auth": V},
    },
    "redis-hard": {"addr": HARD, "port": 6379, "name": "redis", "product": "Redis", "checks": {"redis-no-auth": OK}},
    # Samba: SMB1 allowed and signing optional, vs SMB2+ with mandatory signing
    "smb-weak": {
        "addr": WEAK,
        "port": 445,
        "name": "smb",
        "product": "Samba smbd",
        "checks": {"smbv1": V, "smb-signing-not-required": V},
    },
    "smb-hard": {
        "addr": HARD,
        "port": 445,
        "name": "smb",
        "product": "Samba smbd",
        "checks": {"smbv1": OK, "smb-signing-not-required": OK},
    },
    "netbios-weak": {"addr": WEAK, "port": 139, "name": "netbios-ssn", "checks": {"smbv1": V}},
    # OpenSSH with weak algorithms added, vs defaults
    "ssh-weak": {
        "addr": WEAK,
        "port": 2222,
        "name": "ssh",
        "product": "OpenSSH",
        "deb": "openssh-server",
        "checks": {"ssh-weak-algorithms": V},
    },
    "ssh-hard": {
        "addr": HARD,
        "port": 22,
        "name": "ssh",
        "product": "OpenSSH",
        "deb": "openssh-server",
        "checks": {"ssh-weak-algorithms": OK},
    },
    # Telnet (inetutils-telnetd): cleartext by nature
    "telnet": {"addr": WEAK, "port": 2323, "name": "telnet", "checks": {"telnet-cleartext": V}},
    # nginx: HTTP; HTTPS with an expired self-signed certificate, TLS 1.0 and 3DES, vs a valid
    # certificate from a test CA with TLS 1.2+ and strong suites
    "http-weak": {
        "addr": WEAK,
        "port": 8080,
        "name": "http",
        "product": "nginx",
        "deb": "nginx-light",
        "checks": {"http-device-signature": OK},
    },
    "https-weak": {
        "addr": WEAK,
        "port": 443,
        "name": "https",
        "product": "nginx",
        "deb": "nginx-light",
        "tls": True,
        "checks": {"tls-expired": V, "tls-self-signed": V, "tls-weak-protocol": V, "tls-weak-cipher": V},
    },
    "https-odd-port": {
        "addr": WEAK,
        "port": 4443,
        "name": "https",
        "product": "nginx",
        "deb": "nginx-light",
        "tls": True,
        "checks": {"tls-expired": V, "tls-self-signed": V},
    },
    "https-hard": {
        "addr": HARD,
        "port": 8443,
        "name": "https",
        "product": "nginx",
        "deb": "nginx-light",
        "tls": True,
        "checks": {"tls-expired": OK, "tls-self-signed": OK, "tls-weak-protocol": OK, "tls-weak-cipher": OK},
    },
    # mosquitto with and without anonymous access
    "mqtt-weak": {"addr": WEAK, "port": 1883, "name": "mqtt", "checks": {"mqtt-anonymous": V}},
    "mqtt-hard": {"addr": HARD, "port": 11883, "name": "mqtt", "checks": {"mqtt-anonymous": OK}},
    # databases and caches: identification
    "postgresql": {"addr": WEAK, "port": 15432, "name": "postgresql", "product": "PostgreSQL", "checks": {}},
    "mariadb": {
        "addr": WEAK,
        "port": 3306,
        "name": "mysql",
        "product": "MariaDB",
        "deb": "mariadb-server",
        "checks": {},
    },
    "memcached": {
        "addr": WEAK,
        "port": 21211,
        "name": "memcached",
        "product": "memcached",
        "deb": "memcached",
        "checks": {"memcached-no-auth": V},
    },
    # TigerVNC without and with a password; its X server without and with access control
    "vnc-weak": {"addr": WEAK, "port": 5900, "name": "vnc", "checks": {"vnc-no-auth": V}},
    "vnc-hard": {"addr": HARD, "port": 5901, "name": "vnc", "checks": {"vnc-no-auth": OK}},
    "x11-weak": {"addr": WEAK, "port": 6001, "name": "x11", "checks": {"x11-no-auth": V}},
    "x11-hard": {"addr": HARD, "port": 6002, "name": "x11", "checks": {"x11-no-auth": OK}},
    # xrdp (standard RDP security and TLS, no NLA) vs a stand-in that requires NLA
    "rdp-weak": {"addr": WEAK, "port": 3389, "name": "rdp", "product": "xrdp", "checks": {"rdp-nla-not-enforced": V}},
    "rdp-hard": {"addr": HARD, "port": 3389, "name": "rdp", "real": False, "checks": {"rdp-nla-not-enforced": OK}},
    # stand-ins written from the protocol specifications
    "mongodb-weak": {"addr": WEAK, "port": 27017, "name": "mongodb", "real": False, "checks": {"mongodb-no-auth": V}},
    "mongodb-hard": {"addr": HARD, "port": 27017, "name": "mongodb", "real": False, "checks": {"mongodb-no-auth": OK}},
    "elasticsearch-weak": {
        "addr": WEAK,
        "port": 9200,
        "name": "elasticsearch",
        "real": False,
        "checks": {"elasticsearch-no-auth": V},
    },
    "elasticsearch-hard": {
        "addr": HARD,
        "port": 9200,
        "name": "elasticsearch",
        "real": False,
        "checks": {"elasticsearch-no-auth": OK},
    },
    "couchdb-weak": {"addr": WEAK, "port": 5984, "name": "couchdb", "real": False, "checks": {"couchdb-no-auth": V}},
    "couchdb-hard": {"addr": HARD, "port": 5984, "name": "couchdb", "real": False, "checks": {"couchdb-no-auth": OK}},
    "docker-weak": {"addr": WEAK, "port": 2375, "name": "docker", "real": False, "checks": {"docker-api-no-auth": V}},
    "docker-hard": {"addr": HARD, "port": 2375, "name": "docker", "real": False, "checks": {"docker-api-no-auth": OK}},
    "kubelet-weak": {
        "addr": WEAK,
        "port": 10250,
        "name": "kubelet",
        "real": False,
        "tls": True,
        "checks": {"kubelet-no-auth": V},
    },
    "kubelet-hard": {
        "addr": HARD,
        "port": 10250,
        "name": "kubelet",
        "real": False,
        "tls": True,
        "checks": {"kubelet-no-auth": OK},
    },
    "rtsp-weak": {"addr": WEAK, "port": 554, "name": "rtsp", "real": False, "checks": {"rtsp-no-auth": V}},
    "rtsp-hard": {"addr": HARD, "port": 8554, "name": "rtsp", "real": False, "checks": {"rtsp-no-auth": OK}},
    "camera-web": {
        "addr": WEAK,
        "port": 8081,
        "name": "http",
        "real": False,
        "checks": {"http-device-signature": V},
    },
}

#: Debian packages the real servers come from (scripts/sysdeps.sh installs them).
PACKAGES = (
    "vsftpd",
    "redis-server",
    "samba",
    "xrdp",
    "openssh-server",
    "inetutils-telnetd",
    "nginx-light",
    "postgresql",
    "mariadb-server",
    "mosquitto",
    "memcached",
    "tigervnc-standalone-server",
    "tigervnc-tools",
    "openssl",
)

READY_TIMEOUT = 90.0
PG_BIN = Path("/usr/lib/postgresql")


def truth() -> dict[str, Any]:
    """What ``lab.truth["svc"]`` holds."""
    services = {k: {"real": True, **v} for k, v in SERVICES.items()}
    return {"weak": WEAK, "hard": HARD, "services": services}


# --------------------------------------------------------------------------- building (lab side)


def build(lab: Any) -> None:
    """Addresses and the supervisor of the ``svc`` part (its link, with ``WEAK``, already exists)."""
    part = "svc"
    ns = f"pl-{lab.tag}-{part}"
    _, _, target_if = lab._veths(part)
    lab._addr(ns, f"{HARD}/24", target_if)
    lab._nft(ns, nft_script())
    root = lab.run_dir / part
    lab._start_server(part, ["run", "--dir", str(root)], module="lab.services")
    lab.truth[part] = truth()


def nft_script() -> str:
    """Only the ports of :data:`SERVICES` accept connections on each address (the rest reset):
    servers that listen on every address (Xtigervnc's X11 ports) then answer only where the
    truth says, and every other port of both hosts is closed."""
    rules = ""
    for addr in (WEAK, HARD):
        ports = ", ".join(str(p) for p in sorted({s["port"] for s in SERVICES.values() if s["addr"] == addr}))
        rules += f"    ct state new ip daddr {addr} tcp dport != {{ {ports} }} reject with tcp reset\n"
    chain = f"  chain input {{\n    type filter hook input priority 0; policy accept;\n{rules}  }}\n"
    return f"table inet svc {{\n{chain}}}\n"


# --------------------------------------------------------------------------- helpers


def _pdeathsig() -> None:
    """In the child: die with the supervisor (PR_SET_PDEATHSIG = 1, SIGKILL)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)


class _Supervisor:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.logs = root / "logs"

    def start(self, name: str, argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - kept open for the child
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_pdeathsig,  # noqa: PLW1509 - started from the main thread only
            **kw,
        )
        log.close()
        self.procs.append((name, proc))
        return proc

    def stop(self) -> None:
        for _, p in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 2.0
        for _, p in self.procs:
            left = max(0.0, deadline - time.monotonic())
            try:
                p.wait(timeout=left)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=2.0)

    def dead(self) -> list[str]:
        return [n for n, p in self.procs if p.poll() is not None and not n.startswith("prep-")]


def _private(path: str, argv: list[str]) -> list[str]:
    """``argv`` in a mount namespace of its own with an empty tmpfs on ``path``: servers that keep
    fixed pid or lock files there (xrdp, Xtigervnc) then never meet another lab's."""
    script = f'mount -t tmpfs -o mode=1777 portlens-lab {path} && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "lab-private", *argv]


def _write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def _run(argv: list[str], **kw: Any) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=60, **kw)


# --------------------------------------------------------------------------- certificates


def make_certs(d: Path) -> dict[str, Path]:
    """An expired self-signed certificate, a test CA, a valid certificate it signed, and one for
    the stand-ins' TLS."""
    d.mkdir(parents=True, exist_ok=True)
    ca_conf = _write(
        d / "ca.cnf",
        f"""[ca]
default_ca = lab
[lab]
dir = {d}
database = {d}/index.txt
new_certs_dir = {d}
serial = {d}/serial
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[anything]
commonName = supplied
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[v3_self]
basicConstraints = CA:FALSE
subjectAltName = IP:{WEAK}
""",
    )
    (d / "index.txt").write_text("")
    (d / "serial").write_text("1000\n")
    # expired, self-signed (2020-2021)
    _run(["openssl", "genrsa", "-out", str(d / "expired.key"), "2048"])
    _run(
        [
            "openssl",
            "req",
            "-new",
            "-key",
            str(d / "expired.key"),
            "-subj",
            "/CN=svc-weak.lab.invalid",
            "-out",
            str(d / "expired.csr"),
        ]
    )
    _run(
        [
            "openssl",
            "ca",
            "-batch",
            "-config",
            str(ca_conf),
            "-selfsign",
            "-keyfile",
            str(d / "expired.key"),
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20210101000000Z",
            "-extensions",
            "v3_self",
            "-in",
            str(d / "expired.csr"),
            "-out",
            str(d / "expired.pem"),
            "-notext",
        ]
    )
    # test CA and a valid leaf
    _run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(d / "ca.key"),
            "-out",
            str(d / "ca.pem"),
            "-days",
            "30",
            "-subj",
            "/CN=portlens lab test CA",
        ]
    )
    _run(
        [
            "openssl",
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(d / "ok.key"),
            "-out",
            str(d / "ok.csr"),
            "-subj",
            "/CN=svc-hard.lab.invalid",
        ]
    )
    ext = _write(d / "ok.ext", f"subjectAltName = DNS:svc-hard.lab.invalid, IP:{HARD}\nbasicConstraints = CA:FALSE\n")
    _run(
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            str(d / "ok.csr"),
            "-CA",
            str(d / "ca.pem"),
            "-CAkey",
            str(d / "ca.key"),
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            str(ext),
            "-out",
            str(d / "ok.pem"),
        ]
    )
    (d / "ok-chain.pem").write_text((d / "ok.pem").read_text() + (d / "ca.pem").read_text())
    return {
        "expired": d / "expired.pem",
        "expired_key": d / "expired.key",
        "ok": d / "ok-chain.pem",
        "ok_key": d / "ok.key",
        "ca": d / "ca.pem",
    }


# --------------------------------------------------------------------------- real servers


def _vsftpd(sv: _Supervisor, name: str, addr: str, port: int, anonymous: bool) -> None:
    d = sv.root / name
    empty = d / "empty"
    anon = d / "anon"
    empty.mkdir(parents=True, exist_ok=True)
    anon.mkdir(parents=True, exist_ok=True)
    (anon / "README").write_text("portlens lab\n")
    for p in (d, empty, anon):
        p.chmod(0o755)
    conf = _write(
        d / "vsftpd.conf",
        f"""listen=YES
listen_ipv6=NO
listen_address={addr}
listen_port={port}
background=NO
anonymous_enable={"YES" if anonymous else "NO"}
anon_root={anon}
local_enable={"NO" if anonymous else "YES"}
write_enable=NO
pam_service_name=vsftpd
secure_chroot_dir={empty}
ftp_username=ftp
nopriv_user=nobody
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
xferlog_enable=NO
dual_log_enable=NO
vsftpd_log_file={d}/vsftpd.log
""",
        0o600,
    )
    sv.start(name, ["/usr/sbin/vsftpd", str(conf)])


def _redis(sv: _Supervisor, name: str, addr: str, port: int, password: str | None) -> None:
    d = sv.root / name
    d.mkdir(parents=True, exist_ok=True)
    argv = ["redis-server", "--bind", addr, "--port", str(port), "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(d), "--daemonize", "no", "--protected-mode", "no", "--logfile", ""]
    if password:
        argv += ["--requirepass", password]
    sv.start(name, argv)


def _samba(sv: _Supervisor, name: str, addr: str, ports: str, weak: bool) -> None:
    d = sv.root / name
    for sub in ("lock", "state", "cache", "private", "pid", "ncalrpc", "share"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    policy = (
        "server min protocol = NT1\n  server signing = auto\n"
        if weak
        else "server min protocol = SMB2_02\n  server signing = mandatory\n"
    )
    conf = _write(
        d / "smb.conf",
        f"""[global]
  server role = standalone server
  workgroup = PORTLENS
  netbios name = {name.upper().replace("-", "")}
  interfaces = {addr}
  bind interfaces only = yes
  smb ports = {ports}
  {policy}
  lock directory = {d}/lock
  state directory = {d}/state
  cache directory = {d}/cache
  private dir = {d}/private
  pid directory = {d}/pid
  ncalrpc dir = {d}/ncalrpc
  passdb backend = tdbsam:{d}/private/passdb.tdb
  log file = {d}/log.%m
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  map to guest = never

[lab]
  path = {d}/share
  read only = yes
""",
    )
    sv.start(name, ["/usr/sbin/smbd", "--foreground", "--no-process-group", "-s", str(conf)])


def _sshd(sv: _Supervisor, name: str, addr: str, port: int, weak: bool) -> None:
    d = sv.root / name
    d.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    key = d / "ssh_host_ed25519_key"
    if not key.exists():
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
    extra = (
        "KexAlgorithms +diffie-hellman-group1-sha1,diffie-hellman-group-exchange-sha1\n"
        "Ciphers +aes128-cbc,3des-cbc\nMACs +hmac-md5,hmac-sha1-96\n"
        if weak
        else ""
    )
    conf = _write(
        d / "sshd_config",
        f"""ListenAddress {addr}:{port}
HostKey {key}
PidFile {d}/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
{extra}""",
        0o600,
    )
    sv.start(name, ["/usr/sbin/sshd", "-D", "-e", "-f", str(conf)])


def _nginx(sv: _Supervisor, certs: dict[str, Path]) -> None:
    d = sv.root / "nginx"
    tmp = d / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    page = "<html><head><title>portlens lab {which}</title></head><body>{which}</body></html>"
    temps = "".join(f"  {k}_temp_path {tmp}/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = _write(
        d / "nginx.conf",
        f"""daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
{temps}  server {{
    listen {WEAK}:8080;
    location / {{ default_type text/html; return 200 "{page.format(which="weak web")}"; }}
  }}
  server {{
    listen {WEAK}:443 ssl;
    listen {WEAK}:4443 ssl;
    ssl_certificate {certs["expired"]};
    ssl_certificate_key {certs["expired_key"]};
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2;
    ssl_ciphers "ALL:@SECLEVEL=0";
    location / {{ default_type text/html; return 200 "{page.format(which="weak tls")}"; }}
  }}
  server {{
    listen {HARD}:8443 ssl;
    ssl_certificate {certs["ok"]};
    ssl_certificate_key {certs["ok_key"]};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers "ECDHE+AESGCM:ECDHE+CHACHA20";
    location / {{ default_type text/html; return 200 "{page.format(which="hardened tls")}"; }}
  }}
}}
""",
    )
    sv.start("nginx", ["/usr/sbin/nginx", "-c", str(conf), "-p", str(d)])


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


def _mosquitto(sv: _Supervisor, name: str, addr: str, port: int, anonymous: bool) -> None:
    d = sv.root / name
    d.mkdir(parents=True, exist_ok=True)
    auth = "allow_anonymous true\n"
    if not anonymous:
        pw = _write(d / "passwords", "", 0o600)
        shutil.chown(pw, "mosquitto", "mosquitto")
        auth = f"allow_anonymous false\npassword_file {pw}\n"
    conf = _write(
        d / "mosquitto.conf",
        f"listener {port} {addr}\n{auth}persistence false\nlog_dest stderr\nuser mosquitto\n",
    )
    sv.start(name, ["/usr/sbin/mosquitto", "-c", str(conf)])


def _memcached(sv: _Supervisor, addr: str, port: int) -> None:
    sv.start("memcached", ["memcached", "-u", "nobody", "-l", addr, "-p", str(port), "-U", "0", "-m", "16"])


def _vnc(sv: _Supervisor, name: str, addr: str, port: int, password: str | None) -> None:
    d = sv.root / name
    d.mkdir(parents=True, exist_ok=True)
    # A private /tmp holds the lock file and the X socket; the abstract X socket is per network
    # namespace, so the twins only need different displays from each other.
    display = 1 if addr == WEAK else 2
    # Its X server also listens on TCP 6000+display: without access control (-ac) on the weak one.
    argv = ["Xtigervnc", f":{display}", "-rfbport", str(port), "-interface", addr, "-listen", "tcp"]
    argv += ["-geometry", "320x240", "-depth", "16", "-localhost=0"]
    if password is None:
        argv += ["-ac"]
    if password is None:
        argv += ["-SecurityTypes", "None"]
    else:
        pwfile = d / "passwd"
        with open(pwfile, "wb") as f:
            subprocess.run(["vncpasswd", "-f"], input=password.encode(), stdout=f, check=True, timeout=30)
        pwfile.chmod(0o600)
        argv += ["-SecurityTypes", "VncAuth", "-PasswordFile", str(pwfile)]
    sv.start(name, _private("/tmp", argv))


def _xrdp(sv: _Supervisor, addr: str, port: int, certs: dict[str, Path]) -> None:
    d = sv.root / "xrdp"
    d.mkdir(parents=True, exist_ok=True)
    base = Path("/etc/xrdp/xrdp.ini").read_text()
    lines: list[str] = []
    for line in base.splitlines():
        key = line.split("=", 1)[0].strip()
        if key == "port" and not _has_line(lines, "port="):
            line = f"port=tcp://{addr}:{port}"
        elif key == "certificate":
            line = f"certificate={certs['expired']}"
        elif key == "key_file":
            line = f"key_file={certs['expired_key']}"
        elif key == "fork":
            line = "fork=false"
        lines.append(line)
    conf = _write(d / "xrdp.ini", "\n".join(lines) + "\n")
    Path("/run/xrdp").mkdir(exist_ok=True)
    # /run/xrdp/xrdp.pid is fixed at build time: a private /run/xrdp keeps labs apart.
    sv.start("xrdp", _private("/run/xrdp", ["/usr/sbin/xrdp", "--nodaemon", "--config", str(conf)]))


def _has_line(lines: list[str], prefix: str) -> bool:
    return any(line.startswith(prefix) for line in lines)


# --------------------------------------------------------------------------- telnet (inetd-style)


def _telnet_loop(addr: str, port: int, stop: threading.Event, children: list[subprocess.Popen[bytes]]) -> socket.socket:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(64)
    srv.settimeout(0.5)

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            try:
                if len(children) < 256:
                    p = subprocess.Popen(
                        ["/usr/sbin/telnetd"],
                        stdin=conn.fileno(),
                        stdout=conn.fileno(),
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                    children.append(p)
            finally:
                conn.close()
            children[:] = [c for c in children if c.poll() is None]

    threading.Thread(target=loop, name="telnetd-accept", daemon=True).start()
    return srv


# --------------------------------------------------------------------------- stand-ins


def _http(status: int, body: bytes, headers: dict[str, str] | None = None, ctype: str = "application/json") -> bytes:
    reason = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(status, "OK")
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
    for k, v in (headers or {}).items():
        head += f"{k}: {v}\r\n"
    return (head + "Connection: close\r\n\r\n").encode() + body


HttpApp = Callable[[str], bytes]


def _es(weak: bool) -> HttpApp:
    doc = {
        "name": "lab-node",
        "cluster_name": "portlens-lab",
        "version": {"number": "8.11.1", "build_flavor": "default"},
        "tagline": "You Know, for Search",
    }

    def app(path: str) -> bytes:
        if weak:
            return _http(200, json.dumps(doc).encode(), {"X-elastic-product": "Elasticsearch"})
        err = {"error": {"type": "security_exception", "reason": "missing authentication credentials"}, "status": 401}
        auth = 'Basic realm="security" charset="UTF-8"'
        return _http(401, json.dumps(err).encode(), {"WWW-Authenticate": auth})

    return app


def _couch(weak: bool) -> HttpApp:
    server = {"Server": "CouchDB/3.3.2 (Erlang OTP/24)"}

    def app(path: str) -> bytes:
        if path == "/_all_dbs":
            if weak:
                return _http(200, b'["_replicator","_users","lab"]', server)
            return _http(401, b'{"error":"unauthorized","reason":"You are not a server admin."}', server)
        welcome = b'{"couchdb":"Welcome","version":"3.3.2","vendor":{"name":"The Apache Software Foundation"}}'
        return _http(200, welcome, server)

    return app


def _docker(weak: bool) -> HttpApp:
    h = {"Api-Version": "1.43", "Server": "Docker/24.0.7 (linux)", "Docker-Experimental": "false"}

    def app(path: str) -> bytes:
        if path.endswith("/version"):
            if weak:
                v = {"Version": "24.0.7", "ApiVersion": "1.43", "Os": "linux", "Arch": "amd64"}
                return _http(200, json.dumps(v).encode(), h)
            # an authorization plugin refusing the anonymous client
            return _http(403, b'{"message":"authorization denied by plugin lab-authz: anonymous"}', h)
        return _http(404, b'{"message":"page not found"}', h)

    return app


def _kubelet(weak: bool) -> HttpApp:
    def app(path: str) -> bytes:
        if path == "/pods":
            if weak:
                return _http(200, b'{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}')
            return _http(401, b"Unauthorized", ctype="text/plain")
        return _http(404, b"404 page not found\n", ctype="text/plain; charset=utf-8")

    return app


def _camera(path: str) -> bytes:
    body = b'<html><head><title>index</title></head><body><script>location="/doc/page/login.asp"</script></body></html>'
    return _http(200, body, {"Server": "Hikvision-Webs"}, "text/html")


async def _serve_http(app: HttpApp, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        parts = head.split(b" ", 2)
        path = parts[1].decode(errors="replace") if len(parts) > 1 else "/"
        writer.write(app(path))
        await writer.drain()
    writer.close()


async def _serve_rtsp(weak: bool, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        for _ in range(8):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            lines = head.decode(errors="replace").split("\r\n")
            method = lines[0].split(" ", 1)[0]
            cseq = next((ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith("cseq:")), "0")
            base = f"CSeq: {cseq}\r\nServer: GStreamer RTSP server\r\n"
            if method == "OPTIONS":
                out = f"RTSP/1.0 200 OK\r\n{base}Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n"
            elif method == "DESCRIBE" and weak:
                sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=lab camera\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n"
                sdp_head = f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n"
                out = f"RTSP/1.0 200 OK\r\n{base}{sdp_head}{sdp}"
            elif method == "DESCRIBE":
                out = f'RTSP/1.0 401 Unauthorized\r\n{base}WWW-Authenticate: Digest realm="lab", nonce="0"\r\n\r\n'
            else:
                out = f"RTSP/1.0 405 Method Not Allowed\r\n{base}\r\n"
            writer.write(out.encode())
            await writer.drain()
    writer.close()


async def _serve_rdp_nla(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """X.224 Connection Confirm of a server that requires CredSSP (MS-RDPBCGR 2.2.1.2)."""
    with contextlib.suppress(Exception):
        head = await asyncio.wait_for(reader.readexactly(4), 10)
        body = await asyncio.wait_for(reader.readexactly(struct.unpack(">H", head[2:4])[0] - 4), 10)
        requested = struct.unpack("<I", body[-4:])[0] if len(body) >= 8 and body[-8] == 1 else 0
        if requested & 2:
            neg = struct.pack("<BBHI", 2, 0, 8, 2)  # RDP_NEG_RSP: PROTOCOL_HYBRID
        else:
            neg = struct.pack("<BBHI", 3, 0, 8, 5)  # RDP_NEG_FAILURE: HYBRID_REQUIRED_BY_SERVER
        x224 = bytes([6 + len(neg), 0xD0, 0, 0, 0x12, 0x34, 0]) + neg
        writer.write(struct.pack(">BBH", 3, 0, 4 + len(x224)) + x224)
        await writer.drain()
    writer.close()


def _bson(doc: dict[str, Any]) -> bytes:
    out = b""
    for k, v in doc.items():
        key = k.encode() + b"\0"
        if isinstance(v, bool):
            out += b"\x08" + key + (b"\x01" if v else b"\x00")
        elif isinstance(v, int):
            out += b"\x10" + key + struct.pack("<i", v)
        elif isinstance(v, float):
            out += b"\x01" + key + struct.pack("<d", v)
        elif isinstance(v, str):
            s = v.encode() + b"\0"
            out += b"\x02" + key + struct.pack("<i", len(s)) + s
        elif isinstance(v, dict):
            out += b"\x03" + key + _bson(v)
        elif isinstance(v, list):
            out += b"\x04" + key + _bson({str(i): x for i, x in enumerate(v)})
    return struct.pack("<i", len(out) + 5) + out + b"\0"


def _first_key(doc: bytes) -> str:
    """The first field name of a BSON document (the command name)."""
    if len(doc) < 6:
        return ""
    end = doc.index(b"\0", 5)
    return doc[5:end].decode(errors="replace")


def _mongo_legacy(req_id: int, body: bytes) -> bytes:
    """OP_QUERY (2004) as MongoDB 6.0 answers it: only the handshake (``isMaster``/``hello`` on a
    ``$cmd`` collection) is still served, every other command gets error 352; the answer is an
    OP_REPLY (1): flags, cursor id 0, starting from 0, one document."""
    name_end = body.index(b"\0", 4)
    query = body[name_end + 9 :]
    cmd = _first_key(query)
    if cmd.lower() in ("ismaster", "hello"):
        reply: dict[str, Any] = {"ismaster": True, "maxWireVersion": 17, "minWireVersion": 0, "ok": 1.0}
    else:
        reply = {
            "ok": 0.0,
            "errmsg": f"Unsupported OP_QUERY command: {cmd}. The client driver may require an upgrade.",
            "code": 352,
            "codeName": "UnsupportedOpQueryCommand",
        }
    doc = struct.pack("<iqii", 0, 0, 0, 1) + _bson(reply)
    return struct.pack("<iiii", 16 + len(doc), req_id + 1000, req_id, 1) + doc


async def _serve_mongo(weak: bool, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A MongoDB 6.0 stand-in (wire protocol: OP_MSG 2013, legacy OP_QUERY 2004 handshake only)."""
    with contextlib.suppress(Exception):
        for _ in range(16):
            head = await asyncio.wait_for(reader.readexactly(16), 10)
            length, req_id, _, opcode = struct.unpack("<iiii", head)
            if not 16 < length < 1 << 20 or opcode not in (2004, 2013):
                break
            body = await asyncio.wait_for(reader.readexactly(length - 16), 10)
            if opcode == 2004:
                writer.write(_mongo_legacy(req_id, body))
                await writer.drain()
                continue
            cmd = _first_key(body[5:]).lower()
            if cmd in ("ismaster", "hello"):
                reply: dict[str, Any] = {"ismaster": True, "maxWireVersion": 17, "minWireVersion": 0, "ok": 1.0}
            elif cmd == "buildinfo":
                reply = {"version": "6.0.12", "ok": 1.0}
            elif cmd == "listdatabases" and weak:
                reply = {"databases": [{"name": "admin"}, {"name": "lab"}], "ok": 1.0}
            else:
                reply = {
                    "ok": 0.0,
                    "errmsg": f"command {cmd} requires authentication",
                    "code": 13,
                    "codeName": "Unauthorized",
                }
            doc = struct.pack("<I", 0) + b"\0" + _bson(reply)
            writer.write(struct.pack("<iiii", 16 + len(doc), req_id + 1000, req_id, 2013) + doc)
            await writer.drain()
    writer.close()


async def _standins(certs: dict[str, Path]) -> list[asyncio.AbstractServer]:
    tls_weak = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_weak.load_cert_chain(str(certs["expired"]), str(certs["expired_key"]))
    tls_hard = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_hard.load_cert_chain(str(certs["ok"]), str(certs["ok_key"]))

    def http(app: HttpApp) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
        return lambda r, w: _serve_http(app, r, w)

    def with_weak(fn: Any, weak: bool) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
        return lambda r, w: fn(weak, r, w)

    plan: list[tuple[str, Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any], ssl.SSLContext | None]] = [
        ("mongodb-weak", with_weak(_serve_mongo, True), None),
        ("mongodb-hard", with_weak(_serve_mongo, False), None),
        ("elasticsearch-weak", http(_es(True)), None),
        ("elasticsearch-hard", http(_es(False)), None),
        ("couchdb-weak", http(_couch(True)), None),
        ("couchdb-hard", http(_couch(False)), None),
        ("docker-weak", http(_docker(True)), None),
        ("docker-hard", http(_docker(False)), None),
        ("kubelet-weak", http(_kubelet(True)), tls_weak),
        ("kubelet-hard", http(_kubelet(False)), tls_hard),
        ("rtsp-weak", with_weak(_serve_rtsp, True), None),
        ("rtsp-hard", with_weak(_serve_rtsp, False), None),
        ("rdp-hard", _serve_rdp_nla, None),
        ("camera-web", http(_camera), None),
    ]
    servers: list[asyncio.AbstractServer] = []
    for key, cb, ctx in plan:
        s = SERVICES[key]
        servers.append(await asyncio.start_server(cb, s["addr"], s["port"], ssl=ctx, reuse_address=True))
    return servers


# --------------------------------------------------------------------------- the supervisor


def _port_open(addr: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.3)
        return s.connect_ex((addr, port)) == 0


async def _main(root: Path, parent: int) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sv = _Supervisor(root)
    stop_telnet = threading.Event()
    telnet_children: list[subprocess.Popen[bytes]] = []
    telnet_sock = None
    servers: list[asyncio.AbstractServer] = []
    try:
        pg_prep = _postgres_prep(sv)
        certs = make_certs(root / "certs")
        _vsftpd(sv, "ftp-weak", WEAK, SERVICES["ftp-weak"]["port"], anonymous=True)
        _vsftpd(sv, "ftp-hard", HARD, SERVICES["ftp-hard"]["port"], anonymous=False)
        _redis(sv, "redis-weak", WEAK, SERVICES["redis-weak"]["port"], None)
        _redis(sv, "redis-hard", HARD, SERVICES["redis-hard"]["port"], os.urandom(12).hex())
        _samba(sv, "smb-weak", WEAK, "445 139", weak=True)
        _samba(sv, "smb-hard", HARD, "445", weak=False)
        _sshd(sv, "ssh-weak", WEAK, SERVICES["ssh-weak"]["port"], weak=True)
        _sshd(sv, "ssh-hard", HARD, SERVICES["ssh-hard"]["port"], weak=False)
        _nginx(sv, certs)
        _mariadb(sv, WEAK, SERVICES["mariadb"]["port"])
        _mosquitto(sv, "mqtt-weak", WEAK, SERVICES["mqtt-weak"]["port"], anonymous=True)
        _mosquitto(sv, "mqtt-hard", HARD, SERVICES["mqtt-hard"]["port"], anonymous=False)
        _memcached(sv, WEAK, SERVICES["memcached"]["port"])
        _vnc(sv, "vnc-weak", WEAK, SERVICES["vnc-weak"]["port"], None)
        _vnc(sv, "vnc-hard", HARD, SERVICES["vnc-hard"]["port"], "labpass1")
        _xrdp(sv, WEAK, SERVICES["rdp-weak"]["port"], certs)
        telnet_sock = _telnet_loop(WEAK, SERVICES["telnet"]["port"], stop_telnet, telnet_children)
        servers = await _standins(certs)
        deadline = time.monotonic() + 60
        while pg_prep.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if pg_prep.returncode != 0:
            raise RuntimeError(f"initdb failed: {(sv.logs / 'prep-postgres.log').read_text()[-2000:]}")
        _postgres(sv, WEAK, SERVICES["postgresql"]["port"])
        pending = {k: (s["addr"], s["port"]) for k, s in SERVICES.items()}
        deadline = time.monotonic() + READY_TIMEOUT
        while pending:
            for k, (a, p) in list(pending.items()):
                if await loop.run_in_executor(None, _port_open, a, p):
                    del pending[k]
            dead = sv.dead()
            if dead or time.monotonic() > deadline:
                logs = {n: (sv.logs / f"{n}.log").read_text(errors="replace")[-1500:] for n in dead}
                raise RuntimeError(f"services not up: {sorted(pending)}; exited: {dead}; logs: {logs}")
            if pending:
                await asyncio.sleep(0.1)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
        while not stop.is_set() and (parent <= 0 or os.getppid() == parent):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        return 0
    except Exception as e:  # noqa: BLE001 - reported to the lab builder
        print(f"lab.services: {e}", file=sys.stderr)
        return 1
    finally:
        stop_telnet.set()
        for s in servers:
            s.close()
        if telnet_sock is not None:
            telnet_sock.close()
        for c in telnet_children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(c.pid, signal.SIGKILL)
        sv.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m lab.services")
    ap.add_argument("command", choices=("run",))
    ap.add_argument("--dir", required=True, help="folder for configurations, data and logs")
    ap.add_argument("--lab-tag", default="", help="marker for cleanup only")
    ap.add_argument("--parent", type=int, default=0, help="exit when this parent is gone")
    args = ap.parse_args(argv)
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    parent = args.parent if args.parent > 0 else os.getppid()
    return asyncio.run(_main(root, parent))


if __name__ == "__main__":
    sys.exit(main())

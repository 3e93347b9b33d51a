"""Remote shells: OpenSSH (weak and hardened) and telnetd behind an inetd-style accept loop."""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path

from .common import _run, _Supervisor, _write


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

"""Remote desktops: TigerVNC (with and without a password) and xrdp."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .common import _has_line, _private, _Supervisor, _write
from .truth import WEAK


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

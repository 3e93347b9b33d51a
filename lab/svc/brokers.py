"""Message brokers: mosquitto (MQTT), anonymous access on and off."""

from __future__ import annotations

import shutil

from .common import _Supervisor, _write


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

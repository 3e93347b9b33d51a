"""naabu's JSON Lines (``naabu -json``): one object per open port, for tools that import naabu output.

Each line is ``{"host", "ip", "timestamp", "port", "protocol", "tls"}`` as naabu writes it. ``host``
is the hostname the target was given as, else the address (naabu leaves it out when it equals the
address; portlens always writes it, which readers of either form accept). ``timestamp`` is RFC 3339
in UTC: the end of the scan (a port result carries no time of its own). ``tls`` is true only when
the port's service record says so (service identification), as with naabu without TLS probing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ..results import PortResult, ScanResult
from .jsonfmt import write_text

__all__ = ["naabu_record", "dumps_naabu", "write_naabu"]


def _rfc3339(t: datetime) -> str:
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _tls(service: Mapping[str, Any] | None) -> bool:
    if not service:
        return False
    return service.get("tunnel") == "ssl" or service.get("tls") is True


def naabu_record(p: PortResult, timestamp: datetime) -> dict[str, Any]:
    return {
        "host": p.hostname or p.host,
        "ip": p.host,
        "timestamp": _rfc3339(timestamp),
        "port": p.port,
        "protocol": p.protocol,
        "tls": _tls(p.service),
    }


def dumps_naabu(result: ScanResult, timestamp: datetime | None = None) -> str:
    """The open ports of ``result``, one naabu JSON object per line."""
    when = timestamp or result.finished
    return "".join(json.dumps(naabu_record(p, when)) + "\n" for p in result.ports if p.state == "open")


def write_naabu(result: ScanResult, path: str | os.PathLike[str]) -> None:
    write_text(path, dumps_naabu(result))

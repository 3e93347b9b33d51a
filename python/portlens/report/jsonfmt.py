"""JSON and JSON Lines, with a versioned schema; `load` reads them back."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from ..exceptions import PortlensError
from ..results import HostResult, PortResult, ScanResult

SCHEMA = "portlens.scan/1"


def result_to_dict(r: ScanResult) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "status": r.status,
        "started": r.started.isoformat(),
        "finished": r.finished.isoformat(),
        "elapsed": r.elapsed,
        "hosts_total": r.hosts_total,
        "hosts_up": r.hosts_up,
        "hosts_down": r.hosts_down,
        "ports_per_host": r.ports_per_host,
        "counts": dict(r.counts),
        "options": dict(r.options),
        "stats": dict(r.stats),
        "hosts": [h.to_dict() for h in r.hosts],
        "ports": [p.to_dict() for p in r.ports],
    }


def dumps_result(r: ScanResult) -> str:
    return json.dumps(result_to_dict(r), indent=2, sort_keys=False) + "\n"


def result_from_dict(d: dict[str, Any]) -> ScanResult:
    if d.get("schema") != SCHEMA:
        raise PortlensError(f"not a portlens scan document (schema {d.get('schema')!r}, expected {SCHEMA!r})")
    ports = [PortResult.from_dict(p) for p in d["ports"]]
    by_host: dict[str, list[PortResult]] = {}
    for p in ports:
        by_host.setdefault(p.host, []).append(p)
    hosts = tuple(
        HostResult(
            address=h["address"],
            hostname=h.get("hostname"),
            counts=dict(h["counts"]),
            rtt=h.get("rtt"),
            ports=tuple(by_host.get(h["address"], ())),
            state=h.get("state", "up"),
            reason=h.get("reason"),
        )
        for h in d["hosts"]
    )
    return ScanResult(
        ports=tuple(ports),
        hosts=hosts,
        counts=dict(d["counts"]),
        status=d["status"],
        started=datetime.fromisoformat(d["started"]),
        finished=datetime.fromisoformat(d["finished"]),
        hosts_total=int(d["hosts_total"]),
        ports_per_host=int(d["ports_per_host"]),
        options=dict(d.get("options", {})),
        stats=dict(d.get("stats", {})),
    )


def load(path: str | os.PathLike[str]) -> ScanResult:
    """Read a scan written by ``to_json`` / ``-o results.json`` back into a ScanResult."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise PortlensError(f"cannot read scan file {os.fspath(path)!r}: {e}") from e
    try:
        return result_from_dict(doc)
    except (KeyError, TypeError, ValueError) as e:
        raise PortlensError(f"scan file {os.fspath(path)!r} is malformed: {e!r}") from e


def write_jsonl(ports: Iterable[PortResult], out: IO[str]) -> int:
    """One JSON object per port result; returns how many were written."""
    n = 0
    for p in ports:
        out.write(json.dumps(p.to_dict()) + "\n")
        n += 1
    return n


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write atomically: a reader never sees half a file, a crash never leaves one."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent or Path("."), prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

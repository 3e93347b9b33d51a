"""JSON and JSON Lines, with versioned schemas (JSON Schema files in ``schemas/``); `load` reads them back."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from ..exceptions import PortlensError
from ..files.read import ReadError, read_json
from ..files.write import atomic, write_text
from ..policy.model import Assessment
from ..results import HostResult, PortResult, ScanResult

__all__ = ["SCHEMA", "dump_result", "dumps_result", "load", "load_assessment", "load_scan", "write_jsonl"]
__all__ += ["json_schema", "result_from_dict", "result_to_dict", "write_result", "write_text"]

SCHEMA = "portlens.scan/1"
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"  # JSON Schemas of the documents (README)


def result_to_dict(r: ScanResult, items: bool = True) -> dict[str, Any]:
    doc = {
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
        "warnings": list(r.warnings),
    }
    if items:
        doc["hosts"] = [h.to_dict() for h in r.hosts]
        doc["ports"] = [p.to_dict() for p in r.ports]
    return doc


def dumps_result(r: ScanResult) -> str:
    out = io.StringIO()
    dump_result(r, out)
    return out.getvalue()


def dump_result(r: ScanResult, out: IO[str]) -> None:
    """The document, host by host and port by port: a /16's result is never one string in memory."""
    text = json.dumps(result_to_dict(r, items=False), indent=2)
    out.write(text[: text.rindex("}")].rstrip() + ",\n")
    sections: tuple[tuple[str, Sequence[HostResult | PortResult]], ...] = (("hosts", r.hosts), ("ports", r.ports))
    for name, items in sections:
        out.write(f'  "{name}": [')
        for i, item in enumerate(items):
            out.write(("," if i else "") + "\n    " + json.dumps(item.to_dict()))
        out.write("\n  ]" if items else "]")
        out.write(",\n" if name == "hosts" else "\n}\n")


def write_result(r: ScanResult, path: str | os.PathLike[str]) -> None:
    """`dump_result` to ``path``, atomically."""
    with atomic(path) as f:
        dump_result(r, f)


def result_from_dict(d: dict[str, Any]) -> ScanResult:
    if d.get("schema") != SCHEMA:
        raise PortlensError(f"not a portlens scan document (schema {d.get('schema')!r}, expected {SCHEMA!r})")
    return ScanResult.from_dict(d)


def _read(path: str | os.PathLike[str]) -> Any:
    return read_json(path, "scan file")


def load(path: str | os.PathLike[str]) -> ScanResult | Assessment:
    """Read a JSON document portlens wrote back into its object: a scan (``to_json`` / ``-o
    results.json``, schema ``portlens.scan/1``) into a `ScanResult`, an assessment
    (``Assessment.to_json``, ``portlens.assessment/1``) into an `Assessment`."""
    doc = _read(path)
    if not isinstance(doc, dict) or doc.get("schema") not in (SCHEMA, Assessment.SCHEMA):
        raise ReadError(
            f"not a portlens document (no schema {SCHEMA!r} or {Assessment.SCHEMA!r})", os.fspath(path), "scan file"
        )
    try:
        if doc.get("schema") == Assessment.SCHEMA:
            return Assessment.from_dict(doc)
        return result_from_dict(doc)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as e:
        # the kind of problem and the missing key, never a value of the file
        what = f"missing key {e.args[0]!r}" if isinstance(e, KeyError) and e.args else type(e).__name__
        raise ReadError(f"not a valid portlens document ({what[:120]})", os.fspath(path), "scan file") from None


def load_scan(path: str | os.PathLike[str]) -> ScanResult:
    """`load`, for a scan only (typed)."""
    doc = load(path)
    if not isinstance(doc, ScanResult):
        raise PortlensError(f"{os.fspath(path)!r} holds an assessment, not a scan ({SCHEMA})")
    return doc


def load_assessment(path: str | os.PathLike[str]) -> Assessment:
    """`load`, for an assessment only (typed)."""
    doc = load(path)
    if not isinstance(doc, Assessment):
        raise PortlensError(f"{os.fspath(path)!r} holds a scan, not an assessment ({Assessment.SCHEMA})")
    return doc


def json_schema(name: str = SCHEMA) -> dict[str, Any]:
    """The JSON Schema of a portlens document: ``portlens.scan/1`` or ``portlens.assessment/1``."""
    files = {SCHEMA: "scan-1.schema.json", Assessment.SCHEMA: "assessment-1.schema.json"}
    if name not in files:
        raise ValueError(f"no JSON Schema for {name!r} (known: {', '.join(files)})")
    doc: dict[str, Any] = json.loads((SCHEMA_DIR / files[name]).read_text(encoding="utf-8"))
    return doc


def write_jsonl(ports: Iterable[PortResult], out: IO[str]) -> int:
    """One JSON object per port result; returns how many were written."""
    n = 0
    for p in ports:
        out.write(json.dumps(p.to_dict()) + "\n")
        n += 1
    return n
